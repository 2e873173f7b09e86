//! Reading httpd's scoreboard (the shared memory mod_status reads) into
//! plain data for `mod_wsgi.server_metrics()`.

use apache_sys as ap;

use crate::wsgi::metrics::{ProcessSlot, Scoreboard, WorkerSlot};

fn seconds(time: ap::apr_time_t) -> f64 {
    time as f64 / 1_000_000.0
}

/// A fixed-size C string field, up to its first NUL, decoded as Latin-1
/// (mod_wsgi's decoding).
fn latin1(field: &[std::os::raw::c_char]) -> String {
    field
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| char::from(*c as u8))
        .collect()
}

/// A copy of the scoreboard, or None when this process has none.
pub fn read() -> Option<Scoreboard> {
    // SAFETY: reads of the scoreboard httpd created before forking this
    // process; it stays mapped for the process's life, and the slots are
    // plain data (a torn read of a field being updated is harmless, as for
    // mod_status).
    unsafe {
        if ap::ap_exists_scoreboard_image() == 0 {
            return None;
        }
        let global = ap::ap_get_scoreboard_global();
        if global.is_null() {
            return None;
        }
        let global = *global;
        let mut processes = Vec::with_capacity(global.server_limit.max(0) as usize);
        for i in 0..global.server_limit.max(0) {
            let process = ap::ap_get_scoreboard_process(i);
            if process.is_null() {
                continue;
            }
            let process = *process;
            let mut workers = Vec::with_capacity(global.thread_limit.max(0) as usize);
            for j in 0..global.thread_limit.max(0) {
                let worker = ap::ap_get_scoreboard_worker_from_indexes(i, j);
                if worker.is_null() {
                    continue;
                }
                let w = &*worker;
                let client = if w.client64[0] != 0 {
                    latin1(&w.client64)
                } else {
                    latin1(&w.client)
                };
                workers.push(WorkerSlot {
                    thread_num: i64::from(w.thread_num),
                    generation: i64::from(w.generation),
                    status: status_letter(u32::from(w.status)),
                    access_count: w.access_count,
                    bytes_served: w.bytes_served,
                    start_time: seconds(w.start_time),
                    stop_time: seconds(w.stop_time),
                    last_used: seconds(w.last_used),
                    client,
                    request: latin1(&w.request),
                    vhost: latin1(&w.vhost),
                });
            }
            processes.push(ProcessSlot {
                pid: i64::from(process.pid),
                generation: i64::from(process.generation),
                quiescing: process.quiescing != 0,
                workers,
            });
        }
        Some(Scoreboard {
            server_limit: i64::from(global.server_limit),
            thread_limit: i64::from(global.thread_limit),
            running_generation: i64::from(global.running_generation),
            restart_time: seconds(global.restart_time),
            processes,
        })
    }
}

/// mod_status's letter for a worker state (scoreboard.h's SERVER_*
/// numbers, in order: dead, starting, ready, read, write, keepalive, log,
/// dns, closing, graceful, idle kill).
fn status_letter(status: u32) -> char {
    const LETTERS: [char; 11] = ['.', 'S', '_', 'R', 'W', 'K', 'L', 'D', 'C', 'G', 'I'];
    LETTERS.get(status as usize).copied().unwrap_or('?')
}
