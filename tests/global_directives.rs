//! The switches mod_wsgi-express always writes and their neighbours:
//! WSGISocketRotation, WSGIDestroyInterpreter, WSGIVerboseDebugging,
//! WSGIServerMetrics, WSGIAcceptMutex, WSGIPythonEggs, WSGICaseSensitivity
//! and WSGIPassApacheRequest.

mod common;

use std::time::{Duration, Instant};

use common::*;

const HELLO: &str = include_str!("../examples/hello.wsgi");

const EGG_REPORT: &str = r#"import os

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [os.environ.get("PYTHON_EGG_CACHE", "<unset>").encode()]
"#;

/// The daemon sockets under the server's run directory, by name.
fn socket_names(apache: &Apache) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(apache.root().join("run"))
        .unwrap()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("wsgi.") && name.ends_with(".sock"))
        .collect();
    names.sort();
    names
}

/// WSGIDestroyInterpreter Off: the process exits without tearing Python
/// down, so atexit callbacks do not run (mod_wsgi skips the same teardown).
fn destroy_interpreter_off_skips_teardown(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/exit", "interp_atexit.wsgi", "")
        .conf("WSGIDestroyInterpreter Off\n")
        .start();
    let exits = apache.writable_dir("exits");
    let response = apache.get("/exit");
    assert_eq!(response.status, 200, "{response:?}");
    let pid: i32 = response.text().parse().unwrap();
    apache.graceful();
    let deadline = Instant::now() + Duration::from_secs(20);
    while is_running(pid) {
        assert!(Instant::now() < deadline, "pid {pid} did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    let marker = exits.join(format!("{pid}-GLOBAL"));
    assert!(
        !marker.exists(),
        "atexit ran in pid {pid} with WSGIDestroyInterpreter Off"
    );
    // The new generation serves, and nothing crashed on the way out.
    assert_eq!(apache.get("/exit").status, 200);
    let log = apache.error_log();
    assert!(
        !log.contains("Fatal Python error") && !log.contains("exit signal"),
        "{log}"
    );
}

/// WSGIPythonEggs sets PYTHON_EGG_CACHE in Apache's children's
/// interpreters; daemon processes take theirs from python-eggs= only, as
/// in mod_wsgi.
fn python_eggs_sets_the_egg_cache(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount("/eggs", "eggs.wsgi", EGG_REPORT, "")
        .mount(
            "/sub",
            "eggs_sub.wsgi",
            EGG_REPORT,
            "application-group=other",
        )
        .conf("WSGIPythonEggs /var/tmp/eggs-embedded\n")
        .daemon_option("python-eggs=/var/tmp/eggs-daemon")
        .start();
    let expected = match mode {
        Mode::Embedded => "/var/tmp/eggs-embedded",
        Mode::Daemon => "/var/tmp/eggs-daemon",
    };
    for path in ["/eggs", "/sub"] {
        let response = apache.get(path);
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.text(), expected, "{path}");
    }
}

/// WSGIVerboseDebugging On logs each daemon request thread's start at
/// info level (debug otherwise), as mod_wsgi does.
fn verbose_debugging_logs_thread_starts(mpm: Mpm, mode: Mode) {
    for (setting, shown) in [("On", true), ("Off", false)] {
        let apache = SiteBuilder::new(mpm, mode)
            .mount("/hello", "hello.wsgi", HELLO, "")
            .conf(&format!("WSGIVerboseDebugging {setting}\n"))
            .start();
        assert_eq!(apache.get("/hello").status, 200);
        let needle = "Started thread 0 in daemon process";
        let logged = match mode {
            Mode::Daemon => {
                apache.wait_for_log(needle, Duration::from_secs(if shown { 10 } else { 1 }))
            }
            Mode::Embedded => apache.error_log().contains(needle),
        };
        assert_eq!(
            logged,
            shown && mode == Mode::Daemon,
            "WSGIVerboseDebugging {setting}\n{}",
            apache.error_log()
        );
    }
}

/// WSGISocketRotation Off keeps each group's socket name over restarts;
/// by default every generation has new names.
fn socket_rotation_decides_socket_names(mpm: Mpm, mode: Mode) {
    if mode != Mode::Daemon {
        return;
    }
    for (setting, stable) in [("Off", true), ("On", false)] {
        let apache = SiteBuilder::new(mpm, mode)
            .mount("/hello", "hello.wsgi", HELLO, "")
            .conf(&format!("WSGISocketRotation {setting}\n"))
            .start();
        assert_eq!(apache.get("/hello").status, 200);
        let before = socket_names(&apache);
        assert_eq!(before.len(), 1, "{before:?}");
        if stable {
            let uid = before[0].split('.').nth(2).unwrap_or_default().to_string();
            assert!(uid.starts_with('u'), "{before:?}");
        }
        apache.graceful();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let response = apache.get("/hello");
            if response.status == 200 && socket_names(&apache).len() == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "{response:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let after = socket_names(&apache);
        assert_eq!(
            before == after,
            stable,
            "{setting}: {before:?} then {after:?}"
        );
    }
}

const NAME_REPORT: &str = r#"def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [__name__.encode()]
"#;

fn md5_module_name(path: &str) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(path.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("_mod_wsgi_{hex}")
}

/// WSGICaseSensitivity On (the default, as mod_wsgi's documentation has
/// it on Linux): the module is named after the path as it is; Off: after
/// the lower-cased path.
fn case_sensitivity_decides_module_names(mpm: Mpm, mode: Mode) {
    for (setting, lower) in [(None, false), (Some("On"), false), (Some("Off"), true)] {
        let conf = setting.map_or(String::new(), |s| format!("WSGICaseSensitivity {s}\n"));
        let apache = SiteBuilder::new(mpm, mode)
            .mount("/mixed", "MixedCase.wsgi", NAME_REPORT, "")
            .conf(&conf)
            .start();
        let path = apache.root().join("apps/MixedCase.wsgi");
        let path = path.to_string_lossy();
        let expected = if lower {
            md5_module_name(&path.to_lowercase())
        } else {
            md5_module_name(&path)
        };
        let response = apache.get("/mixed");
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.text(), expected, "{setting:?}");
    }
}

