//! Apache's request as the adapter's backend: the body through the input
//! filters, the response through the output filters, in bucket brigades.

use std::os::fd::RawFd;

use apache_sys as ap;

use crate::apache::log;
use crate::apache::request::Request;
use crate::wsgi::backend::{Backend, ClientGone, Filling, ReadError, RequestLog};
use wsgi_core::level::Level;
use wsgi_core::protocol::ResponseHead;

/// Largest last body block held back, copied, until the application is
/// done with the request (see [`RequestBackend::finish`]).
const HELD_LAST_BODY: usize = 64 << 10;

pub struct RequestBackend {
    r: *mut ap::request_rec,
    output: *mut ap::apr_bucket_brigade,
    input: *mut ap::apr_bucket_brigade,
    input_ended: bool,
    /// The output brigade holds the end of the response, not yet passed.
    holding: bool,
    /// The response was ended (normally or cut); nothing more may follow.
    ended: bool,
    /// WSGIEnableSendfile: files may go out with sendfile().
    sendfile: bool,
    /// A daemon's response: repeated header names are folded into one
    /// comma-separated header (Set-Cookie aside), as mod_wsgi's daemon mode
    /// does by reading them like a CGI script's.
    fold_repeated_headers: bool,
}

impl RequestBackend {
    /// # Safety
    /// `r` must stay live for as long as the backend is used.
    pub unsafe fn new(r: *mut ap::request_rec) -> RequestBackend {
        RequestBackend {
            r,
            output: std::ptr::null_mut(),
            input: std::ptr::null_mut(),
            input_ended: false,
            holding: false,
            ended: false,
            sendfile: false,
            fold_repeated_headers: false,
        }
    }

    /// For a daemon's response: see `fold_repeated_headers`.
    pub fn fold_repeated_headers(&mut self) {
        self.fold_repeated_headers = true;
    }

    /// WSGIEnableSendfile On: lets httpd's core output filter send
    /// `wsgi.file_wrapper` files with sendfile().
    pub fn enable_sendfile(&mut self, enabled: bool) {
        self.sendfile = enabled;
    }

    fn brigade(&self, slot: *mut ap::apr_bucket_brigade) -> *mut ap::apr_bucket_brigade {
        if !slot.is_null() {
            return slot;
        }
        // SAFETY: r, its pool and connection are live.
        unsafe { ap::apr_brigade_create((*self.r).pool, (*(*self.r).connection).bucket_alloc) }
    }

    fn output_brigade(&mut self) -> *mut ap::apr_bucket_brigade {
        self.output = self.brigade(self.output);
        self.output
    }

    fn describe(status: ap::apr_status_t) -> String {
        let mut buf = [0 as std::os::raw::c_char; 256];
        // SAFETY: apr_strerror writes a NUL-terminated message into buf.
        unsafe {
            ap::apr_strerror(status, buf.as_mut_ptr(), buf.len());
            crate::apache::c_str(buf.as_ptr()).into_owned()
        }
    }

    /// Passes the output brigade down the request's filter chain and
    /// empties it.
    fn pass_output(&mut self) -> Result<(), ClientGone> {
        // SAFETY: r is live.
        self.pass_to(unsafe { (*self.r).output_filters })
    }

    /// Passes the output brigade to `filters` (the request's or the
    /// connection's chain) and empties it.
    fn pass_to(&mut self, filters: *mut ap::ap_filter_t) -> Result<(), ClientGone> {
        let bb = self.output_brigade();
        // SAFETY: r, bb and the filter chain are live; the brigade is
        // cleaned up after.
        let status = unsafe {
            let status = ap::ap_pass_brigade(filters, bb);
            ap::apr_brigade_cleanup(bb.cast());
            status
        };
        // SAFETY: the connection is live.
        let aborted = unsafe { ap::wsgi_shim_connection_aborted((*self.r).connection) } != 0;
        if status != 0 {
            Err(ClientGone(format!(
                "failed to write response data: {}",
                Self::describe(status)
            )))
        } else if aborted {
            Err(ClientGone("client closed connection".into()))
        } else {
            Ok(())
        }
    }

