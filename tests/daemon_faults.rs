//! Daemon processes that die under load or crash: what is lost (only what
//! the dead process was running), and what the client and the error log
//! are told (502 and one line naming the process, how it ended, for how
//! long the request had run, and its peak memory).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

fn site(options: &str) -> Apache {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .mount_app("/crash", "crash_app.wsgi", "")
        .daemon_option(options)
        .start();
    let marks = apache.root().join("marks");
    std::fs::create_dir(&marks).unwrap();
    std::fs::set_permissions(&marks, std::fs::Permissions::from_mode(0o777)).unwrap();
    apache
}

/// The live daemon processes of the test group.
fn daemons(apache: &Apache) -> BTreeSet<i32> {
    apache
        .child_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"(wsgi:wsgi-test)"))
        })
        .collect()
}

fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    condition()
}

/// For each pid, how many pieces of work started (marks/log) and were
/// never answered (their token in a 200 response): the requests whose
/// application code was running when the process went away.
fn started_unanswered(apache: &Apache, report: &LoadReport) -> BTreeMap<i32, usize> {
    let log = std::fs::read_to_string(apache.root().join("marks/log")).unwrap_or_default();
    let answered: BTreeSet<String> = report
        .samples
        .iter()
        .filter(|s| s.outcome == Outcome::Status(200))
        .map(|s| String::from_utf8_lossy(&s.body).into_owned())
        .collect();
    let mut unanswered = BTreeMap::new();
    for token in log.lines().filter_map(|line| line.strip_prefix("S ")) {
        if !answered.contains(token) {
            let pid = token.split('-').next().unwrap().parse().unwrap();
            *unanswered.entry(pid).or_insert(0) += 1;
        }
    }
    unanswered
}

fn the_log_line<'a>(log: &'a str, needle: &str) -> Option<&'a str> {
    log.lines().find(|line| line.contains(needle))
}

/// `kill -9` of one of two daemon processes, three times, while 8 clients
/// keep requests coming: the only requests that fail are those whose
/// application code was running in the killed process (at most one per
/// thread: started, by the application's own mark, and never answered);
/// the ones it had not started yet, queued on its socket or on
/// connections to it, are served by the other process. Each failure is a
/// 502 whose log line names the killed process and the signal.
#[test]
fn a_killed_daemon_loses_only_what_it_was_running() {
    let threads = 4;
    let apache = site(&format!("processes=2 threads={threads}"));
    assert!(
        wait_until(Duration::from_secs(10), || daemons(&apache).len() == 2),
        "{:?}",
        daemons(&apache)
    );
    assert_eq!(apache.get("/crash").status, 200);
    // Each request holds the GIL for 20 ms, so most requests in a process
    // wait for it while one runs.
    let load = Load::start(apache.port(), 8, "/crash?work=20000");
    thread::sleep(Duration::from_millis(1500));
    let mut killed = Vec::new();
    for _ in 0..3 {
        let before = daemons(&apache);
        let victim = *before.iter().next().unwrap();
        // SAFETY: kill(2) on a daemon process of our own server.
        unsafe { libc::kill(victim, libc::SIGKILL) };
        killed.push(victim);
        assert!(
            wait_until(Duration::from_secs(10), || {
                let now = daemons(&apache);
                now.len() == 2 && !now.contains(&victim)
            }),
            "not replaced: {:?}",
            daemons(&apache)
        );
        thread::sleep(Duration::from_millis(1500));
    }
    let report = load.finish();
    let log = apache.error_log();
    let unfinished = started_unanswered(&apache, &report);
    let running: usize = killed
        .iter()
        .map(|pid| unfinished.get(pid).copied().unwrap_or(0))
        .sum();
    let failures = report.failures();
    assert!(
        report.samples.len() > 300,
        "too few requests: {}",
        report.summary()
    );
    assert!(
        failures.len() <= running,
        "{} requests failed, {running} were running in the killed processes {killed:?} \
         (started and unanswered by pid: {unfinished:?})\n{}\n--- error_log ---\n{log}",
        failures.len(),
        report.summary()
    );
    assert!(running <= threads * killed.len(), "{unfinished:?}");
    for failure in &failures {
        assert_eq!(
            failure.outcome,
            Outcome::Status(502),
            "{}",
            report.summary()
        );
    }
    if !failures.is_empty() {
        let named = killed.iter().any(|pid| {
            the_log_line(
                &log,
                &format!(
                    "Daemon process 'wsgi-test' pid {pid} killed by signal 9 (SIGKILL) \
                     while running GET /crash?work=20000 after"
                ),
            )
            .is_some()
        });
        assert!(named, "--- error_log ---\n{log}");
    }
}

