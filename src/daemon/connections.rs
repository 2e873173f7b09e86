//! The connections of a daemon process. Apache children keep their
//! connection open between requests; while it waits for the next one it is
//! parked here. The process's idle request threads all wait on one epoll
//! set holding the group's listener and every parked connection. Each
//! registration is one-shot, so a ready descriptor wakes exactly one
//! thread, which accepts or takes the connection, serves one request on it
//! and parks it again. Only idle threads wait, so a process whose threads
//! are all busy takes nothing new: fresh connections stay in the listener's
//! queue for the group's other processes.
//!
//! A new connection is parked too until it has proven the group's secret
//! (see `secret.rs`); it never holds a thread while it has not, and one
//! that has not within [`PROVING_TIME`] is closed, as are the oldest ones
//! beyond [`MAX_PROVING`].

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::resource::{Resource, getrlimit};
use nix::sys::socket::{SockFlag, accept4};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::groups::socket::{FrameStream, Peer};

/// The epoll token of the listener; connections use their descriptor and
/// a serial number (a descriptor number is reused once closed).
const LISTENER: u64 = u64::MAX;

/// How long a new connection has to prove the secret. Apache's children
/// send it in the same write as their first request, right after
/// connecting.
pub const PROVING_TIME: Duration = Duration::from_secs(2);
/// Most connections waiting to prove the secret at once.
pub const MAX_PROVING: usize = 256;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It proved the secret: an Apache child.
    Trusted,
    /// New, and has not proven the secret yet.
    Proving { since: Instant, peer: Peer },
}

/// What a waiting thread got.
pub enum Ready {
    /// The listener is readable: call [`Connections::accept`].
    Listener,
    /// A parked connection has bytes (its next request, more of its
    /// opening) or was closed.
    Connection(FrameStream, Standing),
    /// Nothing within the timeout (or another thread got there first).
    Nothing,
}

struct Parked {
    stream: FrameStream,
    serial: u32,
    standing: Standing,
    /// The last sweep of a fully busy process found bytes waiting on it.
    waiting_at_sweep: bool,
}

pub struct Connections {
    epoll: Epoll,
    listener: RawFd,
    parked: Mutex<HashMap<RawFd, Parked>>,
    next_serial: std::sync::atomic::AtomicU32,
    /// Parked connections beyond this are closed instead (descriptors).
    limit: usize,
}

