//! The connections of a daemon process. Apache children keep their
//! connection open between requests; while it waits for the next one it is
//! parked here. The process's idle request threads all wait on one epoll
//! set holding the group's listener and every parked connection. Each
//! registration is one-shot, so a ready descriptor wakes exactly one
//! thread, which accepts or takes the connection, serves one request on it
//! and parks it again. Only idle threads wait, so a process whose threads
//! are all busy takes nothing new: fresh connections stay in the listener's
//! queue for the group's other processes.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use super::socket::FrameStream;

/// The epoll token of the listener; connections use their descriptor.
const LISTENER: u64 = u64::MAX;

/// What a waiting thread got.
pub enum Ready {
    /// The listener is readable: call [`Connections::accept`].
    Listener,
    /// A parked connection has its next request (or was closed).
    Connection(FrameStream),
    /// Nothing within the timeout (or another thread got there first).
    Nothing,
}

pub struct Connections {
    epoll: OwnedFd,
    listener: RawFd,
    parked: Mutex<HashMap<RawFd, FrameStream>>,
    /// Parked connections beyond this are closed instead (descriptors).
    limit: usize,
}

impl Connections {
    pub fn new(listener: RawFd) -> io::Result<Connections> {
        // SAFETY: creating a new epoll instance.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new descriptor owned from here on.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let connections = Connections {
            epoll,
            listener,
            parked: Mutex::new(HashMap::new()),
            limit: descriptor_limit().saturating_sub(64).clamp(16, 10_000),
        };
        connections.control(libc::EPOLL_CTL_ADD, listener, LISTENER)?;
        Ok(connections)
    }

    fn control(&self, operation: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
            u64: token,
        };
        // SAFETY: registering a descriptor we own with our epoll instance.
        let rv = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), operation, fd, &mut event) };
        if rv < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` for one ready descriptor.
    pub fn wait(&self, timeout_ms: i32) -> Ready {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: waiting for at most one event into `event`.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut event, 1, timeout_ms) };
        if n <= 0 {
            return Ready::Nothing;
        }
        let token = event.u64;
        if token == LISTENER {
            return Ready::Listener;
        }
        let taken = self
            .parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(token as RawFd));
        taken.map_or(Ready::Nothing, Ready::Connection)
    }

    /// Accepts one connection (another process may have taken it) and
    /// watches the listener again.
    pub fn accept(&self) -> Option<UnixStream> {
        // SAFETY: accept on the group's non-blocking listener.
        let fd = unsafe {
            libc::accept4(
                self.listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        let error = (fd < 0).then(io::Error::last_os_error);
        let _ = self.control(libc::EPOLL_CTL_MOD, self.listener, LISTENER);
        if let Some(error) = error {
            if matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                // Out of descriptors: let running requests finish some.
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            return None;
        }
        // SAFETY: fd is a new connected socket owned from here on.
        Some(unsafe { UnixStream::from_raw_fd(fd) })
    }

    /// Leaves a waiting connection on the listener to the group's other
    /// processes: watches the listener again after a moment.
    pub fn decline(&self) {
        std::thread::sleep(std::time::Duration::from_millis(1));
        let _ = self.control(libc::EPOLL_CTL_MOD, self.listener, LISTENER);
    }

    /// Parks a connection until its next request; `first` is whether it was
    /// never parked before. When too many are parked (or it cannot be
    /// watched) it is closed instead.
    pub fn park(&self, mut stream: FrameStream, first: bool) {
        stream.release_buffers();
        let fd = stream.stream().as_raw_fd();
        {
            let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            if parked.len() >= self.limit {
                return;
            }
            parked.insert(fd, stream);
        }
        let operation = if first {
            libc::EPOLL_CTL_ADD
        } else {
            libc::EPOLL_CTL_MOD
        };
        if self.control(operation, fd, fd as u64).is_err() {
            // Closing it is all that is left; the child connects again.
            self.parked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&fd);
        }
    }

    /// Closes every parked connection (the process is stopping): the
    /// Apache children notice at once and connect to another process.
    pub fn close_parked(&self) {
        let parked: Vec<FrameStream> = self
            .parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, stream)| stream)
            .collect();
        drop(parked);
    }
}

/// The soft limit on open descriptors.
fn descriptor_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
}
