//! A request as the handler reads it: the `request_rec` fields and httpd
//! calls it needs, behind safe methods. Made once from the raw pointer httpd
//! passes; the view cannot outlive the request.

use std::borrow::Cow;
use std::marker::PhantomData;

use apache_sys as ap;
use wsgi_core::level::Level;

use super::{c_str, log, table};

/// What httpd's directory walk found at `r->filename`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Missing,
    Directory,
    Other,
}

pub struct Request<'r> {
    raw: *mut ap::request_rec,
    lifetime: PhantomData<&'r ap::request_rec>,
}

impl<'r> Request<'r> {
    /// # Safety
    /// `r` must be a live request that stays live for `'r`, used by this
    /// thread only (httpd gives each request to one thread at a time).
    pub unsafe fn new(r: *mut ap::request_rec) -> Request<'r> {
        Request {
            raw: r,
            lifetime: PhantomData,
        }
    }

    /// The raw pointer, for the edges that take one.
    pub fn raw(&self) -> *mut ap::request_rec {
        self.raw
    }

    fn rec(&self) -> &'r ap::request_rec {
        // SAFETY: live for 'r (see `new`); only read through this view.
        unsafe { &*self.raw }
    }

    pub fn handler(&self) -> Cow<'r, str> {
        // SAFETY: NULL or a string of the request's pool.
        unsafe { c_str(self.rec().handler) }
    }

    pub fn filename(&self) -> Cow<'r, str> {
        // SAFETY: as above.
        unsafe { c_str(self.rec().filename) }
    }

    pub fn uri(&self) -> Cow<'r, str> {
        // SAFETY: as above.
        unsafe { c_str(self.rec().uri) }
    }

    pub fn path_info(&self) -> Cow<'r, str> {
        // SAFETY: as above.
        unsafe { c_str(self.rec().path_info) }
    }

    /// The Host the client asked for.
    pub fn hostname(&self) -> Cow<'r, str> {
        // SAFETY: as above.
        unsafe { c_str(self.rec().hostname) }
    }

    /// The ServerName of the (virtual) server handling the request.
    pub fn server_hostname(&self) -> Cow<'r, str> {
        // SAFETY: r->server is the request's live server record; its name
        // is NULL or a string of the configuration pool.
        unsafe { c_str((*self.rec().server).server_hostname) }
    }

    pub fn server_port(&self) -> u16 {
        // SAFETY: a plain httpd call on the live request.
        unsafe { ap::ap_get_server_port(self.raw) }
    }

    /// The client asked with HEAD.
    pub fn header_only(&self) -> bool {
        self.rec().header_only != 0
    }

    pub fn note(&self, key: &str) -> Option<&'r [u8]> {
        // SAFETY: r->notes is the request's live table.
        unsafe { table::get(self.rec().notes, key) }
    }

    pub fn header_in(&self, name: &str) -> Option<&'r [u8]> {
        // SAFETY: r->headers_in is the request's live table.
        unsafe { table::get(self.rec().headers_in, name) }
    }

    /// Whether `Options ExecCGI` applies to the request's directory.
    pub fn allows_exec_cgi(&self) -> bool {
        // SAFETY: a plain httpd call on the live request.
        unsafe { ap::ap_allow_options(self.raw) & ap::OPT_EXECCGI as i32 != 0 }
    }

    pub fn file_kind(&self) -> FileKind {
        match self.rec().finfo.filetype {
            ap::apr_filetype_e_APR_NOFILE => FileKind::Missing,
            ap::apr_filetype_e_APR_DIR => FileKind::Directory,
            _ => FileKind::Other,
        }
    }

    /// The script file's owner and group, when the directory walk got them.
    pub fn file_owner(&self) -> (Option<u32>, Option<u32>) {
        let finfo = &self.rec().finfo;
        let has = |what: u32| finfo.valid & what as i32 != 0;
        (
            has(ap::APR_FINFO_USER).then_some(finfo.user),
            has(ap::APR_FINFO_GROUP).then_some(finfo.group),
        )
    }

    /// The script's modification time (µs) from the directory walk's stat
    /// of it, if it made one.
    pub fn file_mtime(&self) -> Option<u64> {
        let finfo = &self.rec().finfo;
        (finfo.valid & ap::APR_FINFO_MTIME as i32 != 0)
            .then(|| u64::try_from(finfo.mtime).unwrap_or(0))
    }

    /// `AcceptPathInfo Off` and there is path info.
    pub fn rejects_path_info(&self) -> bool {
        self.rec().used_path_info == ap::AP_REQ_REJECT_PATH_INFO as i32
            && !self.path_info().is_empty()
    }

    /// LimitRequestBody (0: none).
    pub fn body_limit(&self) -> u64 {
        // SAFETY: a plain httpd call on the live request.
        u64::try_from(unsafe { ap::ap_get_limit_req_body(self.raw) }).unwrap_or(0)
    }

    /// A line in the error log, in the request's context.
    pub fn log(&self, level: Level, message: &str) {
        // SAFETY: the request is live.
        unsafe { log::request(self.raw, level, message) };
    }
}
