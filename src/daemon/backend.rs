//! The daemon process's side of a request: the adapter's backend on the
//! socket from the Apache child.

use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::apache::log;
use crate::groups::socket::{FrameStream, StreamError};
use crate::wsgi::backend::{Backend, ClientGone, Filling, ReadError, RequestLog};
use wsgi_core::level::Level;
use wsgi_core::protocol::ResponseHead;
use wsgi_core::protocol::{Frame, TRANSFER_CHUNK};

/// When the process last did any request I/O (for inactivity-timeout),
/// in milliseconds since it started.
pub struct Activity {
    since: Instant,
    last_ms: AtomicU64,
    /// Whether anything counted yet: until then no idle countdown runs,
    /// as in mod_wsgi.
    touched: std::sync::atomic::AtomicBool,
}

impl Activity {
    pub fn new() -> Activity {
        Activity {
            since: Instant::now(),
            last_ms: AtomicU64::new(0),
            touched: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn touch(&self) {
        self.last_ms
            .store(self.since.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.touched.store(true, Ordering::Relaxed);
    }

    /// Whether any request activity has been counted.
    pub fn ever_touched(&self) -> bool {
        self.touched.load(Ordering::Relaxed)
    }

    pub fn idle_for(&self) -> std::time::Duration {
        let now = self.since.elapsed().as_millis() as u64;
        std::time::Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

impl Default for Activity {
    fn default() -> Self {
        Activity::new()
    }
}

pub struct SocketBackend<'a> {
    stream: &'a mut FrameStream,
    /// None for a request under WSGIIgnoreActivity On.
    activity: Option<&'a Activity>,
    /// A `Cut` was sent or the connection failed: nothing more may follow.
    pub broken: bool,
    /// The request's `Go` was read: it started here.
    pub committed: bool,
}

/// Reads a request's `Go` (see [`Frame::Go`]); `Ok(false)` if it has not
/// fully arrived and `wait` is false.
pub fn read_go(stream: &mut FrameStream, wait: bool) -> Result<bool, StreamError> {
    let frame = if wait {
        Some(stream.read_frame_exact()?)
    } else {
        stream.try_read_frame_exact()?
    };
    match frame {
        None => Ok(false),
        Some(Frame::Go) => Ok(true),
        Some(other) => Err(StreamError::Unexpected(kind(&other))),
    }
}

impl<'a> SocketBackend<'a> {
    pub fn new(stream: &'a mut FrameStream, activity: Option<&'a Activity>) -> SocketBackend<'a> {
        SocketBackend {
            stream,
            activity,
            broken: false,
            committed: false,
        }
    }

    /// Reads the request's `Go` if the application never started (so the
    /// connection stays in step); false if the connection is unusable.
    pub fn finish_opening(&mut self) -> bool {
        if !self.committed && !self.broken {
            match read_go(self.stream, true) {
                Ok(_) => self.committed = true,
                Err(_) => self.broken = true,
            }
        }
        !self.broken
    }

    fn touch(&self) {
        if let Some(activity) = self.activity {
            activity.touch();
        }
    }

    fn send_chunks(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        for chunk in data.chunks(TRANSFER_CHUNK) {
            if let Err(e) = self.stream.write_chunk(chunk, false) {
                self.broken = true;
                return Err(ClientGone(format!("connection to the Apache child: {e}")));
            }
            self.touch();
        }
        Ok(())
    }
}

impl Backend for SocketBackend<'_> {
    fn commit(&mut self, wait: bool) -> Result<bool, ClientGone> {
        match read_go(self.stream, wait) {
            Ok(done) => {
                self.committed = done;
                Ok(done)
            }
            Err(e) => {
                self.broken = true;
                Err(ClientGone(format!("connection to the Apache child: {e}")))
            }
        }
    }

    fn read_body(&mut self, buf: &mut Filling<'_>) -> Result<usize, ReadError> {
        let wanted = buf.remaining().min(TRANSFER_CHUNK);
        if wanted == 0 {
            return Ok(0);
        }
        self.stream
            .write_frame(&Frame::Read(wanted as u32))
            .map_err(|e| ReadError(format!("connection to the Apache child: {e}")))?;
        let frame = self
            .stream
            .read_frame()
            .map_err(|e| ReadError(format!("connection to the Apache child: {e}")))?;
        self.touch();
        match frame {
            Frame::Body(data) if data.len() <= wanted => Ok(buf.push(&data)),
            Frame::BodyError(message) => Err(ReadError(message)),
            other => {
                self.broken = true;
                Err(ReadError(format!(
                    "unexpected message from the Apache child: {}",
                    kind(&other)
                )))
            }
        }
    }

    fn set_head(&mut self, head: &ResponseHead) {
        // Goes out with the first body bytes or the end of the response.
        self.stream.queue_frame(&Frame::ResponseHead(head.clone()));
    }

    fn send_body(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        if self.broken {
            return Err(ClientGone(
                "connection to the Apache child is closed".into(),
            ));
        }
        self.send_chunks(data)
    }

    fn can_hold_last_body(&self, len: usize) -> bool {
        !self.broken && len <= TRANSFER_CHUNK
    }

    fn hold_last_body(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        // Sent with the `End` that follows, in one write.
        self.stream.queue_chunk(data);
        self.touch();
        Ok(())
    }

    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), ClientGone> {
        let mut buffer = vec![0u8; 256 << 10];
        let mut done = 0u64;
        while done < len {
            let want = ((len - done) as usize).min(buffer.len());
            // SAFETY: the adapter holds the application's file object, and so
            // its descriptor, open for the whole call.
            let file = unsafe { BorrowedFd::borrow_raw(fd) };
            let n = match nix::sys::uio::pread(file, &mut buffer[..want], (offset + done) as i64) {
                Ok(n) if n > 0 => n,
                // The file shrank or failed: the response stays short, which
                // the adapter reports and cuts.
                _ => break,
            };
            self.send_chunks(&buffer[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    fn cut_response(&mut self) {
        if !self.broken {
            let _ = self.stream.write_frame(&Frame::Cut);
        }
        self.broken = true;
    }
}

fn kind(frame: &Frame) -> &'static str {
    match frame {
        Frame::Head(_) => "Head",
        Frame::Read(_) => "Read",
        Frame::Body(_) => "Body",
        Frame::BodyError(_) => "BodyError",
        Frame::ResponseHead(_) => "ResponseHead",
        Frame::Data(_) => "Data",
        Frame::End => "End",
        Frame::Cut => "Cut",
        Frame::Fail { .. } => "Fail",
        Frame::Reject => "Reject",
        Frame::Hello(_) => "Hello",
        Frame::Go => "Go",
        Frame::Welcome(_) => "Welcome",
    }
}

/// Log lines of a request in a daemon process, tagged with the client's
/// address as mod_wsgi does.
pub struct DaemonLog {
    pub server: *mut apache_sys::server_rec,
    pub remote: String,
}

impl RequestLog for DaemonLog {
    fn log(&self, level: Level, message: &str) {
        log::server(
            self.server,
            level,
            &format!("[remote {}] {message}", self.remote),
        );
    }
}
