//! Python objects implemented in Rust, created per interpreter.
//!
//! pyo3's `#[pyclass]` types are process-wide statics and must not be used
//! from more than one interpreter. Here a type is made at run time with
//! `PyType_FromSpec` in whichever interpreter is current, from a static
//! description (name, instance size, slots, method table). Callbacks are
//! `extern "C"` functions wrapped with [`callback`] so that a Rust panic
//! becomes a Python `SystemError` instead of unwinding into C.

use std::ffi::CStr;
use std::os::raw::{c_int, c_uint, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3::{exceptions::PySystemError, ffi};

use crate::raised::{Raised, RaisedResult};

/// Lets a static table of C descriptors (method and member definitions
/// hold raw pointers) live in a `static`. The tables are never mutated.
#[repr(transparent)]
pub struct StaticTable<T>(pub T);

// SAFETY: the wrapped tables are immutable C descriptors with 'static
// pointers; CPython only reads them.
unsafe impl<T> Sync for StaticTable<T> {}

impl<T> StaticTable<T> {
    pub fn as_ptr(&self) -> *mut c_void {
        &self.0 as *const T as *mut c_void
    }
}

/// One `PyType_Slot`.
pub fn slot(id: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot: id, pfunc }
}

/// Creates a heap type in the current interpreter.
///
/// `name` must be 'static: Python 3.11 keeps pointing at it as `tp_name`.
/// `slots` need not end with the zero terminator; it is added here.
pub fn create_type<'py>(
    py: Python<'py>,
    name: &'static CStr,
    basicsize: usize,
    flags: c_uint,
    slots: &[ffi::PyType_Slot],
) -> RaisedResult<Bound<'py, PyType>> {
    let mut all: Vec<ffi::PyType_Slot> = slots.to_vec();
    all.push(slot(0, std::ptr::null_mut()));
    let mut spec = ffi::PyType_Spec {
        name: name.as_ptr(),
        basicsize: basicsize as c_int,
        itemsize: 0,
        flags,
        slots: all.as_mut_ptr(),
    };
    // SAFETY: the spec and slots are valid for the call; CPython copies the
    // slot values, and the name is 'static.
    let ty = unsafe { ffi::PyType_FromSpec(&mut spec) };
    if ty.is_null() {
        return Err(Raised::already_set());
    }
    // SAFETY: PyType_FromSpec returned a new reference to a type object.
    let ty = unsafe { Bound::from_owned_ptr(py, ty) };
    ty.cast_into::<PyType>()
        .map_err(|_| Raised::new::<PySystemError>(py, "PyType_FromSpec did not return a type"))
}

/// Allocates an instance of `ty`, whose layout is `T` (a `#[repr(C)]`
/// struct starting with `ffi::PyObject`), and initialises the Rust part with
/// `init`. The memory after the object header is zeroed by tp_alloc, so the
/// caller's `init` writes every field.
pub fn new_instance<'py, T>(
    py: Python<'py>,
    ty: &Bound<'py, PyType>,
    init: impl FnOnce(*mut T),
) -> RaisedResult<Bound<'py, PyAny>> {
    // SAFETY: ty is a valid heap type whose basicsize is size_of::<T>().
    let obj = unsafe { ffi::PyType_GenericAlloc(ty.as_ptr().cast(), 0) };
    if obj.is_null() {
        return Err(Raised::already_set());
    }
    init(obj.cast::<T>());
    // SAFETY: obj is a new reference.
    Ok(unsafe { Bound::from_owned_ptr(py, obj) })
}

/// The standard ending of a heap type's `tp_dealloc`: frees the object's
/// memory and drops the reference each instance holds on its heap type.
///
/// # Safety
/// `obj` must be an instance of a heap type being deallocated, with any
/// Rust-owned fields already dropped.
pub unsafe fn free_instance(obj: *mut ffi::PyObject) {
    // SAFETY: per the contract, obj is a live heap-type instance.
    unsafe {
        let ty = ffi::Py_TYPE(obj);
        match (*ty).tp_free {
            Some(free) => free(obj.cast()),
            None => ffi::PyObject_Free(obj.cast()),
        }
        ffi::Py_DECREF(ty.cast());
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Runs the body of a C callback that returns a new object reference (or
/// NULL with an exception set). Panics become `SystemError`.
///
/// # Safety
/// Must be called from a CPython callback, i.e. with the GIL held.
pub unsafe fn callback(
    body: impl for<'py> FnOnce(Python<'py>) -> RaisedResult<Bound<'py, PyAny>>,
) -> *mut ffi::PyObject {
    // SAFETY: CPython only calls our callbacks on a thread holding the GIL.
    let py = unsafe { Python::assume_attached() };
    match catch_unwind(AssertUnwindSafe(|| body(py))) {
        Ok(Ok(obj)) => obj.into_ptr(),
        Ok(Err(Raised(..))) => std::ptr::null_mut(),
        Err(payload) => {
            let _ = Raised::new::<PySystemError>(
                py,
                format!("internal error in mod_wsgi: {}", panic_message(&*payload)),
            );
            std::ptr::null_mut()
        }
    }
}

/// Like [`callback`] for slots returning `int` (0 success, -1 error).
///
/// # Safety
/// Must be called from a CPython callback, i.e. with the GIL held.
pub unsafe fn callback_int(body: impl for<'py> FnOnce(Python<'py>) -> RaisedResult<()>) -> c_int {
    // SAFETY: CPython only calls our callbacks on a thread holding the GIL.
    let py = unsafe { Python::assume_attached() };
    match catch_unwind(AssertUnwindSafe(|| body(py))) {
        Ok(Ok(())) => 0,
        Ok(Err(Raised(..))) => -1,
        Err(payload) => {
            let _ = Raised::new::<PySystemError>(
                py,
                format!("internal error in mod_wsgi: {}", panic_message(&*payload)),
            );
            -1
        }
    }
}

/// A method definition taking positional arguments (`METH_VARARGS`) or none
/// (`METH_NOARGS`).
const fn method_positional(
    name: &'static CStr,
    function: ffi::PyCFunction,
    flags: std::os::raw::c_int,
    doc: &'static CStr,
) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: function,
        },
        ml_flags: flags,
        ml_doc: doc.as_ptr(),
    }
}