impl Connections {
    pub fn new(listener: RawFd) -> io::Result<Connections> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let connections = Connections {
            epoll,
            listener,
            parked: Mutex::new(HashMap::new()),
            next_serial: std::sync::atomic::AtomicU32::new(0),
            limit: descriptor_limit().saturating_sub(64).clamp(16, 10_000),
        };
        connections.watch(true, listener, LISTENER)?;
        Ok(connections)
    }

    /// Registers `fd` (`add`) or re-arms it, one-shot, for reading.
    fn watch(&self, add: bool, fd: RawFd, token: u64) -> io::Result<()> {
        // SAFETY: the listener is open for the process's life; a parked
        // connection is open while its entry is in `parked` (see park).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let mut event = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLONESHOT, token);
        if add {
            self.epoll.add(fd, event)?;
        } else {
            self.epoll.modify(fd, &mut event)?;
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` for one ready descriptor.
    pub fn wait(&self, timeout_ms: u16) -> Ready {
        let mut events = [EpollEvent::empty()];
        match self.epoll.wait(&mut events, timeout_ms) {
            Ok(1) => {}
            _ => return Ready::Nothing,
        }
        let token = events[0].data();
        if token == LISTENER {
            return Ready::Listener;
        }
        let fd = (token & u64::from(u32::MAX)) as RawFd;
        let serial = (token >> 32) as u32;
        let mut parked = self.parked.lock();
        // An event for a descriptor closed (and perhaps reused) since.
        if parked.get(&fd).is_none_or(|p| p.serial != serial) {
            return Ready::Nothing;
        }
        match parked.remove(&fd) {
            Some(p) => Ready::Connection(p.stream, p.standing),
            None => Ready::Nothing,
        }
    }

    /// Accepts one connection (another process may have taken it) and
    /// watches the listener again.
    pub fn accept(&self) -> Option<UnixStream> {
        let accepted = accept4(self.listener, SockFlag::SOCK_CLOEXEC);
        let _ = self.watch(false, self.listener, LISTENER);
        match accepted {
            // SAFETY: fd is a new connected socket owned from here on.
            Ok(fd) => Some(unsafe { UnixStream::from_raw_fd(fd) }),
            Err(Errno::EMFILE | Errno::ENFILE) => {
                // Out of descriptors: let running requests finish some.
                std::thread::sleep(std::time::Duration::from_millis(50));
                None
            }
            Err(_) => None,
        }
    }

    /// Leaves a waiting connection on the listener to the group's other
    /// processes: watches the listener again after a moment.
    pub fn decline(&self) {
        std::thread::sleep(std::time::Duration::from_millis(1));
        let _ = self.watch(false, self.listener, LISTENER);
    }

    /// Parks a connection until it has bytes to read; `first` is whether it
    /// was never parked before. When too many are parked (or it cannot be
    /// watched) it is closed instead. Returns the peers of connections
    /// closed because too many were proving (for the log).
    pub fn park(&self, mut stream: FrameStream, standing: Standing, first: bool) -> Vec<Peer> {
        stream.release_buffers();
        let fd = stream.stream().as_raw_fd();
        let serial = self
            .next_serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut evicted = Vec::new();
        {
            let mut parked = self.parked.lock();
            if parked.len() >= self.limit {
                return evicted;
            }
            if matches!(standing, Standing::Proving { .. }) {
                evicted = evict_oldest_proving(&mut parked, MAX_PROVING - 1);
            }
            parked.insert(
                fd,
                Parked {
                    stream,
                    serial,
                    standing,
                    waiting_at_sweep: false,
                },
            );
        }
        let token = (u64::from(serial) << 32) | u64::from(fd as u32);
        if self.watch(first, fd, token).is_err() {
            // Closing it is all that is left; the child connects again.
            self.parked.lock().remove(&fd);
        }
        evicted
    }

    /// Closes the connections that have been proving the secret since
    /// before `cutoff`; returns their peers.
    pub fn expire_proving(&self, cutoff: Instant) -> Vec<Peer> {
        let mut parked = self.parked.lock();
        let late: Vec<RawFd> = parked
            .iter()
            .filter(
                |(_, p)| matches!(p.standing, Standing::Proving { since, .. } if since < cutoff),
            )
            .map(|(fd, _)| *fd)
            .collect();
        late.iter()
            .filter_map(|fd| match parked.remove(fd)?.standing {
                Standing::Proving { peer, .. } => Some(peer),
                Standing::Trusted => None,
            })
            .collect()
    }

    /// For a process whose threads are all busy: closes, unread, the
    /// trusted connections on which a request has been waiting since the
    /// previous sweep. No thread here will take it soon, and the Apache
    /// child, seeing its request unread, sends it again on a fresh
    /// connection, which only a process with a free thread accepts.
    /// Returns how many were handed back.
    pub fn hand_back_waiting(&self) -> usize {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut parked = self.parked.lock();
        let trusted: Vec<RawFd> = parked
            .iter()
            .filter(|(_, p)| p.standing == Standing::Trusted)
            .map(|(fd, _)| *fd)
            .collect();
        if trusted.is_empty() {
            return 0;
        }
        let mut fds: Vec<PollFd<'_>> = trusted
            .iter()
            // SAFETY: each is the descriptor of a parked stream, open while
            // it is in `parked`, whose lock is held until the end.
            .map(|&fd| PollFd::new(unsafe { BorrowedFd::borrow_raw(fd) }, PollFlags::POLLIN))
            .collect();
        if poll(&mut fds, PollTimeout::ZERO).is_err() {
            return 0;
        }
        let waiting: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut handed_back = 0;
        for (fd, waiting) in trusted.into_iter().zip(waiting) {
            let Some(entry) = parked.get_mut(&fd) else {
                continue;
            };
            if waiting && entry.waiting_at_sweep {
                parked.remove(&fd);
                handed_back += 1;
            } else {
                entry.waiting_at_sweep = waiting;
            }
        }
        handed_back
    }

    /// Closes every parked connection (the process is stopping): the
    /// Apache children notice at once and connect to another process.
    pub fn close_parked(&self) {
        let parked: Vec<Parked> = self.parked.lock().drain().map(|(_, p)| p).collect();
        drop(parked);
    }
}

/// Closes the oldest proving connections until at most `keep` remain;
/// returns their peers.
fn evict_oldest_proving(parked: &mut HashMap<RawFd, Parked>, keep: usize) -> Vec<Peer> {
    let mut proving: Vec<(Instant, RawFd)> = parked
        .iter()
        .filter_map(|(fd, p)| match p.standing {
            Standing::Proving { since, .. } => Some((since, *fd)),
            Standing::Trusted => None,
        })
        .collect();
    if proving.len() <= keep {
        return Vec::new();
    }
    proving.sort_unstable();
    let excess = proving.len() - keep;
    proving[..excess]
        .iter()
        .filter_map(|(_, fd)| match parked.remove(fd)?.standing {
            Standing::Proving { peer, .. } => Some(peer),
            Standing::Trusted => None,
        })
        .collect()
}

/// The soft limit on open descriptors.
fn descriptor_limit() -> usize {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) => usize::try_from(soft).unwrap_or(usize::MAX),
        Err(_) => 1024,
    }
}
