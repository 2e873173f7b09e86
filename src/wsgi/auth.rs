//! Access and auth scripts (WSGIAccessScript, WSGIAuthUserScript,
//! WSGIAuthGroupScript): loading the script in its application group and
//! calling `allow_access`, `check_password`, `get_realm_hash` or
//! `groups_for_user` with mod_wsgi's cut-down environ, and reading the
//! answer. Always run in the Apache child, in both modes.

use std::path::Path;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};
use python_embed::raised::take_traceback_lines;
use python_embed::threads::with_interpreter;
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::backend::RequestLog;
use super::environ::{ServerFacts, latin1_str};
use super::interpreter::{WsgiInterpreter, interpreter_for};
use super::log::{CurrentRequest, expire_log, log_target, new_log};
use super::script::{Loaded, OnChange, ScriptLoad, load_script};
use wsgi_core::environ::CgiEnviron;
use wsgi_core::level::Level;

/// The script to run and what it is given.
pub struct AuthScript<'a> {
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

/// The function called and its arguments after the environ.
#[derive(Debug, Clone, Copy)]
pub enum AuthCall<'a> {
    AllowAccess { host: &'a str },
    CheckPassword { user: &'a str, password: &'a str },
    GetRealmHash { user: &'a str, realm: &'a str },
    GroupsForUser { user: &'a str },
}

impl AuthCall<'_> {
    fn function(&self) -> &'static str {
        match self {
            AuthCall::AllowAccess { .. } => "allow_access",
            AuthCall::CheckPassword { .. } => "check_password",
            AuthCall::GetRealmHash { .. } => "get_realm_hash",
            AuthCall::GroupsForUser { .. } => "groups_for_user",
        }
    }

    /// What the script lacks when the function is missing, in mod_wsgi's
    /// words.
    fn missing(&self, path: &str) -> String {
        match self {
            AuthCall::AllowAccess { .. } => {
                format!("Target WSGI host access script '{path}' does not provide host validator.")
            }
            AuthCall::CheckPassword { .. } => format!(
                "Target WSGI user authentication script '{path}' does not provide 'Basic' auth provider."
            ),
            AuthCall::GetRealmHash { .. } => format!(
                "Target WSGI user authentication script '{path}' does not provide 'Digest' auth provider."
            ),
            AuthCall::GroupsForUser { .. } => format!(
                "Target WSGI group authentication script '{path}' does not provide group provider."
            ),
        }
    }
}

/// A script's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    /// `None`: no opinion (access), unknown user (authentication).
    Unknown,
    Allowed,
    Denied,
    /// `check_password` accepted the user under this name.
    UserNamed(String),
    /// `get_realm_hash`: the hex MD5 of `user:realm:password`.
    RealmHash(Vec<u8>),
    /// `groups_for_user`: the user's groups.
    Groups(Vec<Vec<u8>>),
}

/// The script failed (could not load, lacks the function, raised, or
/// answered with the wrong type); the reason is in the error log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailed;

fn ours(text: &str) -> String {
    format!("mod_wsgi (pid={}): {text}", std::process::id())
}

/// Logs the pending Python exception with its traceback.
fn log_exception(py: Python<'_>, log: &dyn RequestLog, path: &str) {
    log.log(
        Level::Error,
        &ours(&format!(
            "Exception occurred processing WSGI script '{path}'."
        )),
    );
    for line in take_traceback_lines(py) {
        log.log(Level::Error, &line);
    }
}

/// Runs `call` in the script's interpreter.
pub fn run_auth_script(
    script: &AuthScript<'_>,
    call: AuthCall<'_>,
    log: &dyn RequestLog,
) -> Result<AuthAnswer, AuthFailed> {
    let interpreter = match interpreter_for(script.application_group) {
        Ok(interpreter) => interpreter,
        Err(failure) => {
            for line in failure.lines {
                log.log(Level::Error, &ours(&format!("{line}: {}", script.path)));
            }
            return Err(AuthFailed);
        }
    };
    with_interpreter(interpreter.interpreter, |py| {
        run_in(py, &interpreter, script, call, log)
    })
}

fn run_in(
    py: Python<'_>,
    interpreter: &WsgiInterpreter,
    script: &AuthScript<'_>,
    call: AuthCall<'_>,
    log: &dyn RequestLog,
) -> Result<AuthAnswer, AuthFailed> {
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
        Ok(Loaded::Changed) => return Err(AuthFailed),
        Err(Raised { .. }) => {
            log.log(
                Level::Error,
                &ours(&format!(
                    "Failed to exec Python script file '{}'.",
                    script.path
                )),
            );
            log_exception(py, log, script.path);
            return Err(AuthFailed);
        }
    };
    let function = match module.getattr_opt(call.function()) {
        Ok(Some(function)) => function,
        Ok(None) => {
            log.log(Level::Error, &ours(&call.missing(script.path)));
            return Err(AuthFailed);
        }
        Err(err) => {
            Raised::from_err(py, err);
            log_exception(py, log, script.path);
            return Err(AuthFailed);
        }
    };
    // SAFETY: the log object made with this target is expired below,
    // before `log` goes out of scope.
    let target = unsafe { log_target(log) };
    let errors = match new_log(py, &types.log(py), Some(target), c"<wsgi.errors>") {
        Ok(errors) => errors,
        Err(Raised { .. }) => {
            log_exception(py, log, script.path);
            return Err(AuthFailed);
        }
    };
    let answer = {
        // SAFETY: the guard is dropped at the end of this block, before
        // the log is.
        let _current = unsafe { CurrentRequest::enter(target) };
        environ(py, script, &errors, &types.names)
            .and_then(|environ| call_function(py, &function, environ, call))
            .and_then(|result| answer(py, &result, call, script.path, log))
    };
    // SAFETY: made by new_log above; the GIL is held.
    unsafe { expire_log(py, &errors) };
    match answer {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) => Err(AuthFailed),
        Err(Raised { .. }) => {
            log_exception(py, log, script.path);
            Err(AuthFailed)
        }
    }
}

