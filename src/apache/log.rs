//! Writing to Apache's error log with this module's index, so lines are
//! tagged `[wsgi:level]` and `LogLevel wsgi:debug` applies.

use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, Ordering};

use apache_sys as ap;

use super::module_record::module_index;
use wsgi_core::level::Level;

/// The main server, for log lines not tied to a request.
static MAIN_SERVER: AtomicPtr<ap::server_rec> = AtomicPtr::new(std::ptr::null_mut());

pub fn set_main_server(server: *mut ap::server_rec) {
    MAIN_SERVER.store(server, Ordering::Release);
}

pub fn main_server() -> *mut ap::server_rec {
    MAIN_SERVER.load(Ordering::Acquire)
}

fn apache_level(level: Level) -> i32 {
    (match level {
        Level::Error => ap::APLOG_ERR,
        Level::Critical => ap::APLOG_CRIT,
        Level::Warning => ap::APLOG_WARNING,
        Level::Info => ap::APLOG_INFO,
        Level::Debug => ap::APLOG_DEBUG,
    }) as i32
}

fn message(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}

/// Logs against a server (or the main server when `server` is null).
pub fn server(server: *const ap::server_rec, level: Level, text: &str) {
    let server = if server.is_null() {
        main_server()
    } else {
        server.cast_mut()
    };
    let level = apache_level(level);
    if !server.is_null() {
        // SAFETY: server is a live server_rec.
        if unsafe { ap::wsgi_shim_log_server_is_level(server, module_index(), level) } == 0 {
            return;
        }
    }
    let text = message(text);
    // SAFETY: "%s" consumes exactly one NUL-terminated string argument; a
    // null server is allowed by httpd (it logs to the main error log).
    unsafe {
        ap::ap_log_error_(
            c"mod_wsgi.c".as_ptr(),
            0,
            module_index(),
            level,
            0,
            server,
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    };
}

/// Logs in the context of a request (client address, request id).
///
/// # Safety
/// `request` must be a live request_rec.
pub unsafe fn request(request: *const ap::request_rec, level: Level, text: &str) {
    let level = apache_level(level);
    // SAFETY: per the contract.
    if unsafe { ap::wsgi_shim_log_request_is_level(request, module_index(), level) } == 0 {
        return;
    }
    let text = message(text);
    // SAFETY: as in `server`; request is live per the contract.
    unsafe {
        ap::ap_log_rerror_(
            c"mod_wsgi.c".as_ptr(),
            0,
            module_index(),
            level,
            0,
            request,
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    };
}

/// A message from this module itself, prefixed as mod_wsgi does.
pub fn ours(text: &str) -> String {
    format!("mod_wsgi (pid={}): {text}", std::process::id())
}
