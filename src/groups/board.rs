//! What the processes of a daemon group tell each other, the Apache
//! parent and Apache's children, in memory the parent maps before it forks
//! any of them (anonymous, shared, one slot per process of the group):
//!
//! - how many requests each process is running. Connections from Apache's
//!   children stay open between requests, which would otherwise pin work
//!   to whichever process accepted them first: a process clearly busier
//!   than its least busy sibling closes connections after their request
//!   and leaves new ones to the siblings, so the load evens out;
//! - its pid, peak resident memory, and why it is stopping or how it is
//!   exiting (written by the process itself, also from a fatal-signal
//!   handler);
//! - how the last process in the slot ended (written by the parent when
//!   httpd reaps it), so that an Apache child whose request died with the
//!   process can say why, in that request's own log line.
//!
//! Everything is an atomic word; every process writes only its own slot,
//! the parent only the record of deaths.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::Duration;

/// Words of one process's slot.
mod word {
    pub const RUNNING: usize = 0;
    pub const PID: usize = 1;
    pub const PEAK_RSS_KIB: usize = 2;
    pub const STOP: usize = 3;
    pub const END: usize = 4;
    pub const DEAD_PID: usize = 5;
    pub const DEAD_STATUS: usize = 6;
    pub const DEAD_PEAK_RSS_KIB: usize = 7;
    pub const DEAD_STOP: usize = 8;
    pub const DEAD_END: usize = 9;
    pub const RSS_KIB: usize = 10;
    pub const COUNT: usize = 11;
}

/// Why a daemon process stopped serving (it says so before it exits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGTERM, SIGINT or SIGHUP (Apache restarting or stopping).
    Signalled,
    ParentGone,
    RequestTimeout(Duration),
    InactivityTimeout,
    RestartInterval,
    StartupTimeout,
    CpuTimeLimit(Duration),
    DeadlockTimeout(Duration),
    MaximumRequests(u64),
    ScriptChanged,
    MemoryLimit,
    /// Requests were still running when shutdown-timeout ran out.
    ShutdownTimeout(Duration),
}

impl StopReason {
    fn encode(self) -> u64 {
        let (code, detail) = match self {
            StopReason::Signalled => (1, 0),
            StopReason::ParentGone => (2, 0),
            StopReason::RequestTimeout(d) => (3, d.as_secs()),
            StopReason::InactivityTimeout => (4, 0),
            StopReason::RestartInterval => (5, 0),
            StopReason::StartupTimeout => (6, 0),
            StopReason::CpuTimeLimit(d) => (7, d.as_secs()),
            StopReason::DeadlockTimeout(d) => (8, d.as_secs()),
            StopReason::MaximumRequests(n) => (9, n),
            StopReason::ScriptChanged => (10, 0),
            StopReason::MemoryLimit => (11, 0),
            StopReason::ShutdownTimeout(d) => (12, d.as_secs()),
        };
        code | (detail.min(u64::MAX >> 8) << 8)
    }

    fn decode(word: u64) -> Option<StopReason> {
        let detail = word >> 8;
        let seconds = Duration::from_secs(detail);
        Some(match word & 0xff {
            1 => StopReason::Signalled,
            2 => StopReason::ParentGone,
            3 => StopReason::RequestTimeout(seconds),
            4 => StopReason::InactivityTimeout,
            5 => StopReason::RestartInterval,
            6 => StopReason::StartupTimeout,
            7 => StopReason::CpuTimeLimit(seconds),
            8 => StopReason::DeadlockTimeout(seconds),
            9 => StopReason::MaximumRequests(detail),
            10 => StopReason::ScriptChanged,
            11 => StopReason::MemoryLimit,
            12 => StopReason::ShutdownTimeout(seconds),
            _ => return None,
        })
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Signalled => write!(f, "Apache told it to stop"),
            StopReason::ParentGone => write!(f, "the Apache parent process had gone"),
            StopReason::RequestTimeout(d) => {
                write!(f, "request-timeout ({} s) was reached", d.as_secs())
            }
            StopReason::InactivityTimeout => write!(f, "inactivity-timeout was reached"),
            StopReason::RestartInterval => write!(f, "restart-interval was reached"),
            StopReason::StartupTimeout => write!(f, "startup-timeout was reached"),
            StopReason::CpuTimeLimit(d) => {
                write!(f, "cpu-time-limit ({} s) was reached", d.as_secs())
            }
            StopReason::DeadlockTimeout(d) => write!(
                f,
                "the GIL was held for longer than deadlock-timeout ({} s)",
                d.as_secs()
            ),
            StopReason::MaximumRequests(n) => write!(f, "maximum-requests ({n}) was reached"),
            StopReason::ScriptChanged => write!(f, "its WSGI script changed"),
            StopReason::MemoryLimit => {
                write!(f, "a request ran out of memory (memory-limit)")
            }
            StopReason::ShutdownTimeout(d) => write!(
                f,
                "requests were still running when shutdown-timeout ({} s) ran out",
                d.as_secs()
            ),
        }
    }
}

