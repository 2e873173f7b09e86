//! `SetHandler wsgi-metrics`: the counters of every process group, in
//! Prometheus's text exposition format, read from shared memory without
//! entering Python. Access control is Apache's (`Require`), as for
//! mod_status. `?stacks=1` also asks every process to log the stacks of
//! its requests in flight.

use std::fmt::Write as _;
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use apache_sys as ap;

use crate::apache::log;
use crate::apache::request::Request;
use crate::groups::board::ProcessState;
use crate::groups::metrics_table::{
    ApplicationCounts, DURATION_BUCKETS, GroupCounts, Histogram, QUEUE_BUCKETS, STATUS_CLASSES,
};
use wsgi_core::level::Level;

/// The handler name.
pub const HANDLER: &str = "wsgi-metrics";
const CONTENT_TYPE: &[u8] = b"text/plain; version=0.0.4; charset=utf-8";

/// A daemon group's processes, as the page shows them.
pub struct DaemonView {
    pub processes: u32,
    pub threads: u32,
    pub slots: Vec<ProcessState>,
}

/// One process group's part of the page.
pub struct GroupView {
    /// "" for embedded mode.
    pub name: String,
    pub counts: GroupCounts,
    pub daemon: Option<DaemonView>,
}

/// A label value escaped as the format asks (backslash, quote, newline).
fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escaped(value)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn seconds(micros: u64) -> f64 {
    micros as f64 / 1_000_000.0
}

fn histogram(out: &mut String, name: &str, base: &[(&str, &str)], bounds: &[f64], h: &Histogram) {
    let mut cumulative = 0u64;
    for (index, bound) in bounds.iter().enumerate() {
        cumulative = cumulative.wrapping_add(h.counts.get(index).copied().unwrap_or(0));
        let le = bound.to_string();
        let mut pairs = base.to_vec();
        pairs.push(("le", &le));
        let _ = writeln!(out, "{name}_bucket{} {cumulative}", labels(&pairs));
    }
    cumulative = cumulative.wrapping_add(h.counts.get(bounds.len()).copied().unwrap_or(0));
    let mut pairs = base.to_vec();
    pairs.push(("le", "+Inf"));
    let _ = writeln!(out, "{name}_bucket{} {cumulative}", labels(&pairs));
    let _ = writeln!(out, "{name}_sum{} {}", labels(base), seconds(h.sum_micros));
    let _ = writeln!(out, "{name}_count{} {cumulative}", labels(base));
}

/// Each (group, application) pair, for the per-application families.
fn applications(groups: &[GroupView]) -> impl Iterator<Item = (&GroupView, &ApplicationCounts)> {
    groups
        .iter()
        .flat_map(|g| g.counts.applications.iter().map(move |a| (g, a)))
}

fn application_labels<'a>(
    group: &'a GroupView,
    application: &'a ApplicationCounts,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut pairs = vec![
        ("process_group", group.name.as_str()),
        ("application_group", application.name.as_str()),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

