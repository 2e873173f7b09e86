//! Private Apache httpd instances for integration tests.
//!
//! Every server gets its own root directory under the system temp dir, its
//! own port and its own pid file, so any number of them can run at once
//! (threads under `cargo test`, processes under `cargo nextest`). The only
//! process-wide state is a counter used to name the root directories.
//!
//! Apache's children run as `www-data`, so everything they read at run time
//! (config, apps, fixtures) lives under the server root with world-readable
//! permissions; nothing is read from the checkout or from `/root`.

use std::fmt;
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const APACHE_BINARY: &str = "/usr/sbin/apache2";
const APACHE_MODULES_DIR: &str = "/usr/lib/apache2/modules";
/// The only environment variable Apache gets: the test process's environment
/// (RUST_*, CARGO_*, a PATH with a Python under /root, ...) must not leak
/// into the server or the embedded interpreter.
const CLEAN_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// Logged at NOTICE level by the parent at the end of every start, graceful
/// restart and restart. Apache logs NOTICE messages whatever the LogLevel,
/// so this is a reliable marker that a (new) generation is up.
const READY_MARKER: &str = "resuming normal operations";
/// Error-log messages after which the daemon exits without writing a pid
/// file; seeing one lets `start` fail at once instead of after a timeout.
const FATAL_START_MARKERS: &[&str] = &[
    "AH00015", // Unable to open logs
    "AH00016", // Configuration Failed (e.g. a module's post_config hook failed)
    "no listening sockets available",
    "Address already in use",
];
const ADDRESS_IN_USE: &str = "Address already in use";
const PORT_ATTEMPTS: usize = 5;

const PID_FILE_TIMEOUT: Duration = Duration::from_secs(20);
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const RESTART_TIMEOUT: Duration = Duration::from_secs(30);
const PARENT_EXIT_TIMEOUT: Duration = Duration::from_secs(15);
const CHILDREN_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Names server roots uniquely within this process; the pid makes them
/// unique across concurrently running test processes.
static SERVER_ROOT_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The Apache multi-processing module to run under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mpm {
    Event,
    Worker,
    Prefork,
}

impl Mpm {
    pub const ALL: [Mpm; 3] = [Mpm::Event, Mpm::Worker, Mpm::Prefork];

    pub fn name(self) -> &'static str {
        match self {
            Mpm::Event => "event",
            Mpm::Worker => "worker",
            Mpm::Prefork => "prefork",
        }
    }

    /// One child (with 8 threads where the MPM has threads), so that every
    /// request meets the same process: for `ServerBuilder::mpm_conf`.
    pub fn single_child_tuning(self) -> &'static str {
        match self {
            Mpm::Prefork => {
                "StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nServerLimit 1\n\
                 MaxRequestWorkers 1\n"
            }
            Mpm::Event | Mpm::Worker => {
                "ServerLimit 1\nStartServers 1\nThreadsPerChild 8\nMaxRequestWorkers 8\n\
                 MinSpareThreads 1\nMaxSpareThreads 8\n"
            }
        }
    }

    /// Small enough that many servers can run side by side, large enough
    /// that tests with concurrent requests do not queue.
    fn default_tuning(self) -> &'static str {
        match self {
            Mpm::Event | Mpm::Worker => {
                "ServerLimit 4\n\
                 ThreadLimit 64\n\
                 StartServers 2\n\
                 ThreadsPerChild 40\n\
                 MaxRequestWorkers 80\n\
                 MinSpareThreads 1\n\
                 MaxSpareThreads 80\n"
            }
            Mpm::Prefork => {
                "StartServers 4\n\
                 MinSpareServers 2\n\
                 MaxSpareServers 10\n\
                 MaxRequestWorkers 64\n"
            }
        }
    }
}

