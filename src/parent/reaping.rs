//! Makes the Apache parent notice at once when one of its children exits.
//!
//! httpd's parent polls for dead children and then sleeps for a second
//! (`ap_wait_or_timeout`); during a graceful restart it starts the new
//! generation's children one for one as the old ones die, so the children
//! of the old generation, which exit within milliseconds, are replaced up
//! to a second later, and meanwhile nobody accepts connections. A daemon
//! process that died is likewise noticed (and replaced, and its death
//! reported to the Apache child whose request it was running) up to a
//! second late. The parent's sleep is a `select()`, which a caught signal
//! ends early, so a SIGCHLD handler that does nothing makes the parent
//! look again as soon as a child exits.
//!
//! The handler lives in this module's code, which httpd unloads when the
//! configuration is re-read: it is removed by a cleanup of the
//! configuration pool (before the unload) and installed again by the next
//! generation's post_config. It is only installed where SIGCHLD has its
//! default action, and Apache's children put that back
//! (`child/init.rs`).

use std::ffi::c_void;

use apache_sys as ap;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

extern "C" fn on_child_exit(_: libc::c_int) {}

/// Installs the handler in the parent for the life of `pconf`.
///
/// # Safety
/// `pconf` must be the configuration pool of the generation being set up,
/// in the Apache parent.
pub unsafe fn install(pconf: *mut ap::apr_pool_t) {
    let action = SigAction::new(
        SigHandler::Handler(on_child_exit),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing; SA_RESTART keeps interrupted
    // system calls going except those that never restart (the sleep).
    let Ok(previous) = (unsafe { sigaction(Signal::SIGCHLD, &action) }) else {
        return;
    };
    if previous.handler() != SigHandler::SigDfl {
        // Someone else handles SIGCHLD here: leave theirs in place.
        // SAFETY: restoring what was there.
        let _ = unsafe { sigaction(Signal::SIGCHLD, &previous) };
        return;
    }
    // SAFETY: pconf is live; the cleanup runs before this module's code is
    // unloaded with the pool.
    unsafe {
        ap::apr_pool_cleanup_register(
            pconf,
            std::ptr::null(),
            Some(uninstall),
            Some(ap::apr_pool_cleanup_null),
        )
    };
}

unsafe extern "C" fn uninstall(_data: *mut c_void) -> ap::apr_status_t {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: the default action has no handler to run.
    let _ = unsafe { sigaction(Signal::SIGCHLD, &default) };
    0
}
