//! What an Apache child says when the daemon process running one of its
//! requests went away: which process, how it ended (signal, exit status,
//! the limit that stopped it), after how long, and its peak memory, in
//! that request's own error-log line and status. The facts come from the
//! group's board (`board.rs`): the process's own notes and the parent's
//! record of its death, which httpd makes within about a second.

use std::time::{Duration, Instant};

use crate::groups::DaemonGroup;
use crate::groups::board::StopReason;

/// How long to wait for the parent's record of a death.
const DEATH_REPORT_WAIT: Duration = Duration::from_secs(2);
/// How long a process that closed the connection but is still alive gets
/// to turn out to be dying (a crash handler running, say).
const STILL_ALIVE_WAIT: Duration = Duration::from_millis(200);

/// The answer for a request whose daemon process ended it.
pub struct Lost {
    pub status: u16,
    pub message: String,
}

/// Where a process stands, from /proc (world-readable).
#[derive(Debug, PartialEq, Eq)]
enum ProcessState {
    Running,
    /// Dead, not yet reaped by the parent.
    Zombie,
    Gone,
}

fn process_state(pid: i32) -> ProcessState {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return ProcessState::Gone;
    };
    match stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
    {
        Some('Z' | 'X') | None => ProcessState::Zombie,
        Some(_) => ProcessState::Running,
    }
}

/// Describes the end of daemon process `pid` of `group`, which broke off
/// the request `what` (e.g. "GET /x") sent at `sent`. Waits (briefly) for
/// the parent to record the death.
pub fn explain(group: &DaemonGroup, pid: i32, what: &str, sent: Instant) -> Lost {
    let name = group.name();
    let began = Instant::now();
    let running = || {
        format!(
            "while running {what} after {:.1} s",
            sent.elapsed().as_secs_f64()
        )
    };
    let closed = |known: &str| Lost {
        status: 502,
        message: format!(
            "Daemon process '{name}' pid {pid} closed the connection {}; {known}",
            running()
        ),
    };
    let Some(board) = group.board.as_ref().filter(|b| b.knows(pid)) else {
        // A process of a newer configuration generation (this Apache child
        // outlived its own after a graceful restart): not on this board.
        return closed("how it ended is not known to this older Apache child");
    };
    loop {
        if let Some(death) = board.death_of(pid) {
            return Lost {
                status: 502,
                message: format!(
                    "Daemon process '{name}' pid {pid} {} {}; peak RSS {}",
                    death.how(),
                    running(),
                    death.peak_rss()
                ),
            };
        }
        let waited = began.elapsed();
        if process_state(pid) == ProcessState::Running {
            if let Some((stop, peak_kib)) = board.stopping(pid)
                && (stop.is_some() || waited >= STILL_ALIVE_WAIT)
            {
                let (status, why) = match stop {
                    Some(stop @ StopReason::RequestTimeout(_)) => {
                        (504, format!("ended the request because {stop}"))
                    }
                    Some(stop) => (502, format!("ended the request because {stop}")),
                    None => (502, "closed the connection".to_string()),
                };
                return Lost {
                    status,
                    message: format!(
                        "Daemon process '{name}' pid {pid} {why} {}; peak RSS {} MiB so far",
                        running(),
                        (peak_kib + 512) / 1024
                    ),
                };
            }
        } else if crate::groups::directory::hard_stop_under_way() {
            return closed("Apache is stopping all its daemon processes");
        } else if waited >= DEATH_REPORT_WAIT {
            return closed(&format!(
                "Apache did not report how it ended within {} s",
                DEATH_REPORT_WAIT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