/// The module under test: `$MOD_WSGI_SO` if set, else the
/// `libmod_wsgi.so` built together with this test binary.
pub fn module_path() -> PathBuf {
    let path = match std::env::var_os("MOD_WSGI_SO") {
        Some(path) => PathBuf::from(path),
        None => {
            // Test binaries live in target/<profile>/deps/, where cargo also
            // leaves the cdylib it builds for them; the copy one level up is
            // only refreshed by `cargo build` and may be stale.
            let exe = std::env::current_exe().expect("cannot locate the running test binary");
            let deps = exe
                .parent()
                .expect("test binary is not in target/<profile>/deps/");
            let fresh = deps.join("libmod_wsgi.so");
            if fresh.is_file() {
                fresh
            } else {
                deps.parent()
                    .expect("test binary is not in target/<profile>/deps/")
                    .join("libmod_wsgi.so")
            }
        }
    };
    assert!(
        path.is_file(),
        "the mod_wsgi module {} does not exist: build it with `cargo build` \
         or point MOD_WSGI_SO at it",
        path.display()
    );
    // Apache resolves relative LoadModule paths against ServerRoot.
    fs::canonicalize(&path).unwrap_or_else(|err| panic!("cannot resolve {}: {err}", path.display()))
}

/// Why a server did not come up.
#[derive(Clone)]
pub struct StartError {
    /// What the harness saw go wrong (exit status, timeout, ...).
    pub reason: String,
    /// stdout and stderr of `apache2 -k start` (config syntax errors end up here).
    pub output: String,
    /// The server's error_log (errors after daemonising end up here).
    pub error_log: String,
    /// The generated httpd.conf. Not part of `Display`, so that assertions on
    /// the error text do not match directives merely present in the config.
    pub config: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Apache failed to start: {}", self.reason)?;
        writeln!(f, "--- apache2 output ---")?;
        writeln!(f, "{}", self.output.trim_end())?;
        writeln!(f, "--- error_log ---")?;
        write!(f, "{}", self.error_log.trim_end())
    }
}

impl fmt::Debug for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for StartError {}

/// Something to put into the server root before starting, in call order so
/// that a later `file` can override part of an earlier `copy_dir`.
enum RootEntry {
    File {
        rel_path: PathBuf,
        contents: Vec<u8>,
    },
    CopyDir {
        src: PathBuf,
        rel_dest: PathBuf,
    },
}

/// Configures and starts an [`Apache`].
pub struct ServerBuilder {
    mpm: Mpm,
    load_module: bool,
    extra_conf: String,
    entries: Vec<RootEntry>,
    mpm_conf: Option<String>,
    log_level: String,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            mpm: Mpm::Event,
            load_module: true,
            extra_conf: String::new(),
            entries: Vec::new(),
            mpm_conf: None,
            log_level: "info".to_owned(),
        }
    }
}

