//! Running a WSGI application for one request: PEP 3333 from the call to
//! the application to `close()`.

use std::cell::Cell;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use python_embed::raised::{clear, take_exception};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::backend::{Backend, RequestLog};
use super::environ::{RequestExtras, ServerFacts, build_environ};
use super::events::{RequestEvents, Stages};
use super::exchange::{Exchange, FinishError, OutputError};
use super::exchange_ref::{expire_exchange_object, new_exchange_object};
use super::file_wrapper::unwrap_file;
use super::log::{CurrentRequest, LogTarget, expire_text_log, log_target, ours, request_errors};
use super::names::Name;
use super::start_response::type_name;
use super::types::WsgiTypes;
use wsgi_core::environ::CgiEnviron;
use wsgi_core::level::Level;

/// What the caller should do once the application has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The response was sent (possibly cut short after an error, or
    /// abandoned because the client went away).
    Responded,
    /// The application failed before its response started: answer with an
    /// error page (500). The reason is in the error log.
    Failed,
    /// The script file changed and this process must restart before
    /// running it (daemon mode); nothing was run.
    RestartRequired,
    /// The application was interrupted with `mod_wsgi.RequestTimeout`
    /// before its response started: answer 504.
    TimedOut,
}

/// Describes the request for the adapter.
pub struct RunRequest<'a> {
    /// The script file, for log messages.
    pub script: &'a str,
    pub cgi: &'a CgiEnviron,
    pub facts: ServerFacts,
    /// The client's method was HEAD (the server will drop any body).
    pub head_request: bool,
    /// The script's modification time (microseconds since the epoch) if
    /// the server already looked at the file (embedded mode: httpd did).
    pub script_mtime: Option<u64>,
    /// WSGIPassApacheRequest in embedded mode: httpd's `request_rec`, put
    /// in the environ as `apache.request_rec` (a nameless PyCapsule, as
    /// mod_wsgi does); null otherwise.
    pub apache_request: *mut std::ffi::c_void,
}

static TOTAL_REQUESTS: AtomicU64 = AtomicU64::new(0);
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's number as `mod_wsgi.thread_id` reports it, and how many
    /// requests it has run.
    static THREAD_COUNTERS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

thread_local! {
    /// This thread's request count as `process_metrics()` reports it.
    static THREAD_METRIC: std::cell::OnceCell<std::sync::Arc<AtomicU64>> =
        const { std::cell::OnceCell::new() };
}

fn next_thread_request() -> (u64, u64) {
    let (id, count) = THREAD_COUNTERS.with(|c| {
        let (mut id, count) = c.get();
        if id == 0 {
            id = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
        }
        c.set((id, count + 1));
        (id, count)
    });
    THREAD_METRIC.with(|metric| {
        metric
            .get_or_init(|| super::metrics::register_thread(id))
            .fetch_add(1, Ordering::Relaxed);
    });
    (id, count)
}

/// Now, in microseconds since the epoch (mod_wsgi's timestamps).
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The per-request Python objects that point at the exchange.
struct RequestObjects<'py> {
    input: Bound<'py, PyAny>,
    /// `wsgi.errors` (an `io.TextIOWrapper`) and the log object under it.
    errors: Bound<'py, PyAny>,
    errors_log: Bound<'py, PyAny>,
    responder: Bound<'py, PyAny>,
}

impl<'py> RequestObjects<'py> {
    fn create(
        py: Python<'py>,
        types: &WsgiTypes,
        exchange: *mut Exchange,
        log: LogTarget,
    ) -> RaisedResult<Self> {
        let (errors, errors_log) = request_errors(
            py,
            &types.log(py),
            &types.text_io_wrapper(py),
            log,
            &types.names,
        )?;
        Ok(RequestObjects {
            input: new_exchange_object(py, &types.input(py), exchange)?,
            errors,
            errors_log,
            responder: new_exchange_object(py, &types.responder(py), exchange)?,
        })
    }

    /// Cuts every link to the exchange; the application may keep these
    /// objects but can no longer reach the finished request.
    fn expire(&self, py: Python<'py>) {
        // SAFETY: each object was made by the matching constructor and the
        // GIL is held.
        unsafe {
            expire_exchange_object(&self.input);
            expire_exchange_object(&self.responder);
            expire_text_log(py, &self.errors, &self.errors_log);
        }
    }
}

static MEMORY_ERRORS: AtomicU64 = AtomicU64::new(0);

/// How many requests of this process ended in a `MemoryError` the
/// application did not handle (a daemon process with a memory limit
/// restarts after one).
pub fn memory_errors() -> u64 {
    MEMORY_ERRORS.load(Ordering::Relaxed)
}

