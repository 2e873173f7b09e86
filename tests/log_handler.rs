//! `mod_wsgi.LogHandler`: Python logging lands in Apache's error log at
//! the record's level, in the request's context inside a request, so that
//! `LogLevel wsgi:LEVEL` filters it.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn line_with<'a>(log: &'a str, text: &str) -> Option<&'a str> {
    log.lines().find(|line| line.contains(text))
}

fn wait_for(apache: &Apache, text: &str) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let log = apache.error_log();
        if log.contains(text) {
            return log;
        }
        assert!(Instant::now() < until, "no {text:?} in:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn records_keep_their_level(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/app", "log_handler_app.wsgi", "")
        .with(|b| b.log_level("info"))
        .start();
    assert_eq!(apache.get("/app/").text(), "logged");
    let log = wait_for(&apache, "ZeroDivisionError: division by zero");
    for (text, level) in [
        ("an info line", "[wsgi:info]"),
        ("a warning line", "[wsgi:warn]"),
        ("an error line", "[wsgi:error]"),
        ("a critical line", "[wsgi:crit]"),
        ("it failed", "[wsgi:error]"),
        ("ZeroDivisionError: division by zero", "[wsgi:error]"),
    ] {
        let line = line_with(&log, text).unwrap_or_else(|| panic!("no {text:?}:\n{log}"));
        assert!(line.contains(level), "{level} for {text:?}: {line}");
        // Inside a request: its client (embedded) or remote (daemon).
        assert!(
            line.contains("[client 127.0.0.1") || line.contains("[remote 127.0.0.1"),
            "no request context: {line}"
        );
    }
    assert!(
        line_with(&log, "a debug line").is_none(),
        "LogLevel info shows debug:\n{log}"
    );
    let loaded = line_with(&log, "loaded outside any request").expect("the import-time record");
    assert!(
        loaded.contains("[wsgi:warn]") && !loaded.contains("[client "),
        "{loaded}"
    );
}

fn log_level_filters_application_logging(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/app", "log_handler_app.wsgi", "")
        .with(|b| b.log_level("info wsgi:warn"))
        .start();
    assert_eq!(apache.get("/app/").text(), "logged");
    let log = wait_for(&apache, "a critical line");
    assert!(line_with(&log, "a warning line").is_some(), "{log}");
    assert!(
        line_with(&log, "an info line").is_none(),
        "wsgi:warn let info through:\n{log}"
    );
}

wsgi_tests!(
    records_keep_their_level,
    log_level_filters_application_logging
);