impl ServerBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn mpm(mut self, mpm: Mpm) -> Self {
        self.mpm = mpm;
        self
    }

    /// Whether to `LoadModule wsgi_module` (default: yes).
    pub fn load_module(mut self, load: bool) -> Self {
        self.load_module = load;
        self
    }

    /// Appends raw httpd.conf text after the standard part. `{root}` is
    /// replaced by the server root.
    pub fn conf(mut self, text: &str) -> Self {
        self.extra_conf.push_str(text);
        if !text.ends_with('\n') {
            self.extra_conf.push('\n');
        }
        self
    }

    /// Like [`conf`](Self::conf), but puts the text before everything
    /// appended so far.
    pub fn conf_first(mut self, text: &str) -> Self {
        let mut first = text.to_owned();
        if !first.ends_with('\n') {
            first.push('\n');
        }
        self.extra_conf.insert_str(0, &first);
        self
    }

    /// Writes a file under the server root (parent dirs are created).
    /// `{root}` in the contents is replaced by the server root.
    pub fn file(mut self, rel_path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Self {
        let rel_path = checked_relative(rel_path.as_ref());
        self.entries.push(RootEntry::File {
            rel_path,
            contents: contents.as_ref().to_vec(),
        });
        self
    }

    /// Copies a directory tree (e.g. a fixture app) to `<root>/<rel_dest>`,
    /// byte for byte (no `{root}` substitution).
    pub fn copy_dir(mut self, src: &Path, rel_dest: impl AsRef<Path>) -> Self {
        let rel_dest = checked_relative(rel_dest.as_ref());
        self.entries.push(RootEntry::CopyDir {
            src: src.to_path_buf(),
            rel_dest,
        });
        self
    }

    /// Replaces the default MPM tuning block. `{root}` is substituted.
    pub fn mpm_conf(mut self, text: &str) -> Self {
        self.mpm_conf = Some(text.to_owned());
        self
    }

    /// `LogLevel` (default `info`); anything Apache accepts, e.g. `"warn wsgi:debug"`.
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_owned();
        self
    }

    /// Starts the server, or panics with Apache's output and error_log.
    pub fn start_ok(self) -> Apache {
        match self.start() {
            Ok(apache) => apache,
            Err(err) => panic!("{err}\n--- httpd.conf ---\n{}", numbered(&err.config)),
        }
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(self) -> Result<Apache, StartError> {
        let module = self.load_module.then(module_path);
        let root = create_server_root();
        if let Err(err) = self.populate_root(&root) {
            let _ = fs::remove_dir_all(&root);
            panic!("cannot prepare server root {}: {err}", root.display());
        }

        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = unused_port();
            let config = self.render_config(&root, port, module.as_deref());
            match launch(&root, port, &config) {
                Ok(parent) => {
                    return Ok(Apache {
                        root,
                        port,
                        parent,
                        stopped: AtomicBool::new(false),
                    });
                }
                // Another process took the port between our probe and
                // Apache's bind; try another one.
                Err(err)
                    if err.output.contains(ADDRESS_IN_USE)
                        || err.error_log.contains(ADDRESS_IN_USE) =>
                {
                    last_error = Some(err);
                }
                Err(err) => {
                    let _ = fs::remove_dir_all(&root);
                    return Err(err);
                }
            }
        }
        let _ = fs::remove_dir_all(&root);
        Err(last_error.expect("at least one start attempt was made"))
    }

    fn populate_root(&self, root: &Path) -> io::Result<()> {
        for subdir in ["conf", "logs", "run", "apps", "htdocs"] {
            create_dir_all_readable(&root.join(subdir))?;
        }
        for entry in &self.entries {
            match entry {
                RootEntry::File { rel_path, contents } => {
                    write_readable_file(root, rel_path, contents)?;
                }
                RootEntry::CopyDir { src, rel_dest } => {
                    copy_tree(src, &root.join(rel_dest)).map_err(|err| {
                        io::Error::new(
                            err.kind(),
                            format!("copying {} to {}: {err}", src.display(), rel_dest.display()),
                        )
                    })?;
                }
            }
        }
        Ok(())
    }

    fn render_config(&self, root: &Path, port: u16, module: Option<&Path>) -> String {
        let root_str = root.to_str().expect("temp dir path is not UTF-8");
        let mpm = self.mpm.name();
        let mpm_tuning = match &self.mpm_conf {
            Some(text) => substitute_root(text, root_str),
            None => self.mpm.default_tuning().to_owned(),
        };
        let wsgi = match module {
            Some(path) => format!("LoadModule wsgi_module \"{}\"\n", path.display()),
            None => "# mod_wsgi not loaded (load_module(false))\n".to_owned(),
        };
        let level = &self.log_level;
        let extra = substitute_root(&self.extra_conf, root_str);
        format!(
            r#"# Generated by tests/common/apache.rs
ServerRoot "{root_str}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root_str}/run/httpd.pid"
DefaultRuntimeDir "{root_str}/run"
Mutex "file:{root_str}/run" default
ErrorLog "{root_str}/logs/error_log"
LogLevel {level}
LogFormat "%h %l %u %t \"%r\" %>s %b" common
CustomLog "{root_str}/logs/access_log" common
User www-data
Group www-data
ServerTokens Full
Timeout 60

LoadModule mpm_{mpm}_module {APACHE_MODULES_DIR}/mod_mpm_{mpm}.so
{mpm_tuning}
LoadModule authz_core_module {APACHE_MODULES_DIR}/mod_authz_core.so
LoadModule mime_module {APACHE_MODULES_DIR}/mod_mime.so
TypesConfig /etc/mime.types
{wsgi}
DocumentRoot "{root_str}/htdocs"
<Directory />
    Require all granted
</Directory>

# --- test-specific configuration ---
{extra}"#
        )
    }
}