const REQUEST_REC_REPORT: &str = r#"def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    value = environ.get("apache.request_rec")
    return [(type(value).__name__ if value is not None else "<absent>").encode()]
"#;

/// WSGIPassApacheRequest On puts httpd's request_rec in the environ as a
/// PyCapsule, in embedded mode only (a daemon process has no request_rec).
fn pass_apache_request_in_embedded_mode(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount("/on", "rr_on.wsgi", REQUEST_REC_REPORT, "")
        .mount("/off", "rr_off.wsgi", REQUEST_REC_REPORT, "")
        .conf(
            "<Location /on>\n  WSGIPassApacheRequest On\n</Location>\n\
             <Directory {root}/apps>\n  WSGIPassApacheRequest off\n</Directory>\n",
        )
        .start();
    let on = apache.get("/on");
    assert_eq!(on.status, 200, "{on:?}");
    let expected = match mode {
        Mode::Embedded => "PyCapsule",
        Mode::Daemon => "<absent>",
    };
    assert_eq!(on.text(), expected);
    assert_eq!(apache.get("/off").text(), "<absent>");
}

const SWITCH_REPORT: &str = r#"import sys

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(sys.getswitchinterval()).encode()]
"#;

/// WSGISwitchInterval (Apache's children) and switch-interval= (daemon
/// processes), from mod_wsgi 6, set Python's switch interval.
fn switch_interval_sets_python_switch_interval(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount("/switch", "switch.wsgi", SWITCH_REPORT, "")
        .conf("WSGISwitchInterval 0.002\n")
        .daemon_option("switch-interval=0.003")
        .start();
    let expected = match mode {
        Mode::Embedded => "0.002",
        Mode::Daemon => "0.003",
    };
    let response = apache.get("/switch");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), expected);
    assert!(apache.error_log().contains("Python switch interval set to"));
}

wsgi_tests!(
    switch_interval_sets_python_switch_interval,
    pass_apache_request_in_embedded_mode,
    case_sensitivity_decides_module_names,
    destroy_interpreter_off_skips_teardown,
    python_eggs_sets_the_egg_cache,
    verbose_debugging_logs_thread_starts,
    socket_rotation_decides_socket_names,
);

