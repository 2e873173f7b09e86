//! A request as the handler reads it: the `request_rec` fields and httpd
//! calls it needs, behind safe methods. Made once from the raw pointer httpd
//! passes; the view cannot outlive the request.

use std::borrow::Cow;
use std::marker::PhantomData;

use apache_sys as ap;
use wsgi_core::level::Level;

use super::{c_str, log, pool, table};

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

    pub(super) fn rec(&self) -> &'r ap::request_rec {
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

    /// The request's method and URI as the client sent them, e.g.
    /// "GET /x?y" (for log lines).
    pub fn method_and_uri(&self) -> String {
        // SAFETY: as above.
        unsafe {
            format!(
                "{} {}",
                c_str(self.rec().method),
                c_str(self.rec().unparsed_uri)
            )
        }
    }

    /// The status set for the response so far.
    pub fn status(&self) -> u16 {
        u16::try_from(self.rec().status).unwrap_or(0)
    }

    pub fn args(&self) -> Cow<'r, str> {
        // SAFETY: as above.
        unsafe { c_str(self.rec().args) }
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

    /// The server record handling the request, for its configuration.
    pub fn server(&self) -> *const ap::server_rec {
        self.rec().server
    }

    /// The request's pool, for the httpd calls that allocate in it.
    pub fn pool(&self) -> *mut ap::apr_pool_t {
        self.rec().pool
    }

    /// Points the request at `filename` (a copy in the request's pool).
    pub fn set_filename(&self, filename: &str) {
        // SAFETY: the live request, used by this thread only; the copy
        // lives as long as the request.
        unsafe { (*self.raw).filename = pool::strdup(self.pool(), filename.as_bytes()).cast_mut() };
    }

    /// Names the handler that is to serve the request.
    pub fn set_handler(&self, handler: &str) {
        // SAFETY: as for set_filename.
        unsafe { (*self.raw).handler = pool::strdup(self.pool(), handler.as_bytes()) };
    }

    /// Sets a request note (a copy in the request's pool).
    pub fn set_note(&self, key: &str, value: &str) {
        let rec = self.rec();
        // SAFETY: the request's live table and pool, which outlives it.
        unsafe { table::set(rec.notes, rec.pool, key.as_bytes(), value.as_bytes()) };
    }

    /// The response's status and status line.
    pub fn set_status(&self, status: u16, status_line: &[u8]) {
        // SAFETY: as for set_filename.
        unsafe {
            (*self.raw).status = i32::from(status);
            (*self.raw).status_line = pool::strdup(self.pool(), status_line);
        }
    }

    pub fn set_content_type(&self, value: &[u8]) {
        // SAFETY: a plain httpd call on the live request; the value is a
        // copy in its pool.
        unsafe { ap::ap_set_content_type(self.raw, pool::strdup(self.pool(), value)) };
    }

    pub fn set_content_length(&self, length: i64) {
        // SAFETY: a plain httpd call on the live request.
        unsafe { ap::ap_set_content_length(self.raw, length) };
    }

    /// Adds a response header; with `on_errors` it is also kept on an
    /// error page httpd makes (err_headers_out).
    pub fn add_header_out(&self, name: &[u8], value: &[u8], on_errors: bool) {
        let rec = self.rec();
        let headers = if on_errors {
            rec.err_headers_out
        } else {
            rec.headers_out
        };
        // SAFETY: the request's live table and pool.
        unsafe { table::add(headers, rec.pool, name, value) };
    }

    /// Adds a response header, folding a repeated name into one
    /// comma-separated value, as httpd does with a CGI script's headers.
    pub fn merge_header_out(&self, name: &[u8], value: &[u8]) {
        let rec = self.rec();
        // SAFETY: the request's live table and pool.
        unsafe { table::merge(rec.headers_out, rec.pool, name, value) };
    }

    /// Reading the body from now on sends no "100 Continue" (the response
    /// has started).
    pub fn forget_expect_continue(&self) {
        // SAFETY: as for set_filename.
        unsafe { (*self.raw).expecting_100 = 0 };
    }

    /// The client asked with GET or HEAD (httpd numbers both M_GET).
    /// Writes `body` as (part of) the response; false if the client went.
    pub fn write_body(&self, body: &[u8]) -> bool {
        let Ok(length) = i32::try_from(body.len()) else {
            return false;
        };
        // SAFETY: a live request in its handler; ap_rwrite copies the bytes.
        unsafe { ap::ap_rwrite(body.as_ptr().cast(), length, self.raw) >= 0 }
    }

    pub fn method_is_get(&self) -> bool {
        self.rec().method_number == ap::M_GET as i32
    }

    /// The first output filter runs below the protocol level: a content
    /// filter (DEFLATE, CACHE_SAVE) that needs the whole body.
    pub fn filters_content(&self) -> bool {
        let filters = self.rec().output_filters;
        // SAFETY: a non-NULL filter chain of the live request, each filter
        // with its registered frec.
        !filters.is_null()
            && unsafe { (*(*filters).frec).ftype } < ap::ap_filter_type_AP_FTYPE_PROTOCOL
    }

    /// Adds httpd's CGI variables to subprocess_env (`ap_add_cgi_vars`,
    /// `ap_add_common_vars`).
    pub fn add_cgi_variables(&self) {
        // SAFETY: plain httpd calls on the live request.
        unsafe {
            ap::ap_add_cgi_vars(self.raw);
            ap::ap_add_common_vars(self.raw);
        }
    }

    /// A subprocess_env value. Values are copies in the request's pool, so
    /// a later `set_env` of the same key leaves this one readable.
    pub fn env(&self, key: &str) -> Option<&'r [u8]> {
        // SAFETY: r->subprocess_env is the request's live table.
        unsafe { table::get(self.rec().subprocess_env, key) }
    }

    /// Sets a subprocess_env entry, copying both into the request's pool.
    pub fn set_env(&self, key: &str, value: &[u8]) {
        let rec = self.rec();
        // SAFETY: the request's live table and pool, which outlives it.
        unsafe { table::set(rec.subprocess_env, rec.pool, key.as_bytes(), value) };
    }

    /// Removes a subprocess_env entry.
    pub fn unset_env(&self, key: &str) {
        // SAFETY: the request's live table.
        unsafe { table::unset(self.rec().subprocess_env, key) };
    }

    /// Every subprocess_env entry, in table order.
    pub fn env_entries(&self) -> Vec<(&'r [u8], &'r [u8])> {
        // SAFETY: the request's live table; entries are pool strings.
        unsafe { table::entries(self.rec().subprocess_env) }
    }

    /// Whether mod_ssl reports the connection as HTTPS.
    pub fn is_https(&self) -> bool {
        type IsHttps = unsafe extern "C" fn(*mut ap::conn_rec) -> i32;
        // SAFETY: looks up mod_ssl's optional function by its name.
        let Some(found) = (unsafe { ap::apr_dynamic_fn_retrieve(c"ssl_is_https".as_ptr()) }) else {
            return false;
        };
        // SAFETY: mod_ssl registers ssl_is_https with this signature.
        let is_https: IsHttps = unsafe { std::mem::transmute(found) };
        // SAFETY: the request's live connection.
        unsafe { is_https(self.rec().connection) != 0 }
    }

    /// The address and port the connection arrived on.
    pub fn listener(&self) -> Option<(Cow<'r, str>, u16)> {
        // SAFETY: r->connection is the live connection; local_addr is NULL
        // or its address, allocated in the connection pool.
        let local = unsafe { (*self.rec().connection).local_addr.as_ref() }?;
        // SAFETY: NULL or a string of the connection pool.
        Some((unsafe { c_str(local.hostname) }, local.port))
    }

    /// When httpd read the request line (µs since the epoch).
    pub fn request_time(&self) -> i64 {
        self.rec().request_time
    }

    /// The request's log id (`%L`), generated now if no module asked yet.
    pub fn log_id(&self) -> Option<Cow<'r, str>> {
        let r = self.raw;
        // SAFETY: the live request and its connection; the generated id is
        // stored in r->log_id, a string of the request pool.
        unsafe {
            if (*r).log_id.is_null() {
                ap::ap_run_generate_log_id((*r).connection, r, &mut (*r).log_id);
            }
            (!(*r).log_id.is_null()).then(|| c_str((*r).log_id))
        }
    }

    /// The connection's log id, if one was generated.
    pub fn connection_log_id(&self) -> Option<Cow<'r, str>> {
        // SAFETY: the live connection; its log id is NULL or a pool string.
        let id = unsafe { (*self.rec().connection).log_id };
        // SAFETY: as above.
        (!id.is_null()).then(|| unsafe { c_str(id) })
    }

    /// A line in the error log, in the request's context.
    pub fn log(&self, level: Level, message: &str) {
        // SAFETY: the request is live.
        unsafe { log::request(self.raw, level, message) };
    }
}