/// A running Apache; stopped (and its root removed) on drop.
#[derive(Debug)]
pub struct Apache {
    root: PathBuf,
    port: u16,
    parent: ProcessId,
    /// Atomic rather than a Cell so that tests can share `&Apache` across
    /// threads for concurrent requests.
    stopped: AtomicBool,
}

impl Apache {
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The parent (root) process, as read from the pid file at start. It
    /// survives graceful restarts and restarts.
    pub fn parent_pid(&self) -> i32 {
        self.parent.pid
    }

    /// Live (non-zombie) processes whose parent is the Apache parent:
    /// worker children, and any daemon processes the module forks.
    pub fn child_pids(&self) -> Vec<i32> {
        if !self.parent.is_alive() {
            return Vec::new();
        }
        children_of(self.parent.pid)
            .into_iter()
            .map(|child| child.pid)
            .collect()
    }

    pub fn error_log(&self) -> String {
        read_lossy(&self.root.join("logs/error_log"))
    }

    pub fn access_log(&self) -> String {
        read_lossy(&self.root.join("logs/access_log"))
    }

    /// Polls the error_log until it contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.error_log().contains(needle))
    }

    /// Makes `rel` (a directory under the server root) writable by every
    /// user, so that applications running as www-data can leave files there.
    pub fn writable_dir(&self, rel: &str) -> PathBuf {
        let dir = self.root.join(rel);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
            .unwrap_or_else(|err| panic!("cannot open up {}: {err}", dir.display()));
        dir
    }

    /// Writes (or overwrites) a file under the server root while the server
    /// runs, with the same `{root}` substitution and permissions as
    /// [`ServerBuilder::file`]; e.g. to change a script before a restart.
    pub fn write_file(&self, rel_path: impl AsRef<Path>, contents: impl AsRef<[u8]>) {
        let rel_path = checked_relative(rel_path.as_ref());
        let root_str = self.root.to_str().expect("temp dir path is not UTF-8");
        let contents = substitute_root_bytes(contents.as_ref(), root_str);
        write_readable_file(&self.root, &rel_path, &contents)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", rel_path.display()));
    }

    /// `apache2 -k graceful`, then waits for the new generation.
    pub fn graceful(&self) {
        self.restart_with("graceful");
    }

    /// `apache2 -k restart`, then waits for the new generation.
    pub fn restart(&self) {
        self.restart_with("restart");
    }

    fn restart_with(&self, action: &str) {
        assert!(
            !self.stopped.load(Ordering::SeqCst),
            "cannot {action} a stopped server"
        );
        let generations_before = self.error_log().matches(READY_MARKER).count();
        let output = apache_command(&self.root, action)
            .output()
            .expect("cannot run apache2");
        if !output.status.success() {
            panic!(
                "`apache2 -k {action}` failed ({}):\n{}\n--- error_log ---\n{}",
                output.status,
                combined_output(&output),
                self.error_log()
            );
        }
        // A module failing on restart makes the parent exit; notice that
        // at once rather than after the timeout.
        let new_generation = wait_until(RESTART_TIMEOUT, || {
            !self.parent.is_alive()
                || self.error_log().matches(READY_MARKER).count() > generations_before
        });
        if !self.parent.is_alive() {
            panic!(
                "Apache exited during `-k {action}`:\n--- error_log ---\n{}",
                self.error_log()
            );
        }
        if !new_generation {
            panic!(
                "Apache did not report {READY_MARKER:?} within {RESTART_TIMEOUT:?} after \
                 `-k {action}`:\n--- error_log ---\n{}",
                self.error_log()
            );
        }
        if !wait_for_port(self.port, READY_TIMEOUT, Some(self.parent)) {
            panic!(
                "Apache stopped accepting connections after `-k {action}`:\n\
                 --- error_log ---\n{}",
                self.error_log()
            );
        }
    }

    /// Stops the server (SIGTERM to the parent, then waits for it and its
    /// children). Idempotent; the root and its logs stay until drop.
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        // The pid file is authoritative while the server runs; the pid
        // recorded at start covers a parent that died and lost it.
        let parent = read_pid_file(&self.root)
            .and_then(ProcessId::of)
            .unwrap_or(self.parent);
        stop_server(&self.root, Some(parent));
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!(
                "test failed: keeping Apache server root {} for debugging",
                self.root.display()
            );
        } else if let Err(err) = fs::remove_dir_all(&self.root) {
            eprintln!("cannot remove {}: {err}", self.root.display());
        }
    }
}

