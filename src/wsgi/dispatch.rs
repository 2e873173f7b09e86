//! Running a request's WSGI script in its application group: the part of
//! request handling shared by embedded mode and daemon processes.

use std::path::Path;

use pyo3::prelude::*;
use python_embed::raised::take_traceback_lines;
use python_embed::threads::{with_interpreter, without_gil};
use python_embed::{PyResultExt, Raised};

use super::backend::{Backend, RequestLog};
use super::interpreter::interpreter_for;
use super::log::ours;
use super::run::{Completion, RunRequest, run_application};
use super::script::{Loaded, OnChange, ScriptLoad, load_script};
use wsgi_core::level::Level;

/// What to run.
pub struct Target<'a> {
    /// Expanded application group (`""` is the main interpreter).
    pub application_group: &'a str,
    /// Expanded name of the application object.
    pub callable: &'a str,
    /// What a changed script file means (WSGIScriptReloading, and the mode).
    pub on_change: OnChange,
    /// WSGICaseSensitivity: Off names script modules by lower-cased path.
    pub case_sensitive_paths: bool,
}

/// Loads the script of `request` (reloading it if changed) in the target
/// interpreter and runs its application. Failures to load are logged with
/// their traceback and answered `Failed` (a 500).
pub fn dispatch(
    target: &Target<'_>,
    request: &RunRequest<'_>,
    backend: &mut dyn Backend,
    log: &dyn RequestLog,
) -> Completion {
    let script = request.script;
    let interpreter = match interpreter_for(target.application_group) {
        Ok(interpreter) => interpreter,
        Err(failure) => {
            for line in failure.lines {
                log.log(Level::Error, &ours(&format!("{line}: {script}")));
            }
            return Completion::Failed;
        }
    };
    let types = &interpreter.types;
    with_interpreter(interpreter.interpreter, |py| {
        let committed = match backend.commit(false) {
            Ok(false) => without_gil(py, || backend.commit(true)),
            done => done,
        };
        if let Err(gone) = committed {
            log.log(
                Level::Debug,
                &ours(&format!(
                    "Request abandoned before it started ({}): {script}",
                    gone.0
                )),
            );
            return Completion::Failed;
        }
        let resource = request
            .cgi
            .get("SCRIPT_FILENAME")
            .map(String::from_utf8_lossy);
        let app = load_script(
            py,
            Path::new(script),
            &ScriptLoad {
                on_change: target.on_change,
                known_mtime: request.script_mtime,
                case_sensitive_paths: target.case_sensitive_paths,
                resource: resource.as_deref(),
                application_group: target.application_group,
                log,
            },
            &types.names,
        )
        .and_then(|loaded| match loaded {
            Loaded::Module(module) => module.getattr_opt(target.callable).raised(py).map(Some),
            Loaded::Changed => Ok(None),
        });
        match app {
            Ok(None) => Completion::RestartRequired,
            Ok(Some(Some(app))) => {
                let app = super::newrelic::wrap(py, &interpreter.newrelic, app, log);
                run_application(py, types, &app, request, backend, log)
            }
            Ok(Some(None)) => {
                log.log(
                    Level::Error,
                    &ours(&format!(
                        "Target WSGI script does not contain WSGI application '{}': {script}",
                        target.callable
                    )),
                );
                Completion::Failed
            }
            Err(Raised { .. }) => {
                log.log(
                    Level::Error,
                    &ours(&format!("Failed to exec Python script file '{script}'.")),
                );
                log.log(Level::Error, &super::run::exception_line(py, script));
                super::run::note_if_memory_error(py);
                for line in take_traceback_lines(py) {
                    log.log(Level::Error, &line);
                }
                Completion::Failed
            }
        }
    })
}
