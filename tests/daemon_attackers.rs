//! Daemon mode against local attackers: processes on the same machine that
//! reach a daemon socket without being Apache (a CGI or PHP script running
//! as Apache's user, another user), and clients that try to tie up daemon
//! threads. Each test plays the attacker against a real Apache.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Apache's user (Debian's www-data) and another one.
const WWW_DATA: u32 = 33;
const NOBODY: u32 = 65534;

/// The event MPM with exactly one child process, so that the child holding
/// connections to the daemons is the one that answers the next request.
const ONE_EVENT_CHILD: &str = "StartServers 1\nServerLimit 1\nThreadsPerChild 10\n\
                               MaxRequestWorkers 10\nMinSpareThreads 1\nMaxSpareThreads 10\n\
                               ThreadLimit 10\n";

fn site() -> SiteBuilder {
    SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .mount_app("/info", "daemon_info.wsgi", "")
        .mount_app("/fds", "fds_report.wsgi", "")
        .mount_app("/upload", "input_digest.wsgi", "")
        .mount_app(
            "/embedded-fds",
            "fds_report.wsgi",
            "process-group=%{GLOBAL}",
        )
        .with(|b| {
            b.file(
                "apps/attacker_client.py",
                include_str!("apps/attacker_client.py"),
            )
            .file(
                "attacker/target.wsgi",
                include_str!("apps/attacker_target.wsgi"),
            )
        })
}

fn daemon_socket(apache: &Apache) -> PathBuf {
    let sockets: Vec<PathBuf> = std::fs::read_dir(apache.root().join("run"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            (name.starts_with("wsgi.") && name.ends_with(".sock"))
                .then(|| apache.root().join("run").join(name))
        })
        .collect();
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    sockets[0].clone()
}