/// Runs `apache2 -k start` and waits until the server is ready. On failure,
/// anything that was started has been stopped again.
fn launch(root: &Path, port: u16, config: &str) -> Result<ProcessId, StartError> {
    let conf_path = root.join("conf/httpd.conf");
    fs::write(&conf_path, config)
        .and_then(|()| set_mode(&conf_path, 0o644))
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", conf_path.display()));
    // A previous attempt's log would show its failure again.
    let _ = fs::remove_file(root.join("logs/error_log"));
    let _ = fs::remove_file(root.join("run/httpd.pid"));

    let fail = |reason: String, output: String, parent: Option<ProcessId>| {
        stop_server(root, parent);
        StartError {
            reason,
            output,
            error_log: read_lossy(&root.join("logs/error_log")),
            config: config.to_owned(),
        }
    };

    // `-k start` parses the config in the foreground (syntax errors make it
    // exit non-zero), then daemonises: the command returns while the daemon
    // is still binding the port and writing its pid file.
    let output = apache_command(root, "start")
        .output()
        .expect("cannot run /usr/sbin/apache2");
    let output_text = combined_output(&output);
    if !output.status.success() {
        return Err(fail(
            format!("`apache2 -k start` exited with {}", output.status),
            output_text,
            None,
        ));
    }

    let error_log_path = root.join("logs/error_log");
    let mut fatal = None;
    let mut parent = None;
    wait_until(PID_FILE_TIMEOUT, || {
        parent = read_pid_file(root).and_then(ProcessId::of);
        if parent.is_some() {
            return true;
        }
        let log = read_lossy(&error_log_path);
        fatal = FATAL_START_MARKERS.iter().find(|m| log.contains(*m));
        fatal.is_some()
    });
    let Some(parent) = parent else {
        let reason = match fatal {
            Some(marker) => format!("the daemon exited ({marker:?} in the error_log)"),
            None => format!("no pid file within {PID_FILE_TIMEOUT:?}"),
        };
        return Err(fail(reason, output_text, None));
    };

    // The marker is logged after the pid file is written; waiting for it
    // makes graceful()/restart() count generations from the right base.
    let ready = wait_until(READY_TIMEOUT, || {
        !parent.is_alive() || read_lossy(&error_log_path).contains(READY_MARKER)
    });
    if !ready || !parent.is_alive() {
        return Err(fail(
            format!("the server (pid {}) did not get ready", parent.pid),
            output_text,
            Some(parent),
        ));
    }
    if !wait_for_port(port, READY_TIMEOUT, Some(parent)) {
        return Err(fail(
            format!("port {port} did not accept connections"),
            output_text,
            Some(parent),
        ));
    }
    Ok(parent)
}

/// `apache2 -d <root> -f <root>/conf/httpd.conf -k <action>` with a clean
/// environment.
fn apache_command(root: &Path, action: &str) -> Command {
    let mut command = Command::new(APACHE_BINARY);
    command
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .arg("-d")
        .arg(root)
        .arg("-f")
        .arg(root.join("conf/httpd.conf"))
        .args(["-k", action])
        .stdin(Stdio::null());
    command
}

