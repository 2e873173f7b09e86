//! The Python stacks of a process's threads, and interrupting one of them.
//!
//! Stacks are read with CPython's own dumper (`_Py_DumpTracebackThreads`,
//! what `faulthandler` uses): it walks every thread state of an
//! interpreter without taking the GIL, so it also describes a process
//! whose GIL is stuck in a C extension. Without the GIL the frames may
//! change while they are read; it is meant for a process about to be
//! stopped, or for a caller that holds the GIL.

use std::collections::HashMap;
use std::ffi::{c_char, c_int};
use std::io::{Read, Seek};
use std::os::fd::AsRawFd;

use pyo3::ffi;
use pyo3::prelude::*;

unsafe extern "C" {
    /// CPython 3.8–3.12, exported (`PyAPI_FUNC`) from the internal
    /// traceback header; async-signal-safe.
    fn _Py_DumpTracebackThreads(
        fd: c_int,
        interp: *mut ffi::PyInterpreterState,
        current_tstate: *mut ffi::PyThreadState,
    ) -> *const c_char;
}

/// Each thread's frames, most recent call first, as `File "x", line N in
/// f`, by the thread's identifier (`threading.get_ident()`, which is
/// `pthread_self()` on Linux). Empty if Python is not initialised.
pub fn thread_stacks() -> HashMap<u64, Vec<String>> {
    let mut stacks = HashMap::new();
    if !crate::lifecycle::is_initialized() {
        return stacks;
    }
    let Ok(file) =
        nix::sys::memfd::memfd_create(c"mod_wsgi-stacks", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
    else {
        return stacks;
    };
    let mut file = std::fs::File::from(file);
    // SAFETY: Python is initialised; the interpreter list is only walked
    // (interpreters are not ended while requests run), and the dumper
    // only reads thread states and frames and writes to the descriptor.
    unsafe {
        let mut interp = ffi::PyInterpreterState_Head();
        while !interp.is_null() {
            _Py_DumpTracebackThreads(file.as_raw_fd(), interp, std::ptr::null_mut());
            interp = ffi::PyInterpreterState_Next(interp);
        }
    }
    let mut text = String::new();
    if file.rewind().is_err() || file.read_to_string(&mut text).is_err() {
        return stacks;
    }
    parse_dump(&text, &mut stacks);
    stacks
}

/// Splits the dumper's text ("Thread 0x7f... (most recent call first):"
/// then one indented line per frame) by thread.
fn parse_dump(text: &str, stacks: &mut HashMap<u64, Vec<String>>) {
    let mut current: Option<u64> = None;
    for line in text.lines() {
        let header = line
            .strip_prefix("Current thread 0x")
            .or_else(|| line.strip_prefix("Thread 0x"));
        if let Some(rest) = header {
            let hex = rest.split(' ').next().unwrap_or_default();
            current = u64::from_str_radix(hex, 16).ok();
            if let Some(thread) = current {
                stacks.entry(thread).or_default();
            }
            continue;
        }
        let frame = line.trim();
        // A thread has a state in each interpreter it ran in, and all but
        // one of them are empty.
        if frame.is_empty() || frame == "<no Python frame>" {
            continue;
        }
        if let Some(thread) = current {
            stacks.entry(thread).or_default().push(frame.to_string());
        }
    }
}

/// Raises `exception` in the thread `thread` of the current interpreter
/// the next time it runs Python code. Returns whether such a thread was
/// found.
pub fn raise_in_thread(_py: Python<'_>, thread: u64, exception: &Bound<'_, PyAny>) -> bool {
    // SAFETY: the GIL is held (the token); the exception is a live object;
    // CPython takes its own reference.
    unsafe { ffi::PyThreadState_SetAsyncExc(thread as std::ffi::c_long, exception.as_ptr()) == 1 }
}

/// A new exception class derived directly from `BaseException` (so that
/// `except Exception:` does not catch it), e.g. `mod_wsgi.RequestTimeout`.
pub fn new_base_exception<'py>(
    py: Python<'py>,
    qualified_name: &std::ffi::CStr,
    doc: &std::ffi::CStr,
) -> crate::RaisedResult<Bound<'py, PyAny>> {
    // SAFETY: the GIL is held; the names are NUL-terminated; the base is
    // the builtin BaseException.
    unsafe {
        let class = ffi::PyErr_NewExceptionWithDoc(
            qualified_name.as_ptr(),
            doc.as_ptr(),
            ffi::PyExc_BaseException,
            std::ptr::null_mut(),
        );
        if class.is_null() {
            return Err(crate::Raised::already_set());
        }
        Ok(Bound::from_owned_ptr(py, class))
    }
}

/// Whether the current exception is an instance of `class`.
pub fn exception_is(_py: Python<'_>, class: &Bound<'_, PyAny>) -> bool {
    // SAFETY: the GIL is held; class is a live object.
    unsafe { ffi::PyErr_ExceptionMatches(class.as_ptr()) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_split_by_thread() {
        let text = "Thread 0x00007f0000000001 (most recent call first):\n  \
                    File \"/app.wsgi\", line 12 in application\n  \
                    File \"/lib.py\", line 3 in sleep\n\n\
                    Current thread 0x00007f0000000002 (most recent call first):\n  \
                    File \"/other.py\", line 1 in <module>\n\n\
                    Thread 0x00007f0000000001 (most recent call first):\n  \
                    <no Python frame>\n";
        let mut stacks = HashMap::new();
        parse_dump(text, &mut stacks);
        assert_eq!(
            stacks[&0x7f0000000001],
            [
                "File \"/app.wsgi\", line 12 in application",
                "File \"/lib.py\", line 3 in sleep"
            ]
        );
        assert_eq!(
            stacks[&0x7f0000000002],
            ["File \"/other.py\", line 1 in <module>"]
        );
    }
}
