//! mod_wsgi's metrics functions: `process_metrics()` (this process since
//! it started), `request_metrics()` (the window since the last call, with
//! mod_wsgi's 16-slot histograms) and `server_metrics()` (Apache's
//! scoreboard, from whoever can read it), with mod_wsgi 4.9.4's keys.
//!
//! The counters are per process, shared by every interpreter, as in
//! mod_wsgi. What a request costs them: a mutex held for a few additions
//! when it starts and when it ends.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use python_embed::objects::{StaticTable, callback, method_noargs};
use python_embed::{PyResultExt, RaisedResult};

/// Histogram slots: ≤ 5 ms, then doubling to ≤ 40.96 s, then more (the
/// last slot stays empty, as in mod_wsgi).
pub const BUCKETS: usize = 16;
const FIRST_BOUND: f64 = 0.005;

/// The slot of a duration in seconds.
pub fn bucket(seconds: f64) -> usize {
    let mut bound = FIRST_BOUND;
    for slot in 0..14 {
        if seconds <= bound {
            return slot;
        }
        bound *= 2.0;
    }
    14
}

fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Thread-seconds spent in requests: the integral of how many run.
#[derive(Default)]
struct Busy {
    active: u64,
    since: Option<Instant>,
    total: f64,
}

impl Busy {
    fn advance(&mut self, now: Instant) {
        if let Some(since) = self.since {
            self.total += self.active as f64 * now.duration_since(since).as_secs_f64();
        }
        self.since = Some(now);
    }
}

/// The open window of `request_metrics()`.
struct Window {
    start: SystemTime,
    start_instant: Instant,
    cpu: (f64, f64),
    busy_at_start: f64,
    count: u64,
    server_time: f64,
    queue_time: f64,
    daemon_time: f64,
    application_time: f64,
    server_buckets: [u64; BUCKETS],
    queue_buckets: [u64; BUCKETS],
    daemon_buckets: [u64; BUCKETS],
    application_buckets: [u64; BUCKETS],
    /// Requests finished per thread id in the window.
    per_thread: Vec<u64>,
}

struct Counters {
    started: OnceLock<SystemTime>,
    completed: AtomicU64,
    busy: Mutex<Busy>,
    /// Request counts of every thread that has run a request, by id.
    threads: Mutex<Vec<(u64, Arc<AtomicU64>)>>,
    recording: AtomicBool,
    window: Mutex<Option<Window>>,
    threads_per_process: AtomicU64,
    in_daemon: AtomicBool,
}

static COUNTERS: Counters = Counters {
    started: OnceLock::new(),
    completed: AtomicU64::new(0),
    busy: Mutex::new(Busy {
        active: 0,
        since: None,
        total: 0.0,
    }),
    threads: Mutex::new(Vec::new()),
    recording: AtomicBool::new(false),
    window: Mutex::new(None),
    threads_per_process: AtomicU64::new(1),
    in_daemon: AtomicBool::new(false),
};

/// Marks when this process began serving and what it is.
pub fn process_started(threads_per_process: u32, in_daemon: bool) {
    let _ = COUNTERS.started.set(SystemTime::now());
    COUNTERS
        .threads_per_process
        .store(u64::from(threads_per_process.max(1)), Ordering::Relaxed);
    COUNTERS.in_daemon.store(in_daemon, Ordering::Relaxed);
}

/// A thread ran its first request: its count joins `threads`.
pub fn register_thread(thread_id: u64) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    COUNTERS
        .threads
        .lock()
        .push((thread_id, Arc::clone(&count)));
    count
}

/// A request is about to call the application.
pub fn request_began() {
    let mut busy = COUNTERS.busy.lock();
    busy.advance(Instant::now());
    busy.active += 1;
}

/// When a finished request passed each stage, in microseconds since the
/// epoch (0: not in this mode).
pub struct Timeline {
    pub request_start: u64,
    pub queue_start: u64,
    pub daemon_start: u64,
    pub application_start: u64,
    pub application_finish: u64,
}

