//! What a daemon process does about requests that run too long: the
//! Python stacks it logs before request-timeout or deadlock-timeout ends
//! the process (as mod_wsgi 4.9.4 logs them for request-timeout), and
//! interrupt-timeout (mod_wsgi 6.0): `mod_wsgi.RequestTimeout` raised in
//! the thread of a request over the limit, which then has the grace time
//! to unwind before the process is stopped.

use std::collections::HashMap;
use std::time::Duration;

use python_embed::stacks::{raise_in_thread, thread_stacks};
use python_embed::threads::with_interpreter;

use crate::wsgi::interpreter::interpreter_for;
use wsgi_core::level::Level;

/// A running request, as a timeout sees it.
#[derive(Debug, Clone)]
pub struct LongRequest {
    /// The thread running it (`threading.get_ident()`).
    pub thread: u64,
    /// E.g. "GET /x?y".
    pub what: String,
    /// Its interpreter.
    pub application_group: String,
    pub running_for: Duration,
}

/// Log lines for `requests` with their stacks from `stacks`.
fn stack_lines(
    group: &str,
    why: &str,
    requests: &[LongRequest],
    stacks: &HashMap<u64, Vec<String>>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for request in requests {
        lines.push(format!(
            "Daemon process '{group}': {why}: thread {:#x} running {} for {:.1} s, \
             most recent call first:",
            request.thread,
            request.what,
            request.running_for.as_secs_f64()
        ));
        match stacks.get(&request.thread) {
            Some(frames) if !frames.is_empty() => {
                lines.extend(frames.iter().map(|frame| format!("  {frame}")));
            }
            _ => lines.push("  (no Python frames)".to_string()),
        }
    }
    lines
}

/// Logs the stack of every request still running, before the process is
/// stopped by `why`. Reads the stacks without taking the GIL (it may be
/// stuck), as faulthandler does.
pub fn log_stacks_before_stop(
    log: &dyn Fn(Level, &str),
    group: &str,
    why: &str,
    requests: &[LongRequest],
) {
    if requests.is_empty() {
        return;
    }
    let stacks = thread_stacks();
    for line in stack_lines(group, why, requests, &stacks) {
        log(Level::Error, &line);
    }
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
    requests: &[LongRequest],
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
            for line in stack_lines(group, &why, std::slice::from_ref(request), &stacks) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_lines_name_the_request_and_its_frames() {
        let request = LongRequest {
            thread: 0x7f00,
            what: "GET /slow".into(),
            application_group: String::new(),
            running_for: Duration::from_millis(5300),
        };
        let mut stacks = HashMap::new();
        stacks.insert(
            0x7f00,
            vec!["File \"/a.wsgi\", line 3 in application".to_string()],
        );
        let lines = stack_lines(
            "app",
            "stopping (request-timeout)",
            std::slice::from_ref(&request),
            &stacks,
        );
        assert_eq!(
            lines,
            [
                "Daemon process 'app': stopping (request-timeout): thread 0x7f00 running GET /slow \
                 for 5.3 s, most recent call first:",
                "  File \"/a.wsgi\", line 3 in application"
            ]
        );
        let lines = stack_lines("app", "x", &[request], &HashMap::new());
        assert_eq!(lines[1], "  (no Python frames)");
    }
}
