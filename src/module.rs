//! The `wsgi_module` structure that `LoadModule wsgi_module ...` finds, the
//! configuration constructors httpd calls, and hook registration.

use std::ffi::c_void;
use std::os::raw::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use apache_sys as ap;

use crate::apache::log::{self, set_main_server};
use crate::apache::pool;
use crate::config::directives::COMMANDS;
use crate::config::{DirConfig, ServerConfig};
use crate::embedded;
use crate::process;
use crate::wsgi::backend::Level;

/// The module structure. httpd writes into it (index, next pointer), so it
/// is a `static mut` exported under the name LoadModule looks for; it must
/// be defined in Rust because a cdylib only exports Rust symbols.
#[unsafe(no_mangle)]
pub static mut wsgi_module: ap::module = ap::module {
    version: ap::MODULE_MAGIC_NUMBER_MAJOR as c_int,
    minor_version: ap::MODULE_MAGIC_NUMBER_MINOR as c_int,
    module_index: -1,
    name: c"mod_wsgi.c".as_ptr(),
    dynamic_load_handle: ptr::null_mut(),
    next: ptr::null_mut(),
    magic: ap::MODULE_MAGIC_COOKIE as std::os::raw::c_ulong,
    rewrite_args: None,
    create_dir_config: Some(create_dir_config),
    merge_dir_config: Some(merge_dir_config),
    create_server_config: Some(create_server_config),
    merge_server_config: Some(merge_server_config),
    cmds: &raw const COMMANDS as *const ap::command_rec,
    register_hooks: Some(register_hooks),
    flags: 0,
};

pub fn module_ptr() -> *const ap::module {
    &raw const wsgi_module
}

/// The index httpd assigned to this module (used for configuration vectors
/// and per-module log levels).
pub fn module_index() -> c_int {
    // SAFETY: httpd writes the index before any hook or directive runs, and
    // never concurrently with request processing.
    unsafe { (*module_ptr()).module_index }
}

/// Our configuration of `server`.
///
/// # Safety
/// `server` must be a live server_rec whose configuration we created.
pub unsafe fn server_config_mut<'a>(server: *mut ap::server_rec) -> &'a mut ServerConfig {
    // SAFETY: per the contract; the vector slot holds our ServerConfig.
    unsafe { &mut *ap::wsgi_shim_get_module_config((*server).module_config, module_ptr()).cast() }
}

/// Our directory configuration for a request.
///
/// # Safety
/// `r` must be a live request_rec.
pub unsafe fn dir_config<'a>(r: *const ap::request_rec) -> &'a DirConfig {
    // SAFETY: per the contract; the vector slot holds our DirConfig.
    unsafe { &*ap::wsgi_shim_get_module_config((*r).per_dir_config, module_ptr()).cast() }
}

unsafe extern "C" fn create_dir_config(
    pool: *mut ap::apr_pool_t,
    _dir: *mut c_char,
) -> *mut c_void {
    // SAFETY: httpd passes a live pool that owns the new configuration.
    unsafe { pool::attach(pool, DirConfig::default()).cast() }
}

unsafe extern "C" fn merge_dir_config(
    pool: *mut ap::apr_pool_t,
    base: *mut c_void,
    new: *mut c_void,
) -> *mut c_void {
    // SAFETY: both configurations were made by create/merge_dir_config.
    unsafe {
        let merged = DirConfig::merge(&*base.cast(), &*new.cast());
        pool::attach(pool, merged).cast()
    }
}

unsafe extern "C" fn create_server_config(
    pool: *mut ap::apr_pool_t,
    _s: *mut ap::server_rec,
) -> *mut c_void {
    // SAFETY: httpd passes a live pool that owns the new configuration.
    unsafe { pool::attach(pool, ServerConfig::default()).cast() }
}