/// Stops the server rooted at `root`: SIGTERM to the parent only, then wait
/// for it and the children it had; SIGKILL only to those processes, and
/// only if they do not exit in time.
fn stop_server(root: &Path, parent: Option<ProcessId>) {
    if let Some(parent) = parent.filter(|parent| parent.is_alive()) {
        let mut children = children_of(parent.pid);
        parent.signal(libc::SIGTERM);
        // The parent may have forked between the listing and the signal.
        for child in children_of(parent.pid) {
            if !children.contains(&child) {
                children.push(child);
            }
        }
        if !wait_until(PARENT_EXIT_TIMEOUT, || !parent.is_alive()) {
            eprintln!(
                "Apache parent {} ignored SIGTERM for {PARENT_EXIT_TIMEOUT:?}; killing it",
                parent.pid
            );
            parent.signal(libc::SIGKILL);
            wait_until(PARENT_EXIT_TIMEOUT, || !parent.is_alive());
        }
        if !wait_until(CHILDREN_EXIT_TIMEOUT, || {
            children.iter().all(|child| !child.is_alive())
        }) {
            for child in children.iter().filter(|child| child.is_alive()) {
                eprintln!("Apache child {} outlived its parent; killing it", child.pid);
                child.signal(libc::SIGKILL);
            }
        }
    }
    // Safety net for processes the above cannot see, e.g. a daemon that
    // hung before writing its pid file: anything whose command line names
    // this server's config file belongs to this server and nobody else.
    let conf_path = root.join("conf/httpd.conf");
    let stray = processes_with_arg(conf_path.as_os_str().as_encoded_bytes());
    for process in &stray {
        eprintln!(
            "killing stray process {} of server {}",
            process.pid,
            root.display()
        );
        process.signal(libc::SIGKILL);
    }
    wait_until(CHILDREN_EXIT_TIMEOUT, || {
        stray.iter().all(|process| !process.is_alive())
    });
}

/// A process identified by pid *and* start time, so that a recycled pid is
/// never mistaken for (or signalled as) one of our processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProcessId {
    pid: i32,
    start_time: u64,
}

/// The fields of /proc/<pid>/stat the harness needs.
struct ProcStat {
    state: char,
    parent_pid: i32,
    start_time: u64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesised and may contain spaces
    // and parentheses, so parse from the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        parent_pid: fields.get(1)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

impl ProcessId {
    fn of(pid: i32) -> Option<ProcessId> {
        let stat = proc_stat(pid)?;
        Some(ProcessId {
            pid,
            start_time: stat.start_time,
        })
    }

    /// Zombies count as gone: the daemonised parent is reparented to init,
    /// which reaps it on its own schedule.
    fn is_alive(&self) -> bool {
        match proc_stat(self.pid) {
            Some(stat) => stat.start_time == self.start_time && !matches!(stat.state, 'Z' | 'X'),
            None => false,
        }
    }

    fn signal(&self, signal: libc::c_int) {
        if self.is_alive() {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe {
                libc::kill(self.pid, signal);
            }
        }
    }
}

fn all_pids() -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

fn children_of(parent_pid: i32) -> Vec<ProcessId> {
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = proc_stat(pid)?;
            (stat.parent_pid == parent_pid && !matches!(stat.state, 'Z' | 'X')).then_some(
                ProcessId {
                    pid,
                    start_time: stat.start_time,
                },
            )
        })
        .collect()
}

/// Live processes with `arg` as one of their command-line arguments.
fn processes_with_arg(arg: &[u8]) -> Vec<ProcessId> {
    let own_pid = i32::try_from(std::process::id()).expect("pid fits in pid_t");
    all_pids()
        .into_iter()
        .filter(|&pid| pid != own_pid)
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).any(|a| a == arg))
        })
        .filter_map(ProcessId::of)
        .filter(ProcessId::is_alive)
        .collect()
}

