//! mod_wsgi's events API in both modes: `subscribe_events`,
//! `subscribe_shutdown`, `request_data()`, `active_requests`, and the
//! events with mod_wsgi 4.9.4's names and keys — including a
//! `request_started` callback replacing the application, a failing
//! callback that is logged and skipped, and `process_stopping` when the
//! server stops.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn events(apache: &Apache) -> Vec<Value> {
    let text = std::fs::read_to_string(apache.root().join("events/log.jsonl")).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

fn keys(entry: &Value) -> Vec<&str> {
    entry["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect()
}

/// The events of the request whose request_started saw `path`, in order:
/// its process's entries from that request_started to its request_finished.
fn request_events<'a>(all: &'a [Value], path: &str) -> Vec<&'a Value> {
    let start = all
        .iter()
        .position(|e| e["name"] == "request_started" && e["path"] == path)
        .unwrap_or_else(|| panic!("no request_started for {path}: {all:#?}"));
    let pid = &all[start]["pid"];
    let mut out = Vec::new();
    for entry in &all[start..] {
        if &entry["pid"] != pid {
            continue;
        }
        out.push(entry);
        if entry["name"] == "request_finished" {
            break;
        }
    }
    out
}

fn site(mpm: Mpm, mode: Mode) -> Apache {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/app", "events_app.wsgi", "")
        .start();
    apache.writable_dir("events");
    apache
}

fn events_follow_each_request(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    let response = apache.get("/app/hello");
    assert_eq!(response.text(), "hello /hello", "{}", apache.error_log());
    let all = events(&apache);

    let imported = all.iter().find(|e| e["name"] == "imported").unwrap();
    assert_eq!(
        imported["request_data_outside"],
        "no active request for thread"
    );
    assert_eq!(imported["has"].as_array().unwrap().len(), 6);

    let hello = request_events(&all, "/hello");
    let names: Vec<&str> = hello.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["request_started", "response_started", "request_finished"]
    );
    assert_eq!(
        keys(hello[0]),
        [
            "application_object",
            "application_start",
            "daemon_connects",
            "daemon_restarts",
            "daemon_start",
            "queue_start",
            "request_data",
            "request_environ",
            "request_id",
            "request_start",
            "thread_id",
        ]
    );
    assert_eq!(
        hello[0]["same_data"], true,
        "request_data() is the event's dict"
    );
    assert_eq!(
        hello[0]["active"], true,
        "active_requests[request_id] is it too"
    );
    assert_eq!(hello[0]["environ_id"], true);
    assert_eq!(
        keys(hello[1]),
        [
            "exception_info",
            "request_data",
            "request_id",
            "response_headers",
            "response_status"
        ]
    );
    assert_eq!(hello[1]["status"], "200 OK");
    let finished = keys(hello[2]);
    for key in [
        "application_finish",
        "application_time",
        "input_length",
        "input_reads",
        "input_time",
        "output_length",
        "output_time",
        "output_writes",
        "request_data",
        "request_id",
    ] {
        assert!(finished.contains(&key), "{key} not in {finished:?}");
    }
    assert_eq!(hello[2]["output_length"], 12);
    assert_eq!(
        hello[2]["started_seen"], true,
        "request_data is shared by the events"
    );

    // The body read is counted.
    let upload = apache.request("POST", "/app/upload", &[], &[b'x'; 3000]);
    assert_eq!(upload.text(), "3000");
    let all = events(&apache);
    let upload = request_events(&all, "/upload");
    assert_eq!(upload.last().unwrap()["input_length"], 3000);
}

fn request_started_may_replace_the_application(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    assert_eq!(
        apache.get("/app/replaced").text(),
        "replaced by request_started"
    );
}

fn exceptions_are_published_after_their_traceback(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    assert_eq!(apache.get("/app/fail").status, 500);
    let all = events(&apache);
    let fail = request_events(&all, "/fail");
    let names: Vec<&str> = fail.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["request_started", "request_exception", "request_finished"]
    );
    assert_eq!(fail[1]["exception"], "ValueError");
    assert_eq!(
        keys(fail[1]),
        ["exception_info", "request_data", "request_id"]
    );
    let log = apache.error_log();
    assert!(log.contains("ValueError: the application failed"), "{log}");
}

fn a_failing_callback_is_logged_and_skipped(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    let response = apache.get("/app/broken-callback");
    assert_eq!(response.text(), "hello /broken-callback");
    let until = Instant::now() + Duration::from_secs(10);
    while !apache
        .error_log()
        .contains("KeyError: 'a callback that fails'")
    {
        assert!(Instant::now() < until, "{}", apache.error_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = apache.error_log();
    assert!(
        log.contains("): Exception occurred within event callback."),
        "{log}"
    );
    // The callbacks after it still ran.
    let all = events(&apache);
    assert_eq!(request_events(&all, "/broken-callback").len(), 3);
}

fn request_data_is_per_request_and_thread(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    assert_eq!(
        apache.get("/app/thread").text(),
        "no active request for thread"
    );
}

fn process_stopping_reaches_both_lists_when_the_server_stops(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    assert_eq!(apache.get("/app/hello").status, 200);
    let pid = request_events(&events(&apache), "/hello")[0]["pid"].clone();
    apache.stop();
    let all = events(&apache);
    let stopping: Vec<&Value> = all
        .iter()
        .filter(|e| e["pid"] == pid && e["name"].as_str().unwrap().contains("process_stopping"))
        .collect();
    let names: Vec<&str> = stopping
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["process_stopping", "shutdown:process_stopping"],
        "{all:#?}"
    );
    assert_eq!(stopping[0]["reason"], "");
}

wsgi_tests!(
    events_follow_each_request,
    request_started_may_replace_the_application,
    exceptions_are_published_after_their_traceback,
    a_failing_callback_is_logged_and_skipped,
    request_data_is_per_request_and_thread,
    process_stopping_reaches_both_lists_when_the_server_stops,
);

/// A daemon stopped by inactivity-timeout says why.
#[test]
fn process_stopping_names_the_daemons_reason() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .daemon_option("inactivity-timeout=1")
        .mount_app("/app", "events_app.wsgi", "")
        .start();
    apache.writable_dir("events");
    assert_eq!(apache.get("/app/hello").status, 200);
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let all = events(&apache);
        if let Some(entry) = all
            .iter()
            .find(|e| e["name"] == "shutdown:process_stopping")
        {
            assert_eq!(entry["reason"], "inactivity_timeout");
            break;
        }
        assert!(
            Instant::now() < until,
            "no process_stopping: {all:#?}\n{}",
            apache.error_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
