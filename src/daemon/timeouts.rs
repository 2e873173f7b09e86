//! What a daemon process does about requests that run too long: the
//! Python stacks it logs before request-timeout or deadlock-timeout ends
//! the process (as mod_wsgi 4.9.4 logs them for request-timeout), and
//! interrupt-timeout (mod_wsgi 6.0): `mod_wsgi.RequestTimeout` raised in
//! the thread of a request over the limit, which then has the grace time
//! to unwind before the process is stopped.

use std::time::Duration;

use python_embed::stacks::{raise_in_thread, thread_stacks};
use python_embed::threads::with_interpreter;

use crate::wsgi::interpreter::interpreter_for;
use crate::wsgi::request_stacks::{RunningRequest, log_request_stacks, stack_lines};
use wsgi_core::level::Level;

fn who(group: &str) -> String {
    format!("Daemon process '{group}'")
}

/// Logs the stack of every request still running, before the process is
/// stopped by `why`.
pub fn log_stacks_before_stop(
    log: &dyn Fn(Level, &str),
    group: &str,
    why: &str,
    requests: &[RunningRequest],
) {
    log_request_stacks(log, Level::Error, &who(group), why, requests);
}

/// Raises `mod_wsgi.RequestTimeout` in each request's thread, logging its
/// stack first. Takes the GIL in each request's interpreter (so it runs on
/// a thread of its own, already attached to Python once: the caller must
/// not wait for it).
pub fn interrupt(
    log: &dyn Fn(Level, &str),
    group: &str,
    limit: Duration,
    grace: Duration,
    requests: &[RunningRequest],
) {
    for request in requests {
        let Ok(interpreter) = interpreter_for(&request.application_group) else {
            continue;
        };
        with_interpreter(interpreter.interpreter, |py| {
            let why = format!(
                "request-timeout ({} s) reached, interrupting it (interrupt-timeout {} s)",
                limit.as_secs(),
                grace.as_secs()
            );
            let stacks = thread_stacks();
            for line in stack_lines(&who(group), &why, std::slice::from_ref(request), &stacks) {
                log(Level::Error, &line);
            }
            let exception = interpreter.types.request_timeout(py);
            if raise_in_thread(py, request.thread, exception.as_any()) {
                log(
                    Level::Info,
                    &format!(
                        "Injected RequestTimeout into thread {:#x} of daemon process '{group}'.",
                        request.thread
                    ),
                );
            } else {
                log(
                    Level::Warning,
                    &format!(
                        "Daemon process '{group}': thread {:#x} of {} was not found to interrupt.",
                        request.thread, request.what
                    ),
                );
            }
        });
    }
}
