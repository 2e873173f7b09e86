//! What one process (an Apache child, later a daemon) knows about itself,
//! and the life of Python in it: started after the fork (or inherited from
//! the parent when WSGILazyInitialization is Off), interpreters prepared,
//! import scripts loaded, and torn down in bounded time when it exits.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use apache_sys as ap;
use python_embed::raised::take_traceback_lines;
use python_embed::threads::{is_attached, with_interpreter};
use python_embed::{HashSeed, PythonSettings, lifecycle};

use crate::apache::log;
use crate::config::ServerConfig;
use crate::wsgi::backend::Level;
use crate::wsgi::environ::ServerFacts;
use crate::wsgi::interpreter::{self, InterpreterSetup};
use crate::wsgi::log::set_server_log;
use crate::wsgi::python_module::ProcessFacts;
use crate::wsgi::script::{OnChange, load_script};
use wsgi_core::directives::import_script::ImportScript;

static MULTITHREAD: AtomicBool = AtomicBool::new(false);
/// WSGIRestrictEmbedded On: Apache's children never run Python.
static EMBEDDED_RESTRICTED: AtomicBool = AtomicBool::new(false);
/// Set in a daemon process: its own facts replace the MPM's.
static DAEMON_FACTS: Mutex<Option<ServerFacts>> = Mutex::new(None);
static MULTIPROCESS: AtomicBool = AtomicBool::new(false);
static MAXIMUM_PROCESSES: AtomicU32 = AtomicU32::new(1);
static THREADS_PER_PROCESS: AtomicU32 = AtomicU32::new(1);

/// How long Python may take to shut down when a process exits (atexit
/// callbacks, non-daemon threads) before the process is ended anyway.
pub const SHUTDOWN_TIMEOUT_SECONDS: u32 = 5;

fn mpm_query(what: u32) -> Option<i32> {
    let mut value = 0;
    // SAFETY: ap_mpm_query writes one int.
    let rv = unsafe { ap::ap_mpm_query(what as i32, &mut value) };
    (rv == 0).then_some(value)
}

/// Records the MPM's shape (for `wsgi.multithread`/`wsgi.multiprocess` and
/// the `mod_wsgi` module). Called in the parent; children inherit it.
pub fn record_mpm() {
    let supported = |what| mpm_query(what).unwrap_or(0) != ap::AP_MPMQ_NOT_SUPPORTED as i32;
    let threads = if supported(ap::AP_MPMQ_IS_THREADED) {
        mpm_query(ap::AP_MPMQ_MAX_THREADS).unwrap_or(1)
    } else {
        1
    };
    let processes = if supported(ap::AP_MPMQ_IS_FORKED) {
        match mpm_query(ap::AP_MPMQ_MAX_DAEMON_USED) {
            Some(used) if used != -1 => used,
            _ => mpm_query(ap::AP_MPMQ_MAX_DAEMONS).unwrap_or(1),
        }
    } else {
        1
    };
    MULTITHREAD.store(
        threads != 1 && supported(ap::AP_MPMQ_IS_THREADED),
        Ordering::Relaxed,
    );
    MULTIPROCESS.store(
        supported(ap::AP_MPMQ_IS_FORKED) && mpm_query(ap::AP_MPMQ_MAX_DAEMONS).unwrap_or(1) != 1,
        Ordering::Relaxed,
    );
    MAXIMUM_PROCESSES.store(processes.max(1) as u32, Ordering::Relaxed);
    THREADS_PER_PROCESS.store(threads.max(1) as u32, Ordering::Relaxed);
}

/// Records WSGIRestrictEmbedded (parent; children inherit it).
pub fn record_restrict_embedded(restricted: bool) {
    EMBEDDED_RESTRICTED.store(restricted, Ordering::Relaxed);
}

pub fn embedded_restricted() -> bool {
    EMBEDDED_RESTRICTED.load(Ordering::Relaxed)
}

/// In a daemon process: what `wsgi.multithread` and friends say there.
pub fn set_daemon_facts(facts: ServerFacts) {
    *DAEMON_FACTS.lock().unwrap_or_else(|e| e.into_inner()) = Some(facts);
}

pub fn server_facts() -> ServerFacts {
    if let Some(facts) = *DAEMON_FACTS.lock().unwrap_or_else(|e| e.into_inner()) {
        return facts;
    }
    ServerFacts {
        multithread: MULTITHREAD.load(Ordering::Relaxed),
        multiprocess: MULTIPROCESS.load(Ordering::Relaxed),
        run_once: false,
        apache_version: (
            ap::AP_SERVER_MAJORVERSION_NUMBER,
            ap::AP_SERVER_MINORVERSION_NUMBER,
            ap::AP_SERVER_PATCHLEVEL_NUMBER,
        ),
    }
}

