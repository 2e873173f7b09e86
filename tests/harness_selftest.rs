//! Tests of the test harness itself (tests/common), with plain Apache and
//! without mod_wsgi, so that harness problems show up separately from
//! module problems.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Apache, Mpm, ServerBuilder, chunked, is_running};

const STATIC_TEXT: &str = "static file served by plain Apache\n";

fn static_server(mpm: Mpm) -> Apache {
    ServerBuilder::new()
        .mpm(mpm)
        .load_module(false)
        .file("htdocs/a.txt", STATIC_TEXT)
        .start_ok()
}

fn assert_serves_static_file(server: &Apache) {
    let response = server.get("/a.txt");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), STATIC_TEXT);
    assert!(response.complete);
    assert_eq!(response.header("content-type"), Some("text/plain"));

    let response = server.request("HEAD", "/a.txt", &[], b"");
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.body.is_empty());
    let expected_length = STATIC_TEXT.len().to_string();
    assert_eq!(
        response.header("Content-Length"),
        Some(expected_length.as_str())
    );
}

fn check_static_file(mpm: Mpm) {
    let server = static_server(mpm);
    assert_serves_static_file(&server);
    assert!(
        server
            .error_log()
            .contains(&format!("mpm_{}:notice", mpm.name())),
        "error_log does not show the {} MPM:\n{}",
        mpm.name(),
        server.error_log()
    );
    assert_eq!(server.get("/missing").status, 404);
}

#[test]
fn serves_static_file_event() {
    check_static_file(Mpm::Event);
}

#[test]
fn serves_static_file_worker() {
    check_static_file(Mpm::Worker);
}

#[test]
fn serves_static_file_prefork() {
    check_static_file(Mpm::Prefork);
}

#[test]
fn graceful_and_restart_keep_serving() {
    let server = static_server(Mpm::Event);
    let parent = server.parent_pid();
    for _ in 0..2 {
        server.graceful();
        assert_serves_static_file(&server);
    }
    for _ in 0..2 {
        server.restart();
        assert_serves_static_file(&server);
    }
    assert_eq!(server.parent_pid(), parent);
    assert_eq!(
        server
            .error_log()
            .matches("resuming normal operations")
            .count(),
        5,
        "one start, two graceful restarts, two restarts:\n{}",
        server.error_log()
    );
}

#[test]
fn bad_directive_is_a_start_error() {
    let error = ServerBuilder::new()
        .load_module(false)
        .conf("NoSuchDirective x")
        .start()
        .expect_err("Apache started despite an unknown directive");
    assert!(
        error.to_string().contains("NoSuchDirective"),
        "StartError does not mention the directive:\n{error}"
    );
}

#[test]
fn drop_stops_server_and_removes_root() {
    let server = static_server(Mpm::Prefork);
    let parent = server.parent_pid();
    let children = server.child_pids();
    assert!(!children.is_empty(), "prefork server has no children");
    let root = server.root().to_path_buf();
    drop(server);
    for pid in std::iter::once(parent).chain(children) {
        assert!(
            !is_running(pid),
            "Apache process {pid} still running after drop"
        );
    }
    assert!(!root.exists(), "{} was not removed", root.display());
}

#[test]
fn stop_is_idempotent_and_keeps_logs() {
    let server = static_server(Mpm::Worker);
    server.get("/a.txt");
    let parent = server.parent_pid();
    server.stop();
    server.stop();
    assert!(!is_running(parent));
    assert!(server.access_log().contains("\"GET /a.txt HTTP/1.1\" 200"));
    assert!(server.wait_for_log("caught SIGTERM", Duration::from_secs(5)));
}

#[test]
fn root_placeholder_conf_and_request_framing() {
    let server = ServerBuilder::new()
        .load_module(false)
        .file("htdocs/where.txt", "root={root}")
        .file("other/b.txt", "outside htdocs")
        .conf("<IfModule !alias_module>\nLoadModule alias_module /usr/lib/apache2/modules/mod_alias.so\n</IfModule>")
        .conf("Alias /other {root}/other")
        .start_ok();
    let root = server.root().display().to_string();
    assert_eq!(server.get("/where.txt").text(), format!("root={root}"));
    assert_eq!(server.get("/other/b.txt").text(), "outside htdocs");

    // The static handler reads and discards a request body; a chunked one
    // exercises `chunked` and the Transfer-Encoding passthrough.
    let response = server.request(
        "GET",
        "/where.txt",
        &[("Transfer-Encoding", "chunked")],
        &chunked(b"ignored body", 5),
    );
    assert_eq!(response.status, 200, "{response:?}");

    let response = server.raw(b"GET /where.txt HTTP/1.0\r\n\r\n");
    assert_eq!(response.version, "HTTP/1.1");
    assert_eq!(response.status, 200);
    assert!(response.complete);

    let response = server.raw(b"BOGUS\r\n\r\n");
    assert_eq!(response.status, 400, "{response:?}");
}

#[test]
fn venv_has_flask_and_django() {
    let venv = common::test_venv();
    let python = venv.join("bin/python");
    let output = Command::new(&python)
        .args(["-c", "import flask, django"])
        .output()
        .expect("cannot run the venv's python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let site = common::site_packages(&venv);
    assert!(site.join("flask").is_dir(), "{}", site.display());
    assert!(venv.join(".complete").exists());
}