/// The switches whose effect lies elsewhere are accepted in the main
/// server, in every case httpd allows for On/Off.
#[test]
fn accepted_switches_start_apache() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .mount("/hello", "hello.wsgi", HELLO, "")
        .conf(
            "WSGIServerMetrics On\n\
             WSGIAcceptMutex fcntl\n\
             WSGIAcceptMutex Default\n\
             WSGISocketRotation on\n\
             WSGIDestroyInterpreter ON\n\
             WSGIVerboseDebugging off\n",
        )
        .start();
    assert_eq!(apache.get("/hello").text(), "Hello World!\n");
}

/// What mod_wsgi 6.0.5's express writes, and 6.x switches this Python
/// cannot honour when Off, start Apache.
#[test]
fn mod_wsgi_6_switches_are_accepted() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .mount("/hello", "hello.wsgi", HELLO, "")
        .daemon_option(
            "response-flush-delay=5 switch-interval=0.005 eviction-timeout=2 python-path=''",
        )
        .conf(
            "WSGISlowRequests 2.0\n\
             WSGITelemetryService unix:/tmp/mod_wsgi-rs-nowhere.sock interval=5\n\
             WSGITelemetryOptions +CaptureUserAgent\n\
             WSGITelemetryOptions None\n\
             WSGIPerInterpreterGIL Off\n\
             WSGIFreeThreading Off\n",
        )
        .start();
    assert_eq!(apache.get("/hello").text(), "Hello World!\n");
}

/// A 6.x switch that needs a newer Python stops Apache saying which.
#[test]
fn mod_wsgi_6_switches_needing_newer_python_are_refused() {
    for (conf, needle) in [
        (
            "WSGIPerInterpreterGIL On",
            "needs a Python 3.12 or later; this module runs Python 3.11",
        ),
        (
            "WSGIFreeThreading On",
            "needs a free-threaded Python 3.13 or later; this module runs Python 3.11",
        ),
    ] {
        assert_refused(conf, needle);
    }
}

#[test]
fn bad_values_and_places_stop_apache_naming_the_directive() {
    for (conf, directive) in [
        ("WSGISocketRotation maybe", "WSGISocketRotation"),
        ("WSGIDestroyInterpreter 1", "WSGIDestroyInterpreter"),
        ("WSGIVerboseDebugging yes", "WSGIVerboseDebugging"),
        ("WSGIServerMetrics perhaps", "WSGIServerMetrics"),
        ("WSGICaseSensitivity maybe", "WSGICaseSensitivity"),
        ("WSGIPassApacheRequest yes", "WSGIPassApacheRequest"),
        ("WSGIAcceptMutex spinlock", "WSGIAcceptMutex"),
        ("WSGIPythonEggs \"\"", "WSGIPythonEggs"),
        (
            "<VirtualHost *:80>\nWSGISocketRotation Off\n</VirtualHost>",
            "WSGISocketRotation",
        ),
        (
            "<VirtualHost *:80>\nWSGIPythonEggs /tmp\n</VirtualHost>",
            "WSGIPythonEggs",
        ),
        (
            "<Location /x>\nWSGIServerMetrics On\n</Location>",
            "WSGIServerMetrics",
        ),
        ("WSGISwitchInterval 0", "WSGISwitchInterval"),
        ("WSGISwitchInterval fast", "WSGISwitchInterval"),
        ("WSGISlowRequests -1", "WSGISlowRequests"),
        ("WSGITelemetryService tcp:1.2.3.4", "WSGITelemetryService"),
        ("WSGITelemetryOptions +Everything", "WSGITelemetryOptions"),
        ("WSGIPerInterpreterGIL maybe", "WSGIPerInterpreterGIL"),
        (
            "WSGIDaemonProcess g switch-interval=soon",
            "switch-interval",
        ),
        (
            "WSGIDaemonProcess g response-flush-delay=-5",
            "response-flush-delay",
        ),
        (
            "<VirtualHost *:80>\nWSGISwitchInterval 0.01\n</VirtualHost>",
            "WSGISwitchInterval",
        ),
    ] {
        assert_refused(conf, directive);
    }
}
