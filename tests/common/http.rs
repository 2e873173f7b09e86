//! A deliberately minimal HTTP/1.1 client over raw `TcpStream`s, so that
//! tests control every byte sent and see exactly how the response was framed.
//!
//! The reader never reads past the end of a response (headers and chunk
//! lines are read byte by byte), so several responses can be read from one
//! keep-alive or pipelined connection.

use std::fmt::{self, Write as _};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::apache::Apache;

/// Read and write timeout on every connection: a server that hangs fails
/// the test with a message instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_LINE_LENGTH: usize = 64 * 1024;

#[derive(Clone, Default)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// E.g. `HTTP/1.1`.
    pub version: String,
    /// In order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// Decoded (de-chunked) body.
    pub body: Vec<u8>,
    /// False when the body framing was not satisfied: the connection closed
    /// (or was reset) before Content-Length bytes or before the terminating
    /// zero chunk, or the chunked encoding was malformed.
    pub complete: bool,
}

/// Shows the body as (lossy, truncated) text, so that `{response:?}` in an
/// assertion message is readable.
impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN_BODY_CHARS: usize = 4000;
        let text = self.text();
        let body = match text.char_indices().nth(SHOWN_BODY_CHARS) {
            Some((cut, _)) => format!("{}... ({} bytes in all)", &text[..cut], self.body.len()),
            None => text,
        };
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body", &body)
            .field("complete", &self.complete)
            .finish()
    }
}

impl Response {
    /// The first header with this name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All headers with this name, case-insensitively, in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Apache {
    /// A new connection to the server, with [`IO_TIMEOUT`] on reads and writes.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port()))
            .unwrap_or_else(|err| panic!("cannot connect to 127.0.0.1:{}: {err}", self.port()));
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
            .expect("cannot set socket timeouts");
        stream
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// Sends one request on a new connection and reads the response.
    ///
    /// Adds `Host` and `Connection: close` unless given in `headers`, and
    /// `Content-Length` for a non-empty body unless `headers` has a
    /// Content-Length or Transfer-Encoding (so a test can send a chunked
    /// body made with [`chunked`]).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        if !has("host") {
            let _ = write!(head, "Host: 127.0.0.1:{}\r\n", self.port());
        }
        for (name, value) in headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if !has("connection") {
            head.push_str("Connection: close\r\n");
        }
        if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.send(&request, method.eq_ignore_ascii_case("HEAD"))
    }

    /// Sends exactly `bytes` on a new connection and reads one response.
    pub fn raw(&self, bytes: &[u8]) -> Response {
        self.send(bytes, bytes.starts_with(b"HEAD "))
    }

    fn send(&self, request: &[u8], method_was_head: bool) -> Response {
        let mut stream = self.connect();
        stream
            .write_all(request)
            .unwrap_or_else(|err| panic!("cannot send the request: {err}"));
        read_response(&mut stream, method_was_head)
    }
}

/// Reads one response (skipping interim 1xx responses other than 101),
/// panicking with a clear message on a timeout, on a connection closed
/// before the end of the headers, or on a malformed status line or header
/// section. Body framing problems only clear [`Response::complete`].
///
/// Streams from [`Apache::connect`] have a read timeout; set one on any
/// other stream, or a hung server hangs the test.
pub fn read_response<R: Read>(stream: &mut R, method_was_head: bool) -> Response {
    try_read_response(stream, method_was_head)
        .unwrap_or_else(|err| panic!("no valid HTTP response: {err}"))
}

/// [`read_response`] returning the errors instead, for tests that expect the
/// server to close the connection without responding.
pub fn try_read_response<R: Read>(stream: &mut R, method_was_head: bool) -> io::Result<Response> {
    let mut reader = ByteReader {
        inner: stream,
        reset: false,
    };
    loop {
        let mut response = read_head(&mut reader)?;
        let interim = (100..200).contains(&response.status) && response.status != 101;
        if interim {
            continue;
        }
        let no_body = method_was_head
            || (100..200).contains(&response.status)
            || response.status == 204
            || response.status == 304;
        if no_body {
            response.complete = true;
        } else {
            read_body(&mut reader, &mut response)?;
        }
        return Ok(response);
    }
}

