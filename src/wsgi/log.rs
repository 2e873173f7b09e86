//! Log objects: `wsgi.errors` of each request, and `sys.stdout` /
//! `sys.stderr` of the process. Text is collected until a newline and each
//! complete line becomes one line in Apache's error log.

use std::cell::Cell;
use std::ffi::{CStr, c_void};
use std::ptr;
use std::sync::OnceLock;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use python_embed::objects::{
    Arguments, StaticTable, callback, create_type, free_instance, method_noargs, method_varargs,
    new_instance, slot,
};
use python_embed::threads::without_gil;
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::backend::RequestLog;
use super::start_response::type_name;
use wsgi_core::level::Level;

/// Where log lines go when not tied to a request.
pub type ServerLog = fn(Level, &str);

static SERVER_LOG: OnceLock<ServerLog> = OnceLock::new();

/// Sets the process-wide log function (Apache's main server log).
pub fn set_server_log(log: ServerLog) {
    let _ = SERVER_LOG.set(log);
}

pub fn log_to_server(level: Level, line: &str) {
    match SERVER_LOG.get() {
        Some(log) => log(level, line),
        None => eprintln!("{line}"),
    }
}

/// `text` with mod_wsgi's prefix for its own log lines.
pub fn ours(text: &str) -> String {
    format!("mod_wsgi (pid={}): {text}", std::process::id())
}

/// Lines outside any request, for code that takes a [`RequestLog`].
pub struct ServerLines;

impl RequestLog for ServerLines {
    fn log(&self, level: Level, message: &str) {
        log_to_server(level, message);
    }
}

/// Apache cuts error log messages at about 8 KiB; longer lines are split.
const MAX_LINE: usize = 8000;

#[repr(C)]
pub struct LogObject {
    base: ffi::PyObject,
    /// Where the lines of the request this is `wsgi.errors` of go; None
    /// for a process-wide log or once the request has finished.
    target: Option<LogTarget>,
    name: &'static CStr,
    pending: String,
}

pub fn create_log_type(py: Python<'_>) -> RaisedResult<Bound<'_, PyType>> {
    create_type(
        py,
        c"mod_wsgi.Log",
        std::mem::size_of::<LogObject>(),
        ffi::Py_TPFLAGS_DEFAULT as _,
        &[
            slot(ffi::Py_tp_dealloc, log_dealloc as *mut c_void),
            slot(ffi::Py_tp_methods, LOG_METHODS.as_ptr()),
            slot(ffi::Py_tp_getset, LOG_GETSET.as_ptr()),
        ],
    )
}

/// The error log of one request, as a log object reaches it. The pointer
/// is cleared (see [`expire_log`]) before the request's log is dropped.
pub type LogTarget = *const (dyn RequestLog + 'static);

/// Erases the lifetime of a request's log so a log object can hold it.
///
/// # Safety
/// The log object given the result must be expired ([`expire_log`])
/// before `log` is dropped.
pub unsafe fn log_target(log: &dyn RequestLog) -> LogTarget {
    // SAFETY: only the lifetime changes; the caller's contract keeps the
    // pointer from outliving the log.
    unsafe { std::mem::transmute::<*const dyn RequestLog, LogTarget>(log) }
}

/// A log object; no target makes it process-wide.
pub fn new_log<'py>(
    py: Python<'py>,
    ty: &Bound<'py, PyType>,
    target: Option<LogTarget>,
    name: &'static CStr,
) -> RaisedResult<Bound<'py, PyAny>> {
    new_instance::<LogObject>(py, ty, |obj| {
        // SAFETY: obj is freshly allocated with LogObject's layout; the
        // String and Option fields are written, not dropped, as they hold
        // zeroes.
        unsafe {
            ptr::write(&raw mut (*obj).target, target);
            (*obj).name = name;
            ptr::write(&raw mut (*obj).pending, String::new());
        }
    })
}

/// Writes out any partial line and detaches the log from its request, so
/// later writes go to the server log.
///
/// # Safety
/// `obj` must have been made by [`new_log`]; the caller holds the GIL.
pub unsafe fn expire_log(py: Python<'_>, obj: &Bound<'_, PyAny>) {
    // SAFETY: per the contract.
    unsafe {
        let log = obj.as_ptr().cast::<LogObject>();
        flush_pending(py, log);
        (*log).target = None;
    }
}

