//! The Rust side of one request while the application runs: buffered
//! reading of the body, and the response state that PEP 3333 rules apply to
//! (head set by start_response, committed with the first body bytes,
//! Content-Length never exceeded).
//!
//! Python objects (`wsgi.input`, `start_response`/`write`, `wsgi.errors`)
//! reach the exchange through a raw pointer that is cleared when the
//! request ends. Blocking calls release the GIL; while one is in progress
//! the exchange is marked busy so that another Python thread cannot use the
//! same request concurrently.

use std::time::{Duration, Instant};

use pyo3::Python;
use python_embed::threads::without_gil;

use super::backend::{Backend, ClientGone, Filling, ReadError, RequestLog};
use wsgi_core::level::Level;
use wsgi_core::protocol::ResponseHead;

/// The most asked of the server in one read. Each read zero-fills its
/// buffer first, and a chunked body may arrive a few bytes at a time, so a
/// small bound keeps reads cheap and memory bounded.
const READ_CHUNK: usize = 64 * 1024;

/// How an output call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputError {
    /// Body data before `start_response`.
    NotStarted,
    /// The client went away.
    ClientGone(String),
}

/// How the end of a response went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishError {
    /// The application never called `start_response`.
    NotStarted,
    /// Fewer bytes than the declared Content-Length, and nothing was sent
    /// yet: can still become a 500.
    ShortBeforeHead { declared: u64, produced: u64 },
    /// Fewer bytes than the declared Content-Length after the head went
    /// out: the response was cut.
    ShortAfterHead { declared: u64, sent: u64 },
}

pub struct Exchange {
    backend: *mut dyn Backend,
    log: *const dyn RequestLog,
    busy: bool,
    /// The client asked with HEAD: the server drops the body, so a short
    /// body is not an error.
    head_request: bool,
    input: InputBuffer,
    head: Option<ResponseHead>,
    content_length: Option<u64>,
    committed: bool,
    body_started: bool,
    sent: u64,
    produced: u64,
    truncation_logged: bool,
    client_gone: bool,
    io: IoCounts,
}

/// What the request's body and response cost in calls and waiting: the
/// `request_finished` event reports it (mod_wsgi's names).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IoCounts {
    pub input_reads: u64,
    pub input_length: u64,
    pub input_time: Duration,
    pub output_writes: u64,
    pub output_length: u64,
    pub output_time: Duration,
}

#[derive(Default)]
struct InputBuffer {
    data: Vec<u8>,
    pos: usize,
    eof: bool,
    failed: Option<String>,
}

impl InputBuffer {
    fn available(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.data[self.pos..self.pos + n].to_vec();
        self.pos += n;
        if self.pos == self.data.len() {
            self.data.clear();
            self.pos = 0;
        }
        out
    }
}

/// The exchange is being used by another thread.
#[derive(Debug)]
pub struct Busy;

impl Exchange {
    /// # Safety
    /// `backend` and `log` must stay valid for as long as the exchange is.
    pub unsafe fn new(
        backend: *mut dyn Backend,
        log: *const dyn RequestLog,
        head_request: bool,
    ) -> Exchange {
        Exchange {
            backend,
            log,
            busy: false,
            head_request,
            input: InputBuffer::default(),
            head: None,
            content_length: None,
            committed: false,
            body_started: false,
            sent: 0,
            produced: 0,
            truncation_logged: false,
            client_gone: false,
            io: IoCounts::default(),
        }
    }

    /// The body read and the response written so far.
    pub fn io_counts(&self) -> IoCounts {
        IoCounts {
            output_length: self.produced,
            ..self.io
        }
    }

    pub fn check_idle(&self) -> Result<(), Busy> {
        if self.busy { Err(Busy) } else { Ok(()) }
    }

    pub fn log(&self, level: Level, message: &str) {
        // SAFETY: guaranteed valid by the constructor's contract; logging
        // only reads the request.
        unsafe { &*self.log }.log(level, message)
    }

    fn backend(&mut self) -> &mut dyn Backend {
        // SAFETY: valid per the constructor's contract; `&mut self` plus the
        // busy flag make this the only user.
        unsafe { &mut *self.backend }
    }

    /// Runs a blocking backend call with the GIL released.
    fn blocking<R>(&mut self, py: Python<'_>, f: impl FnOnce(&mut dyn Backend) -> R) -> R {
        self.busy = true;
        let backend = self.backend;
        // SAFETY: as in `backend()`; the busy flag keeps other threads out
        // while the GIL is released.
        let result = without_gil(py, || f(unsafe { &mut *backend }));
        self.busy = false;
        result
    }

