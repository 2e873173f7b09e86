//! Restarting Apache while clients keep sending requests, in both modes: a
//! graceful restart loses nothing and stalls nothing, a hard restart
//! answers no request with a server error.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// The concurrency of the test: 8 clients on keep-alive connections.
const CLIENTS: usize = 8;

const HELLO: &str = "def application(environ, start_response):\n    \
                     start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
                     return [b'hello']\n";

fn hello_site(mpm: Mpm, mode: Mode) -> Apache {
    SiteBuilder::new(mpm, mode)
        .mount("/hello", "hello.wsgi", HELLO, "")
        .with(|b| b.log_level("info"))
        .start()
}

/// Three restarts of `action`, four seconds apart, under load. Returns
/// what the clients saw and, for each restart, how long the processes of
/// the generation before it (Apache children, daemon processes) outlived
/// the start of the restart.
fn restart_under_load(apache: &Apache, restart: fn(&Apache)) -> (LoadReport, Vec<Duration>) {
    assert_eq!(apache.get("/hello").status, 200);
    let load = Load::start(apache.port(), CLIENTS, "/hello");
    thread::sleep(Duration::from_secs(1));
    let mut lingering = Vec::new();
    for _ in 0..3 {
        let old = apache.child_pids();
        let began = Instant::now();
        restart(apache);
        while old.iter().any(|pid| alive(*pid)) && began.elapsed() < Duration::from_secs(4) {
            thread::sleep(Duration::from_millis(10));
        }
        lingering.push(began.elapsed());
        thread::sleep(Duration::from_secs(4).saturating_sub(began.elapsed()));
    }
    (load.finish(), lingering)
}

/// Whether `pid` is a live (non-zombie) process.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next()),
            Some('Z' | 'X') | None
        )
    })
}

fn graceful_restart_loses_and_stalls_nothing(mpm: Mpm, mode: Mode) {
    let apache = hello_site(mpm, mode);
    let (report, lingering) = restart_under_load(&apache, Apache::graceful);
    let log = apache.error_log();
    // The old generation's processes are gone within a second.
    assert!(
        lingering.iter().all(|t| *t < Duration::from_secs(1)),
        "old processes lived {lingering:?} after each graceful restart\n--- error_log ---\n{log}"
    );
    assert!(
        report.samples.len() > 1000,
        "too few requests: {}",
        report.summary()
    );
    assert!(
        report.failures().is_empty(),
        "{}\n--- error_log ---\n{log}",
        report.summary()
    );
    let slowest = report.slowest().map(|s| s.took).unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(1),
        "{}\n--- error_log ---\n{log}",
        report.summary()
    );
    assert!(
        !log.contains("scoreboard is full"),
        "--- error_log ---\n{log}"
    );
    println!(
        "old processes gone after {lingering:?}; {}",
        report.summary()
    );
}

fn hard_restart_answers_no_server_error(mpm: Mpm, mode: Mode) {
    let apache = hello_site(mpm, mode);
    let (report, _) = restart_under_load(&apache, Apache::restart);
    // A hard restart ends Apache's children with their connections; what
    // must not happen is an answer that blames the server.
    let errors = report.count(|o| matches!(o, Outcome::Status(500..=599)));
    assert_eq!(
        errors,
        0,
        "{}\n--- error_log ---\n{}",
        report.summary(),
        apache.error_log()
    );
    assert!(report.count(|o| matches!(o, Outcome::Status(200))) > 1000);
}

wsgi_tests!(
    graceful_restart_loses_and_stalls_nothing,
    hard_restart_answers_no_server_error
);
