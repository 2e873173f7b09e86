//! Validation of what an application passes to `start_response`, on the
//! latin-1 bytes of its native strings. Pure, so it is unit-tested without
//! Python.

use std::fmt;

/// Why a status line or header was refused; the text becomes the message of
/// the `ValueError` raised in the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    StatusCode,
    StatusSpace,
    StatusControl,
    NameEmpty,
    NameInvalid(String),
    ValueControl(String),
    HopByHop(String),
    ContentLength(String),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::StatusCode => write!(f, "status code is not a 3 digit integer"),
            HeaderError::StatusSpace => write!(f, "no space following status code"),
            HeaderError::StatusControl => {
                write!(f, "control character present in reason phrase")
            }
            HeaderError::NameEmpty => write!(f, "header name is empty"),
            HeaderError::NameInvalid(name) => write!(
                f,
                "header name {name:?} contains a character not allowed in a header name"
            ),
            HeaderError::ValueControl(name) => write!(
                f,
                "value of header {name:?} contains a carriage return, line feed or other control character"
            ),
            HeaderError::HopByHop(name) => write!(
                f,
                "hop-by-hop header {name:?} not allowed in a WSGI response (PEP 3333)"
            ),
            HeaderError::ContentLength(value) => {
                write!(f, "invalid content length {value:?}")
            }
        }
    }
}

/// Checks a status line (`"200 OK"`) and returns the status code. The
/// reason phrase may be empty but the space before it may not.
pub fn validate_status(status: &[u8]) -> Result<u16, HeaderError> {
    if status.len() < 3 || !status[..3].iter().all(u8::is_ascii_digit) {
        return Err(HeaderError::StatusCode);
    }
    match status.get(3) {
        Some(b' ') => {}
        Some(c) if c.is_ascii_digit() => return Err(HeaderError::StatusCode),
        _ => return Err(HeaderError::StatusSpace),
    }
    if status[4..].iter().any(|&c| is_control(c)) {
        return Err(HeaderError::StatusControl);
    }
    let code = status[..3]
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if code < 100 {
        return Err(HeaderError::StatusCode);
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
    let printable = || String::from_utf8_lossy(name).into_owned();
    if name.is_empty() {
        return Err(HeaderError::NameEmpty);
    }
    if !name.iter().all(|&c| is_token_char(c)) {
        return Err(HeaderError::NameInvalid(printable()));
    }
    if value.iter().any(|&c| is_control(c)) {
        return Err(HeaderError::ValueControl(printable()));
    }
    if HOP_BY_HOP
        .iter()
        .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
    {
        return Err(HeaderError::HopByHop(printable()));
    }
    Ok(())
}

/// Parses a Content-Length header value: decimal digits only (optional
/// surrounding spaces), no sign, no overflow.
pub fn parse_content_length(value: &[u8]) -> Result<u64, HeaderError> {
    let bad = || HeaderError::ContentLength(String::from_utf8_lossy(value).into_owned());
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
    fn bad_status_lines() {
        assert_eq!(validate_status(b"200"), Err(HeaderError::StatusSpace));
        assert_eq!(validate_status(b"200OK"), Err(HeaderError::StatusSpace));
        assert_eq!(validate_status(b"2000 OK"), Err(HeaderError::StatusCode));
        assert_eq!(validate_status(b"20 OK"), Err(HeaderError::StatusCode));
        assert_eq!(validate_status(b"abc OK"), Err(HeaderError::StatusCode));
        assert_eq!(validate_status(b"099 Low"), Err(HeaderError::StatusCode));
        assert_eq!(
            validate_status(b"200 OK\r\nX: y"),
            Err(HeaderError::StatusControl)
        );
        assert_eq!(validate_status(b""), Err(HeaderError::StatusCode));
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
                Err(HeaderError::ValueControl(_))
            ));
        }
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(validate_header(b"", b"x"), Err(HeaderError::NameEmpty));
        for name in [&b"X Test"[..], b"X:Test", b"X\r\nY", b"X(y)", b"\xe9"] {
            assert!(matches!(
                validate_header(name, b"v"),
                Err(HeaderError::NameInvalid(_))
            ));
        }
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
        let msg = HeaderError::HopByHop("Connection".into()).to_string();
        assert!(msg.contains("hop-by-hop") && msg.contains("Connection"));
    }
}
