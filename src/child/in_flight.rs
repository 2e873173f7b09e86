//! The requests this Apache child is running in embedded mode, and the
//! thread that logs their stacks when the metrics page asks every process
//! for them (`?stacks=1`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::apache::log;
use crate::apache::request::Request;
use crate::wsgi::request_stacks::{RunningRequest, log_request_stacks};
use wsgi_core::level::Level;

struct Running {
    thread: u64,
    what: String,
    application_group: String,
    started: Instant,
}

static RUNNING: Mutex<Option<HashMap<u64, Running>>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A request counted as running until dropped.
pub struct Entered(u64);

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(running) = RUNNING.lock().as_mut() {
            running.remove(&self.0);
        }
    }
}

/// The request starts running on this thread.
pub fn enter(request: &Request<'_>, application_group: &str) -> Entered {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let entry = Running {
        thread: nix::sys::pthread::pthread_self() as u64,
        what: request.method_and_uri(),
        application_group: application_group.to_string(),
        started: Instant::now(),
    };
    RUNNING
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(id, entry);
    Entered(id)
}

fn running_now() -> Vec<RunningRequest> {
    let now = Instant::now();
    RUNNING
        .lock()
        .as_ref()
        .map(|running| {
            running
                .values()
                .map(|r| RunningRequest {
                    thread: r.thread,
                    what: r.what.clone(),
                    application_group: r.application_group.clone(),
                    running_for: now - r.started,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Starts the thread that answers asks for stacks (child_init). It looks
/// twice a second: an ask costs nothing until it is made.
pub fn watch_for_stack_asks() {
    let Some(metrics) = crate::groups::embedded_metrics() else {
        return;
    };
    let mut answered = metrics.stacks_asked();
    let _ = std::thread::Builder::new()
        .name("wsgi-stacks".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let asked = metrics.stacks_asked();
                if asked == answered {
                    continue;
                }
                answered = asked;
                let running = running_now();
                let who = format!("Apache child (pid {})", std::process::id());
                let write = |level: Level, line: &str| log::server(log::main_server(), level, line);
                if running.is_empty() {
                    write(
                        Level::Debug,
                        &format!("{who}: stacks asked for: no WSGI request in flight."),
                    );
                }
                log_request_stacks(&write, Level::Warning, &who, "stacks asked for", &running);
            }
        });
}