/// A `METH_VARARGS` method definition.
pub const fn method_varargs(
    name: &'static CStr,
    function: ffi::PyCFunction,
    doc: &'static CStr,
) -> ffi::PyMethodDef {
    method_positional(name, function, ffi::METH_VARARGS, doc)
}

/// A `METH_VARARGS | METH_KEYWORDS` method definition.
pub const fn method_keywords(
    name: &'static CStr,
    function: ffi::PyCFunctionWithKeywords,
    doc: &'static CStr,
) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionWithKeywords: function,
        },
        ml_flags: ffi::METH_VARARGS | ffi::METH_KEYWORDS,
        ml_doc: doc.as_ptr(),
    }
}

/// A `METH_NOARGS` method definition.
pub const fn method_noargs(
    name: &'static CStr,
    function: ffi::PyCFunction,
    doc: &'static CStr,
) -> ffi::PyMethodDef {
    method_positional(name, function, ffi::METH_NOARGS, doc)
}

/// Positional and keyword arguments of a `METH_VARARGS | METH_KEYWORDS`
/// call, matched against parameter names.
pub struct Arguments<'py> {
    values: Vec<Option<Bound<'py, PyAny>>>,
}

impl<'py> Arguments<'py> {
    /// Matches `args`/`kwargs` to `names`; the first `required` are
    /// mandatory. Raises `TypeError` like a Python function would.
    ///
    /// # Safety
    /// `args` must be a tuple and `kwargs` a dict or NULL, as CPython passes.
    pub unsafe fn parse(
        py: Python<'py>,
        function: &str,
        args: *mut ffi::PyObject,
        kwargs: *mut ffi::PyObject,
        names: &[&str],
        required: usize,
    ) -> RaisedResult<Arguments<'py>> {
        use pyo3::exceptions::PyTypeError;
        use pyo3::types::{PyDict, PyTuple};

        let mut values: Vec<Option<Bound<'py, PyAny>>> = vec![None; names.len()];
        if !args.is_null() {
            // SAFETY: CPython passes a tuple for args.
            let args = unsafe { Bound::from_borrowed_ptr(py, args) };
            let args = args.cast_into::<PyTuple>().map_err(|_| {
                Raised::new::<PyTypeError>(py, format!("{function}: bad arguments"))
            })?;
            if args.len() > names.len() {
                return Err(Raised::new::<PyTypeError>(
                    py,
                    format!(
                        "{function}() takes at most {} arguments ({} given)",
                        names.len(),
                        args.len()
                    ),
                ));
            }
            for (i, value) in args.iter().enumerate() {
                values[i] = Some(value);
            }
        }
        if !kwargs.is_null() {
            // SAFETY: CPython passes a dict (or NULL) for kwargs.
            let kwargs = unsafe { Bound::from_borrowed_ptr(py, kwargs) };
            let kwargs = kwargs.cast_into::<PyDict>().map_err(|_| {
                Raised::new::<PyTypeError>(py, format!("{function}: bad arguments"))
            })?;
            for (key, value) in kwargs.iter() {
                let key = match key.cast::<pyo3::types::PyString>() {
                    Ok(key) => key.to_string_lossy().into_owned(),
                    Err(_) => {
                        return Err(Raised::new::<PyTypeError>(
                            py,
                            format!("{function}() keywords must be strings"),
                        ));
                    }
                };
                let Some(i) = names.iter().position(|n| *n == key) else {
                    return Err(Raised::new::<PyTypeError>(
                        py,
                        format!("{function}() got an unexpected keyword argument '{key}'"),
                    ));
                };
                if values[i].is_some() {
                    return Err(Raised::new::<PyTypeError>(
                        py,
                        format!("{function}() got multiple values for argument '{key}'"),
                    ));
                }
                values[i] = Some(value);
            }
        }
        if let Some(missing) = values[..required].iter().position(Option::is_none) {
            return Err(Raised::new::<PyTypeError>(
                py,
                format!(
                    "{function}() missing required argument '{}'",
                    names[missing]
                ),
            ));
        }
        Ok(Arguments { values })
    }

    /// The argument at `index`, if given.
    pub fn get(&self, index: usize) -> Option<&Bound<'py, PyAny>> {
        self.values.get(index).and_then(Option::as_ref)
    }
}

