//! Python strings and constants the adapter uses on every request, made
//! once per interpreter: creating and hashing them again for each request
//! is a measurable part of a small request. CGI variable names are cached
//! as they are first seen (a bounded number: header names come from
//! clients).

use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use python_embed::{PyResultExt, RaisedResult};

use super::environ::{latin1_str, module_version};

/// Names with a fixed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    StartResponse,
    Mtime,
    WsgiVersion,
    WsgiMultithread,
    WsgiMultiprocess,
    WsgiRunOnce,
    WsgiUrlScheme,
    WsgiInput,
    WsgiErrors,
    WsgiInputTerminated,
    WsgiFileWrapper,
    ApacheVersion,
    ModWsgiVersion,
    ModWsgiScriptStart,
    ModWsgiTotalRequests,
    ModWsgiThreadId,
    ModWsgiThreadRequests,
    Http,
    Https,
    ReloadRequired,
    Utf8,
    BackslashReplace,
}

const TEXTS: [(Name, &str); 22] = [
    (Name::StartResponse, "start_response"),
    (Name::Mtime, "__mtime__"),
    (Name::WsgiVersion, "wsgi.version"),
    (Name::WsgiMultithread, "wsgi.multithread"),
    (Name::WsgiMultiprocess, "wsgi.multiprocess"),
    (Name::WsgiRunOnce, "wsgi.run_once"),
    (Name::WsgiUrlScheme, "wsgi.url_scheme"),
    (Name::WsgiInput, "wsgi.input"),
    (Name::WsgiErrors, "wsgi.errors"),
    (Name::WsgiInputTerminated, "wsgi.input_terminated"),
    (Name::WsgiFileWrapper, "wsgi.file_wrapper"),
    (Name::ApacheVersion, "apache.version"),
    (Name::ModWsgiVersion, "mod_wsgi.version"),
    (Name::ModWsgiScriptStart, "mod_wsgi.script_start"),
    (Name::ModWsgiTotalRequests, "mod_wsgi.total_requests"),
    (Name::ModWsgiThreadId, "mod_wsgi.thread_id"),
    (Name::ModWsgiThreadRequests, "mod_wsgi.thread_requests"),
    (Name::Http, "http"),
    (Name::Https, "https"),
    (Name::ReloadRequired, "reload_required"),
    (Name::Utf8, "utf-8"),
    (Name::BackslashReplace, "backslashreplace"),
];

/// Most CGI variable names kept per interpreter.
const MAX_CGI_NAMES: usize = 256;

pub struct Names {
    fixed: Vec<*mut ffi::PyObject>,
    wsgi_version: *mut ffi::PyObject,
    module_version: *mut ffi::PyObject,
    cgi: Mutex<HashMap<Box<[u8]>, *mut ffi::PyObject>>,
}

// SAFETY: the pointers are strong references only used by threads attached
// to the interpreter that made them, under its GIL.
unsafe impl Send for Names {}
// SAFETY: as above; the map is behind a mutex.
unsafe impl Sync for Names {}

fn borrow<'py>(py: Python<'py>, ptr: *mut ffi::PyObject) -> Bound<'py, PyAny> {
    // SAFETY: ptr is an object we hold a strong reference to, in the
    // interpreter the caller is attached to.
    unsafe { Bound::from_borrowed_ptr(py, ptr) }
}

impl Names {
    pub fn create(py: Python<'_>) -> RaisedResult<Names> {
        let mut fixed = vec![std::ptr::null_mut(); TEXTS.len()];
        for (name, text) in TEXTS {
            fixed[name as usize] = PyString::new(py, text).into_ptr();
        }
        let version = module_version();
        Ok(Names {
            fixed,
            wsgi_version: PyTuple::new(py, [1, 0]).raised(py)?.into_ptr(),
            module_version: PyTuple::new(py, [version.0, version.1, version.2])
                .raised(py)?
                .into_ptr(),
            cgi: Mutex::new(HashMap::new()),
        })
    }

    pub fn get<'py>(&self, py: Python<'py>, name: Name) -> Bound<'py, PyString> {
        // SAFETY: every fixed entry was made by PyString::new.
        unsafe { borrow(py, self.fixed[name as usize]).cast_into_unchecked() }
    }

    /// `(1, 0)`, for `wsgi.version`.
    pub fn wsgi_version<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        borrow(py, self.wsgi_version)
    }

    /// This module's version tuple, for `mod_wsgi.version`.
    pub fn module_version<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        borrow(py, self.module_version)
    }

    /// The CGI variable names, locked once for a whole environ.
    pub fn cgi_names(&self) -> CgiNames<'_> {
        CgiNames(self.cgi.lock())
    }
}

pub struct CgiNames<'a>(MutexGuard<'a, HashMap<Box<[u8]>, *mut ffi::PyObject>>);

impl CgiNames<'_> {
    /// The `str` for a CGI variable name (latin-1, as its value).
    pub fn name<'py>(&mut self, py: Python<'py>, name: &[u8]) -> RaisedResult<Bound<'py, PyAny>> {
        if let Some(&cached) = self.0.get(name) {
            return Ok(borrow(py, cached));
        }
        let string = latin1_str(py, name)?;
        if self.0.len() < MAX_CGI_NAMES {
            self.0.insert(name.into(), string.clone().into_ptr());
        }
        Ok(string)
    }
}
