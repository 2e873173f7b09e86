//! Validation of what an application passes to `start_response`, on the
//! latin-1 bytes of its native strings. Pure, so it is unit-tested without
//! Python.

use std::fmt;

/// Why a status line or header was refused; the text becomes the message of
/// the `ValueError` raised in the application. The wording of the checks
/// mod_wsgi 6 makes is its own (with the value as Python shows bytes);
/// the stricter checks of this module have their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    StatusCode(Vec<u8>),
    StatusSpace(Vec<u8>),
    StatusControl(Vec<u8>),
    NameEmpty,
    NameSpace(Vec<u8>),
    NameControl(Vec<u8>),
    NameInvalid(Vec<u8>),
    ValueNewline(Vec<u8>),
    ValueControl(Vec<u8>),
    HopByHop(Vec<u8>),
    ContentLength(Vec<u8>),
}

/// `bytes` as Python's `repr()` shows it: `b'...'`, or `b"..."` when it
/// holds a single quote and no double quote.
pub fn bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote);
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b if b == quote as u8 => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::StatusCode(s) => {
                write!(
                    f,
                    "status code must be a 3 digit integer: {}",
                    bytes_repr(s)
                )
            }
            HeaderError::StatusSpace(s) => {
                write!(f, "no space following status code: {}", bytes_repr(s))
            }
            HeaderError::StatusControl(s) => write!(
                f,
                "control character in status reason phrase: {}",
                bytes_repr(s)
            ),
            HeaderError::NameEmpty => write!(f, "header name is empty"),
            HeaderError::NameSpace(n) => {
                write!(f, "space character in header name: {}", bytes_repr(n))
            }
            HeaderError::NameControl(n) => {
                write!(f, "control character in header name: {}", bytes_repr(n))
            }
            HeaderError::NameInvalid(n) => write!(
                f,
                "character not allowed in header name (RFC 9110 token): {}",
                bytes_repr(n)
            ),
            HeaderError::ValueNewline(v) => write!(
                f,
                "carriage return/line feed character in header value: {}",
                bytes_repr(v)
            ),
            HeaderError::ValueControl(v) => {
                write!(f, "control character in header value: {}", bytes_repr(v))
            }
            HeaderError::HopByHop(n) => write!(
                f,
                "hop-by-hop header {} not allowed in a WSGI response (PEP 3333)",
                bytes_repr(n)
            ),
            HeaderError::ContentLength(v) => {
                write!(f, "invalid content length: {}", bytes_repr(v))
            }
        }
    }
}

/// Checks a status line (`"200 OK"`) and returns the status code. The
/// reason phrase may be empty but the space before it may not.
pub fn validate_status(status: &[u8]) -> Result<u16, HeaderError> {
    let code_error = || HeaderError::StatusCode(status.to_vec());
    if status.len() < 3 || !status[..3].iter().all(u8::is_ascii_digit) {
        return Err(code_error());
    }
    match status.get(3) {
        Some(b' ') => {}
        Some(c) if c.is_ascii_digit() => return Err(code_error()),
        _ => return Err(HeaderError::StatusSpace(status.to_vec())),
    }
    if status[4..].iter().any(|&c| is_control(c)) {
        return Err(HeaderError::StatusControl(status.to_vec()));
    }
    let code = status[..3]
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if code < 100 {
        return Err(code_error());
    }
    Ok(code)
}

/// RFC 9110 token characters (what a header field name may hold).
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Control characters other than horizontal tab.
fn is_control(c: u8) -> bool {
    (c < 0x20 && c != b'\t') || c == 0x7f
}

/// Headers a WSGI application must not set (PEP 3333: the server owns the
/// connection).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

pub fn validate_header(name: &[u8], value: &[u8]) -> Result<(), HeaderError> {
    if name.is_empty() {
        return Err(HeaderError::NameEmpty);
    }
    if name.contains(&b' ') {
        return Err(HeaderError::NameSpace(name.to_vec()));
    }
    if name.iter().any(|&c| c < 0x20 || c == 0x7f) {
        return Err(HeaderError::NameControl(name.to_vec()));
    }
    if !name.iter().all(|&c| is_token_char(c)) {
        return Err(HeaderError::NameInvalid(name.to_vec()));
    }
    if value.iter().any(|&c| c == b'\r' || c == b'\n') {
        return Err(HeaderError::ValueNewline(value.to_vec()));
    }
    if value.iter().any(|&c| is_control(c)) {
        return Err(HeaderError::ValueControl(value.to_vec()));
    }
    if HOP_BY_HOP
        .iter()
        .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
    {
        return Err(HeaderError::HopByHop(name.to_vec()));
    }
    Ok(())
}