/// A log object wrapped in `io.TextIOWrapper` (utf-8, backslashreplace,
/// line buffered), as mod_wsgi gives `wsgi.errors`, `sys.stdout` and
/// `sys.stderr`: text goes through the wrapper, bytes-like objects through
/// its `.buffer` (the log object). Returns (wrapper, log object).
pub fn new_text_log<'py>(
    py: Python<'py>,
    log_type: &Bound<'py, PyType>,
    wrapper_type: &Bound<'py, PyType>,
    target: Option<LogTarget>,
    name: &'static CStr,
    names: &super::names::Names,
) -> RaisedResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    use super::names::Name;
    let raw = new_log(py, log_type, target, name)?;
    // TextIOWrapper(buffer, encoding, errors, newline, line_buffering),
    // positionally and with interned strings: made once per request.
    let wrapper = wrapper_type
        .call1((
            &raw,
            names.get(py, Name::Utf8),
            names.get(py, Name::BackslashReplace),
            py.None(),
            true,
        ))
        .raised(py)?;
    Ok((wrapper, raw))
}

thread_local! {
    /// This thread's `wsgi.errors` in each interpreter it served in: the
    /// wrapper and its log object, reused request after request (making
    /// an `io.TextIOWrapper` costs about a tenth of a hello-world
    /// request). Strong references, kept for the thread's life.
    static REQUEST_ERRORS: std::cell::RefCell<Vec<(usize, *mut ffi::PyObject, *mut ffi::PyObject)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A request's `wsgi.errors`: this thread's wrapper for the current
/// interpreter, pointed at `target`, or a new one. Like a new one it
/// writes to `target` until expired ([`expire_text_log`]); a reference an
/// application keeps writes, after its request, to the thread's request
/// of the moment (as `sys.stderr` does) or the server log.
pub fn request_errors<'py>(
    py: Python<'py>,
    log_type: &Bound<'py, PyType>,
    wrapper_type: &Bound<'py, PyType>,
    target: LogTarget,
    names: &super::names::Names,
) -> RaisedResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    // SAFETY: the GIL is held; the current interpreter's address is its
    // identity for the thread's cache.
    let interpreter = unsafe { ffi::PyInterpreterState_Get() } as usize;
    let cached = REQUEST_ERRORS.with(|cache| {
        cache
            .borrow()
            .iter()
            .find(|(owner, _, _)| *owner == interpreter)
            .map(|&(_, wrapper, raw)| (wrapper, raw))
    });
    if let Some((wrapper, raw)) = cached {
        // SAFETY: strong references of this interpreter, held forever.
        let (wrapper, raw) = unsafe {
            (
                Bound::from_borrowed_ptr(py, wrapper),
                Bound::from_borrowed_ptr(py, raw),
            )
        };
        // An application may have detached the wrapper from its buffer.
        let attached = match wrapper.getattr("buffer") {
            Ok(buffer) => buffer.is(&raw),
            Err(err) => {
                Raised::from_err(py, err).clear(py);
                false
            }
        };
        if attached {
            // SAFETY: raw is a LogObject (made below) and the GIL is held.
            unsafe { (*raw.as_ptr().cast::<LogObject>()).target = Some(target) };
            return Ok((wrapper, raw));
        }
    }
    let (wrapper, raw) = new_text_log(
        py,
        log_type,
        wrapper_type,
        Some(target),
        c"<wsgi.errors>",
        names,
    )?;
    REQUEST_ERRORS.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.retain(|(owner, _, _)| *owner != interpreter);
        cache.push((
            interpreter,
            wrapper.clone().into_ptr(),
            raw.clone().into_ptr(),
        ));
    });
    Ok((wrapper, raw))
}

/// Flushes the wrapper, then expires its log object (see [`expire_log`]).
///
/// # Safety
/// `raw` must have been made by [`new_text_log`] with `wrapper`; the
/// caller holds the GIL.
pub unsafe fn expire_text_log(py: Python<'_>, wrapper: &Bound<'_, PyAny>, raw: &Bound<'_, PyAny>) {
    if let Err(err) = wrapper.call_method0("flush") {
        Raised::from_err(py, err).clear(py);
    }
    // SAFETY: per the contract.
    unsafe { expire_log(py, raw) };
}

static LOG_METHODS: StaticTable<[ffi::PyMethodDef; 10]> = StaticTable([
    method_varargs(c"write", log_write, c"write(text) -> None"),
    method_varargs(c"writelines", log_writelines, c"writelines(lines) -> None"),
    method_noargs(c"flush", log_flush, c"flush() -> None"),
    method_noargs(
        c"close",
        log_flush,
        c"close() -> None; flushes, the log stays usable",
    ),
    method_noargs(c"isatty", log_false, c"isatty() -> False"),
    method_noargs(c"readable", log_false, c"readable() -> False"),
    method_noargs(c"seekable", log_false, c"seekable() -> False"),
    method_noargs(c"writable", log_true, c"writable() -> True"),
    method_noargs(
        c"fileno",
        log_fileno,
        c"fileno(): not supported, raises OSError",
    ),
    ffi::PyMethodDef::zeroed(),
]);

