//! Scripts that run in the Apache child around a request (access, auth
//! and dispatch scripts): loading one in its application group, and the
//! cut-down environ mod_wsgi gives them, with `wsgi.errors` writing to the
//! request's log. What is called and how its answer reads is the caller's.

use std::path::Path;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString};
use python_embed::raised::take_traceback_lines;
use python_embed::threads::with_interpreter;
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::backend::RequestLog;
use super::environ::{ServerFacts, latin1_str};
use super::interpreter::interpreter_for;
use super::log::{CurrentRequest, expire_text_log, log_target, new_text_log, ours};
use super::script::{Loaded, OnChange, ScriptLoad, load_script};
use wsgi_core::environ::CgiEnviron;
use wsgi_core::level::Level;

/// The script to run and what it is given.
pub struct HookScript<'a> {
    pub path: &'a str,
    /// Expanded application group (`""` is the main interpreter).
    pub application_group: &'a str,
    /// WSGIScriptReloading: load the script again when its file changed.
    pub reloading: bool,
    pub case_sensitive_paths: bool,
    pub environ: &'a CgiEnviron,
    pub facts: ServerFacts,
    /// WSGIPassApacheRequest: the `request_rec` for `apache.request_rec`,
    /// or null.
    pub apache_request: *mut std::ffi::c_void,
}

/// The script failed (could not load, lacks a function it must have,
/// raised, or answered with the wrong type); the reason is in the error
/// log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookFailed;

/// Logs the pending Python exception with its traceback.
pub fn log_exception(py: Python<'_>, log: &dyn RequestLog, path: &str) {
    log.log(Level::Error, &super::run::exception_line(py, path));
    for line in take_traceback_lines(py) {
        log.log(Level::Error, &line);
    }
}

/// Loads the script in its interpreter and runs `body` with its module and
/// a fresh environ. Failures to load are logged here; `body` logs its own.
pub fn run_hook_script<R>(
    script: &HookScript<'_>,
    log: &dyn RequestLog,
    body: impl FnOnce(Python<'_>, &Bound<'_, PyAny>, Bound<'_, PyDict>) -> Result<R, HookFailed>,
) -> Result<R, HookFailed> {
    let interpreter = match interpreter_for(script.application_group) {
        Ok(interpreter) => interpreter,
        Err(failure) => {
            for line in failure.lines {
                log.log(Level::Error, &ours(&format!("{line}: {}", script.path)));
            }
            return Err(HookFailed);
        }
    };
    with_interpreter(interpreter.interpreter, |py| {
        let types = &interpreter.types;
        let on_change = if script.reloading {
            OnChange::Reload
        } else {
            OnChange::Keep
        };
        let loaded = load_script(
            py,
            Path::new(script.path),
            &ScriptLoad {
                on_change,
                known_mtime: None,
                case_sensitive_paths: script.case_sensitive_paths,
                resource: None,
                application_group: script.application_group,
                log,
            },
            &types.names,
        );
        let module = match loaded {
            Ok(Loaded::Module(module)) => module,
            // Reload never reports a change.
            Ok(Loaded::Changed) => return Err(HookFailed),
            Err(Raised { .. }) => {
                log.log(
                    Level::Error,
                    &ours(&format!(
                        "Failed to exec Python script file '{}'.",
                        script.path
                    )),
                );
                log_exception(py, log, script.path);
                return Err(HookFailed);
            }
        };
        // SAFETY: the log object made with this target is expired below,
        // before `log` goes out of scope.
        let target = unsafe { log_target(log) };
        let made = new_text_log(
            py,
            &types.log(py),
            &types.text_io_wrapper(py),
            Some(target),
            c"<wsgi.errors>",
            &types.names,
        );
        let (errors, errors_log) = match made {
            Ok(made) => made,
            Err(Raised { .. }) => {
                log_exception(py, log, script.path);
                return Err(HookFailed);
            }
        };
        let outcome = {
            // SAFETY: the guard is dropped at the end of this block, before
            // the log is.
            let _current = unsafe { CurrentRequest::enter(target) };
            match environ(py, script, &errors, &types.names) {
                Ok(environ) => body(py, &module, environ),
                Err(Raised { .. }) => {
                    log_exception(py, log, script.path);
                    Err(HookFailed)
                }
            }
        };
        // SAFETY: made by new_text_log above; the GIL is held.
        unsafe { expire_text_log(py, &errors, &errors_log) };
        outcome
    })
}

fn environ<'py>(
    py: Python<'py>,
    script: &HookScript<'_>,
    errors: &Bound<'py, PyAny>,
    names: &super::names::Names,
) -> RaisedResult<Bound<'py, PyDict>> {
    let environ = PyDict::new(py);
    let set = |key: &str, value: Bound<'py, PyAny>| environ.set_item(key, value).raised(py);
    for (name, value) in script.environ.iter() {
        environ
            .set_item(latin1_str(py, name)?, latin1_str(py, value)?)
            .raised(py)?;
    }
    let (major, minor, patch) = script.facts.apache_version;
    set(
        "apache.version",
        pyo3::types::PyTuple::new(py, [major, minor, patch])
            .raised(py)?
            .into_any(),
    )?;
    set("mod_wsgi.version", names.module_version(py))?;
    set("mod_wsgi.process_group", PyString::new(py, "").into_any())?;
    set(
        "mod_wsgi.application_group",
        latin1_str(py, script.application_group.as_bytes())?,
    )?;
    set(
        "mod_wsgi.script_reloading",
        PyInt::new(py, i32::from(script.reloading)).into_any(),
    )?;
    set("wsgi.errors", errors.clone())?;
    if !script.apache_request.is_null() {
        // SAFETY: a capsule only carries the pointer; it has no destructor
        // and httpd keeps the request alive for the call.
        let capsule = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyCapsule_New(script.apache_request, std::ptr::null(), None),
            )
        }
        .raised(py)?;
        set("apache.request_rec", capsule)?;
    }
    Ok(environ)
}
