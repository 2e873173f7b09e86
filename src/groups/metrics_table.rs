//! A process group's counters, by application group, in memory the parent
//! maps before it forks anything (anonymous, shared): what `SetHandler
//! wsgi-metrics` reads, so the numbers cover every Apache child and every
//! daemon process of the group, and outlive any one of them. A table lives
//! for one configuration generation: Apache restarting starts it afresh.
//!
//! Who writes what: Apache's children count requests, their status,
//! duration and those in flight (in both modes, since every request passes
//! through a child); the process running Python counts uncaught exceptions
//! and, in a daemon, the time a request queued; the parent counts daemon
//! restarts by cause. Everything is an atomic word.
//!
//! Application groups are named at run time, so each table has a fixed
//! number of entries claimed by name on first use; two processes claiming
//! the same name at once may take two entries, which readers add up. Names
//! beyond the table, or too long for an entry, count under [`OVERFLOW`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::groups::board::{Death, End, StopReason};

/// Entries for named application groups in each table.
pub const APPLICATION_GROUPS: usize = 64;
/// The application group label of requests that found no entry.
pub const OVERFLOW: &str = "(other)";
const NAME_WORDS: usize = 16;
const NAME_BYTES: usize = NAME_WORDS * 8;

/// Upper bounds (seconds) of the request-duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Upper bounds (seconds) of the queue-wait histogram's buckets.
pub const QUEUE_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Status classes counted: 1xx to 5xx, then anything else.
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Why a daemon process was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartCause {
    MaximumRequests,
    RequestTimeout,
    InactivityTimeout,
    RestartInterval,
    StartupTimeout,
    CpuTimeLimit,
    DeadlockTimeout,
    MemoryLimit,
    ScriptChanged,
    ShutdownTimeout,
    /// Told to stop by a signal it handles (SIGTERM, SIGINT, SIGHUP) from
    /// someone other than Apache.
    StopSignal,
    ParentGone,
    /// It exited without saying why (os._exit(), a C exit, a failed start).
    Exit,
    /// Killed by this signal.
    Signal(i32),
}

/// Causes with a counter of their own, in table order, with their labels.
const CAUSES: [(RestartCause, &str); 13] = [
    (RestartCause::MaximumRequests, "maximum-requests"),
    (RestartCause::RequestTimeout, "request-timeout"),
    (RestartCause::InactivityTimeout, "inactivity-timeout"),
    (RestartCause::RestartInterval, "restart-interval"),
    (RestartCause::StartupTimeout, "startup-timeout"),
    (RestartCause::CpuTimeLimit, "cpu-time-limit"),
    (RestartCause::DeadlockTimeout, "deadlock-timeout"),
    (RestartCause::MemoryLimit, "memory-limit"),
    (RestartCause::ScriptChanged, "script-changed"),
    (RestartCause::ShutdownTimeout, "shutdown-timeout"),
    (RestartCause::StopSignal, "stop-signal"),
    (RestartCause::ParentGone, "parent-gone"),
    (RestartCause::Exit, "exit"),
];
/// Signals 1 to 64 have a counter each.
const SIGNALS: usize = 64;

impl RestartCause {
    /// The cause of a death as the parent recorded it: the reason the
    /// process gave for stopping, else how it ended.
    pub fn of(death: &Death) -> RestartCause {
        match death.stop {
            Some(StopReason::MaximumRequests(_)) => RestartCause::MaximumRequests,
            Some(StopReason::RequestTimeout(_)) => RestartCause::RequestTimeout,
            Some(StopReason::InactivityTimeout) => RestartCause::InactivityTimeout,
            Some(StopReason::RestartInterval) => RestartCause::RestartInterval,
            Some(StopReason::StartupTimeout) => RestartCause::StartupTimeout,
            Some(StopReason::CpuTimeLimit(_)) => RestartCause::CpuTimeLimit,
            Some(StopReason::DeadlockTimeout(_)) => RestartCause::DeadlockTimeout,
            Some(StopReason::MemoryLimit) => RestartCause::MemoryLimit,
            Some(StopReason::ScriptChanged) => RestartCause::ScriptChanged,
            Some(StopReason::ShutdownTimeout(_)) => RestartCause::ShutdownTimeout,
            Some(StopReason::Signalled) => RestartCause::StopSignal,
            Some(StopReason::ParentGone) => RestartCause::ParentGone,
            None => match death.end {
                Some(End::Signal(signal)) => RestartCause::Signal(signal),
                Some(End::Exit(_)) => RestartCause::Exit,
                // Unrecorded: SIGKILL (which it cannot catch), or an exit
                // it did not make through us.
                None if death.status == libc::SIGKILL => RestartCause::Signal(libc::SIGKILL),
                None => RestartCause::Exit,
            },
        }
    }
}

