//! `SetHandler wsgi-metrics`: the Prometheus page Apache serves from the
//! counters every Apache child and daemon process share, read with
//! prometheus_client's own parser (a malformed line fails the test), and
//! `?stacks=1` / SIGUSR2 logging the stacks of requests in flight.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const APP: &str = "metrics_endpoint_app.wsgi";
const GROUP: &str = "metered";
const METRICS: &str =
    "<Location /metrics>\n  SetHandler wsgi-metrics\n  Require all granted\n</Location>\n";

/// One sample of the page.
#[derive(Debug, Clone)]
struct Sample {
    family_type: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The page parsed by prometheus_client.
fn parse(page: &str) -> Vec<Sample> {
    let venv = test_venv();
    let mut child = Command::new(venv.join("bin/python"))
        .arg(apps_dir().join("prometheus_parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the parser");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client rejected the page:\n{}\n{page}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            Sample {
                family_type: v["type"].as_str().unwrap().to_string(),
                name: v["name"].as_str().unwrap().to_string(),
                labels: v["labels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                value: v["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

fn scrape_now(apache: &Apache) -> Vec<Sample> {
    let response = apache.get("/metrics");
    assert_eq!(response.status, 200, "{}", apache.error_log());
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(&response.text())
}

/// The page once no request is in flight: a request is counted when its
/// handler returns, which can be just after the client has the response.
fn scrape(apache: &Apache) -> Vec<Sample> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let samples = scrape_now(apache);
        // (The attacker's group of the forging test counts garbage.)
        let in_flight: f64 = samples
            .iter()
            .filter(|s| s.name == "wsgi_requests_in_flight")
            .filter(|s| s.labels.get("process_group").map(String::as_str) != Some("attacker"))
            .map(|s| s.value)
            .sum();
        if in_flight == 0.0 || Instant::now() > until {
            return samples;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of the one sample `name` with (at least) `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{name}{labels:?}: {found:?}\nof {:#?}",
        samples
            .iter()
            .filter(|s| s.name == name)
            .collect::<Vec<_>>()
    );
    found[0].value
}

/// Threads of each daemon process: under prefork, two children send two
/// requests at a time, which one thread per process spreads over both.
fn daemon_threads(mpm: Mpm) -> u32 {
    if mpm == Mpm::Prefork { 1 } else { 4 }
}

/// Two Apache children and a daemon group of two processes, so that eight
/// clients need every one of them.
fn site(mpm: Mpm) -> Apache {
    let threads = daemon_threads(mpm);
    let tuning = match mpm {
        Mpm::Prefork => {
            "StartServers 2\nMinSpareServers 2\nMaxSpareServers 2\nServerLimit 2\n\
             MaxRequestWorkers 2\n"
        }
        Mpm::Event | Mpm::Worker => {
            "ServerLimit 2\nStartServers 2\nThreadLimit 4\nThreadsPerChild 4\n\
             MaxRequestWorkers 8\nMinSpareThreads 8\nMaxSpareThreads 12\n"
        }
    };
    SiteBuilder::new(mpm, Mode::Embedded)
        .with(|b| {
            b.mpm_conf(tuning).conf_first(&format!(
                "WSGISocketPrefix {{root}}/run/wsgi\n\
                 WSGIDaemonProcess {GROUP} processes=2 threads={threads} display-name=%{{GROUP}}\n"
            ))
        })
        .mount_app(
            "/d",
            APP,
            &format!("process-group={GROUP} application-group=%{{GLOBAL}}"),
        )
        .mount_app(
            "/e",
            APP,
            "process-group=%{GLOBAL} application-group=embedded-app",
        )
        .conf(METRICS)
        .start()
}

/// `per_client` GETs of `path` from each of 8 clients at once; the pids
/// that answered.
fn from_eight_clients(apache: &Apache, path: &str, per_client: usize) -> HashSet<String> {
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    (0..per_client)
                        .map(|_| {
                            let response = apache.get(path);
                            assert_eq!(response.status, 200, "{}", apache.error_log());
                            response.text()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    })
}

fn counts_are_exact_across_processes(mpm: Mpm) {
    let apache = site(mpm);
    let per_client = 40;
    let n = 8 * per_client;
    // Requests slow enough to fill the first process's threads spill over
    // to the second; then quick ones.
    let mut daemon_pids = from_eight_clients(&apache, "/d/slow?0.5", 2);
    daemon_pids.extend(from_eight_clients(&apache, "/d/busy", per_client - 2));
    let child_pids = from_eight_clients(&apache, "/e/busy", per_client);
    assert_eq!(daemon_pids.len(), 2, "both daemon processes served");
    assert_eq!(child_pids.len(), 2, "both Apache children served");
    for prefix in ["/d", "/e"] {
        for _ in 0..2 {
            assert_eq!(apache.get(&format!("{prefix}/missing")).status, 404);
        }
        for _ in 0..3 {
            assert_eq!(apache.get(&format!("{prefix}/fail")).status, 500);
        }
    }
    let samples = scrape(&apache);
    for (group, application) in [(GROUP, ""), ("", "embedded-app")] {
        let labels = |extra: &[(&'static str, &'static str)]| {
            let mut all = vec![("process_group", group), ("application_group", application)];
            all.extend_from_slice(extra);
            all
        };
        let requests = |status| {
            value(
                &samples,
                "wsgi_requests_total",
                &labels(&[("status", status)]),
            )
        };
        assert_eq!(requests("2xx"), n as f64, "{group}");
        assert_eq!(requests("4xx"), 2.0, "{group}");
        assert_eq!(requests("5xx"), 3.0, "{group}");
        assert_eq!(requests("3xx"), 0.0, "{group}");
        let total = (n + 5) as f64;
        assert_eq!(
            value(
                &samples,
                "wsgi_request_duration_seconds_count",
                &labels(&[])
            ),
            total
        );
        assert_eq!(
            value(
                &samples,
                "wsgi_request_duration_seconds_bucket",
                &labels(&[("le", "+Inf")])
            ),
            total
        );
        // Each /busy request sleeps 30 ms.
        assert!(
            value(&samples, "wsgi_request_duration_seconds_sum", &labels(&[])) >= 0.03 * n as f64
        );
        assert!(
            value(
                &samples,
                "wsgi_request_duration_seconds_bucket",
                &labels(&[("le", "0.025")])
            ) <= 5.0
        );
        assert_eq!(
            value(&samples, "wsgi_requests_in_flight", &labels(&[])),
            0.0
        );
        assert_eq!(
            value(&samples, "wsgi_application_exceptions_total", &labels(&[])),
            3.0
        );
    }
    let daemon = [("process_group", GROUP), ("application_group", "")];
    assert_eq!(
        value(&samples, "wsgi_request_queue_seconds_count", &daemon),
        (n + 5) as f64
    );
    let group = [("process_group", GROUP)];
    assert_eq!(
        value(&samples, "wsgi_daemon_threads", &group),
        f64::from(2 * daemon_threads(mpm))
    );
    assert_eq!(value(&samples, "wsgi_daemon_processes", &group), 2.0);
    for process in ["0", "1"] {
        let labels = [("process_group", GROUP), ("process", process)];
        assert_eq!(value(&samples, "wsgi_daemon_threads_busy", &labels), 0.0);
        assert!(value(&samples, "wsgi_daemon_resident_memory_bytes", &labels) > 4e6);
    }
    assert_eq!(
        value(
            &samples,
            "wsgi_daemon_restarts_total",
            &[("process_group", GROUP), ("cause", "maximum-requests")]
        ),
        0.0
    );
    for sample in &samples {
        if sample.name.ends_with("_total") {
            assert_eq!(sample.family_type, "counter", "{sample:?}");
        }
    }
    // The page is not itself a WSGI request.
    let again = scrape_now(&apache);
    assert_eq!(
        value(
            &again,
            "wsgi_requests_total",
            &[
                ("process_group", GROUP),
                ("application_group", ""),
                ("status", "2xx")
            ]
        ),
        n as f64
    );
}

#[test]
fn counts_are_exact_across_processes_event() {
    counts_are_exact_across_processes(Mpm::Event);
}

#[test]
fn counts_are_exact_across_processes_prefork() {
    counts_are_exact_across_processes(Mpm::Prefork);
}

fn wait_for_log(apache: &Apache, what: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let log = apache.error_log();
        if what(&log) {
            return log;
        }
        assert!(Instant::now() < until, "not in the error log:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn daemon_pid(apache: &Apache) -> i32 {
    apache.get("/d/").text().parse().expect("a pid")
}

#[test]
fn counters_outlive_daemon_restarts_and_name_the_cause() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Embedded)
        .with(|b| {
            b.conf_first(&format!(
                "WSGISocketPrefix {{root}}/run/wsgi\n\
                 WSGIDaemonProcess {GROUP} processes=1 threads=2 maximum-requests=4\n"
            ))
        })
        .mount_app(
            "/d",
            APP,
            &format!("process-group={GROUP} application-group=%{{GLOBAL}}"),
        )
        .conf(METRICS)
        .start();
    let mut pids = HashSet::new();
    for _ in 0..10 {
        pids.insert(daemon_pid(&apache));
    }
    let victim = daemon_pid(&apache);
    pids.insert(victim);
    assert!(pids.len() >= 3, "recycled every 4 requests: {pids:?}");
    // SAFETY: kill(2) on a daemon process of our own server.
    unsafe { libc::kill(victim, libc::SIGSEGV) };
    wait_for_log(&apache, |log| {
        log.contains(&format!("(pid {victim}) has died"))
    });
    assert_ne!(daemon_pid(&apache), victim);
    let samples = scrape(&apache);
    let restarts = |cause, signal: Option<&'static str>| {
        let mut labels = vec![("process_group", GROUP), ("cause", cause)];
        if let Some(signal) = signal {
            labels.push(("signal", signal));
        }
        value(&samples, "wsgi_daemon_restarts_total", &labels)
    };
    assert_eq!(restarts("maximum-requests", None), (pids.len() - 1) as f64);
    assert_eq!(restarts("signal", Some("SIGSEGV")), 1.0);
    assert_eq!(restarts("request-timeout", None), 0.0);
    assert_eq!(
        value(
            &samples,
            "wsgi_requests_total",
            &[
                ("process_group", GROUP),
                ("application_group", ""),
                ("status", "2xx")
            ]
        ),
        12.0,
        "counted across every process"
    );
}

fn stacks_of_requests_in_flight(mode: Mode) {
    let apache = site(Mpm::Event);
    let prefix = match mode {
        Mode::Daemon => "/d",
        Mode::Embedded => "/e",
    };
    let slow = format!("{prefix}/slow?4");
    std::thread::scope(|scope| {
        let running = scope.spawn(|| apache.get(&slow));
        std::thread::sleep(Duration::from_secs(1));
        let response = apache.get("/metrics?stacks=1");
        assert_eq!(response.status, 200);
        assert!(
            response.text().contains("# stacks of requests in flight"),
            "{}",
            response.text()
        );
        parse(&response.text());
        let who = match mode {
            Mode::Daemon => format!("Daemon process '{GROUP}'"),
            Mode::Embedded => "Apache child".to_string(),
        };
        let log = wait_for_log(&apache, |log| {
            log.lines().any(|l| {
                l.contains(&who)
                    && l.contains("stacks asked for: thread")
                    && l.contains(&format!("running GET {slow} for"))
            }) && log.contains("in stuck_here")
        });
        assert!(log.contains("asked for through the metrics page"), "{log}");
        if mode == Mode::Daemon {
            // The same, from a signal to the process running it.
            let before = log.matches("in stuck_here").count();
            for pid in apache.child_pids().iter().filter(|p| is_named_daemon(**p)) {
                // SAFETY: kill(2) on a daemon process of our own server.
                unsafe { libc::kill(*pid, libc::SIGUSR2) };
            }
            wait_for_log(&apache, |log| log.matches("in stuck_here").count() > before);
        }
        assert_eq!(running.join().unwrap().status, 200);
    });
    // Nothing stopped: the request finished and the processes serve on.
    assert_eq!(apache.get(&format!("{prefix}/")).status, 200);
}

#[test]
fn stacks_of_requests_in_flight_daemon() {
    stacks_of_requests_in_flight(Mode::Daemon);
}

#[test]
fn stacks_of_requests_in_flight_embedded() {
    stacks_of_requests_in_flight(Mode::Embedded);
}

#[test]
fn apache_controls_access_and_methods() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Embedded)
        .mount_app("/e", APP, "application-group=%{GLOBAL}")
        .conf(METRICS)
        .conf("<Location /closed>\n  SetHandler wsgi-metrics\n  Require all denied\n</Location>\n")
        .start();
    assert_eq!(apache.get("/closed").status, 403);
    assert_eq!(apache.request("POST", "/metrics", &[], b"x").status, 405);
    let head = apache.request("HEAD", "/metrics", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(apache.get("/e/").status, 200);
    let samples = scrape(&apache);
    assert_eq!(
        value(
            &samples,
            "wsgi_requests_total",
            &[
                ("process_group", ""),
                ("application_group", ""),
                ("status", "2xx")
            ]
        ),
        1.0
    );
    // No daemon groups: their families are there, empty.
    assert!(!samples.iter().any(|s| s.name.starts_with("wsgi_daemon_")));
}

/// A daemon group's application that overwrites every shared mapping it
/// can reach cannot change another group's counters nor embedded mode's,
/// and the page stays well-formed.
#[test]
fn a_daemon_cannot_forge_other_groups_counters() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Embedded)
        .with(|b| {
            b.conf_first(
                "WSGISocketPrefix {root}/run/wsgi\n\
                 WSGIDaemonProcess attacker processes=1 threads=2\n\
                 WSGIDaemonProcess victim processes=1 threads=2\n",
            )
        })
        .mount_app(
            "/attack",
            "metrics_scribbler.wsgi",
            "process-group=attacker application-group=%{GLOBAL}",
        )
        .mount_app(
            "/victim",
            APP,
            "process-group=victim application-group=%{GLOBAL}",
        )
        .mount_app("/e", APP, "application-group=%{GLOBAL}")
        .conf(METRICS)
        .start();
    for _ in 0..5 {
        assert_eq!(apache.get("/victim/").status, 200);
    }
    for _ in 0..3 {
        assert_eq!(apache.get("/e/").status, 200);
    }
    let attack = apache.get("/attack/");
    assert_eq!(attack.status, 200, "{}", apache.error_log());
    let found: u32 = attack.text().parse().unwrap();
    assert!(found >= 1, "the attacker reaches its own group's memory");
    let samples = scrape(&apache);
    let ok = |group| {
        value(
            &samples,
            "wsgi_requests_total",
            &[
                ("process_group", group),
                ("application_group", ""),
                ("status", "2xx"),
            ],
        )
    };
    assert_eq!(ok("victim"), 5.0);
    assert_eq!(ok(""), 3.0);
    let victim_process = [("process_group", "victim"), ("process", "0")];
    assert_eq!(
        value(&samples, "wsgi_daemon_threads_busy", &victim_process),
        0.0
    );
    // Both keep serving, and are counted.
    assert_eq!(apache.get("/victim/").status, 200);
    assert_eq!(apache.get("/e/").status, 200);
    let samples = scrape(&apache);
    assert_eq!(
        value(
            &samples,
            "wsgi_requests_total",
            &[
                ("process_group", "victim"),
                ("application_group", ""),
                ("status", "2xx")
            ]
        ),
        6.0
    );
}
