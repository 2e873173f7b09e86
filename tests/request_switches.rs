//! Per-request switches and the New Relic agent: WSGIErrorOverride
//! (Apache's error documents for a daemon's errors), WSGIEnableSendfile
//! (sendfile() for wsgi.file_wrapper, seen with strace), WSGIIgnoreActivity
//! (requests that do not hold off inactivity-timeout), and
//! WSGINewRelicConfigFile / newrelic-config-file= with the real agent.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const ERROR_APP: &str = r#"def application(environ, start_response):
    status = environ.get("HTTP_X_STATUS", "404 Not Found")
    start_response(status, [("Content-Type", "text/plain"), ("X-From", "app")])
    return [b"the application's own page"]
"#;

/// WSGIErrorOverride On: a daemon's 4xx/5xx answer is replaced by Apache's
/// ErrorDocument; success is untouched; embedded mode is not affected
/// (as in mod_wsgi).
fn error_override_uses_apache_error_documents(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount("/over", "error_app.wsgi", ERROR_APP, "")
        .mount("/plain", "error_app.wsgi", ERROR_APP, "")
        .conf(
            "ErrorDocument 404 \"Apache's 404 page\"\n\
             ErrorDocument 500 \"Apache's 500 page\"\n\
             <Location /over>\n  WSGIErrorOverride On\n</Location>\n",
        )
        .start();
    let overridden = apache.get("/over");
    assert_eq!(overridden.status, 404, "{overridden:?}");
    let expected = match mode {
        Mode::Daemon => "Apache's 404 page",
        Mode::Embedded => "the application's own page",
    };
    assert_eq!(overridden.text(), expected);
    let five = apache.request("GET", "/over", &[("X-Status", "500 Oops")], b"");
    assert_eq!(five.status, 500);
    assert_eq!(
        five.text().contains("Apache's 500 page"),
        mode == Mode::Daemon,
        "{five:?}"
    );
    let fine = apache.request("GET", "/over", &[("X-Status", "200 OK")], b"");
    assert_eq!(fine.status, 200);
    assert_eq!(fine.text(), "the application's own page");
    assert_eq!(fine.header("X-From"), Some("app"));
    // The next request on the same daemon connection is unaffected.
    let again = apache.get("/plain");
    assert_eq!(again.text(), "the application's own page");
    assert_eq!(again.status, 404);
}

const FILE_APP: &str = r#"import os

def application(environ, start_response):
    path = os.path.join(os.path.dirname(__file__), "payload.bin")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("X-Sendfile-Setting", environ["mod_wsgi.enable_sendfile"])])
    return environ["wsgi.file_wrapper"](open(path, "rb"))
"#;

