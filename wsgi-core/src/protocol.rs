//! The wire protocol between an Apache child and a daemon process.
//!
//! Every message is a frame: one byte of kind, a four-byte big-endian
//! payload length, then the payload. A new connection opens with `Hello`
//! (the group's secret: only Apache's children know it). Each request is
//! a `Head` (the CGI environ) followed by `Go`; the daemon reads `Go` only
//! when it starts the application, so a process that dies before then
//! leaves it unread and the child's connection is reset rather than ended:
//! the child knows the request never ran and sends it elsewhere. The request body is pulled by the daemon:
//! it sends `Read(n)` whenever the application wants body bytes and the
//! child answers with one `Body` (empty at the end of the body) or a
//! `BodyError`. This way the body is never pushed ahead of the application,
//! memory stays bounded on both sides, and a daemon that answers without
//! reading the body cannot deadlock against a child still sending it. The
//! daemon answers with `ResponseHead`, `Data`..., then `End`; or `Cut` when
//! a response already under way broke; or `Fail` before any head (the
//! child answers with that status); or `Reject` when it will not take the
//! request at all (it is shutting down) and the child should connect again.
//!
//! The decoder accepts bytes in any slicing and refuses every malformed or
//! oversized frame with a typed error; nothing here does I/O.

use crate::environ::CgiEnviron;
use std::fmt;

/// Largest request head (the environ).
pub const MAX_HEAD: usize = 4 << 20;
/// Largest response head.
pub const MAX_RESPONSE_HEAD: usize = 1 << 20;
/// Largest body or data chunk in one frame.
pub const MAX_CHUNK: usize = 4 << 20;

/// The size senders split bodies into (and ask for at most): large enough
/// for few system calls, small enough that a connection's buffers stay
/// small whatever the body size.
pub const TRANSFER_CHUNK: usize = 64 << 10;
/// Largest error message.
pub const MAX_MESSAGE: usize = 64 << 10;
/// Most environ variables or response headers.
pub const MAX_ENTRIES: usize = 10_000;
/// Bytes before a frame's payload.
pub const FRAME_HEADER: usize = 5;

mod kind {
    pub const HEAD: u8 = 1;
    pub const READ: u8 = 2;
    pub const BODY: u8 = 3;
    pub const BODY_ERROR: u8 = 4;
    pub const RESPONSE_HEAD: u8 = 5;
    pub const DATA: u8 = 6;
    pub const END: u8 = 7;
    pub const CUT: u8 = 8;
    pub const FAIL: u8 = 9;
    pub const REJECT: u8 = 10;
    pub const HELLO: u8 = 11;
    pub const GO: u8 = 12;
    pub const WELCOME: u8 = 13;
}

/// Length of the secret a `Hello` carries.
pub const SECRET_LEN: usize = 32;

/// The request as the child hands it over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHead {
    /// The client asked with HEAD (the child will drop any body).
    pub head_request: bool,
    /// The script's modification time (µs) from the child's own stat of
    /// it, so the daemon need not stat it again.
    pub script_mtime: Option<u64>,
    /// CGI and `mod_wsgi.*` variables, in order.
    pub vars: CgiEnviron,
}

/// Bits of a `Head` frame's flags byte.
mod head_flags {
    pub const HEAD_REQUEST: u8 = 1;
    pub const SCRIPT_MTIME: u8 = 2;
}

