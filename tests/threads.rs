//! Concurrency: slow clients must not stall other requests. Under the
//! event MPM every request in a process runs in the same (embedded) Python
//! interpreter, so these tests prove that the module releases the GIL while
//! it blocks reading the request body and writing the response. Under
//! prefork they prove that stalled children do not hold up the others.
//! Also: `wsgi.multithread` / `wsgi.multiprocess` match the MPM, and
//! requests really run at the same time.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// How many clients stall at once: fewer than the workers of one event
/// child (40) and than the prefork children started (40).
const SLOW_CLIENTS: usize = 32;
/// A generous bound for a fast request while the slow ones stall; a
/// stalled server would make it take until the slow requests time out.
const FAST_BOUND: Duration = Duration::from_secs(5);
const FAST_REPEATS: usize = 5;
const UPLOAD_LENGTH: usize = 1_000_000;
const STREAM_MIB: usize = 32;

/// Event: one child to begin with (a second only if spare threads run
/// out, which 32 + a few requests do not do), so that the slow and the fast
/// requests share one interpreter; ServerLimit 2 keeps `wsgi.multiprocess`
/// true. Prefork: enough children for every slow client plus spares.
fn mpm_tuning(mpm: Mpm) -> &'static str {
    match mpm {
        Mpm::Prefork => {
            "StartServers 40\n\
             MinSpareServers 40\n\
             MaxSpareServers 64\n\
             ServerLimit 64\n\
             MaxRequestWorkers 64\n"
        }
        Mpm::Event | Mpm::Worker => {
            "ServerLimit 2\n\
             ThreadLimit 64\n\
             StartServers 1\n\
             ThreadsPerChild 40\n\
             MaxRequestWorkers 80\n\
             MinSpareThreads 1\n\
             MaxSpareThreads 80\n"
        }
    }
}

fn site(mpm: Mpm, mode: Mode) -> Apache {
    SiteBuilder::new(mpm, mode)
        .mount_app("/t", "threads_app.wsgi", "")
        .with(|b| b.mpm_conf(mpm_tuning(mpm)))
        .start()
}

fn json_of(apache: &Apache, response: &Response, context: &str) -> Value {
    assert_eq!(
        response.status,
        200,
        "{context}: {response:?}\n--- error_log ---\n{}",
        apache.error_log()
    );
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("{context}: not JSON ({err}): {response:?}"))
}

/// GET /t/hello on a fresh connection; returns the pid that answered and
/// how long it took. Fails (rather than hangs) if the server stalls.
fn timed_hello(apache: &Apache) -> (i64, Duration) {
    let started = Instant::now();
    let mut stream = apache.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET /t/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let response = try_read_response(&mut stream, false).unwrap_or_else(|err| {
        panic!(
            "the fast request got no answer after {:?} ({err}) while slow clients stall\n\
             --- error_log ---\n{}",
            started.elapsed(),
            apache.error_log()
        )
    });
    let elapsed = started.elapsed();
    let answer = json_of(apache, &response, "fast /t/hello");
    (answer["pid"].as_i64().unwrap(), elapsed)
}

/// Fast requests while the slow ones stall: each must answer within
/// [`FAST_BOUND`]. Returns the pids that answered.
fn fast_requests_answer(apache: &Apache, what: &str) -> Vec<i64> {
    let mut pids = Vec::new();
    for attempt in 0..FAST_REPEATS {
        let (pid, elapsed) = timed_hello(apache);
        assert!(
            elapsed < FAST_BOUND,
            "fast request {attempt} took {elapsed:?} while {SLOW_CLIENTS} clients {what}\n\
             --- error_log ---\n{}",
            apache.error_log()
        );
        pids.push(pid);
        thread::sleep(Duration::from_millis(200));
    }
    pids
}

