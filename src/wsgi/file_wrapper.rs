//! `wsgi.file_wrapper`: wraps a file-like object so the server can send a
//! real file straight from its descriptor; otherwise it iterates in blocks.

use std::ffi::c_void;
use std::ptr;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use python_embed::objects::{
    Arguments, StaticTable, callback, create_type, free_instance, method_noargs, optional_size,
    slot,
};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::start_response::type_name;

const DEFAULT_BLOCK_SIZE: usize = 8192;

#[repr(C)]
pub struct FileWrapperObject {
    base: ffi::PyObject,
    filelike: *mut ffi::PyObject,
    blksize: ffi::Py_ssize_t,
}

pub fn create_file_wrapper_type(py: Python<'_>) -> RaisedResult<Bound<'_, PyType>> {
    create_type(
        py,
        c"mod_wsgi.FileWrapper",
        std::mem::size_of::<FileWrapperObject>(),
        ffi::Py_TPFLAGS_DEFAULT as _,
        &[
            slot(ffi::Py_tp_new, file_wrapper_new as *mut c_void),
            slot(ffi::Py_tp_dealloc, file_wrapper_dealloc as *mut c_void),
            slot(ffi::Py_tp_methods, FILE_WRAPPER_METHODS.as_ptr()),
            slot(ffi::Py_tp_members, FILE_WRAPPER_MEMBERS.as_ptr()),
            slot(ffi::Py_tp_iter, file_wrapper_iter as *mut c_void),
            slot(ffi::Py_tp_iternext, file_wrapper_iternext as *mut c_void),
        ],
    )
}

/// The wrapped file-like object and block size, if `obj` is a file wrapper
/// of type `ty`.
pub fn unwrap_file<'py>(
    obj: &Bound<'py, PyAny>,
    ty: &Bound<'py, PyType>,
) -> Option<(Bound<'py, PyAny>, usize)> {
    if !obj.get_type().is(ty) {
        return None;
    }
    // SAFETY: obj's type is exactly the file wrapper type, so it has
    // FileWrapperObject's layout; filelike is always set by tp_new.
    unsafe {
        let wrapper = obj.as_ptr().cast::<FileWrapperObject>();
        let filelike = Bound::from_borrowed_ptr(obj.py(), (*wrapper).filelike);
        Some((filelike, (*wrapper).blksize as usize))
    }
}

static FILE_WRAPPER_METHODS: StaticTable<[ffi::PyMethodDef; 2]> = StaticTable([
    method_noargs(
        c"close",
        file_wrapper_close,
        c"close(): closes the wrapped file",
    ),
    ffi::PyMethodDef::zeroed(),
]);

static FILE_WRAPPER_MEMBERS: StaticTable<[ffi::PyMemberDef; 3]> = StaticTable([
    ffi::PyMemberDef {
        name: c"filelike".as_ptr(),
        type_code: ffi::Py_T_OBJECT_EX,
        offset: std::mem::offset_of!(FileWrapperObject, filelike) as ffi::Py_ssize_t,
        flags: ffi::Py_READONLY,
        doc: c"the wrapped file-like object".as_ptr(),
    },
    ffi::PyMemberDef {
        name: c"blksize".as_ptr(),
        type_code: ffi::Py_T_PYSSIZET,
        offset: std::mem::offset_of!(FileWrapperObject, blksize) as ffi::Py_ssize_t,
        flags: ffi::Py_READONLY,
        doc: c"block size used when iterating".as_ptr(),
    },
    ffi::PyMemberDef {
        name: ptr::null(),
        type_code: 0,
        offset: 0,
        flags: 0,
        doc: ptr::null(),
    },
]);

unsafe extern "C" fn file_wrapper_new(
    ty: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls tp_new with the GIL held, an argument tuple and
    // a dict or NULL; the new object has the FileWrapperObject layout.
    unsafe {
        callback(|py| {
            let names = &["filelike", "blksize"];
            let args = Arguments::parse(py, "FileWrapper", args, kwargs, names, 1)?;
            let (filelike, blksize) = wrapper_arguments(py, &args)?;
            let obj = ffi::PyType_GenericAlloc(ty, 0);
            if obj.is_null() {
                return Err(Raised::already_set());
            }
            let wrapper = obj.cast::<FileWrapperObject>();
            (*wrapper).filelike = filelike.clone().into_ptr();
            (*wrapper).blksize = blksize.min(isize::MAX as usize) as ffi::Py_ssize_t;
            Ok(Bound::from_owned_ptr(py, obj))
        })
    }
}

/// `FileWrapper(filelike, blksize=8192)`'s arguments, checked.
fn wrapper_arguments<'a, 'py>(
    py: Python<'py>,
    args: &'a Arguments<'py>,
) -> RaisedResult<(&'a Bound<'py, PyAny>, usize)> {
    let Some(filelike) = args.get(0) else {
        return Err(Raised::new::<PyTypeError>(
            py,
            "FileWrapper() needs a file-like object",
        ));
    };
    let blksize = optional_size(py, args.get(1))?.unwrap_or(DEFAULT_BLOCK_SIZE);
    if blksize == 0 {
        return Err(Raised::new::<PyTypeError>(
            py,
            "FileWrapper() blksize must be positive",
        ));
    }
    Ok((filelike, blksize))
}

unsafe extern "C" fn file_wrapper_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: called by CPython once with the GIL held.
    unsafe {
        let wrapper = obj.cast::<FileWrapperObject>();
        ffi::Py_XDECREF((*wrapper).filelike);
        free_instance(obj);
    }
}

unsafe extern "C" fn file_wrapper_iter(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: returning obj needs a new reference.
    unsafe { ffi::Py_INCREF(obj) };
    obj
}

unsafe extern "C" fn file_wrapper_iternext(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held on a FileWrapperObject,
    // which holds a reference to its file-like object.
    unsafe {
        callback(|py| {
            let wrapper = &*obj.cast::<FileWrapperObject>();
            let filelike = Bound::from_borrowed_ptr(py, wrapper.filelike);
            next_block(py, &filelike, wrapper.blksize)
        })
    }
}

/// The next block of the file, or the end of the iteration.
fn next_block<'py>(
    py: Python<'py>,
    filelike: &Bound<'py, PyAny>,
    blksize: ffi::Py_ssize_t,
) -> RaisedResult<Bound<'py, PyAny>> {
    let block = filelike.call_method1("read", (blksize,)).raised(py)?;
    match block.cast::<PyBytes>() {
        Ok(bytes) if bytes.as_bytes().is_empty() => Err(Raised::stop_iteration()),
        Ok(_) => Ok(block),
        Err(_) => Err(Raised::new::<PyTypeError>(
            py,
            format!(
                "file-like object read() returned {}, expected bytes",
                type_name(&block)
            ),
        )),
    }
}

unsafe extern "C" fn file_wrapper_close(
    obj: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held on a FileWrapperObject.
    unsafe {
        callback(|py| {
            let wrapper = obj.cast::<FileWrapperObject>();
            let filelike = Bound::from_borrowed_ptr(py, (*wrapper).filelike);
            if let Some(close) = filelike.getattr_opt("close").raised(py)? {
                close.call0().raised(py)?;
            }
            Ok(py.None().into_bound(py))
        })
    }
}