/// Word offsets inside one application group's entry.
mod entry {
    use super::{DURATION_BUCKETS, NAME_WORDS, QUEUE_BUCKETS, STATUS_CLASSES};

    /// 0 free, 1 being claimed, 2 named.
    pub const STATE: usize = 0;
    pub const NAME_LEN: usize = 1;
    pub const NAME: usize = 2;
    pub const REQUESTS: usize = NAME + NAME_WORDS;
    /// One word per bucket, then one for beyond the last, then the sum in
    /// microseconds.
    pub const DURATION: usize = REQUESTS + STATUS_CLASSES.len();
    pub const QUEUE: usize = DURATION + DURATION_BUCKETS.len() + 2;
    pub const IN_FLIGHT: usize = QUEUE + QUEUE_BUCKETS.len() + 2;
    pub const EXCEPTIONS: usize = IN_FLIGHT + 1;
    pub const WORDS: usize = EXCEPTIONS + 1;
}

const FREE: u64 = 0;
const CLAIMING: u64 = 1;
const NAMED: u64 = 2;

/// Entries: the named ones, then the overflow entry.
const ENTRIES: usize = APPLICATION_GROUPS + 1;
const RESTARTS: usize = ENTRIES * entry::WORDS;
const SIGNAL_RESTARTS: usize = RESTARTS + CAUSES.len();
const STACKS_ASKED: usize = SIGNAL_RESTARTS + SIGNALS;
const WORDS: usize = STACKS_ASKED + 1;

/// A histogram as read: the count in each bucket (not cumulative; the last
/// is beyond the highest bound) and the sum of the observations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    pub counts: Vec<u64>,
    pub sum_micros: u64,
}

impl Histogram {
    fn add(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.wrapping_add(*theirs);
        }
        self.sum_micros = self.sum_micros.wrapping_add(other.sum_micros);
    }
}

/// One application group's counters, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationCounts {
    pub name: String,
    /// By [`STATUS_CLASSES`].
    pub requests: [u64; 6],
    pub duration: Histogram,
    pub queue: Histogram,
    pub in_flight: u64,
    pub exceptions: u64,
}

/// A table as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupCounts {
    /// Sorted by name, one per name.
    pub applications: Vec<ApplicationCounts>,
    /// (cause label, signal name for signals, count): every cause, and the
    /// signals that killed a process.
    pub restarts: Vec<(&'static str, Option<String>, u64)>,
}

pub struct GroupMetrics {
    words: *mut AtomicU64,
    /// Which entry each name has, as this process found it: a handful of
    /// names, where a scan beats hashing.
    entries: RwLock<Vec<(Box<str>, usize)>>,
}

// SAFETY: the mapping lives until `unmap` and is only accessed through
// atomics.
unsafe impl Send for GroupMetrics {}
// SAFETY: as above.
unsafe impl Sync for GroupMetrics {}

impl std::fmt::Debug for GroupMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GroupMetrics")
    }
}

fn bucket(bounds: &[f64], value: Duration) -> usize {
    let seconds = value.as_secs_f64();
    bounds
        .iter()
        .position(|bound| seconds <= *bound)
        .unwrap_or(bounds.len())
}

/// The index in [`STATUS_CLASSES`] of an HTTP status.
pub fn status_class(status: u16) -> usize {
    match status / 100 {
        class @ 1..=5 => usize::from(class) - 1,
        _ => STATUS_CLASSES.len() - 1,
    }
}