    fn note_read(&mut self, began: Instant, bytes: usize) {
        self.io.input_reads += 1;
        self.io.input_length += bytes as u64;
        self.io.input_time += began.elapsed();
    }

    fn note_write(&mut self, began: Instant) {
        self.io.output_writes += 1;
        self.io.output_time += began.elapsed();
    }

    // ----- request body -----

    fn fill(&mut self, py: Python<'_>, want: usize) -> Result<usize, ReadError> {
        if self.input.eof {
            return Ok(0);
        }
        if let Some(err) = &self.input.failed {
            return Err(ReadError(format!("input is already in error state: {err}")));
        }
        let start = self.input.data.len();
        self.input.data.resize(start + want, 0);
        let mut data = std::mem::take(&mut self.input.data);
        let began = Instant::now();
        let result = self.blocking(py, |b| b.read_body(&mut Filling::over(&mut data[start..])));
        self.note_read(began, result.as_ref().map_or(0, |n| *n));
        self.input.data = data;
        match result {
            Ok(n) => {
                self.input.data.truncate(start + n);
                if n == 0 {
                    self.input.eof = true;
                }
                Ok(n)
            }
            Err(err) => {
                self.input.data.truncate(start);
                self.input.failed = Some(err.0.clone());
                Err(err)
            }
        }
    }

    /// `read(size)`: up to `size` bytes, fewer only at the end of the body;
    /// `None` reads everything that is left.
    pub fn read(&mut self, py: Python<'_>, size: Option<usize>) -> Result<Vec<u8>, ReadError> {
        let want = size.unwrap_or(usize::MAX);
        let buffered = self.input.available().len().min(want);
        let mut out = self.input.take(buffered);
        while out.len() < want && !self.input.eof {
            let chunk = (want - out.len()).min(READ_CHUNK);
            let n = self.fill(py, chunk)?;
            let take = n.min(want - out.len());
            out.extend_from_slice(&self.input.available()[..take]);
            self.input.pos += take;
            if self.input.pos == self.input.data.len() {
                self.input.data.clear();
                self.input.pos = 0;
            }
        }
        Ok(out)
    }

    /// `read(n)` into `out` (n = its room): buffered bytes first, then the
    /// backend fills the rest in one blocking call. Fewer than asked only at
    /// the end of the body.
    pub fn read_into(&mut self, py: Python<'_>, out: &mut Filling<'_>) -> Result<(), ReadError> {
        let buffered = out.push(self.input.available());
        self.input.pos += buffered;
        if self.input.pos == self.input.data.len() {
            self.input.data.clear();
            self.input.pos = 0;
        }
        if out.remaining() == 0 || self.input.eof {
            return Ok(());
        }
        if let Some(err) = &self.input.failed {
            return Err(ReadError(format!("input is already in error state: {err}")));
        }
        let wanted = out.remaining();
        let began = Instant::now();
        let result = self.blocking(py, |b| b.read_body_full(out));
        self.note_read(began, result.as_ref().map_or(0, |n| *n));
        match result {
            Ok(n) => {
                if n < wanted {
                    self.input.eof = true;
                }
                Ok(())
            }
            Err(err) => {
                self.input.failed = Some(err.0.clone());
                Err(err)
            }
        }
    }

    /// `readline(size)`: up to and including the next newline, at most
    /// `size` bytes.
    pub fn readline(&mut self, py: Python<'_>, size: Option<usize>) -> Result<Vec<u8>, ReadError> {
        let limit = size.unwrap_or(usize::MAX);
        let mut scanned = 0;
        loop {
            let available = self.input.available();
            let window = available.len().min(limit);
            if let Some(i) = available[scanned..window].iter().position(|&c| c == b'\n') {
                return Ok(self.input.take(scanned + i + 1));
            }
            if window == limit || self.input.eof {
                return Ok(self.input.take(window));
            }
            scanned = window;
            if self.fill(py, READ_CHUNK)? == 0 {
                let n = self.input.available().len().min(limit);
                return Ok(self.input.take(n));
            }
        }
    }

    // ----- response -----

    /// Records the head from `start_response`. Before any body byte was
    /// sent it may be replaced; afterwards the caller must not call this.
    pub fn set_head(&mut self, head: ResponseHead, content_length: Option<u64>) {
        self.head = Some(head);
        self.content_length = content_length;
    }

    pub fn has_head(&self) -> bool {
        self.head.is_some()
    }

    /// Whether body bytes (and so the head) reached the client.
    pub fn head_sent(&self) -> bool {
        self.body_started
    }

