//! Attaching host threads to Python.
//!
//! Apache's worker threads are not created by Python. Each one gets a thread
//! state the first time it runs Python code and keeps it for its lifetime:
//! it is primed through `PyGILState_Ensure` (so that the GIL-state API, used
//! by many C extensions, finds this thread's state in the main interpreter)
//! and afterwards attached and detached with `PyEval_RestoreThread` /
//! `PyEval_SaveThread`. Keeping the state means `threading.local` data and
//! per-thread caches survive from one request to the next, as in mod_wsgi.

use std::cell::Cell;
use std::ptr;

use pyo3::{Python, ffi};

thread_local! {
    /// This thread's long-lived state in the main interpreter, once primed.
    static MAIN_STATE: Cell<*mut ffi::PyThreadState> = const { Cell::new(ptr::null_mut()) };
    /// Nesting depth of `with_main_interpreter` on this thread.
    static ATTACH_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Called once by `lifecycle::initialize` on the initialising thread, which
/// holds the GIL: records its state as this thread's and releases the GIL.
pub(crate) fn release_after_initialize() {
    // SAFETY: the calling thread holds the GIL right after initialisation.
    let state = unsafe { ffi::PyEval_SaveThread() };
    MAIN_STATE.with(|s| s.set(state));
}

/// This thread's main-interpreter state, creating it on first use.
fn main_state() -> *mut ffi::PyThreadState {
    let existing = MAIN_STATE.with(Cell::get);
    if !existing.is_null() {
        return existing;
    }
    // SAFETY: Python is initialised and this thread is not attached; the
    // GILState counter stays at 1 for the life of the thread, which keeps
    // the state alive.
    let state = unsafe {
        ffi::PyGILState_Ensure();
        ffi::PyEval_SaveThread()
    };
    MAIN_STATE.with(|s| s.set(state));
    state
}

struct Detach {
    state: *mut ffi::PyThreadState,
}

impl Drop for Detach {
    fn drop(&mut self) {
        ATTACH_DEPTH.with(|d| d.set(d.get() - 1));
        if !self.state.is_null() {
            // SAFETY: this thread attached `state` in with_main_interpreter.
            let released = unsafe { ffi::PyEval_SaveThread() };
            debug_assert_eq!(released, self.state);
        }
    }
}

/// Runs `f` attached to the main interpreter. Nested calls on a thread that
/// is already attached run `f` directly.
///
/// Python must have been initialised with [`crate::lifecycle::initialize`].
pub fn with_main_interpreter<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    let depth = ATTACH_DEPTH.with(|d| {
        let depth = d.get();
        d.set(depth + 1);
        depth
    });
    let guard = if depth == 0 {
        let state = main_state();
        // SAFETY: `state` belongs to this thread and is not current.
        unsafe { ffi::PyEval_RestoreThread(state) };
        Detach { state }
    } else {
        Detach {
            state: ptr::null_mut(),
        }
    };
    // SAFETY: this thread now holds the GIL with its own thread state.
    let result = f(unsafe { Python::assume_attached() });
    drop(guard);
    result
}

struct Reattach {
    state: *mut ffi::PyThreadState,
}

impl Drop for Reattach {
    fn drop(&mut self) {
        // SAFETY: `state` was released by this thread in `without_gil`.
        unsafe { ffi::PyEval_RestoreThread(self.state) };
    }
}

/// Releases the GIL around `f`, which must not touch Python objects. Used
/// around every blocking read or write so other threads keep running.
pub fn without_gil<R>(_py: Python<'_>, f: impl FnOnce() -> R) -> R {
    // SAFETY: holding a `Python` token means this thread holds the GIL.
    let state = unsafe { ffi::PyEval_SaveThread() };
    let _reattach = Reattach { state };
    f()
}
