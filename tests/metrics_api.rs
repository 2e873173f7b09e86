//! mod_wsgi's metrics functions in both modes, against one process (a
//! single Apache child, or a daemon group of one process):
//! `process_metrics()` since the process started, `request_metrics()` over
//! the window since the last call, with mod_wsgi 4.9.4's keys.

mod common;

use common::*;
use serde_json::Value;

fn single_process_site(mpm: Mpm, mode: Mode) -> Apache {
    let site = SiteBuilder::new(mpm, mode).with(|b| b.mpm_conf(mpm.single_child_tuning()));
    match mode {
        Mode::Daemon => site
            .conf("WSGIDaemonProcess solo processes=1 threads=4\n")
            .mount_app(
                "/m",
                "metrics_app.wsgi",
                "process-group=solo application-group=%{GLOBAL}",
            ),
        Mode::Embedded => site.mount_app("/m", "metrics_app.wsgi", "application-group=%{GLOBAL}"),
    }
    .start()
}

fn json(apache: &Apache, path: &str) -> Value {
    let response = apache.get(path);
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        response.text(),
        apache.error_log()
    );
    serde_json::from_str(&response.text()).expect("JSON")
}

fn sorted_keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

fn process_metrics_count_this_process(mpm: Mpm, mode: Mode) {
    let apache = single_process_site(mpm, mode);
    let pid = json(&apache, "/m/hello")["pid"].clone();
    for _ in 0..3 {
        assert_eq!(json(&apache, "/m/hello")["pid"], pid, "one process");
    }
    let metrics = json(&apache, "/m/process");
    assert_eq!(
        sorted_keys(&metrics),
        [
            "active_requests",
            "cpu_system_time",
            "cpu_user_time",
            "current_time",
            "memory_max_rss",
            "memory_rss",
            "pid",
            "request_busy_time",
            "request_count",
            "request_threads",
            "restart_time",
            "running_time",
            "threads",
        ]
    );
    assert_eq!(metrics["pid"], pid);
    assert_eq!(
        metrics["request_count"], 4,
        "completed requests before this one"
    );
    assert_eq!(metrics["active_requests"], 1, "this one");
    assert!(metrics["memory_rss"].as_u64().unwrap() > 1_000_000);
    assert!(
        metrics["memory_max_rss"].as_u64() >= metrics["memory_rss"].as_u64(),
        "{metrics}"
    );
    assert!(metrics["restart_time"].as_f64() <= metrics["current_time"].as_f64());
    assert!(metrics["request_busy_time"].as_f64().unwrap() > 0.0);
    let threads = metrics["threads"].as_array().unwrap();
    assert_eq!(
        threads.len() as u64,
        metrics["request_threads"].as_u64().unwrap()
    );
    let counted: u64 = threads
        .iter()
        .map(|t| t["request_count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        counted, 5,
        "requests started, this one included: {threads:?}"
    );
    assert!(
        threads
            .iter()
            .all(|t| t["thread_id"].as_u64().unwrap() >= 1)
    );
}

fn request_metrics_report_the_window_since_the_last_call(mpm: Mpm, mode: Mode) {
    let apache = single_process_site(mpm, mode);
    assert_eq!(
        json(&apache, "/m/request"),
        serde_json::json!({}),
        "the first call opens the window"
    );
    for _ in 0..5 {
        json(&apache, "/m/sleep");
    }
    let window = json(&apache, "/m/request");
    assert_eq!(
        sorted_keys(&window),
        [
            "application_time",
            "application_time_buckets",
            "capacity_utilization",
            "cpu_system_time",
            "cpu_user_time",
            "daemon_time",
            "daemon_time_buckets",
            "memory_max_rss",
            "memory_rss",
            "pid",
            "queue_time",
            "queue_time_buckets",
            "request_count",
            "request_threads_active",
            "request_threads_buckets",
            "request_threads_maximum",
            "request_threads_started",
            "request_throughput",
            "sample_period",
            "server_time",
            "server_time_buckets",
            "start_time",
            "stop_time",
        ]
    );
    // The first call's own request finished inside the window, then five.
    assert_eq!(window["request_count"], 6, "{window}");
    let buckets = |key: &str| -> Vec<u64> {
        window[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    let application = buckets("application_time_buckets");
    assert_eq!(application.len(), 16);
    assert_eq!(application.iter().sum::<u64>(), 6);
    // 30 ms sleeps land in the ≤ 40 ms slot (or, on a slow turn, above).
    assert!(application[3..].iter().sum::<u64>() >= 5, "{application:?}");
    assert!(window["application_time"].as_f64().unwrap() >= 0.025);
    let threads: u64 = buckets("request_threads_buckets").iter().sum();
    assert_eq!(threads, 6);
    match mode {
        Mode::Daemon => {
            assert!(window["queue_time"].is_f64(), "{window}");
            assert_eq!(buckets("queue_time_buckets").iter().sum::<u64>(), 6);
            assert_eq!(window["request_threads_maximum"], 4);
        }
        Mode::Embedded => {
            assert!(window["queue_time"].is_null());
            assert!(window["daemon_time"].is_null());
            assert_eq!(buckets("queue_time_buckets").iter().sum::<u64>(), 0);
        }
    }
    // The window was reset: the next one has only the call before it.
    assert_eq!(json(&apache, "/m/request")["request_count"], 1);
}

/// server_metrics() is Apache's scoreboard where mod_wsgi 4.9.4 gives it:
/// in Apache's children unless WSGIServerMetrics Off, in a daemon group
/// only with server-metrics=On; None elsewhere.
fn server_metrics_are_gated_as_in_mod_wsgi(mpm: Mpm, mode: Mode) {
    let gated = |conf: &str, option: &str| {
        // ExtendedStatus: the scoreboard then records each request line.
        let site = SiteBuilder::new(mpm, mode).conf(&format!("ExtendedStatus On\n{conf}"));
        let site = match mode {
            Mode::Daemon => site.daemon_option(option),
            Mode::Embedded => site,
        };
        let apache = site.mount_app("/m", "metrics_app.wsgi", "").start();
        let value = json(&apache, "/m/server");
        (apache, value)
    };
    let (apache, on) = match mode {
        Mode::Embedded => gated("", ""),
        Mode::Daemon => gated("", "server-metrics=On"),
    };
    assert!(on.is_object(), "{on}\n{}", apache.error_log());
    let processes = on["processes"].as_array().unwrap();
    assert_eq!(processes.len() as u64, on["server_limit"].as_u64().unwrap());
    let workers = processes[0]["workers"].as_array().unwrap();
    assert_eq!(workers.len() as u64, on["thread_limit"].as_u64().unwrap());
    let mut keys: Vec<&String> = workers[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "access_count",
            "bytes_served",
            "client",
            "generation",
            "last_used",
            "request",
            "start_time",
            "status",
            "stop_time",
            "thread_num",
            "vhost",
        ]
    );
    // This request is in it, being written.
    let busy = processes
        .iter()
        .flat_map(|p| p["workers"].as_array().unwrap())
        .any(|w| w["status"] == "W" && w["request"].as_str().unwrap().contains("/m/server"));
    assert!(busy, "{on:#}");
    drop(apache);

    let (_apache, off) = match mode {
        Mode::Embedded => gated("WSGIServerMetrics Off\n", ""),
        Mode::Daemon => gated("WSGIServerMetrics On\n", ""),
    };
    assert!(off.is_null(), "{off}");
}

wsgi_tests!(
    process_metrics_count_this_process,
    request_metrics_report_the_window_since_the_last_call,
);

#[test]
fn server_metrics_in_apaches_children_event() {
    server_metrics_are_gated_as_in_mod_wsgi(Mpm::Event, Mode::Embedded);
}

#[test]
fn server_metrics_in_apaches_children_prefork() {
    server_metrics_are_gated_as_in_mod_wsgi(Mpm::Prefork, Mode::Embedded);
}

#[test]
fn server_metrics_in_daemons_event() {
    server_metrics_are_gated_as_in_mod_wsgi(Mpm::Event, Mode::Daemon);
}

#[test]
fn server_metrics_in_daemons_prefork() {
    server_metrics_are_gated_as_in_mod_wsgi(Mpm::Prefork, Mode::Daemon);
}

/// Daemons started by a restart see the scoreboard too (the first
/// generation's are started after httpd makes it, as mod_wsgi does).
#[test]
fn server_metrics_in_daemons_after_a_restart() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .daemon_option("server-metrics=On")
        .mount_app("/m", "metrics_app.wsgi", "")
        .start();
    assert!(json(&apache, "/m/server").is_object());
    apache.graceful();
    let after = json(&apache, "/m/server");
    assert!(after.is_object(), "{after}\n{}", apache.error_log());
}