/// Waits until the error_log has `count` lines containing `marker`, and
/// returns the pids those lines name (`pid=N`).
fn wait_for_markers(apache: &Apache, marker: &str, count: usize) -> BTreeSet<i64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = apache.error_log();
        let pids: Vec<i64> = log
            .lines()
            .filter(|line| line.contains(marker))
            .filter_map(|line| {
                let rest = &line[line.find("pid=")? + 4..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        if pids.len() >= count {
            return pids.into_iter().collect();
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {count} slow requests reached the app ({marker:?}); \
             the server serialises them?\n--- error_log ---\n{log}",
            pids.len()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn assert_no_crash(apache: &Apache) {
    let log = apache.error_log();
    for bad in [
        "Segmentation fault",
        "exit signal",
        "panicked",
        "Fatal Python error",
    ] {
        assert!(!log.contains(bad), "the error_log contains {bad:?}:\n{log}");
    }
}

/// The event MPM must have served at least one fast request in a process
/// that had stalled requests, or the test proved nothing about the GIL.
fn assert_shared_interpreter(mpm: Mpm, fast: &[i64], slow: &BTreeSet<i64>) {
    if mpm != Mpm::Prefork {
        assert!(
            fast.iter().any(|pid| slow.contains(pid)),
            "no fast request ran in a process with stalled requests \
             (fast: {fast:?}, stalled: {slow:?})"
        );
    }
}

/// Clients send the headers and a few bytes of a 1 MB body, then stall:
/// the app blocks in `wsgi.input.read()`.
fn slow_request_bodies_do_not_stall_others(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    timed_hello(&apache);

    let mut slow: Vec<TcpStream> = (0..SLOW_CLIENTS)
        .map(|_| {
            let mut stream = apache.connect();
            write!(
                stream,
                "POST /t/read HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
                 Content-Type: application/octet-stream\r\nContent-Length: {UPLOAD_LENGTH}\r\n\r\nabc"
            )
            .unwrap();
            stream
        })
        .collect();
    let stalled_pids = wait_for_markers(&apache, "threads-app: read started", SLOW_CLIENTS);

    let fast = fast_requests_answer(&apache, "stall sending their request bodies");
    assert_shared_interpreter(mpm, &fast, &stalled_pids);

    // Half of the clients finish their bodies; the app gets every byte.
    let rest = vec![b'r'; UPLOAD_LENGTH - 3];
    let finishing: Vec<TcpStream> = slow.drain(..SLOW_CLIENTS / 2).collect();
    let readers: Vec<_> = finishing
        .into_iter()
        .map(|mut stream| {
            let rest = rest.clone();
            thread::spawn(move || {
                stream.write_all(&rest).unwrap();
                read_response(&mut stream, false)
            })
        })
        .collect();
    for reader in readers {
        let response = reader.join().unwrap();
        let answer = json_of(&apache, &response, "completed slow upload");
        assert_eq!(answer["received"], UPLOAD_LENGTH);
    }
    // The others go away without finishing.
    drop(slow);

    thread::sleep(Duration::from_millis(500));
    fast_requests_answer(&apache, "went away");
    assert_no_crash(&apache);
}

/// Clients request a large streamed response and do not read it: the
/// server blocks sending.
fn unread_responses_do_not_stall_others(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    timed_hello(&apache);

    let mut slow: Vec<TcpStream> = (0..SLOW_CLIENTS)
        .map(|_| {
            let mut stream = apache.connect();
            write!(
                stream,
                "GET /t/stream?{STREAM_MIB} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            stream
        })
        .collect();
    let stalled_pids = wait_for_markers(&apache, "threads-app: stream started", SLOW_CLIENTS);
    // Let them fill the socket buffers and block.
    thread::sleep(Duration::from_secs(1));

    let fast = fast_requests_answer(&apache, "do not read their responses");
    assert_shared_interpreter(mpm, &fast, &stalled_pids);
    assert!(
        !apache.error_log().contains("threads-app: stream finished"),
        "a {STREAM_MIB} MiB response was sent to a client that reads nothing?\n{}",
        apache.error_log()
    );

    // One client reads its whole response: nothing was lost while stalled.
    let mut reader = slow.pop().unwrap();
    let response = read_response(&mut reader, false);
    assert_eq!(response.status, 200, "{response:?}");
    assert!(
        response.complete,
        "stream truncated: {} bytes",
        response.body.len()
    );
    assert_eq!(response.body.len(), STREAM_MIB * 1024 * 1024);
    assert!(response.body.iter().all(|&b| b == b's'));
    // The others go away.
    drop(slow);

    thread::sleep(Duration::from_millis(500));
    fast_requests_answer(&apache, "went away");
    assert_no_crash(&apache);
}

/// `concurrency` requests that each wait until all of them have arrived:
/// they only succeed if the server runs them at the same time. Returns how
/// many ran in each process.
fn rendezvous(apache: &Apache, batch: &str, concurrency: usize) -> BTreeMap<i64, usize> {
    let dir = apache.root().join("rendezvous").join(batch);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let dir = dir.display().to_string();
    let answers: Vec<Value> = thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .map(|i| {
                let dir = &dir;
                scope.spawn(move || {
                    let response =
                        apache.get(&format!("/t/rendezvous?dir={dir}&n={concurrency}&i={i}"));
                    json_of(apache, &response, "rendezvous")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut per_process = BTreeMap::new();
    for answer in &answers {
        assert!(
            answer["arrived"].as_u64().unwrap() as usize >= concurrency,
            "only {} of {concurrency} requests ran at the same time: {answers:?}",
            answer["arrived"]
        );
        *per_process
            .entry(answer["pid"].as_i64().unwrap())
            .or_insert(0) += 1;
    }
    per_process
}

fn concurrent_requests_and_wsgi_flags(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);

    let response = apache.get("/t/flags");
    let flags = json_of(&apache, &response, "/t/flags");
    assert_eq!(
        flags["multithread"],
        mode.multithreaded(mpm),
        "{mpm:?} {mode:?}: {flags}"
    );
    assert_eq!(flags["multiprocess"], true, "{mpm:?}: {flags}");
    assert_eq!(flags["run_once"], false, "{mpm:?}: {flags}");

    let per_process = rendezvous(&apache, "batch1", 16);
    if !mode.multithreaded(mpm) {
        // One request at a time per child.
        assert!(
            per_process.values().all(|&n| n == 1),
            "a prefork child ran two requests at once: {per_process:?}"
        );
    } else {
        // At most two processes, so some interpreter ran several at once.
        assert!(
            per_process.values().any(|&n| n >= 2),
            "no process ran concurrent requests: {per_process:?}"
        );
    }
    // And again, reusing the same threads/children.
    rendezvous(&apache, "batch2", 16);
    assert_no_crash(&apache);
}

/// Concurrent first requests to a script that takes a while to load: the
/// ones that find it being loaded by another thread wait for it, none runs
/// a half-loaded module, and each process loads it once.
fn concurrent_first_requests_load_the_script_once(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/slow", "threads_slow_import.wsgi", "")
        .with(|b| b.mpm_conf(mpm_tuning(mpm)))
        .start();
    let answers: Vec<Response> = thread::scope(|scope| {
        let clients: Vec<_> = (0..16)
            .map(|_| scope.spawn(|| apache.get("/slow")))
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let log = apache.error_log();
    for answer in &answers {
        assert_eq!(
            answer.status, 200,
            "{answer:?}
--- error_log ---
{log}"
        );
        let pid = String::from_utf8_lossy(&answer.body).into_owned();
        let loads = log
            .lines()
            .filter(|line| line.contains(&format!("slow-import loaded pid={pid}")))
            .count();
        assert_eq!(
            loads, 1,
            "process {pid} loaded the script {loads} times:
{log}"
        );
    }
    assert_no_crash(&apache);
}

wsgi_tests!(
    slow_request_bodies_do_not_stall_others,
    unread_responses_do_not_stall_others,
    concurrent_requests_and_wsgi_flags,
    concurrent_first_requests_load_the_script_once,
);