/// The threads of a process, for strace to attach to every one.
fn tasks(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Fetches /file while strace watches every Apache child for sendfile().
fn sendfile_calls(apache: &Apache) -> (Response, String) {
    let out = apache.root().join("logs/strace.out");
    let mut command = Command::new("strace");
    command
        .args(["-qq", "-f", "-e", "trace=sendfile,sendfile64", "-o"])
        .arg(&out);
    for pid in apache.child_pids() {
        for task in tasks(pid) {
            command.args(["-p", &task]);
        }
    }
    let mut strace = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace runs (scripts/setup.sh installs it)");
    // strace attaches asynchronously.
    std::thread::sleep(Duration::from_millis(500));
    let response = apache.get("/file");
    std::thread::sleep(Duration::from_millis(200));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(strace.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = strace.wait();
    (response, std::fs::read_to_string(&out).unwrap_or_default())
}

/// WSGIEnableSendfile On lets httpd send wsgi.file_wrapper files with
/// sendfile() (embedded mode; a daemon's files travel over its socket).
fn enable_sendfile_uses_sendfile(mpm: Mpm, mode: Mode) {
    let payload: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    for (setting, expect_sendfile) in [("On", mode == Mode::Embedded), ("Off", false)] {
        let apache = SiteBuilder::new(mpm, mode)
            .with(|b| b.file("apps/payload.bin", &payload))
            .mount("/file", "file_app.wsgi", FILE_APP, "")
            .conf(&format!(
                "EnableSendfile Off\nWSGIEnableSendfile {setting}\n"
            ))
            .start();
        let (response, trace) = sendfile_calls(&apache);
        assert_eq!(response.status, 200, "{response:?}");
        assert!(
            response.body == payload,
            "the file arrived intact ({setting})"
        );
        let flag = if setting == "On" { "1" } else { "0" };
        assert_eq!(response.header("X-Sendfile-Setting"), Some(flag));
        assert_eq!(
            trace.contains("sendfile"),
            expect_sendfile,
            "WSGIEnableSendfile {setting}, {mode:?}: strace saw\n{trace}"
        );
    }
}

const PID_APP: &str = r#"import os

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"#;

/// WSGIIgnoreActivity On: requests under it neither reset nor start a
/// daemon's inactivity countdown, so health checks do not keep an idle
/// process alive; without it, the same requests do.
fn ignore_activity_lets_idle_daemons_recycle(mpm: Mpm, mode: Mode) {
    if mode != Mode::Daemon {
        return;
    }
    let apache = SiteBuilder::new(mpm, mode)
        .daemon_option("processes=1 inactivity-timeout=2")
        .mount("/work", "pid.wsgi", PID_APP, "")
        .mount("/health", "pid.wsgi", PID_APP, "")
        .mount("/busy", "pid.wsgi", PID_APP, "")
        .conf("<Location /health>\n  WSGIIgnoreActivity On\n</Location>\n")
        .start();
    let pid = |path: &str| apache.get(path).text();
    // Counted requests keep the process: polled every 0.5 s for 4 s.
    let first = pid("/work");
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert_eq!(
            pid("/busy"),
            first,
            "counted requests must hold off the timeout"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Ignored requests do not: the process recycles while they arrive.
    let until = Instant::now() + Duration::from_secs(15);
    let mut recycled = false;
    while Instant::now() < until {
        if pid("/health") != first {
            recycled = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(recycled, "{}", apache.error_log());
    assert!(apache.error_log().contains("inactivity timeout reached"));
}

const NEWRELIC_INI: &str = "[newrelic]\napp_name = mod_wsgi-rs default\nmonitor_mode = false\n\
    log_file = stderr\nlog_level = info\n\n[newrelic:staging]\napp_name = mod_wsgi-rs staging\n";

const NEWRELIC_APP: &str = r#"import inspect

def application(environ, start_response):
    import newrelic.agent
    wrapped = any("newrelic" in frame.filename for frame in inspect.stack())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s|%s" % (newrelic.agent.global_settings().app_name, wrapped)).encode()]
"#;

/// WSGINewRelicConfigFile / WSGINewRelicEnvironment (embedded) and
/// newrelic-config-file= / newrelic-environment= (daemon) start the real
/// agent in each interpreter and wrap the application.
fn newrelic_agent_starts_and_wraps(mpm: Mpm, mode: Mode) {
    let venv = test_venv();
    let apache = SiteBuilder::new(mpm, mode)
        .conf(&format!("WSGIPythonHome \"{}\"\n", venv.display()))
        .with(|b| b.file("newrelic.ini", NEWRELIC_INI))
        .conf("WSGINewRelicConfigFile {root}/newrelic.ini\nWSGINewRelicEnvironment staging\n")
        .daemon_option("newrelic-config-file={root}/newrelic.ini newrelic-environment=staging")
        .mount("/nr", "newrelic_app.wsgi", NEWRELIC_APP, "")
        .start();
    let response = apache.get("/nr");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.text(), "mod_wsgi-rs staging|True");
    assert!(apache.error_log().contains("Imported 'newrelic.agent'."));
}

wsgi_tests!(
    error_override_uses_apache_error_documents,
    enable_sendfile_uses_sendfile,
    ignore_activity_lets_idle_daemons_recycle,
    newrelic_agent_starts_and_wraps,
);

/// Without the newrelic package the application runs, with a warning.
#[test]
fn newrelic_without_the_package_warns_once() {
    for mode in [Mode::Embedded, Mode::Daemon] {
        let apache = SiteBuilder::new(Mpm::Event, mode)
            .with(|b| {
                b.file("newrelic.ini", NEWRELIC_INI)
                    .mpm_conf(Mpm::Event.single_child_tuning())
            })
            .conf("WSGINewRelicConfigFile {root}/newrelic.ini\n")
            .daemon_option("newrelic-config-file={root}/newrelic.ini processes=1")
            .mount("/hello", "pid.wsgi", PID_APP, "")
            .mount("/other", "pid2.wsgi", PID_APP, "application-group=other")
            .start();
        let response = apache.get("/hello");
        assert_eq!(response.status, 200, "{response:?}");
        let pid = response.text();
        assert_eq!(
            apache.get("/other").text(),
            pid,
            "same process, second interpreter"
        );
        let log = apache.error_log();
        let warnings = log
            .lines()
            .filter(|l| l.contains("Unable to import 'newrelic.agent'") && l.contains(&pid))
            .count();
        assert_eq!(warnings, 1, "{mode:?}\n{log}");
    }
}

#[test]
fn bad_switch_values_stop_apache_naming_them() {
    for (conf, directive) in [
        ("WSGIErrorOverride maybe", "WSGIErrorOverride"),
        ("WSGIEnableSendfile 2", "WSGIEnableSendfile"),
        ("WSGIIgnoreActivity yes", "WSGIIgnoreActivity"),
        ("WSGINewRelicConfigFile \"\"", "WSGINewRelicConfigFile"),
        (
            "<VirtualHost *:80>\nWSGINewRelicConfigFile /x.ini\n</VirtualHost>",
            "WSGINewRelicConfigFile",
        ),
        (
            "<Location /x>\nWSGINewRelicEnvironment staging\n</Location>",
            "WSGINewRelicEnvironment",
        ),
    ] {
        assert_refused(conf, directive);
    }
}
