//! Reading and writing APR tables (headers, notes, subprocess_env).

use std::ffi::CString;

use apache_sys as ap;

use super::{c_bytes, pool};

/// Entries of `table` as (key, value) byte slices, in table order.
///
/// # Safety
/// `table` must be live for `'a` and not modified meanwhile.
pub unsafe fn entries<'a>(table: *const ap::apr_table_t) -> Vec<(&'a [u8], &'a [u8])> {
    // SAFETY: per the contract; apr_table_elts gives the entry array.
    unsafe {
        let array = ap::wsgi_shim_table_elts(table);
        let count = (*array).nelts as usize;
        let elts = (*array).elts.cast::<ap::apr_table_entry_t>();
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let entry = *elts.add(i);
            if !entry.key.is_null() {
                entries.push((c_bytes(entry.key), c_bytes(entry.val)));
            }
        }
        entries
    }
}

/// The value of `key`, if present.
///
/// # Safety
/// `table` must be live for `'a`.
pub unsafe fn get<'a>(table: *const ap::apr_table_t, key: &str) -> Option<&'a [u8]> {
    // Keys are short: a NUL-terminated copy on the stack, not the heap.
    let mut buffer = [0u8; 128];
    let heap;
    let key_ptr = if key.len() < buffer.len() && !key.as_bytes().contains(&0) {
        buffer[..key.len()].copy_from_slice(key.as_bytes());
        buffer.as_ptr().cast::<std::os::raw::c_char>()
    } else {
        heap = CString::new(key).ok()?;
        heap.as_ptr()
    };
    // SAFETY: per the contract; key_ptr is NUL-terminated and outlives the call.
    let value = unsafe { ap::apr_table_get(table, key_ptr) };
    if value.is_null() {
        None
    } else {
        // SAFETY: table values are NUL-terminated and live with the table.
        Some(unsafe { c_bytes(value) })
    }
}

/// Sets `key` to `value`, copying both into `pool`.
///
/// # Safety
/// `table` and `pool` must be live, and `pool` must live as long as `table`.
pub unsafe fn set(
    table: *mut ap::apr_table_t,
    pool: *mut ap::apr_pool_t,
    key: &[u8],
    value: &[u8],
) {
    // SAFETY: per the contract; setn keeps the pool copies.
    unsafe { ap::apr_table_setn(table, pool::strdup(pool, key), pool::strdup(pool, value)) };
}

/// Adds `key: value` (keeping existing entries), copying both into `pool`.
///
/// # Safety
/// As for [`set`].
pub unsafe fn add(
    table: *mut ap::apr_table_t,
    pool: *mut ap::apr_pool_t,
    key: &[u8],
    value: &[u8],
) {
    // SAFETY: per the contract.
    unsafe { ap::apr_table_addn(table, pool::strdup(pool, key), pool::strdup(pool, value)) };
}

/// Adds `value` to an existing `key` as `old, value` (or adds the entry),
/// copying both into `pool`.
///
/// # Safety
/// As for [`set`].
pub unsafe fn merge(
    table: *mut ap::apr_table_t,
    pool: *mut ap::apr_pool_t,
    key: &[u8],
    value: &[u8],
) {
    // SAFETY: per the contract.
    unsafe { ap::apr_table_mergen(table, pool::strdup(pool, key), pool::strdup(pool, value)) };
}

/// Removes `key`.
///
/// # Safety
/// `table` must be live.
pub unsafe fn unset(table: *mut ap::apr_table_t, key: &str) {
    if let Ok(key) = CString::new(key) {
        // SAFETY: per the contract.
        unsafe { ap::apr_table_unset(table, key.as_ptr()) };
    }
}
