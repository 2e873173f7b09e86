//! How httpd keeps this module's configuration: the callbacks that make
//! and merge it (named in the module record), and the accessors. Request
//! paths and other processes only ever read it; only directive handlers,
//! while httpd reads the configuration, change it.

use std::ffi::c_void;
use std::os::raw::c_char;

use apache_sys as ap;

use super::{DirConfig, ServerConfig};
use crate::apache::module_record::config_slot;
use crate::apache::pool;

/// Our configuration of `server`.
///
/// # Safety
/// `server` must be a live server_rec whose configuration we created; the
/// configuration is not being changed (directives are not being read).
pub unsafe fn server_config<'a>(server: *const ap::server_rec) -> &'a ServerConfig {
    // SAFETY: per the contract; the slot holds our ServerConfig.
    unsafe { &*config_slot::<ServerConfig>((*server).module_config) }
}

/// Our configuration of `server`, to change while a directive is read.
///
/// # Safety
/// As for [`server_config`], and only from a directive handler (httpd reads
/// the configuration on one thread, before any request).
pub(super) unsafe fn server_config_mut<'a>(server: *mut ap::server_rec) -> &'a mut ServerConfig {
    // SAFETY: per the contract.
    unsafe { &mut *config_slot::<ServerConfig>((*server).module_config) }
}

/// Our directory configuration for a request.
///
/// # Safety
/// `r` must be a live request_rec.
pub unsafe fn dir_config<'a>(r: *const ap::request_rec) -> &'a DirConfig {
    // SAFETY: per the contract; the slot holds our DirConfig.
    unsafe { &*config_slot::<DirConfig>((*r).per_dir_config) }
}

/// httpd's `create_dir_config`.
///
/// # Safety
/// Called by httpd with a live pool.
pub unsafe extern "C" fn create_dir_config(
    pool: *mut ap::apr_pool_t,
    _dir: *mut c_char,
) -> *mut c_void {
    // SAFETY: httpd passes a live pool that owns the new configuration.
    unsafe { pool::attach(pool, DirConfig::default()).cast() }
}

/// httpd's `merge_dir_config`.
///
/// # Safety
/// Called by httpd with configurations made by the callbacks here.
pub unsafe extern "C" fn merge_dir_config(
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

/// httpd's `create_server_config`.
///
/// # Safety
/// Called by httpd with a live pool.
pub unsafe extern "C" fn create_server_config(
    pool: *mut ap::apr_pool_t,
    _s: *mut ap::server_rec,
) -> *mut c_void {
    // SAFETY: httpd passes a live pool that owns the new configuration.
    unsafe { pool::attach(pool, ServerConfig::default()).cast() }
}

/// httpd's `merge_server_config`.
///
/// # Safety
/// Called by httpd with configurations made by the callbacks here.
pub unsafe extern "C" fn merge_server_config(
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
