//! The request body as an Apache child feeds it to a daemon process. A
//! body no larger than the group's body-buffer-size is read from the client
//! before the request goes to the daemon process at all, so a client that
//! sends slowly holds an Apache thread (there are many, and httpd's
//! timeouts apply) rather than one of the daemon's few threads. Larger
//! bodies are read from the client as the application asks for them, past
//! the part already read.

use crate::child::backend::RequestBackend;
use crate::wsgi::backend::{Backend, Filling, ReadError};

/// What comes after the buffered part.
enum Rest {
    /// More is to be read from the client.
    Client,
    /// The body ended within the buffer.
    End,
    /// Reading it failed there; the application gets the error when it
    /// reaches that point, as it would have reading from the client.
    Failed(ReadError),
}

pub struct RequestBody {
    buffered: Vec<u8>,
    offset: usize,
    rest: Rest,
}

impl RequestBody {
    /// Reads up to `limit` bytes of the body from the client (nothing when
    /// `expected` says there is none or more than `limit`; `None` means
    /// unknown, as for a chunked body).
    pub fn prefetch(backend: &mut RequestBackend, expected: Option<u64>, limit: usize) -> Self {
        let mut body = RequestBody {
            buffered: Vec::new(),
            offset: 0,
            rest: Rest::Client,
        };
        let worth_it = match expected {
            Some(0) => false,
            Some(length) => length <= limit as u64,
            None => limit > 0,
        };
        if !worth_it {
            return body;
        }
        // One byte more than the limit tells a chunked body that ends right
        // at the limit from a longer one.
        let room = match expected {
            Some(length) => length as usize,
            None => limit + 1,
        };
        body.buffered = vec![0; room];
        let mut filled = 0;
        let result = {
            let mut filling = Filling::over(&mut body.buffered);
            backend.read_body_full(&mut filling).map(|n| {
                filled = n;
            })
        };
        body.buffered.truncate(filled);
        body.rest = match result {
            Err(e) => Rest::Failed(e),
            // Short of the room: the body ended.
            Ok(()) if filled < room => Rest::End,
            // A known length fully read: the body ended (httpd's filter
            // reports any excess itself).
            Ok(()) if expected.is_some() => Rest::End,
            Ok(()) => Rest::Client,
        };
        body
    }

    /// The next bytes of the body into `buf`, from the buffer first, then
    /// from the client; 0 at the end.
    pub fn read(
        &mut self,
        backend: &mut RequestBackend,
        buf: &mut Filling<'_>,
    ) -> Result<usize, ReadError> {
        if self.offset < self.buffered.len() {
            let n = buf.push(&self.buffered[self.offset..]);
            self.offset += n;
            if self.offset == self.buffered.len() {
                // Done with the buffer: let its memory go.
                self.buffered = Vec::new();
                self.offset = 0;
            }
            return Ok(n);
        }
        match &self.rest {
            Rest::Client => backend.read_body(buf),
            Rest::End => Ok(0),
            Rest::Failed(e) => Err(e.clone()),
        }
    }
}