/// The response head as the application gave it (validated by the
/// adapter): what a daemon process sends and an Apache child sets on its
/// request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseHead {
    pub status: u16,
    /// The whole status line, e.g. `200 OK`.
    pub status_line: Vec<u8>,
    /// Header names and values as latin-1 bytes, in the application's order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// child → daemon: the request.
    Head(RequestHead),
    /// daemon → child: send up to this many body bytes.
    Read(u32),
    /// child → daemon: body bytes; empty means the body has ended.
    Body(Vec<u8>),
    /// child → daemon: the client's body could not be read.
    BodyError(String),
    /// daemon → child: status and headers.
    ResponseHead(ResponseHead),
    /// daemon → child: response body bytes.
    Data(Vec<u8>),
    /// daemon → child: the response is complete.
    End,
    /// daemon → child: the response broke after its head was sent.
    Cut,
    /// daemon → child: the request failed before any head; answer `status`.
    Fail { status: u16, message: String },
    /// daemon → child: not taken; connect again (to another process).
    Reject,
    /// child → daemon, first on a connection: the group's secret.
    Hello(Vec<u8>),
    /// child → daemon, after each `Head`: read by the daemon only when the
    /// application starts.
    Go,
    /// daemon → child, once the `Hello` is proven: the daemon process's
    /// pid (the kernel's peer credentials on the child's side name the
    /// process that made the listening socket, the Apache parent).
    Welcome(u32),
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    UnknownKind(u8),
    TooLarge {
        kind: u8,
        length: usize,
        max: usize,
    },
    /// The payload ended inside a field.
    Truncated {
        kind: u8,
    },
    /// The payload had bytes after its last field.
    TrailingBytes {
        kind: u8,
    },
    /// A variable name or message was not UTF-8.
    NotUtf8 {
        kind: u8,
    },
    TooManyEntries {
        kind: u8,
        count: usize,
    },
    InvalidStatus(u16),
    InvalidFlags(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            DecodeError::TooLarge { kind, length, max } => {
                write!(
                    f,
                    "frame of kind {kind} has {length} bytes, more than {max}"
                )
            }
            DecodeError::Truncated { kind } => write!(f, "frame of kind {kind} is truncated"),
            DecodeError::TrailingBytes { kind } => {
                write!(f, "frame of kind {kind} has trailing bytes")
            }
            DecodeError::NotUtf8 { kind } => write!(f, "frame of kind {kind} has a non-UTF-8 name"),
            DecodeError::TooManyEntries { kind, count } => {
                write!(
                    f,
                    "frame of kind {kind} has {count} entries, more than {MAX_ENTRIES}"
                )
            }
            DecodeError::InvalidStatus(s) => write!(f, "invalid status {s}"),
            DecodeError::InvalidFlags(b) => write!(f, "invalid flags {b:#x}"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn max_payload(kind: u8) -> Result<usize, DecodeError> {
    Ok(match kind {
        kind::HEAD => MAX_HEAD,
        kind::READ | kind::WELCOME => 4,
        kind::BODY | kind::DATA => MAX_CHUNK,
        kind::BODY_ERROR => MAX_MESSAGE,
        kind::FAIL => MAX_MESSAGE + 2,
        kind::RESPONSE_HEAD => MAX_RESPONSE_HEAD,
        kind::END | kind::CUT | kind::REJECT | kind::GO => 0,
        kind::HELLO => SECRET_LEN,
        other => return Err(DecodeError::UnknownKind(other)),
    })
}

// ----- encoding -----

fn frame_header(out: &mut Vec<u8>, kind: u8, length: usize) {
    out.push(kind);
    out.extend_from_slice(&(length as u32).to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends a `Data` frame (or `Body` when `request_body`) holding `chunk`,
/// without building a [`Frame`]. `chunk` must not exceed [`MAX_CHUNK`].
pub fn encode_chunk(out: &mut Vec<u8>, chunk: &[u8], request_body: bool) {
    debug_assert!(chunk.len() <= MAX_CHUNK);
    frame_header(
        out,
        if request_body { kind::BODY } else { kind::DATA },
        chunk.len(),
    );
    out.extend_from_slice(chunk);
}

/// Encodes a `Head` frame from a borrowed head.
pub fn encode_head(head: &RequestHead, out: &mut Vec<u8>) {
    let mtime_length = if head.script_mtime.is_some() { 8 } else { 0 };
    let length = 1 + mtime_length + 4 + 8 * head.vars.len() + head.vars.byte_len();
    frame_header(out, kind::HEAD, length);
    let mut flags = 0;
    if head.head_request {
        flags |= head_flags::HEAD_REQUEST;
    }
    if head.script_mtime.is_some() {
        flags |= head_flags::SCRIPT_MTIME;
    }
    out.push(flags);
    if let Some(mtime) = head.script_mtime {
        out.extend_from_slice(&mtime.to_be_bytes());
    }
    out.extend_from_slice(&(head.vars.len() as u32).to_be_bytes());
    for (k, v) in head.vars.iter() {
        put_bytes(out, k);
        put_bytes(out, v);
    }
}

/// Appends the encoding of `frame` to `out`. Frames larger than the limits
/// the decoder enforces must not be encoded (the sender splits data).
pub fn encode(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Head(head) => encode_head(head, out),
        Frame::Read(n) => {
            frame_header(out, kind::READ, 4);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Frame::Body(chunk) => encode_chunk(out, chunk, true),
        Frame::Data(chunk) => encode_chunk(out, chunk, false),
        Frame::BodyError(message) => {
            frame_header(out, kind::BODY_ERROR, message.len());
            out.extend_from_slice(message.as_bytes());
        }
        Frame::ResponseHead(head) => {
            let length = 2
                + 4
                + head.status_line.len()
                + 4
                + head
                    .headers
                    .iter()
                    .map(|(n, v)| 8 + n.len() + v.len())
                    .sum::<usize>();
            frame_header(out, kind::RESPONSE_HEAD, length);
            out.extend_from_slice(&head.status.to_be_bytes());
            put_bytes(out, &head.status_line);
            out.extend_from_slice(&(head.headers.len() as u32).to_be_bytes());
            for (n, v) in &head.headers {
                put_bytes(out, n);
                put_bytes(out, v);
            }
        }
        Frame::End => frame_header(out, kind::END, 0),
        Frame::Cut => frame_header(out, kind::CUT, 0),
        Frame::Reject => frame_header(out, kind::REJECT, 0),
        Frame::Go => frame_header(out, kind::GO, 0),
        Frame::Welcome(pid) => {
            frame_header(out, kind::WELCOME, 4);
            out.extend_from_slice(&pid.to_be_bytes());
        }
        Frame::Hello(secret) => {
            frame_header(out, kind::HELLO, secret.len());
            out.extend_from_slice(secret);
        }
        Frame::Fail { status, message } => {
            frame_header(out, kind::FAIL, 2 + message.len());
            out.extend_from_slice(&status.to_be_bytes());
            out.extend_from_slice(message.as_bytes());
        }
    }
}

// ----- decoding -----

/// Reads fields of one frame's payload.
struct Fields<'a> {
    kind: u8,
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated { kind: self.kind });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut bytes = [0; 8];
        bytes.copy_from_slice(b);
        Ok(u64::from_be_bytes(bytes))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn count(&mut self) -> Result<usize, DecodeError> {
        let count = self.u32()? as usize;
        if count > MAX_ENTRIES {
            return Err(DecodeError::TooManyEntries {
                kind: self.kind,
                count,
            });
        }
        // Each entry needs at least 8 bytes: refuse impossible counts before
        // reserving memory for them.
        if count.saturating_mul(8) > self.rest.len() {
            return Err(DecodeError::Truncated { kind: self.kind });
        }
        Ok(count)
    }

    fn text(&self, bytes: &[u8]) -> Result<String, DecodeError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8 { kind: self.kind })
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { kind: self.kind })
        }
    }
}

