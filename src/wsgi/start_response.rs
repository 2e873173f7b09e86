//! `start_response` and the `write` callable it returns: one object per
//! request whose bound methods are handed to the application.

use std::ffi::c_void;
use std::ptr;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple, PyType};
use python_embed::objects::{
    Arguments, StaticTable, callback, create_type, method_keywords, method_varargs, slot,
};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::exchange::{Exchange, OutputError};
use super::exchange_ref::{EXCHANGE_OBJECT_SIZE, exchange_object_dealloc, exchange_of};
use wsgi_core::headers::{parse_content_length, validate_header, validate_status};
use wsgi_core::protocol::ResponseHead;

pub fn create_responder_type(py: Python<'_>) -> RaisedResult<Bound<'_, PyType>> {
    create_type(
        py,
        c"mod_wsgi.Adapter",
        EXCHANGE_OBJECT_SIZE,
        ffi::Py_TPFLAGS_DEFAULT as _,
        &[
            slot(ffi::Py_tp_dealloc, exchange_object_dealloc as *mut c_void),
            slot(ffi::Py_tp_methods, RESPONDER_METHODS.as_ptr()),
        ],
    )
}

static RESPONDER_METHODS: StaticTable<[ffi::PyMethodDef; 3]> = StaticTable([
    method_keywords(
        c"start_response",
        start_response,
        c"start_response(status, response_headers, exc_info=None) -> write",
    ),
    method_varargs(c"write", write, c"write(data) -> None"),
    ffi::PyMethodDef::zeroed(),
]);

/// A native string as latin-1 bytes (PEP 3333's rule for status and
/// headers).
/// The errors are Python's own, as mod_wsgi 6 lets them through: a
/// `TypeError` "must be str, not int", a `UnicodeEncodeError` from the
/// latin-1 codec.
fn latin1(py: Python<'_>, value: &Bound<'_, PyAny>) -> RaisedResult<Vec<u8>> {
    let Ok(text) = value.cast::<PyString>() else {
        return Err(Raised::new::<PyTypeError>(
            py,
            format!("must be str, not {}", type_name(value)),
        ));
    };
    // SAFETY: text is a str; the call returns a new bytes object or NULL
    // with the codec's UnicodeEncodeError set.
    let encoded = unsafe { ffi::PyUnicode_AsLatin1String(text.as_ptr()) };
    if encoded.is_null() {
        return Err(Raised::already_set());
    }
    // SAFETY: encoded is a new reference to a bytes object.
    let encoded = unsafe { Bound::from_owned_ptr(py, encoded) };
    let bytes = encoded
        .cast::<PyBytes>()
        .map_err(|_| Raised::new::<PyTypeError>(py, "latin-1 encoding did not give bytes"))?;
    Ok(bytes.as_bytes().to_vec())
}

pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    match value.get_type().name() {
        Ok(name) => name.to_string(),
        Err(err) => {
            err.restore(value.py());
            python_embed::raised::clear(value.py());
            "?".to_string()
        }
    }
}

/// Re-raises the exception described by an `exc_info` tuple.
fn reraise(py: Python<'_>, exc_info: &Bound<'_, PyTuple>) -> Raised {
    let items: Vec<Bound<'_, PyAny>> = exc_info.iter().collect();
    let [kind, value, tb] = items.as_slice() else {
        return Raised::new::<PyRuntimeError>(
            py,
            "exc_info must be a (type, value, traceback) tuple",
        );
    };
    let tb = if tb.is_none() {
        ptr::null_mut()
    } else {
        tb.clone().into_ptr()
    };
    // SAFETY: PyErr_Restore steals the three new references passed to it.
    unsafe { ffi::PyErr_Restore(kind.clone().into_ptr(), value.clone().into_ptr(), tb) };
    Raised::already_set()
}

