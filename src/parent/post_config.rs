//! The post_config hook: what the Apache parent does once it has read the
//! configuration (each generation): the Server header, the process facts,
//! Python in the parent when WSGILazyInitialization is Off, the daemon
//! process groups.

use std::ffi::c_void;
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use apache_sys as ap;

use super::supervisor::SupervisorError;
use crate::apache::log::{self, set_main_server};
use crate::apache::pool;
use crate::config::access::server_config;
use crate::{context, startup};
use wsgi_core::level::Level;

/// httpd's post_config hook.
///
/// # Safety
/// Called by httpd with the generation's pools and the main server.
pub unsafe extern "C" fn post_config(
    pconf: *mut ap::apr_pool_t,
    _plog: *mut ap::apr_pool_t,
    _ptemp: *mut ap::apr_pool_t,
    server: *mut ap::server_rec,
) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<(), SupervisorError> {
        set_main_server(server);
        // SAFETY: pconf is live; httpd copies the components into the
        // Server header (shown with ServerTokens Full).
        unsafe {
            let ours = pool::strdup(
                pconf,
                format!("mod_wsgi/{}", env!("CARGO_PKG_VERSION")).as_bytes(),
            );
            ap::ap_add_version_component(pconf, ours);
            let python = pool::strdup(
                pconf,
                format!("Python/{}", crate::build_info::PYTHON_VERSION).as_bytes(),
            );
            ap::ap_add_version_component(pconf, python);
        }
        // SAFETY: the main server's configuration is ours and live.
        let config = unsafe { server_config(server) }.clone();
        context::record_apache(
            config.restrict_embedded.unwrap_or(false),
            config.case_sensitivity.unwrap_or(true),
        );
        // SAFETY: server->process is httpd's process record.
        if unsafe { first_startup_pass(server) } {
            return Ok(());
        }
        // SAFETY: pconf is this generation's configuration pool, in the
        // parent.
        unsafe { super::reaping::install(pconf) };
        if !startup::lazy(&config) {
            // SAFETY: pconf is this generation's configuration pool.
            unsafe { super::python::start_python_in_parent(&config, pconf) };
        }
        // SAFETY: reads httpd's global pointer.
        if unsafe { ap::ap_scoreboard_image.is_null() } {
            // The first generation: httpd creates its scoreboard after
            // post_config. Daemons started now would have none to read
            // for server_metrics(), so they start in pre_mpm instead.
            *DEFERRED_START.lock() = Some(DeferredStart {
                pconf,
                server,
                config,
            });
            return Ok(());
        }
        // SAFETY: pconf and server belong to this generation.
        unsafe { super::supervisor::start(pconf, server, &config) }
    }));
    hook_status(server, outcome, "post_config")
}

/// What a parent hook returns to httpd: OK, or an error (which stops
/// Apache) after logging why.
fn hook_status(
    server: *mut ap::server_rec,
    outcome: std::thread::Result<Result<(), SupervisorError>>,
    hook: &str,
) -> c_int {
    let failure = match outcome {
        Ok(Ok(())) => return ap::OK as c_int,
        Ok(Err(reason)) => reason.to_string(),
        Err(_) => format!("internal error during {hook}"),
    };
    log::server(server, Level::Error, &log::ours(&failure));
    ap::HTTP_INTERNAL_SERVER_ERROR as c_int
}

/// The daemon groups to start once the scoreboard exists.
struct DeferredStart {
    pconf: *mut ap::apr_pool_t,
    server: *mut ap::server_rec,
    config: crate::config::ServerConfig,
}

// SAFETY: the pointers are httpd's generation records, used only by the
// parent's single thread in pre_mpm of the same generation.
unsafe impl Send for DeferredStart {}

static DEFERRED_START: parking_lot::Mutex<Option<DeferredStart>> = parking_lot::Mutex::new(None);

/// httpd's pre_mpm hook (run after core's, which creates the scoreboard,
/// on every start that makes a new one): starts the daemon groups that
/// post_config deferred.
///
/// # Safety
/// Called by httpd in the parent, after post_config of the same generation.
pub unsafe extern "C" fn pre_mpm(_pool: *mut ap::apr_pool_t, _kind: ap::ap_scoreboard_e) -> c_int {
    let Some(deferred) = DEFERRED_START.lock().take() else {
        return ap::OK as c_int;
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: pconf and server are this generation's (post_config saved
        // them moments ago and the generation has not ended).
        unsafe { super::supervisor::start(deferred.pconf, deferred.server, &deferred.config) }
    }));
    hook_status(deferred.server, outcome, "pre_mpm")
}

/// httpd reads its configuration twice at startup and only the second pass
/// goes on to serve; nothing is worth initialising in the first. The mark
/// lives in the process pool, which survives module reloads.
///
/// # Safety
/// `server` must be the live main server.
unsafe fn first_startup_pass(server: *mut ap::server_rec) -> bool {
    const KEY: &std::ffi::CStr = c"mod_wsgi_rs_startup_pass_done";
    // SAFETY: the process pool is httpd's and lives as long as the process;
    // the scoreboard only exists once the server has run (a restart).
    unsafe {
        if !ap::ap_scoreboard_image.is_null() {
            return false;
        }
        let pool = (*(*server).process).pool;
        let mut data: *mut c_void = ptr::null_mut();
        ap::apr_pool_userdata_get(&mut data, KEY.as_ptr(), pool);
        if !data.is_null() {
            return false;
        }
        ap::apr_pool_userdata_set(
            ptr::dangling::<c_void>(),
            KEY.as_ptr(),
            Some(ap::apr_pool_cleanup_null),
            pool,
        );
        true
    }
}