fn read_pid_file(root: &Path) -> Option<i32> {
    // Apache writes the file non-atomically; an empty or partial read
    // fails to parse and the caller polls again.
    fs::read_to_string(root.join("run/httpd.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Waits until `port` accepts a connection; gives up early if `parent` dies.
fn wait_for_port(port: u16, timeout: Duration, parent: Option<ProcessId>) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut parent_died = false;
    let connected = wait_until(timeout, || {
        if parent.is_some_and(|parent| !parent.is_alive()) {
            parent_died = true;
            return true;
        }
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
    });
    connected && !parent_died
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// A port that was free a moment ago. Apache binds it a little later, so
/// another process may take it first; `start` retries on EADDRINUSE.
fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("cannot bind an ephemeral port on 127.0.0.1")
        .port()
}

fn create_server_root() -> PathBuf {
    let temp = std::env::temp_dir();
    loop {
        let n = SERVER_ROOT_COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = temp.join(format!("mod_wsgi-test-{}-{n}", std::process::id()));
        // create_dir (not _all) so that a root kept by an earlier run whose
        // process had the same pid is never reused.
        match fs::DirBuilder::new().mode(0o755).create(&root) {
            Ok(()) => {
                set_mode(&root, 0o755).expect("cannot chmod the server root");
                return root;
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => panic!("cannot create a server root in {}: {err}", temp.display()),
        }
    }
}

fn checked_relative(path: &Path) -> PathBuf {
    assert!(
        path.components().all(|c| matches!(c, Component::Normal(_))),
        "{} must be a relative path inside the server root",
        path.display()
    );
    path.to_path_buf()
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Like `create_dir_all`, but every directory it creates is 0755 whatever
/// the umask, so that www-data can enter it.
fn create_dir_all_readable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all_readable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => set_mode(dir, 0o755),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

fn write_readable_file(root: &Path, rel_path: &Path, contents: &[u8]) -> io::Result<()> {
    let root_str = root.to_str().expect("temp dir path is not UTF-8");
    let path = root.join(rel_path);
    if let Some(parent) = path.parent() {
        create_dir_all_readable(parent)?;
    }
    fs::write(&path, substitute_root_bytes(contents, root_str))?;
    set_mode(&path, 0o644)
}

/// Recursive copy following symlinks; dirs 0755, files 0644 (0755 if the
/// source is executable).
fn copy_tree(src: &Path, dest: &Path) -> io::Result<()> {
    create_dir_all_readable(dest)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let metadata = fs::metadata(&from)?;
        if metadata.is_dir() {
            copy_tree(&from, &to)?;
        } else {
            fs::copy(&from, &to)?;
            let executable = metadata.permissions().mode() & 0o111 != 0;
            set_mode(&to, if executable { 0o755 } else { 0o644 })?;
        }
    }
    Ok(())
}

fn substitute_root(text: &str, root: &str) -> String {
    text.replace("{root}", root)
}

fn substitute_root_bytes(contents: &[u8], root: &str) -> Vec<u8> {
    const PLACEHOLDER: &[u8] = b"{root}";
    let mut out = Vec::with_capacity(contents.len());
    let mut rest = contents;
    while let Some(at) = rest
        .windows(PLACEHOLDER.len())
        .position(|w| w == PLACEHOLDER)
    {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(root.as_bytes());
        rest = &rest[at + PLACEHOLDER.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

fn combined_output(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

fn numbered(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, line)| format!("{:4} {line}\n", i + 1))
        .collect()
}

/// Apache must refuse to start with `conf`, naming `directive` in its
/// message.
pub fn assert_refused(conf: &str, directive: &str) {
    match ServerBuilder::new().conf(conf).start() {
        Ok(apache) => {
            let log = apache.error_log();
            drop(apache);
            panic!("Apache started with `{conf}`:\n{log}");
        }
        Err(err) => {
            let text = err.to_string();
            assert!(
                text.contains(directive),
                "the error for `{conf}` does not name {directive}:\n{text}"
            );
        }
    }
}