/// A request ended.
pub fn request_ended(thread_id: u64, timeline: &Timeline) {
    {
        let mut busy = COUNTERS.busy.lock();
        busy.advance(Instant::now());
        busy.active = busy.active.saturating_sub(1);
    }
    COUNTERS.completed.fetch_add(1, Ordering::Relaxed);
    if !COUNTERS.recording.load(Ordering::Relaxed) {
        return;
    }
    let span = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1e6;
    let application = span(timeline.application_start, timeline.application_finish);
    let (server, queue, daemon) = if timeline.queue_start != 0 {
        (
            span(timeline.request_start, timeline.queue_start),
            span(timeline.queue_start, timeline.daemon_start),
            span(timeline.daemon_start, timeline.application_start),
        )
    } else {
        (
            span(timeline.request_start, timeline.application_start),
            0.0,
            0.0,
        )
    };
    let in_daemon = COUNTERS.in_daemon.load(Ordering::Relaxed);
    let mut window = COUNTERS.window.lock();
    let Some(w) = window.as_mut() else {
        return;
    };
    w.count += 1;
    w.server_time += server;
    w.application_time += application;
    w.server_buckets[bucket(server)] += 1;
    w.application_buckets[bucket(application)] += 1;
    if in_daemon {
        w.queue_time += queue;
        w.daemon_time += daemon;
        w.queue_buckets[bucket(queue)] += 1;
        w.daemon_buckets[bucket(daemon)] += 1;
    }
    let slot = thread_id.saturating_sub(1) as usize;
    if slot < w.per_thread.len() {
        w.per_thread[slot] += 1;
    }
}

fn process_cpu() -> (f64, f64) {
    use nix::sys::resource::{UsageWho, getrusage};
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    getrusage(UsageWho::RUSAGE_SELF)
        .map_or((0.0, 0.0), |u| (secs(u.user_time()), secs(u.system_time())))
}

fn memory() -> (u64, u64) {
    use nix::sys::resource::{UsageWho, getrusage};
    let max_rss = getrusage(UsageWho::RUSAGE_SELF).map_or(0, |u| u.max_rss().max(0) as u64 * 1024);
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p.max(0) as u64);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page);
    // The kernel's peak lags its per-CPU resident counters a little; a
    // peak below the current size would read as nonsense.
    (max_rss.max(rss), rss)
}

fn busy_total() -> f64 {
    let mut busy = COUNTERS.busy.lock();
    busy.advance(Instant::now());
    busy.total
}

fn process_metrics_dict(py: Python<'_>) -> RaisedResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    let now = SystemTime::now();
    let started = *COUNTERS.started.get_or_init(SystemTime::now);
    let (max_rss, rss) = memory();
    let (user, system) = process_cpu();
    let threads = PyList::empty(py);
    let registered: Vec<(u64, u64)> = COUNTERS
        .threads
        .lock()
        .iter()
        .map(|(id, count)| (*id, count.load(Ordering::Relaxed)))
        .collect();
    for (id, count) in &registered {
        let thread = PyDict::new(py);
        thread.set_item("thread_id", id).raised(py)?;
        thread.set_item("request_count", count).raised(py)?;
        threads.append(thread).raised(py)?;
    }
    let active = COUNTERS.busy.lock().active;
    let running = now.duration_since(started).map_or(0, |d| d.as_secs());
    dict.set_item("pid", std::process::id()).raised(py)?;
    dict.set_item("request_busy_time", busy_total())
        .raised(py)?;
    dict.set_item("request_count", COUNTERS.completed.load(Ordering::Relaxed))
        .raised(py)?;
    dict.set_item("memory_max_rss", max_rss).raised(py)?;
    dict.set_item("memory_rss", rss).raised(py)?;
    dict.set_item("cpu_user_time", user).raised(py)?;
    dict.set_item("cpu_system_time", system).raised(py)?;
    dict.set_item("restart_time", epoch_seconds(started))
        .raised(py)?;
    dict.set_item("current_time", epoch_seconds(now))
        .raised(py)?;
    dict.set_item("running_time", running).raised(py)?;
    dict.set_item("request_threads", registered.len())
        .raised(py)?;
    dict.set_item("active_requests", active).raised(py)?;
    dict.set_item("threads", threads).raised(py)?;
    Ok(dict)
}

fn open_window(threads: usize) -> Window {
    Window {
        start: SystemTime::now(),
        start_instant: Instant::now(),
        cpu: process_cpu(),
        busy_at_start: busy_total(),
        count: 0,
        server_time: 0.0,
        queue_time: 0.0,
        daemon_time: 0.0,
        application_time: 0.0,
        server_buckets: [0; BUCKETS],
        queue_buckets: [0; BUCKETS],
        daemon_buckets: [0; BUCKETS],
        application_buckets: [0; BUCKETS],
        per_thread: vec![0; threads],
    }
}

