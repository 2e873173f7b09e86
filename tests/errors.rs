//! Failing applications: exceptions before and after the response started,
//! scripts that fail to load, lack an application or do not exist. Each
//! failure is logged with its traceback, and the children keep serving.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::*;

const LOG_WAIT: Duration = Duration::from_secs(10);

fn script(apache: &Apache, file: &str) -> PathBuf {
    apache.root().join("apps").join(file)
}

fn exception_header(path: &Path) -> String {
    format!(
        "exception raised processing WSGI script '{}'",
        path.display()
    )
}

/// Runs `request`, then waits for `needle` in the part of the error_log
/// written since; returns that part.
fn log_during(
    apache: &Apache,
    needle: &str,
    request: impl FnOnce() -> Response,
) -> (Response, String) {
    let start = apache.error_log().len();
    let response = request();
    let found = apache.wait_for_log_after(start, needle);
    (response, found)
}

trait LogSince {
    fn wait_for_log_after(&self, start: usize, needle: &str) -> String;
}

impl LogSince for Apache {
    fn wait_for_log_after(&self, start: usize, needle: &str) -> String {
        let deadline = std::time::Instant::now() + LOG_WAIT;
        loop {
            let log = self.error_log();
            let new = log.get(start..).unwrap_or_default();
            if new.contains(needle) {
                return new.to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {needle:?} in the error_log after {LOG_WAIT:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// Asserts that `needles` occur in `log` in this order.
fn assert_in_order(log: &str, needles: &[&str]) {
    let mut at = 0;
    for needle in needles {
        match log[at..].find(needle) {
            Some(i) => at += i + needle.len(),
            None => panic!("no {needle:?} (in order {needles:?}) in:\n{log}"),
        }
    }
}

/// The children that served before are all still there, none died, and a
/// good request is answered.
fn assert_still_serving(apache: &Apache, children: &[i32]) {
    let response = apache.get("/app/ok");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.text(), "still serving");
    for pid in children {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        assert!(
            !stat.is_empty() && !state.starts_with('Z'),
            "child {pid} is gone:\n{}",
            apache.error_log()
        );
    }
    let log = apache.error_log();
    assert!(
        !log.contains("exit signal") && !log.contains("AH00052"),
        "a child crashed:\n{log}"
    );
}

fn errors_site(mpm: Mpm, mode: Mode) -> Apache {
    SiteBuilder::new(mpm, mode)
        .mount_app("/app", "errors_app.wsgi", "")
        .start()
}

/// Exceptions raised before any body byte was sent: a 500, the exception
/// logged under the script's name with its traceback.
fn exceptions_before_the_body_give_500(mpm: Mpm, mode: Mode) {
    let apache = errors_site(mpm, mode);
    let children = apache.child_pids();
    let header = exception_header(&script(&apache, "errors_app.wsgi"));
    for (case, exception) in [
        ("before_start", "Failure: failed before start_response"),
        (
            "after_start",
            "Failure: failed after start_response, before the body",
        ),
        ("bad_status", "ValueError: "),
        ("bad_header", "ValueError: "),
    ] {
        let (response, log) =
            log_during(&apache, exception, || apache.get(&format!("/app/{case}")));
        assert_eq!(response.status, 500, "{case}: {response:?}");
        assert_in_order(
            &log,
            &[
                &header,
                "Traceback (most recent call last):",
                "errors_app.wsgi",
                exception,
            ],
        );
        assert_still_serving(&apache, &children);
    }
    assert!(!apache.get("/app/bad_status").text().contains("not reached"));
}

/// Failures found by the server rather than raised by Python code (a
/// non-bytes item, no start_response, a non-iterable result): a 500 and
/// the exception logged under the script's name.
fn bad_results_give_500(mpm: Mpm, mode: Mode) {
    let apache = errors_site(mpm, mode);
    let children = apache.child_pids();
    let header = exception_header(&script(&apache, "errors_app.wsgi"));
    for (case, exception) in [
        (
            "non_bytes",
            "TypeError: sequence of byte string values expected",
        ),
        ("no_start_response", "RuntimeError: "),
        ("not_iterable", "TypeError: "),
    ] {
        let (response, log) =
            log_during(&apache, exception, || apache.get(&format!("/app/{case}")));
        assert_eq!(response.status, 500, "{case}: {response:?}");
        assert_in_order(&log, &[&header, exception]);
        assert!(!response.text().contains("a str, not bytes"), "{case}");
        assert!(
            !response.text().contains("without start_response"),
            "{case}"
        );
        assert_still_serving(&apache, &children);
    }
}

/// An exception after the first body bytes went out: the response is cut
/// (chunked or with a Content-Length) and the exception logged.
fn exceptions_after_the_body_started_cut_the_response(mpm: Mpm, mode: Mode) {
    let apache = errors_site(mpm, mode);
    let children = apache.child_pids();
    let header = exception_header(&script(&apache, "errors_app.wsgi"));
    for (case, exception, sent, length) in [
        (
            "after_body_chunked",
            "Failure: failed in the middle of the body",
            "first part;second part;",
            None,
        ),
        (
            "after_body_length",
            "Failure: failed in the middle of the body",
            "first part;second part;",
            Some("1000"),
        ),
        (
            "after_write",
            "Failure: failed after write()",
            "written part",
            None,
        ),
        (
            "non_bytes_later",
            "TypeError: sequence of byte string values expected",
            "first",
            None,
        ),
    ] {
        let (response, log) =
            log_during(&apache, exception, || apache.get(&format!("/app/{case}")));
        assert_eq!(response.status, 200, "{case}: {response:?}");
        assert!(
            !response.complete,
            "{case}: the response must be cut: {response:?}"
        );
        assert_eq!(
            response.header("Content-Length"),
            length,
            "{case}: {response:?}"
        );
        assert_eq!(response.text(), sent, "{case}: {response:?}");
        assert_in_order(&log, &[&header, exception]);
        if case != "non_bytes_later" {
            assert_in_order(
                &log,
                &[&header, "Traceback (most recent call last):", exception],
            );
        }
        assert_still_serving(&apache, &children);
    }
}

/// The pid in the `mod_wsgi (pid=N): <header>` line of `log`.
fn logging_pid(log: &str, header: &str) -> u32 {
    let line = log
        .lines()
        .find(|line| line.contains(header))
        .unwrap_or_else(|| panic!("no {header:?} in:\n{log}"));
    line.split("mod_wsgi (pid=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no \"mod_wsgi (pid=N)\" in {line:?}"))
}

/// An exception in the iterable's close() is logged; the response itself
/// was complete.
fn exception_in_close_is_logged(mpm: Mpm, mode: Mode) {
    let apache = errors_site(mpm, mode);
    let children = apache.child_pids();
    let header = exception_header(&script(&apache, "errors_app.wsgi"));
    let (response, log) = log_during(&apache, "Failure: failed in close()", || {
        apache.get("/app/close_raises")
    });
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.complete, "{response:?}");
    assert_eq!(response.text(), "complete body");
    assert_in_order(
        &log,
        &[
            &header,
            "Traceback (most recent call last):",
            "Failure: failed in close()",
        ],
    );
    assert_still_serving(&apache, &children);
}

/// sys.exit() in an application is a 500 that does not end the child,
/// logged as mod_wsgi 6 logs it ("SystemExit exception raised by WSGI
/// script ...; ignored.") with its traceback.
fn system_exit_does_not_end_the_child(mpm: Mpm, mode: Mode) {
    let apache = errors_site(mpm, mode);
    let children = apache.child_pids();
    let header = format!(
        "SystemExit exception raised by WSGI script '{}'; ignored.",
        script(&apache, "errors_app.wsgi").display()
    );
    for _ in 0..children.len() + 1 {
        let (response, log) = log_during(&apache, &header, || apache.get("/app/system_exit"));
        assert_eq!(response.status, 500, "{response:?}");
        assert_in_order(
            &log,
            &[&header, "Traceback (most recent call last)", "SystemExit"],
        );
        assert!(
            !log.contains("SystemExit exception raised processing"),
            "{log}"
        );
        assert_still_serving(&apache, &children);
    }
}

/// The client sends half its body and goes away: the application's read
/// raises OSError, which is logged, and the child goes on serving.
fn client_abort_during_upload(mpm: Mpm, mode: Mode) {
    use std::io::Write;
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/app", "errors_app.wsgi", "")
        .start();
    let children = apache.child_pids();
    let header = exception_header(&script(&apache, "errors_app.wsgi"));
    let start = apache.error_log().len();
    let mut stream = apache.connect();
    write!(
        stream,
        "POST /app/read_body HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    )
    .unwrap();
    stream.write_all(&[b'x'; 40_000]).unwrap();
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(stream);
    // The traceback's last line ("[...] OSError: ..."), not the header,
    // which names OSError too and is written first.
    let log = apache.wait_for_log_after(start, "] OSError");
    assert_in_order(
        &log,
        &[&header, "Traceback (most recent call last):", "] OSError"],
    );
    assert_still_serving(&apache, &children);
}

/// Rewrites a script in the server root with a modification time clearly
/// different from the old one (scripts reload when it changes).
fn rewrite_script(apache: &Apache, file: &str, source_app: &str) {
    let path = script(apache, file);
    let old = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap();
    let source = std::fs::read_to_string(apps_dir().join(source_app)).unwrap();
    apache.write_file(format!("apps/{file}"), source);
    let new = SystemTime::now().max(old + Duration::from_secs(2));
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(new))
        .unwrap();
}

/// A script that fails to load is a 500 with the error logged; it is tried
/// again on the next request, and served once fixed.
fn script_load_failures_are_retried(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/app", "errors_app.wsgi", "")
        .mount_app("/syntax", "errors_syntax.wsgi", "")
        .mount_app("/import", "errors_import.wsgi", "")
        .start();
    let children = apache.child_pids();
    for (url, file, expected) in [
        ("/syntax", "errors_syntax.wsgi", &["SyntaxError"][..]),
        (
            "/import",
            "errors_import.wsgi",
            &[
                "Traceback (most recent call last):",
                "LookupError: failure at import time",
            ][..],
        ),
    ] {
        let path = script(&apache, file);
        let header = exception_header(&path);
        let mut needles = vec![header.as_str()];
        needles.extend_from_slice(expected);
        let last = *needles.last().unwrap();
        // One attempt more than there are children: some child gets the
        // request twice and must try loading the script again.
        let attempts = apache.child_pids().len() + 1;
        let mut pids = Vec::new();
        for attempt in 1..=attempts {
            let (response, log) = log_during(&apache, last, || apache.get(url));
            assert_eq!(
                response.status, 500,
                "{url} attempt {attempt}: {response:?}"
            );
            assert_in_order(&log, &needles);
            pids.push(logging_pid(&log, &header));
        }
        pids.sort();
        assert!(
            pids.windows(2).any(|w| w[0] == w[1]),
            "no child logged the failure twice ({pids:?}): a failed load must be retried"
        );
        assert_still_serving(&apache, &children);

        rewrite_script(&apache, file, "errors_fixed.wsgi");
        let response = apache.get(url);
        assert_eq!(
            response.status,
            200,
            "{url} fixed: {response:?}\n{}",
            apache.error_log()
        );
        assert_eq!(response.text(), "fixed");
    }
}

/// A script without an `application` is a 500 with "does not contain WSGI
/// application" logged; adding one makes it work.
fn script_without_application(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/app", "errors_app.wsgi", "")
        .mount_app("/noapp", "errors_noapp.wsgi", "")
        .start();
    let children = apache.child_pids();
    let (response, log) = log_during(&apache, "does not contain WSGI application", || {
        apache.get("/noapp")
    });
    assert_eq!(response.status, 500, "{response:?}");
    assert!(!response.text().contains("wrong name"));
    assert!(log.contains("errors_noapp.wsgi"), "{log}");
    assert_still_serving(&apache, &children);

    rewrite_script(&apache, "errors_noapp.wsgi", "errors_fixed.wsgi");
    assert_eq!(apache.get("/noapp").text(), "fixed");
}

/// A script path that does not exist is a 404, for a file alias and a
/// directory alias; the file appearing later is served.
fn missing_script_is_404(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/app", "errors_app.wsgi", "")
        .conf(
            "WSGIScriptAlias /missing {root}/apps/errors_absent.wsgi\n\
             WSGIScriptAlias /scripts/ {root}/apps/scriptdir/\n",
        )
        .with(|b| {
            b.file(
                "apps/scriptdir/errors_fixed.wsgi",
                include_str!("apps/errors_fixed.wsgi"),
            )
        })
        .start();
    let children = apache.child_pids();
    for url in [
        "/missing",
        "/missing/with/path",
        "/scripts/errors_absent.wsgi",
    ] {
        let response = apache.get(url);
        assert_eq!(response.status, 404, "{url}: {response:?}");
    }
    assert_eq!(apache.get("/scripts/errors_fixed.wsgi").text(), "fixed");
    assert_still_serving(&apache, &children);

    apache.write_file(
        "apps/errors_absent.wsgi",
        include_str!("apps/errors_fixed.wsgi"),
    );
    let response = apache.get("/missing");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.text(), "fixed");
}

wsgi_tests!(
    exceptions_before_the_body_give_500,
    bad_results_give_500,
    exceptions_after_the_body_started_cut_the_response,
    script_load_failures_are_retried,
    script_without_application,
    missing_script_is_404,
    client_abort_during_upload,
    exception_in_close_is_logged,
    system_exit_does_not_end_the_child,
);