/// Encodes `body` in the chunked transfer coding, `chunk_size` bytes per
/// chunk, including the terminating zero chunk.
pub fn chunked(body: &[u8], chunk_size: usize) -> Vec<u8> {
    assert!(chunk_size > 0, "chunk size must be positive");
    let mut encoded = Vec::with_capacity(body.len() + 16);
    for chunk in body.chunks(chunk_size) {
        encoded.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        encoded.extend_from_slice(chunk);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded.extend_from_slice(b"0\r\n\r\n");
    encoded
}

/// Unbuffered reads (to never consume bytes of a following response), with
/// timeouts turned into clear errors and resets into end of stream.
struct ByteReader<'a, R> {
    inner: &'a mut R,
    /// Whether the stream ended with a reset rather than an orderly close.
    reset: bool,
}

impl<R: Read> ByteReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => return Ok(n),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                    self.reset = true;
                    return Ok(0);
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("timed out after {IO_TIMEOUT:?} waiting for the server"),
                    ));
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads a line up to and including `\n`. Returns the line without its
    /// line ending and whether it was terminated (false: EOF came first).
    fn read_line(&mut self) -> io::Result<(Vec<u8>, bool)> {
        let mut line = Vec::new();
        let mut byte = [0u8];
        loop {
            if self.read(&mut byte)? == 0 {
                return Ok((line, false));
            }
            if byte[0] == b'\n' {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok((line, true));
            }
            line.push(byte[0]);
            if line.len() > MAX_LINE_LENGTH {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line longer than {MAX_LINE_LENGTH} bytes"),
                ));
            }
        }
    }

    /// Appends up to `len` bytes to `out`; returns how many were read
    /// (fewer only at end of stream).
    fn read_up_to(&mut self, len: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut buf = vec![0u8; len.min(64 * 1024)];
        let mut total = 0;
        while total < len {
            let want = (len - total).min(buf.len());
            let n = self.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            total += n;
        }
        Ok(total)
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn read_head<R: Read>(reader: &mut ByteReader<'_, R>) -> io::Result<Response> {
    let (status_line, terminated) = reader.read_line()?;
    if !terminated {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            if status_line.is_empty() {
                "connection closed before a status line".to_owned()
            } else {
                format!(
                    "connection closed in the status line {:?}",
                    String::from_utf8_lossy(&status_line)
                )
            },
        ));
    }
    let status_line = String::from_utf8_lossy(&status_line).into_owned();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let (Some(status), true) = (status, version.starts_with("HTTP/")) else {
        return Err(invalid(format!("malformed status line {status_line:?}")));
    };
    let mut response = Response {
        status,
        reason: parts.next().unwrap_or_default().to_owned(),
        version: version.to_owned(),
        ..Response::default()
    };
    loop {
        let (line, terminated) = reader.read_line()?;
        if !terminated {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed in the headers of {status_line:?}"),
            ));
        }
        if line.is_empty() {
            return Ok(response);
        }
        let line = String::from_utf8_lossy(&line);
        let Some((name, value)) = line.split_once(':') else {
            return Err(invalid(format!("malformed header line {line:?}")));
        };
        response.headers.push((
            name.to_owned(),
            value.trim_matches(|c| c == ' ' || c == '\t').to_owned(),
        ));
    }
}