fn request_metrics_dict(py: Python<'_>) -> RaisedResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    let threads = COUNTERS.threads_per_process.load(Ordering::Relaxed) as usize;
    let finished = {
        let mut window = COUNTERS.window.lock();
        let next = open_window(threads);
        let finished = window.replace(next);
        COUNTERS.recording.store(true, Ordering::Relaxed);
        finished
    };
    // The first call only opens the window, as in mod_wsgi.
    let Some(w) = finished else {
        return Ok(dict);
    };
    let stop = SystemTime::now();
    let period = w.start_instant.elapsed().as_secs_f64();
    let per_second = |v: f64| if period > 0.0 { v / period } else { 0.0 };
    let (user, system) = process_cpu();
    let (max_rss, rss) = memory();
    let busy = busy_total() - w.busy_at_start;
    let mean = |total: f64| {
        if w.count > 0 {
            total / w.count as f64
        } else {
            0.0
        }
    };
    let in_daemon = COUNTERS.in_daemon.load(Ordering::Relaxed);
    let started = COUNTERS.threads.lock().len();
    let active = w.per_thread.iter().filter(|n| **n > 0).count();
    dict.set_item("pid", std::process::id()).raised(py)?;
    dict.set_item("start_time", epoch_seconds(w.start))
        .raised(py)?;
    dict.set_item("stop_time", epoch_seconds(stop)).raised(py)?;
    dict.set_item("sample_period", period).raised(py)?;
    dict.set_item("cpu_user_time", per_second(user - w.cpu.0))
        .raised(py)?;
    dict.set_item("cpu_system_time", per_second(system - w.cpu.1))
        .raised(py)?;
    dict.set_item("memory_max_rss", max_rss).raised(py)?;
    dict.set_item("memory_rss", rss).raised(py)?;
    dict.set_item("request_threads_maximum", threads)
        .raised(py)?;
    dict.set_item("request_threads_started", started)
        .raised(py)?;
    dict.set_item("request_threads_active", active).raised(py)?;
    dict.set_item("request_threads_buckets", w.per_thread.clone())
        .raised(py)?;
    dict.set_item(
        "capacity_utilization",
        per_second(busy) / threads.max(1) as f64,
    )
    .raised(py)?;
    dict.set_item("request_count", w.count).raised(py)?;
    dict.set_item("request_throughput", per_second(w.count as f64))
        .raised(py)?;
    dict.set_item("server_time", mean(w.server_time))
        .raised(py)?;
    if in_daemon {
        dict.set_item("queue_time", mean(w.queue_time)).raised(py)?;
        dict.set_item("daemon_time", mean(w.daemon_time))
            .raised(py)?;
    } else {
        dict.set_item("queue_time", py.None()).raised(py)?;
        dict.set_item("daemon_time", py.None()).raised(py)?;
    }
    dict.set_item("application_time", mean(w.application_time))
        .raised(py)?;
    dict.set_item("server_time_buckets", w.server_buckets.to_vec())
        .raised(py)?;
    dict.set_item("queue_time_buckets", w.queue_buckets.to_vec())
        .raised(py)?;
    dict.set_item("daemon_time_buckets", w.daemon_buckets.to_vec())
        .raised(py)?;
    dict.set_item("application_time_buckets", w.application_buckets.to_vec())
        .raised(py)?;
    Ok(dict)
}

static FUNCTIONS: StaticTable<[ffi::PyMethodDef; 4]> = StaticTable([
    method_noargs(
        c"process_metrics",
        process_metrics,
        c"process_metrics() -> dict: this process since it started",
    ),
    method_noargs(
        c"request_metrics",
        request_metrics,
        c"request_metrics() -> dict: requests since the last call ({} the first time)",
    ),
    method_noargs(
        c"server_metrics",
        server_metrics,
        c"server_metrics() -> dict of Apache's scoreboard, or None when not enabled",
    ),
    ffi::PyMethodDef::zeroed(),
]);

unsafe extern "C" fn process_metrics(
    _: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a CPython callback.
    unsafe { callback(|py| process_metrics_dict(py).map(Bound::into_any)) }
}

unsafe extern "C" fn request_metrics(
    _: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a CPython callback.
    unsafe { callback(|py| request_metrics_dict(py).map(Bound::into_any)) }
}

