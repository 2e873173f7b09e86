//! WSGIRestrictStdout / WSGIRestrictStdin (a stream that raises on any
//! use) and WSGIRestrictSignal (a `signal.signal` that ignores
//! registrations, with a warning, in the processes we run).

use std::ffi::{CStr, c_void};

use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};
use python_embed::objects::{Arguments, callback, create_type, free_instance, new_instance, slot};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::log::log_to_server;
use wsgi_core::level::Level;

#[repr(C)]
pub struct RestrictedObject {
    base: ffi::PyObject,
    /// What is restricted, for the message (`sys.stdout`, `sys.stdin`).
    what: &'static CStr,
}

pub fn create_restricted_type(py: Python<'_>) -> RaisedResult<Bound<'_, PyType>> {
    create_type(
        py,
        c"mod_wsgi.Restricted",
        std::mem::size_of::<RestrictedObject>(),
        ffi::Py_TPFLAGS_DEFAULT as _,
        &[
            slot(ffi::Py_tp_dealloc, plain_dealloc as *mut c_void),
            slot(ffi::Py_tp_getattro, restricted_getattro as *mut c_void),
        ],
    )
}

pub fn new_restricted<'py>(
    py: Python<'py>,
    ty: &Bound<'py, PyType>,
    what: &'static CStr,
) -> RaisedResult<Bound<'py, PyAny>> {
    new_instance::<RestrictedObject>(py, ty, |obj| {
        // SAFETY: obj is freshly allocated with RestrictedObject's layout.
        unsafe { (*obj).what = what };
    })
}

unsafe extern "C" fn plain_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: called by CPython once; no owned fields.
    unsafe { free_instance(obj) };
}

unsafe extern "C" fn restricted_getattro(
    obj: *mut ffi::PyObject,
    _name: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held on a RestrictedObject.
    unsafe {
        callback(|py| {
            let what = (*obj.cast::<RestrictedObject>()).what.to_string_lossy();
            Err(Raised::new::<PyOSError>(
                py,
                format!("{what} access restricted by mod_wsgi"),
            ))
        })
    }
}

#[repr(C)]
pub struct SignalInterceptObject {
    base: ffi::PyObject,
    /// The real `signal.signal`.
    wrapped: *mut ffi::PyObject,
    /// The process the restriction applies to; a process forked by the
    /// application (multiprocessing, ...) registers handlers normally.
    pid: u32,
}

pub fn create_signal_intercept_type(py: Python<'_>) -> RaisedResult<Bound<'_, PyType>> {
    create_type(
        py,
        c"mod_wsgi.SignalIntercept",
        std::mem::size_of::<SignalInterceptObject>(),
        ffi::Py_TPFLAGS_DEFAULT as _,
        &[
            slot(ffi::Py_tp_dealloc, intercept_dealloc as *mut c_void),
            slot(ffi::Py_tp_call, intercept_call as *mut c_void),
        ],
    )
}

/// Replaces `signal.signal` in the current interpreter.
pub fn restrict_signal(py: Python<'_>, ty: &Bound<'_, PyType>) -> RaisedResult<()> {
    let signal = py.import("signal").raised(py)?;
    let original = signal.getattr("signal").raised(py)?;
    let intercept = new_instance::<SignalInterceptObject>(py, ty, |obj| {
        // SAFETY: obj is freshly allocated with the intercept's layout; it
        // keeps its own reference to the original function.
        unsafe {
            (*obj).wrapped = original.clone().into_ptr();
            (*obj).pid = std::process::id();
        }
    })?;
    signal.setattr("signal", intercept).raised(py)
}

unsafe extern "C" fn intercept_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: called by CPython once with the GIL held.
    unsafe {
        ffi::Py_XDECREF((*obj.cast::<SignalInterceptObject>()).wrapped);
        free_instance(obj);
    }
}

unsafe extern "C" fn intercept_call(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this slot with the GIL held, on a
    // SignalInterceptObject, with an argument tuple and a dict or NULL.
    unsafe {
        callback(|py| {
            let intercept = &*obj.cast::<SignalInterceptObject>();
            let args = Bound::from_borrowed_ptr(py, args);
            let kwargs = Bound::from_borrowed_ptr_or_opt(py, kwargs);
            if intercept.pid != std::process::id() {
                let wrapped = Bound::from_borrowed_ptr(py, intercept.wrapped);
                return call_through(py, &wrapped, args, kwargs);
            }
            let names = &["signalnum", "handler"];
            let parsed =
                Arguments::parse(py, "signal", args.as_ptr(), kwargs_ptr(&kwargs), names, 2)?;
            ignore_registration(py, &parsed)
        })
    }
}

fn kwargs_ptr(kwargs: &Option<Bound<'_, PyAny>>) -> *mut ffi::PyObject {
    kwargs.as_ref().map_or(std::ptr::null_mut(), Bound::as_ptr)
}

/// The real `signal.signal`, in a process the application forked.
fn call_through<'py>(
    py: Python<'py>,
    wrapped: &Bound<'py, PyAny>,
    args: Bound<'py, PyAny>,
    kwargs: Option<Bound<'py, PyAny>>,
) -> RaisedResult<Bound<'py, PyAny>> {
    let kwargs = kwargs
        .map(|kwargs| {
            kwargs
                .cast_into::<PyDict>()
                .map_err(|_| Raised::new::<PyTypeError>(py, "keyword arguments must be a dict"))
        })
        .transpose()?;
    let args = args
        .cast_into::<PyTuple>()
        .map_err(|_| Raised::new::<PyTypeError>(py, "arguments must be a tuple"))?;
    wrapped.call(args, kwargs.as_ref()).raised(py)
}

/// Logs the ignored registration with the stack that made it, and returns
/// the handler as `signal.signal` would the previous one.
fn ignore_registration<'py>(
    py: Python<'py>,
    parsed: &Arguments<'py>,
) -> RaisedResult<Bound<'py, PyAny>> {
    let (Some(number), Some(handler)) = (parsed.get(0), parsed.get(1)) else {
        return Err(Raised::new::<PyTypeError>(
            py,
            "signal() needs a signal and a handler",
        ));
    };
    let number: i64 = number.extract().raised(py)?;
    log_to_server(
        Level::Warning,
        &format!(
            "mod_wsgi (pid={}): Callback registration for signal {number} ignored.",
            std::process::id()
        ),
    );
    let stack = py
        .import("traceback")
        .and_then(|tb| tb.call_method0("format_stack"))
        .raised(py)?;
    for frame in stack.try_iter().raised(py)? {
        let frame = frame.raised(py)?;
        if let Ok(text) = frame.cast::<PyString>() {
            for line in text.to_string_lossy().trim_end().lines() {
                log_to_server(Level::Warning, line);
            }
        }
    }
    Ok(handler.clone())
}
