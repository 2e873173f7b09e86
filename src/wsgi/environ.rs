//! The WSGI `environ`: the CGI variables a server collected (plain data,
//! so daemon mode can carry them over a socket) turned into the dict an
//! application receives, plus the `wsgi.*` and `mod_wsgi.*` keys.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::names::{Name, Names};

/// CGI variables in the order the server produced them. Values are bytes;
/// they reach Python as latin-1 decoded `str`, per PEP 3333. Names and
/// values are kept back to back in one buffer: a request has dozens of
/// them, and two allocations each were a measurable part of a request.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CgiEnviron {
    data: Vec<u8>,
    /// (name start, name end, value start, value end) in `data`.
    entries: Vec<[u32; 4]>,
}

impl std::fmt::Debug for CgiEnviron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

/// The name of `entry` in `data`: bytes of a `&str` (names are only ever
/// added from one), compared as bytes without a UTF-8 check.
fn entry_name<'a>(data: &'a [u8], entry: &[u32; 4]) -> &'a [u8] {
    &data[entry[0] as usize..entry[1] as usize]
}

impl CgiEnviron {
    /// Room for `entries` variables holding `bytes` bytes in all.
    pub fn with_capacity(entries: usize, bytes: usize) -> CgiEnviron {
        CgiEnviron {
            data: Vec::with_capacity(bytes),
            entries: Vec::with_capacity(entries),
        }
    }

    pub fn from_pairs<K: AsRef<str>, V: AsRef<[u8]>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> CgiEnviron {
        let mut env = CgiEnviron::default();
        for (k, v) in pairs {
            env.push(k.as_ref(), v.as_ref());
        }
        env
    }

    fn append(&mut self, bytes: &[u8]) -> [u32; 2] {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        [start, self.data.len() as u32]
    }

    /// Adds a variable at the end (even if the name is already there).
    pub fn push(&mut self, name: &str, value: &[u8]) {
        let [name_start, name_end] = self.append(name.as_bytes());
        let [value_start, value_end] = self.append(value);
        self.entries
            .push([name_start, name_end, value_start, value_end]);
    }

    fn name_of(&self, entry: &[u32; 4]) -> &[u8] {
        entry_name(&self.data, entry)
    }

    fn value_of(&self, entry: &[u32; 4]) -> &[u8] {
        &self.data[entry[2] as usize..entry[3] as usize]
    }

    /// The variables in order, names as bytes (always valid UTF-8).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|entry| (self.name_of(entry), self.value_of(entry)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of names and values together.
    pub fn byte_len(&self) -> usize {
        self.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .rev()
            .find(|entry| self.name_of(entry) == name.as_bytes())
            .map(|entry| self.value_of(entry))
    }

    /// Sets `name`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let position = self
            .entries
            .iter()
            .position(|e| self.name_of(e) == name.as_bytes());
        match position {
            Some(index) => {
                let [start, end] = self.append(value.as_ref());
                self.entries[index][2] = start;
                self.entries[index][3] = end;
            }
            None => self.push(name, value.as_ref()),
        }
    }

    pub fn remove(&mut self, name: &str) {
        let data = &self.data;
        self.entries
            .retain(|entry| entry_name(data, entry) != name.as_bytes());
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
        assert_eq!(env.len(), 2);
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
