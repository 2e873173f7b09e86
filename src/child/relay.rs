//! The Apache child's side of daemon mode: hands the request to a process
//! of the group over its socket and relays the response, pulling the
//! request body from the client only as the application asks for it.
//! Connections stay open between requests (kept by each worker thread);
//! one that the daemon process closed in the meantime is noticed when the
//! request cannot be delivered on it, and the request goes out again on
//! another.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::raw::c_int;
use std::time::Instant;

use apache_sys as ap;

use crate::apache::client_timeout::ClientTimeout;
use crate::apache::log;
use crate::child::backend::RequestBackend;
use crate::child::lost_request::{self, Lost};
use crate::child::request_body::RequestBody;
use crate::groups::DaemonGroup;
use crate::groups::directory;
use crate::groups::secret::Secret;
use crate::groups::socket::{FrameStream, StreamError, connect_once, retry_pause, worth_retrying};
use crate::wsgi::backend::{Backend, Filling};
use wsgi_core::environ::CgiEnviron;
use wsgi_core::level::Level;
use wsgi_core::protocol::{Frame, RequestHead, ResponseHead, TRANSFER_CHUNK};

/// How many times a request is offered again after a daemon process
/// rejected it or closed the connection without starting it (it was
/// stopping, or died first), at least; retries go on for connect-timeout.
const MAX_REJECTIONS: u32 = 20;

/// Idle connections kept per group by one Apache worker thread, at most.
const MAX_IDLE: usize = 4;

/// An open connection to a daemon process.
struct DaemonConnection {
    stream: FrameStream,
    /// The process at the other end, from its `Welcome` (0 until then).
    pid: i32,
}

thread_local! {
    /// Open connections to daemon processes, by group, waiting for this
    /// thread's next request to the group. Per thread, so that taking and
    /// returning one needs no lock.
    static IDLE: RefCell<HashMap<String, Vec<DaemonConnection>>> = RefCell::new(HashMap::new());
}

fn take_idle(group: &str) -> Option<DaemonConnection> {
    IDLE.with(|idle| idle.borrow_mut().get_mut(group)?.pop())
}

fn put_idle(group: &str, mut connection: DaemonConnection) {
    connection.stream.release_buffers();
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        if let Some(pool) = idle.get_mut(group) {
            if pool.len() < MAX_IDLE {
                pool.push(connection);
            }
            return;
        }
        idle.insert(group.to_string(), vec![connection]);
    });
}

/// Drops this thread's idle connections to process `pid` of `group`: it
/// did not take a request (it is stopping, or every thread is busy), and
/// the others would lead to it again.
fn forget_idle_to(group: &str, pid: i32) {
    IDLE.with(|idle| {
        if let Some(pool) = idle.borrow_mut().get_mut(group) {
            pool.retain(|connection| connection.pid != pid);
        }
    });
}

fn status(code: u32) -> c_int {
    code as c_int
}