/// How a process ended, as far as it could say itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It called exit with this status.
    Exit(i32),
    /// A fatal signal (its handler recorded it before dying of it).
    Signal(i32),
}

impl End {
    fn encode(self) -> u64 {
        match self {
            End::Exit(code) => 1 | (u64::from(code as u32) << 8),
            End::Signal(signal) => 2 | (u64::from(signal as u32) << 8),
        }
    }

    fn decode(word: u64) -> Option<End> {
        let value = (word >> 8) as u32 as i32;
        match word & 0xff {
            1 => Some(End::Exit(value)),
            2 => Some(End::Signal(value)),
            _ => None,
        }
    }
}

/// A daemon process's end, as the parent and the process recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Death {
    pub pid: i32,
    /// What httpd passed when it reaped the process: the exit status or
    /// the signal number (it does not say which).
    pub status: i32,
    pub end: Option<End>,
    pub stop: Option<StopReason>,
    pub peak_rss_kib: u64,
}

/// The name of a signal, e.g. "SIGSEGV".
pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

fn mib(kib: u64) -> String {
    format!("{} MiB", (kib + 512) / 1024)
}

impl Death {
    /// "killed by signal 11 (SIGSEGV)", "exited with status 1", ...
    pub fn how(&self) -> String {
        let signalled = |n: i32| format!("killed by signal {n} ({})", signal_name(n));
        let mut text = match self.end {
            Some(End::Exit(code)) => format!("exited with status {code}"),
            Some(End::Signal(n)) => signalled(n),
            // The process records its own exits and every fatal signal but
            // SIGKILL (the kernel's OOM killer, kill -9), which it cannot
            // catch. Anything else unrecorded is an exit it did not make
            // itself: os._exit() or exit() in C.
            None if self.status == libc::SIGKILL => signalled(libc::SIGKILL),
            None => format!(
                "exited with status {} (not through mod_wsgi: os._exit() or a C exit)",
                self.status
            ),
        };
        if let Some(stop) = self.stop {
            text.push_str(&format!(" after it stopped because {stop}"));
        }
        text
    }

    pub fn peak_rss(&self) -> String {
        mib(self.peak_rss_kib)
    }
}

/// A slot of the board as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessState {
    pub slot: usize,
    /// 0 before a process first took the slot.
    pub pid: u32,
    /// Requests it is running (its busy threads).
    pub running: u64,
    pub rss_kib: u64,
}

/// Resident memory from /proc/self/statm (its second field, in pages).
fn rss_kib_now() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    Some(pages * page_size / 1024)
}

/// Where the fatal-signal handler writes (this process's slot).
static OWN_SLOT: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

pub struct GroupBoard {
    words: *mut AtomicU64,
    processes: usize,
}

// SAFETY: the mapping lives until `unmap` (when the group's processes are
// gone) and is only accessed through atomics.
unsafe impl Send for GroupBoard {}
// SAFETY: as above.
unsafe impl Sync for GroupBoard {}

impl std::fmt::Debug for GroupBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GroupBoard({} processes)", self.processes)
    }
}