impl GroupMetrics {
    /// A zeroed table; None if the memory cannot be mapped (the group then
    /// goes uncounted).
    pub fn new() -> Option<GroupMetrics> {
        let words = crate::groups::shared_words::map(WORDS).ok()?;
        Some(GroupMetrics {
            words: words.as_ptr(),
            entries: RwLock::new(Vec::new()),
        })
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        let index = index.min(WORDS - 1);
        // SAFETY: inside the mapping (index clamped), which lives as long
        // as self.
        unsafe { &*self.words.add(index) }
    }

    fn entry_word(&self, entry: usize, offset: usize) -> &AtomicU64 {
        self.word(entry.min(ENTRIES - 1) * entry::WORDS + offset)
    }

    fn name_of(&self, entry: usize) -> Option<Vec<u8>> {
        if self.entry_word(entry, entry::STATE).load(Ordering::Acquire) != NAMED {
            return None;
        }
        let length = (self
            .entry_word(entry, entry::NAME_LEN)
            .load(Ordering::Relaxed) as usize)
            .min(NAME_BYTES);
        let mut bytes = Vec::with_capacity(NAME_BYTES);
        for word in 0..NAME_WORDS {
            bytes.extend_from_slice(
                &self
                    .entry_word(entry, entry::NAME + word)
                    .load(Ordering::Relaxed)
                    .to_le_bytes(),
            );
        }
        bytes.truncate(length);
        Some(bytes)
    }

    /// The entry of `name`: found in the table, else claimed (the overflow
    /// entry when none is free or the name does not fit).
    fn find_or_claim(&self, name: &str) -> usize {
        if name.len() > NAME_BYTES {
            return APPLICATION_GROUPS;
        }
        for entry in 0..APPLICATION_GROUPS {
            match self.entry_word(entry, entry::STATE).load(Ordering::Acquire) {
                NAMED if self.name_of(entry).as_deref() == Some(name.as_bytes()) => return entry,
                FREE => {
                    if self
                        .entry_word(entry, entry::STATE)
                        .compare_exchange(FREE, CLAIMING, Ordering::Acquire, Ordering::Relaxed)
                        .is_err()
                    {
                        continue;
                    }
                    let mut padded = [0u8; NAME_BYTES];
                    padded[..name.len()].copy_from_slice(name.as_bytes());
                    for (word, chunk) in padded.chunks_exact(8).enumerate() {
                        let mut value = [0u8; 8];
                        value.copy_from_slice(chunk);
                        self.entry_word(entry, entry::NAME + word)
                            .store(u64::from_le_bytes(value), Ordering::Relaxed);
                    }
                    self.entry_word(entry, entry::NAME_LEN)
                        .store(name.len() as u64, Ordering::Relaxed);
                    self.entry_word(entry, entry::STATE)
                        .store(NAMED, Ordering::Release);
                    return entry;
                }
                _ => {}
            }
        }
        APPLICATION_GROUPS
    }

