//! The CGI environ of a request as plain data: built by the Apache child
//! from httpd's request, carried to a daemon process in the request head,
//! and turned into the WSGI environ where the application runs.

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

    /// A variable holding a decimal number, such as the microsecond times
    /// `mod_wsgi.request_start`, `queue_start` and `daemon_start`.
    pub fn number(&self, name: &str) -> Option<u64> {
        std::str::from_utf8(self.get(name)?).ok()?.parse().ok()
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

/// Collapses runs of `/` into one, as mod_wsgi does for SCRIPT_NAME and
/// PATH_INFO (some applications mishandle doubled slashes).
pub fn collapse_slashes(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &byte in path {
        if byte == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(byte);
    }
    out
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
    fn slashes_collapse() {
        assert_eq!(collapse_slashes(b"//a///b/"), b"/a/b/");
        assert_eq!(collapse_slashes(b""), b"");
        assert_eq!(collapse_slashes(b"a"), b"a");
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
