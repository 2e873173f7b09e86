//! The pip path, end to end: `pip install .` into a fresh venv, then the
//! venv's own `mod_wsgi-express` serves a Flask application installed in
//! the same venv — daemon mode by default, embedded mode on request, as a
//! module, with reloading, over HTTPS, as a user who is not root — and
//! `setup-server`, `module-config` and `install-module` put the module
//! where a sysadmin wants it.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const FLASK_APP: &str = r#"import os
from flask import Flask, request

app = Flask(__name__)

@app.route("/")
def index():
    return "flask|%s|%d|%s" % (request.environ["mod_wsgi.process_group"], os.getpid(),
                               request.environ.get("wsgi.url_scheme"))

@app.route("/where")
def where():
    return "%s|%s" % (request.environ["SCRIPT_NAME"], request.environ["PATH_INFO"])

application = app
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A directory everyone can read (Apache's children are www-data), removed
/// when dropped unless the test failed.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "mod_wsgi-rs-express-{name}-{}-{}",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Scratch(dir)
    }

    fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.0.join(rel);
        let parent = path.parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The venv's `mod_wsgi-express`, run with a clean environment (as a user
/// running it from a login shell would have).
fn express(venv: &Path) -> Command {
    let mut command = Command::new(venv.join("bin/mod_wsgi-express"));
    command
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                venv.join("bin").display()
            ),
        )
        .env("LANG", "C.UTF-8");
    command
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A `start-server` in the foreground: this process is Apache's parent
/// (mod_wsgi-express becomes it), stopped with SIGTERM when dropped.
struct Foreground {
    child: Child,
    root: PathBuf,
    port: u16,
}

impl Foreground {
    fn start(mut command: Command, root: &Path, port: u16) -> Foreground {
        let log = std::fs::File::create(root.with_extension("out")).unwrap();
        // Its own process group: prefork's parent signals its whole group
        // when it stops, and the test is not part of the server.
        let child = std::os::unix::process::CommandExt::process_group(&mut command, 0)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("mod_wsgi-express starts");
        let mut server = Foreground {
            child,
            root: root.to_path_buf(),
            port,
        };
        server.wait_listening();
        server
    }

    fn output(&self) -> String {
        let out = std::fs::read_to_string(self.root.with_extension("out")).unwrap_or_default();
        let log = std::fs::read_to_string(self.root.join("error_log")).unwrap_or_default();
        format!("--- output\n{out}--- error_log\n{log}")
    }

    fn wait_listening(&mut self) {
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mod_wsgi-express exited ({status}):\n{}", self.output());
            }
            assert!(Instant::now() < until, "not listening:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn get(&self, path: &str) -> Response {
        get(self.port, path)
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(port: u16, path: &str) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    read_response(&mut stream, false)
}

fn server_args(command: &mut Command, root: &Path, port: u16) {
    command.arg("--server-root").arg(root).args([
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ]);
}

#[test]
fn pip_install_puts_the_module_and_express_into_the_venv() {
    let venv = pip_installed_venv();
    let output = Command::new(venv.join("bin/python"))
        .env_remove("PYTHONPATH")
        .args([
            "-c",
            "import mod_wsgi_rs, importlib.metadata as m; print(mod_wsgi_rs.module_location()); \
             print(m.distribution('mod-wsgi-rs').metadata['Name'])",
        ])
        .output()
        .unwrap();
    assert_success("import mod_wsgi_rs", &output);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut lines = stdout.lines();
    let module = PathBuf::from(lines.next().unwrap());
    assert!(module.is_file(), "{module:?}");
    assert!(module.starts_with(&venv), "{module:?} is not in {venv:?}");
    assert_eq!(lines.next(), Some("mod-wsgi-rs"));

    // It is a module Apache can load: it exports wsgi_module and links
    // the libpython of the Python that ran pip.
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&module)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&nm.stdout).contains(" wsgi_module"));

    let location = express(&venv).arg("module-location").output().unwrap();
    assert_success("module-location", &location);
    assert_eq!(
        String::from_utf8_lossy(&location.stdout).trim(),
        module.to_str().unwrap()
    );

    // Nothing claims mod_wsgi's own distribution name.
    let pip = Command::new(venv.join("bin/pip"))
        .args(["show", "mod_wsgi"])
        .output()
        .unwrap();
    assert!(
        !pip.status.success(),
        "a distribution named mod_wsgi is installed"
    );
}

