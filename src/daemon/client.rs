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
use std::path::{Path, PathBuf};

use apache_sys as ap;

use super::groups::DaemonGroup;
use super::protocol::{Frame, RequestHead, TRANSFER_CHUNK};
use super::socket::{ConnectError, FrameStream, StreamError, connect};
use crate::apache::log;
use crate::embedded::backend::RequestBackend;
use crate::wsgi::backend::{Backend, Filling, Level, ResponseHead};
use crate::wsgi::environ::CgiEnviron;

/// How many times a request is offered again after a daemon process
/// rejected it or closed the connection without reading it (it was
/// stopping).
const MAX_REJECTIONS: u32 = 20;

/// Idle connections kept per group by one Apache worker thread, at most.
const MAX_IDLE: usize = 4;

thread_local! {
    /// Open connections to daemon processes, by socket path, waiting for
    /// this thread's next request to the group. Per thread, so that taking
    /// and returning one needs no lock.
    static IDLE: RefCell<HashMap<PathBuf, Vec<FrameStream>>> = RefCell::new(HashMap::new());
}

fn take_idle(socket: &Path) -> Option<FrameStream> {
    IDLE.with(|idle| idle.borrow_mut().get_mut(socket)?.pop())
}

fn put_idle(socket: &Path, mut stream: FrameStream) {
    stream.release_buffers();
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        if let Some(pool) = idle.get_mut(socket) {
            if pool.len() < MAX_IDLE {
                pool.push(stream);
            }
            return;
        }
        idle.insert(socket.to_path_buf(), vec![stream]);
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
) -> c_int {
    let error = |text: String| {
        // SAFETY: r is live for the handler.
        unsafe { log::request(r, Level::Error, &log::ours(&format!("{text}: {script}"))) };
    };
    // SAFETY: r is live.
    let head = RequestHead {
        head_request: unsafe { (*r).header_only } != 0,
        // SAFETY: r is live.
        script_mtime: unsafe { crate::embedded::handler::script_mtime(r) },
        vars: cgi,
    };
    // SAFETY: r is live for the whole exchange.
    let mut backend = unsafe { RequestBackend::new(r) };
    let mut rejections = 0;
    loop {
        let reused = take_idle(&group.socket_path);
        let fresh = reused.is_none();
        let stream = match reused {
            Some(stream) => Ok(stream),
            None => open(group, &error),
        };
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(code) => return code,
        };
        let delivered = match stream.write_head(&head) {
            Ok(()) => relay(&mut stream, &mut backend, group, &error),
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
                    put_idle(&group.socket_path, stream);
                }
                return code;
            }
            Relay::Rejected => "rejected the request (restarting)",
            Relay::Unread => "closed the connection without reading the request (stopping)",
        };
        rejections += 1;
        if rejections > MAX_REJECTIONS {
            error(format!(
                "Maximum number of WSGI daemon process restart connects reached '{MAX_REJECTIONS}'"
            ));
            return status(ap::HTTP_SERVICE_UNAVAILABLE);
        }
        // SAFETY: r is live.
        unsafe {
            log::request(
                r,
                Level::Debug,
                &log::ours(&format!(
                    "Connect again after WSGI daemon process '{}' {why}.",
                    group.name()
                )),
            )
        };
    }
}

/// A new connection to a process of the group, or the status to answer.
fn open(group: &DaemonGroup, error: &dyn Fn(String)) -> Result<FrameStream, c_int> {
    let stream = match connect(&group.socket_path, group.options.connect_timeout) {
        Ok(stream) => stream,
        Err(ConnectError::Unavailable(why)) => {
            error(format!(
                "Unable to connect to WSGI daemon process '{}' on '{}' after multiple attempts \
                 as listener backlog limit was exceeded or the socket does not exist ({why})",
                group.name(),
                group.socket_path.display()
            ));
            return Err(status(ap::HTTP_SERVICE_UNAVAILABLE));
        }
        Err(ConnectError::Refused(why)) => {
            error(format!(
                "Unable to connect to WSGI daemon process '{}' on '{}' as user with uid={} ({why})",
                group.name(),
                group.socket_path.display(),
                // SAFETY: reading this process's uid.
                unsafe { libc::geteuid() }
            ));
            return Err(status(ap::HTTP_SERVICE_UNAVAILABLE));
        }
    };
    FrameStream::new(stream, Some(group.socket_timeout)).map_err(|e| {
        error(format!(
            "Cannot configure the socket to daemon process '{}': {e}",
            group.name()
        ));
        status(ap::HTTP_SERVICE_UNAVAILABLE)
    })
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

fn relay(
    stream: &mut FrameStream,
    backend: &mut RequestBackend,
    group: &DaemonGroup,
    error: &dyn Fn(String),
) -> Relay {
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
            Err(StreamError::Reset) if !received => return Relay::Unread,
            Err(failure) => {
                if sent_body {
                    error(format!(
                        "Response from WSGI daemon process '{}' broke off: {failure}",
                        group.name()
                    ));
                    return cut_off(backend);
                }
                if matches!(failure, StreamError::Timeout) {
                    error(format!(
                        "Timeout when reading response headers from daemon process '{}'",
                        group.name()
                    ));
                    return Relay::Done {
                        code: status(ap::HTTP_GATEWAY_TIME_OUT),
                        reusable: false,
                    };
                }
                error(format!(
                    "Truncated or oversized response headers received from daemon process '{}' ({failure})",
                    group.name()
                ));
                return Relay::Done {
                    code: status(ap::HTTP_INTERNAL_SERVER_ERROR),
                    reusable: false,
                };
            }
        };
        received = true;
        match frame {
            Frame::Read(wanted) => {
                let wanted = (wanted as usize).clamp(1, TRANSFER_CHUNK);
                body_buffer.resize(wanted, 0);
                let sent = match backend.read_body(&mut Filling::over(&mut body_buffer)) {
                    Ok(n) => stream.write_chunk(&body_buffer[..n], true),
                    Err(e) => stream.write_frame(&Frame::BodyError(e.0)),
                };
                if sent.is_err() {
                    // The daemon went away; its answer (or EOF) follows.
                    continue;
                }
            }
            Frame::ResponseHead(head) => {
                backend.set_head(&ResponseHead {
                    status_line: head.status_line,
                    status: head.status,
                    headers: head.headers,
                });
                started = true;
            }
            Frame::Data(data) => {
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
                // When the end of the response came with the data, both go
                // through Apache's output filters in one pass.
                if stream.frame_ready() {
                    match stream.read_frame() {
                        Ok(Frame::End) => {
                            let sent = backend.send_final_body(&data).is_ok();
                            return Relay::Done {
                                code: ok,
                                reusable: sent,
                            };
                        }
                        Ok(frame) => next = Some(frame),
                        // Reported when the next read fails the same way.
                        Err(_) => {}
                    }
                }
                if backend.send_body(&data).is_err() {
                    // The client left: closing the connection tells the daemon.
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