/// The page for `groups`.
pub fn render(groups: &[GroupView]) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "wsgi_requests_total",
        "counter",
        "WSGI requests answered, by status class.",
    );
    for (g, a) in applications(groups) {
        for (class, count) in STATUS_CLASSES.iter().zip(a.requests) {
            let _ = writeln!(
                out,
                "wsgi_requests_total{} {count}",
                labels(&application_labels(g, a, &[("status", class)]))
            );
        }
    }
    family(
        &mut out,
        "wsgi_request_duration_seconds",
        "histogram",
        "Time from the WSGI handler taking a request to the end of its response.",
    );
    for (g, a) in applications(groups) {
        histogram(
            &mut out,
            "wsgi_request_duration_seconds",
            &application_labels(g, a, &[]),
            &DURATION_BUCKETS,
            &a.duration,
        );
    }
    family(
        &mut out,
        "wsgi_request_queue_seconds",
        "histogram",
        "Time a request waited between the Apache child and a daemon process thread.",
    );
    for (g, a) in applications(groups).filter(|(g, _)| g.daemon.is_some()) {
        histogram(
            &mut out,
            "wsgi_request_queue_seconds",
            &application_labels(g, a, &[]),
            &QUEUE_BUCKETS,
            &a.queue,
        );
    }
    family(
        &mut out,
        "wsgi_requests_in_flight",
        "gauge",
        "WSGI requests being answered now.",
    );
    for (g, a) in applications(groups) {
        let _ = writeln!(
            out,
            "wsgi_requests_in_flight{} {}",
            labels(&application_labels(g, a, &[])),
            a.in_flight
        );
    }
    family(
        &mut out,
        "wsgi_application_exceptions_total",
        "counter",
        "Exceptions the application raised and did not handle.",
    );
    for (g, a) in applications(groups) {
        let _ = writeln!(
            out,
            "wsgi_application_exceptions_total{} {}",
            labels(&application_labels(g, a, &[])),
            a.exceptions
        );
    }
    let daemons: Vec<(&GroupView, &DaemonView)> = groups
        .iter()
        .filter_map(|g| g.daemon.as_ref().map(|d| (g, d)))
        .collect();
    family(
        &mut out,
        "wsgi_daemon_processes",
        "gauge",
        "Processes configured for the daemon process group.",
    );
    for (g, d) in &daemons {
        let _ = writeln!(
            out,
            "wsgi_daemon_processes{} {}",
            labels(&[("process_group", &g.name)]),
            d.processes
        );
    }
    family(
        &mut out,
        "wsgi_daemon_threads",
        "gauge",
        "Request threads configured for the daemon process group (all its processes).",
    );
    for (g, d) in &daemons {
        let _ = writeln!(
            out,
            "wsgi_daemon_threads{} {}",
            labels(&[("process_group", &g.name)]),
            u64::from(d.processes) * u64::from(d.threads)
        );
    }
    family(
        &mut out,
        "wsgi_daemon_threads_busy",
        "gauge",
        "Request threads of a daemon process running a request now.",
    );
    for (g, d) in &daemons {
        for slot in &d.slots {
            let process = slot.slot.to_string();
            let _ = writeln!(
                out,
                "wsgi_daemon_threads_busy{} {}",
                labels(&[("process_group", &g.name), ("process", &process)]),
                slot.running
            );
        }
    }
    family(
        &mut out,
        "wsgi_daemon_resident_memory_bytes",
        "gauge",
        "Resident memory of a daemon process.",
    );
    for (g, d) in &daemons {
        for slot in &d.slots {
            let process = slot.slot.to_string();
            let _ = writeln!(
                out,
                "wsgi_daemon_resident_memory_bytes{} {}",
                labels(&[("process_group", &g.name), ("process", &process)]),
                slot.rss_kib.saturating_mul(1024)
            );
        }
    }
    family(
        &mut out,
        "wsgi_daemon_restarts_total",
        "counter",
        "Daemon processes replaced, by cause.",
    );
    for (g, _) in &daemons {
        for (cause, signal, count) in &g.counts.restarts {
            let mut pairs = vec![("process_group", g.name.as_str()), ("cause", cause)];
            if let Some(signal) = signal {
                pairs.push(("signal", signal));
            }
            let _ = writeln!(out, "wsgi_daemon_restarts_total{} {count}", labels(&pairs));
        }
    }
    out
}

/// Everything the page shows, read now.
fn gather() -> Vec<GroupView> {
    let mut views = Vec::new();
    if let Some(embedded) = crate::groups::embedded_metrics() {
        views.push(GroupView {
            name: String::new(),
            counts: embedded.read(),
            daemon: None,
        });
    }
    for group in crate::groups::all() {
        let Some(metrics) = &group.metrics else {
            continue;
        };
        views.push(GroupView {
            name: group.name().to_string(),
            counts: metrics.read(),
            daemon: Some(DaemonView {
                processes: group.options.processes,
                threads: group.options.threads,
                slots: group
                    .board
                    .as_ref()
                    .map(|b| b.processes())
                    .unwrap_or_default(),
            }),
        });
    }
    views
}

/// Asks every process of every group for the stacks of its requests.
fn ask_for_stacks() {
    if let Some(embedded) = crate::groups::embedded_metrics() {
        embedded.ask_for_stacks();
    }
    for group in crate::groups::all() {
        if let Some(metrics) = &group.metrics {
            metrics.ask_for_stacks();
        }
    }
}

fn asks_for_stacks(args: &str) -> bool {
    args.split('&').any(|pair| pair == "stacks=1")
}

fn serve(request: &Request<'_>) -> c_int {
    if request.handler() != HANDLER {
        return ap::DECLINED;
    }
    if !request.method_is_get() {
        return ap::HTTP_METHOD_NOT_ALLOWED as c_int;
    }
    let stacks = asks_for_stacks(&request.args());
    if stacks {
        ask_for_stacks();
        request.log(
            Level::Warning,
            &log::ours("stacks of requests in flight asked for through the metrics page"),
        );
    }
    let mut page = render(&gather());
    if stacks {
        page.push_str("# stacks of requests in flight are being written to the error log\n");
    }
    request.set_content_type(CONTENT_TYPE);
    request.set_content_length(page.len() as i64);
    if !request.header_only() {
        request.write_body(page.as_bytes());
    }
    ap::OK as c_int
}

