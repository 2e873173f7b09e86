//! `wsgi.input`: the request body as a file-like object.

use std::ffi::c_void;

use pyo3::exceptions::PyOSError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyType};
use python_embed::objects::{
    Arguments, StaticTable, bytes_filled, callback, create_type, method_keywords, method_noargs,
    optional_size, slot,
};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::exchange::Exchange;
use super::exchange_ref::{EXCHANGE_OBJECT_SIZE, exchange_object_dealloc, exchange_of};

pub fn create_input_type(py: Python<'_>) -> RaisedResult<Bound<'_, PyType>> {
    create_type(
        py,
        c"mod_wsgi.Input",
        EXCHANGE_OBJECT_SIZE,
        ffi::Py_TPFLAGS_DEFAULT as _,
        &[
            slot(ffi::Py_tp_dealloc, exchange_object_dealloc as *mut c_void),
            slot(ffi::Py_tp_methods, INPUT_METHODS.as_ptr()),
            slot(ffi::Py_tp_iter, input_iter as *mut c_void),
            slot(ffi::Py_tp_iternext, input_iternext as *mut c_void),
        ],
    )
}

static INPUT_METHODS: StaticTable<[ffi::PyMethodDef; 5]> = StaticTable([
    method_keywords(c"read", input_read, c"read([size]) -> bytes"),
    method_keywords(c"readline", input_readline, c"readline([size]) -> bytes"),
    method_keywords(
        c"readlines",
        input_readlines,
        c"readlines([hint]) -> list of bytes",
    ),
    method_noargs(
        c"close",
        input_close,
        c"close() -> None; the server closes the body",
    ),
    ffi::PyMethodDef::zeroed(),
]);

/// Up to this size, `read(n)` allocates its result before reading; a larger
/// `n` (often "everything") grows the result as data arrives instead.
const DIRECT_READ_LIMIT: usize = 4 * 1024 * 1024;

fn read_error(py: Python<'_>, err: super::backend::ReadError) -> Raised {
    Raised::new::<PyOSError>(
        py,
        format!("Apache/mod_wsgi request data read error: {}", err.0),
    )
}

unsafe extern "C" fn input_read(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held, on an input object
    // (ExchangeObject layout), with its own argument objects.
    unsafe {
        callback(|py| {
            let args = Arguments::parse(py, "read", args, kwargs, &["size"], 0)?;
            read(py, exchange_of(py, obj)?, &args)
        })
    }
}

/// `wsgi.input.read(size=-1)`.
fn read<'py>(
    py: Python<'py>,
    exchange: &mut Exchange,
    args: &Arguments<'py>,
) -> RaisedResult<Bound<'py, PyAny>> {
    match optional_size(py, args.get(0))? {
        // The common read(n): straight into the bytes object.
        Some(size) if size <= DIRECT_READ_LIMIT => Ok(bytes_filled(py, size, |buf| {
            exchange.read_into(py, buf).map_err(|e| read_error(py, e))
        })?
        .into_any()),
        size => {
            let data = exchange.read(py, size).map_err(|e| read_error(py, e))?;
            Ok(PyBytes::new(py, &data).into_any())
        }
    }
}

unsafe extern "C" fn input_readline(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as for input_read.
    unsafe {
        callback(|py| {
            let args = Arguments::parse(py, "readline", args, kwargs, &["size"], 0)?;
            let size = optional_size(py, args.get(0))?;
            let exchange = exchange_of(py, obj)?;
            let line = exchange.readline(py, size).map_err(|e| read_error(py, e))?;
            Ok(PyBytes::new(py, &line).into_any())
        })
    }
}

unsafe extern "C" fn input_readlines(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as for input_read.
    unsafe {
        callback(|py| {
            let args = Arguments::parse(py, "readlines", args, kwargs, &["hint"], 0)?;
            readlines(py, exchange_of(py, obj)?, &args)
        })
    }
}

/// `wsgi.input.readlines(hint=-1)`.
fn readlines<'py>(
    py: Python<'py>,
    exchange: &mut Exchange,
    args: &Arguments<'py>,
) -> RaisedResult<Bound<'py, PyAny>> {
    let hint = optional_size(py, args.get(0))?.filter(|&h| h > 0);
    let lines = PyList::empty(py);
    let mut total = 0usize;
    loop {
        let line = exchange.readline(py, None).map_err(|e| read_error(py, e))?;
        if line.is_empty() {
            break;
        }
        total += line.len();
        lines.append(PyBytes::new(py, &line)).raised(py)?;
        if hint.is_some_and(|h| total >= h) {
            break;
        }
    }
    Ok(lines.into_any())
}

unsafe extern "C" fn input_close(
    _obj: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held.
    unsafe { callback(|py| Ok(py.None().into_bound(py))) }
}

unsafe extern "C" fn input_iter(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: obj is a live object passed by CPython; returning it needs a new reference.
    unsafe {
        ffi::Py_INCREF(obj);
    }
    obj
}

unsafe extern "C" fn input_iternext(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held on an InputObject. NULL
    // with no exception set ends the iteration.
    unsafe {
        callback(|py| {
            let exchange = exchange_of(py, obj)?;
            let line = exchange.readline(py, None).map_err(|e| read_error(py, e))?;
            if line.is_empty() {
                return Err(Raised::stop_iteration());
            }
            Ok(PyBytes::new(py, &line).into_any())
        })
    }
}