    /// The counters of application group `name`.
    pub fn application(&self, name: &str) -> Application<'_> {
        let known = |entries: &[(Box<str>, usize)]| {
            entries
                .iter()
                .find(|(known, _)| **known == *name)
                .map(|(_, entry)| *entry)
        };
        if let Some(entry) = known(&self.entries.read()) {
            return Application { table: self, entry };
        }
        let mut entries = self.entries.write();
        let entry = known(&entries).unwrap_or_else(|| self.find_or_claim(name));
        // Bounded, should names come from requests (%{ENV:...}): beyond
        // it, names are looked up in the table each time.
        if known(&entries).is_none() && entries.len() < 2 * APPLICATION_GROUPS {
            entries.push((name.into(), entry));
        }
        Application { table: self, entry }
    }

    pub fn count_restart(&self, cause: RestartCause) {
        let index = match cause {
            RestartCause::Signal(signal) if (1..=SIGNALS as i32).contains(&signal) => {
                SIGNAL_RESTARTS + signal as usize - 1
            }
            RestartCause::Signal(_) => RESTARTS + CAUSES.len() - 1,
            other => RESTARTS + CAUSES.iter().position(|(c, _)| *c == other).unwrap_or(0),
        };
        self.word(index).fetch_add(1, Ordering::Relaxed);
    }

    /// Asks every process of the group to log the stacks of its requests
    /// in flight.
    pub fn ask_for_stacks(&self) {
        self.word(STACKS_ASKED).fetch_add(1, Ordering::Release);
    }

    /// How many times stacks were asked for (a process compares it with
    /// the count it last answered).
    pub fn stacks_asked(&self) -> u64 {
        self.word(STACKS_ASKED).load(Ordering::Acquire)
    }

    fn histogram(&self, entry: usize, offset: usize, buckets: usize) -> Histogram {
        Histogram {
            counts: (0..=buckets)
                .map(|b| self.entry_word(entry, offset + b).load(Ordering::Relaxed))
                .collect(),
            sum_micros: self
                .entry_word(entry, offset + buckets + 1)
                .load(Ordering::Relaxed),
        }
    }

    /// Everything counted so far.
    pub fn read(&self) -> GroupCounts {
        let mut by_name: std::collections::BTreeMap<String, ApplicationCounts> =
            std::collections::BTreeMap::new();
        for entry in 0..ENTRIES {
            let name = if entry == APPLICATION_GROUPS {
                OVERFLOW.to_string()
            } else {
                match self.name_of(entry) {
                    Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    None => continue,
                }
            };
            let word = |offset: usize| self.entry_word(entry, offset).load(Ordering::Relaxed);
            let mut requests = [0u64; 6];
            for (class, count) in requests.iter_mut().enumerate() {
                *count = word(entry::REQUESTS + class);
            }
            let counts = ApplicationCounts {
                name: name.clone(),
                requests,
                duration: self.histogram(entry, entry::DURATION, DURATION_BUCKETS.len()),
                queue: self.histogram(entry, entry::QUEUE, QUEUE_BUCKETS.len()),
                in_flight: word(entry::IN_FLIGHT),
                exceptions: word(entry::EXCEPTIONS),
            };
            if entry == APPLICATION_GROUPS && counts == ApplicationCounts::default_named(&name) {
                continue;
            }
            let total = by_name
                .entry(name.clone())
                .or_insert_with(|| ApplicationCounts::default_named(&name));
            for (mine, theirs) in total.requests.iter_mut().zip(counts.requests) {
                *mine = mine.wrapping_add(theirs);
            }
            total.duration.add(&counts.duration);
            total.queue.add(&counts.queue);
            total.in_flight = total.in_flight.wrapping_add(counts.in_flight);
            total.exceptions = total.exceptions.wrapping_add(counts.exceptions);
        }
        let mut restarts = Vec::new();
        // Every cause, counted or not, so that queries find a series.
        for (index, (_, label)) in CAUSES.iter().enumerate() {
            let count = self.word(RESTARTS + index).load(Ordering::Relaxed);
            restarts.push((*label, None, count));
        }
        for signal in 1..=SIGNALS {
            let count = self
                .word(SIGNAL_RESTARTS + signal - 1)
                .load(Ordering::Relaxed);
            if count > 0 {
                restarts.push((
                    "signal",
                    Some(crate::groups::board::signal_name(signal as i32)),
                    count,
                ));
            }
        }
        GroupCounts {
            applications: by_name.into_values().collect(),
            restarts,
        }
    }

    /// Releases the memory.
    ///
    /// # Safety
    /// Nothing in this process may use the table afterwards.
    pub unsafe fn unmap(&self) {
        if let Some(words) = std::ptr::NonNull::new(self.words) {
            // SAFETY: per the contract; the mapping was made by `new`.
            unsafe { crate::groups::shared_words::unmap(words, WORDS) };
        }
    }
}

impl ApplicationCounts {
    /// Nothing counted yet: what `read` adds each entry to.
    fn default_named(name: &str) -> ApplicationCounts {
        ApplicationCounts {
            name: name.to_string(),
            duration: Histogram {
                counts: vec![0; DURATION_BUCKETS.len() + 1],
                sum_micros: 0,
            },
            queue: Histogram {
                counts: vec![0; QUEUE_BUCKETS.len() + 1],
                sum_micros: 0,
            },
            ..ApplicationCounts::default()
        }
    }
}