static LOG_GETSET: StaticTable<[ffi::PyGetSetDef; 5]> = StaticTable([
    ffi::PyGetSetDef {
        name: c"name".as_ptr(),
        get: Some(log_get_name),
        set: None,
        doc: c"name of the stream".as_ptr(),
        closure: ptr::null_mut(),
    },
    ffi::PyGetSetDef {
        name: c"closed".as_ptr(),
        get: Some(log_get_closed),
        set: None,
        doc: c"always False".as_ptr(),
        closure: ptr::null_mut(),
    },
    ffi::PyGetSetDef {
        name: c"encoding".as_ptr(),
        get: Some(log_get_encoding),
        set: None,
        doc: c"utf-8".as_ptr(),
        closure: ptr::null_mut(),
    },
    ffi::PyGetSetDef {
        name: c"errors".as_ptr(),
        get: Some(log_get_errors),
        set: None,
        doc: c"backslashreplace".as_ptr(),
        closure: ptr::null_mut(),
    },
    ffi::PyGetSetDef {
        name: ptr::null(),
        get: None,
        set: None,
        doc: ptr::null(),
        closure: ptr::null_mut(),
    },
]);

unsafe extern "C" fn log_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: called by CPython once with the GIL held; the pending text is
    // written out, then the String is dropped before the memory is freed.
    unsafe {
        let py = Python::assume_attached();
        let log = obj.cast::<LogObject>();
        flush_pending(py, log);
        ptr::drop_in_place(&raw mut (*log).pending);
        free_instance(obj);
    }
}

thread_local! {
    /// The request this thread is running, if any: lines that the
    /// process-wide logs (`sys.stdout`, `sys.stderr`) get from this thread
    /// are logged in its context (client address, request id), as mod_wsgi
    /// does.
    static CURRENT_REQUEST: Cell<Option<LogTarget>> = const { Cell::new(None) };
}

/// Marks `log` as this thread's current request's log until dropped.
pub struct CurrentRequest {
    previous: Option<LogTarget>,
}

impl CurrentRequest {
    /// # Safety
    /// `log` must stay live until the returned guard is dropped.
    pub unsafe fn enter(log: LogTarget) -> CurrentRequest {
        CurrentRequest {
            previous: CURRENT_REQUEST.with(|c| c.replace(Some(log))),
        }
    }
}

impl Drop for CurrentRequest {
    fn drop(&mut self) {
        CURRENT_REQUEST.with(|c| c.set(self.previous));
    }
}

/// Logs `line` at `level` in the context of the request this thread is
/// running (client address, request id), or to the server outside one.
pub fn log_in_context(py: Python<'_>, level: Level, line: &str) {
    match CURRENT_REQUEST.with(Cell::get) {
        // SAFETY: as in `emit`.
        Some(log) => unsafe { &*log }.log(level, line),
        None => without_gil(py, || log_to_server(level, line)),
    }
}

fn emit(py: Python<'_>, target: Option<LogTarget>, line: &str) {
    match target.or_else(|| CURRENT_REQUEST.with(Cell::get)) {
        // SAFETY: a target is live until expired; the GIL is held, which
        // keeps the request from finishing while we log in its context.
        Some(log) => unsafe { &*log }.log(Level::Error, line),
        // Logging to the server never needs the request, so other threads
        // may run meanwhile.
        None => without_gil(py, || log_to_server(Level::Error, line)),
    }
}

/// Logs every complete line of the pending text.
///
/// # Safety
/// `log` points to a live LogObject; the caller holds the GIL.
unsafe fn emit_lines(py: Python<'_>, log: *mut LogObject) {
    // SAFETY: per the contract.
    let (pending, target) = unsafe { (&mut (*log).pending, (*log).target) };
    while let Some(newline) = pending.find('\n') {
        let line: String = pending.drain(..=newline).collect();
        emit_line(py, target, &line[..line.len() - 1]);
    }
    if pending.len() > MAX_LINE {
        let line = std::mem::take(pending);
        emit_line(py, target, &line);
    }
}

fn emit_line(py: Python<'_>, target: Option<LogTarget>, line: &str) {
    let mut rest = line;
    while rest.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        emit(py, target, &rest[..cut]);
        rest = &rest[cut..];
    }
    emit(py, target, rest);
}

/// # Safety
/// `log` points to a live LogObject; the caller holds the GIL.
unsafe fn flush_pending(py: Python<'_>, log: *mut LogObject) {
    // SAFETY: per the contract.
    unsafe {
        emit_lines(py, log);
        let pending = &mut (*log).pending;
        if !pending.is_empty() {
            let line = std::mem::take(pending);
            emit_line(py, (*log).target, &line);
        }
    }
}

