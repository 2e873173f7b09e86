//! Python for a process, as the configuration asks: the settings from the
//! main server's configuration, initialisation, the import scripts, and
//! shutdown within a bound. Shared by the Apache parent (with
//! WSGILazyInitialization Off), Apache's children and daemon processes.

use std::path::Path;

use apache_sys as ap;
use pyo3::prelude::*;
use python_embed::raised::take_traceback_lines;
use python_embed::threads::with_interpreter;
use python_embed::{HashSeed, PyResultExt, PythonSettings, lifecycle};

use crate::apache::log;
use crate::config::ServerConfig;
use crate::wsgi::interpreter;
use crate::wsgi::log::{ServerLines, set_server_log};
use crate::wsgi::script::{OnChange, ScriptLoad, load_script};
use wsgi_core::directives::import_script::ImportScript;
use wsgi_core::level::Level;

/// How long Python may take to shut down when a process exits (atexit
/// callbacks, non-daemon threads) before the process is ended anyway.
pub const SHUTDOWN_TIMEOUT_SECONDS: u32 = 5;

pub fn server_log(level: Level, line: &str) {
    log::server(std::ptr::null(), level, line);
}

pub fn log_lines(lines: &[String]) {
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

pub fn initialize(config: &ServerConfig) -> Result<(), lifecycle::InitError> {
    log::server(
        std::ptr::null(),
        Level::Info,
        &log::ours("Initializing Python."),
    );
    lifecycle::initialize(&python_settings(config))?;
    set_server_log(server_log);
    Ok(())
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
        let config = unsafe { crate::config::access::server_config(server) };
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

/// How an import script's SystemExit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemExitIs {
    /// A failure, logged (an ordinary import script).
    Failure,
    /// The script's way to end (a `threads=0` service script, stopped by
    /// a signal), not logged.
    TheEnd,
}

pub fn import_script(script: &ImportScript) {
    import_script_with(script, SystemExitIs::Failure)
}

pub fn import_script_with(script: &ImportScript, system_exit: SystemExitIs) {
    let target = match interpreter::interpreter_for(&script.application_group) {
        Ok(target) => target,
        Err(failure) => return log_lines(&failure.lines),
    };
    with_interpreter(target.interpreter, |py| {
        if load_script(
            py,
            Path::new(&script.path),
            &ScriptLoad {
                on_change: OnChange::Reload,
                known_mtime: None,
                case_sensitive_paths: crate::context::case_sensitive_paths(),
                resource: None,
                application_group: &script.application_group,
                log: &ServerLines,
            },
            &target.types.names,
        )
        .is_err()
        {
            if system_exit == SystemExitIs::TheEnd
                && python_embed::raised::exception_matches::<pyo3::exceptions::PySystemExit>(py)
            {
                python_embed::raised::clear(py);
                return;
            }
            let mut lines = vec![format!(
                "Failed to import WSGI script '{}' into application group '{}'.",
                script.path, script.application_group
            )];
            lines.extend(take_traceback_lines(py));
            log_lines(&lines);
        }
    });
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
    use nix::sys::signal::{SigHandler, SigSet, Signal, signal};
    // SAFETY: the default action installs no handler; Apache does not use
    // SIGALRM.
    let _ = unsafe { signal(Signal::SIGALRM, SigHandler::SigDfl) };
    let mut alarm_only = SigSet::empty();
    alarm_only.add(Signal::SIGALRM);
    let _ = alarm_only.thread_unblock();
    nix::unistd::alarm::set(seconds.max(1));
    interpreter::publish_process_stopping();
    log::server(
        std::ptr::null(),
        Level::Info,
        &log::ours("Destroying Python interpreters."),
    );
    interpreter::forget_all();
    lifecycle::finalize();
    nix::unistd::alarm::cancel();
}

/// Makes SIGTERM, SIGINT and SIGHUP raise `SystemExit` in the main
/// thread's Python code, so that a `threads=0` service script that never
/// returns ends when the process is told to stop (mod_wsgi's behaviour).
/// The handlers are installed through `_signal`, below WSGIRestrictSignal's
/// interception of `signal.signal`; a script may still install its own.
pub fn stop_signals_raise_system_exit() {
    let Ok(main) = interpreter::interpreter_for("") else {
        return;
    };
    with_interpreter(main.interpreter, |py| {
        let code = c"import _signal\n\
def _mod_wsgi_stop(signum, frame):\n    raise SystemExit(0)\n\
for _number in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):\n    \
_signal.signal(_number, _mod_wsgi_stop)\n";
        let namespace = pyo3::types::PyDict::new(py);
        if py.run(code, Some(&namespace), None).raised(py).is_err() {
            let mut lines =
                vec!["Cannot install the stop signals of a service process:".to_string()];
            lines.extend(take_traceback_lines(py));
            log_lines(&lines);
        }
    });
}

/// WSGISwitchInterval / switch-interval=: `sys.setswitchinterval()` once,
/// process-wide.
pub fn set_switch_interval(interval: std::time::Duration) {
    let Ok(main) = interpreter::interpreter_for("") else {
        return;
    };
    with_interpreter(main.interpreter, |py| {
        let set = py
            .import("sys")
            .and_then(|sys| sys.getattr("setswitchinterval"))
            .and_then(|set| set.call1((interval.as_secs_f64(),)))
            .raised(py);
        match set {
            Ok(_) => log::server(
                std::ptr::null(),
                Level::Info,
                &log::ours(&format!(
                    "Python switch interval set to {} seconds.",
                    interval.as_secs_f64()
                )),
            ),
            Err(_) => {
                let mut lines = vec!["Cannot set the Python switch interval:".to_string()];
                lines.extend(take_traceback_lines(py));
                log_lines(&lines);
            }
        }
    });
}
