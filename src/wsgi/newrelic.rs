//! The New Relic agent, as mod_wsgi 4.x integrates it: with
//! WSGINewRelicConfigFile (or a daemon group's newrelic-config-file=),
//! each interpreter imports `newrelic.agent` and calls
//! `initialize(config_file, environment)` when it is made, and each
//! request's application is wrapped in `WSGIApplicationWrapper(app, None)`.
//! Without the package, one warning per process says so.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use python_embed::raised::take_traceback_lines;
use python_embed::{PyResultExt, Raised};

use super::backend::RequestLog;
use super::log::log_to_server;
use wsgi_core::level::Level;

/// WSGINewRelicConfigFile / WSGINewRelicEnvironment, or a daemon group's
/// options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSettings {
    pub config_file: PathBuf,
    pub environment: Option<String>,
}

/// The agent's `WSGIApplicationWrapper` in one interpreter, if the agent
/// was started there.
pub struct AgentWrapper(*mut pyo3::ffi::PyObject);

// SAFETY: the pointer is only used by threads attached to the interpreter
// that owns it, under its GIL; it is never released.
unsafe impl Send for AgentWrapper {}
// SAFETY: as above; the wrapper itself is immutable.
unsafe impl Sync for AgentWrapper {}

impl AgentWrapper {
    pub fn none() -> AgentWrapper {
        AgentWrapper(std::ptr::null_mut())
    }
}

static MISSING_REPORTED: AtomicBool = AtomicBool::new(false);

fn context(group: &str) -> String {
    format!(
        "mod_wsgi (pid={}, process='{}', application='{group}')",
        std::process::id(),
        super::interpreter::process_group()
    )
}

/// Starts the agent in the interpreter being prepared for `group`.
pub fn start_agent(py: Python<'_>, settings: &AgentSettings, group: &str) -> AgentWrapper {
    let agent = match py.import("newrelic.agent").raised(py) {
        Ok(agent) => agent,
        Err(raised) => {
            raised.clear(py);
            if !MISSING_REPORTED.swap(true, Ordering::Relaxed) {
                log_to_server(
                    Level::Warning,
                    &format!(
                        "{}: Unable to import 'newrelic.agent' module; WSGINewRelicConfigFile \
                         '{}' has no effect.",
                        context(group),
                        settings.config_file.display()
                    ),
                );
            }
            return AgentWrapper::none();
        }
    };
    log_to_server(
        Level::Info,
        &format!("{}: Imported 'newrelic.agent'.", context(group)),
    );
    let initialized = agent
        .getattr("initialize")
        .and_then(|initialize| {
            initialize.call1((
                settings.config_file.as_os_str(),
                settings.environment.as_deref(),
            ))
        })
        .raised(py);
    if let Err(Raised { .. }) = initialized {
        log_to_server(
            Level::Error,
            &format!(
                "{}: Unable to initialise New Relic agent with config '{}'.",
                context(group),
                settings.config_file.display()
            ),
        );
        for line in take_traceback_lines(py) {
            log_to_server(Level::Error, &line);
        }
        return AgentWrapper::none();
    }
    match agent.getattr("WSGIApplicationWrapper").raised(py) {
        Ok(wrapper) => AgentWrapper(wrapper.into_ptr()),
        Err(raised) => {
            raised.clear(py);
            AgentWrapper::none()
        }
    }
}

/// The application to call for this request: wrapped by the agent when it
/// runs in this interpreter (a failure to wrap is logged, and the
/// application runs unwrapped).
pub fn wrap<'py>(
    py: Python<'py>,
    wrapper: &AgentWrapper,
    app: Bound<'py, PyAny>,
    log: &dyn RequestLog,
) -> Bound<'py, PyAny> {
    if wrapper.0.is_null() {
        return app;
    }
    // SAFETY: a strong reference owned by this interpreter, which the
    // caller is attached to.
    let factory = unsafe { Bound::from_borrowed_ptr(py, wrapper.0) };
    match factory.call1((&app, py.None())).raised(py) {
        Ok(wrapped) => wrapped,
        Err(Raised { .. }) => {
            for line in take_traceback_lines(py) {
                log.log(Level::Error, &line);
            }
            app
        }
    }
}