    /// Ends the response once the application is done, without the GIL:
    /// sends what [`Backend::hold_last_body`] held back, or just the end of
    /// the response if `responded` (the exchange finished it normally or
    /// after the client left) and it was not cut.
    pub fn finish(&mut self, responded: bool) {
        if self.holding || (responded && !self.ended) {
            self.holding = false;
            let _ = self.send_final_body(&[]);
        }
    }

    /// Sends the last body bytes together with the end of the response, in
    /// one pass through the output filters. Nothing may be sent after it.
    pub fn send_final_body(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        self.ended = true;
        // SAFETY: r is live; a plain field httpd's header filter sets once
        // it chose chunked encoding (after an earlier pass of body data).
        let chunked = unsafe { (*self.r).chunked } != 0;
        let bb = self.output_brigade();
        // The response must be on the wire before the request is finalised:
        // left to the end-of-request bucket, small responses waited for the
        // MPM's write completion, after httpd had already looked for a
        // pipelined next request, which sent every keep-alive connection
        // back through the event MPM's listener. A flush ahead of the end
        // writes the data from where it is; a chunked response's last chunk
        // comes from the end itself, so there the data waits for it and
        // both go out in one write (`flush_connection`).
        // SAFETY: as in send_body; the end-of-stream bucket ends the response.
        unsafe {
            ap::wsgi_shim_brigade_append_transient(
                bb,
                data.as_ptr().cast(),
                data.len(),
                i32::from(!chunked),
            );
            ap::wsgi_shim_brigade_append_eos(bb);
        }
        self.pass_output()?;
        self.flush_connection()
    }

    /// Writes what the end of the response left in the core output filter
    /// (the last chunk of a chunked response, the head of an empty one),
    /// for the reason given in [`RequestBackend::send_final_body`].
    fn flush_connection(&mut self) -> Result<(), ClientGone> {
        // SAFETY: r and its connection are live.
        let connection = unsafe { (*self.r).connection };
        // SAFETY: as above; a plain field the core output filter maintains.
        if unsafe { (*connection).data_in_output_filters } == 0 {
            return Ok(());
        }
        let bb = self.output_brigade();
        // SAFETY: the brigade (request pool) is empty after the last pass;
        // httpd itself flushes the connection filters at this point when no
        // pipelined request follows.
        unsafe { ap::wsgi_shim_brigade_append_flush(bb) };
        // SAFETY: the connection is live.
        self.pass_to(unsafe { (*connection).output_filters })
    }
}

impl Backend for RequestBackend {
    fn can_hold_last_body(&self, len: usize) -> bool {
        len <= HELD_LAST_BODY
    }

    /// A small last block is copied and held: sent by `finish` after the
    /// application returned, it needs no second round of releasing and
    /// taking the GIL, which under load means waking other threads.
    fn hold_last_body(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        let bb = self.output_brigade();
        // SAFETY: bb is live; without a flush function apr_brigade_write
        // only copies `data` into heap buckets of the brigade.
        let status = unsafe {
            ap::apr_brigade_write(
                bb,
                None,
                std::ptr::null_mut(),
                data.as_ptr().cast(),
                data.len(),
            )
        };
        if status != 0 {
            return Err(ClientGone(format!(
                "failed to buffer response data: {}",
                Self::describe(status)
            )));
        }
        self.holding = true;
        Ok(())
    }

    fn read_body(&mut self, buf: &mut Filling<'_>) -> Result<usize, ReadError> {
        if self.input_ended || buf.remaining() == 0 {
            return Ok(0);
        }
        self.input = self.brigade(self.input);
        let bb = self.input;
        loop {
            // SAFETY: r and bb are live; a blocking read of at most buf.len().
            let status = unsafe {
                ap::ap_get_brigade(
                    (*self.r).input_filters,
                    bb,
                    ap::ap_input_mode_t_AP_MODE_READBYTES,
                    ap::apr_read_type_e_APR_BLOCK_READ,
                    buf.remaining() as ap::apr_off_t,
                )
            };
            if status != 0 {
                // SAFETY: bb and the connection are live.
                unsafe {
                    ap::apr_brigade_cleanup(bb.cast());
                    ap::wsgi_shim_connection_set_close((*self.r).connection);
                }
                // httpd's HTTP input filter reports timeouts and bad chunks
                // as EAGAIN; say what it means.
                let why = if status == ap::APR_EAGAIN as i32 {
                    "connection was terminated".to_string()
                } else {
                    Self::describe(status)
                };
                return Err(ReadError(why));
            }
            // SAFETY: bb is live.
            if unsafe { ap::wsgi_shim_brigade_has_eos(bb) } != 0 {
                self.input_ended = true;
            }
            let mut len = buf.remaining() as ap::apr_size_t;
            // SAFETY: flatten copies at most len bytes into the room left in
            // buf and sets len to what it copied, which buf then counts.
            let status = unsafe {
                let status = ap::apr_brigade_flatten(bb, buf.spare_ptr().cast(), &mut len);
                ap::apr_brigade_cleanup(bb.cast());
                if status == 0 {
                    buf.advance(len as usize);
                }
                status
            };
            if status != 0 {
                return Err(ReadError(Self::describe(status)));
            }
            if len > 0 || self.input_ended {
                return Ok(len as usize);
            }
        }
    }