fn parse_head(
    py: Python<'_>,
    status: &Bound<'_, PyAny>,
    headers: &Bound<'_, PyAny>,
) -> RaisedResult<(ResponseHead, Option<u64>)> {
    let status_line = latin1(py, status)?;
    let code = validate_status(&status_line)
        .map_err(|e| Raised::new::<PyValueError>(py, e.to_string()))?;
    let Ok(list) = headers.cast::<PyList>() else {
        return Err(Raised::new::<PyTypeError>(
            py,
            format!(
                "start_response() argument 2 must be list, not {}",
                type_name(headers)
            ),
        ));
    };
    let mut parsed = Vec::with_capacity(list.len());
    let mut content_length = None;
    for header in list.iter() {
        let Ok(pair) = header.cast::<PyTuple>() else {
            return Err(Raised::new::<PyTypeError>(
                py,
                format!("each header must be a 2-tuple, not {}", type_name(&header)),
            ));
        };
        if pair.len() != 2 {
            return Err(Raised::new::<PyValueError>(
                py,
                format!("each header must be a 2-tuple, got length {}", pair.len()),
            ));
        }
        let name = latin1(py, &pair.get_item(0).raised(py)?)?;
        let value = latin1(py, &pair.get_item(1).raised(py)?)?;
        validate_header(&name, &value)
            .map_err(|e| Raised::new::<PyValueError>(py, e.to_string()))?;
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length = Some(
                parse_content_length(&value)
                    .map_err(|e| Raised::new::<PyValueError>(py, e.to_string()))?,
            );
        }
        parsed.push((name, value));
    }
    Ok((
        ResponseHead {
            status_line,
            status: code,
            headers: parsed,
        },
        content_length,
    ))
}

unsafe extern "C" fn start_response(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this method with the GIL held, on a responder
    // (ExchangeObject layout), with an argument tuple and a dict or NULL.
    unsafe {
        callback(|py| {
            let names = &["status", "response_headers", "exc_info"];
            let args = Arguments::parse(py, "start_response", args, kwargs, names, 2)?;
            let responder = Bound::from_borrowed_ptr(py, obj);
            start(py, &responder, exchange_of(py, obj)?, &args)
        })
    }
}

/// `start_response(status, response_headers, exc_info=None)`.
fn start<'py>(
    py: Python<'py>,
    responder: &Bound<'py, PyAny>,
    exchange: &mut Exchange,
    args: &Arguments<'py>,
) -> RaisedResult<Bound<'py, PyAny>> {
    match args.get(2).filter(|e| !e.is_none()) {
        Some(exc_info) => {
            let Ok(exc_info) = exc_info
                .cast::<PyTuple>()
                .map_err(|_| ())
                .and_then(|t| if t.len() == 3 { Ok(t) } else { Err(()) })
            else {
                return Err(Raised::new::<PyRuntimeError>(
                    py,
                    "start_response() argument 'exc_info' must be a 3-tuple or None",
                ));
            };
            if exchange.head_sent() {
                return Err(reraise(py, exc_info));
            }
        }
        None if exchange.head_sent() => {
            return Err(Raised::new::<PyRuntimeError>(
                py,
                "start_response() called more than once without exc_info",
            ));
        }
        None => {}
    }
    let (Some(status), Some(headers)) = (args.get(0), args.get(1)) else {
        return Err(Raised::new::<PyTypeError>(
            py,
            "start_response() needs status and headers",
        ));
    };
    // Before the status and headers are checked and converted, as in
    // mod_wsgi: a subscriber sees (and may change) what the application
    // passed.
    super::events::response_started(py, status, headers, args.get(2).filter(|e| !e.is_none()));
    let (head, content_length) = parse_head(py, status, headers)?;
    exchange.set_head(head, content_length);
    responder.getattr("write").raised(py)
}

unsafe extern "C" fn write(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this method with the GIL held, on a responder
    // (ExchangeObject layout), with an argument tuple.
    unsafe {
        callback(|py| {
            let args = Arguments::parse(py, "write", args, ptr::null_mut(), &["data"], 1)?;
            write_data(py, exchange_of(py, obj)?, &args)
        })
    }
}

/// The `write(data)` callable.
fn write_data<'py>(
    py: Python<'py>,
    exchange: &mut Exchange,
    args: &Arguments<'py>,
) -> RaisedResult<Bound<'py, PyAny>> {
    let Some(data) = args.get(0) else {
        return Err(Raised::new::<PyTypeError>(py, "write() needs data"));
    };
    let Ok(bytes) = data.cast::<PyBytes>() else {
        return Err(Raised::new::<PyTypeError>(
            py,
            format!("write() argument must be bytes, not {}", type_name(data)),
        ));
    };
    // The application goes on after write(): nothing may be held.
    match exchange.write(py, bytes.as_bytes(), false) {
        Ok(()) => Ok(py.None().into_bound(py)),
        Err(OutputError::NotStarted) => Err(Raised::new::<PyRuntimeError>(
            py,
            "response has not been started",
        )),
        Err(OutputError::ClientGone(_)) => Err(Raised::new::<PyOSError>(
            py,
            "Apache/mod_wsgi client connection closed.",
        )),
    }
}
