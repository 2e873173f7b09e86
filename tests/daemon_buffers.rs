//! WSGIDaemonProcess options about relaying a daemon's response —
//! header-buffer-size, response-buffer-size, response-socket-timeout — and
//! `threads=0`, mod_wsgi's mode for a process that runs a service script
//! instead of taking requests.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;

const BIG_HEADER_APP: &str = r#"def application(environ, start_response):
    size = int(environ.get("HTTP_X_SIZE", "40000"))
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Big", "b" * size)])
    return [b"done"]
"#;

/// header-buffer-size: a response header longer than the buffer (32768
/// by default) is refused with 500 and a log line naming it; a bigger
/// buffer lets it through.
#[test]
fn header_buffer_size_limits_response_headers() {
    for mpm in [Mpm::Event, Mpm::Prefork] {
        let apache = SiteBuilder::new(mpm, Mode::Daemon)
            .mount("/default", "big_header.wsgi", BIG_HEADER_APP, "")
            .mount(
                "/roomy",
                "big_header.wsgi",
                BIG_HEADER_APP,
                "process-group=roomy",
            )
            .conf("WSGIDaemonProcess roomy processes=1 threads=2 header-buffer-size=65536\n")
            .start();
        let refused = apache.get("/default");
        assert_eq!(refused.status, 500, "{refused:?}");
        assert!(
            apache
                .error_log()
                .contains("more than header-buffer-size=32768"),
            "{}",
            apache.error_log()
        );
        let small = apache.request("GET", "/default", &[("X-Size", "1000")], b"");
        assert_eq!(small.status, 200);
        let roomy = apache.get("/roomy");
        assert_eq!(roomy.status, 200, "{roomy:?}");
        assert_eq!(roomy.header("X-Big").map(str::len), Some(40000));
    }
}

const STREAM_APP: &str = r#"import time

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ.get("HTTP_X_PAUSE"):
        yield b"first\n"
        time.sleep(2)
        yield b"second\n"
        return
    for i in range(3000):
        yield b"%06d" % i + b"." * 94
"#;

/// response-buffer-size: data the daemon already sent is gathered up to
/// the buffer's size, but a pause in the application still sends what
/// came before it at once (as mod_wsgi flushes when it would wait), or
/// after response-flush-delay= milliseconds (mod_wsgi 6).
#[test]
fn response_buffer_size_gathers_without_holding_back() {
    for size in ["65536", "1048576 response-flush-delay=20"] {
        let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
            .daemon_option(&format!("response-buffer-size={size}"))
            .mount("/stream", "stream.wsgi", STREAM_APP, "")
            .start();
        let whole = apache.get("/stream");
        assert_eq!(whole.status, 200);
        assert_eq!(whole.body.len(), 300_000, "response-buffer-size={size}");
        for (i, chunk) in whole.body.chunks(100).enumerate() {
            assert_eq!(&chunk[..6], format!("{i:06}").as_bytes());
        }
        // The first chunk arrives well before the application resumes.
        let mut stream = apache.connect();
        stream
            .write_all(
                b"GET /stream HTTP/1.1\r\nHost: x\r\nX-Pause: 1\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("first") {
            let n = stream.read(&mut buffer).unwrap();
            assert!(n > 0, "closed before the first chunk");
            seen.extend_from_slice(&buffer[..n]);
        }
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "the first chunk waited for the second: {:?}",
            started.elapsed()
        );
    }
}

const HUGE_APP: &str = r#"def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    block = b"x" * 65536
    for _ in range(2048):
        yield block
"#;

/// response-socket-timeout: a client that stops reading is given up on
/// after that long, not after Apache's Timeout (60 s here).
#[test]
fn response_socket_timeout_gives_up_on_stalled_clients() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .daemon_option("response-socket-timeout=2")
        .mount("/huge", "huge.wsgi", HUGE_APP, "")
        .start();
    let mut stream = apache.connect();
    stream
        .write_all(b"GET /huge HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 1024];
    let _ = stream.read(&mut head).unwrap();
    // Stop reading: the server's socket buffers fill, then its writes block.
    let started = Instant::now();
    assert!(
        apache.wait_for_log(
            "Failed to proxy response to client",
            Duration::from_secs(20)
        ),
        "{}",
        apache.error_log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "gave up only after {:?}",
        started.elapsed()
    );
    drop(stream);
    assert_eq!(apache.get("/huge").status, 200, "the group serves on");
}

const SERVICE_SCRIPT: &str = r#"import os
import time

marks = os.path.join(os.path.dirname(__file__), "..", "marks")
while not os.path.isdir(marks):  # made by the test once Apache is up
    time.sleep(0.1)
with open(os.path.join(marks, "started-%d" % os.getpid()), "w") as f:
    f.write("started")
try:
    while True:
        time.sleep(0.1)
except SystemExit:
    with open(os.path.join(marks, "stopped-%d" % os.getpid()), "w") as f:
        f.write("stopped")
    raise
"#;

const BRIEF_SCRIPT: &str = r#"import os
import time

marks = os.path.join(os.path.dirname(__file__), "..", "marks")
while not os.path.isdir(marks):
    time.sleep(0.1)
with open(os.path.join(marks, "brief-%d" % os.getpid()), "w") as f:
    f.write("ran")
"#;

fn marks(dir: &std::path::Path, prefix: &str) -> Vec<i32> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix(prefix)?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// threads=0: the process runs its import scripts as a service, in its
/// main thread; a stop signal raises SystemExit in them; a script that
/// returns ends the process, and the parent starts another.
#[test]
fn threads_zero_runs_service_scripts() {
    for mpm in [Mpm::Event, Mpm::Prefork] {
        let apache = ServerBuilder::new()
            .mpm(mpm)
            .file("apps/service.py", SERVICE_SCRIPT)
            .file("apps/brief.py", BRIEF_SCRIPT)
            .conf(
                "WSGISocketPrefix {root}/run/wsgi\n\
                 WSGIDaemonProcess service threads=0 display-name=%{GROUP}\n\
                 WSGIImportScript {root}/apps/service.py process-group=service application-group=%{GLOBAL}\n\
                 WSGIDaemonProcess brief threads=0\n\
                 WSGIImportScript {root}/apps/brief.py process-group=brief application-group=%{GLOBAL}\n",
            )
            .start_ok();
        let dir = apache.writable_dir("marks");
        wait_for("the service to start", Duration::from_secs(20), || {
            !marks(&dir, "started-").is_empty()
        });
        let service = marks(&dir, "started-")[0];
        assert_eq!(argv0(service).as_deref(), Some("(wsgi:service)"));
        // The brief script's process ends each time and is replaced.
        wait_for(
            "the brief service to be restarted",
            Duration::from_secs(30),
            || marks(&dir, "brief-").len() >= 2,
        );
        let log = apache.error_log();
        assert!(
            log.contains("running its import scripts as a service"),
            "{log}"
        );
        assert!(!log.contains("Failed to import"), "{log}");
        apache.stop();
        wait_for("SystemExit in the service", Duration::from_secs(10), || {
            marks(&dir, "stopped-").contains(&service)
        });
        assert!(!is_running(service));
    }
}