    fn set_head(&mut self, head: &ResponseHead) {
        // SAFETY: the backend lives inside the handler, while httpd gives
        // the request to this thread.
        let request = unsafe { Request::new(self.r) };
        request.set_status(head.status, &head.status_line);
        for (name, value) in &head.headers {
            if name.eq_ignore_ascii_case(b"content-type") {
                request.set_content_type(value);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                let length = std::str::from_utf8(value.trim_ascii())
                    .ok()
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0);
                request.set_content_length(length);
            } else {
                // WWW-Authenticate is kept on error pages too, as mod_wsgi
                // does.
                let on_errors = name.eq_ignore_ascii_case(b"www-authenticate");
                if self.fold_repeated_headers
                    && !on_errors
                    && !name.eq_ignore_ascii_case(b"set-cookie")
                {
                    request.merge_header_out(name, value);
                } else {
                    request.add_header_out(name, value, on_errors);
                }
            }
        }
        // Reading the body after the response started must not inject
        // a "100 Continue" into the response.
        request.forget_expect_continue();
    }

    fn send_body(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        let bb = self.output_brigade();
        // SAFETY: the transient bucket points at `data`, which outlives the
        // pass below; filters that keep data copy transient buckets.
        unsafe { ap::wsgi_shim_brigade_append_transient(bb, data.as_ptr().cast(), data.len(), 1) };
        self.pass_output()
    }

    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), ClientGone> {
        let bb = self.output_brigade();
        // SAFETY: wraps the application's descriptor without taking
        // ownership (no cleanup is registered); the flush below makes the
        // core filter write it out before we return.
        unsafe {
            let mut file: *mut ap::apr_file_t = std::ptr::null_mut();
            let mut os_fd = fd;
            let flags = if self.sendfile {
                ap::APR_SENDFILE_ENABLED as i32
            } else {
                0
            };
            ap::apr_os_file_put(&mut file, &mut os_fd, flags, (*self.r).pool);
            ap::apr_brigade_insert_file(
                bb,
                file,
                offset as ap::apr_off_t,
                len as ap::apr_off_t,
                (*self.r).pool,
            );
            ap::wsgi_shim_brigade_append_flush(bb);
        }
        self.pass_output()
    }

    fn cut_response(&mut self) {
        let bb = self.output_brigade();
        // SAFETY: an error bucket with 502 tells httpd's HTTP filters the
        // response broke: no last chunk, and the connection is closed.
        unsafe {
            ap::wsgi_shim_brigade_append_broken(bb, ap::HTTP_BAD_GATEWAY as i32, (*self.r).pool);
            ap::wsgi_shim_connection_set_close((*self.r).connection);
        }
        // Anything held goes out ahead of the error bucket, and the
        // response must not be ended normally afterwards.
        self.holding = false;
        self.ended = true;
        let _ = self.pass_output();
    }
}

/// Logging in the context of the request.
pub struct RequestLogger {
    r: *mut ap::request_rec,
}

impl RequestLogger {
    /// # Safety
    /// `r` must stay live for as long as the logger is used.
    pub unsafe fn new(r: *mut ap::request_rec) -> RequestLogger {
        RequestLogger { r }
    }
}

impl RequestLog for RequestLogger {
    fn log(&self, level: Level, message: &str) {
        // SAFETY: the request outlives the logger (constructor contract).
        unsafe { log::request(self.r, level, message) };
    }
}
