//! The Apache child's side of daemon mode: hands the request to a process
//! of the group over its socket and relays the response, pulling the
//! request body from the client only as the application asks for it.

use std::os::raw::c_int;

use apache_sys as ap;

use super::groups::DaemonGroup;
use super::protocol::{Frame, MAX_CHUNK, RequestHead};
use super::socket::{ConnectError, FrameStream, StreamError, connect};
use crate::apache::log;
use crate::embedded::backend::RequestBackend;
use crate::wsgi::backend::{Backend, Level, ResponseHead};
use crate::wsgi::environ::CgiEnviron;

/// How many times a request is offered again after a daemon process
/// rejected it (it was shutting down).
const MAX_REJECTIONS: u32 = 20;

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
        vars: cgi.vars,
    };
    // SAFETY: r is live for the whole exchange.
    let mut backend = unsafe { RequestBackend::new(r) };
    let mut rejections = 0;
    loop {
        let stream = match connect(&group.socket_path, group.options.connect_timeout) {
            Ok(stream) => stream,
            Err(ConnectError::Unavailable(why)) => {
                error(format!(
                    "Unable to connect to WSGI daemon process '{}' on '{}' after multiple attempts \
                     as listener backlog limit was exceeded or the socket does not exist ({why})",
                    group.name(),
                    group.socket_path.display()
                ));
                return status(ap::HTTP_SERVICE_UNAVAILABLE);
            }
            Err(ConnectError::Refused(why)) => {
                error(format!(
                    "Unable to connect to WSGI daemon process '{}' on '{}' as user with uid={} ({why})",
                    group.name(),
                    group.socket_path.display(),
                    // SAFETY: reading this process's uid.
                    unsafe { libc::geteuid() }
                ));
                return status(ap::HTTP_SERVICE_UNAVAILABLE);
            }
        };
        let mut stream = match FrameStream::new(stream, Some(group.socket_timeout)) {
            Ok(stream) => stream,
            Err(e) => {
                error(format!(
                    "Cannot configure the socket to daemon process '{}': {e}",
                    group.name()
                ));
                return status(ap::HTTP_SERVICE_UNAVAILABLE);
            }
        };
        if let Err(e) = stream.write_frame(&Frame::Head(head.clone())) {
            error(format!(
                "Unable to send request to WSGI daemon process '{}': {e}",
                group.name()
            ));
            return status(ap::HTTP_SERVICE_UNAVAILABLE);
        }
        match relay(&mut stream, &mut backend, group, &error) {
            Relay::Done(code) => return code,
            Relay::Rejected => {
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
                        Level::Info,
                        &log::ours(&format!(
                            "Connect after WSGI daemon process '{}' rejected the request (restarting).",
                            group.name()
                        )),
                    )
                };
            }
        }
    }
}

enum Relay {
    Done(c_int),
    /// The daemon process would not take the request; connect again.
    Rejected,
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
    loop {
        let frame = match stream.read_frame() {
            Ok(frame) => frame,
            Err(failure) => {
                if sent_body {
                    error(format!(
                        "Response from WSGI daemon process '{}' broke off: {failure}",
                        group.name()
                    ));
                    backend.cut_response();
                    return Relay::Done(ok);
                }
                if matches!(failure, StreamError::Timeout) {
                    error(format!(
                        "Timeout when reading response headers from daemon process '{}'",
                        group.name()
                    ));
                    return Relay::Done(status(ap::HTTP_GATEWAY_TIME_OUT));
                }
                error(format!(
                    "Truncated or oversized response headers received from daemon process '{}' ({failure})",
                    group.name()
                ));
                return Relay::Done(status(ap::HTTP_INTERNAL_SERVER_ERROR));
            }
        };
        match frame {
            Frame::Read(wanted) => {
                let wanted = (wanted as usize).clamp(1, MAX_CHUNK);
                body_buffer.resize(wanted, 0);
                let sent = match backend.read_body(&mut body_buffer) {
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
                    return Relay::Done(status(ap::HTTP_INTERNAL_SERVER_ERROR));
                }
                if backend.send_body(&data).is_err() {
                    // The client left: closing the connection tells the daemon.
                    return Relay::Done(ok);
                }
                sent_body = true;
            }
            Frame::End => {
                if !started {
                    error(format!(
                        "Daemon process '{}' ended without a response head",
                        group.name()
                    ));
                    return Relay::Done(status(ap::HTTP_INTERNAL_SERVER_ERROR));
                }
                return Relay::Done(ok);
            }
            Frame::Cut => {
                backend.cut_response();
                return Relay::Done(ok);
            }
            Frame::Fail {
                status: code,
                message,
            } => {
                if !message.is_empty() {
                    error(message);
                }
                if sent_body {
                    backend.cut_response();
                    return Relay::Done(ok);
                }
                return Relay::Done(c_int::from(code));
            }
            Frame::Reject if !started => return Relay::Rejected,
            other => {
                error(format!(
                    "Unexpected message from daemon process '{}': {other:?}",
                    group.name()
                ));
                if sent_body {
                    backend.cut_response();
                    return Relay::Done(ok);
                }
                return Relay::Done(status(ap::HTTP_INTERNAL_SERVER_ERROR));
            }
        }
    }
}