/// Puts the functions into the interpreter's `mod_wsgi` module.
pub fn install(py: Python<'_>, module: &Bound<'_, pyo3::types::PyModule>) -> RaisedResult<()> {
    let functions = FUNCTIONS.as_ptr().cast::<ffi::PyMethodDef>();
    for (index, name) in ["process_metrics", "request_metrics", "server_metrics"]
        .iter()
        .enumerate()
    {
        // SAFETY: the definitions are static and take no self.
        let function = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyCFunction_NewEx(
                    functions.add(index),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                ),
            )
        }
        .raised(py)?;
        module.setattr(*name, function).raised(py)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn buckets_double_from_five_milliseconds() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(0.005), 0);
        assert_eq!(bucket(0.0051), 1);
        assert_eq!(bucket(0.01), 1);
        assert_eq!(bucket(0.02), 2);
        assert_eq!(bucket(40.96), 13);
        assert_eq!(bucket(41.0), 14);
        assert_eq!(bucket(1e9), 14);
    }
}

/// One worker slot of Apache's scoreboard.
#[derive(Debug, Clone, Default)]
pub struct WorkerSlot {
    pub thread_num: i64,
    pub generation: i64,
    /// mod_status's letter: `_` ready, `R` reading, `W` writing, …
    pub status: char,
    pub access_count: u64,
    pub bytes_served: i64,
    pub start_time: f64,
    pub stop_time: f64,
    pub last_used: f64,
    pub client: String,
    pub request: String,
    pub vhost: String,
}

/// One process slot of Apache's scoreboard.
#[derive(Debug, Clone, Default)]
pub struct ProcessSlot {
    pub pid: i64,
    pub generation: i64,
    pub quiescing: bool,
    pub workers: Vec<WorkerSlot>,
}

/// Apache's scoreboard as `server_metrics()` reports it.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    pub server_limit: i64,
    pub thread_limit: i64,
    pub running_generation: i64,
    /// When Apache last (re)started, seconds since the epoch.
    pub restart_time: f64,
    pub processes: Vec<ProcessSlot>,
}

/// Reads the scoreboard; installed by the processes that may report it
/// (WSGIServerMetrics in Apache's children, server-metrics=On in a
/// daemon group), as mod_wsgi gates `server_metrics()`.
static SCOREBOARD_READER: OnceLock<fn() -> Option<Scoreboard>> = OnceLock::new();

pub fn set_scoreboard_reader(reader: fn() -> Option<Scoreboard>) {
    let _ = SCOREBOARD_READER.set(reader);
}

fn server_metrics_value(py: Python<'_>) -> RaisedResult<Bound<'_, PyAny>> {
    let Some(board) = SCOREBOARD_READER.get().and_then(|read| read()) else {
        return Ok(py.None().into_bound(py));
    };
    let now = epoch_seconds(SystemTime::now());
    let dict = PyDict::new(py);
    dict.set_item("server_limit", board.server_limit)
        .raised(py)?;
    dict.set_item("thread_limit", board.thread_limit)
        .raised(py)?;
    dict.set_item("running_generation", board.running_generation)
        .raised(py)?;
    dict.set_item("restart_time", board.restart_time)
        .raised(py)?;
    dict.set_item("current_time", now).raised(py)?;
    dict.set_item("running_time", (now - board.restart_time).max(0.0) as u64)
        .raised(py)?;
    let processes = PyList::empty(py);
    for (number, process) in board.processes.iter().enumerate() {
        let entry = PyDict::new(py);
        entry.set_item("process_num", number).raised(py)?;
        entry.set_item("pid", process.pid).raised(py)?;
        entry
            .set_item("generation", process.generation)
            .raised(py)?;
        entry.set_item("quiescing", process.quiescing).raised(py)?;
        let workers = PyList::empty(py);
        for worker in &process.workers {
            let w = PyDict::new(py);
            w.set_item("thread_num", worker.thread_num).raised(py)?;
            w.set_item("generation", worker.generation).raised(py)?;
            w.set_item("status", worker.status.to_string()).raised(py)?;
            w.set_item("access_count", worker.access_count).raised(py)?;
            w.set_item("bytes_served", worker.bytes_served).raised(py)?;
            w.set_item("start_time", worker.start_time).raised(py)?;
            w.set_item("stop_time", worker.stop_time).raised(py)?;
            w.set_item("last_used", worker.last_used).raised(py)?;
            w.set_item("client", &worker.client).raised(py)?;
            w.set_item("request", &worker.request).raised(py)?;
            w.set_item("vhost", &worker.vhost).raised(py)?;
            workers.append(w).raised(py)?;
        }
        entry.set_item("workers", workers).raised(py)?;
        processes.append(entry).raised(py)?;
    }
    dict.set_item("processes", processes).raised(py)?;
    Ok(dict.into_any())
}

unsafe extern "C" fn server_metrics(
    _: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a CPython callback.
    unsafe { callback(server_metrics_value) }
}