fn read_body<R: Read>(reader: &mut ByteReader<'_, R>, response: &mut Response) -> io::Result<()> {
    let is_chunked = response.header("transfer-encoding").is_some_and(|te| {
        te.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    if is_chunked {
        response.complete = read_chunked(reader, &mut response.body)?;
    } else if let Some(length) = response.header("content-length") {
        match length.trim().parse::<usize>() {
            Ok(length) => {
                let got = reader.read_up_to(length, &mut response.body)?;
                response.complete = got == length;
            }
            Err(_) => {
                // Unusable framing: keep what arrives, but flag it.
                reader.read_up_to(usize::MAX, &mut response.body)?;
                response.complete = false;
            }
        }
    } else {
        reader.read_up_to(usize::MAX, &mut response.body)?;
        response.complete = !reader.reset;
    }
    Ok(())
}

/// Decodes a chunked body into `body`; returns whether it was complete and
/// well-formed. Trailers are read and dropped.
fn read_chunked<R: Read>(reader: &mut ByteReader<'_, R>, body: &mut Vec<u8>) -> io::Result<bool> {
    loop {
        let (size_line, terminated) = reader.read_line()?;
        if !terminated {
            return Ok(false);
        }
        let size_line = String::from_utf8_lossy(&size_line);
        let size_field = size_line.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_field, 16) else {
            return Ok(false);
        };
        if size == 0 {
            // Trailer section: header lines up to an empty line.
            loop {
                let (trailer, terminated) = reader.read_line()?;
                if !terminated {
                    return Ok(false);
                }
                if trailer.is_empty() {
                    return Ok(true);
                }
            }
        }
        if reader.read_up_to(size, body)? < size {
            return Ok(false);
        }
        let mut crlf = Vec::with_capacity(2);
        reader.read_up_to(2, &mut crlf)?;
        if crlf != b"\r\n" {
            return Ok(false);
        }
    }
}

/// Reads a response head byte by byte, up to and including the blank line,
/// leaving whatever follows (an interim response's successor, a body) unread.
pub fn read_raw_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("cannot read a response head");
        assert!(n == 1, "connection closed in a response head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Sends one request on `stream`, keeping the connection open (so the
/// next request reaches the same Apache process), and reads its response.
pub fn keepalive_request(
    stream: &mut TcpStream,
    method: &str,
    target: &str,
    body: &[u8],
) -> Response {
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("cannot send the request");
    stream
        .write_all(body)
        .expect("cannot send the request body");
    read_response(stream, method.eq_ignore_ascii_case("HEAD"))
}

/// Reads `stream` to its end, checking that the bytes repeat 0..=255 from
/// the first one on; returns how many there were. Memory stays bounded
/// whatever the length.
pub fn read_byte_pattern(stream: &mut impl std::io::Read) -> usize {
    let mut received = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    // `expected[k..]` starts the pattern at any phase k.
    let expected: Vec<u8> = (0..=255u8).cycle().take(buf.len() + 256).collect();
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            return received;
        }
        let phase = received % 256;
        assert!(
            buf[..n] == expected[phase..phase + n],
            "wrong bytes in the {n} bytes at offset {received}"
        );
        received += n;
    }
}

/// An `Authorization` value for HTTP Basic authentication.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], head: bool) -> Response {
        read_response(&mut &bytes[..], head)
    }

    #[test]
    fn parses_content_length_body_after_interim_100() {
        let response = parse(
            b"HTTP/1.1 100 Continue\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhelloEXTRA",
            false,
        );
        assert_eq!((response.status, response.reason.as_str()), (200, "OK"));
        assert_eq!(response.version, "HTTP/1.1");
        assert_eq!(response.body, b"hello");
        assert!(response.complete);
        assert_eq!(response.header("content-length"), Some("5"));
        assert_eq!(response.headers_named("X-A"), ["1", "2"]);
    }

    #[test]
    fn decodes_chunked_body() {
        let mut raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend_from_slice(&chunked(b"hello world", 4));
        let response = parse(&raw, false);
        assert_eq!(response.text(), "hello world");
        assert!(response.complete);
    }

    #[test]
    fn truncated_chunked_body_is_incomplete() {
        let response = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            false,
        );
        assert_eq!(response.body, b"hello");
        assert!(!response.complete);
    }

    #[test]
    fn truncated_content_length_body_is_incomplete() {
        let response = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", false);
        assert_eq!(response.body, b"hello");
        assert!(!response.complete);
    }

    #[test]
    fn head_response_has_no_body() {
        let response = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true);
        assert!(response.body.is_empty());
        assert!(response.complete);
    }
}
