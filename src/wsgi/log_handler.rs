//! `mod_wsgi.LogHandler`: a `logging.Handler` that sends each record to
//! Apache's error log at the record's level (`[wsgi:warn]` for WARNING,
//! `[wsgi:crit]` for CRITICAL, …), in the request's context when the
//! record is logged while a request runs, so that `LogLevel wsgi:LEVEL`
//! filters application logging too.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyString, PyTuple};
use python_embed::objects::{StaticTable, callback, method_varargs};
use python_embed::{PyResultExt, Raised, RaisedResult};
use wsgi_core::level::Level;

use super::log::log_in_context;

/// The handler itself is Python: formatting, filters and `handleError`
/// are `logging`'s own.
const HANDLER_SOURCE: &str = r#"
import logging


class LogHandler(logging.Handler):
    """Sends log records to Apache's error log at their level
    (CRITICAL: crit, ERROR: error, WARNING: warn, INFO: info, else debug),
    in the context of the running request."""

    def emit(self, record):
        try:
            _log_record(record.levelno, self.format(record))
        except Exception:
            self.handleError(record)
"#;

static FUNCTIONS: StaticTable<[ffi::PyMethodDef; 3]> = StaticTable([
    method_varargs(
        c"_log_record",
        log_record,
        c"_log_record(levelno, text): log each line of text at the level",
    ),
    method_varargs(
        c"__getattr__",
        module_getattr,
        c"Makes mod_wsgi.LogHandler when it is first asked for",
    ),
    ffi::PyMethodDef::zeroed(),
]);

/// The module's `__getattr__` (PEP 562): `LogHandler` is made on first
/// use, so that `logging` is only imported into an interpreter whose
/// application asks for it, not at the start of every interpreter.
unsafe extern "C" fn module_getattr(
    module: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a CPython callback; `module` is the module bound at creation.
    unsafe {
        callback(|py| {
            let args = Bound::from_borrowed_ptr(py, args).cast_into_unchecked::<PyTuple>();
            let name = args.get_item(0).raised(py)?;
            if name
                .cast::<PyString>()
                .is_ok_and(|n| n.to_string_lossy() == "LogHandler")
            {
                let module = Bound::from_borrowed_ptr(py, module).cast_into_unchecked::<PyModule>();
                return define_log_handler(py, &module);
            }
            Err(Raised::new::<pyo3::exceptions::PyAttributeError>(
                py,
                format!(
                    "module 'mod_wsgi' has no attribute {}",
                    name.repr().raised(py)?
                ),
            ))
        })
    }
}

unsafe extern "C" fn log_record(
    _: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a CPython callback; `args` is the positional tuple.
    unsafe {
        callback(|py| {
            let args = Bound::from_borrowed_ptr(py, args).cast_into_unchecked::<PyTuple>();
            if args.len() != 2 {
                return Err(Raised::new::<pyo3::exceptions::PyTypeError>(
                    py,
                    "_log_record(levelno, text)",
                ));
            }
            let levelno: i64 = args.get_item(0).raised(py)?.extract().raised(py)?;
            let item = args.get_item(1).raised(py)?;
            let text = item.cast::<PyString>().map_err(|_| {
                Raised::new::<pyo3::exceptions::PyTypeError>(py, "text must be a str")
            })?;
            let text = text.to_string_lossy();
            let level = Level::of_python(levelno);
            // A traceback (logger.exception) is one entry per line, as
            // mod_wsgi logs tracebacks.
            for line in text.split('\n') {
                log_in_context(py, level, line);
            }
            Ok(py.None().into_bound(py))
        })
    }
}

/// Lets the interpreter's `mod_wsgi` module make `LogHandler` on first use.
pub fn install(py: Python<'_>, module: &Bound<'_, PyModule>) -> RaisedResult<()> {
    // SAFETY: a static definition; the module it is bound to is kept
    // alive by the function (and keeps it alive in turn: both live as long
    // as the interpreter).
    let getattr = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyCFunction_NewEx(
                FUNCTIONS.as_ptr().cast::<ffi::PyMethodDef>().add(1),
                module.as_ptr(),
                std::ptr::null_mut(),
            ),
        )
    }
    .raised(py)?;
    module.setattr("__getattr__", getattr).raised(py)
}

fn define_log_handler<'py>(
    py: Python<'py>,
    module: &Bound<'py, PyModule>,
) -> RaisedResult<Bound<'py, PyAny>> {
    // SAFETY: a static definition taking no self.
    let function = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyCFunction_NewEx(
                FUNCTIONS.as_ptr().cast::<ffi::PyMethodDef>(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            ),
        )
    }
    .raised(py)?;
    let namespace = PyDict::new(py);
    namespace.set_item("__name__", "mod_wsgi").raised(py)?;
    namespace.set_item("_log_record", function).raised(py)?;
    py.import("builtins")
        .and_then(|builtins| builtins.getattr("exec"))
        .and_then(|exec| exec.call1((HANDLER_SOURCE, &namespace)))
        .raised(py)?;
    let handler = namespace
        .get_item("LogHandler")
        .raised(py)?
        .ok_or_else(|| Raised::new::<pyo3::exceptions::PyRuntimeError>(py, "LogHandler"))?;
    module.setattr("LogHandler", &handler).raised(py)?;
    Ok(handler)
}