/// Forwards the request to `group` and relays the answer. Returns the
/// handler's status.
///
/// # Safety
/// `r` must be the live request being handled.
pub unsafe fn forward(
    r: *mut ap::request_rec,
    group: &DaemonGroup,
    cgi: CgiEnviron,
    script: &str,
    script_mtime: Option<u64>,
) -> c_int {
    let error = |text: String| {
        // SAFETY: r is live for the handler.
        unsafe { log::request(r, Level::Error, &log::ours(&format!("{text}: {script}"))) };
    };
    let mut cgi = cgi;
    // When this child began handing the request to the daemon (mod_wsgi's
    // key): the start of the queue wait.
    let queued = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    cgi.set("mod_wsgi.queue_start", queued.to_string());
    let head = RequestHead {
        // SAFETY: r is live.
        head_request: unsafe { (*r).header_only } != 0,
        script_mtime,
        vars: cgi,
    };
    // SAFETY: r is live for the whole exchange.
    let mut backend = unsafe { RequestBackend::new(r) };
    backend.fold_repeated_headers();
    // SAFETY: r is live.
    let what = unsafe {
        format!(
            "{} {}",
            crate::apache::c_str((*r).method),
            crate::apache::c_str((*r).unparsed_uri)
        )
    };
    // SAFETY: r is live.
    let expected = unsafe { body_length(r) };
    let mut body = RequestBody::prefetch(&mut backend, expected, group.options.body_buffer_size);
    // response-socket-timeout (default: socket-timeout): how long a write
    // to the client may block while the response is relayed.
    let _client_timeout = group
        .options
        .response_socket_timeout
        .or(group.options.socket_timeout)
        // SAFETY: r is live for the whole exchange, longer than the guard.
        .and_then(|timeout| unsafe { ClientTimeout::set(r, timeout) });
    let trip = Trip {
        group,
        what: &what,
        sent: Instant::now(),
        error: &error,
        // SAFETY: r is live; its directory configuration is ours.
        error_override: unsafe { crate::config::access::dir_config(r) }
            .error_override
            .unwrap_or(false),
        r,
    };
    let mut rejections = 0;
    let mut retries_began: Option<Instant> = None;
    loop {
        let (mut connection, hello) = match take_idle(group.name()) {
            Some(connection) => (connection, None),
            None => match open(group, &error) {
                Ok((connection, secret)) => (connection, Some(secret)),
                // SAFETY: r is live.
                Err(ap::DONE) => return unsafe { abandon(r, group) },
                Err(code) => return code,
            },
        };
        let fresh = hello.is_some();
        let hello = hello.as_ref().map(|secret| &secret.bytes()[..]);
        let delivered = match connection.stream.write_opening(hello, &head) {
            Ok(()) => relay(&mut connection, &mut backend, &mut body, &trip),
            // The process closed the connection (it is stopping) before
            // reading anything: a pooled one long ago, a fresh one just now.
            Err(StreamError::Reset | StreamError::Closed) if !fresh => continue,
            Err(StreamError::Reset | StreamError::Closed) => Relay::Unread,
            Err(e) => {
                error(format!(
                    "Unable to send request to WSGI daemon process '{}': {e}",
                    group.name()
                ));
                return status(ap::HTTP_SERVICE_UNAVAILABLE);
            }
        };
        let why = match delivered {
            Relay::Done { code, reusable } => {
                if reusable {
                    put_idle(group.name(), connection);
                }
                return code;
            }
            Relay::Rejected => "rejected the request (restarting)",
            Relay::Unread => "closed the connection without starting the request",
        };
        if connection.pid != 0 {
            forget_idle_to(group.name(), connection.pid);
        }
        if directory::hard_stop_under_way() {
            // SAFETY: r is live.
            return unsafe { abandon(r, group) };
        }
        rejections += 1;
        let retrying_for = retries_began.get_or_insert_with(Instant::now).elapsed();
        if rejections > MAX_REJECTIONS && retrying_for >= group.options.connect_timeout {
            error(format!(
                "Maximum number of WSGI daemon process restart connects reached \
                 '{MAX_REJECTIONS}' (over {:.1} s)",
                retrying_for.as_secs_f64()
            ));
            return status(ap::HTTP_SERVICE_UNAVAILABLE);
        }
        // SAFETY: r is live.
        unsafe {
            log::request(
                r,
                Level::Debug,
                &log::ours(&format!(
                    "Connect again after WSGI daemon process '{}' (pid {}) {why}.",
                    group.name(),
                    connection.pid
                )),
            )
        };
        // Every process of the group may be stopping (a restart): the
        // first retry is at once, later ones wait for a replacement.
        if rejections > 1 {
            std::thread::sleep(retry_pause(retrying_for));
        }
    }
}

