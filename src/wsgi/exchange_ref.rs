//! How the Python objects of a request find its [`Exchange`].

use pyo3::Python;
use pyo3::exceptions::PyRuntimeError;
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
