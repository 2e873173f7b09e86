//! Python in the Apache parent, when WSGILazyInitialization is Off: the
//! children (and daemon processes) then inherit an initialised
//! interpreter through fork.

use apache_sys as ap;
use python_embed::lifecycle;

use crate::apache::log;
use crate::config::ServerConfig;
use crate::startup::{initialize, log_lines};
use crate::wsgi::interpreter;
use wsgi_core::level::Level;

unsafe extern "C" fn finalize_in_parent(_data: *mut std::ffi::c_void) -> ap::apr_status_t {
    if lifecycle::is_initialized() {
        log::server(
            std::ptr::null(),
            Level::Info,
            &log::ours("Terminating Python."),
        );
        interpreter::forget_all();
        lifecycle::finalize();
    }
    0
}

/// WSGILazyInitialization Off: initialises Python in the Apache parent
/// (children inherit it) and finalises it when `pconf` is cleared on
/// restart, so a restart starts from a clean interpreter.
///
/// # Safety
/// `pconf` must be the configuration pool of this generation.
pub unsafe fn start_python_in_parent(config: &ServerConfig, pconf: *mut ap::apr_pool_t) {
    if let Err(reason) = initialize(config) {
        log_lines(&[reason.to_string()]);
        return;
    }
    // SAFETY: the cleanup runs when pconf is cleared, before this module is
    // unloaded (modules are unloaded by an earlier-registered cleanup).
    unsafe {
        ap::apr_pool_cleanup_register(
            pconf,
            std::ptr::null(),
            Some(finalize_in_parent),
            Some(ap::apr_pool_cleanup_null),
        )
    };
}
