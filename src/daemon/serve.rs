//! A daemon process at work: a pool of request threads serving the
//! group's connections (see `connections.rs`), the control loop reacting to
//! signals, and the monitor that applies the group's limits
//! (maximum-requests, restart-interval, inactivity-, request-, deadlock-,
//! startup-timeout, cpu-time-limit) and the shutdown sequence.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::apache::log;
use crate::daemon::backend::{Activity, DaemonLog, SocketBackend};
use crate::daemon::connections::{Connections, PROVING_TIME, Ready, Standing};
use crate::daemon::timeouts::{interrupt, log_stacks_before_stop};
use crate::groups::DaemonGroup;
use crate::groups::board::StopReason;
use crate::groups::secret::Secret;
use crate::groups::socket::{FrameStream, Peer, StreamError, peer};
use crate::wsgi::dispatch::{Target, dispatch};
use crate::wsgi::request_stacks::{RunningRequest, log_request_stacks};
use crate::wsgi::run::{Completion, RunRequest};
use crate::wsgi::script::OnChange;
use wsgi_core::environ::CgiEnviron;
use wsgi_core::level::Level;
use wsgi_core::protocol::{Frame, RequestHead};

/// Requests to raise `mod_wsgi.RequestTimeout` in.
struct Interruption {
    limit: Duration,
    grace: Duration,
    targets: Vec<RunningRequest>,
}

/// What a new connection's first bytes showed.
enum Proof {
    /// It proved the group's secret: serve it.
    Proven(FrameStream),
    /// Not all of its `Hello` is there yet: park it.
    NotYet(FrameStream),
    /// It failed (logged); it is closed.
    Refused,
}

/// Why the process is going away (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Finishing: keeps accepting until `until` (graceful-timeout) or idle.
    Graceful {
        until: Option<Instant>,
    },
    /// No new requests; in-flight ones get until `deadline`.
    Stopping {
        deadline: Instant,
    },
}

struct Active {
    started: Instant,
    /// The request's connection; valid while the entry exists (the serving
    /// thread removes it before closing or parking the connection).
    connection: RawFd,
    /// The thread serving it (`threading.get_ident()`).
    thread: u64,
    /// E.g. "GET /x?y", for the log.
    what: String,
    application_group: String,
    /// When `mod_wsgi.RequestTimeout` was raised in it (interrupt-timeout).
    interrupted: Option<Instant>,
}

impl Active {
    fn long_request(&self, now: Instant) -> RunningRequest {
        RunningRequest {
            thread: self.thread,
            what: self.what.clone(),
            application_group: self.application_group.clone(),
            running_for: now - self.started,
        }
    }
}

/// A request a thread served.
/// WSGIIgnoreActivity On for the request.
fn ignores_activity(vars: &wsgi_core::environ::CgiEnviron) -> bool {
    vars.get("mod_wsgi.ignore_activity") == Some(b"1")
}

struct Served {
    /// Its entry in `State::active`.
    id: u64,
    /// The connection is still in step and can take another request.
    usable: bool,
    /// The request counts as activity (not under WSGIIgnoreActivity On).
    counts_as_activity: bool,
}

struct State {
    phase: Phase,
    active: HashMap<u64, Active>,
    next_id: u64,
    accepted: u64,
    /// Connections taken by a request thread and not yet finished (their
    /// request may not have been read yet): the process may not exit under
    /// them.
    in_flight: usize,
}

/// Signals to the accept loop, set from signal handlers.
static SIGNALLED: AtomicU8 = AtomicU8::new(0);
const SIGNAL_STOP: u8 = 1;
const SIGNAL_GRACEFUL: u8 = 2;
/// Write end of the self-pipe that wakes the accept loop.
static WAKE_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_stop_signal(_: libc::c_int) {
    SIGNALLED.fetch_or(SIGNAL_STOP, Ordering::SeqCst);
    wake();
}

/// SIGUSR2 asks for the stacks of the requests in flight (the monitor
/// logs them).
static STACKS_SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stacks_signal(_: libc::c_int) {
    STACKS_SIGNALLED.store(true, Ordering::SeqCst);
}

extern "C" fn on_graceful_signal(_: libc::c_int) {
    SIGNALLED.fetch_or(SIGNAL_GRACEFUL, Ordering::SeqCst);
    wake();
}

fn wake() {
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops it.
        unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    }
}

/// Waits up to 100 ms for a signal handler's byte on the wake pipe.
fn wait_for_wake(wake_read: RawFd) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    if wake_read < 0 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        return;
    }
    // SAFETY: the read end is open for the life of the process (never closed).
    let pipe = unsafe { BorrowedFd::borrow_raw(wake_read) };
    let mut fds = [PollFd::new(pipe, PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::from(100u8)).unwrap_or(0) > 0 {
        let mut drain = [0u8; 64];
        let _ = nix::unistd::read(pipe, &mut drain);
    }
}

