//! What one process (an Apache child, later a daemon) knows about itself:
//! the MPM's shape, and whether Python started.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use apache_sys as ap;
use python_embed::PythonSettings;
use python_embed::threads::with_main_interpreter;

use crate::apache::log;
use crate::config::ServerConfig;
use crate::wsgi::backend::Level;
use crate::wsgi::environ::ServerFacts;
use crate::wsgi::interpreter::prepare_main_interpreter;
use crate::wsgi::log::set_server_log;

static MULTITHREAD: AtomicBool = AtomicBool::new(false);
static MULTIPROCESS: AtomicBool = AtomicBool::new(false);

fn mpm_query(what: u32) -> Option<i32> {
    let mut value = 0;
    // SAFETY: ap_mpm_query writes one int.
    let rv = unsafe { ap::ap_mpm_query(what as i32, &mut value) };
    (rv == 0).then_some(value)
}

/// Records whether the MPM runs several threads per process and several
/// processes (for `wsgi.multithread` / `wsgi.multiprocess`). Called in the
/// parent; children inherit the values.
pub fn record_mpm() {
    let threaded = mpm_query(ap::AP_MPMQ_IS_THREADED).unwrap_or(0)
        != ap::AP_MPMQ_NOT_SUPPORTED as i32
        && mpm_query(ap::AP_MPMQ_MAX_THREADS).unwrap_or(1) != 1;
    let forked = mpm_query(ap::AP_MPMQ_IS_FORKED).unwrap_or(0) != ap::AP_MPMQ_NOT_SUPPORTED as i32
        && mpm_query(ap::AP_MPMQ_MAX_DAEMONS).unwrap_or(1) != 1;
    MULTITHREAD.store(threaded, Ordering::Relaxed);
    MULTIPROCESS.store(forked, Ordering::Relaxed);
}

pub fn server_facts() -> ServerFacts {
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
static PYTHON_STATUS: OnceLock<Result<(), String>> = OnceLock::new();

pub fn python_status() -> Result<(), String> {
    PYTHON_STATUS
        .get()
        .cloned()
        .unwrap_or_else(|| Err("Python has not been initialised in this process".into()))
}

fn server_log(level: Level, line: &str) {
    log::server(std::ptr::null(), level, line);
}

/// Initialises Python in this process from the main server's settings and
/// prepares the main interpreter.
pub fn start_python(config: &ServerConfig) {
    let status = start_python_inner(config);
    if let Err(reason) = &status {
        for (i, line) in reason.lines().enumerate() {
            let line = if i == 0 {
                log::ours(line)
            } else {
                line.to_string()
            };
            log::server(std::ptr::null(), Level::Error, &line);
        }
    }
    let _ = PYTHON_STATUS.set(status);
}

fn start_python_inner(config: &ServerConfig) -> Result<(), String> {
    log::server(
        std::ptr::null(),
        Level::Info,
        &log::ours("Initializing Python."),
    );
    let settings = PythonSettings {
        optimize: config.python_optimize.unwrap_or(0),
        home: config.python_home.clone(),
        argv0: "mod_wsgi".into(),
    };
    python_embed::lifecycle::initialize(&settings)?;
    set_server_log(server_log);
    let python_path = config.python_path.clone().unwrap_or_default();
    let report = |line: &str| log::server(std::ptr::null(), Level::Error, &log::ours(line));
    with_main_interpreter(
        |py| match prepare_main_interpreter(py, &python_path, report) {
            Ok(_) => Ok(()),
            Err(_) => {
                let mut lines = vec!["Failed to prepare the Python interpreter:".to_string()];
                lines.extend(python_embed::raised::take_traceback_lines(py));
                Err(lines.join("\n"))
            }
        },
    )
}
