//! Thin edges over the raw httpd/APR bindings: each function here wraps
//! one unsafe operation behind a signature the rest of the crate can call
//! with plain Rust values.

pub mod auth_environ;
pub mod client_timeout;
pub mod log;
pub mod module_record;
pub mod pool;
pub mod request;
pub mod scoreboard;
pub mod table;

use std::ffi::CStr;
use std::os::raw::c_char;

/// A C string from httpd as `&str` (lossy), or "" for NULL.
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string that outlives `'a`.
pub unsafe fn c_str<'a>(ptr: *const c_char) -> std::borrow::Cow<'a, str> {
    if ptr.is_null() {
        return std::borrow::Cow::Borrowed("");
    }
    // SAFETY: per the contract.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy()
}

/// The bytes of a C string from httpd, or empty for NULL.
///
/// # Safety
/// As for [`c_str`].
pub unsafe fn c_bytes<'a>(ptr: *const c_char) -> &'a [u8] {
    if ptr.is_null() {
        return b"";
    }
    // SAFETY: per the contract.
    unsafe { CStr::from_ptr(ptr) }.to_bytes()
}