/// Starts the attacker client as `uid`.
fn attacker(apache: &Apache, uid: u32, args: &[&str]) -> Child {
    Command::new("/usr/bin/python3")
        .arg(apache.root().join("apps/attacker_client.py"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .uid(uid)
        .gid(uid)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs the attacker to its end: its pid and its answer line.
fn attack(apache: &Apache, uid: u32, mode: &str, socket: &Path, script: &Path) -> (i32, String) {
    let child = attacker(
        apache,
        uid,
        &[mode, socket.to_str().unwrap(), script.to_str().unwrap()],
    );
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "attacker {mode} as uid {uid} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines = stdout.lines();
    let pid = lines.next().unwrap().parse().unwrap();
    (pid, lines.next().unwrap_or_default().to_owned())
}

fn json(apache: &Apache, path: &str) -> Value {
    let response = apache.get(path);
    assert_eq!(
        response.status,
        200,
        "{response:?}\n--- error_log ---\n{}",
        apache.error_log()
    );
    serde_json::from_slice(&response.body).unwrap()
}

fn marks(apache: &Apache) -> Vec<String> {
    std::fs::read_dir(apache.root().join("marks"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// A process running as Apache's user (or as anyone else, given access to
/// the socket) cannot get a daemon process to run anything: not a request
/// of its own, not one with a forged REMOTE_USER, not one naming a script
/// of its choosing, not with a guessed secret. Each attempt is refused and
/// logged with the attacker's pid.
#[test]
fn only_apaches_children_can_drive_a_daemon() {
    let apache = site().start();
    let marks_dir = apache.root().join("marks");
    std::fs::create_dir(&marks_dir).unwrap();
    std::fs::set_permissions(&marks_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    // The daemons are up and serve Apache.
    json(&apache, "/info");
    let socket = daemon_socket(&apache);
    let target = apache.root().join("attacker/target.wsgi");
    let daemon_script = apache.root().join("apps/daemon_info.wsgi");

    for (mode, script) in [
        ("plain", &daemon_script),
        ("forged-user", &target),
        ("plain", &target),
        ("wrong-secret", &target),
    ] {
        let (pid, answer) = attack(&apache, WWW_DATA, mode, &socket, script);
        assert_eq!(answer, "EOF", "{mode}: the daemon answered");
        let refusal = format!("Refused a connection to daemon process 'wsgi-test' from pid {pid}");
        assert!(
            apache.wait_for_log(&refusal, Duration::from_secs(5)),
            "{mode}: no {refusal:?} in\n{}",
            apache.error_log()
        );
    }
    assert_eq!(marks(&apache), Vec::<String>::new(), "the target ran");

    // Another user is kept out by the socket's mode; given access anyway,
    // SO_PEERCRED still refuses it.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (pid, answer) = attack(&apache, NOBODY, "plain", &socket, &target);
    assert_eq!(answer, "EOF");
    let refusal = format!(
        "Refused a connection to daemon process 'wsgi-test' from pid {pid} (uid {NOBODY}): \
         only Apache's user may connect"
    );
    assert!(
        apache.wait_for_log(&refusal, Duration::from_secs(5)),
        "{}",
        apache.error_log()
    );
    assert_eq!(marks(&apache), Vec::<String>::new(), "the target ran");
    // Apache's own requests are still served.
    json(&apache, "/info");
}

/// No program a daemon process or an Apache child runs inherits a
/// descriptor of a daemon socket (listener or connection).
#[test]
fn daemon_socket_descriptors_are_close_on_exec() {
    let apache = site()
        .with(|b| b.mpm_conf(ONE_EVENT_CHILD))
        .daemon_option("processes=1 threads=4")
        .start();
    let check = |path: &str, what: &str| {
        let report = json(&apache, path);
        let found = report["found"].as_object().unwrap();
        assert!(
            !found.is_empty(),
            "{what}: no daemon socket descriptor seen: {report}"
        );
        assert!(
            found.values().all(|cloexec| cloexec == true),
            "{what}: {report}"
        );
        assert_eq!(
            report["inherited"],
            serde_json::json!([]),
            "{what}: {report}"
        );
    };
    // The daemon process: its listener and the request's connection.
    check("/fds", "daemon process");
    // The Apache child, which now keeps connections to the daemon.
    for _ in 0..4 {
        json(&apache, "/info");
    }
    check("/embedded-fds", "Apache child");
}

/// A thousand connections to the daemon socket that never send anything
/// (from any process of Apache's user) neither hold daemon threads nor
/// delay Apache's requests; the daemon closes them.
#[test]
fn silent_connections_do_not_delay_requests() {
    let apache = site().start();
    json(&apache, "/info");
    let socket = daemon_socket(&apache);
    let mut silent = attacker(
        &apache,
        WWW_DATA,
        &["silent", socket.to_str().unwrap(), "-", "1000"],
    );
    let mut out = BufReader::new(silent.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready 1000", "{line}");
    for i in 0..20 {
        let sent = Instant::now();
        let response = apache.get("/info");
        let took = sent.elapsed();
        assert_eq!(
            response.status,
            200,
            "request {i}: {response:?}\n{}",
            apache.error_log()
        );
        assert!(took < Duration::from_secs(1), "request {i} took {took:?}");
    }
    assert!(
        apache.wait_for_log("did not prove the group's secret", Duration::from_secs(10)),
        "{}",
        apache.error_log()
    );
    // Every silent connection is closed within the proving time.
    thread::sleep(Duration::from_secs(3));
    silent.stdin.take().unwrap().write_all(b"").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "closed by the daemon: 1000", "{line}");
    assert!(silent.wait().unwrap().success());
}

/// Clients that send their request bodies slowly hold Apache's threads,
/// not the daemon's: with twice as many of them as the daemon has threads,
/// each sending a byte every quarter second, other requests are still
/// answered at once, and the uploads arrive whole.
#[test]
fn slow_uploads_do_not_hold_daemon_threads() {
    let apache = site().daemon_option("processes=1 threads=4").start();
    json(&apache, "/info");
    let body = b"0123456789abcdef";
    thread::scope(|scope| {
        let uploads: Vec<_> = (0..8)
            .map(|_| {
                let apache = &apache;
                scope.spawn(move || {
                    let mut stream = apache.connect();
                    write!(
                        stream,
                        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n",
                        body.len()
                    )
                    .unwrap();
                    for byte in body {
                        stream.write_all(&[*byte]).unwrap();
                        thread::sleep(Duration::from_millis(250));
                    }
                    read_response(&mut stream, false)
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(500));
        for i in 0..10 {
            let sent = Instant::now();
            let response = apache.get("/info");
            let took = sent.elapsed();
            assert_eq!(response.status, 200, "request {i}: {response:?}");
            assert!(
                took < Duration::from_secs(1),
                "request {i} took {took:?} while uploads trickled in"
            );
        }
        for upload in uploads {
            let response = upload.join().unwrap();
            assert_eq!(response.status, 200, "{response:?}");
            let report: Value = serde_json::from_slice(&response.body).unwrap();
            assert_eq!(report["size"], body.len(), "{report}");
        }
    });
}