/// `major.minor` of the Python this module runs (safe before
/// initialisation: it reads a static string).
pub fn python_version() -> String {
    // SAFETY: Py_GetVersion returns a static NUL-terminated string and may
    // be called before Python is initialised.
    let full = unsafe { std::ffi::CStr::from_ptr(pyo3::ffi::Py_GetVersion()) }.to_string_lossy();
    let mut parts = full.split(['.', ' ']);
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => full.into_owned(),
    }
}

/// Whether Python is usable in this process, or why not.
static PYTHON_STATUS: Mutex<Option<Result<(), String>>> = Mutex::new(None);

pub fn python_status() -> Result<(), String> {
    PYTHON_STATUS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| Err("Python has not been initialised in this process".into()))
}

fn set_python_status(status: Result<(), String>) {
    *PYTHON_STATUS.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
}

fn server_log(level: Level, line: &str) {
    log::server(std::ptr::null(), level, line);
}

fn log_lines(lines: &[String]) {
    for (i, line) in lines.iter().enumerate() {
        let line = if i == 0 {
            log::ours(line)
        } else {
            line.clone()
        };
        log::server(std::ptr::null(), Level::Error, &line);
    }
}

/// The interpreter settings of the main server's configuration.
pub fn python_settings(config: &ServerConfig) -> PythonSettings {
    PythonSettings {
        optimize: config.python_optimize.unwrap_or(0),
        home: config.python_home.clone(),
        argv0: "mod_wsgi".into(),
        hash_seed: match config.python_hash_seed {
            None => HashSeed::Default,
            Some(None) => HashSeed::Random,
            Some(Some(seed)) => HashSeed::Fixed(seed),
        },
        write_bytecode: !config.dont_write_bytecode.unwrap_or(false),
        warnings: config.python_warnings.clone(),
    }
}

/// Whether Python starts in each process after the fork (the default).
pub fn lazy(config: &ServerConfig) -> bool {
    config.lazy_initialization.unwrap_or(true)
}

fn initialize(config: &ServerConfig) -> Result<(), String> {
    log::server(
        std::ptr::null(),
        Level::Info,
        &log::ours("Initializing Python."),
    );
    lifecycle::initialize(&python_settings(config))?;
    set_server_log(server_log);
    Ok(())
}

unsafe extern "C" fn finalize_in_parent(_data: *mut std::ffi::c_void) -> ap::apr_status_t {
    if lifecycle::is_initialized() {
        log::server(
            std::ptr::null(),
            Level::Info,
            &log::ours("Terminating Python."),
        );
        interpreter::forget_all();
        lifecycle::finalize();
    }
    0
}

/// WSGILazyInitialization Off: initialises Python in the Apache parent
/// (children inherit it) and finalises it when `pconf` is cleared on
/// restart, so a restart starts from a clean interpreter.
///
/// # Safety
/// `pconf` must be the configuration pool of this generation.
pub unsafe fn start_python_in_parent(config: &ServerConfig, pconf: *mut ap::apr_pool_t) {
    if let Err(reason) = initialize(config) {
        log_lines(&[reason]);
        return;
    }
    // SAFETY: the cleanup runs when pconf is cleared, before this module is
    // unloaded (modules are unloaded by an earlier-registered cleanup).
    unsafe {
        ap::apr_pool_cleanup_register(
            pconf,
            std::ptr::null(),
            Some(finalize_in_parent),
            Some(ap::apr_pool_cleanup_null),
        )
    };
}

/// Python for this process's requests: started (or, when inherited from
/// the parent, made safe after the fork), the main interpreter prepared,
/// import scripts loaded, and teardown at exit registered on `pool`.
///
/// # Safety
/// `server` must be the main server and `pool` the child's pool.
pub unsafe fn start_python_in_child(server: *mut ap::server_rec, pool: *mut ap::apr_pool_t) {
    // Apache's children never accept on the daemon sockets.
    crate::daemon::groups::close_listeners_except(None);
    if embedded_restricted() {
        log::server(
            std::ptr::null(),
            Level::Debug,
            &log::ours(
                "Python not started: embedded mode is restricted (WSGIRestrictEmbedded On).",
            ),
        );
        return;
    }
    // SAFETY: the main server's configuration is ours and live.
    let config = unsafe { crate::module::server_config_mut(server) }.clone();
    let started = if lifecycle::is_initialized() {
        lifecycle::after_fork_child();
        set_server_log(server_log);
        Ok(())
    } else {
        initialize(&config)
    };
    if let Err(reason) = started {
        log_lines(std::slice::from_ref(&reason));
        set_python_status(Err(reason));
        return;
    }
    interpreter::configure(InterpreterSetup {
        python_path: config.python_path.clone().unwrap_or_default(),
        restrict_stdout: config.restrict_stdout.unwrap_or(false),
        restrict_stdin: config.restrict_stdin.unwrap_or(false),
        restrict_signal: config.restrict_signal.unwrap_or(true),
        facts: ProcessFacts {
            process_group: String::new(),
            maximum_processes: MAXIMUM_PROCESSES.load(Ordering::Relaxed),
            threads_per_process: THREADS_PER_PROCESS.load(Ordering::Relaxed),
        },
    });
    match interpreter::interpreter_for("") {
        Ok(_) => set_python_status(Ok(())),
        Err(lines) => {
            log_lines(&lines);
            set_python_status(Err(lines.join(" ")));
            return;
        }
    }
    // SAFETY: the child pool is destroyed when the child exits.
    unsafe {
        ap::apr_pool_cleanup_register(
            pool,
            std::ptr::null(),
            Some(finalize_in_child),
            Some(ap::apr_pool_cleanup_null),
        )
    };
    // SAFETY: server is the live main server.
    for script in unsafe { startup_scripts(server, "") } {
        import_script(&script);
    }
}