/// The error-log line of a request whose daemon process died says how,
/// after how long and with how much memory; the client gets 502.
#[test]
fn a_crashed_daemon_says_why_in_the_request_log_line() {
    let apache = site("processes=1 threads=2");
    for (query, how) in [
        ("crash=segv", "killed by signal 11 (SIGSEGV)"),
        ("crash=abort", "killed by signal 6 (SIGABRT)"),
        (
            "crash=exit",
            "exited with status 3 (not through mod_wsgi: os._exit() or a C exit)",
        ),
        ("hog=300", "killed by signal 9 (SIGKILL)"),
    ] {
        let pid: i32 = apache.get("/crash").text().parse().unwrap();
        let sent = Instant::now();
        let response = apache.get(&format!("/crash?{query}"));
        let took = sent.elapsed();
        assert_eq!(
            response.status,
            502,
            "{query}: {response:?}\n{}",
            apache.error_log()
        );
        assert!(took < Duration::from_secs(4), "{query}: took {took:?}");
        let log = apache.error_log();
        let needle = format!(
            "Daemon process 'wsgi-test' pid {pid} {how} while running GET /crash?{query} after "
        );
        let line = the_log_line(&log, &needle)
            .unwrap_or_else(|| panic!("{query}: no {needle:?} in\n{log}"));
        let peak: u64 = line
            .split("; peak RSS ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{query}: no peak RSS in {line}"));
        if query.starts_with("hog") {
            assert!(peak >= 300, "{query}: {line}");
        } else {
            assert!(peak > 0, "{query}: {line}");
        }
        // The parent's own line says the same.
        assert!(
            log.contains(&format!("Process 'wsgi-test' (pid {pid}) has died ({how}")),
            "{query}:\n{log}"
        );
        assert!(
            wait_until(Duration::from_secs(10), || daemons(&apache).len() == 1),
            "{query}: not replaced"
        );
    }
}

/// A process that cpu-time-limit stops while a request is still running
/// after the shutdown timeout: the request's line says so.
#[test]
fn a_request_ended_by_cpu_time_limit_says_so() {
    let apache =
        site("processes=1 threads=2 cpu-time-limit=1 graceful-timeout=1 shutdown-timeout=1");
    let pid: i32 = apache.get("/crash").text().parse().unwrap();
    let response = apache.get("/crash?burn=30");
    assert_eq!(response.status, 502, "{response:?}\n{}", apache.error_log());
    let log = apache.error_log();
    let needle = format!(
        "Daemon process 'wsgi-test' pid {pid} exited with status 0 after it stopped because \
         cpu-time-limit (1 s) was reached while running GET /crash?burn=30 after "
    );
    assert!(log.contains(&needle), "no {needle:?} in\n{log}");
}

/// A process at its memory-limit, whose request ran out of memory, is
/// replaced gracefully instead of answering MemoryError forever; the log
/// says why.
#[test]
fn a_process_out_of_memory_is_recycled() {
    let apache = site("processes=1 threads=2 memory-limit=268435456 graceful-timeout=5");
    let pid: i32 = apache.get("/crash").text().parse().unwrap();
    let response = apache.get("/crash?allocate=1024");
    assert_eq!(response.status, 500, "{response:?}\n{}", apache.error_log());
    let log_has = |needle: &str| apache.wait_for_log(needle, Duration::from_secs(10));
    assert!(log_has("MemoryError"), "{}", apache.error_log());
    assert!(
        log_has("a request ran out of memory (memory-limit), restarting"),
        "{}",
        apache.error_log()
    );
    assert!(
        log_has(&format!(
            "Process 'wsgi-test' (pid {pid}) has died (exited with status 0 after it stopped \
             because a request ran out of memory (memory-limit)"
        )),
        "{}",
        apache.error_log()
    );
    let replaced = wait_until(Duration::from_secs(10), || {
        let response = apache.get("/crash");
        response.status == 200 && response.text().parse::<i32>().ok() != Some(pid)
    });
    assert!(replaced, "{}", apache.error_log());
}