    pub fn client_gone(&self) -> bool {
        self.client_gone
    }

    /// Whether the application has produced no body bytes yet.
    pub fn nothing_written(&self) -> bool {
        self.produced == 0
    }

    fn commit_head(&mut self) -> Result<(), OutputError> {
        if !self.committed {
            let head = self.head.take().ok_or(OutputError::NotStarted)?;
            self.backend().set_head(&head);
            self.head = Some(head);
            self.committed = true;
        }
        Ok(())
    }

    /// The part of `data` that still fits the declared Content-Length.
    fn within_content_length<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        self.produced += data.len() as u64;
        let Some(declared) = self.content_length else {
            return data;
        };
        let room = declared.saturating_sub(self.sent);
        if (data.len() as u64) <= room {
            return data;
        }
        if !self.truncation_logged {
            self.truncation_logged = true;
            self.log(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Response larger than its Content-Length of {declared} bytes; \
                     the excess was not sent.",
                    std::process::id()
                ),
            );
        }
        &data[..room as usize]
    }

    /// Sends body bytes, committing the head first. With `may_hold` (no
    /// application code runs between this and the end of the response) the
    /// backend may keep the last bytes to send with that end.
    pub fn write(
        &mut self,
        py: Python<'_>,
        data: &[u8],
        may_hold: bool,
    ) -> Result<(), OutputError> {
        if self.head.is_none() {
            return Err(OutputError::NotStarted);
        }
        let data = self.within_content_length(data);
        if data.is_empty() {
            return Ok(());
        }
        if self.client_gone {
            return Err(OutputError::ClientGone("client connection closed".into()));
        }
        self.commit_head()?;
        let last = self.content_length == Some(self.sent + data.len() as u64);
        let began = Instant::now();
        let sent = if may_hold && last && self.backend().can_hold_last_body(data.len()) {
            self.backend().hold_last_body(data)
        } else {
            self.blocking(py, |b| b.send_body(data))
        };
        self.note_write(began);
        match sent {
            Ok(()) => {
                self.sent += data.len() as u64;
                self.body_started = true;
                Ok(())
            }
            Err(ClientGone(why)) => {
                self.client_gone = true;
                Err(OutputError::ClientGone(why))
            }
        }
    }

    /// Sends `available` bytes of a regular file from `offset`, as the
    /// whole body. Sets Content-Length when the application did not.
    pub fn send_file(
        &mut self,
        py: Python<'_>,
        fd: std::os::fd::RawFd,
        offset: u64,
        available: u64,
    ) -> Result<(), OutputError> {
        let head = self.head.as_mut().ok_or(OutputError::NotStarted)?;
        let len = match self.content_length {
            Some(declared) => declared.min(available),
            None => {
                head.headers.push((
                    b"Content-Length".to_vec(),
                    available.to_string().into_bytes(),
                ));
                self.content_length = Some(available);
                available
            }
        };
        self.produced += available;
        self.commit_head()?;
        if len == 0 {
            return Ok(());
        }
        let began = Instant::now();
        let sent = self.blocking(py, |b| b.send_file(fd, offset, len));
        self.note_write(began);
        match sent {
            Ok(()) => {
                self.sent += len;
                self.body_started = true;
                Ok(())
            }
            Err(ClientGone(why)) => {
                self.client_gone = true;
                Err(OutputError::ClientGone(why))
            }
        }
    }

    /// Ends the response normally: commits a head not yet sent (an empty
    /// body) and checks the body against a declared Content-Length.
    pub fn finish(&mut self) -> Result<(), FinishError> {
        if self.head.is_none() {
            return Err(FinishError::NotStarted);
        }
        let status = self.head.as_ref().map_or(200, |h| h.status);
        let bodyless = self.head_request || status < 200 || status == 204 || status == 304;
        if let Some(declared) = self.content_length
            && self.sent < declared
            && !bodyless
            && !self.client_gone
        {
            if !self.body_started {
                return Err(FinishError::ShortBeforeHead {
                    declared,
                    produced: self.produced,
                });
            }
            self.backend().cut_response();
            return Err(FinishError::ShortAfterHead {
                declared,
                sent: self.sent,
            });
        }
        self.commit_head().map_err(|_| FinishError::NotStarted)
    }

    /// Ends a response whose head was sent, after an application error.
    pub fn cut(&mut self) {
        if !self.client_gone {
            self.backend().cut_response();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The exchange driven through a recording backend, as the adapter
    //! drives it: start_response (set_head), write, the end (finish) or an
    //! error (cut), and the body readers. Python is only needed for its
    //! GIL, which blocking calls release.

    use pyo3::Python;

    use super::*;
    use crate::wsgi::testing::{Lines, Recording, head, with_python};

    /// Runs `f` with an exchange over `backend`; returns what was logged.
    fn exchange(
        backend: &mut Recording,
        head_request: bool,
        f: impl FnOnce(Python<'_>, &mut Exchange),
    ) -> Vec<String> {
        let lines = Lines::default();
        with_python(|py| {
            let backend: *mut dyn Backend = backend;
            let log: *const dyn RequestLog = &lines;
            // SAFETY: both outlive the exchange, which ends in this block.
            let mut exchange = unsafe { Exchange::new(backend, log, head_request) };
            f(py, &mut exchange);
        });
        lines.0.into_inner()
    }

    #[test]
    fn body_before_start_response_is_refused() {
        let mut backend = Recording::default();
        exchange(&mut backend, false, |py, ex| {
            assert_eq!(ex.write(py, b"x", false), Err(OutputError::NotStarted));
            assert_eq!(ex.finish(), Err(FinishError::NotStarted));
        });
        assert!(backend.head.is_none() && backend.sent.is_empty());
    }

    #[test]
    fn the_head_can_be_replaced_until_the_first_body_byte() {
        let mut backend = Recording::default();
        exchange(&mut backend, false, |py, ex| {
            ex.set_head(head(200, &[]), None);
            ex.set_head(head(404, &[]), None);
            // An empty write commits nothing.
            ex.write(py, b"", false).unwrap();
            assert!(!ex.head_sent());
            ex.write(py, b"gone", false).unwrap();
            assert!(ex.head_sent());
            ex.write(py, b"!", false).unwrap();
            assert_eq!(ex.finish(), Ok(()));
        });
        assert_eq!(backend.head.as_ref().map(|h| h.status), Some(404));
        assert_eq!(backend.heads_set, 1);
        assert_eq!(backend.sent, b"gone!");
    }

    #[test]
    fn content_length_is_never_exceeded() {
        let mut backend = Recording::default();
        let lines = exchange(&mut backend, false, |py, ex| {
            ex.set_head(head(200, &[("Content-Length", "5")]), Some(5));
            ex.write(py, b"hel", false).unwrap();
            ex.write(py, b"lo world", false).unwrap();
            ex.write(py, b"more", false).unwrap();
            assert_eq!(ex.finish(), Ok(()));
        });
        assert_eq!(backend.sent, b"hello");
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains("larger than its Content-Length of 5"))
                .count(),
            1,
            "{lines:?}"
        );
    }

    #[test]
    fn a_short_body_fails_before_the_head_and_cuts_after_it() {
        let mut backend = Recording::default();
        exchange(&mut backend, false, |_, ex| {
            ex.set_head(head(200, &[]), Some(10));
            assert_eq!(
                ex.finish(),
                Err(FinishError::ShortBeforeHead {
                    declared: 10,
                    produced: 0
                })
            );
        });
        assert!(backend.head.is_none(), "nothing was committed");
        assert!(!backend.cut);

        let mut backend = Recording::default();
        exchange(&mut backend, false, |py, ex| {
            ex.set_head(head(200, &[]), Some(10));
            ex.write(py, b"abc", false).unwrap();
            assert_eq!(
                ex.finish(),
                Err(FinishError::ShortAfterHead {
                    declared: 10,
                    sent: 3
                })
            );
        });
        assert!(backend.cut);
        assert_eq!(backend.sent, b"abc");
    }

    #[test]
    fn bodyless_responses_are_not_short() {
        for (head_request, status) in [(true, 200), (false, 204), (false, 304), (false, 100)] {
            let mut backend = Recording::default();
            exchange(&mut backend, head_request, |_, ex| {
                ex.set_head(head(status, &[]), Some(10));
                assert_eq!(ex.finish(), Ok(()), "{status} head={head_request}");
            });
            assert_eq!(backend.head.as_ref().map(|h| h.status), Some(status));
            assert!(!backend.cut);
        }
    }

    #[test]
    fn an_empty_response_commits_its_head_at_the_end() {
        let mut backend = Recording::default();
        exchange(&mut backend, false, |_, ex| {
            ex.set_head(head(200, &[]), None);
            assert!(ex.nothing_written());
            assert_eq!(ex.finish(), Ok(()));
        });
        assert_eq!(backend.heads_set, 1);
        assert!(backend.sent.is_empty());
    }

    #[test]
    fn only_the_last_block_of_a_known_length_may_be_held() {
        let mut backend = Recording {
            can_hold: true,
            ..Recording::default()
        };
        exchange(&mut backend, false, |py, ex| {
            ex.set_head(head(200, &[]), Some(6));
            ex.write(py, b"abc", true).unwrap();
            ex.write(py, b"def", true).unwrap();
            assert_eq!(ex.finish(), Ok(()));
        });
        assert_eq!(backend.sent, b"abc");
        assert_eq!(backend.held, b"def");

        // Without a known length nothing is held.
        let mut backend = Recording {
            can_hold: true,
            ..Recording::default()
        };
        exchange(&mut backend, false, |py, ex| {
            ex.set_head(head(200, &[]), None);
            ex.write(py, b"abc", true).unwrap();
        });
        assert_eq!(backend.sent, b"abc");
        assert!(backend.held.is_empty());
    }

    #[test]
    fn a_client_gone_stops_output_without_a_cut() {
        let mut backend = Recording {
            gone_after: Some(2),
            ..Recording::default()
        };
        exchange(&mut backend, false, |py, ex| {
            ex.set_head(head(200, &[]), Some(10));
            ex.write(py, b"ab", false).unwrap();
            assert!(matches!(
                ex.write(py, b"cd", false),
                Err(OutputError::ClientGone(_))
            ));
            assert!(ex.client_gone());
            assert!(matches!(
                ex.write(py, b"ef", false),
                Err(OutputError::ClientGone(_))
            ));
            // Short, but nobody is left to tell.
            assert_eq!(ex.finish(), Ok(()));
            ex.cut();
        });
        assert_eq!(backend.sent, b"ab");
        assert!(!backend.cut);
    }

    #[test]
    fn a_file_body_gets_a_content_length_or_keeps_the_declared_one() {
        let mut backend = Recording::default();
        exchange(&mut backend, false, |py, ex| {
            ex.set_head(head(200, &[]), None);
            ex.send_file(py, 7, 100, 50).unwrap();
            assert_eq!(ex.finish(), Ok(()));
        });
        assert_eq!(backend.files, [(7, 100, 50)]);
        let sent_head = backend.head.unwrap();
        assert!(
            sent_head
                .headers
                .contains(&(b"Content-Length".to_vec(), b"50".to_vec()))
        );

        let mut backend = Recording::default();
        exchange(&mut backend, false, |py, ex| {
            ex.set_head(head(200, &[("Content-Length", "20")]), Some(20));
            ex.send_file(py, 7, 0, 50).unwrap();
            assert_eq!(ex.finish(), Ok(()));
        });
        assert_eq!(backend.files, [(7, 0, 20)]);
    }

    #[test]
    fn the_body_reads_as_pep_3333_says() {
        let mut backend = Recording {
            body: b"first line\nsecond\nthe rest".to_vec(),
            read_piece: 4,
            ..Recording::default()
        };
        exchange(&mut backend, false, |py, ex| {
            assert_eq!(ex.readline(py, None).unwrap(), b"first line\n");
            assert_eq!(ex.readline(py, Some(3)).unwrap(), b"sec");
            assert_eq!(ex.readline(py, None).unwrap(), b"ond\n");
            assert_eq!(ex.read(py, Some(4)).unwrap(), b"the ");
            assert_eq!(ex.read(py, None).unwrap(), b"rest");
            assert_eq!(ex.read(py, None).unwrap(), b"");
            assert_eq!(ex.readline(py, None).unwrap(), b"");
        });
    }

    #[test]
    fn read_into_fills_what_it_can_and_errors_stick() {
        let mut backend = Recording {
            body: b"0123456789".to_vec(),
            read_piece: 3,
            ..Recording::default()
        };
        exchange(&mut backend, false, |py, ex| {
            assert_eq!(ex.read(py, Some(2)).unwrap(), b"01");
            let mut room = vec![0u8; 6];
            let mut filling = Filling::over(&mut room);
            ex.read_into(py, &mut filling).unwrap();
            assert_eq!(filling.filled(), 6);
            assert_eq!(room, b"234567");
            let mut room = vec![0u8; 6];
            let mut filling = Filling::over(&mut room);
            ex.read_into(py, &mut filling).unwrap();
            assert_eq!(filling.filled(), 2, "short only at the end");
        });

        let mut backend = Recording {
            read_fails: true,
            ..Recording::default()
        };
        exchange(&mut backend, false, |py, ex| {
            assert_eq!(
                ex.read(py, Some(5)),
                Err(ReadError("client went away".into()))
            );
            let again = ex.read(py, Some(5)).unwrap_err();
            assert!(again.0.contains("already in error state"), "{again:?}");
        });
    }
}
