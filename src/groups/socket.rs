//! UNIX sockets between Apache children and daemon processes: the
//! listening socket the parent creates, connecting with retries, the peer's
//! credentials, and reading/writing protocol frames with timeouts.

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, connect, listen, socket,
};
use std::time::Duration;

use wsgi_core::protocol::{
    DecodeError, Decoder, FRAME_HEADER, Frame, RequestHead, encode, encode_chunk, encode_head,
};

/// Why a group's listening socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("socket path {0} is too long for a UNIX socket")]
    PathTooLong(PathBuf),
    #[error("{what} {}: {source}", path.display())]
    System {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Creates the listening socket of a process group: mode 0700, owned by
/// `owner` (Apache's user, whose children connect), so no other user can
/// connect at all.
pub fn create_listener(path: &Path, backlog: u32, owner: u32) -> Result<RawFd, ListenerError> {
    let address = UnixAddr::new(path).map_err(|_| ListenerError::PathTooLong(path.into()))?;
    let system = |what: &'static str| {
        move |source: io::Error| ListenerError::System {
            what,
            path: path.into(),
            source,
        }
    };
    // A stale socket of an earlier run.
    let _ = std::fs::remove_file(path);
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| system("cannot create socket")(e.into()))?;
    bind(fd.as_raw_fd(), &address).map_err(|e| system("cannot bind socket")(e.into()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(system("cannot set the mode of socket"))?;
    if let Err(e) = std::os::unix::fs::chown(path, Some(owner), None)
        && nix::unistd::geteuid().is_root()
    {
        return Err(system("cannot set the owner of socket")(e));
    }
    let backlog = Backlog::new(backlog.min(i32::MAX as u32) as i32).unwrap_or(Backlog::MAXCONN);
    listen(&fd, backlog).map_err(|e| system("cannot listen on socket")(e.into()))?;
    Ok(fd.into_raw_fd())
}

/// One attempt to connect to a daemon socket.
pub fn connect_once(path: &Path) -> io::Result<UnixStream> {
    let address = UnixAddr::new(path)?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    connect(fd.as_raw_fd(), &address)?;
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Whether a failed attempt is worth repeating: the socket does not exist
/// (yet: a restart is under way), nobody listens, or the backlog is full.
pub fn worth_retrying(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EAGAIN | libc::ECONNREFUSED | libc::ENOENT)
    )
}

/// The wait before the next attempt, `elapsed` after the first: 1/8 s for
/// the first 2 s, then 1 s (as mod_wsgi).
pub fn retry_pause(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_secs(2) {
        Duration::from_millis(125)
    } else {
        Duration::from_secs(1)
    }
}

/// Who is at the other end of a UNIX socket (as the kernel recorded it
/// when the connection was made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub pid: i32,
    pub uid: u32,
}

pub fn peer(stream: &UnixStream) -> Option<Peer> {
    let credentials =
        nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    Some(Peer {
        pid: credentials.pid(),
        uid: credentials.uid(),
    })
}

/// How reading a frame failed.
#[derive(Debug)]
pub enum StreamError {
    /// The other end closed the connection.
    Closed,
    /// The other end closed the connection without reading what was sent
    /// (or before it was sent): it never saw it.
    Reset,
    /// No data within the socket timeout.
    Timeout,
    Io(io::Error),
    Protocol(DecodeError),
    /// A valid frame where the protocol does not allow it.
    Unexpected(&'static str),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Closed => write!(f, "connection closed"),
            StreamError::Reset => write!(f, "connection reset"),
            StreamError::Timeout => write!(f, "timed out"),
            StreamError::Io(e) => write!(f, "{e}"),
            StreamError::Protocol(e) => write!(f, "protocol error: {e}"),
            StreamError::Unexpected(kind) => write!(f, "protocol error: unexpected {kind} frame"),
        }
    }
}

impl From<io::Error> for StreamError {
    fn from(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => StreamError::Timeout,
            io::ErrorKind::UnexpectedEof => StreamError::Closed,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => StreamError::Reset,
            _ => StreamError::Io(error),
        }
    }
}