/// interrupt-timeout (mod_wsgi 6.0): a request over request-timeout gets
/// `mod_wsgi.RequestTimeout` in its own thread; one that unwinds is
/// answered 504 and the process and its other requests go on. Its stack
/// is logged first, then the injection and the recovery (no traceback).
#[test]
fn interrupt_timeout_ends_only_the_request() {
    let apache = site("processes=1 threads=1 request-timeout=1 interrupt-timeout=5");
    let pid: i32 = apache.get("/crash").text().parse().unwrap();
    let sent = Instant::now();
    let response = apache.get("/crash?burn=20");
    let took = sent.elapsed();
    assert_eq!(response.status, 504, "{response:?}\n{}", apache.error_log());
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let log = apache.error_log();
    let line = the_log_line(
        &log,
        "request-timeout (1 s) reached, interrupting it (interrupt-timeout 5 s): thread 0x",
    )
    .unwrap_or_else(|| panic!("no interruption logged:\n{log}"));
    assert!(line.contains("running GET /crash?burn=20 for 1."), "{line}");
    assert!(
        log.lines()
            .any(|l| l.contains("crash_app.wsgi\", line") && l.contains("in application")),
        "no stack:\n{log}"
    );
    // As mod_wsgi 6 words them: the injection, then the thread's
    // recovery instead of a traceback.
    assert!(
        log.contains("Injected RequestTimeout into thread 0x"),
        "no injection logged:\n{log}"
    );
    assert!(
        log.contains("Request interrupted by RequestTimeout; thread recovered."),
        "no recovery logged:\n{log}"
    );
    assert!(!log.contains("RequestTimeout exception raised"), "{log}");
    // The same process goes on serving.
    let again: i32 = apache.get("/crash").text().parse().unwrap();
    assert_eq!(again, pid, "the process was replaced:\n{log}");
    assert!(!log.contains("request time limit exceeded"), "{log}");
}

/// A request that does not unwind within interrupt-timeout (it sits in a
/// C call) ends the process as request-timeout alone would, with the
/// stacks of the running requests logged first.
#[test]
fn a_request_that_ignores_the_interruption_ends_the_process() {
    let apache = site("processes=1 threads=1 request-timeout=1 interrupt-timeout=1");
    let pid: i32 = apache.get("/crash").text().parse().unwrap();
    let sent = Instant::now();
    let response = apache.get("/crash?sleep=30");
    let took = sent.elapsed();
    assert_eq!(response.status, 504, "{response:?}\n{}", apache.error_log());
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let log = apache.error_log();
    assert!(
        log.contains("request-timeout (1 s) reached, interrupting it"),
        "{log}"
    );
    let stopping = the_log_line(&log, "stopping (request-timeout of 1 s): thread 0x")
        .unwrap_or_else(|| panic!("no stacks before stopping:\n{log}"));
    assert!(
        stopping.contains("running GET /crash?sleep=30 for "),
        "{stopping}"
    );
    assert!(
        log.contains(&format!(
            "Daemon process 'wsgi-test' pid {pid} ended the request because request-timeout \
             (1 s) was reached while running GET /crash?sleep=30 after "
        )),
        "{log}"
    );
    let replaced = wait_until(Duration::from_secs(15), || {
        let response = apache.get("/crash");
        response.status == 200 && response.text().parse::<i32>().ok() != Some(pid)
    });
    assert!(replaced, "{}", apache.error_log());
}

/// Without interrupt-timeout, request-timeout ends the process and logs
/// the stack of every running request first (as mod_wsgi 4.9.4 does);
/// deadlock-timeout does the same, reading the stacks without the GIL.
#[test]
fn timeouts_that_end_the_process_log_the_running_stacks() {
    let apache = site("processes=1 threads=1 request-timeout=1");
    let response = apache.get("/crash?sleep=30");
    assert_eq!(response.status, 504, "{response:?}\n{}", apache.error_log());
    let log = apache.error_log();
    let line = the_log_line(&log, "stopping (request-timeout of 1 s): thread 0x")
        .unwrap_or_else(|| panic!("no stacks:\n{log}"));
    assert!(
        line.contains("running GET /crash?sleep=30 for 1."),
        "{line}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("crash_app.wsgi\", line") && l.contains("in application")),
        "{log}"
    );
    drop(apache);

    let apache = site("processes=1 threads=2 deadlock-timeout=1");
    let response = apache.get("/crash?work=8000000");
    assert!(
        (500..600).contains(&response.status),
        "{response:?}\n{}",
        apache.error_log()
    );
    let log = apache.error_log();
    let line = the_log_line(
        &log,
        "stopping (the GIL was held for over deadlock-timeout, 1 s): thread 0x",
    )
    .unwrap_or_else(|| panic!("no stacks:\n{log}"));
    assert!(
        line.contains("running GET /crash?work=8000000 for "),
        "{line}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("crash_app.wsgi\", line") && l.contains("in application")),
        "{log}"
    );
}