/// One application group's entry in a table.
#[derive(Clone, Copy)]
pub struct Application<'t> {
    table: &'t GroupMetrics,
    entry: usize,
}

impl<'t> Application<'t> {
    fn word(&self, offset: usize) -> &'t AtomicU64 {
        self.table.entry_word(self.entry, offset)
    }

    fn observe(&self, offset: usize, bounds: &[f64], value: Duration) {
        self.word(offset + bucket(bounds, value))
            .fetch_add(1, Ordering::Relaxed);
        self.word(offset + bounds.len() + 1)
            .fetch_add(value.as_micros() as u64, Ordering::Relaxed);
    }

    /// A request starts: it counts as in flight until the returned guard
    /// is finished (or dropped, uncounted, should the handler unwind).
    pub fn begin(self) -> InFlight<'t> {
        self.word(entry::IN_FLIGHT).fetch_add(1, Ordering::Relaxed);
        InFlight {
            application: self,
            started: Instant::now(),
        }
    }

    pub fn count_exceptions(&self, count: u64) {
        if count > 0 {
            self.word(entry::EXCEPTIONS)
                .fetch_add(count, Ordering::Relaxed);
        }
    }

    /// The time a request waited between the Apache child and a daemon
    /// thread.
    pub fn observe_queue_wait(&self, waited: Duration) {
        self.observe(entry::QUEUE, &QUEUE_BUCKETS, waited);
    }
}

/// A request being counted as in flight.
pub struct InFlight<'t> {
    application: Application<'t>,
    started: Instant,
}

