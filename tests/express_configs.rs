//! Configurations written for mod_wsgi load unchanged: mod_wsgi 4.9.4 and
//! 6.0.5 from PyPI write a server with their own `mod_wsgi-express
//! setup-server` for a Flask application (daemon mode, a trusted proxy
//! header, an auth user script, a URL alias, maximum-requests), the test
//! swaps this module into the generated `LoadModule` line — nothing else —
//! and the generated `apachectl` serves the application.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const FLASK_APP: &str = r#"import os
from flask import Flask, request

app = Flask(__name__)

@app.route("/")
def index():
    return "%s|%s|%s|%d" % (request.remote_addr, request.environ.get("REMOTE_USER"),
                            request.environ["mod_wsgi.process_group"], os.getpid())

application = app
"#;

const AUTH_SCRIPT: &str = r#"def check_password(environ, user, password):
    if user == "spy":
        return password == "secret"
    return None
"#;

/// A server made by `mod_wsgi-express setup-server`, stopped (by its pid
/// file) and removed when dropped.
struct ExpressServer {
    root: PathBuf,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn apachectl(root: &Path, action: &str) -> std::process::Output {
    Command::new("env")
        .args(["-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"])
        .arg(root.join("apachectl"))
        .arg(action)
        .output()
        .expect("apachectl runs")
}

impl ExpressServer {
    fn setup(version: &str) -> ExpressServer {
        let venv = mod_wsgi_venv(version);
        let root = std::env::temp_dir().join(format!(
            "mod_wsgi-rs-express-{version}-{}-{}",
            std::process::id(),
            free_port()
        ));
        let app_dir = root.with_extension("app");
        for dir in [&app_dir, &app_dir.join("static")] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(app_dir.join("app.py"), FLASK_APP).unwrap();
        std::fs::write(app_dir.join("auth.py"), AUTH_SCRIPT).unwrap();
        std::fs::write(app_dir.join("static/hello.txt"), "static text\n").unwrap();
        let port = free_port();
        let output = Command::new(venv.join("bin/mod_wsgi-express"))
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .current_dir(&app_dir)
            .arg("setup-server")
            .arg(app_dir.join("app.py"))
            .args(["--callable-object", "application"])
            .arg("--server-root")
            .arg(&root)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--user", "www-data", "--group", "www-data"])
            .args(["--processes", "2", "--threads", "5"])
            .args(["--trust-proxy-header", "X-Forwarded-For"])
            .arg("--auth-user-script")
            .arg(app_dir.join("auth.py"))
            .arg("--url-alias")
            .arg("/static")
            .arg(app_dir.join("static"))
            .args(["--maximum-requests", "50"])
            .output()
            .expect("mod_wsgi-express runs");
        assert!(
            output.status.success(),
            "setup-server ({version}) failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let server = ExpressServer { root, port };
        server.swap_load_module();
        server
    }

    /// Replaces the path in the generated `LoadModule wsgi_module` line
    /// with this module's, and changes nothing else.
    fn swap_load_module(&self) {
        let conf_path = self.root.join("httpd.conf");
        let conf = std::fs::read_to_string(&conf_path).unwrap();
        let ours = module_path();
        let mut swapped = 0;
        let lines: Vec<String> = conf
            .lines()
            .map(|line| {
                if line.trim_start().starts_with("LoadModule wsgi_module ") {
                    swapped += 1;
                    format!("LoadModule wsgi_module '{}'", ours.display())
                } else {
                    line.to_string()
                }
            })
            .collect();
        assert_eq!(swapped, 1, "one LoadModule wsgi_module line in\n{conf}");
        std::fs::write(&conf_path, lines.join("\n") + "\n").unwrap();
    }

    fn conf(&self) -> String {
        std::fs::read_to_string(self.root.join("httpd.conf")).unwrap()
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.root.join("error_log")).unwrap_or_default()
    }

    fn start(&self) {
        let output = apachectl(&self.root, "start");
        assert!(
            output.status.success(),
            "apachectl start failed:\n{}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.error_log()
        );
        let until = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < until,
                "not listening:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: localhost:{}\r\n", self.port);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        read_response(&mut stream, false)
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.root.join("httpd.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }
}

impl Drop for ExpressServer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = apachectl(&self.root, "stop");
            let until = Instant::now() + Duration::from_secs(20);
            while is_running(pid) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100));
            }
            if is_running(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
            let _ = std::fs::remove_dir_all(self.root.with_extension("app"));
        }
    }
}

fn serves_the_generated_configuration(version: &str) {
    let server = ExpressServer::setup(version);
    let conf = server.conf();
    for expected in [
        "WSGIDaemonProcess",
        "maximum-requests=50",
        "WSGITrustedProxyHeaders",
        "WSGIAuthUserScript",
        "WSGIHandlerScript",
        "WSGIRestrictEmbedded On",
    ] {
        assert!(
            conf.contains(expected),
            "{version}: no {expected} in\n{conf}"
        );
    }
    server.start();
    let anonymous = server.get("/", &[]);
    assert_eq!(
        anonymous.status,
        401,
        "{version}: {anonymous:?}\n{}",
        server.error_log()
    );
    let auth = basic_auth("spy", "secret");
    let ok = server.get(
        "/",
        &[("Authorization", &auth), ("X-Forwarded-For", "1.2.3.4")],
    );
    assert_eq!(ok.status, 200, "{version}: {ok:?}\n{}", server.error_log());
    let fields: Vec<String> = ok.text().split('|').map(str::to_string).collect();
    assert_eq!(
        fields[0], "1.2.3.4",
        "{version}: the trusted header set REMOTE_ADDR"
    );
    assert_eq!(fields[1], "spy");
    assert!(
        fields[2].ends_with(&format!(":{}", server.port)),
        "{version}: express names its daemon group host:port, not {}",
        fields[2]
    );
    let daemon: i32 = fields[3].parse().unwrap();
    assert!(
        argv0(daemon).is_some_and(|name| name.starts_with("(wsgi:")),
        "{version}: the application ran in a daemon process"
    );
    let wrong = server.get("/", &[("Authorization", &basic_auth("spy", "nope"))]);
    assert_eq!(wrong.status, 401);
    let alias = server.get("/static/hello.txt", &[("Authorization", &auth)]);
    assert_eq!(alias.status, 200, "{version}: {alias:?}");
    assert_eq!(alias.text(), "static text\n");
    let log = server.error_log();
    assert!(!log.contains("Invalid command"), "{version}:\n{log}");
}

#[test]
fn mod_wsgi_4_9_4_express_configuration() {
    serves_the_generated_configuration("4.9.4");
}

#[test]
fn mod_wsgi_6_0_5_express_configuration() {
    serves_the_generated_configuration("6.0.5");
}