#[test]
fn start_server_serves_flask_from_a_daemon_by_default() {
    let venv = pip_installed_venv();
    let app = Scratch::new("daemon");
    let script = app.write("app.py", FLASK_APP);
    let root = app.0.join("root");
    let port = free_port();
    let mut command = express(&venv);
    command.current_dir(&app.0).arg("start-server").arg(&script);
    server_args(&mut command, &root, port);
    let server = Foreground::start(command, &root, port);

    let response = server.get("/");
    assert_eq!(response.status, 200, "{}", server.output());
    let body = response.text();
    let fields: Vec<&str> = body.split('|').collect();
    assert_eq!(fields[0], "flask");
    assert_eq!(
        fields[1],
        format!("127.0.0.1:{port}"),
        "the daemon group is HOST:PORT"
    );
    assert_ne!(fields[2], server.child.id().to_string());
    assert_eq!(server.get("/where").text(), "|/where");
    assert_eq!(server.get("/missing").status, 404);

    // mod_wsgi-express's own summary and files.
    let out = server.output();
    assert!(out.contains("Operating Mode     : daemon"), "{out}");
    assert!(
        out.contains(&format!("Server URL         : http://127.0.0.1:{port}/")),
        "{out}"
    );
    let conf = std::fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(conf.contains("threads=\"5\""), "{conf}");
    assert!(conf.contains("WSGIPythonHome"), "{conf}");
}

#[test]
fn embedded_mode_runs_flask_in_apaches_children() {
    let venv = pip_installed_venv();
    let app = Scratch::new("embedded");
    // Quotes, a space and a backslash in the path: httpd.conf and the
    // handler script must both read it back exactly.
    let script = app.write("it's \"odd\" \\dir/app.py", FLASK_APP);
    let root = app.0.join("root");
    let port = free_port();
    let mut command = express(&venv);
    command
        .current_dir(&app.0)
        .arg("start-server")
        .arg(&script)
        .arg("--embedded-mode")
        .args(["--processes", "2", "--threads", "4"]);
    server_args(&mut command, &root, port);
    let server = Foreground::start(command, &root, port);
    let body = server.get("/").text();
    assert!(body.starts_with("flask||"), "{body}\n{}", server.output());
    let conf = std::fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(!conf.contains("WSGIDaemonProcess"), "{conf}");
    assert!(server.output().contains("Operating Mode     : embedded"));
}