/// Adds a write to the pending line: a str, or a bytes-like object (what
/// the TextIOWrapper passes on, or writes to `.buffer`), decoded as UTF-8
/// with bad bytes replaced. Gives the length written.
fn append_text(
    py: Python<'_>,
    log: *mut LogObject,
    text: &Bound<'_, PyAny>,
) -> RaisedResult<usize> {
    let (decoded, length) = if let Ok(text) = text.cast::<PyString>() {
        let decoded = text.to_string_lossy().into_owned();
        let length = decoded.chars().count();
        (decoded, length)
    } else if let Ok(bytes) = text.cast::<pyo3::types::PyBytes>() {
        let bytes = bytes.as_bytes();
        (String::from_utf8_lossy(bytes).into_owned(), bytes.len())
    } else if let Ok(bytes) = text.cast::<pyo3::types::PyByteArray>() {
        let bytes = bytes.to_vec();
        (String::from_utf8_lossy(&bytes).into_owned(), bytes.len())
    } else if text.is_instance_of::<pyo3::types::PyMemoryView>() {
        let bytes = text.call_method0("tobytes").raised(py)?;
        let bytes = bytes
            .cast::<pyo3::types::PyBytes>()
            .map_err(|_| Raised::new::<PyTypeError>(py, "memoryview.tobytes() gave no bytes"))?
            .as_bytes()
            .to_vec();
        (String::from_utf8_lossy(&bytes).into_owned(), bytes.len())
    } else {
        return Err(Raised::new::<PyTypeError>(
            py,
            format!(
                "write() argument must be str or a bytes-like object, not {}",
                type_name(text)
            ),
        ));
    };
    // SAFETY: log is a live LogObject and the GIL is held.
    unsafe {
        (*log).pending.push_str(&decoded);
        emit_lines(py, log);
    }
    Ok(length)
}

unsafe extern "C" fn log_write(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held on a LogObject.
    unsafe {
        callback(|py| {
            let args = Arguments::parse(py, "write", args, ptr::null_mut(), &["text"], 1)?;
            let text = args
                .get(0)
                .ok_or_else(|| Raised::new::<PyValueError>(py, "no text"))?;
            let written = append_text(py, obj.cast(), text)?;
            Ok(pyo3::types::PyInt::new(py, written).into_any())
        })
    }
}

unsafe extern "C" fn log_writelines(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held on a LogObject.
    unsafe {
        callback(|py| {
            let args = Arguments::parse(py, "writelines", args, ptr::null_mut(), &["lines"], 1)?;
            let lines = args
                .get(0)
                .ok_or_else(|| Raised::new::<PyValueError>(py, "no lines"))?;
            for line in lines.try_iter().raised(py)? {
                append_text(py, obj.cast(), &line.raised(py)?)?;
            }
            Ok(py.None().into_bound(py))
        })
    }
}

unsafe extern "C" fn log_flush(
    obj: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held on a LogObject.
    unsafe {
        callback(|py| {
            flush_pending(py, obj.cast());
            Ok(py.None().into_bound(py))
        })
    }
}

unsafe extern "C" fn log_false(
    _obj: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held.
    unsafe { callback(|py| Ok(pyo3::types::PyBool::new(py, false).to_owned().into_any())) }
}

unsafe extern "C" fn log_true(
    _obj: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held.
    unsafe { callback(|py| Ok(pyo3::types::PyBool::new(py, true).to_owned().into_any())) }
}

unsafe extern "C" fn log_fileno(
    _obj: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held.
    unsafe {
        callback(|py| {
            let unsupported = py
                .import("io")
                .and_then(|io| io.getattr("UnsupportedOperation"));
            let unsupported = unsupported.raised(py)?;
            let err = unsupported
                .call1(("mod_wsgi log objects have no file descriptor",))
                .raised(py)?;
            Err(Raised::from_err(py, PyErr::from_value(err)))
        })
    }
}

unsafe extern "C" fn log_get_name(
    obj: *mut ffi::PyObject,
    _closure: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls getters with the GIL held on a LogObject.
    unsafe {
        callback(|py| {
            let name = (*obj.cast::<LogObject>()).name;
            Ok(PyString::new(py, &name.to_string_lossy()).into_any())
        })
    }
}

unsafe extern "C" fn log_get_closed(
    _obj: *mut ffi::PyObject,
    _closure: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls getters with the GIL held.
    unsafe { callback(|py| Ok(pyo3::types::PyBool::new(py, false).to_owned().into_any())) }
}

unsafe extern "C" fn log_get_encoding(
    _obj: *mut ffi::PyObject,
    _closure: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls getters with the GIL held.
    unsafe { callback(|py| Ok(PyString::new(py, "utf-8").into_any())) }
}

unsafe extern "C" fn log_get_errors(
    _obj: *mut ffi::PyObject,
    _closure: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls getters with the GIL held.
    unsafe { callback(|py| Ok(PyString::new(py, "backslashreplace").into_any())) }
}