/// The request body's length from Content-Length; `None` when it is
/// chunked (the handler refused any other framing before). A request
/// that expects `100 Continue` counts as having none to read ahead: the
/// interim response goes out only when the application reads the body,
/// and not at all when it answers without it.
///
/// # Safety
/// `r` must be the live request being handled.
unsafe fn body_length(r: *const ap::request_rec) -> Option<u64> {
    // SAFETY: per the contract; headers_in lives as long as the request.
    let headers = unsafe { (*r).headers_in };
    // SAFETY: as above.
    if unsafe { (*r).expecting_100 } != 0 {
        return Some(0);
    }
    // SAFETY: as above.
    if unsafe { crate::apache::table::get(headers, "Transfer-Encoding") }.is_some() {
        return None;
    }
    // SAFETY: as above.
    let length = unsafe { crate::apache::table::get(headers, "Content-Length") };
    Some(
        length
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
    )
}

/// Ends the client's connection without an answer: Apache is ending every
/// process of this generation at once (a hard restart or a stop), as it
/// ends every request of the children it stops, and no daemon process will
/// take the request before this process is gone.
///
/// # Safety
/// `r` must be the live request being handled.
unsafe fn abandon(r: *mut ap::request_rec, group: &DaemonGroup) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        log::request(
            r,
            Level::Info,
            &log::ours(&format!(
                "Apache is stopping; no process of WSGI daemon process group '{}' will take \
                 the request, which ends without an answer.",
                group.name()
            )),
        );
        ap::wsgi_shim_connection_abort((*r).connection);
    }
    ap::DONE
}

/// A new connection to a process of the group and the secret it must
/// prove, or the status to answer (`DONE`: give up without one, see
/// [`abandon`]). The socket and secret come from the
/// daemon directory, read again before every attempt: after a graceful
/// restart this process may outlive its generation's daemon processes,
/// and its requests then go to the new ones.
fn open(group: &DaemonGroup, error: &dyn Fn(String)) -> Result<(DaemonConnection, Secret), c_int> {
    let timeout = group.options.connect_timeout;
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if directory::hard_stop_under_way() {
            return Err(ap::DONE);
        }
        let Some(route) = directory::lookup(group.name()) else {
            error(format!(
                "WSGI daemon process group '{}' is no longer in Apache's configuration",
                group.name()
            ));
            return Err(status(ap::HTTP_SERVICE_UNAVAILABLE));
        };
        let failure = match connect_once(&route.socket_path) {
            Ok(stream) => {
                return match FrameStream::new(stream, Some(group.socket_timeout)) {
                    // The pid comes in the daemon's `Welcome`.
                    Ok(stream) => Ok((DaemonConnection { stream, pid: 0 }, route.secret)),
                    Err(e) => {
                        error(format!(
                            "Cannot configure the socket to daemon process '{}': {e}",
                            group.name()
                        ));
                        Err(status(ap::HTTP_SERVICE_UNAVAILABLE))
                    }
                };
            }
            Err(failure) => failure,
        };
        let elapsed = started.elapsed();
        if !worth_retrying(&failure) {
            error(format!(
                "Unable to connect to WSGI daemon process '{}' on '{}' as user with uid={} ({failure})",
                group.name(),
                route.socket_path.display(),
                nix::unistd::geteuid()
            ));
            return Err(status(ap::HTTP_SERVICE_UNAVAILABLE));
        }
        if elapsed >= timeout {
            error(format!(
                "Unable to connect to WSGI daemon process '{}' on '{}' after multiple attempts \
                 as listener backlog limit was exceeded or the socket does not exist \
                 ({attempts} attempts over {:.1} s: {failure})",
                group.name(),
                route.socket_path.display(),
                elapsed.as_secs_f64()
            ));
            return Err(status(ap::HTTP_SERVICE_UNAVAILABLE));
        }
        std::thread::sleep(retry_pause(elapsed).min(timeout - elapsed));
    }
}

enum Relay {
    /// Answered with `code`; `reusable`: the connection is in step and can
    /// carry the next request.
    Done { code: c_int, reusable: bool },
    /// The daemon process would not take the request; connect again.
    Rejected,
    /// The daemon process closed the connection without reading the
    /// request; connect again.
    Unread,
}

/// Ends a response that broke after it started: Apache's broken-response
/// path, and the connection is not kept.
fn cut_off(backend: &mut RequestBackend) -> Relay {
    backend.cut_response();
    Relay::Done {
        code: ap::OK as c_int,
        reusable: false,
    }
}

