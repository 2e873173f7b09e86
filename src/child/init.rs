//! The child_init hook: what an Apache child does right after the fork.

use std::panic::{AssertUnwindSafe, catch_unwind};

use apache_sys as ap;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use python_embed::lifecycle;
use python_embed::threads::is_attached;

use crate::apache::log::{self, set_main_server};
use crate::context::{self, PythonUnavailable};
use crate::startup::{
    SHUTDOWN_TIMEOUT_SECONDS, finalize_bounded, import_script, initialize, log_lines, server_log,
    startup_scripts,
};
use crate::wsgi::interpreter::{self, InterpreterSetup};
use crate::wsgi::log::set_server_log;
use crate::wsgi::newrelic::AgentSettings;
use crate::wsgi::python_module::ProcessFacts;
use wsgi_core::level::Level;

/// httpd's child_init hook.
///
/// # Safety
/// Called by httpd with the child's pool and the main server.
pub unsafe extern "C" fn child_init(pool: *mut ap::apr_pool_t, server: *mut ap::server_rec) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        set_main_server(server);
        restore_sigchld();
        // SAFETY: httpd passes the main server and the child's pool.
        unsafe { start_python(server, pool) };
        crate::child::in_flight::watch_for_stack_asks();
    }));
    if outcome.is_err() {
        log::server(
            server,
            Level::Error,
            &log::ours("internal error while starting Python"),
        );
    }
}

/// Puts SIGCHLD back to its default action: the parent's handler (see
/// `parent/reaping.rs`) came with the fork and is not wanted here.
fn restore_sigchld() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: the default action has no handler to run.
    let _ = unsafe { sigaction(Signal::SIGCHLD, &default) };
}

/// Python for this process's requests: started (or, when inherited from
/// the parent, made safe after the fork), the main interpreter prepared,
/// import scripts loaded, and teardown at exit registered on `pool`.
///
/// # Safety
/// `server` must be the main server and `pool` the child's pool.
unsafe fn start_python(server: *mut ap::server_rec, pool: *mut ap::apr_pool_t) {
    // Apache's children never accept on the daemon sockets.
    crate::groups::close_listeners_except(None);
    // Access, auth and dispatch scripts, and import scripts for
    // %{GLOBAL}, run here whatever the mode.
    if context::embedded_restricted() && !crate::config::directives::child_scripts_configured() {
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
    let config = unsafe { crate::config::access::server_config(server) }.clone();
    let started = if lifecycle::is_initialized() {
        lifecycle::after_fork_child();
        set_server_log(server_log);
        Ok(())
    } else {
        initialize(&config)
    };
    if let Err(reason) = started {
        log_lines(&[reason.to_string()]);
        context::record_python(Err(PythonUnavailable(reason.to_string())));
        return;
    }
    let (maximum_processes, threads_per_process) = context::shape();
    // server_metrics() in Apache's children unless WSGIServerMetrics Off:
    // mod_wsgi 4.9.4 treats the unset directive as on here.
    if config.server_metrics != Some(false) {
        crate::wsgi::metrics::set_scoreboard_reader(crate::apache::scoreboard::read);
    }
    interpreter::configure(InterpreterSetup {
        python_path: config.python_path.clone().unwrap_or_default(),
        home: None,
        python_eggs: config.python_eggs.clone(),
        restrict_stdout: config.restrict_stdout.unwrap_or(false),
        restrict_stdin: config.restrict_stdin.unwrap_or(false),
        restrict_signal: config.restrict_signal.unwrap_or(true),
        facts: ProcessFacts {
            process_group: String::new(),
            maximum_processes,
            threads_per_process,
        },
        newrelic: config
            .newrelic_config_file
            .clone()
            .map(|config_file| AgentSettings {
                config_file,
                environment: config.newrelic_environment.clone(),
            }),
    });
    match interpreter::interpreter_for("") {
        Ok(_) => {
            context::record_python(Ok(()));
            if let Some(interval) = config.switch_interval {
                crate::startup::set_switch_interval(interval);
            }
        }
        Err(failure) => {
            log_lines(&failure.lines);
            context::record_python(Err(PythonUnavailable(failure.to_string())));
            return;
        }
    }
    // WSGIDestroyInterpreter Off: the process exits with Python as it is
    // (no atexit callbacks, no interpreter teardown), as in mod_wsgi.
    if config.destroy_interpreter.unwrap_or(true) {
        // SAFETY: the child pool is destroyed when the child exits.
        unsafe {
            ap::apr_pool_cleanup_register(
                pool,
                std::ptr::null(),
                Some(finalize_in_child),
                Some(ap::apr_pool_cleanup_null),
            )
        };
    }
    // SAFETY: server is the live main server.
    for script in unsafe { startup_scripts(server, "") } {
        import_script(&script);
    }
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