fn peak_rss_kib_now() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(0, |usage| usage.max_rss().max(0) as u64)
}

impl GroupBoard {
    /// A zeroed board for `processes` processes; None if the memory cannot
    /// be mapped (the group then runs without balancing or death reports).
    pub fn new(processes: usize) -> Option<GroupBoard> {
        let processes = processes.max(1);
        let words = crate::groups::shared_words::map(processes * word::COUNT).ok()?;
        Some(GroupBoard {
            words: words.as_ptr(),
            processes,
        })
    }

    fn word(&self, process: usize, index: usize) -> &AtomicU64 {
        let process = process.min(self.processes - 1);
        // SAFETY: inside the mapping (process clamped, index < COUNT), which
        // lives as long as self.
        unsafe { &*self.words.add(process * word::COUNT + index) }
    }

    /// A new process takes its slot: its pid, nothing running, nothing
    /// recorded about it yet. It also becomes the slot the fatal-signal
    /// handler writes.
    pub fn take_slot(&self, process: usize) {
        for index in [
            word::RUNNING,
            word::PEAK_RSS_KIB,
            word::STOP,
            word::END,
            word::RSS_KIB,
        ] {
            self.word(process, index).store(0, Ordering::Relaxed);
        }
        self.word(process, word::PID)
            .store(u64::from(std::process::id()), Ordering::Release);
        OWN_SLOT.store(
            std::ptr::from_ref(self.word(process, 0)).cast_mut(),
            Ordering::Release,
        );
        self.update_rss(process);
    }

    pub fn enter(&self, process: usize) {
        self.word(process, word::RUNNING)
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn leave(&self, process: usize) {
        let _ = self.word(process, word::RUNNING).fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |n| n.checked_sub(1),
        );
    }

    /// Whether `process` runs more than `margin` requests beyond its least
    /// busy sibling.
    pub fn busier_than_siblings(&self, process: usize, margin: u32) -> bool {
        let running = |p: usize| self.word(p, word::RUNNING).load(Ordering::Relaxed);
        let mine = running(process);
        (0..self.processes)
            .filter(|&other| other != process)
            .map(running)
            .min()
            .is_some_and(|least| mine > least + u64::from(margin))
    }

    /// Records the process's peak resident memory so far.
    pub fn update_peak_rss(&self, process: usize) {
        self.word(process, word::PEAK_RSS_KIB)
            .fetch_max(peak_rss_kib_now(), Ordering::Relaxed);
    }

    /// Records the process's resident memory now (and its peak).
    pub fn update_rss(&self, process: usize) {
        self.update_peak_rss(process);
        if let Some(kib) = rss_kib_now() {
            self.word(process, word::RSS_KIB)
                .store(kib, Ordering::Relaxed);
        }
    }

    /// Each slot's live process: what it runs and its resident memory.
    pub fn processes(&self) -> Vec<ProcessState> {
        (0..self.processes)
            .map(|process| {
                let word = |index| self.word(process, index).load(Ordering::Relaxed);
                ProcessState {
                    slot: process,
                    pid: word(word::PID) as u32,
                    running: word(word::RUNNING),
                    rss_kib: word(word::RSS_KIB),
                }
            })
            .collect()
    }