impl InFlight<'_> {
    /// The request was answered with `status`.
    pub fn finish(self, status: u16) {
        let application = self.application;
        application.observe(entry::DURATION, &DURATION_BUCKETS, self.started.elapsed());
        application
            .word(entry::REQUESTS + status_class(status))
            .fetch_add(1, Ordering::Relaxed);
        // Dropping self leaves the in-flight count.
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let _ = self.application.word(entry::IN_FLIGHT).fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |n| n.checked_sub(1),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> GroupMetrics {
        GroupMetrics::new().unwrap()
    }

    #[test]
    fn requests_count_by_application_group_and_status_class() {
        let metrics = table();
        for status in [200, 204, 302, 404, 500, 500, 99] {
            metrics.application("one").begin().finish(status);
        }
        metrics.application("").begin().finish(200);
        let in_flight = metrics.application("one").begin();
        let counts = metrics.read();
        let names: Vec<&str> = counts
            .applications
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, ["", "one"]);
        let one = &counts.applications[1];
        assert_eq!(one.requests, [0, 2, 1, 1, 2, 1]);
        assert_eq!(one.in_flight, 1);
        assert_eq!(one.duration.counts.iter().sum::<u64>(), 7);
        drop(in_flight);
        assert_eq!(metrics.read().applications[1].in_flight, 0);
        // SAFETY: nothing uses it afterwards.
        unsafe { metrics.unmap() };
    }

    #[test]
    fn durations_land_in_their_buckets() {
        assert_eq!(bucket(&DURATION_BUCKETS, Duration::from_millis(1)), 0);
        assert_eq!(bucket(&DURATION_BUCKETS, Duration::from_millis(5)), 0);
        assert_eq!(bucket(&DURATION_BUCKETS, Duration::from_millis(6)), 1);
        assert_eq!(bucket(&DURATION_BUCKETS, Duration::from_secs(61)), 13);
        let metrics = table();
        let app = metrics.application("q");
        app.observe_queue_wait(Duration::from_micros(300));
        app.observe_queue_wait(Duration::from_secs(20));
        let queue = &metrics.read().applications[0].queue;
        assert_eq!(queue.counts[0], 1);
        assert_eq!(queue.counts[QUEUE_BUCKETS.len()], 1);
        assert_eq!(queue.sum_micros, 20_000_300);
        // SAFETY: nothing uses it afterwards.
        unsafe { metrics.unmap() };
    }

    #[test]
    fn names_beyond_the_table_count_as_other() {
        let metrics = table();
        for n in 0..APPLICATION_GROUPS + 3 {
            metrics
                .application(&format!("group-{n}"))
                .begin()
                .finish(200);
        }
        metrics
            .application(&"x".repeat(NAME_BYTES + 1))
            .count_exceptions(2);
        let counts = metrics.read();
        assert_eq!(counts.applications.len(), APPLICATION_GROUPS + 1);
        let other = counts
            .applications
            .iter()
            .find(|a| a.name == OVERFLOW)
            .unwrap();
        assert_eq!(other.requests[1], 3);
        assert_eq!(other.exceptions, 2);
        // SAFETY: nothing uses it afterwards.
        unsafe { metrics.unmap() };
    }

    #[test]
    fn entries_claimed_twice_for_a_name_add_up() {
        let metrics = table();
        metrics.application("twice").begin().finish(200);
        // Another process, unaware of the first entry, claims another.
        let second = metrics.find_or_claim("twice");
        assert_eq!(second, 0);
        let other_process = GroupMetrics {
            words: metrics.words,
            entries: RwLock::new(Vec::new()),
        };
        // Claim a fresh entry directly, as a racing process could.
        other_process
            .entry_word(1, entry::STATE)
            .store(CLAIMING, Ordering::Relaxed);
        other_process
            .entry_word(1, entry::NAME)
            .store(u64::from_le_bytes(*b"twice\0\0\0"), Ordering::Relaxed);
        other_process
            .entry_word(1, entry::NAME_LEN)
            .store(5, Ordering::Relaxed);
        other_process
            .entry_word(1, entry::STATE)
            .store(NAMED, Ordering::Release);
        Application {
            table: &other_process,
            entry: 1,
        }
        .begin()
        .finish(500);
        let counts = metrics.read();
        assert_eq!(counts.applications.len(), 1);
        assert_eq!(counts.applications[0].requests, [0, 1, 0, 0, 1, 0]);
        // SAFETY: nothing uses it afterwards.
        unsafe { metrics.unmap() };
    }

    #[test]
    fn restarts_count_by_cause_and_signal() {
        let metrics = table();
        let death = |stop, end, status| Death {
            pid: 1,
            status,
            end,
            stop,
            peak_rss_kib: 0,
        };
        let causes = [
            death(Some(StopReason::MaximumRequests(5)), Some(End::Exit(0)), 0),
            death(Some(StopReason::MaximumRequests(5)), Some(End::Exit(0)), 0),
            death(None, Some(End::Signal(11)), 11),
            death(None, None, libc::SIGKILL),
            death(None, None, 3),
            death(Some(StopReason::MemoryLimit), Some(End::Exit(0)), 0),
        ];
        for death in &causes {
            metrics.count_restart(RestartCause::of(death));
        }
        let counted: Vec<_> = metrics
            .read()
            .restarts
            .into_iter()
            .filter(|(_, _, count)| *count > 0)
            .collect();
        assert_eq!(
            counted,
            vec![
                ("maximum-requests", None, 2),
                ("memory-limit", None, 1),
                ("exit", None, 1),
                ("signal", Some("SIGKILL".to_string()), 1),
                ("signal", Some("SIGSEGV".to_string()), 1),
            ]
        );
        // SAFETY: nothing uses it afterwards.
        unsafe { metrics.unmap() };
    }

    #[test]
    fn garbage_in_the_table_reads_safely() {
        let metrics = table();
        // A daemon's application could write anything into its own table.
        for index in 0..WORDS {
            metrics
                .word(index)
                .store(u64::MAX - index as u64, Ordering::Relaxed);
        }
        metrics
            .entry_word(3, entry::STATE)
            .store(NAMED, Ordering::Relaxed);
        let counts = metrics.read();
        assert!(
            counts
                .applications
                .iter()
                .any(|a| a.name.len() <= NAME_BYTES)
        );
        metrics.application("after").begin().finish(200);
        // SAFETY: nothing uses it afterwards.
        unsafe { metrics.unmap() };
    }
}