fn valid_status(status: u16) -> Result<u16, DecodeError> {
    if (100..=599).contains(&status) {
        Ok(status)
    } else {
        Err(DecodeError::InvalidStatus(status))
    }
}

fn decode_payload(kind: u8, payload: &[u8]) -> Result<Frame, DecodeError> {
    let mut f = Fields {
        kind,
        rest: payload,
    };
    let frame = match kind {
        kind::HEAD => {
            let flags = f.u8()?;
            if flags & !(head_flags::HEAD_REQUEST | head_flags::SCRIPT_MTIME) != 0 {
                return Err(DecodeError::InvalidFlags(flags));
            }
            let script_mtime = if flags & head_flags::SCRIPT_MTIME != 0 {
                Some(f.u64()?)
            } else {
                None
            };
            let count = f.count()?;
            let mut vars = CgiEnviron::with_capacity(count, payload.len());
            for _ in 0..count {
                let key = f.bytes()?;
                let key = std::str::from_utf8(key).map_err(|_| DecodeError::NotUtf8 { kind })?;
                let value = f.bytes()?;
                vars.push(key, value);
            }
            Frame::Head(RequestHead {
                head_request: flags & head_flags::HEAD_REQUEST != 0,
                script_mtime,
                vars,
            })
        }
        kind::READ => Frame::Read(f.u32()?),
        kind::BODY => Frame::Body(f.take(payload.len())?.to_vec()),
        kind::DATA => Frame::Data(f.take(payload.len())?.to_vec()),
        kind::BODY_ERROR => {
            let message = f.take(payload.len())?;
            Frame::BodyError(f.text(message)?)
        }
        kind::RESPONSE_HEAD => {
            let status = valid_status(f.u16()?)?;
            let status_line = f.bytes()?.to_vec();
            let count = f.count()?;
            let mut headers = Vec::with_capacity(count);
            for _ in 0..count {
                let name = f.bytes()?.to_vec();
                let value = f.bytes()?.to_vec();
                headers.push((name, value));
            }
            Frame::ResponseHead(ResponseHead {
                status,
                status_line,
                headers,
            })
        }
        kind::END => Frame::End,
        kind::CUT => Frame::Cut,
        kind::REJECT => Frame::Reject,
        kind::GO => Frame::Go,
        kind::WELCOME => Frame::Welcome(f.u32()?),
        kind::HELLO => Frame::Hello(f.take(payload.len())?.to_vec()),
        kind::FAIL => {
            let status = valid_status(f.u16()?)?;
            let message = f.take(payload.len() - 2)?;
            Frame::Fail {
                status,
                message: f.text(message)?,
            }
        }
        other => return Err(DecodeError::UnknownKind(other)),
    };
    f.finish()?;
    Ok(frame)
}

