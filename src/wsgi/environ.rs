//! The WSGI `environ`: the CGI variables a server collected (plain data,
//! so daemon mode can carry them over a socket) turned into the dict an
//! application receives, plus the `wsgi.*` and `mod_wsgi.*` keys.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::names::{Name, Names};
use wsgi_core::environ::CgiEnviron;

/// Per-process facts the environ reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerFacts {
    pub multithread: bool,
    pub multiprocess: bool,
    pub run_once: bool,
    pub apache_version: (u32, u32, u32),
}

/// Per-request objects and counters that go into the environ.
pub struct RequestExtras<'a, 'py> {
    pub input: &'a Bound<'py, PyAny>,
    pub errors: &'a Bound<'py, PyAny>,
    pub file_wrapper: &'a Bound<'py, PyAny>,
    pub total_requests: u64,
    pub thread_id: u64,
    pub thread_requests: u64,
    pub script_start_micros: u64,
}

pub fn latin1_str<'py>(py: Python<'py>, bytes: &[u8]) -> RaisedResult<Bound<'py, PyAny>> {
    // SAFETY: the pointer/length pair describes `bytes`; latin-1 decoding
    // cannot fail, NULL only on memory exhaustion.
    let obj = unsafe {
        ffi::PyUnicode_DecodeLatin1(
            bytes.as_ptr().cast(),
            bytes.len() as ffi::Py_ssize_t,
            std::ptr::null(),
        )
    };
    if obj.is_null() {
        return Err(Raised::already_set());
    }
    // SAFETY: obj is a new reference.
    Ok(unsafe { Bound::from_owned_ptr(py, obj) })
}

fn version_tuple(py: Python<'_>, v: (u32, u32, u32)) -> RaisedResult<Bound<'_, PyTuple>> {
    PyTuple::new(py, [v.0, v.1, v.2]).raised(py)
}

/// The version of this module, as `mod_wsgi.version` reports it.
pub fn module_version() -> (u32, u32, u32) {
    let part = |s: &str| s.parse().unwrap_or(0);
    (
        part(env!("CARGO_PKG_VERSION_MAJOR")),
        part(env!("CARGO_PKG_VERSION_MINOR")),
        part(env!("CARGO_PKG_VERSION_PATCH")),
    )
}

pub fn build_environ<'py>(
    py: Python<'py>,
    cgi: &CgiEnviron,
    facts: &ServerFacts,
    extras: &RequestExtras<'_, 'py>,
    names: &Names,
) -> RaisedResult<Bound<'py, PyDict>> {
    let environ = PyDict::new(py);
    {
        let mut cgi_names = names.cgi_names();
        for (name, value) in cgi.iter() {
            if name == b"PATH" || name == b"HTTPS" {
                continue;
            }
            let key = cgi_names.name(py, name)?;
            environ.set_item(key, latin1_str(py, value)?).raised(py)?;
        }
    }
    let set = |k: Name, v: Bound<'py, PyAny>| environ.set_item(names.get(py, k), v).raised(py);
    let flag = |b: bool| pyo3::types::PyBool::new(py, b).to_owned().into_any();
    set(Name::WsgiVersion, names.wsgi_version(py))?;
    set(Name::WsgiMultithread, flag(facts.multithread))?;
    set(Name::WsgiMultiprocess, flag(facts.multiprocess))?;
    set(Name::WsgiRunOnce, flag(facts.run_once))?;
    let scheme = if cgi.is_https() {
        Name::Https
    } else {
        Name::Http
    };
    set(Name::WsgiUrlScheme, names.get(py, scheme).into_any())?;
    set(Name::WsgiInput, extras.input.clone())?;
    set(Name::WsgiErrors, extras.errors.clone())?;
    set(Name::WsgiInputTerminated, flag(true))?;
    set(Name::WsgiFileWrapper, extras.file_wrapper.clone())?;
    set(
        Name::ApacheVersion,
        version_tuple(py, facts.apache_version)?.into_any(),
    )?;
    set(Name::ModWsgiVersion, names.module_version(py))?;
    set(
        Name::ModWsgiScriptStart,
        PyString::new(py, &extras.script_start_micros.to_string()).into_any(),
    )?;
    set(
        Name::ModWsgiTotalRequests,
        pyo3::types::PyInt::new(py, extras.total_requests).into_any(),
    )?;
    set(
        Name::ModWsgiThreadId,
        pyo3::types::PyInt::new(py, extras.thread_id).into_any(),
    )?;
    set(
        Name::ModWsgiThreadRequests,
        pyo3::types::PyInt::new(py, extras.thread_requests).into_any(),
    )?;
    Ok(environ)
}