/// Installs the daemon's signal handling: SIGTERM, SIGINT and SIGHUP stop
/// it, SIGUSR1 restarts it gracefully, SIGUSR2 logs the stacks of the
/// requests in flight, SIGPIPE is ignored.
pub fn install_signal_handlers() {
    use nix::fcntl::OFlag;
    use nix::sys::signal::{
        SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, sigaction,
    };
    use std::os::fd::IntoRawFd;
    if let Ok((read, write)) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK) {
        // Both ends live as long as the process.
        WAKE_FD.store(write.into_raw_fd(), Ordering::SeqCst);
        WAKE_READ.store(read.into_raw_fd(), Ordering::SeqCst);
    }
    let stop = SigHandler::Handler(on_stop_signal);
    let graceful = SigHandler::Handler(on_graceful_signal);
    for (signal, handler) in [
        (Signal::SIGTERM, stop),
        (Signal::SIGINT, stop),
        (Signal::SIGHUP, stop),
        (Signal::SIGUSR1, graceful),
        (Signal::SIGUSR2, SigHandler::Handler(on_stacks_signal)),
        (Signal::SIGPIPE, SigHandler::SigIgn),
        (Signal::SIGCHLD, SigHandler::SigDfl),
        (Signal::SIGALRM, SigHandler::SigDfl),
    ] {
        let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
        // SAFETY: the handlers only touch atomics and write(2).
        let _ = unsafe { sigaction(signal, &action) };
    }
    // Unblocks what the Apache parent had blocked.
    let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&SigSet::all()), None);
}

static WAKE_READ: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

pub struct Server {
    group: Arc<DaemonGroup>,
    /// This process's place in the group (its slot in the shared load).
    number: usize,
    /// Apache's user: the only non-root peer allowed to connect.
    apache_uid: u32,
    /// What every connection must prove first.
    secret: Secret,
    started: Instant,
    state: Mutex<State>,
    /// `state.phase` is Stopping: read by every request thread on every
    /// turn, which would otherwise contend for the state lock.
    stopping: AtomicBool,
    changed: Condvar,
    activity: Activity,
    /// Milliseconds since start when a thread last got the GIL.
    gil_heartbeat_ms: AtomicU64,
    /// Python cannot be finalised (the GIL seems stuck).
    wedged: AtomicBool,
    /// The GIL heartbeat thread has stopped using Python.
    heartbeat_done: AtomicBool,
    /// Requests that ran out of memory, as last seen.
    memory_errors: AtomicU64,
    /// Interruptions sent to the interrupter thread and not done yet (it
    /// uses Python).
    interrupting: std::sync::atomic::AtomicUsize,
    interrupter: Mutex<Option<std::sync::mpsc::Sender<Interruption>>>,
    parent: libc::pid_t,
    /// WSGIVerboseDebugging: thread starts are logged at info level.
    verbose: bool,
}