    /// The process says why it stops (the first reason stays).
    pub fn note_stop(&self, process: usize, reason: StopReason) {
        let _ = self.word(process, word::STOP).compare_exchange(
            0,
            reason.encode(),
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// The process says how it ends, right before it does.
    pub fn note_end(&self, process: usize, end: End) {
        self.update_peak_rss(process);
        self.word(process, word::END)
            .store(end.encode(), Ordering::Release);
    }

    /// The parent records that the process in slot `process` (pid `pid`)
    /// was reaped with `status`, before it starts a replacement there.
    pub fn record_death(&self, process: usize, pid: i32, status: i32) -> Death {
        let word = |index| self.word(process, index);
        let same = word(word::PID).load(Ordering::Acquire) == pid as u32 as u64;
        // A process that died before taking its slot left nothing there.
        let (peak, stop, end) = if same {
            (
                word(word::PEAK_RSS_KIB).load(Ordering::Relaxed),
                word(word::STOP).load(Ordering::Acquire),
                word(word::END).load(Ordering::Acquire),
            )
        } else {
            (0, 0, 0)
        };
        word(word::DEAD_STATUS).store(status as u32 as u64, Ordering::Relaxed);
        word(word::DEAD_PEAK_RSS_KIB).store(peak, Ordering::Relaxed);
        word(word::DEAD_STOP).store(stop, Ordering::Relaxed);
        word(word::DEAD_END).store(end, Ordering::Relaxed);
        word(word::DEAD_PID).store(pid as u32 as u64, Ordering::Release);
        Death {
            pid,
            status,
            end: End::decode(end),
            stop: StopReason::decode(stop),
            peak_rss_kib: peak,
        }
    }

    /// How the process `pid` ended, if the parent has recorded it.
    pub fn death_of(&self, pid: i32) -> Option<Death> {
        let pid_word = pid as u32 as u64;
        (0..self.processes).find_map(|process| {
            let word = |index| self.word(process, index);
            if word(word::DEAD_PID).load(Ordering::Acquire) != pid_word {
                return None;
            }
            Some(Death {
                pid,
                status: word(word::DEAD_STATUS).load(Ordering::Relaxed) as u32 as i32,
                end: End::decode(word(word::DEAD_END).load(Ordering::Relaxed)),
                stop: StopReason::decode(word(word::DEAD_STOP).load(Ordering::Relaxed)),
                peak_rss_kib: word(word::DEAD_PEAK_RSS_KIB).load(Ordering::Relaxed),
            })
        })
    }

    /// Whether `pid` is or was (the last) process of a slot of this board.
    pub fn knows(&self, pid: i32) -> bool {
        let pid_word = pid as u32 as u64;
        (0..self.processes).any(|process| {
            [word::PID, word::DEAD_PID]
                .iter()
                .any(|&index| self.word(process, index).load(Ordering::Acquire) == pid_word)
        })
    }

    /// Why the live process `pid` is stopping, if it said, and its peak
    /// resident memory so far.
    pub fn stopping(&self, pid: i32) -> Option<(Option<StopReason>, u64)> {
        let pid_word = pid as u32 as u64;
        (0..self.processes).find_map(|process| {
            let word = |index| self.word(process, index);
            (word(word::PID).load(Ordering::Acquire) == pid_word).then(|| {
                (
                    StopReason::decode(word(word::STOP).load(Ordering::Acquire)),
                    word(word::PEAK_RSS_KIB).load(Ordering::Relaxed),
                )
            })
        })
    }

    /// Releases the memory.
    ///
    /// # Safety
    /// No process may use the board afterwards.
    pub unsafe fn unmap(&self) {
        if let Some(words) = std::ptr::NonNull::new(self.words) {
            // SAFETY: per the contract; the mapping was made by `new`.
            unsafe { crate::groups::shared_words::unmap(words, self.processes * word::COUNT) };
        }
    }
}

/// Records a fatal signal in this process's slot; called from the signal
/// handler, so it only touches atomics and makes one system call.
pub fn note_fatal_signal(signal: i32) {
    let slot = OWN_SLOT.load(Ordering::Acquire);
    if slot.is_null() {
        return;
    }
    // SAFETY: OWN_SLOT points at the first word of this process's slot in
    // a mapping that lives as long as the process.
    let word = |index: usize| unsafe { &*slot.add(index) };
    word(word::PEAK_RSS_KIB).fetch_max(peak_rss_kib_now(), Ordering::Relaxed);
    word(word::END).store(End::Signal(signal).encode(), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `take_slot` points the process-wide OWN_SLOT at a board; tests that
    /// call it run one at a time.
    static OWN_SLOT_USERS: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

    #[test]
    fn a_process_is_busier_only_beyond_the_margin() {
        let _turn = OWN_SLOT_USERS.lock();
        let board = GroupBoard::new(3).unwrap();
        for _ in 0..4 {
            board.enter(0);
        }
        board.enter(1);
        board.enter(2);
        assert!(board.busier_than_siblings(0, 2));
        assert!(!board.busier_than_siblings(0, 3));
        assert!(!board.busier_than_siblings(1, 0));
        board.leave(0);
        board.leave(0);
        assert!(!board.busier_than_siblings(0, 1));
        // A new process in the slot starts from nothing running.
        board.take_slot(0);
        board.leave(0);
        assert!(board.busier_than_siblings(1, 0));
        OWN_SLOT.store(std::ptr::null_mut(), Ordering::Release);
        // SAFETY: nothing uses it afterwards.
        unsafe { board.unmap() };
    }

    #[test]
    fn a_single_process_is_never_busier() {
        let board = GroupBoard::new(1).unwrap();
        board.enter(0);
        board.enter(0);
        assert!(!board.busier_than_siblings(0, 0));
        // SAFETY: nothing uses it afterwards.
        unsafe { board.unmap() };
    }

    #[test]
    fn deaths_carry_what_the_process_recorded() {
        let _turn = OWN_SLOT_USERS.lock();
        let board = GroupBoard::new(2).unwrap();
        let me = std::process::id() as i32;
        board.take_slot(1);
        assert_eq!(
            board.stopping(me),
            Some((None, board.stopping(me).unwrap().1))
        );
        board.note_stop(1, StopReason::RequestTimeout(Duration::from_secs(60)));
        board.note_stop(1, StopReason::Signalled);
        board.note_end(1, End::Exit(0));
        let death = board.record_death(1, me, 0);
        assert_eq!(death.end, Some(End::Exit(0)));
        assert_eq!(
            death.stop,
            Some(StopReason::RequestTimeout(Duration::from_secs(60)))
        );
        assert!(death.peak_rss_kib > 0);
        assert_eq!(board.death_of(me), Some(death));
        assert_eq!(
            death.how(),
            "exited with status 0 after it stopped because request-timeout (60 s) was reached"
        );
        // An end nobody recorded is the signal httpd reported.
        let killed = board.record_death(0, 4242, 9);
        assert_eq!(killed.how(), "killed by signal 9 (SIGKILL)");
        assert_eq!(board.death_of(4242).map(|d| d.status), Some(9));
        assert!(board.death_of(1).is_none());
        let exited = board.record_death(0, 4343, 3);
        assert_eq!(
            exited.how(),
            "exited with status 3 (not through mod_wsgi: os._exit() or a C exit)"
        );
        board.take_slot(0);
        note_fatal_signal(11);
        assert_eq!(
            board.record_death(0, me, 11).how(),
            "killed by signal 11 (SIGSEGV)"
        );
        OWN_SLOT.store(std::ptr::null_mut(), Ordering::Release);
        // SAFETY: nothing uses it afterwards.
        unsafe { board.unmap() };
    }

    #[test]
    fn reasons_and_ends_survive_encoding() {
        for reason in [
            StopReason::Signalled,
            StopReason::ParentGone,
            StopReason::RequestTimeout(Duration::from_secs(5)),
            StopReason::InactivityTimeout,
            StopReason::RestartInterval,
            StopReason::StartupTimeout,
            StopReason::CpuTimeLimit(Duration::from_secs(7)),
            StopReason::DeadlockTimeout(Duration::from_secs(300)),
            StopReason::MaximumRequests(1000),
            StopReason::ScriptChanged,
            StopReason::MemoryLimit,
            StopReason::ShutdownTimeout(Duration::from_secs(5)),
        ] {
            assert_eq!(StopReason::decode(reason.encode()), Some(reason));
        }
        for end in [End::Exit(0), End::Exit(255), End::Signal(11)] {
            assert_eq!(End::decode(end.encode()), Some(end));
        }
        assert_eq!(StopReason::decode(0), None);
        assert_eq!(End::decode(0), None);
        assert_eq!(signal_name(11), "SIGSEGV");
    }
}
