//! Python errors as "an exception is set on this thread".
//!
//! pyo3's `PyErr` owns Python objects; dropping one on a thread pyo3 does
//! not consider attached (we attach with our own thread states) sends the
//! objects to a process-wide deferred-decref pool that is never drained
//! here and would be drained in the wrong interpreter if it were. So every
//! `PyErr` is immediately restored into Python's error indicator and code
//! passes the zero-sized [`Raised`] marker around instead.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use pyo3::{PyErr, ffi};

/// A Python exception is set on the current thread.
#[derive(Debug)]
pub struct Raised(pub(crate) ());

/// Result of an operation that may have raised a Python exception.
pub type RaisedResult<T> = Result<T, Raised>;

impl Raised {
    /// Sets `err` as the current exception.
    pub fn from_err(py: Python<'_>, err: PyErr) -> Raised {
        err.restore(py);
        Raised(())
    }

    /// Asserts that an exception is already set (after a failed C-API call).
    pub fn already_set() -> Raised {
        Raised(())
    }

    /// Discards the exception (for failures that have a fallback).
    pub fn clear(self, py: Python<'_>) {
        clear(py);
    }

    /// For `tp_iternext`: returning NULL with no exception set ends the
    /// iteration, which is cheaper than raising `StopIteration`.
    pub fn stop_iteration() -> Raised {
        Raised(())
    }

    /// Sets a new exception of type `T` with `message`.
    pub fn new<T: pyo3::PyTypeInfo>(py: Python<'_>, message: impl Into<String>) -> Raised {
        let message: String = message.into();
        Raised::from_err(py, PyErr::new::<T, _>(message))
    }
}

/// Converts pyo3 results into [`RaisedResult`], restoring the error.
pub trait PyResultExt<T> {
    fn raised(self, py: Python<'_>) -> RaisedResult<T>;
}

impl<T> PyResultExt<T> for PyResult<T> {
    fn raised(self, py: Python<'_>) -> RaisedResult<T> {
        self.map_err(|err| Raised::from_err(py, err))
    }
}

/// Whether the current exception is an instance of `T`.
pub fn exception_matches<T: pyo3::PyTypeInfo>(py: Python<'_>) -> bool {
    let kind = T::type_object(py);
    // SAFETY: the thread holds the GIL; kind is a valid type object.
    unsafe { ffi::PyErr_ExceptionMatches(kind.as_ptr()) != 0 }
}

/// Clears the current exception, if any.
pub fn clear(_py: Python<'_>) {
    // SAFETY: the thread holds the GIL.
    unsafe { ffi::PyErr_Clear() };
}

/// An exception taken from the thread, normalised, with its traceback
/// attached to the value.
pub struct TakenException<'py> {
    pub kind: Bound<'py, PyAny>,
    pub value: Option<Bound<'py, PyAny>>,
    pub traceback: Option<Bound<'py, PyAny>>,
}

/// Takes the current exception, if any, leaving none set.
pub fn take_exception(py: Python<'_>) -> Option<TakenException<'_>> {
    let mut kind = std::ptr::null_mut();
    let mut value = std::ptr::null_mut();
    let mut tb = std::ptr::null_mut();
    // SAFETY: the thread holds the GIL; the three out-pointers are valid
    // and receive new (possibly null) references that we own.
    unsafe {
        ffi::PyErr_Fetch(&mut kind, &mut value, &mut tb);
        if kind.is_null() {
            return None;
        }
        ffi::PyErr_NormalizeException(&mut kind, &mut value, &mut tb);
        if !tb.is_null() && !value.is_null() {
            ffi::PyException_SetTraceback(value, tb);
        }
        Some(TakenException {
            kind: Bound::from_owned_ptr(py, kind),
            value: Bound::from_owned_ptr_or_opt(py, value),
            traceback: Bound::from_owned_ptr_or_opt(py, tb),
        })
    }
}

/// Takes the current exception and formats it as `traceback` would print
/// it, one string per line. Returns an empty list if no exception is set.
pub fn take_traceback_lines(py: Python<'_>) -> Vec<String> {
    match take_exception(py) {
        Some(taken) => taken.traceback_lines(py),
        None => Vec::new(),
    }
}

impl<'py> TakenException<'py> {
    /// `(type, value, traceback)`, with None for what is missing.
    pub fn info(&self, py: Python<'py>) -> [Bound<'py, PyAny>; 3] {
        let none = py.None().into_bound(py);
        [
            self.kind.clone(),
            self.value.clone().unwrap_or_else(|| none.clone()),
            self.traceback.clone().unwrap_or(none),
        ]
    }

    /// The exception as `traceback` prints it, one string per line.
    pub fn traceback_lines(&self, py: Python<'py>) -> Vec<String> {
        let (kind, value, tb) = (&self.kind, &self.value, &self.traceback);
        let none = py.None().into_bound(py);
        let formatted = py.import("traceback").and_then(|tb_module| {
            tb_module.call_method1(
                "format_exception",
                (
                    &kind,
                    value.as_ref().unwrap_or(&none),
                    tb.as_ref().unwrap_or(&none),
                ),
            )
        });
        let mut lines = Vec::new();
        match formatted {
            Ok(chunks) => {
                if let Ok(chunks) = chunks.cast_into::<PyList>() {
                    for chunk in chunks.iter() {
                        if let Ok(text) = chunk.cast::<PyString>() {
                            let text = text.to_string_lossy();
                            lines.extend(
                                text.trim_end_matches('\n').split('\n').map(str::to_string),
                            );
                        }
                    }
                }
            }
            Err(err) => {
                // Formatting itself failed: fall back to the exception's repr.
                err.restore(py);
                clear(py);
                let text = match value.as_ref().map(|v| v.repr()) {
                    Some(Ok(repr)) => repr.to_string_lossy().into_owned(),
                    Some(Err(err)) => {
                        err.restore(py);
                        clear(py);
                        "<unprintable exception>".to_string()
                    }
                    None => kind.to_string(),
                };
                lines.push(text);
            }
        }
        lines
    }
}
