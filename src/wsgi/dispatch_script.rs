//! WSGIDispatchScript: `process_group(environ)`, `application_group(environ)`
//! and `callable_object(environ)`, each optional, choose where a request
//! runs; `None` (or a missing function) keeps the configured value.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::backend::RequestLog;
use super::hook_script::{HookFailed, HookScript, log_exception, run_hook_script};

/// What the script chose; None keeps the configured value. Names are as
/// the script wrote them (`%{...}` references are expanded by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchAnswer {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
}

/// Calls each function the script defines, in mod_wsgi's order, stopping
/// at the first failure.
pub fn run_dispatch_script(
    script: &HookScript<'_>,
    log: &dyn RequestLog,
) -> Result<DispatchAnswer, HookFailed> {
    run_hook_script(script, log, |py, module, environ| {
        let ask = |function: &str, what: &str| {
            choice(py, module, &environ, function, what).map_err(|Raised { .. }| {
                log_exception(py, log, script.path);
                HookFailed
            })
        };
        Ok(DispatchAnswer {
            process_group: ask("process_group", "Process group")?,
            application_group: ask("application_group", "Application group")?,
            callable_object: ask("callable_object", "Callable object")?,
        })
    })
}

/// The answer of `function(environ)`, if the script has it and answers
/// with a name.
fn choice(
    py: Python<'_>,
    module: &Bound<'_, PyAny>,
    environ: &Bound<'_, PyDict>,
    function: &str,
    what: &str,
) -> RaisedResult<Option<String>> {
    let Some(function) = module.getattr_opt(function).raised(py)? else {
        return Ok(None);
    };
    let result = function.call1((environ,)).raised(py)?;
    if result.is_none() {
        return Ok(None);
    }
    if let Ok(bytes) = result.cast::<PyBytes>() {
        return Ok(Some(bytes.as_bytes().iter().map(|&b| b as char).collect()));
    }
    let Ok(text) = result.cast::<PyString>() else {
        return Err(Raised::new::<PyTypeError>(
            py,
            format!("{what} must be a byte string"),
        ));
    };
    let text = text.to_str().raised(py)?;
    if text.chars().any(|c| u32::from(c) > 0xff) {
        return Err(Raised::new::<PyTypeError>(
            py,
            format!(
                "{what} must be a byte string, value containing non 'latin-1' characters found"
            ),
        ));
    }
    Ok(Some(text.to_string()))
}