impl Server {
    pub fn new(
        group: Arc<DaemonGroup>,
        apache_uid: u32,
        secret: Secret,
        number: usize,
        verbose: bool,
    ) -> Arc<Server> {
        Arc::new(Server {
            group,
            number,
            apache_uid,
            secret,
            started: Instant::now(),
            state: Mutex::new(State {
                phase: Phase::Running,
                active: HashMap::new(),
                next_id: 0,
                accepted: 0,
                in_flight: 0,
            }),
            stopping: AtomicBool::new(false),
            changed: Condvar::new(),
            activity: Activity::new(),
            gil_heartbeat_ms: AtomicU64::new(0),
            wedged: AtomicBool::new(false),
            heartbeat_done: AtomicBool::new(false),
            memory_errors: AtomicU64::new(0),
            interrupting: std::sync::atomic::AtomicUsize::new(0),
            interrupter: Mutex::new(None),
            parent: nix::unistd::getppid().as_raw(),
            verbose,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    fn log(&self, level: Level, text: &str) {
        log::server(self.group.server.0, level, &log::ours(text));
    }

    /// Moves to a later phase (never back), logging why.
    fn begin(&self, state: &mut State, phase: Phase, why: &str) {
        let later = !matches!(
            (state.phase, phase),
            (Phase::Stopping { .. }, _)
                | (Phase::Graceful { .. }, Phase::Graceful { .. })
                | (_, Phase::Running)
        );
        if later {
            self.log(
                Level::Info,
                &format!("Daemon process '{}': {why}.", self.group.name()),
            );
            state.phase = phase;
            if let Phase::Stopping { .. } = phase {
                self.stopping.store(true, Ordering::SeqCst);
            }
            self.changed.notify_all();
            wake();
        }
    }

    /// Says on the group's board why this process stops (the first reason
    /// stays), so that Apache's children can say why their requests ended.
    fn note(&self, reason: StopReason) {
        if let Some(board) = &self.group.board {
            board.note_stop(self.number, reason);
        }
        // `process_stopping`'s shutdown_reason, in mod_wsgi's words (it
        // names only these; the rest stop with an empty reason there too).
        let name = match reason {
            StopReason::RequestTimeout(_) => "request_timeout",
            StopReason::StartupTimeout => "startup_timeout",
            StopReason::RestartInterval => "restart_interval",
            StopReason::InactivityTimeout => "inactivity_timeout",
            StopReason::CpuTimeLimit(_) => "cpu_time_limit",
            _ => "",
        };
        if !name.is_empty() {
            crate::wsgi::events::set_shutdown_reason(name);
        }
    }

    fn stop(&self, state: &mut State, why: &str) {
        let deadline = Instant::now() + self.group.options.shutdown_timeout;
        self.begin(state, Phase::Stopping { deadline }, why);
    }

    fn graceful(&self, state: &mut State, timeout: Option<Duration>, why: &str) {
        match timeout {
            Some(timeout) => self.begin(
                state,
                Phase::Graceful {
                    until: Some(Instant::now() + timeout),
                },
                why,
            ),
            None => self.stop(state, why),
        }
    }

    /// Serves requests until the process must stop. Returns whether every
    /// request finished (so Python can be finalised).
    pub fn run(self: &Arc<Server>) -> bool {
        let connections = match Connections::new(self.group.listener) {
            Ok(connections) => Arc::new(connections),
            Err(e) => {
                self.log(
                    Level::Error,
                    &format!(
                        "Daemon process '{}' cannot wait for requests: {e}",
                        self.group.name()
                    ),
                );
                return true;
            }
        };
        if self.verbose {
            self.log(
                Level::Debug,
                &format!(
                    "Starting {} threads in daemon process '{}'.",
                    self.group.options.threads,
                    self.group.name()
                ),
            );
        }
        for number in 0..self.group.options.threads as usize {
            let server = self.clone();
            let connections = connections.clone();
            let mut builder = std::thread::Builder::new().name(format!("wsgi-request-{number}"));
            if let Some(size) = self.group.options.stack_size {
                builder = builder.stack_size(size);
            }
            if let Err(e) = builder.spawn(move || server.request_thread(number, &connections)) {
                self.log(Level::Error, &format!("Cannot start a request thread: {e}"));
            }
        }
        if self.group.options.interrupt_timeout.is_some() {
            let (sender, jobs) = std::sync::mpsc::channel();
            let server = self.clone();
            if std::thread::Builder::new()
                .name("wsgi-interrupt".into())
                .spawn(move || server.interrupter(jobs))
                .is_ok()
            {
                *self.interrupter.lock() = Some(sender);
            }
        }
        {
            let server = self.clone();
            let connections = connections.clone();
            let _ = std::thread::Builder::new()
                .name("wsgi-monitor".into())
                .spawn(move || server.monitor(&connections));
        }
        {
            let server = self.clone();
            let _ = std::thread::Builder::new()
                .name("wsgi-deadlock".into())
                .spawn(move || server.heartbeat());
        }
        self.control_loop(&connections);
        connections.close_parked();
        let finished = self.wait_for_requests();
        finished && self.wait_for_heartbeat()
    }

    /// Waits (briefly) for the GIL heartbeat thread, and any thread raising
    /// `mod_wsgi.RequestTimeout`, to stop using Python.
    fn wait_for_heartbeat(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut state = self.state();
        while !self.heartbeat_done.load(Ordering::SeqCst)
            || self.interrupting.load(Ordering::SeqCst) > 0
        {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.changed
                .wait_for(&mut state, (deadline - now).min(Duration::from_millis(50)));
        }
        true
    }

    /// Applies signals and ends a graceful phase; returns once stopping.
    fn control_loop(&self, connections: &Connections) {
        let wake_read = WAKE_READ.load(Ordering::SeqCst);
        let mut closed_for_graceful = false;
        loop {
            let signalled = SIGNALLED.swap(0, Ordering::SeqCst);
            {
                let mut state = self.state();
                if signalled & SIGNAL_STOP != 0 {
                    self.note(StopReason::Signalled);
                    self.stop(&mut state, "stopping (signalled)");
                }
                if signalled & SIGNAL_GRACEFUL != 0 {
                    let timeout = self
                        .group
                        .options
                        .eviction_timeout
                        .or(self.group.options.graceful_timeout);
                    self.graceful(&mut state, timeout, "restarting gracefully (signalled)");
                }
                match state.phase {
                    Phase::Stopping { .. } => return,
                    Phase::Graceful { until } => {
                        if state.in_flight == 0 || until.is_some_and(|u| Instant::now() >= u) {
                            self.stop(&mut state, "graceful restart reached");
                            return;
                        }
                        if !closed_for_graceful {
                            // From now on a connection carries one request, as
                            // before persistent connections: the process still
                            // serves, but the number running can drop to zero.
                            closed_for_graceful = true;
                            drop(state);
                            connections.close_parked();
                        }
                    }
                    Phase::Running => {}
                }
            }
            wait_for_wake(wake_read);
        }
    }

    fn wait_for_requests(&self) -> bool {
        let mut state = self.state();
        loop {
            if state.in_flight == 0 {
                return !self.wedged.load(Ordering::SeqCst);
            }
            let deadline = match state.phase {
                Phase::Stopping { deadline } => deadline,
                _ => Instant::now() + self.group.options.shutdown_timeout,
            };
            let now = Instant::now();
            if now >= deadline {
                self.note(StopReason::ShutdownTimeout(
                    self.group.options.shutdown_timeout,
                ));
                self.log(
                    Level::Info,
                    &format!(
                        "Daemon process '{}': {} request(s) still running after the shutdown timeout, exiting.",
                        self.group.name(),
                        state.in_flight
                    ),
                );
                return false;
            }
            self.changed
                .wait_for(&mut state, (deadline - now).min(Duration::from_millis(100)));
        }
    }

    fn request_thread(self: Arc<Server>, number: usize, connections: &Connections) {
        self.log(
            if self.verbose {
                Level::Info
            } else {
                Level::Debug
            },
            &format!(
                "Started thread {number} in daemon process '{}'.",
                self.group.name()
            ),
        );
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                // Connections waiting on the group's socket are closed
                // unread, so that Apache's children offer their requests
                // again (to a sibling, a replacement, or after a restart
                // the new generation) instead of waiting on a process
                // that will never take them.
                match connections.wait(100) {
                    Ready::Listener => drop(connections.accept()),
                    Ready::Connection(..) | Ready::Nothing => {}
                }
                continue;
            }
            let (stream, standing, first) = match connections.wait(100) {
                Ready::Nothing => continue,
                Ready::Listener if self.busier_than_siblings() => {
                    connections.decline();
                    continue;
                }
                Ready::Listener => match connections.accept() {
                    Some(connection) => match self.admit(connection) {
                        Some((stream, peer)) => (
                            stream,
                            Standing::Proving {
                                since: Instant::now(),
                                peer,
                            },
                            true,
                        ),
                        None => continue,
                    },
                    None => continue,
                },
                Ready::Connection(stream, standing) => (stream, standing, false),
            };
            let stream = match standing {
                Standing::Trusted => stream,
                Standing::Proving { peer, .. } => match self.check_proof(stream, peer) {
                    Proof::Proven(stream) => stream,
                    Proof::NotYet(stream) => {
                        let evicted = connections.park(stream, standing, first);
                        self.log_unproven(
                            &evicted,
                            "too many connections were waiting to prove it",
                        );
                        continue;
                    }
                    Proof::Refused => continue,
                },
            };
            if let Some(stream) = self.serve_connection(stream) {
                connections.park(stream, Standing::Trusted, first);
            }
        }
    }

    /// Reads what a new connection has sent so far of its `Hello`, without
    /// waiting for more.
    fn check_proof(&self, mut stream: FrameStream, peer: Peer) -> Proof {
        let refuse = |why: &str| {
            self.log(
                Level::Error,
                &format!(
                    "Refused a connection to daemon process '{}' from pid {} (uid {}): {why}.",
                    self.group.name(),
                    peer.pid,
                    peer.uid
                ),
            );
            Proof::Refused
        };
        match stream.try_read_frame_exact() {
            Ok(None) => Proof::NotYet(stream),
            Ok(Some(Frame::Hello(offered))) if self.secret.matches(&offered) => {
                match stream.write_frame(&Frame::Welcome(std::process::id())) {
                    Ok(()) => Proof::Proven(stream),
                    Err(_) => Proof::Refused,
                }
            }
            Ok(Some(Frame::Hello(_))) => refuse("it offered the wrong secret"),
            Ok(Some(_)) => refuse("it did not open with the group's secret"),
            Err(StreamError::Protocol(e)) => refuse(&format!("it sent {e}")),
            Err(StreamError::Closed | StreamError::Reset) => {
                self.log(
                    Level::Debug,
                    &format!(
                        "Daemon process '{}': a connection from pid {} closed before proving the secret.",
                        self.group.name(),
                        peer.pid
                    ),
                );
                Proof::Refused
            }
            Err(e) => refuse(&format!("reading from it failed: {e}")),
        }
    }

    /// Logs connections closed because they did not prove the secret.
    fn log_unproven(&self, peers: &[Peer], why: &str) {
        if peers.is_empty() {
            return;
        }
        let mut pids: Vec<i32> = peers.iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        let shown: Vec<String> = pids.iter().take(20).map(|p| p.to_string()).collect();
        self.log(
            Level::Error,
            &format!(
                "Refused {} connection(s) to daemon process '{}' that did not prove the group's secret ({why}); from pid {}{}.",
                peers.len(),
                self.group.name(),
                shown.join(", "),
                if pids.len() > shown.len() { ", ..." } else { "" }
            ),
        );
    }

    /// Raises `mod_wsgi.RequestTimeout` in the requests over `limit` that
    /// were not interrupted yet, on a thread of its own (it needs the GIL,
    /// which the monitor must not wait for).
    fn interrupt_requests_over(
        self: &Arc<Server>,
        state: &mut State,
        now: Instant,
        limit: Duration,
        grace: Duration,
    ) {
        let mut targets = Vec::new();
        for active in state.active.values_mut() {
            if active.interrupted.is_none() && now - active.started > limit {
                active.interrupted = Some(now);
                targets.push(active.long_request(now));
            }
        }
        if targets.is_empty() {
            return;
        }
        self.interrupting.fetch_add(1, Ordering::SeqCst);
        let job = Interruption {
            limit,
            grace,
            targets,
        };
        let sent = self
            .interrupter
            .lock()
            .as_ref()
            .is_some_and(|sender| sender.send(job).is_ok());
        if !sent {
            self.interrupting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Runs interruptions on a thread of its own. The thread attaches to
    /// Python at once, while the GIL is free: a thread that first asks for
    /// the GIL does so in the main interpreter, and CPython 3.11 only asks
    /// the holder to let go when it runs in the same interpreter, so a
    /// request spinning in a sub-interpreter would never let it in. Asking
    /// later from the request's own interpreter works.
    fn interrupter(self: Arc<Server>, jobs: std::sync::mpsc::Receiver<Interruption>) {
        python_embed::threads::with_main_interpreter(|_| {});
        for job in jobs {
            // Python may be finalised once the process stops.
            if !matches!(self.state().phase, Phase::Stopping { .. }) {
                interrupt(
                    &|level, line| self.log(level, line),
                    self.group.name(),
                    job.limit,
                    job.grace,
                    &job.targets,
                );
            }
            self.interrupting.fetch_sub(1, Ordering::SeqCst);
            self.changed.notify_all();
        }
    }

    /// A process with a memory limit whose request ran out of memory is
    /// restarted gracefully: its heap is likely fragmented or leaking, and
    /// every later request would meet the same limit.
    fn recycle_after_memory_error(&self) {
        let options = &self.group.options;
        if options.memory_limit.is_none() && options.virtual_memory_limit.is_none() {
            return;
        }
        let seen = crate::wsgi::run::memory_errors();
        if seen > self.memory_errors.swap(seen, Ordering::Relaxed) {
            self.note(StopReason::MemoryLimit);
            let mut state = self.state();
            self.graceful(
                &mut state,
                options.graceful_timeout,
                "a request ran out of memory (memory-limit), restarting",
            );
        }
    }

    /// Whether this process runs clearly more requests than the least busy
    /// process of its group.
    fn busier_than_siblings(&self) -> bool {
        let margin = (self.group.options.threads / 3).max(3);
        self.group
            .board
            .as_ref()
            .is_some_and(|board| board.busier_than_siblings(self.number, margin))
    }

    /// Checks a new connection's peer and sets it up; None closes it.
    fn admit(&self, connection: UnixStream) -> Option<(FrameStream, Peer)> {
        let who = peer(&connection);
        match who {
            Some(p) if p.uid == self.apache_uid || p.uid == 0 => {}
            other => {
                self.log(
                    Level::Error,
                    &format!(
                        "Refused a connection to daemon process '{}' from pid {} (uid {}): only Apache's user may connect.",
                        self.group.name(),
                        other.map_or("unknown".to_string(), |p| p.pid.to_string()),
                        other.map_or("unknown".to_string(), |p| p.uid.to_string())
                    ),
                );
                return None;
            }
        }
        set_buffer_sizes(&connection, &self.group.options);
        let stream = FrameStream::new(connection, Some(self.group.socket_timeout)).ok()?;
        Some((stream, who?))
    }

    /// Serves the next request on a connection; returns the connection if
    /// it can take another one.
    fn serve_connection(&self, mut stream: FrameStream) -> Option<FrameStream> {
        {
            let mut state = self.state();
            if let Phase::Stopping { .. } = state.phase {
                // Closed unread: the child sees a reset and goes elsewhere.
                return None;
            }
            state.in_flight += 1;
        }
        if let Some(board) = &self.group.board {
            board.enter(self.number);
        }
        let served = self.serve_request(&mut stream);
        if let Some(board) = &self.group.board {
            board.leave(self.number);
        }
        self.recycle_after_memory_error();
        if served
            .as_ref()
            .is_none_or(|served| served.counts_as_activity)
        {
            self.activity.touch();
        }
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if let Some(served) = &served {
            state.active.remove(&served.id);
        }
        let running = state.phase == Phase::Running;
        if matches!(state.phase, Phase::Graceful { .. }) && state.in_flight == 0 {
            self.stop(&mut state, "graceful restart reached");
        }
        drop(state);
        // Only the shutdown sequence waits for requests to finish.
        if !running {
            self.changed.notify_all();
        }
        // A process clearly busier than a sibling lets the connection go:
        // the child's next request connects anew, to a less busy process.
        (served.is_some_and(|served| served.usable) && running && !self.busier_than_siblings())
            .then_some(stream)
    }

    /// One request: None if there was none (the child closed the
    /// connection). Its entry in `state.active` is left to the caller to
    /// remove, in the same turn of the lock as the rest of its bookkeeping.
    fn serve_request(&self, stream: &mut FrameStream) -> Option<Served> {
        let mut head = match stream.read_frame_exact() {
            Ok(Frame::Head(head)) => head,
            Err(StreamError::Closed | StreamError::Reset) => return None,
            Ok(_) | Err(_) => {
                self.log(
                    Level::Debug,
                    &format!(
                        "Daemon process '{}': connection without a request",
                        self.group.name()
                    ),
                );
                return None;
            }
        };
        // When the daemon took the request, as mod_wsgi records it: the
        // queue-wait histogram is the time from queue_start to this.
        head.vars
            .set("mod_wsgi.daemon_start", now_micros().to_string());
        // Made before taking the lock, which every request thread takes
        // several times per request: what is done under it must be short.
        let text = |name: &str| {
            head.vars
                .get(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        if let Some(metrics) = &self.group.metrics
            && let Some(waited) = queue_wait(&head.vars)
        {
            metrics
                .application(&text("mod_wsgi.application_group"))
                .observe_queue_wait(waited);
        }
        let active = Active {
            started: Instant::now(),
            connection: stream.stream().as_raw_fd(),
            thread: nix::sys::pthread::pthread_self() as u64,
            what: format!("{} {}", text("REQUEST_METHOD"), text("REQUEST_URI")),
            application_group: text("mod_wsgi.application_group"),
            interrupted: None,
        };
        let id = {
            let mut state = self.state();
            state.accepted += 1;
            let maximum = self.group.options.maximum_requests;
            if maximum > 0 && state.accepted >= maximum {
                self.note(StopReason::MaximumRequests(maximum));
                let timeout = self.group.options.graceful_timeout;
                self.graceful(
                    &mut state,
                    timeout,
                    &format!("maximum requests ({maximum}) reached, restarting"),
                );
            }
            let id = state.next_id;
            state.next_id += 1;
            state.active.insert(id, active);
            id
        };
        let counts_as_activity = !ignores_activity(&head.vars);
        let usable = if let Some(limit) = self.group.options.queue_timeout
            && queued_for(&head.vars) > limit
        {
            self.log(
                Level::Error,
                &format!(
                    "Queue timeout expired for WSGI daemon process '{}'.",
                    self.group.name()
                ),
            );
            crate::daemon::backend::read_go(stream, true).is_ok()
                && stream
                    .write_frame(&Frame::Fail {
                        status: 504,
                        message: String::new(),
                    })
                    .is_ok()
        } else {
            self.run_request(stream, &head, counts_as_activity)
        };
        // Bytes already buffered past the request would never wake epoll.
        Some(Served {
            id,
            usable: usable && stream.pending() == 0,
            counts_as_activity,
        })
    }

    /// Runs the application; returns whether the connection is still in
    /// step (the response ended cleanly) and can take another request.
    fn run_request(
        &self,
        stream: &mut FrameStream,
        head: &RequestHead,
        counts_as_activity: bool,
    ) -> bool {
        let cgi = &head.vars;
        let text = |name: &str| {
            cgi.get(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        // A WSGIHandlerScript script runs for the request's file.
        let script = text("mod_wsgi.handler_script")
            .filter(|s| !s.is_empty())
            .or_else(|| text("SCRIPT_FILENAME"))
            .unwrap_or_default();
        let application_group = text("mod_wsgi.application_group").unwrap_or_default();
        let callable = text("mod_wsgi.callable_object").unwrap_or_else(|| "application".into());
        // A changed script restarts the whole process, as in mod_wsgi's
        // daemon mode: everything the script imported is loaded afresh.
        let on_change = if text("mod_wsgi.script_reloading").as_deref() == Some("0") {
            OnChange::Keep
        } else {
            OnChange::Report
        };
        let remote = format!(
            "{}:{}",
            text("REMOTE_ADDR").unwrap_or_default(),
            text("REMOTE_PORT").unwrap_or_default()
        );
        let log = DaemonLog {
            server: self.group.server.0,
            remote,
        };
        let activity = counts_as_activity.then_some(&self.activity);
        let mut backend = SocketBackend::new(stream, activity);
        let request = RunRequest {
            script: &script,
            cgi,
            facts: crate::context::facts(),
            head_request: head.head_request,
            script_mtime: head.script_mtime,
            // Apache's request lives in another process.
            apache_request: std::ptr::null_mut(),
        };
        crate::wsgi::run::take_exceptions();
        let completion = dispatch(
            &Target {
                application_group: &application_group,
                callable: &callable,
                on_change,
                case_sensitive_paths: crate::context::case_sensitive_paths(),
            },
            &request,
            &mut backend,
            &log,
        );
        if let Some(metrics) = &self.group.metrics {
            metrics
                .application(&application_group)
                .count_exceptions(crate::wsgi::run::take_exceptions());
        }
        let broken = !backend.finish_opening();
        match completion {
            Completion::Responded if !broken => stream.write_frame(&Frame::End).is_ok(),
            Completion::Responded => false,
            Completion::RestartRequired => {
                // Offered again by the Apache child, to a fresh process.
                let _ = stream.write_frame(&Frame::Reject);
                self.note(StopReason::ScriptChanged);
                let mut state = self.state();
                self.stop(
                    &mut state,
                    &format!("script '{script}' changed, restarting"),
                );
                false
            }
            Completion::Failed | Completion::TimedOut => {
                let status = if completion == Completion::TimedOut {
                    504
                } else {
                    500
                };
                !broken
                    && stream
                        .write_frame(&Frame::Fail {
                            status,
                            message: String::new(),
                        })
                        .is_ok()
            }
        }
    }

    /// Logs the stack of every request running here, asked for through
    /// the metrics page or SIGUSR2.
    fn log_stacks_in_flight(&self) {
        let now = Instant::now();
        let running: Vec<RunningRequest> = self
            .state()
            .active
            .values()
            .map(|a| a.long_request(now))
            .collect();
        let who = format!(
            "Daemon process '{}' (pid {})",
            self.group.name(),
            std::process::id()
        );
        if running.is_empty() {
            self.log(
                Level::Warning,
                &format!("{who}: stacks asked for: no request in flight."),
            );
        }
        log_request_stacks(
            &|level, line| self.log(level, line),
            Level::Warning,
            &who,
            "stacks asked for",
            &running,
        );
    }

    fn monitor(self: Arc<Server>, connections: &Connections) {
        let options = &self.group.options;
        // Asks made before this process started were answered by others.
        let mut stacks_answered = self.group.metrics.as_ref().map(|m| m.stacks_asked());
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if let Some(cutoff) = Instant::now().checked_sub(PROVING_TIME) {
                let late = connections.expire_proving(cutoff);
                self.log_unproven(&late, &format!("not within {} s", PROVING_TIME.as_secs()));
            }
            if let Some(board) = &self.group.board {
                board.update_rss(self.number);
            }
            let asked = self.group.metrics.as_ref().map(|m| m.stacks_asked());
            if STACKS_SIGNALLED.swap(false, Ordering::SeqCst) || asked != stacks_answered {
                stacks_answered = asked;
                self.log_stacks_in_flight();
            }
            // With one process there is nobody to hand a request to.
            let all_busy = self.state().in_flight >= options.threads as usize;
            if all_busy && options.processes > 1 {
                let handed_back = connections.hand_back_waiting();
                if handed_back > 0 {
                    self.log(
                        Level::Debug,
                        &format!(
                            "Daemon process '{}': all {} threads busy; handed back {handed_back} waiting request(s) for another process.",
                            self.group.name(),
                            options.threads
                        ),
                    );
                }
            }
            let mut state = self.state();
            if let Phase::Stopping { .. } = state.phase {
                return;
            }
            if nix::unistd::getppid().as_raw() != self.parent {
                self.note(StopReason::ParentGone);
                self.stop(&mut state, "the Apache parent process has gone, stopping");
                continue;
            }
            let now = Instant::now();
            if let Some(limit) = options.request_timeout {
                let threads = options.threads.max(1);
                let elapsed: Vec<Duration> =
                    state.active.values().map(|a| now - a.started).collect();
                let total: Duration = elapsed.iter().sum();
                let exceeded = if threads == 1 {
                    elapsed.iter().any(|e| *e > limit)
                } else {
                    total / threads > limit
                };
                let overdue = match options.interrupt_timeout {
                    // Without interrupt-timeout, the process stops at once.
                    None => exceeded,
                    Some(grace) => {
                        if exceeded {
                            self.interrupt_requests_over(&mut state, now, limit, grace);
                        }
                        state
                            .active
                            .values()
                            .any(|a| a.interrupted.is_some_and(|at| now - at > grace))
                    }
                };
                if overdue {
                    self.note(StopReason::RequestTimeout(limit));
                    let running: Vec<RunningRequest> =
                        state.active.values().map(|a| a.long_request(now)).collect();
                    log_stacks_before_stop(
                        &|level, line| self.log(level, line),
                        self.group.name(),
                        &format!("stopping (request-timeout of {} s)", limit.as_secs()),
                        &running,
                    );
                    for active in state.active.values() {
                        if now - active.started > limit {
                            // The Apache child sees the connection end at once
                            // and answers its client; the stuck thread is left
                            // to the shutdown timeout.
                            let _ = nix::sys::socket::shutdown(
                                active.connection,
                                nix::sys::socket::Shutdown::Both,
                            );
                        }
                    }
                    self.stop(&mut state, "request time limit exceeded, stopping process");
                    continue;
                }
            }
            // Idle means no request running and none received for the
            // timeout, once a request counted as activity (requests under
            // WSGIIgnoreActivity On never start the countdown nor reset it).
            if let Some(limit) = options.inactivity_timeout
                && state.in_flight == 0
                && self.activity.ever_touched()
                && self.activity.idle_for() > limit
            {
                self.note(StopReason::InactivityTimeout);
                self.stop(&mut state, "inactivity timeout reached, stopping process");
                continue;
            }
            if let Some(limit) = options.restart_interval
                && now - self.started > limit
            {
                self.note(StopReason::RestartInterval);
                let timeout = options.graceful_timeout;
                self.graceful(&mut state, timeout, "restart interval reached, restarting");
            }
            if let Some(limit) = options.startup_timeout
                && crate::wsgi::script::failing_to_load_for().is_some_and(|failing| failing > limit)
            {
                self.note(StopReason::StartupTimeout);
                self.stop(
                    &mut state,
                    "startup timeout reached without loading the application, restarting",
                );
                continue;
            }
            if let Some(limit) = options.cpu_time_limit
                && cpu_time() > limit
            {
                self.note(StopReason::CpuTimeLimit(limit));
                let timeout = options.graceful_timeout;
                self.graceful(&mut state, timeout, "CPU time limit reached, restarting");
            }
            let heartbeat = Duration::from_millis(self.gil_heartbeat_ms.load(Ordering::Relaxed));
            if let Some(limit) = options.deadlock_timeout
                && (now - self.started).saturating_sub(heartbeat) > limit + Duration::from_secs(1)
            {
                self.wedged.store(true, Ordering::SeqCst);
                self.note(StopReason::DeadlockTimeout(limit));
                let running: Vec<RunningRequest> =
                    state.active.values().map(|a| a.long_request(now)).collect();
                log_stacks_before_stop(
                    &|level, line| self.log(level, line),
                    self.group.name(),
                    &format!(
                        "stopping (the GIL was held for over deadlock-timeout, {} s)",
                        limit.as_secs()
                    ),
                    &running,
                );
                self.stop(
                    &mut state,
                    "Python GIL deadlock suspected (deadlock-timeout), stopping process",
                );
            }
        }
    }

    /// Takes the GIL every second; if it cannot, the monitor notices.
    fn heartbeat(self: Arc<Server>) {
        loop {
            // Checked before touching Python: once stopping, Python may be
            // finalised at any moment.
            if matches!(self.state().phase, Phase::Stopping { .. }) {
                break;
            }
            python_embed::threads::with_main_interpreter(|_| {});
            self.gil_heartbeat_ms
                .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
            // Woken at once when the process begins to stop, which waits
            // for this thread to leave Python alone.
            let mut state = self.state();
            if !matches!(state.phase, Phase::Stopping { .. }) {
                self.changed
                    .wait_for(&mut state, Duration::from_millis(250));
            }
        }
        self.heartbeat_done.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// How long the request waited between Apache receiving it and now.
fn queued_for(cgi: &CgiEnviron) -> Duration {
    let Some(start) = cgi.number("mod_wsgi.request_start") else {
        return Duration::ZERO;
    };
    Duration::from_micros(now_micros().saturating_sub(start))
}

/// How long the request waited between the Apache child sending it and
/// this process taking it (`queue_start` to `daemon_start`).
fn queue_wait(cgi: &CgiEnviron) -> Option<Duration> {
    let queued = cgi.number("mod_wsgi.queue_start")?;
    let taken = cgi.number("mod_wsgi.daemon_start")?;
    Some(Duration::from_micros(taken.saturating_sub(queued)))
}

fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return Duration::ZERO;
    };
    let spent = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec().max(0) as u64)
            + Duration::from_micros(t.tv_usec().max(0) as u64)
    };
    spent(usage.user_time()) + spent(usage.system_time())
}

/// send-buffer-size= and receive-buffer-size= on a connection (the
/// system's own, when it refuses them).
fn set_buffer_sizes(connection: &UnixStream, options: &wsgi_core::daemon_options::DaemonOptions) {
    use nix::sys::socket::{setsockopt, sockopt};
    if let Some(size) = options.send_buffer_size {
        let _ = setsockopt(connection, sockopt::SndBuf, &(size as usize));
    }
    if let Some(size) = options.receive_buffer_size {
        let _ = setsockopt(connection, sockopt::RcvBuf, &(size as usize));
    }
}
