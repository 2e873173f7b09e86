//! The Python stacks of running requests, as log lines: what a daemon logs
//! before a timeout stops it, and what any process logs when asked for the
//! stacks of its requests in flight (`wsgi-metrics?stacks=1`, SIGUSR2).

use std::collections::HashMap;
use std::time::Duration;

use python_embed::stacks::thread_stacks;
use wsgi_core::level::Level;

/// A running request, as its stack's log lines name it.
#[derive(Debug, Clone)]
pub struct RunningRequest {
    /// The thread running it (`threading.get_ident()`).
    pub thread: u64,
    /// E.g. "GET /x?y".
    pub what: String,
    /// Its interpreter.
    pub application_group: String,
    pub running_for: Duration,
}

/// Log lines for `requests` with their stacks from `stacks`; `who` names
/// the process ("Daemon process 'x'").
pub fn stack_lines(
    who: &str,
    why: &str,
    requests: &[RunningRequest],
    stacks: &HashMap<u64, Vec<String>>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for request in requests {
        lines.push(format!(
            "{who}: {why}: thread {:#x} running {} for {:.1} s, most recent call first:",
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

/// Logs the stack of every request in `requests` at `level`. Reads the
/// stacks without taking the GIL (it may be stuck), as faulthandler does.
pub fn log_request_stacks(
    log: &dyn Fn(Level, &str),
    level: Level,
    who: &str,
    why: &str,
    requests: &[RunningRequest],
) {
    if requests.is_empty() {
        return;
    }
    let stacks = thread_stacks();
    for line in stack_lines(who, why, requests, &stacks) {
        log(level, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_lines_name_the_request_and_its_frames() {
        let request = RunningRequest {
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
            "Daemon process 'app'",
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
        let lines = stack_lines("x", "y", &[request], &HashMap::new());
        assert_eq!(lines[1], "  (no Python frames)");
    }
}