unsafe extern "C" fn merge_server_config(
    pool: *mut ap::apr_pool_t,
    base: *mut c_void,
    new: *mut c_void,
) -> *mut c_void {
    // SAFETY: both configurations were made by create/merge_server_config.
    unsafe {
        let merged = ServerConfig::merge(&*base.cast(), &*new.cast());
        pool::attach(pool, merged).cast()
    }
}

/// NULL-terminated module-name lists for hook ordering.
#[repr(transparent)]
struct ModuleList<const N: usize>([*const c_char; N]);
// SAFETY: immutable pointers to 'static C strings.
unsafe impl<const N: usize> Sync for ModuleList<N> {}

static BEFORE_TRANSLATE: ModuleList<2> = ModuleList([c"mod_alias.c".as_ptr(), ptr::null()]);
static AFTER_TRANSLATE: ModuleList<3> = ModuleList([
    c"mod_userdir.c".as_ptr(),
    c"mod_vhost_alias.c".as_ptr(),
    ptr::null(),
]);

unsafe extern "C" fn register_hooks(_pool: *mut ap::apr_pool_t) {
    let middle = ap::APR_HOOK_MIDDLE as c_int;
    // SAFETY: called by httpd while it builds the hook tables; the ordering
    // lists are 'static and NULL-terminated.
    unsafe {
        ap::ap_hook_post_config(Some(post_config), ptr::null(), ptr::null(), middle);
        ap::ap_hook_child_init(Some(child_init), ptr::null(), ptr::null(), middle);
        ap::ap_hook_translate_name(
            Some(embedded::translate::translate_name),
            BEFORE_TRANSLATE.0.as_ptr(),
            AFTER_TRANSLATE.0.as_ptr(),
            middle,
        );
        ap::ap_hook_handler(
            Some(embedded::handler::handler),
            ptr::null(),
            ptr::null(),
            middle,
        );
    }
}

unsafe extern "C" fn post_config(
    pconf: *mut ap::apr_pool_t,
    _plog: *mut ap::apr_pool_t,
    _ptemp: *mut ap::apr_pool_t,
    server: *mut ap::server_rec,
) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        set_main_server(server);
        process::record_mpm();
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
                format!("Python/{}", process::python_version()).as_bytes(),
            );
            ap::ap_add_version_component(pconf, python);
        }
        // SAFETY: the main server's configuration is ours and live.
        let config = unsafe { server_config_mut(server) }.clone();
        process::record_restrict_embedded(config.restrict_embedded.unwrap_or(false));
        // SAFETY: server->process is httpd's process record.
        if unsafe { first_startup_pass(server) } {
            return Ok(());
        }
        // SAFETY: pconf is this generation's configuration pool, in the
        // parent.
        unsafe { crate::parent::reaping::install(pconf) };
        if !process::lazy(&config) {
            // SAFETY: pconf is this generation's configuration pool.
            unsafe { process::start_python_in_parent(&config, pconf) };
        }
        // SAFETY: pconf and server belong to this generation.
        unsafe { crate::daemon::supervisor::start(pconf, server, &config) }
    }));
    let failure = match outcome {
        Ok(Ok(())) => return ap::OK as c_int,
        Ok(Err(reason)) => reason,
        Err(_) => "internal error during post_config".to_string(),
    };
    log::server(server, Level::Error, &log::ours(&failure));
    ap::HTTP_INTERNAL_SERVER_ERROR as c_int
}

/// httpd reads its configuration twice at startup and only the second pass
/// goes on to serve; nothing is worth initialising in the first. The mark
/// lives in the process pool, which survives module reloads.
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

unsafe extern "C" fn child_init(pool: *mut ap::apr_pool_t, server: *mut ap::server_rec) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        set_main_server(server);
        crate::parent::reaping::restore_default();
        // SAFETY: httpd passes the main server and the child's pool.
        unsafe { process::start_python_in_child(server, pool) };
    }));
    if outcome.is_err() {
        log::server(
            server,
            Level::Error,
            &log::ours("internal error while starting Python"),
        );
    }
}
