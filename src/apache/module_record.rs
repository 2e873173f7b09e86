//! This module's `module` record as httpd knows it: its index, for the
//! configuration vectors and per-module log levels. The record itself is
//! the exported `wsgi_module` (`module.rs`), which registers its address
//! here when httpd registers its hooks, before any directive or other hook
//! of the module runs.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicPtr, Ordering};

use apache_sys as ap;

static MODULE: AtomicPtr<ap::module> = AtomicPtr::new(std::ptr::null_mut());

/// Records the module's record (from `register_hooks`).
pub fn register(module: *const ap::module) {
    MODULE.store(module.cast_mut(), Ordering::Release);
}

pub fn module_ptr() -> *const ap::module {
    MODULE.load(Ordering::Acquire)
}

/// The index httpd assigned to this module; -1 before it was registered.
pub fn module_index() -> c_int {
    let module = module_ptr();
    if module.is_null() {
        return -1;
    }
    // SAFETY: the record is httpd's loaded module, which lives as long as
    // this code; httpd writes the index before registering the hooks.
    unsafe { (*module).module_index }
}

/// This module's slot of a configuration vector.
///
/// # Safety
/// `vector` must be a live configuration vector of a server or request
/// whose slot for this module was filled by this module's callbacks.
pub unsafe fn config_slot<T>(vector: *const ap::ap_conf_vector_t) -> *mut T {
    // SAFETY: per the contract.
    unsafe { ap::wsgi_shim_get_module_config(vector, module_ptr()).cast() }
}

/// A NULL-terminated list of module names, for hook ordering.
#[repr(transparent)]
pub struct ModuleList<const N: usize>(pub [*const std::os::raw::c_char; N]);
// SAFETY: immutable pointers to 'static C strings.
unsafe impl<const N: usize> Sync for ModuleList<N> {}