/// Counts the pending exception if it is a `MemoryError`.
pub fn note_if_memory_error(py: Python<'_>) {
    if python_embed::raised::exception_matches::<pyo3::exceptions::PyMemoryError>(py) {
        MEMORY_ERRORS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The line that introduces a traceback, in mod_wsgi 6's words: it names
/// the exception's type, and a `SystemExit` (which does not end the
/// process here) is "ignored". The exception stays pending.
pub fn exception_line(_py: Python<'_>, script: &str) -> String {
    // SAFETY: the GIL is held; a borrowed reference to the pending type.
    let kind = unsafe { ffi::PyErr_Occurred() };
    // The type's C-level name: asking Python for `__name__` now could
    // disturb the pending exception.
    let name = if kind.is_null() {
        "Unknown".to_string()
    } else {
        // SAFETY: a live type object while the exception is pending; its
        // tp_name is a NUL-terminated string it owns.
        unsafe {
            let tp_name = (*kind.cast::<ffi::PyTypeObject>()).tp_name;
            if tp_name.is_null() {
                "Unknown".to_string()
            } else {
                std::ffi::CStr::from_ptr(tp_name)
                    .to_string_lossy()
                    .into_owned()
            }
        }
    };
    if name == "SystemExit" {
        ours(&format!(
            "SystemExit exception raised by WSGI script '{script}'; ignored."
        ))
    } else {
        ours(&format!(
            "{name} exception raised processing WSGI script '{script}'."
        ))
    }
}

thread_local! {
    /// Exceptions the application raised on this thread since the last
    /// [`take_exceptions`]: requests run on one thread from start to end.
    static EXCEPTIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many uncaught exceptions the application raised on this thread
/// since the last call (the caller counts them for the request it ran).
pub fn take_exceptions() -> u64 {
    EXCEPTIONS.with(|count| count.replace(0))
}

/// Logs the current Python exception with its traceback, as mod_wsgi does.
/// Then the request's subscribers hear of it (`request_exception`).
fn log_exception(py: Python<'_>, exchange: &Exchange, script: &str) {
    EXCEPTIONS.with(|count| count.set(count.get() + 1));
    note_if_memory_error(py);
    exchange.log(Level::Error, &exception_line(py, script));
    if let Some(taken) = take_exception(py) {
        for line in taken.traceback_lines(py) {
            exchange.log(Level::Error, &line);
        }
        super::events::request_exception(py, &taken);
    }
}

/// Runs `app` for one request.
pub fn run_application(
    py: Python<'_>,
    types: &WsgiTypes,
    app: &Bound<'_, PyAny>,
    request: &RunRequest<'_>,
    backend: &mut dyn Backend,
    log: &dyn RequestLog,
) -> Completion {
    // SAFETY: the log outlives the exchange and every Python object
    // pointing at it, which are expired below before it returns.
    let log = unsafe { log_target(log) };
    // SAFETY: backend and log outlive the exchange, which is freed below
    // after every Python object pointing at it has been expired; erasing
    // their lifetimes is what lets Python objects hold the pointer.
    let exchange = Box::into_raw(Box::new(unsafe {
        let backend: *mut (dyn Backend + 'static) = std::mem::transmute(backend);
        Exchange::new(backend, log, request.head_request)
    }));
    let completion = match RequestObjects::create(py, types, exchange, log) {
        Ok(objects) => {
            // SAFETY: the guard is dropped at the end of this block, before
            // the log is.
            let current = unsafe { CurrentRequest::enter(log) };
            let completion = call_application(py, types, app, request, &objects, exchange);
            objects.expire(py);
            drop(current);
            completion
        }
        Err(Raised { .. }) => {
            // SAFETY: exchange is live until freed below.
            log_exception(py, unsafe { &*exchange }, request.script);
            Completion::Failed
        }
    };
    // SAFETY: exchange came from Box::into_raw and nothing refers to it now.
    drop(unsafe { Box::from_raw(exchange) });
    completion
}

fn call_application(
    py: Python<'_>,
    types: &WsgiTypes,
    app: &Bound<'_, PyAny>,
    request: &RunRequest<'_>,
    objects: &RequestObjects<'_>,
    exchange: *mut Exchange,
) -> Completion {
    let request_id = request
        .cgi
        .get("mod_wsgi.request_id")
        .map(String::from_utf8_lossy);
    let mut events = match RequestEvents::begin(py, &types.events, request_id.as_deref()) {
        Ok(events) => events,
        Err(Raised { .. }) => {
            // SAFETY: the exchange lives until run_application frees it.
            log_exception(py, unsafe { &*exchange }, request.script);
            return Completion::Failed;
        }
    };
    let thread = next_thread_request();
    let stages = stages(request.cgi);
    super::metrics::request_began();
    let completion = run_with_events(
        py,
        types,
        app,
        request,
        objects,
        exchange,
        Turn {
            events: &mut events,
            thread_id: thread.0,
            thread_requests: thread.1,
            stages,
        },
    );
    super::metrics::request_ended(
        thread.0,
        &super::metrics::Timeline {
            request_start: stages.request_start,
            queue_start: stages.queue_start,
            daemon_start: stages.daemon_start,
            application_start: events.application_start(),
            application_finish: now_micros(),
        },
    );
    // SAFETY: as above; no Python code runs between here and the end.
    let io = unsafe { &*exchange }.io_counts();
    events.finish(py, io);
    completion
}

/// When the request reached Apache, left the child and reached the daemon
/// (`mod_wsgi.*_start` in the environ, microseconds).
fn stages(cgi: &CgiEnviron) -> Stages {
    let micros = |key: &str| cgi.number(key).unwrap_or(0);
    Stages {
        request_start: micros("mod_wsgi.request_start"),
        queue_start: micros("mod_wsgi.queue_start"),
        daemon_start: micros("mod_wsgi.daemon_start"),
    }
}

/// This request's place in the thread and the events API.
struct Turn<'e, 'py> {
    events: &'e mut RequestEvents<'py>,
    thread_id: u64,
    thread_requests: u64,
    stages: Stages,
}

fn run_with_events<'py>(
    py: Python<'py>,
    types: &WsgiTypes,
    app: &Bound<'py, PyAny>,
    request: &RunRequest<'_>,
    objects: &RequestObjects<'py>,
    exchange: *mut Exchange,
    turn: Turn<'_, 'py>,
) -> Completion {
    let Turn {
        events,
        thread_id,
        thread_requests,
        stages,
    } = turn;
    let file_wrapper = types.file_wrapper(py).into_any();
    let extras = RequestExtras {
        input: &objects.input,
        errors: &objects.errors,
        file_wrapper: &file_wrapper,
        total_requests: TOTAL_REQUESTS.fetch_add(1, Ordering::Relaxed),
        thread_id,
        thread_requests,
        script_start_micros: now_micros(),
    };
    let names = &types.names;
    let started =
        build_environ(py, request.cgi, &request.facts, &extras, names).and_then(|environ| {
            if !request.apache_request.is_null() {
                // SAFETY: a capsule only carries the pointer; it has no
                // destructor and httpd keeps the request alive for the run.
                let capsule = unsafe {
                    Bound::from_owned_ptr_or_err(
                        py,
                        ffi::PyCapsule_New(request.apache_request, std::ptr::null(), None),
                    )
                }
                .raised(py)?;
                environ.set_item("apache.request_rec", capsule).raised(py)?;
            }
            let start_response = objects
                .responder
                .getattr(names.get(py, Name::StartResponse))
                .raised(py)?;
            let app = events.started(py, app, &environ, thread_id, stages)?;
            app.call1((environ, start_response)).raised(py)
        });
    // SAFETY: the exchange lives until run_application frees it; Python
    // code only reaches it through the objects, under the GIL we hold.
    let ex = || unsafe { &mut *exchange };
    let result = match started {
        Ok(result) => result,
        Err(Raised { .. }) => return failure(py, types, ex(), request.script),
    };
    let failed = match respond(py, types, &result, ex()) {
        Ok(()) => None,
        Err(Raised { .. }) => Some(failure(py, types, ex(), request.script)),
    };
    close_iterable(py, &result, ex(), request.script);
    if let Some(completion) = failed {
        return completion;
    }
    match ex().finish() {
        Ok(()) => Completion::Responded,
        Err(FinishError::NotStarted) => {
            let _ = Raised::new::<PyRuntimeError>(py, "response has not been started");
            failure(py, types, ex(), request.script)
        }
        Err(FinishError::ShortBeforeHead { declared, produced }) => {
            ex().log(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Response from WSGI script '{}' had {produced} bytes \
                     but declared a Content-Length of {declared}.",
                    std::process::id(),
                    request.script
                ),
            );
            Completion::Failed
        }
        Err(FinishError::ShortAfterHead { declared, sent }) => {
            ex().log(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Response from WSGI script '{}' ended after {sent} of its \
                     declared {declared} bytes; the connection was closed.",
                    std::process::id(),
                    request.script
                ),
            );
            Completion::Responded
        }
    }
}

/// Logs the exception that ended the application; a response already
/// under way is cut so the client sees it broken rather than complete.
fn failure(py: Python<'_>, types: &WsgiTypes, exchange: &mut Exchange, script: &str) -> Completion {
    let timed_out = python_embed::stacks::exception_is(py, types.request_timeout(py).as_any());
    if timed_out {
        // Its stack was logged when it was interrupted: this is the end of
        // that story, not a new error (mod_wsgi 6's wording).
        python_embed::raised::clear(py);
        exchange.log(
            Level::Info,
            &ours("Request interrupted by RequestTimeout; thread recovered."),
        );
    } else {
        log_exception(py, exchange, script);
    }
    if exchange.head_sent() {
        exchange.cut();
        Completion::Responded
    } else if timed_out {
        Completion::TimedOut
    } else {
        Completion::Failed
    }
}

/// Sends the application's response iterable.
fn respond(
    py: Python<'_>,
    types: &WsgiTypes,
    result: &Bound<'_, PyAny>,
    exchange: &mut Exchange,
) -> RaisedResult<()> {
    if let Some((filelike, _)) = unwrap_file(result, &types.file_wrapper(py))
        && exchange.nothing_written()
        && send_file(py, &filelike, exchange)?
    {
        return Ok(());
    }
    // Iterating a list or tuple runs no application code, and neither has
    // close(): the last block may wait for the end of the response.
    let may_hold =
        result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>();
    let iterator = result.try_iter().raised(py)?;
    for item in iterator {
        let item = item.raised(py)?;
        let Ok(bytes) = item.cast::<PyBytes>() else {
            return Err(Raised::new::<PyTypeError>(
                py,
                format!(
                    "sequence of byte string values expected, value of type {} found",
                    type_name(&item)
                ),
            ));
        };
        match exchange.write(py, bytes.as_bytes(), may_hold) {
            Ok(()) => {}
            Err(OutputError::NotStarted) => {
                return Err(Raised::new::<PyRuntimeError>(
                    py,
                    "response has not been started",
                ));
            }
            Err(OutputError::ClientGone(why)) => {
                exchange.log(
                    Level::Debug,
                    &format!(
                        "mod_wsgi (pid={}): Client closed connection: {why}",
                        std::process::id()
                    ),
                );
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The descriptor of a regular file behind a file-like object, and the
/// object's current position, if it has both.
fn regular_file(py: Python<'_>, filelike: &Bound<'_, PyAny>) -> Option<(RawFd, u64, u64)> {
    // SAFETY: the GIL is held; a failure sets an exception we clear.
    let fd = unsafe { ffi::PyObject_AsFileDescriptor(filelike.as_ptr()) };
    if fd < 0 {
        clear(py);
        return None;
    }
    // SAFETY: the application's file object holds the descriptor open while
    // it is being sent (the object stays referenced by the file wrapper).
    let file = unsafe { BorrowedFd::borrow_raw(fd) };
    let stat = nix::sys::stat::fstat(file).ok()?;
    if (stat.st_mode & libc::S_IFMT) != libc::S_IFREG {
        return None;
    }
    let position = match filelike.call_method0("tell") {
        Ok(pos) => match pos.extract::<u64>() {
            Ok(pos) => pos,
            Err(err) => {
                err.restore(py);
                clear(py);
                return None;
            }
        },
        Err(err) => {
            err.restore(py);
            clear(py);
            return None;
        }
    };
    Some((fd, position, stat.st_size as u64))
}

/// Sends a `wsgi.file_wrapper` file straight from its descriptor. Returns
/// false when the object is not a regular file, to iterate it instead.
fn send_file(
    py: Python<'_>,
    filelike: &Bound<'_, PyAny>,
    exchange: &mut Exchange,
) -> RaisedResult<bool> {
    let Some((fd, position, size)) = regular_file(py, filelike) else {
        return Ok(false);
    };
    // Sending moves the descriptor's offset; put it back so the file
    // object's own idea of its position stays right.
    use nix::unistd::{Whence, lseek};
    // SAFETY: as in regular_file: the file object keeps it open.
    let file = unsafe { BorrowedFd::borrow_raw(fd) };
    let saved = lseek(file, 0, Whence::SeekCur);
    let sent = exchange.send_file(py, fd, position, size.saturating_sub(position));
    if let Ok(saved) = saved {
        let _ = lseek(file, saved, Whence::SeekSet);
    }
    match sent {
        Ok(()) => Ok(true),
        Err(OutputError::NotStarted) => Err(Raised::new::<PyRuntimeError>(
            py,
            "response has not been started",
        )),
        Err(OutputError::ClientGone(_)) => Ok(true),
    }
}

/// Calls the iterable's `close()`, if it has one; PEP 3333 requires it
/// whether the response completed or not.
fn close_iterable(py: Python<'_>, result: &Bound<'_, PyAny>, exchange: &Exchange, script: &str) {
    let closed = match result.getattr_opt("close") {
        Ok(Some(close)) => close.call0().map(drop),
        Ok(None) => Ok(()),
        Err(err) => Err(err),
    };
    if let Err(err) = closed {
        err.restore(py);
        log_exception(py, exchange, script);
    }
}