/// Incremental decoder: feed bytes as they arrive, take frames out.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Received bytes are `buffer[start..end]`. Past `end` the buffer keeps
    /// its initialised room, so reads into it need no zeroing each time.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.space(bytes.len()).copy_from_slice(bytes);
        self.end += bytes.len();
    }

    /// Moves the pending bytes to the front of the buffer when nothing is
    /// pending or when they sit beyond `threshold` and in its second half.
    fn compact(&mut self, threshold: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > threshold && self.start * 2 >= self.end {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Room for `n` more bytes after the pending ones, for the caller to
    /// read into; then [`Decoder::filled`] says how many it got. Saves
    /// copying received bytes through a second buffer.
    pub fn space(&mut self, n: usize) -> &mut [u8] {
        self.compact(0);
        if self.buffer.len() < self.end + n {
            self.buffer.resize(self.end + n, 0);
        }
        &mut self.buffer[self.end..self.end + n]
    }

    /// Keeps `used` of the bytes offered by the last [`Decoder::space`].
    pub fn filled(&mut self, offered: usize, used: usize) {
        self.end += used.min(offered);
    }

    /// Frees the buffer if nothing is pending and it grew large (a
    /// connection waiting for its next request should hold little).
    pub fn release_if_idle(&mut self) {
        if self.pending() == 0 && self.buffer.capacity() > 16 << 10 {
            *self = Decoder::default();
        }
    }

    /// Bytes received but not yet decoded.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    fn available(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    /// Whether a whole frame (valid or not) is buffered.
    pub fn has_frame(&self) -> bool {
        let available = self.available();
        if available.len() < FRAME_HEADER {
            return false;
        }
        let length =
            u32::from_be_bytes([available[1], available[2], available[3], available[4]]) as usize;
        available.len() - FRAME_HEADER >= length
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed. After
    /// an error the stream is unusable.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        let available = self.available();
        if available.is_empty() {
            return Ok(None);
        }
        let kind = available[0];
        let max = max_payload(kind)?;
        if available.len() < FRAME_HEADER {
            return Ok(None);
        }
        let length =
            u32::from_be_bytes([available[1], available[2], available[3], available[4]]) as usize;
        if length > max {
            return Err(DecodeError::TooLarge { kind, length, max });
        }
        if available.len() < FRAME_HEADER + length {
            return Ok(None);
        }
        let frame = decode_payload(kind, &available[FRAME_HEADER..FRAME_HEADER + length])?;
        self.start += FRAME_HEADER + length;
        self.compact(64 << 10);
        Ok(Some(frame))
    }

    /// How many more bytes the frame being received needs, at least 1 (a
    /// reader can size its next read with it).
    pub fn wanted(&self) -> usize {
        let available = self.available();
        if available.len() < FRAME_HEADER {
            return FRAME_HEADER - available.len();
        }
        let length =
            u32::from_be_bytes([available[1], available[2], available[3], available[4]]) as usize;
        (FRAME_HEADER + length)
            .saturating_sub(available.len())
            .max(1)
    }
}

/// Decodes every frame of `bytes` (which must end on a frame boundary).
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, DecodeError> {
    let mut decoder = Decoder::new();
    decoder.feed(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.next_frame()? {
        frames.push(frame);
    }
    if decoder.pending() > 0 {
        let kind = bytes
            .get(bytes.len() - decoder.pending())
            .copied()
            .unwrap_or(0);
        return Err(DecodeError::Truncated { kind });
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Frame> {
        vec![
            Frame::Head(RequestHead {
                head_request: true,
                script_mtime: Some(1_700_000_000_123_456),
                vars: CgiEnviron::from_pairs([
                    ("REQUEST_METHOD", &b"GET"[..]),
                    ("HTTP_X", &[0, 255, 10][..]),
                    ("EMPTY", &[][..]),
                ]),
            }),
            Frame::Head(RequestHead {
                head_request: false,
                script_mtime: None,
                vars: CgiEnviron::from_pairs([("SCRIPT_NAME", &b"/app"[..])]),
            }),
            Frame::Read(65536),
            Frame::Body(b"abc".to_vec()),
            Frame::Body(Vec::new()),
            Frame::BodyError("client went away".into()),
            Frame::ResponseHead(ResponseHead {
                status: 200,
                status_line: b"200 OK".to_vec(),
                headers: vec![(b"Content-Type".to_vec(), b"text/plain".to_vec())],
            }),
            Frame::Data(vec![7; 1000]),
            Frame::End,
            Frame::Cut,
            Frame::Fail {
                status: 504,
                message: "queue timeout".into(),
            },
            Frame::Reject,
            Frame::Hello(vec![0xa5; SECRET_LEN]),
            Frame::Go,
            Frame::Welcome(4242),
        ]
    }

    fn encoded(frames: &[Frame]) -> Vec<u8> {
        let mut out = Vec::new();
        for frame in frames {
            encode(frame, &mut out);
        }
        out
    }

    #[test]
    fn round_trip_every_kind() {
        let frames = every_kind();
        assert_eq!(decode_all(&encoded(&frames)).unwrap(), frames);
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_frames() {
        let frames = every_kind();
        let bytes = encoded(&frames);
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        for b in bytes {
            assert!(decoder.wanted() >= 1);
            decoder.feed(&[b]);
            while let Some(frame) = decoder.next_frame().unwrap() {
                out.push(frame);
            }
        }
        assert_eq!(out, frames);
        assert_eq!(decoder.pending(), 0);
    }

    #[test]
    fn encode_chunk_matches_encode() {
        let mut a = Vec::new();
        encode_chunk(&mut a, b"xyz", false);
        assert_eq!(a, encoded(&[Frame::Data(b"xyz".to_vec())]));
        let mut b = Vec::new();
        encode_chunk(&mut b, b"xyz", true);
        assert_eq!(b, encoded(&[Frame::Body(b"xyz".to_vec())]));
    }

    #[test]
    fn unknown_kind_is_refused() {
        assert_eq!(
            decode_all(&[99, 0, 0, 0, 0]),
            Err(DecodeError::UnknownKind(99))
        );
        assert_eq!(decode_all(&[0]), Err(DecodeError::UnknownKind(0)));
    }

    #[test]
    fn oversized_frames_are_refused_before_their_payload_arrives() {
        let mut decoder = Decoder::new();
        decoder.feed(&[kind::DATA, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            decoder.next_frame(),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut decoder = Decoder::new();
        decoder.feed(&[kind::END, 0, 0, 0, 1, 0]);
        assert!(matches!(
            decoder.next_frame(),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut decoder = Decoder::new();
        decoder.feed(&[kind::READ, 0, 0, 0, 5, 0, 0, 0, 0, 0]);
        assert!(matches!(
            decoder.next_frame(),
            Err(DecodeError::TooLarge { .. })
        ));
        // A secret longer than any the module makes, and a Go with a payload.
        let mut decoder = Decoder::new();
        decoder.feed(&[kind::HELLO, 0, 0, 0, SECRET_LEN as u8 + 1]);
        assert!(matches!(
            decoder.next_frame(),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut decoder = Decoder::new();
        decoder.feed(&[kind::GO, 0, 0, 0, 1]);
        assert!(matches!(
            decoder.next_frame(),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn truncated_fields_are_refused() {
        // A head claiming one variable whose name is longer than the payload.
        let payload = [0u8, 0, 0, 0, 1, 0, 0, 0, 50, b'A'];
        let mut bytes = vec![kind::HEAD, 0, 0, 0, payload.len() as u8];
        bytes.extend_from_slice(&payload);
        assert_eq!(
            decode_all(&bytes),
            Err(DecodeError::Truncated { kind: kind::HEAD })
        );
        // A response head too short for its status.
        assert_eq!(
            decode_all(&[kind::RESPONSE_HEAD, 0, 0, 0, 1, 0]),
            Err(DecodeError::Truncated {
                kind: kind::RESPONSE_HEAD
            })
        );
        // Bytes ending inside a frame.
        let mut partial = encoded(&[Frame::End]);
        partial.push(kind::DATA);
        assert!(matches!(
            decode_all(&partial),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encoded(&[Frame::Read(1)]);
        bytes[4] = 5;
        bytes.push(0);
        assert!(matches!(
            decode_all(&bytes),
            Err(DecodeError::TooLarge { .. })
        ));
        let mut head = Vec::new();
        encode(&Frame::Head(RequestHead::default()), &mut head);
        head[4] += 1;
        head.push(9);
        assert_eq!(
            decode_all(&head),
            Err(DecodeError::TrailingBytes { kind: kind::HEAD })
        );
    }

    #[test]
    fn huge_entry_counts_are_refused_without_allocating() {
        let mut bytes = vec![kind::HEAD, 0, 0, 0, 5, 0];
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_all(&bytes),
            Err(DecodeError::TooManyEntries { .. })
        ));
        let mut bytes = vec![kind::HEAD, 0, 0, 0, 5, 0];
        bytes.extend_from_slice(&500u32.to_be_bytes());
        assert_eq!(
            decode_all(&bytes),
            Err(DecodeError::Truncated { kind: kind::HEAD })
        );
    }

    #[test]
    fn bad_status_flags_and_names_are_refused() {
        let mut fail = Vec::new();
        encode(
            &Frame::Fail {
                status: 700,
                message: String::new(),
            },
            &mut fail,
        );
        assert_eq!(decode_all(&fail), Err(DecodeError::InvalidStatus(700)));
        let mut head = Vec::new();
        encode(&Frame::Head(RequestHead::default()), &mut head);
        head[5] = 4;
        assert_eq!(decode_all(&head), Err(DecodeError::InvalidFlags(4)));
        // The script's modification time flagged but not there.
        head[5] = 2;
        assert_eq!(
            decode_all(&head),
            Err(DecodeError::Truncated { kind: kind::HEAD })
        );
        let mut bytes = vec![
            kind::HEAD,
            0,
            0,
            0,
            15,
            0,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            1,
            0xff,
            0,
            0,
            0,
            0,
        ];
        bytes.truncate(5 + 15 - 1);
        bytes[4] = 14;
        assert_eq!(
            decode_all(&bytes),
            Err(DecodeError::NotUtf8 { kind: kind::HEAD })
        );
        let bad_message = [kind::BODY_ERROR, 0, 0, 0, 1, 0xff];
        assert_eq!(
            decode_all(&bad_message),
            Err(DecodeError::NotUtf8 {
                kind: kind::BODY_ERROR
            })
        );
    }

    #[test]
    fn decoder_reclaims_consumed_space() {
        let mut decoder = Decoder::new();
        let frame = Frame::Data(vec![1; 100 << 10]);
        let bytes = encoded(&[frame.clone(), frame.clone(), frame.clone()]);
        decoder.feed(&bytes);
        for _ in 0..3 {
            assert_eq!(decoder.next_frame().unwrap(), Some(frame.clone()));
        }
        assert_eq!(decoder.pending(), 0);
        assert_eq!(decoder.next_frame().unwrap(), None);
    }

    #[test]
    fn reading_into_the_decoder_gives_the_same_frames() {
        let bytes = encoded(&every_kind());
        for step in [1, 7, 4096, bytes.len()] {
            let mut decoder = Decoder::new();
            let mut frames = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let offered = step.max(decoder.wanted());
                let space = decoder.space(offered);
                let used = (bytes.len() - at).min(step).min(space.len());
                space[..used].copy_from_slice(&bytes[at..at + used]);
                decoder.filled(offered, used);
                at += used;
                while let Some(frame) = decoder.next_frame().unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(frames, every_kind(), "step {step}");
            assert_eq!(decoder.pending(), 0);
            decoder.release_if_idle();
        }
    }
}
