//! The WSGI `environ`: the CGI variables a server collected (plain data,
//! so daemon mode can carry them over a socket) turned into the dict an
//! application receives, plus the `wsgi.*` and `mod_wsgi.*` keys.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use python_embed::{PyResultExt, Raised, RaisedResult};

/// CGI variables in the order the server produced them. Values are bytes;
/// they reach Python as latin-1 decoded `str`, per PEP 3333.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgiEnviron {
    pub vars: Vec<(String, Vec<u8>)>,
}

impl CgiEnviron {
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Sets `name`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some(entry) => entry.1 = value,
            None => self.vars.push((name.to_string(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.vars.retain(|(k, _)| k != name);
    }

    /// `wsgi.url_scheme` from the HTTPS variable (`on` or `1`), as mod_wsgi.
    pub fn is_https(&self) -> bool {
        self.get("HTTPS")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"on") || v == b"1")
    }
}

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
) -> RaisedResult<Bound<'py, PyDict>> {
    let environ = PyDict::new(py);
    for (name, value) in &cgi.vars {
        if name == "PATH" || name == "HTTPS" {
            continue;
        }
        let key = latin1_str(py, name.as_bytes())?;
        environ.set_item(key, latin1_str(py, value)?).raised(py)?;
    }
    let set = |k: &str, v: Bound<'py, PyAny>| environ.set_item(PyString::new(py, k), v).raised(py);
    set(
        "wsgi.version",
        PyTuple::new(py, [1, 0]).raised(py)?.into_any(),
    )?;
    set(
        "wsgi.multithread",
        pyo3::types::PyBool::new(py, facts.multithread)
            .to_owned()
            .into_any(),
    )?;
    set(
        "wsgi.multiprocess",
        pyo3::types::PyBool::new(py, facts.multiprocess)
            .to_owned()
            .into_any(),
    )?;
    set(
        "wsgi.run_once",
        pyo3::types::PyBool::new(py, facts.run_once)
            .to_owned()
            .into_any(),
    )?;
    let scheme = if cgi.is_https() { "https" } else { "http" };
    set("wsgi.url_scheme", PyString::new(py, scheme).into_any())?;
    set("wsgi.input", extras.input.clone())?;
    set("wsgi.errors", extras.errors.clone())?;
    set(
        "wsgi.input_terminated",
        pyo3::types::PyBool::new(py, true).to_owned().into_any(),
    )?;
    set("wsgi.file_wrapper", extras.file_wrapper.clone())?;
    set(
        "apache.version",
        version_tuple(py, facts.apache_version)?.into_any(),
    )?;
    set(
        "mod_wsgi.version",
        version_tuple(py, module_version())?.into_any(),
    )?;
    set(
        "mod_wsgi.script_start",
        PyString::new(py, &extras.script_start_micros.to_string()).into_any(),
    )?;
    set(
        "mod_wsgi.total_requests",
        pyo3::types::PyInt::new(py, extras.total_requests).into_any(),
    )?;
    set(
        "mod_wsgi.thread_id",
        pyo3::types::PyInt::new(py, extras.thread_id).into_any(),
    )?;
    set(
        "mod_wsgi.thread_requests",
        pyo3::types::PyInt::new(py, extras.thread_requests).into_any(),
    )?;
    Ok(environ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_get_finds() {
        let mut env = CgiEnviron::default();
        env.set("A", "1");
        env.set("B", "2");
        env.set("A", "3");
        assert_eq!(env.get("A"), Some(&b"3"[..]));
        assert_eq!(env.vars.len(), 2);
        env.remove("A");
        assert_eq!(env.get("A"), None);
    }

    #[test]
    fn https_detection() {
        let mut env = CgiEnviron::default();
        assert!(!env.is_https());
        env.set("HTTPS", "ON");
        assert!(env.is_https());
        env.set("HTTPS", "1");
        assert!(env.is_https());
        env.set("HTTPS", "off");
        assert!(!env.is_https());
    }
}