/// Parses a Content-Length header value: decimal digits only (optional
/// surrounding spaces), no sign, no overflow.
pub fn parse_content_length(value: &[u8]) -> Result<u64, HeaderError> {
    let bad = || HeaderError::ContentLength(value.to_vec());
    let trimmed = value.trim_ascii();
    if trimmed.is_empty() || !trimmed.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    std::str::from_utf8(trimmed)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_status_lines() {
        assert_eq!(validate_status(b"200 OK"), Ok(200));
        assert_eq!(validate_status(b"404 Not Found"), Ok(404));
        assert_eq!(validate_status(b"599 "), Ok(599));
        assert_eq!(validate_status(b"200 \xe9t\xe9"), Ok(200));
    }

    #[test]
    fn bad_status_lines_say_what_mod_wsgi_says() {
        let text = |status: &[u8]| validate_status(status).unwrap_err().to_string();
        assert_eq!(text(b"200"), "no space following status code: b'200'");
        assert_eq!(text(b"200OK"), "no space following status code: b'200OK'");
        assert_eq!(text(b"OK"), "status code must be a 3 digit integer: b'OK'");
        assert_eq!(
            text(b"20X OK"),
            "status code must be a 3 digit integer: b'20X OK'"
        );
        assert_eq!(
            text(b"2000 OK"),
            "status code must be a 3 digit integer: b'2000 OK'"
        );
        assert!(matches!(
            validate_status(b"20 OK"),
            Err(HeaderError::StatusCode(_))
        ));
        assert!(matches!(
            validate_status(b"099 Low"),
            Err(HeaderError::StatusCode(_))
        ));
        assert!(matches!(
            validate_status(b""),
            Err(HeaderError::StatusCode(_))
        ));
        assert_eq!(
            text(b"200 OK\r\nX-Injected: yes"),
            "control character in status reason phrase: b'200 OK\\r\\nX-Injected: yes'"
        );
    }

    #[test]
    fn bytes_show_as_python_shows_them() {
        assert_eq!(bytes_repr(b"X\tFoo"), "b'X\\tFoo'");
        assert_eq!(bytes_repr(b"it's"), "b\"it's\"");
        assert_eq!(bytes_repr(b"'\""), "b'\\'\"'");
        assert_eq!(bytes_repr(b"\\\x00\xe9\x7f"), "b'\\\\\\x00\\xe9\\x7f'");
    }

    #[test]
    fn good_headers() {
        assert_eq!(
            validate_header(b"Content-Type", b"text/plain; charset=utf-8"),
            Ok(())
        );
        assert_eq!(validate_header(b"X-Tab", b"a\tb"), Ok(()));
        assert_eq!(validate_header(b"X-Latin", b"caf\xe9"), Ok(()));
        assert_eq!(validate_header(b"X-Empty", b""), Ok(()));
    }

    #[test]
    fn crlf_and_controls_in_values_are_refused() {
        for value in [
            &b"a\r\nSet-Cookie: x"[..],
            b"a\nb",
            b"a\rb",
            b"a\0b",
            b"\x7f",
        ] {
            assert!(matches!(
                validate_header(b"X-Test", value),
                Err(HeaderError::ValueControl(_) | HeaderError::ValueNewline(_))
            ));
        }
        assert_eq!(
            validate_header(b"X-Foo", b"line1\r\nline2")
                .unwrap_err()
                .to_string(),
            "carriage return/line feed character in header value: b'line1\\r\\nline2'"
        );
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(validate_header(b"", b"x"), Err(HeaderError::NameEmpty));
        for name in [&b"X:Test"[..], b"X(y)", b"\xe9"] {
            assert!(matches!(
                validate_header(name, b"v"),
                Err(HeaderError::NameInvalid(_))
            ));
        }
        assert_eq!(
            validate_header(b"X Foo", b"v").unwrap_err().to_string(),
            "space character in header name: b'X Foo'"
        );
        assert_eq!(
            validate_header(b"X\tFoo", b"v").unwrap_err().to_string(),
            "control character in header name: b'X\\tFoo'"
        );
        assert!(matches!(
            validate_header(b"X\r\nY", b"v"),
            Err(HeaderError::NameControl(_))
        ));
    }

    #[test]
    fn hop_by_hop_headers_are_refused() {
        for name in [
            "Connection",
            "keep-alive",
            "Transfer-Encoding",
            "UPGRADE",
            "TE",
            "Trailers",
        ] {
            assert!(matches!(
                validate_header(name.as_bytes(), b"x"),
                Err(HeaderError::HopByHop(_))
            ));
        }
        assert_eq!(validate_header(b"Trailer", b"x"), Ok(()));
    }

    #[test]
    fn content_length_values() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b" 1234 "), Ok(1234));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1.5",
            b"12a",
            b"99999999999999999999999",
        ] {
            assert!(parse_content_length(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_are_readable() {
        let msg = HeaderError::HopByHop(b"Connection".to_vec()).to_string();
        assert!(msg.contains("hop-by-hop") && msg.contains("Connection"));
    }
}