/// One request's way to a daemon process, for what the relay logs.
struct Trip<'a> {
    group: &'a DaemonGroup,
    /// E.g. "GET /x?y".
    what: &'a str,
    sent: Instant,
    error: &'a dyn Fn(String),
    /// WSGIErrorOverride: an error status is answered with Apache's own
    /// error document.
    error_override: bool,
    /// The request, for log lines.
    r: *mut ap::request_rec,
}

fn relay(
    connection: &mut DaemonConnection,
    backend: &mut RequestBackend,
    body: &mut RequestBody,
    trip: &Trip<'_>,
) -> Relay {
    let (group, error) = (trip.group, trip.error);
    let stream = &mut connection.stream;
    let ok = ap::OK as c_int;
    let mut body_buffer: Vec<u8> = Vec::new();
    let mut started = false;
    let mut sent_body = false;
    // Whether anything came back: before that, a reset connection means the
    // daemon process never read the request.
    let mut received = false;
    // A frame read ahead (after `Data`, to see whether `End` follows).
    let mut next: Option<Frame> = None;
    loop {
        let read = match next.take() {
            Some(frame) => Ok(frame),
            None => stream.read_frame(),
        };
        let frame = match read {
            Ok(frame) => frame,
            // The process never took the request's `Go`: it did not start
            // it, and another process may run it.
            Err(StreamError::Reset) if !received => return Relay::Unread,
            Err(StreamError::Timeout) if !sent_body => {
                error(format!(
                    "Timeout when reading response headers from daemon process '{}'",
                    group.name()
                ));
                return Relay::Done {
                    code: status(ap::HTTP_GATEWAY_TIME_OUT),
                    reusable: false,
                };
            }
            Err(failure) => {
                let lost = match failure {
                    StreamError::Protocol(_) | StreamError::Unexpected(_) => Lost {
                        status: 502,
                        message: format!(
                            "Daemon process '{}' pid {} sent a malformed response ({failure})",
                            group.name(),
                            connection.pid
                        ),
                    },
                    _ => lost_request::explain(group, connection.pid, trip.what, trip.sent),
                };
                if sent_body {
                    error(format!("Response cut off: {}", lost.message));
                    return cut_off(backend);
                }
                error(lost.message);
                return Relay::Done {
                    code: c_int::from(lost.status),
                    reusable: false,
                };
            }
        };
        if let Frame::Welcome(pid) = frame {
            // A new connection's first frame: who the process is. It says
            // nothing about the request, which may still be unread.
            connection.pid = pid as i32;
            continue;
        }
        received = true;
        match frame {
            Frame::Read(wanted) => {
                let wanted = (wanted as usize).clamp(1, TRANSFER_CHUNK);
                body_buffer.resize(wanted, 0);
                let sent = match body.read(backend, &mut Filling::over(&mut body_buffer)) {
                    Ok(n) => stream.write_chunk(&body_buffer[..n], true),
                    Err(e) => stream.write_frame(&Frame::BodyError(e.0)),
                };
                if sent.is_err() {
                    // The daemon went away; its answer (or EOF) follows.
                    continue;
                }
            }
            Frame::ResponseHead(head) => {
                if let Some(refused) = oversized_header(&head, group) {
                    error(refused);
                    return Relay::Done {
                        code: status(ap::HTTP_INTERNAL_SERVER_ERROR),
                        reusable: false,
                    };
                }
                if trip.error_override && head.status >= 400 {
                    return discard_for_error_document(stream, head.status);
                }
                backend.set_head(&head);
                started = true;
            }
            Frame::Data(mut data) => {
                if !started {
                    error(format!(
                        "Daemon process '{}' sent data before a response head",
                        group.name()
                    ));
                    return Relay::Done {
                        code: status(ap::HTTP_INTERNAL_SERVER_ERROR),
                        reusable: false,
                    };
                }
                // Data already here is gathered, up to response-buffer-size,
                // and passed on in one go (mod_wsgi flushes when it would
                // wait for the daemon, or when that much is buffered). When
                // the end of the response came with the data, both go
                // through Apache's output filters in one pass.
                let limit = match group.options.response_buffer_size {
                    0 => 65536,
                    size => size as usize,
                };
                // response-flush-delay: a little patience for more data, so
                // that pacing filters (mod_ratelimit) see full blocks.
                let delay = group.options.response_flush_delay;
                while stream.frame_ready()
                    || (!delay.is_zero() && data.len() < limit && stream.frame_within(delay))
                {
                    match stream.read_frame() {
                        Ok(Frame::End) => {
                            let sent = backend.send_final_body(&data).is_ok();
                            return Relay::Done {
                                code: ok,
                                reusable: sent,
                            };
                        }
                        Ok(Frame::Data(more)) if data.len() + more.len() <= limit => {
                            data.extend_from_slice(&more);
                        }
                        Ok(frame) => {
                            next = Some(frame);
                            break;
                        }
                        // Reported when the next read fails the same way.
                        Err(_) => break,
                    }
                }
                if let Err(gone) = backend.send_body(&data) {
                    // The client left (or stopped reading past
                    // response-socket-timeout): closing the connection
                    // tells the daemon.
                    // SAFETY: r is live for the whole exchange.
                    unsafe {
                        log::request(
                            trip.r,
                            Level::Info,
                            &log::ours(&format!("Failed to proxy response to client: {}", gone.0)),
                        )
                    };
                    return Relay::Done {
                        code: ok,
                        reusable: false,
                    };
                }
                sent_body = true;
            }
            Frame::End => {
                if !started {
                    error(format!(
                        "Daemon process '{}' ended without a response head",
                        group.name()
                    ));
                    return Relay::Done {
                        code: status(ap::HTTP_INTERNAL_SERVER_ERROR),
                        reusable: false,
                    };
                }
                // An empty or chunked response still has something to
                // send (its head, or its last chunk).
                let sent = backend.send_final_body(&[]).is_ok();
                return Relay::Done {
                    code: ok,
                    reusable: sent,
                };
            }
            Frame::Cut => return cut_off(backend),
            Frame::Fail {
                status: code,
                message,
            } => {
                if !message.is_empty() {
                    error(message);
                }
                if sent_body {
                    return cut_off(backend);
                }
                return Relay::Done {
                    code: c_int::from(code),
                    reusable: true,
                };
            }
            Frame::Reject if !started => return Relay::Rejected,
            other => {
                error(format!(
                    "Unexpected message from daemon process '{}': {other:?}",
                    group.name()
                ));
                if sent_body {
                    return cut_off(backend);
                }
                return Relay::Done {
                    code: status(ap::HTTP_INTERNAL_SERVER_ERROR),
                    reusable: false,
                };
            }
        }
    }
}

/// WSGIErrorOverride: the daemon's error response is read and dropped,
/// and its status handed to Apache, which answers with its own error
/// document (ErrorDocument), as mod_wsgi does.
fn discard_for_error_document(stream: &mut FrameStream, status: u16) -> Relay {
    let code = c_int::from(status);
    loop {
        match stream.read_frame() {
            Ok(Frame::Data(_)) => continue,
            Ok(Frame::End) => {
                return Relay::Done {
                    code,
                    reusable: true,
                };
            }
            _ => {
                return Relay::Done {
                    code,
                    reusable: false,
                };
            }
        }
    }
}

/// header-buffer-size: the longest response header (name and value) a
/// daemon's application may send, as mod_wsgi's buffer for reading them.
fn oversized_header(head: &ResponseHead, group: &DaemonGroup) -> Option<String> {
    let limit = group.options.header_buffer_size as usize;
    head.headers
        .iter()
        .find(|(name, value)| name.len() + value.len() + 2 > limit)
        .map(|(name, value)| {
            format!(
                "Response header '{}' from daemon process '{}' is {} bytes, more than \
                 header-buffer-size={limit}",
                String::from_utf8_lossy(name),
                group.name(),
                name.len() + value.len() + 2
            )
        })
}
