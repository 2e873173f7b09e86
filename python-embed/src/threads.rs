//! Attaching host threads to Python interpreters.
//!
//! Apache's worker threads are not created by Python. Each one gets, the
//! first time it runs Python code in an interpreter, a thread state for that
//! interpreter and keeps it for its lifetime, so `threading.local` data and
//! per-thread caches survive from one request to the next, as in mod_wsgi.
//!
//! A thread is always primed in the main interpreter first, through
//! `PyGILState_Ensure`: the GIL-state API (used by many C extensions)
//! remembers the first thread state made for a thread, and it must be the
//! main interpreter's. Afterwards states are switched with
//! `PyEval_RestoreThread` / `PyEval_SaveThread`, or `PyThreadState_Swap`
//! when the thread already holds the GIL in another interpreter (all
//! interpreters share one GIL in CPython 3.11).

use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::ptr;

use pyo3::{Python, ffi};

/// A Python interpreter of this process: the main one or a
/// sub-interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interpreter(*mut ffi::PyInterpreterState);

// SAFETY: an interpreter state pointer is only an identity here; it is
// dereferenced by CPython, under the GIL.
unsafe impl Send for Interpreter {}
// SAFETY: as above.
unsafe impl Sync for Interpreter {}

impl Interpreter {
    /// The main interpreter (Python must be initialised).
    pub fn main() -> Interpreter {
        // SAFETY: only reads a runtime field.
        Interpreter(unsafe { ffi::PyInterpreterState_Main() })
    }

    pub fn is_main(self) -> bool {
        self == Interpreter::main()
    }

    /// CPython's id of the interpreter (0 for the main one).
    pub fn id(self) -> i64 {
        // SAFETY: the interpreter is alive while we hold a handle to it.
        unsafe { ffi::PyInterpreterState_GetID(self.0) }
    }
}

/// A thread state as a plain value that may sit in the process-wide list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ThreadState(*mut ffi::PyThreadState);
// SAFETY: the list only stores the pointers; they are used under the GIL
// by the owning thread, or at teardown when that thread has finished.
unsafe impl Send for ThreadState {}

thread_local! {
    /// This thread's state in the main interpreter, once primed.
    static MAIN_STATE: Cell<*mut ffi::PyThreadState> = const { Cell::new(ptr::null_mut()) };
    /// This thread's states in sub-interpreters.
    static SUB_STATES: RefCell<Vec<(Interpreter, ThreadState)>> = const { RefCell::new(Vec::new()) };
    /// The state this thread is attached with, if any.
    static ATTACHED: Cell<*mut ffi::PyThreadState> = const { Cell::new(ptr::null_mut()) };
}

/// Every sub-interpreter thread state made in this process, so that
/// teardown can delete those of finished threads before ending each
/// sub-interpreter (CPython refuses to end one that still has other states).
static SUB_STATE_REGISTRY: Mutex<Vec<(Interpreter, ThreadState)>> = Mutex::new(Vec::new());

fn registry() -> parking_lot::MutexGuard<'static, Vec<(Interpreter, ThreadState)>> {
    SUB_STATE_REGISTRY.lock()
}

/// Called once by `lifecycle::initialize` on the initialising thread, which
/// holds the GIL: records its state as this thread's and releases the GIL.
pub(crate) fn release_after_initialize() {
    // SAFETY: the calling thread holds the GIL right after initialisation.
    let state = unsafe { ffi::PyEval_SaveThread() };
    MAIN_STATE.with(|s| s.set(state));
}

/// Forgets every thread state after the runtime was finalised, so that a
/// later initialisation starts clean (the parent process re-initialises
/// Python on each restart when lazy initialisation is off).
pub(crate) fn forget_after_finalize() {
    MAIN_STATE.with(|s| s.set(ptr::null_mut()));
    SUB_STATES.with(|s| s.borrow_mut().clear());
    ATTACHED.with(|s| s.set(ptr::null_mut()));
    registry().clear();
}

/// This thread's main-interpreter state, creating it on first use.
fn main_state() -> *mut ffi::PyThreadState {
    let existing = MAIN_STATE.with(Cell::get);
    if !existing.is_null() {
        return existing;
    }
    // SAFETY: Python is initialised and this thread holds no state; the
    // GIL-state counter stays at 1 for the life of the thread, which keeps
    // the state alive.
    let state = unsafe {
        ffi::PyGILState_Ensure();
        ffi::PyEval_SaveThread()
    };
    MAIN_STATE.with(|s| s.set(state));
    state
}

/// This thread's state in `interpreter`, creating it on first use.
fn state_for(interpreter: Interpreter) -> *mut ffi::PyThreadState {
    let main = main_state();
    if interpreter.is_main() {
        return main;
    }
    if let Some(state) = SUB_STATES.with(|s| {
        s.borrow()
            .iter()
            .find(|(i, _)| *i == interpreter)
            .map(|(_, state)| state.0)
    }) {
        return state;
    }
    // SAFETY: the interpreter is alive; PyThreadState_New does not need the
    // GIL. The main state made above keeps the GIL-state binding.
    let state = unsafe { ffi::PyThreadState_New(interpreter.0) };
    remember_sub_state(interpreter, state);
    state
}

fn remember_sub_state(interpreter: Interpreter, state: *mut ffi::PyThreadState) {
    SUB_STATES.with(|s| s.borrow_mut().push((interpreter, ThreadState(state))));
    registry().push((interpreter, ThreadState(state)));
}

