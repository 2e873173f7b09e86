//! Fast access to the current interpreter's module registry.

use pyo3::exceptions::PySystemError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::raised::{Raised, RaisedResult};

/// `sys.modules` of the current interpreter, without an import.
pub fn sys_modules(py: Python<'_>) -> RaisedResult<Bound<'_, PyDict>> {
    // SAFETY: the GIL is held (py); the result is a borrowed reference to
    // the current interpreter's module dictionary, or NULL.
    let modules = unsafe { ffi::PyImport_GetModuleDict() };
    if modules.is_null() {
        return Err(Raised::new::<PySystemError>(
            py,
            "sys.modules is not available",
        ));
    }
    // SAFETY: a borrowed, non-NULL reference valid while the GIL is held.
    let modules = unsafe { Bound::from_borrowed_ptr(py, modules) };
    modules
        .cast_into::<PyDict>()
        .map_err(|_| Raised::new::<PySystemError>(py, "sys.modules is not a dict"))
}