/// WSGIImportScript lines for this process, and scripts of WSGIScriptAlias
/// lines that name both their process and application group literally
/// (which mod_wsgi also loads at start), from every server, for the
/// process group `process_group` (`""` for Apache's children).
///
/// # Safety
/// `main` must be the live main server.
pub unsafe fn startup_scripts(main: *mut ap::server_rec, process_group: &str) -> Vec<ImportScript> {
    let mut scripts: Vec<ImportScript> = Vec::new();
    let mut server = main;
    while !server.is_null() {
        // SAFETY: walking httpd's server list; each has our configuration.
        let config = unsafe { crate::module::server_config_mut(server) };
        let aliases = config.aliases.iter().filter_map(|entry| {
            let alias = &entry.alias;
            match (&alias.process_group, &alias.application_group) {
                (Some(process), Some(application))
                    if process == process_group
                        && !application.contains("%{")
                        && !(entry.regex.is_some() && alias.target.contains('$')) =>
                {
                    Some(ImportScript {
                        path: alias.target.clone(),
                        process_group: process.clone(),
                        application_group: application.clone(),
                    })
                }
                _ => None,
            }
        });
        for script in config.import_scripts.iter().cloned().chain(aliases) {
            if script.process_group == process_group && !scripts.contains(&script) {
                scripts.push(script);
            }
        }
        // SAFETY: as above.
        server = unsafe { (*server).next };
    }
    scripts
}

pub fn import_script(script: &ImportScript) {
    let target = match interpreter::interpreter_for(&script.application_group) {
        Ok(target) => target,
        Err(lines) => return log_lines(&lines),
    };
    with_interpreter(target.interpreter, |py| {
        if load_script(
            py,
            Path::new(&script.path),
            OnChange::Reload,
            None,
            &target.types.names,
        )
        .is_err()
        {
            let mut lines = vec![format!(
                "Failed to import WSGI script '{}' into application group '{}'.",
                script.path, script.application_group
            )];
            lines.extend(take_traceback_lines(py));
            log_lines(&lines);
        }
    });
}

unsafe extern "C" fn finalize_in_child(_data: *mut std::ffi::c_void) -> ap::apr_status_t {
    if is_attached() {
        // The exit was triggered (by a signal) in the middle of a request on
        // this very thread: Python cannot be torn down from here.
        return 0;
    }
    finalize_bounded(SHUTDOWN_TIMEOUT_SECONDS);
    0
}

/// Ends every interpreter (running atexit callbacks) and finalises Python,
/// ending the process if that takes more than `seconds`.
pub fn finalize_bounded(seconds: u32) {
    if !lifecycle::is_initialized() {
        return;
    }
    // A hung atexit callback or thread must not keep the process alive:
    // after the timeout, SIGALRM's default action ends it. Threaded MPMs
    // block signals in their threads, so it is unblocked on this one.
    // SAFETY: resetting SIGALRM, changing this thread's mask and arming an
    // alarm are async-signal-safe; Apache does not use SIGALRM.
    unsafe {
        libc::signal(libc::SIGALRM, libc::SIG_DFL);
        let mut alarm_only: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut alarm_only);
        libc::sigaddset(&mut alarm_only, libc::SIGALRM);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &alarm_only, std::ptr::null_mut());
        libc::alarm(seconds.max(1));
    }
    log::server(
        std::ptr::null(),
        Level::Info,
        &log::ours("Destroying Python interpreters."),
    );
    interpreter::forget_all();
    lifecycle::finalize();
    // SAFETY: cancels the alarm armed above.
    unsafe { libc::alarm(0) };
}