/// Puts back the thread's previous attachment when a `with_interpreter`
/// call ends (normally or by unwinding).
struct Restore {
    previous: *mut ffi::PyThreadState,
}

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: undoes exactly what with_interpreter did on this thread.
        unsafe {
            if self.previous.is_null() {
                ffi::PyEval_SaveThread();
            } else {
                ffi::PyThreadState_Swap(self.previous);
            }
        }
        ATTACHED.with(|a| a.set(self.previous));
    }
}

/// Runs `f` attached to `interpreter`, switching from (and back to) any
/// interpreter this thread is already attached to.
///
/// Python must have been initialised with [`crate::lifecycle::initialize`].
pub fn with_interpreter<R>(
    interpreter: Interpreter,
    f: impl for<'py> FnOnce(Python<'py>) -> R,
) -> R {
    let target = state_for(interpreter);
    let previous = ATTACHED.with(Cell::get);
    if previous == target {
        // SAFETY: this thread holds the GIL with the target state.
        return f(unsafe { Python::assume_attached() });
    }
    // SAFETY: `target` belongs to this thread. Without a current state the
    // GIL is taken; with one, the GIL is already held and the state swapped.
    unsafe {
        if previous.is_null() {
            ffi::PyEval_RestoreThread(target);
        } else {
            ffi::PyThreadState_Swap(target);
        }
    }
    ATTACHED.with(|a| a.set(target));
    let _restore = Restore { previous };
    // SAFETY: this thread now holds the GIL with its state in `interpreter`.
    f(unsafe { Python::assume_attached() })
}

/// Runs `f` attached to the main interpreter.
pub fn with_main_interpreter<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    with_interpreter(Interpreter::main(), f)
}

/// Whether this thread is inside [`with_interpreter`].
pub fn is_attached() -> bool {
    !ATTACHED.with(Cell::get).is_null()
}

/// Creates a sub-interpreter. The caller is attached to any interpreter and
/// stays attached to it; the new interpreter keeps the thread state it was
/// created with as this thread's.
/// `Py_NewInterpreter` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Py_NewInterpreter() failed")]
pub struct NewInterpreterFailed;

pub fn new_sub_interpreter(_py: Python<'_>) -> Result<Interpreter, NewInterpreterFailed> {
    let previous = ATTACHED.with(Cell::get);
    // SAFETY: the caller holds the GIL (the token proves it); on success
    // Py_NewInterpreter makes the new state current, which is swapped back.
    unsafe {
        let state = ffi::Py_NewInterpreter();
        if state.is_null() {
            ffi::PyThreadState_Swap(previous);
            return Err(NewInterpreterFailed);
        }
        let interpreter = Interpreter(ffi::PyThreadState_GetInterpreter(state));
        remember_sub_state(interpreter, state);
        ffi::PyThreadState_Swap(previous);
        Ok(interpreter)
    }
}

/// Ends every sub-interpreter (running its `atexit` callbacks), then
/// finalises the main interpreter. Must be called on a thread that is not
/// attached; other threads must have stopped running Python.
///
/// Each sub-interpreter is ended from a thread state made for this purpose
/// after every other state of it is deleted. Ending it from a state some
/// thread used before would hang whenever `threading` was first imported
/// with that state: `threading._shutdown` waits for its "main thread"'s
/// state to be deleted, and that state would be the current one.
pub(crate) fn end_all_interpreters() {
    let main = main_state();
    // SAFETY: this thread is not attached; main is its own state.
    unsafe { ffi::PyEval_RestoreThread(main) };
    ATTACHED.with(|a| a.set(main));
    let states = std::mem::take(&mut *registry());
    let mut interpreters: Vec<Interpreter> = Vec::new();
    for (interpreter, _) in &states {
        if !interpreters.contains(interpreter) {
            interpreters.push(*interpreter);
        }
    }
    for interpreter in interpreters {
        // SAFETY: the interpreter is alive and the GIL is held; the fresh
        // state is made current so that what clearing the old states
        // finalises runs in its own interpreter.
        let ending = unsafe {
            let ending = ffi::PyThreadState_New(interpreter.0);
            ffi::PyThreadState_Swap(ending);
            ending
        };
        for (i, state) in &states {
            if *i == interpreter {
                // SAFETY: a state of a thread that no longer runs Python,
                // not current; the GIL is held.
                unsafe {
                    ffi::PyThreadState_Clear(state.0);
                    ffi::PyThreadState_Delete(state.0);
                }
            }
        }
        // SAFETY: `ending` is now the interpreter's only thread state and
        // current; Py_EndInterpreter leaves none current.
        unsafe {
            ffi::Py_EndInterpreter(ending);
            ffi::PyThreadState_Swap(main);
        }
    }
    SUB_STATES.with(|s| s.borrow_mut().clear());
    // SAFETY: the main state is current; finalisation consumes it.
    unsafe { ffi::Py_FinalizeEx() };
    ATTACHED.with(|a| a.set(ptr::null_mut()));
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

/// Re-initialises Python's threading state in a child process forked from
/// a parent that initialised Python (WSGILazyInitialization Off). Called on
/// the thread that initialised Python in the parent, which the child's only
/// thread is.
pub(crate) fn after_fork_child() {
    let main = main_state();
    // SAFETY: no other thread exists in the child; the GIL was released in
    // the parent before the fork, so it can be taken and reset.
    unsafe {
        ffi::PyEval_RestoreThread(main);
        ffi::PyOS_AfterFork_Child();
        ffi::PyEval_SaveThread();
    }
}