#[test]
fn setup_server_writes_an_apachectl_that_starts_and_stops_it() {
    let venv = pip_installed_venv();
    let app = Scratch::new("setup");
    let script = app.write("app.py", FLASK_APP);
    app.write("static/hello.txt", "static text\n");
    let root = app.0.join("root");
    let port = free_port();
    let mut command = express(&venv);
    command
        .current_dir(&app.0)
        .arg("setup-server")
        .arg(&script)
        .arg("--url-alias")
        .arg("/static")
        .arg(app.0.join("static"))
        .args(["--processes", "2", "--access-log"]);
    server_args(&mut command, &root, port);
    let output = command.output().unwrap();
    assert_success("setup-server", &output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("Control Script"));
    assert!(
        !root.join("httpd.pid").exists(),
        "setup-server started Apache"
    );

    let apachectl = |action: &str| {
        Command::new("env")
            .args(["-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            .arg(root.join("apachectl"))
            .arg(action)
            .output()
            .unwrap()
    };
    assert_success("apachectl configtest", &apachectl("configtest"));
    let _stop = StopOnDrop(root.clone());
    assert_success("apachectl start", &apachectl("start"));
    let until = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "not listening");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Apache writes its pid file once it is up.
    let pid = loop {
        let pid = std::fs::read_to_string(root.join("httpd.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            break pid;
        }
        assert!(Instant::now() < until, "no pid file");
        std::thread::sleep(Duration::from_millis(100));
    };
    let first = get(port, "/").text();
    assert!(first.starts_with("flask|"), "{first}");
    assert_eq!(get(port, "/static/hello.txt").text(), "static text\n");
    // Apache logs a request after answering it.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let access_log = std::fs::read_to_string(root.join("access_log")).unwrap_or_default();
        if access_log.contains("GET /static/hello.txt") {
            break;
        }
        assert!(Instant::now() < until, "{access_log}");
        std::thread::sleep(Duration::from_millis(50));
    }

    assert_success("apachectl stop", &apachectl("stop"));
    let until = Instant::now() + Duration::from_secs(20);
    while is_running(pid) {
        assert!(Instant::now() < until, "Apache {pid} did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops the Apache of the server root (by its pid file) if the test ends
/// before it did.
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.0.join("httpd.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = pid.filter(|pid| is_running(*pid)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

#[test]
fn module_config_lines_load_the_module_into_another_apache() {
    let venv = pip_installed_venv();
    let output = express(&venv).arg("module-config").output().unwrap();
    assert_success("module-config", &output);
    let lines = String::from_utf8(output.stdout).unwrap();
    assert!(lines.starts_with("LoadModule wsgi_module \""), "{lines}");
    assert!(
        lines.contains(&format!("WSGIPythonHome \"{}\"", venv.display())),
        "{lines}"
    );
    // A private Apache that has only these lines from us serves an app
    // that imports Flask from the venv.
    let server = Apache::builder()
        .load_module(false)
        .conf(&lines)
        .file(
            "app/app.wsgi",
            "import flask\n\ndef application(environ, start_response):\n    \
             start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
             return [('flask ' + flask.__name__).encode()]\n",
        )
        .conf("WSGIScriptAlias / {root}/app/app.wsgi\n<Directory {root}/app>\n  Require all granted\n</Directory>\n")
        .start_ok();
    let response = server.get("/");
    assert_eq!(response.text(), "flask flask", "{}", server.error_log());
}

#[test]
fn install_module_copies_it_into_a_modules_directory() {
    let venv = pip_installed_venv();
    let dir = Scratch::new("modules");
    let output = express(&venv)
        .arg("install-module")
        .arg(format!("--modules-directory={}", dir.0.display()))
        .output()
        .unwrap();
    assert_success("install-module", &output);
    let lines = String::from_utf8(output.stdout).unwrap();
    let installed: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(installed.len(), 1, "{installed:?}");
    let name = installed[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("mod_wsgi_rs-py3") && name.ends_with(".so"),
        "{name}"
    );
    assert!(
        lines.contains(&format!(
            "LoadModule wsgi_module \"{}\"",
            installed[0].display()
        )),
        "{lines}"
    );
}

#[test]
fn module_application_type_serves_package_module_callable() {
    let venv = pip_installed_venv();
    let app = Scratch::new("module");
    app.write("shop/__init__.py", "");
    app.write(
        "shop/web.py",
        &FLASK_APP
            .replace("application = app\n", "")
            .replace("app = Flask", "site = Flask")
            .replace("@app.", "@site."),
    );
    let root = app.0.join("root");
    let port = free_port();
    let mut command = express(&venv);
    command
        .current_dir(&app.0)
        .args([
            "start-server",
            "--application-type",
            "module",
            "shop.web:site",
        ])
        .args(["--mount-point", "/shop"]);
    server_args(&mut command, &root, port);
    let server = Foreground::start(command, &root, port);
    let body = server.get("/shop/").text();
    assert!(body.starts_with("flask|"), "{body}\n{}", server.output());
    // Mounted at /shop: SCRIPT_NAME carries it.
    assert_eq!(server.get("/shop/where").text(), "/shop|/where");
}

#[test]
fn reload_on_changes_restarts_the_daemon_when_a_module_changes() {
    let venv = pip_installed_venv();
    let app = Scratch::new("reload");
    // The change is to a module the application imports, not to the entry
    // point (which plain reloading would notice too).
    let settings = app.write("settings.py", "VERSION = 'one'\n");
    app.write(
        "versioned.py",
        "import settings\n\ndef application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [settings.VERSION.encode()]\n",
    );
    let root = app.0.join("root");
    let port = free_port();
    let mut command = express(&venv);
    command
        .current_dir(&app.0)
        .args(["start-server", "--application-type", "module", "versioned"])
        .arg("--reload-on-changes");
    server_args(&mut command, &root, port);
    let server = Foreground::start(command, &root, port);
    assert_eq!(server.get("/").text(), "one", "{}", server.output());
    // A second later, so that the change shows in the modification time.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&settings, "VERSION = 'two'\n").unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let response = server.get("/");
        if response.status == 200 && response.text() == "two" {
            break;
        }
        assert!(
            Instant::now() < until,
            "never reloaded:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        server.output().contains("Change detected to"),
        "{}",
        server.output()
    );
}

/// Writes a self-signed certificate for `common_name`, valid for a day,
/// and its unencrypted key; `extra` are more `openssl req` arguments.
fn self_signed_certificate(key: &Path, cert: &Path, common_name: &str, extra: &[&str]) {
    let openssl = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .arg("-subj")
        .arg(format!("/CN={common_name}"))
        .args(extra)
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("openssl runs");
    assert_success("openssl req", &openssl);
}

#[test]
fn https_with_a_self_signed_certificate() {
    let venv = pip_installed_venv();
    let app = Scratch::new("https");
    let script = app.write("app.py", FLASK_APP);
    let cert = app.0.join("server.crt");
    let key = app.0.join("server.key");
    self_signed_certificate(
        &key,
        &cert,
        "127.0.0.1",
        &["-addext", "subjectAltName=IP:127.0.0.1"],
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let root = app.0.join("root");
    let port = free_port();
    let https_port = free_port();
    let mut command = express(&venv);
    command
        .current_dir(&app.0)
        .arg("start-server")
        .arg(&script)
        .args(["--https-port", &https_port.to_string()])
        .arg("--ssl-certificate-file")
        .arg(&cert)
        .arg("--ssl-certificate-key-file")
        .arg(&key)
        .arg("--https-only");
    server_args(&mut command, &root, port);
    let server = Foreground::start(command, &root, port);

    let curl = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&cert)
        .arg(format!("https://127.0.0.1:{https_port}/"))
        .output()
        .unwrap();
    assert_success("curl over HTTPS", &curl);
    let body = String::from_utf8_lossy(&curl.stdout);
    assert!(
        body.starts_with("flask|") && body.ends_with("|https"),
        "{body}\n{}",
        server.output()
    );

    // --https-only: the plain port only redirects.
    let plain = server.get("/where");
    assert_eq!(plain.status, 301, "{}", server.output());
    assert_eq!(
        plain.header("location"),
        Some(format!("https://127.0.0.1:{https_port}/where").as_str())
    );
}

#[test]
fn a_user_who_is_not_root_runs_start_server_as_themselves() {
    let venv = pip_installed_venv();
    let app = Scratch::new("nobody");
    let script = app.write("app.py", FLASK_APP);
    // nobody's writable server root, made by nobody.
    let root = app.0.join("root");
    let port = free_port();
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(venv.join("bin/mod_wsgi-express"))
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("TMPDIR", &app.0)
        .current_dir(&app.0)
        .arg("start-server")
        .arg(&script);
    server_args(&mut command, &root, port);
    std::fs::set_permissions(&app.0, std::fs::Permissions::from_mode(0o777)).unwrap();
    let server = Foreground::start(command, &root, port);
    let body = server.get("/").text();
    assert!(body.starts_with("flask|"), "{body}\n{}", server.output());
    let conf = std::fs::read_to_string(root.join("apachectl")).unwrap();
    assert!(
        conf.contains("MOD_WSGI_USER=${MOD_WSGI_USER:-'nobody'}"),
        "{conf}"
    );
    // Every process of the server, daemon included, is nobody's.
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
    let daemon_pid: i32 = body.split('|').nth(2).unwrap().parse().unwrap();
    for pid in [server.child.id() as i32, daemon_pid] {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            uid_line.split_whitespace().nth(1) == Some(&nobody.to_string()),
            "{pid}: {uid_line}"
        );
    }
}

#[test]
fn bad_options_stop_it_with_a_message_naming_them() {
    let venv = pip_installed_venv();
    let dir = Scratch::new("refused");
    let script = dir.write("app.py", FLASK_APP);
    let root = dir.0.join("root");
    let cases: &[(&[&str], &str)] = &[
        (&["--port", "70000"], "--port"),
        (&["--threads", "0"], "--threads"),
        (&["--enable-debugger"], "--enable-debugger"),
        (&["--https-port", "8443"], "--https-port"),
        // A value that would end the directive and start another.
        (
            &["--setenv", "K", "v\nInclude /etc/shadow"],
            "cannot go into httpd.conf",
        ),
        (
            &["--python-path", "/srv/${HOME}"],
            "cannot go into httpd.conf",
        ),
    ];
    for (args, named) in cases {
        let output = express(&venv)
            .arg("setup-server")
            .arg(&script)
            .arg("--server-root")
            .arg(&root)
            .args(*args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert!(
            !root.join("httpd.conf").exists(),
            "{args:?} wrote a configuration"
        );
    }
}

/// Every option at once, in both modes: httpd accepts the configuration
/// the templates write (the branches no other test starts a server for).
#[test]
fn every_option_writes_a_configuration_httpd_accepts() {
    let venv = pip_installed_venv();
    let dir = Scratch::new("everything");
    let script = dir.write("app.py", FLASK_APP);
    let hooks = dir.write(
        "hooks.py",
        "def check_password(environ, user, password):\n    return None\n\n\
         def groups_for_user(environ, user):\n    return []\n\n\
         def allow_access(environ, host):\n    return True\n",
    );
    let include = dir.write("extra.conf", "# included\n");
    let envvars = dir.write("envvars.sh", "export EXTRA=1\n");
    let base = dir.0.join("site");
    self_signed_certificate(
        &base.with_extension("key"),
        &base.with_extension("crt"),
        "www.example.test",
        &[],
    );
    for (mode, extra) in [
        ("daemon", &["--processes", "3", "--max-clients", "40"][..]),
        (
            "embedded",
            &["--embedded-mode", "--server-mpm", "prefork"][..],
        ),
    ] {
        let root = dir.0.join(format!("root-{mode}"));
        let mut command = express(&venv);
        command
            .current_dir(&dir.0)
            .arg("setup-server")
            .arg(&script)
            .args([
                "--server-name",
                "www.example.test",
                "--server-alias",
                "a.example.test",
            ])
            .args([
                "--allow-localhost",
                "--https-port",
                &free_port().to_string(),
            ])
            .arg("--ssl-certificate")
            .arg(&base)
            .arg("--ssl-ca-certificate-file")
            .arg(base.with_extension("crt"))
            .args([
                "--ssl-verify-client",
                "/secure",
                "--ssl-environment",
                "--https-only",
            ])
            .args([
                "--hsts-policy",
                "max-age=60",
                "--server-status",
                "--server-metrics",
            ])
            .args([
                "--compress-responses",
                "--access-log",
                "--access-log-format",
                "combined",
            ])
            .args(["--error-log-format", "%M", "--startup-log", "--rotate-logs"])
            .args(["--directory-index", "index.html", "--directory-listing"])
            .args([
                "--allow-override",
                "FileInfo",
                "--setenv",
                "COLOUR",
                "blue \"navy\"",
            ])
            .args(["--passenv", "HOME", "--ignore-activity", "/health"])
            .arg("--include-file")
            .arg(&include)
            .arg("--envvars-script")
            .arg(&envvars)
            .arg("--auth-user-script")
            .arg(&hooks)
            .arg("--auth-group-script")
            .arg(&hooks)
            .arg("--host-access-script")
            .arg(&hooks)
            .args([
                "--trust-proxy-header",
                "X-Forwarded-For",
                "--trust-proxy",
                "10.0.0.0/8",
            ])
            .args(["--switch-interval", "0.01", "--python-warnings", "ignore"])
            .args([
                "--mount-point",
                "/app",
                "--keep-alive-timeout",
                "0",
                "--enable-sendfile",
            ])
            .args([
                "--error-override",
                "--chunked-request",
                "--map-head-to-get",
                "Off",
            ])
            .args([
                "--initial-workers",
                "0.5",
                "--request-timeout",
                "30",
                "--interrupt-timeout",
                "5",
            ])
            .args([
                "--send-buffer-size",
                "8192",
                "--receive-buffer-size",
                "8192",
            ])
            .arg("--log-directory")
            .arg(dir.0.join(format!("logs-{mode}")))
            .args(["--locale", "C.UTF-8", "--python-path"])
            .arg(dir.0.join("with space"))
            .args(extra);
        server_args(&mut command, &root, free_port());
        let output = command.output().unwrap();
        assert_success(&format!("setup-server ({mode})"), &output);
        let configtest = Command::new("env")
            .args(["-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
            .arg(root.join("apachectl"))
            .arg("configtest")
            .output()
            .unwrap();
        assert_success(&format!("apachectl configtest ({mode})"), &configtest);
        let conf = std::fs::read_to_string(root.join("httpd.conf")).unwrap();
        assert!(
            conf.contains(r#"SetEnv "COLOUR" "blue \"navy\"""#),
            "{mode}:\n{conf}"
        );
    }
}

/// `python -m build --sdist` makes a source distribution that pip builds
/// and installs on its own: nothing it needs is left out of MANIFEST.in.
#[test]
fn the_sdist_builds_and_installs_into_a_fresh_venv() {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Scratch::new("sdist");
    let tools = dir.0.join("tools");
    let venv = dir.0.join("venv");
    for env in [&tools, &venv] {
        let made = Command::new("/usr/bin/python3")
            .args(["-m", "venv"])
            .arg(env)
            .output()
            .unwrap();
        assert_success("python3 -m venv", &made);
    }
    // Niced: the build shares the machine with tests that time things.
    let pip = |env: &Path| {
        let mut command = Command::new("nice");
        command
            .args(["-n", "10"])
            .arg(env.join("bin/pip"))
            .env_remove("PYTHONPATH")
            .env_remove("PYO3_PYTHON")
            .args([
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
            ]);
        command
    };
    assert_success(
        "pip install build",
        &pip(&tools).arg("build==1.2.2.post1").output().unwrap(),
    );
    let sdist_dir = dir.0.join("dist");
    let built = Command::new(tools.join("bin/python"))
        .env_remove("PYO3_PYTHON")
        .args(["-m", "build", "--sdist", "--outdir"])
        .arg(&sdist_dir)
        .arg(checkout)
        .output()
        .unwrap();
    assert_success("python -m build --sdist", &built);
    let sdist = std::fs::read_dir(&sdist_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("an sdist");
    assert!(
        sdist
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("mod_wsgi_rs-"),
        "{sdist:?}"
    );
    let installed = pip(&venv)
        .arg(&sdist)
        .env("CARGO_TARGET_DIR", checkout.join("target/pip-sdist"))
        .output()
        .unwrap();
    assert_success("pip install SDIST", &installed);
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let chmod = Command::new("chmod")
        .arg("-R")
        .arg("a+rX")
        .arg(&venv)
        .output()
        .unwrap();
    assert_success("chmod", &chmod);

    let script = dir.write(
        "hello.wsgi",
        "def application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'from the sdist']\n",
    );
    let root = dir.0.join("root");
    let port = free_port();
    let mut command = express(&venv);
    command.current_dir(&dir.0).arg("start-server").arg(&script);
    server_args(&mut command, &root, port);
    let server = Foreground::start(command, &root, port);
    assert_eq!(
        server.get("/").text(),
        "from the sdist",
        "{}",
        server.output()
    );
}

const ENVIRON_APP: &str = r#"import json, os, sys

def application(environ, start_response):
    import beside
    body = json.dumps({
        "remote_addr": environ["REMOTE_ADDR"],
        "colour": environ.get("COLOUR"),
        "cwd": os.getcwd(),
        "beside": beside.NAME,
        "pid": os.getpid(),
        "group": environ["mod_wsgi.process_group"],
        "processes": __import__("mod_wsgi").maximum_processes,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"#;

/// What the serving options do, on one server: the document root before
/// the application, --setenv, --python-path, --working-directory,
/// --include-file, --compress-responses, --server-status, a trusted proxy,
/// --limit-request-body, --maximum-requests, and the logs on the terminal.
#[test]
fn serving_options_do_what_mod_wsgi_express_documents() {
    let venv = pip_installed_venv();
    let dir = Scratch::new("serving");
    let script = dir.write("site/app.wsgi", ENVIRON_APP);
    dir.write("lib/beside.py", "NAME = 'from --python-path'\n");
    let text = "static text ".repeat(200);
    dir.write("docs/page.txt", &text);
    dir.write("work/.keep", "");
    let include = dir.write("extra.conf", "Header set X-Included yes\n");
    let root = dir.0.join("root");
    let port = free_port();
    let mut command = express(&venv);
    command
        .current_dir(&dir.0)
        .arg("start-server")
        .arg(&script)
        .arg("--document-root")
        .arg(dir.0.join("docs"))
        .args(["--setenv", "COLOUR", "blue"])
        .arg("--python-path")
        .arg(dir.0.join("lib"))
        .arg("--working-directory")
        .arg(dir.0.join("work"))
        .arg("--include-file")
        .arg(&include)
        .args(["--compress-responses", "--server-status"])
        .args([
            "--trust-proxy-header",
            "X-Forwarded-For",
            "--trust-proxy",
            "127.0.0.1",
        ])
        .args(["--limit-request-body", "10", "--maximum-requests", "3"])
        .args(["--processes", "2", "--log-to-terminal", "--access-log"]);
    server_args(&mut command, &root, port);
    let server = Foreground::start(command, &root, port);

    let json = |response: Response| -> serde_json::Value {
        assert_eq!(
            response.status,
            200,
            "{}\n{}",
            response.text(),
            server.output()
        );
        serde_json::from_str(&response.text()).expect("JSON")
    };
    let request = |path: &str, headers: &[(&str, &str)], body: &[u8]| -> Response {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let method = if body.is_empty() { "GET" } else { "POST" };
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        read_response(&mut stream, false)
    };

    let first = json(request(
        "/anything",
        &[("X-Forwarded-For", "203.0.113.9")],
        b"",
    ));
    assert_eq!(first["colour"], "blue");
    assert_eq!(first["beside"], "from --python-path");
    assert_eq!(first["cwd"], dir.0.join("work").to_str().unwrap());
    assert_eq!(
        first["remote_addr"], "203.0.113.9",
        "the trusted proxy's header"
    );
    assert_eq!(first["group"], format!("127.0.0.1:{port}"));
    assert_eq!(first["processes"], 2);

    // The document root is served by Apache, compressed when asked for;
    // what is not in it goes to the application.
    let page = request("/page.txt", &[("Accept-Encoding", "gzip")], b"");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    assert!(page.body.len() < text.len() / 4);
    assert_eq!(page.header("x-included"), Some("yes"), "--include-file");
    assert_eq!(request("/page.txt", &[], b"").body, text.as_bytes());

    let status = request("/server-status?auto", &[], b"");
    assert_eq!(status.status, 200);
    assert!(status.text().contains("ServerUptime"), "{}", status.text());

    assert_eq!(request("/upload", &[], b"more than ten bytes").status, 413);

    // --maximum-requests 3 across 2 processes: within a dozen requests a
    // process has been replaced.
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..12 {
        pids.insert(json(request("/", &[], b""))["pid"].as_i64().unwrap());
    }
    assert!(pids.len() > 2, "no daemon process was replaced: {pids:?}");

    // The logs are on the terminal.
    let until = Instant::now() + Duration::from_secs(10);
    while !server.output().contains("GET /page.txt") {
        assert!(
            Instant::now() < until,
            "no access log line:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.output().contains("resuming normal operations"),
        "{}",
        server.output()
    );
    assert!(!root.join("error_log").exists());
}

/// RHEL names Apache `httpd` and keeps its modules elsewhere: with
/// --httpd-executable and --modules-directory naming such a layout (here
/// links to Debian's files), the generated server uses exactly those.
#[test]
fn another_apache_layout_is_used_when_named() {
    let venv = pip_installed_venv();
    let dir = Scratch::new("layout");
    let script = dir.write("app.py", FLASK_APP);
    let bin = dir.0.join("sbin");
    let modules = dir.0.join("lib64/httpd/modules");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&modules).unwrap();
    std::os::unix::fs::symlink("/usr/sbin/apache2", bin.join("httpd")).unwrap();
    for entry in std::fs::read_dir("/usr/lib/apache2/modules").unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), modules.join(entry.file_name())).unwrap();
    }
    let root = dir.0.join("root");
    let port = free_port();
    let mut command = express(&venv);
    command
        .current_dir(&dir.0)
        .arg("start-server")
        .arg(&script)
        .arg(format!(
            "--httpd-executable={}",
            bin.join("httpd").display()
        ))
        .arg("--modules-directory")
        .arg(&modules)
        .args(["--server-mpm", "prefork", "--access-log"]);
    server_args(&mut command, &root, port);
    let server = Foreground::start(command, &root, port);
    assert!(
        server.get("/").text().starts_with("flask|"),
        "{}",
        server.output()
    );
    let conf = std::fs::read_to_string(root.join("httpd.conf")).unwrap();
    assert!(
        conf.contains(&format!(
            "LoadModule mpm_prefork_module \"{}/mod_mpm_prefork.so\"",
            modules.display()
        )),
        "{conf}"
    );
    let apachectl = std::fs::read_to_string(root.join("apachectl")).unwrap();
    assert!(
        apachectl.contains(&format!("exec '{}'", bin.join("httpd").display())),
        "{apachectl}"
    );
}

/// `--application-type static` serves the document root and nothing else;
/// `start-server --setup-only` writes the server root and exits.
#[test]
fn static_sites_and_setup_only() {
    let venv = pip_installed_venv();
    let dir = Scratch::new("static");
    dir.write("public/index.html", "<p>static site</p>\n");
    let root = dir.0.join("root");
    let port = free_port();
    let mut setup_only = express(&venv);
    setup_only
        .current_dir(&dir.0)
        .args([
            "start-server",
            "--setup-only",
            "--application-type",
            "static",
        ])
        .arg("--document-root")
        .arg(dir.0.join("public"))
        .args(["--directory-index", "index.html"]);
    server_args(&mut setup_only, &root, port);
    let output = setup_only.output().unwrap();
    assert_success("start-server --setup-only", &output);
    assert!(root.join("apachectl").is_file());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "--setup-only started Apache"
    );

    let mut command = express(&venv);
    command
        .current_dir(&dir.0)
        .args(["start-server", "--application-type", "static"])
        .arg("--document-root")
        .arg(dir.0.join("public"))
        .args(["--directory-index", "index.html"]);
    server_args(&mut command, &root, port);
    let server = Foreground::start(command, &root, port);
    assert_eq!(
        server.get("/").text(),
        "<p>static site</p>\n",
        "{}",
        server.output()
    );
    assert_eq!(server.get("/no-such-page").status, 404);
    assert!(
        !server.output().contains("wsgi:error"),
        "{}",
        server.output()
    );
}
