//! The Python types of the adapter, made once per interpreter.

use pyo3::prelude::*;
use pyo3::types::PyType;
use python_embed::{PyResultExt, RaisedResult};

use super::events::EventLists;
use super::file_wrapper::create_file_wrapper_type;
use super::input::create_input_type;
use super::log::create_log_type;
use super::names::Names;
use super::restrict::{create_restricted_type, create_signal_intercept_type};
use super::start_response::create_responder_type;

/// Strong references to the adapter's type objects in one interpreter.
/// They are created when the interpreter is prepared and live as long as it.
pub struct WsgiTypes {
    input: *mut pyo3::ffi::PyObject,
    responder: *mut pyo3::ffi::PyObject,
    log: *mut pyo3::ffi::PyObject,
    file_wrapper: *mut pyo3::ffi::PyObject,
    restricted: *mut pyo3::ffi::PyObject,
    signal_intercept: *mut pyo3::ffi::PyObject,
    /// `mod_wsgi.RequestTimeout`, raised in a request's thread when its
    /// daemon process's request-timeout and interrupt-timeout say so.
    request_timeout: *mut pyo3::ffi::PyObject,
    /// `io.TextIOWrapper`, which wraps every log object (wsgi.errors,
    /// sys.stdout, sys.stderr) as in mod_wsgi.
    text_io_wrapper: *mut pyo3::ffi::PyObject,
    pub names: Names,
    /// The events API's subscriber lists and running requests.
    pub events: EventLists,
}

// SAFETY: the pointers are only dereferenced by threads attached to the
// interpreter that owns the types, under its GIL.
unsafe impl Send for WsgiTypes {}
// SAFETY: as above; the struct itself is immutable.
unsafe impl Sync for WsgiTypes {}

impl WsgiTypes {
    pub fn create(py: Python<'_>) -> RaisedResult<WsgiTypes> {
        Ok(WsgiTypes {
            input: create_input_type(py)?.into_ptr(),
            responder: create_responder_type(py)?.into_ptr(),
            log: create_log_type(py)?.into_ptr(),
            file_wrapper: create_file_wrapper_type(py)?.into_ptr(),
            restricted: create_restricted_type(py)?.into_ptr(),
            signal_intercept: create_signal_intercept_type(py)?.into_ptr(),
            request_timeout: python_embed::stacks::new_base_exception(
                py,
                c"mod_wsgi.RequestTimeout",
                c"The request ran longer than the daemon process's request-timeout.",
            )?
            .into_ptr(),
            text_io_wrapper: py
                .import("io")
                .and_then(|io| io.getattr("TextIOWrapper"))
                .raised(py)?
                .into_ptr(),
            names: Names::create(py)?,
            events: EventLists::create(py),
        })
    }

    fn borrow<'py>(py: Python<'py>, ptr: *mut pyo3::ffi::PyObject) -> Bound<'py, PyType> {
        // SAFETY: ptr is a type object we hold a strong reference to, in the
        // interpreter the caller is attached to.
        unsafe { Bound::from_borrowed_ptr(py, ptr).cast_into_unchecked() }
    }

    pub fn input<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        Self::borrow(py, self.input)
    }

    pub fn responder<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        Self::borrow(py, self.responder)
    }

    pub fn log<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        Self::borrow(py, self.log)
    }

    pub fn file_wrapper<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        Self::borrow(py, self.file_wrapper)
    }

    pub fn restricted<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        Self::borrow(py, self.restricted)
    }

    pub fn signal_intercept<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        Self::borrow(py, self.signal_intercept)
    }

    pub fn request_timeout<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        Self::borrow(py, self.request_timeout)
    }

    pub fn text_io_wrapper<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        Self::borrow(py, self.text_io_wrapper)
    }
}
