//! What the WSGI adapter needs from the server side of a request. Embedded
//! mode implements it on Apache's request; daemon mode on the socket to an
//! Apache child. Every method may block and is called with the GIL
//! released, so it must not touch Python.

use std::os::fd::RawFd;

use wsgi_core::level::Level;
use wsgi_core::protocol::ResponseHead;

pub use python_embed::objects::Filling;

/// The request body could not be read (client gone, timeout, bad chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(pub String);

/// The response could not be written: the client has gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGone(pub String);

pub trait Backend {
    /// Marks the moment the request's own code starts: called once, with
    /// the GIL held, right before the script is loaded and its application
    /// called. Until then the request may still go elsewhere (daemon mode:
    /// a process that dies before it leaves its request for another one).
    /// `wait` false: it must not block, and answers `Ok(false)` if it would
    /// have to (it is then called again with `wait` and the GIL released).
    fn commit(&mut self, _wait: bool) -> Result<bool, ClientGone> {
        Ok(true)
    }

    /// Reads up to `buf.remaining()` bytes of the request body into `buf`;
    /// returns how many, 0 meaning the end.
    fn read_body(&mut self, buf: &mut Filling<'_>) -> Result<usize, ReadError>;

    /// Reads until `buf` is full or the body ends; returns how many bytes
    /// that added (fewer than the room only at the end of the body).
    fn read_body_full(&mut self, buf: &mut Filling<'_>) -> Result<usize, ReadError> {
        let mut added = 0;
        while buf.remaining() > 0 {
            let n = self.read_body(buf)?;
            if n == 0 {
                break;
            }
            added += n;
        }
        Ok(added)
    }

    /// Sets the response head; it goes out with the first body bytes, or
    /// when the request ends if the body is empty.
    fn set_head(&mut self, head: &ResponseHead);

    /// Sends body bytes (after the head, on the first call) and flushes them
    /// to the client.
    fn send_body(&mut self, data: &[u8]) -> Result<(), ClientGone>;

    /// Whether the backend would hold `len` last body bytes (see
    /// [`Backend::hold_last_body`]); if not, they go to `send_body`.
    fn can_hold_last_body(&self, _len: usize) -> bool {
        false
    }

    /// Keeps the last body bytes of a response to go out with its end, once
    /// the application is done. Only called after `can_hold_last_body` said
    /// yes for them, and only when no application code can run before that
    /// end (the response is a list or tuple), so holding them delays
    /// nothing; called with the GIL held, so it must not block.
    fn hold_last_body(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        self.send_body(data)
    }

    /// Sends `len` bytes of the regular file `fd` from `offset` without
    /// passing them through Python. The file position of `fd` may change.
    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), ClientGone>;

    /// Ends a response whose head was already sent in a way the client
    /// sees as broken (no final chunk, connection closed).
    fn cut_response(&mut self);
}

/// Writes lines to the error log in the context of one request. Kept apart
/// from [`Backend`] because a log line may be written by one Python thread
/// while another is blocked in a backend read or write.
pub trait RequestLog {
    fn log(&self, level: Level, message: &str);
}