/// Interprets an optional size argument the way file objects do: absent,
/// `None` or negative means "no limit".
pub fn optional_size(
    py: Python<'_>,
    value: Option<&Bound<'_, PyAny>>,
) -> RaisedResult<Option<usize>> {
    use crate::raised::PyResultExt;
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => {
            let n: i64 = v.extract().raised(py)?;
            Ok(usize::try_from(n).ok())
        }
    }
}

/// Memory being read into, left to right. Past what was written it may be
/// uninitialised; only the written bytes ever count, so nothing has to be
/// zeroed first.
pub struct Filling<'a> {
    buf: &'a mut [std::mem::MaybeUninit<u8>],
    filled: usize,
}

impl<'a> Filling<'a> {
    pub fn new(buf: &'a mut [std::mem::MaybeUninit<u8>]) -> Filling<'a> {
        Filling { buf, filled: 0 }
    }

    /// Fills initialised memory (a reused buffer).
    pub fn over(buf: &'a mut [u8]) -> Filling<'a> {
        // SAFETY: MaybeUninit<u8> has the layout of u8, and a Filling only
        // ever writes initialised bytes, so `buf` stays initialised.
        let buf = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        Filling { buf, filled: 0 }
    }

    /// The bytes written so far.
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// Room left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.filled
    }

    /// Appends as much of `data` as fits; returns how much that was.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.remaining());
        self.buf[self.filled..self.filled + n].write_copy_of_slice(&data[..n]);
        self.filled += n;
        n
    }

    /// The start of the room left, for C code to write into.
    pub fn spare_ptr(&mut self) -> *mut u8 {
        self.buf[self.filled..].as_mut_ptr().cast()
    }

    /// Counts `n` more bytes as written.
    ///
    /// # Safety
    /// The `n` bytes at [`Filling::spare_ptr`] must have been written, and
    /// `n` must not exceed [`Filling::remaining`].
    pub unsafe fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.remaining());
        self.filled += n.min(self.remaining());
    }
}

/// A new `bytes` of up to `capacity` bytes whose contents `fill` writes in
/// place. The object is not shared with anything until it is returned, so
/// `fill` may release the GIL while it writes. A short fill is copied into
/// a `bytes` of that length.
pub fn bytes_filled<'py>(
    py: Python<'py>,
    capacity: usize,
    fill: impl FnOnce(&mut Filling<'_>) -> RaisedResult<()>,
) -> RaisedResult<Bound<'py, pyo3::types::PyBytes>> {
    let size = ffi::Py_ssize_t::try_from(capacity)
        .map_err(|_| Raised::new::<pyo3::exceptions::PyOverflowError>(py, "size too large"))?;
    // SAFETY: a NULL source asks CPython for an uninitialised bytes object
    // of `size` bytes, owned by us.
    let object = unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), size) };
    if object.is_null() {
        return Err(Raised::already_set());
    }
    // SAFETY: object is a new, owned reference.
    let object = unsafe { Bound::from_owned_ptr(py, object) };
    // SAFETY: the buffer of a bytes object we own exclusively holds
    // `capacity` bytes; as MaybeUninit it may be uninitialised.
    let buffer = unsafe {
        let start = ffi::PyBytes_AsString(object.as_ptr()).cast::<std::mem::MaybeUninit<u8>>();
        std::slice::from_raw_parts_mut(start, capacity)
    };
    let mut filling = Filling::new(buffer);
    fill(&mut filling)?;
    let written = filling.filled();
    if written == capacity {
        // SAFETY: the object is a bytes object, and all of it was written.
        return Ok(unsafe { object.cast_into_unchecked() });
    }
    // SAFETY: the first `written` bytes of the buffer were written.
    let written_bytes = unsafe {
        std::slice::from_raw_parts(ffi::PyBytes_AsString(object.as_ptr()).cast::<u8>(), written)
    };
    Ok(pyo3::types::PyBytes::new(py, written_bytes))
}

#[cfg(test)]
mod tests {
    use super::Filling;
    use std::mem::MaybeUninit;

    #[test]
    fn filling_counts_only_what_was_written_and_never_overflows() {
        let mut room = [MaybeUninit::<u8>::uninit(); 5];
        let mut filling = Filling::new(&mut room);
        assert_eq!(filling.push(b"abc"), 3);
        assert_eq!(filling.push(b"defg"), 2);
        assert_eq!(filling.push(b"h"), 0);
        assert_eq!((filling.filled(), filling.remaining()), (5, 0));

        let mut reused = *b"......";
        let mut filling = Filling::over(&mut reused);
        filling.push(b"xy");
        // SAFETY: one byte is written at spare_ptr before it is counted.
        unsafe {
            filling.spare_ptr().write(b'z');
            filling.advance(1);
        }
        assert_eq!(filling.filled(), 3);
        assert_eq!(&reused, b"xyz...");
    }
}