/// The handler hook for `wsgi-metrics`.
///
/// # Safety
/// Called by httpd with a live request.
pub unsafe extern "C" fn handler(r: *mut ap::request_rec) -> c_int {
    // SAFETY: httpd passes a live request for the whole hook.
    let request = unsafe { Request::new(r) };
    match catch_unwind(AssertUnwindSafe(|| serve(&request))) {
        Ok(status) => status,
        Err(_) => {
            request.log(
                Level::Error,
                &log::ours("internal error while serving the metrics page"),
            );
            ap::HTTP_INTERNAL_SERVER_ERROR as c_int
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<GroupView> {
        let mut app = ApplicationCounts {
            name: "site|/\"x\"".into(),
            requests: [0, 3, 0, 1, 0, 0],
            duration: Histogram {
                counts: vec![0; DURATION_BUCKETS.len() + 1],
                sum_micros: 1_500_000,
            },
            queue: Histogram {
                counts: vec![0; QUEUE_BUCKETS.len() + 1],
                sum_micros: 0,
            },
            in_flight: 2,
            exceptions: 1,
        };
        app.duration.counts[0] = 3;
        app.duration.counts[DURATION_BUCKETS.len()] = 1;
        vec![
            GroupView {
                name: String::new(),
                counts: GroupCounts {
                    applications: vec![app.clone()],
                    restarts: Vec::new(),
                },
                daemon: None,
            },
            GroupView {
                name: "d".into(),
                counts: GroupCounts {
                    applications: vec![app],
                    restarts: vec![
                        ("maximum-requests", None, 2),
                        ("signal", Some("SIGSEGV".into()), 1),
                    ],
                },
                daemon: Some(DaemonView {
                    processes: 2,
                    threads: 5,
                    slots: vec![ProcessState {
                        slot: 0,
                        pid: 10,
                        running: 4,
                        rss_kib: 2,
                    }],
                }),
            },
        ]
    }

    #[test]
    fn the_page_has_every_family_with_escaped_labels() {
        let page = render(&sample());
        for line in [
            r#"wsgi_requests_total{process_group="",application_group="site|/\"x\"",status="2xx"} 3"#,
            r#"wsgi_request_duration_seconds_bucket{process_group="d",application_group="site|/\"x\"",le="0.005"} 3"#,
            r#"wsgi_request_duration_seconds_bucket{process_group="d",application_group="site|/\"x\"",le="+Inf"} 4"#,
            r#"wsgi_request_duration_seconds_sum{process_group="d",application_group="site|/\"x\""} 1.5"#,
            r#"wsgi_request_duration_seconds_count{process_group="d",application_group="site|/\"x\""} 4"#,
            r#"wsgi_requests_in_flight{process_group="",application_group="site|/\"x\""} 2"#,
            r#"wsgi_application_exceptions_total{process_group="d",application_group="site|/\"x\""} 1"#,
            r#"wsgi_daemon_threads{process_group="d"} 10"#,
            r#"wsgi_daemon_threads_busy{process_group="d",process="0"} 4"#,
            r#"wsgi_daemon_resident_memory_bytes{process_group="d",process="0"} 2048"#,
            r#"wsgi_daemon_restarts_total{process_group="d",cause="maximum-requests"} 2"#,
            r#"wsgi_daemon_restarts_total{process_group="d",cause="signal",signal="SIGSEGV"} 1"#,
        ] {
            assert!(page.lines().any(|l| l == line), "missing {line}\n{page}");
        }
        // Embedded mode has no queue.
        assert!(
            !page
                .lines()
                .any(|l| l.starts_with("wsgi_request_queue_seconds_count{process_group=\"\""))
        );
        assert!(page.ends_with('\n'));
    }

    #[test]
    fn only_stacks_1_asks_for_stacks() {
        assert!(asks_for_stacks("stacks=1"));
        assert!(asks_for_stacks("a=b&stacks=1"));
        assert!(!asks_for_stacks("stacks=0"));
        assert!(!asks_for_stacks("xstacks=1"));
        assert!(!asks_for_stacks(""));
    }

    #[test]
    fn label_values_escape_what_the_format_reserves() {
        assert_eq!(escaped("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
