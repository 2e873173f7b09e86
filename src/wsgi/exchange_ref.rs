//! How the Python objects of a request find its [`Exchange`]: `wsgi.input`
//! and the `start_response` object share one layout, a pointer to the
//! exchange that is cleared when the request ends.

use std::ptr;

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;
use python_embed::objects::{free_instance, new_instance};
use python_embed::{Raised, RaisedResult};

use super::exchange::Exchange;

/// The exchange behind `ptr`, or a `RuntimeError` when the request has
/// finished (the object outlived it) or another thread is using it.
///
/// # Safety
/// `ptr` must be null or point to a live exchange; the caller holds the GIL.
pub unsafe fn exchange_mut<'a>(
    py: Python<'_>,
    ptr: *mut Exchange,
) -> RaisedResult<&'a mut Exchange> {
    if ptr.is_null() {
        return Err(Raised::new::<PyRuntimeError>(
            py,
            "request object has expired: the WSGI request it belonged to has finished",
        ));
    }
    // SAFETY: non-null pointers are cleared before the exchange is dropped.
    let exchange = unsafe { &mut *ptr };
    if exchange.check_idle().is_err() {
        return Err(Raised::new::<PyRuntimeError>(
            py,
            "request is in use by another thread",
        ));
    }
    Ok(exchange)
}

#[repr(C)]
pub struct ExchangeObject {
    base: ffi::PyObject,
    exchange: *mut Exchange,
}

/// Instance size of types with the [`ExchangeObject`] layout.
pub const EXCHANGE_OBJECT_SIZE: usize = std::mem::size_of::<ExchangeObject>();

/// A new instance of `ty` (a type with the [`ExchangeObject`] layout)
/// pointing at `exchange`.
pub fn new_exchange_object<'py>(
    py: Python<'py>,
    ty: &Bound<'py, PyType>,
    exchange: *mut Exchange,
) -> RaisedResult<Bound<'py, PyAny>> {
    new_instance::<ExchangeObject>(py, ty, |obj| {
        // SAFETY: obj is freshly allocated with ExchangeObject's layout.
        unsafe { (*obj).exchange = exchange };
    })
}

/// Detaches an object from its finished request.
///
/// # Safety
/// `obj` must have been made by [`new_exchange_object`]; the caller holds
/// the GIL.
pub unsafe fn expire_exchange_object(obj: &Bound<'_, PyAny>) {
    // SAFETY: per the contract obj has ExchangeObject's layout.
    unsafe { (*obj.as_ptr().cast::<ExchangeObject>()).exchange = ptr::null_mut() };
}

/// The exchange of an [`ExchangeObject`], see [`exchange_mut`].
///
/// # Safety
/// `obj` must have the [`ExchangeObject`] layout; the caller holds the GIL.
pub unsafe fn exchange_of<'a>(
    py: Python<'_>,
    obj: *mut ffi::PyObject,
) -> RaisedResult<&'a mut Exchange> {
    // SAFETY: per the contract.
    unsafe { exchange_mut(py, (*obj.cast::<ExchangeObject>()).exchange) }
}

/// `tp_dealloc` of types with the [`ExchangeObject`] layout.
///
/// # Safety
/// Called by CPython once per instance, with the GIL held.
pub unsafe extern "C" fn exchange_object_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: no Rust-owned fields; the exchange is not owned.
    unsafe { free_instance(obj) };
}
