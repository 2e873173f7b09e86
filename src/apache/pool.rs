//! Keeping Rust values in APR pools.

use std::ffi::c_void;
use std::os::raw::c_char;

use apache_sys as ap;

unsafe extern "C" fn drop_boxed<T>(data: *mut c_void) -> ap::apr_status_t {
    // SAFETY: registered by `attach` with a pointer from Box::into_raw::<T>.
    drop(unsafe { Box::from_raw(data.cast::<T>()) });
    0
}

/// Moves `value` into memory owned by `pool`: it is dropped when the pool
/// is cleared or destroyed.
///
/// # Safety
/// `pool` must be a live pool; the returned pointer must not be used after
/// the pool is cleared.
pub unsafe fn attach<T>(pool: *mut ap::apr_pool_t, value: T) -> *mut T {
    let ptr = Box::into_raw(Box::new(value));
    // SAFETY: pool is live; the cleanup frees exactly this allocation.
    unsafe {
        ap::apr_pool_cleanup_register(
            pool,
            ptr.cast(),
            Some(drop_boxed::<T>),
            Some(ap::apr_pool_cleanup_null),
        )
    };
    ptr
}

/// A copy of `text` in `pool` (NUL bytes, which httpd strings cannot hold,
/// are dropped).
///
/// # Safety
/// `pool` must be a live pool.
pub unsafe fn strdup(pool: *mut ap::apr_pool_t, text: &[u8]) -> *const c_char {
    // SAFETY: pool is live; the allocation holds the text and its NUL, and
    // every byte written is inside it.
    unsafe {
        let copy = ap::apr_palloc(pool, text.len() + 1).cast::<u8>();
        let mut length = 0;
        for &byte in text.iter().filter(|&&b| b != 0) {
            *copy.add(length) = byte;
            length += 1;
        }
        *copy.add(length) = 0;
        copy.cast::<c_char>().cast_const()
    }
}