fn environ<'py>(
    py: Python<'py>,
    script: &AuthScript<'_>,
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

fn call_function<'py>(
    py: Python<'py>,
    function: &Bound<'py, PyAny>,
    environ: Bound<'py, PyDict>,
    call: AuthCall<'_>,
) -> RaisedResult<Bound<'py, PyAny>> {
    match call {
        AuthCall::AllowAccess { host } => function.call1((environ, host)),
        AuthCall::CheckPassword { user, password } => function.call1((environ, user, password)),
        AuthCall::GetRealmHash { user, realm } => function.call1((environ, user, realm)),
        AuthCall::GroupsForUser { user } => function.call1((environ, user)),
    }
    .raised(py)
}

/// A str as latin-1 bytes, or None when it holds other characters.
fn latin1_bytes(py: Python<'_>, text: &Bound<'_, PyString>) -> Option<Vec<u8>> {
    match text.to_str().raised(py) {
        Ok(text) => text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect(),
        Err(raised) => {
            // Lone surrogates: not latin-1 either.
            raised.clear(py);
            None
        }
    }
}

/// Reads the result: Ok(None) when it is of a kind already logged as
/// wrong, Err when a Python exception explains it.
fn answer(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    call: AuthCall<'_>,
    path: &str,
    log: &dyn RequestLog,
) -> RaisedResult<Option<AuthAnswer>> {
    if result.is_none() {
        return Ok(Some(AuthAnswer::Unknown));
    }
    let boolean = result.cast::<PyBool>().ok().map(|b| b.is_true());
    let yes_no = |b: bool| {
        if b {
            AuthAnswer::Allowed
        } else {
            AuthAnswer::Denied
        }
    };
    match call {
        AuthCall::AllowAccess { .. } => match boolean {
            Some(b) => Ok(Some(yes_no(b))),
            None => {
                log.log(
                    Level::Error,
                    &ours(&format!(
                        "Indicator of host accessibility returned from '{path}' must a boolean or None."
                    )),
                );
                Ok(None)
            }
        },
        AuthCall::CheckPassword { .. } => {
            if let Some(b) = boolean {
                return Ok(Some(yes_no(b)));
            }
            match result.cast::<PyString>() {
                Ok(name) => Ok(Some(AuthAnswer::UserNamed(
                    name.to_string_lossy().into_owned(),
                ))),
                Err(_) => Err(Raised::new::<PyTypeError>(
                    py,
                    "Basic auth provider must return True, False None or user name as string",
                )),
            }
        }
        AuthCall::GetRealmHash { .. } => {
            if let Ok(bytes) = result.cast::<PyBytes>() {
                return Ok(Some(AuthAnswer::RealmHash(bytes.as_bytes().to_vec())));
            }
            match result.cast::<PyString>() {
                Ok(text) => match latin1_bytes(py, text) {
                    Some(bytes) => Ok(Some(AuthAnswer::RealmHash(bytes))),
                    None => Err(Raised::new::<PyTypeError>(
                        py,
                        "Digest auth provider must return None or string object, value \
                         containing non 'latin-1' characters found",
                    )),
                },
                Err(_) => Err(Raised::new::<PyTypeError>(
                    py,
                    "Digest auth provider must return None or string object",
                )),
            }
        }
        AuthCall::GroupsForUser { .. } => groups(py, result, path, log),
    }
}

fn groups(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    path: &str,
    log: &dyn RequestLog,
) -> RaisedResult<Option<AuthAnswer>> {
    let not_strings = || {
        log.log(
            Level::Error,
            &ours(&format!(
                "Groups for user returned from '{path}' must be an iterable sequence of byte strings."
            )),
        );
    };
    let iterator = match result.try_iter().raised(py) {
        Ok(iterator) => iterator,
        Err(raised) => {
            raised.clear(py);
            not_strings();
            return Ok(None);
        }
    };
    let mut groups = Vec::new();
    for item in iterator {
        let item = item.raised(py)?;
        if let Ok(bytes) = item.cast::<PyBytes>() {
            groups.push(bytes.as_bytes().to_vec());
        } else if let Ok(text) = item.cast::<PyString>() {
            match latin1_bytes(py, text) {
                Some(bytes) => groups.push(bytes),
                None => {
                    log.log(
                        Level::Error,
                        &ours(&format!(
                            "Groups for user returned from '{path}' must be an iterable sequence \
                             of byte strings, value containing non 'latin-1' characters found"
                        )),
                    );
                    return Ok(None);
                }
            }
        } else {
            not_strings();
            return Ok(None);
        }
    }
    Ok(Some(AuthAnswer::Groups(groups)))
}
