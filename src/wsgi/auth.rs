//! Access and auth scripts (WSGIAccessScript, WSGIAuthUserScript,
//! WSGIAuthGroupScript): calling `allow_access`, `check_password`,
//! `get_realm_hash` or `groups_for_user` and reading the answer. Always
//! run in the Apache child, in both modes.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::backend::RequestLog;
pub use super::hook_script::{HookFailed as AuthFailed, HookScript as AuthScript};
use super::hook_script::{log_exception, run_hook_script};
use super::log::ours;
use wsgi_core::level::Level;

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

/// Runs `call` in the script's interpreter.
pub fn run_auth_script(
    script: &AuthScript<'_>,
    call: AuthCall<'_>,
    log: &dyn RequestLog,
) -> Result<AuthAnswer, AuthFailed> {
    run_hook_script(script, log, |py, module, environ| {
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
        let answer = call_function(py, &function, environ, call)
            .and_then(|result| answer(py, &result, call, script.path, log));
        match answer {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => Err(AuthFailed),
            Err(Raised { .. }) => {
                log_exception(py, log, script.path);
                Err(AuthFailed)
            }
        }
    })
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