/// How much a read asks for at least.
const GREEDY_READ: usize = 16 << 10;

/// A connection speaking the protocol.
pub struct FrameStream {
    stream: UnixStream,
    decoder: Decoder,
    write_buffer: Vec<u8>,
}

impl FrameStream {
    pub fn new(stream: UnixStream, timeout: Option<Duration>) -> io::Result<FrameStream> {
        stream.set_read_timeout(timeout)?;
        stream.set_write_timeout(timeout)?;
        Ok(FrameStream {
            stream,
            decoder: Decoder::new(),
            write_buffer: Vec::with_capacity(4096),
        })
    }

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Bytes received but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.decoder.pending()
    }

    /// Whether a whole frame is already received (reading it will not wait).
    pub fn frame_ready(&self) -> bool {
        self.decoder.has_frame()
    }

    /// Whether a whole frame is here, or arrives within `delay` (what
    /// arrives meanwhile is kept for the next read). A closed or failing
    /// socket counts as ready: reading the frame reports it.
    pub fn frame_within(&mut self, delay: std::time::Duration) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use nix::sys::socket::{MsgFlags, recv};
        use std::os::fd::{AsFd, AsRawFd};
        let until = std::time::Instant::now() + delay;
        loop {
            if self.frame_ready() {
                return true;
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            let timeout = PollTimeout::try_from(left.max(std::time::Duration::from_millis(1)))
                .unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.stream.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return true,
            }
            let offered = self.decoder.wanted().max(GREEDY_READ);
            let space = self.decoder.space(offered);
            match recv(self.stream.as_raw_fd(), space, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {
                    self.decoder.filled(offered, 0);
                    return true;
                }
                Ok(n) => self.decoder.filled(offered, n),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {
                    self.decoder.filled(offered, 0)
                }
                Err(_) => {
                    self.decoder.filled(offered, 0);
                    return true;
                }
            }
        }
    }

    /// Reads the next frame, waiting up to the socket timeout for bytes.
    /// Reads take whatever is there (at least 16 KiB), so frames sent
    /// together arrive with one system call; a peer never sends ahead of
    /// what the protocol asks for, so nothing of a later exchange is read.
    pub fn read_frame(&mut self) -> Result<Frame, StreamError> {
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(StreamError::Protocol)? {
                return Ok(frame);
            }
            // The rest of the frame being received, or a little more so
            // that small frames sent together come in one read.
            let offered = self.decoder.wanted().max(GREEDY_READ);
            let space = self.decoder.space(offered);
            let result = self.stream.read(space);
            let used = *result.as_ref().unwrap_or(&0);
            self.decoder.filled(offered, used);
            match result {
                Ok(0) => return Err(StreamError::Closed),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads the next frame without taking any byte beyond it from the
    /// socket, so what the peer sent after it stays queued there (see
    /// [`Frame::Go`]). Waits up to the socket timeout.
    pub fn read_frame_exact(&mut self) -> Result<Frame, StreamError> {
        loop {
            if let Some(frame) = self.try_read_frame_exact()? {
                return Ok(frame);
            }
            self.wait_readable()?;
        }
    }

    /// [`FrameStream::read_frame_exact`] without waiting: `None` when the
    /// frame has not fully arrived (what did arrive is kept).
    pub fn try_read_frame_exact(&mut self) -> Result<Option<Frame>, StreamError> {
        use nix::sys::socket::{MsgFlags, recv};
        use std::os::fd::AsRawFd;
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(StreamError::Protocol)? {
                return Ok(Some(frame));
            }
            let wanted = self.decoder.wanted();
            let space = self.decoder.space(wanted);
            match recv(self.stream.as_raw_fd(), space, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {
                    self.decoder.filled(wanted, 0);
                    return Err(StreamError::Closed);
                }
                Ok(n) => self.decoder.filled(wanted, n),
                Err(nix::errno::Errno::EINTR) => self.decoder.filled(wanted, 0),
                Err(nix::errno::Errno::EAGAIN) => {
                    self.decoder.filled(wanted, 0);
                    return Ok(None);
                }
                Err(e) => {
                    self.decoder.filled(wanted, 0);
                    return Err(io::Error::from(e).into());
                }
            }
        }
    }

    /// Waits until the socket has bytes to read (or is closed), up to its
    /// read timeout.
    fn wait_readable(&self) -> Result<(), StreamError> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let timeout = match self.stream.read_timeout()? {
            Some(timeout) => PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        let mut fds = [PollFd::new(self.stream.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, timeout) {
                Ok(0) => return Err(StreamError::Timeout),
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from(e).into()),
            }
        }
    }

    /// Sends a `Head` frame (and anything queued).
    pub fn write_head(&mut self, head: &RequestHead) -> Result<(), StreamError> {
        encode_head(head, &mut self.write_buffer);
        self.flush()
    }

    /// Sends a new connection's `Hello`, a request's `Head` and its `Go`
    /// in one write.
    pub fn write_opening(
        &mut self,
        hello: Option<&[u8]>,
        head: &RequestHead,
    ) -> Result<(), StreamError> {
        if let Some(secret) = hello {
            encode(&Frame::Hello(secret.to_vec()), &mut self.write_buffer);
        }
        encode_head(head, &mut self.write_buffer);
        encode(&Frame::Go, &mut self.write_buffer);
        self.flush()
    }

    /// Frees buffers a connection grew for large frames, while it waits
    /// for its next request.
    pub fn release_buffers(&mut self) {
        self.decoder.release_if_idle();
        if self.write_buffer.capacity() > 16 << 10 {
            self.write_buffer = Vec::new();
        }
    }

    /// Adds a frame to what the next write sends.
    pub fn queue_frame(&mut self, frame: &Frame) {
        encode(frame, &mut self.write_buffer);
    }

    /// Adds a `Data` frame holding a copy of `chunk` to what the next write
    /// sends.
    pub fn queue_chunk(&mut self, chunk: &[u8]) {
        encode_chunk(&mut self.write_buffer, chunk, false);
    }

    /// Sends the queued frames.
    pub fn flush(&mut self) -> Result<(), StreamError> {
        self.write_chunk_after_queue(None)
    }

    pub fn write_frame(&mut self, frame: &Frame) -> Result<(), StreamError> {
        self.queue_frame(frame);
        self.flush()
    }

    /// Writes the queued frames and a `Data` (or `Body`) frame, without
    /// copying `chunk`.
    pub fn write_chunk(&mut self, chunk: &[u8], request_body: bool) -> Result<(), StreamError> {
        self.write_chunk_after_queue(Some((chunk, request_body)))
    }

    fn write_chunk_after_queue(&mut self, chunk: Option<(&[u8], bool)>) -> Result<(), StreamError> {
        let mut header = [0u8; FRAME_HEADER];
        let mut parts = [
            IoSlice::new(&self.write_buffer),
            IoSlice::new(&[]),
            IoSlice::new(&[]),
        ];
        if let Some((chunk, request_body)) = chunk {
            header[0] = if request_body { 3 } else { 6 };
            header[1..].copy_from_slice(&(chunk.len() as u32).to_be_bytes());
            parts[1] = IoSlice::new(&header);
            parts[2] = IoSlice::new(chunk);
        }
        let mut slices: &mut [IoSlice<'_>] = &mut parts;
        IoSlice::advance_slices(&mut slices, 0);
        let result = loop {
            if slices.iter().all(|s| s.is_empty()) {
                break Ok(());
            }
            match self.stream.write_vectored(slices) {
                Ok(0) => break Err(StreamError::Closed),
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e.into()),
            }
        };
        self.write_buffer.clear();
        result
    }

    /// Shuts the connection down in both directions (the peer sees EOF).
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;

    #[test]
    fn frames_cross_a_socket_pair() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut a = FrameStream::new(a, Some(Duration::from_secs(5))).unwrap();
        let mut b = FrameStream::new(b, Some(Duration::from_secs(5))).unwrap();
        a.write_frame(&Frame::Read(10)).unwrap();
        a.write_chunk(b"hello", false).unwrap();
        a.write_chunk(b"body", true).unwrap();
        assert_eq!(b.read_frame().unwrap(), Frame::Read(10));
        assert_eq!(b.read_frame().unwrap(), Frame::Data(b"hello".to_vec()));
        assert_eq!(b.read_frame().unwrap(), Frame::Body(b"body".to_vec()));
        drop(a);
        assert!(matches!(b.read_frame(), Err(StreamError::Closed)));
    }

    /// The fact the daemon relies on to leave a request it has not started
    /// for another process: reading a frame exactly leaves what follows in
    /// the socket, and a socket closed with bytes unread resets its peer,
    /// while one closed with nothing unread ends it.
    #[test]
    fn exact_reads_leave_the_go_and_unread_bytes_reset_the_peer() {
        let head = RequestHead {
            head_request: false,
            script_mtime: None,
            vars: wsgi_core::environ::CgiEnviron::from_pairs([("REQUEST_METHOD", &b"GET"[..])]),
        };
        for read_go in [false, true] {
            let (a, b) = UnixStream::pair().unwrap();
            let mut a = FrameStream::new(a, Some(Duration::from_secs(5))).unwrap();
            let mut b = FrameStream::new(b, Some(Duration::from_secs(5))).unwrap();
            a.write_opening(Some(&[7; 32]), &head).unwrap();
            assert_eq!(b.read_frame_exact().unwrap(), Frame::Hello(vec![7; 32]));
            assert!(matches!(b.read_frame_exact().unwrap(), Frame::Head(_)));
            assert_eq!(b.pending(), 0, "nothing beyond the head was read");
            if read_go {
                assert_eq!(b.try_read_frame_exact().unwrap(), Some(Frame::Go));
            }
            drop(b);
            match a.read_frame() {
                Err(StreamError::Reset) => assert!(!read_go, "reset after Go was read"),
                Err(StreamError::Closed) => assert!(read_go, "closed with Go unread"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn incomplete_frames_wait_without_blocking() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut b = FrameStream::new(b, Some(Duration::from_secs(5))).unwrap();
        let mut bytes = Vec::new();
        wsgi_core::protocol::encode(&Frame::Hello(vec![1; 32]), &mut bytes);
        (&a).write_all(&bytes[..10]).unwrap();
        assert_eq!(b.try_read_frame_exact().unwrap(), None);
        (&a).write_all(&bytes[10..]).unwrap();
        assert_eq!(
            b.try_read_frame_exact().unwrap(),
            Some(Frame::Hello(vec![1; 32]))
        );
    }

    #[test]
    fn reads_time_out() {
        let (_a, b) = UnixStream::pair().unwrap();
        let mut b = FrameStream::new(b, Some(Duration::from_millis(50))).unwrap();
        assert!(matches!(b.read_frame(), Err(StreamError::Timeout)));
    }

    #[test]
    fn listener_is_private_and_connectable() {
        let dir = std::env::temp_dir().join(format!("mw-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.sock");
        let me = nix::unistd::geteuid().as_raw();
        let fd = create_listener(&path, 5, me).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let client = connect_once(&path).unwrap();
        // SAFETY: fd is the listener made above, owned by the test from here.
        let listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
        let (server, _) = listener.accept().unwrap();
        let other_end = peer(&server).unwrap();
        assert_eq!(other_end.uid, me);
        assert_eq!(other_end.pid, std::process::id() as i32);
        drop(client);
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_sockets_are_worth_retrying_and_pauses_grow() {
        let error = connect_once(Path::new("/nonexistent/mw.sock")).unwrap_err();
        assert!(worth_retrying(&error), "{error}");
        let denied = io::Error::from_raw_os_error(libc::EACCES);
        assert!(!worth_retrying(&denied));
        assert_eq!(retry_pause(Duration::ZERO), Duration::from_millis(125));
        assert_eq!(retry_pause(Duration::from_secs(3)), Duration::from_secs(1));
    }
}
