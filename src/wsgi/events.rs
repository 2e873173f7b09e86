//! mod_wsgi's events API: `subscribe_events`, `subscribe_shutdown`,
//! `event_callbacks`, `shutdown_callbacks`, `request_data()` and
//! `active_requests` in each interpreter's `mod_wsgi` module, and the
//! events published to them (`request_started`, `response_started`,
//! `request_exception`, `request_finished`, `process_stopping`), with
//! mod_wsgi 4.9.4's names, arguments and keys.
//!
//! Subscriptions belong to an interpreter: a request's events reach the
//! callbacks of the application group that runs it. The request events are
//! only built when that group has event callbacks, so a process without
//! subscribers pays for one length check per event.

use std::cell::Cell;

use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyModule, PyString, PyTuple};
use python_embed::objects::{StaticTable, callback, method_noargs, method_varargs};
use python_embed::raised::{TakenException, take_traceback_lines};
use python_embed::{PyResultExt, Raised, RaisedResult};
use wsgi_core::level::Level;

use super::exchange::IoCounts;
use super::log::log_to_server;
use super::run::now_micros;

/// Why this process is stopping, as `process_stopping`'s `shutdown_reason`
/// says it (mod_wsgi's words: `request_timeout`, `inactivity_timeout`, …;
/// empty when Apache stops it).
static SHUTDOWN_REASON: Mutex<&'static str> = Mutex::new("");

pub fn set_shutdown_reason(reason: &'static str) {
    let mut current = SHUTDOWN_REASON.lock();
    if current.is_empty() {
        *current = reason;
    }
}

/// The interpreter's subscriber lists and table of running requests,
/// created with its other per-interpreter objects.
pub struct EventLists {
    event_callbacks: *mut ffi::PyObject,
    shutdown_callbacks: *mut ffi::PyObject,
    active_requests: *mut ffi::PyObject,
}

// SAFETY: the pointers are only used by threads attached to the
// interpreter that owns them, under its GIL.
unsafe impl Send for EventLists {}
// SAFETY: as above; the struct itself is immutable.
unsafe impl Sync for EventLists {}

impl EventLists {
    pub fn create(py: Python<'_>) -> EventLists {
        EventLists {
            event_callbacks: PyList::empty(py).into_ptr(),
            shutdown_callbacks: PyList::empty(py).into_ptr(),
            active_requests: PyDict::new(py).into_ptr(),
        }
    }

    fn event_callbacks<'py>(&self, py: Python<'py>) -> Bound<'py, PyList> {
        // SAFETY: a list we hold a strong reference to, in this interpreter.
        unsafe { Bound::from_borrowed_ptr(py, self.event_callbacks).cast_into_unchecked() }
    }

    fn shutdown_callbacks<'py>(&self, py: Python<'py>) -> Bound<'py, PyList> {
        // SAFETY: as above.
        unsafe { Bound::from_borrowed_ptr(py, self.shutdown_callbacks).cast_into_unchecked() }
    }

    fn active_requests<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        // SAFETY: a dict we hold a strong reference to, in this interpreter.
        unsafe { Bound::from_borrowed_ptr(py, self.active_requests).cast_into_unchecked() }
    }

    /// Puts the API into the interpreter's `mod_wsgi` module.
    pub fn install(&self, py: Python<'_>, module: &Bound<'_, PyModule>) -> RaisedResult<()> {
        let events = self.event_callbacks(py);
        let shutdown = self.shutdown_callbacks(py);
        module.setattr("event_callbacks", &events).raised(py)?;
        module.setattr("shutdown_callbacks", &shutdown).raised(py)?;
        module
            .setattr("active_requests", self.active_requests(py))
            .raised(py)?;
        let functions = FUNCTIONS.as_ptr();
        let names = ["subscribe_events", "subscribe_shutdown", "request_data"];
        for (index, owner) in [
            (0, Some(events.as_any())),
            (1, Some(shutdown.as_any())),
            (2, None),
        ] {
            // SAFETY: the definitions are static; `owner` (the list the
            // function appends to) is kept alive by the function object.
            let function = unsafe {
                Bound::from_owned_ptr_or_err(
                    py,
                    ffi::PyCFunction_NewEx(
                        functions.cast::<ffi::PyMethodDef>().add(index),
                        owner.map_or(std::ptr::null_mut(), |o| o.as_ptr()),
                        std::ptr::null_mut(),
                    ),
                )
            }
            .raised(py)?;
            module.setattr(names[index], function).raised(py)?;
        }
        Ok(())
    }
}

static FUNCTIONS: StaticTable<[ffi::PyMethodDef; 4]> = StaticTable([
    method_varargs(
        c"subscribe_events",
        subscribe,
        c"subscribe_events(callback): callback(event, **details) for each request event",
    ),
    method_varargs(
        c"subscribe_shutdown",
        subscribe,
        c"subscribe_shutdown(callback): callback('process_stopping', **details) when the process stops",
    ),
    method_noargs(
        c"request_data",
        request_data,
        c"request_data() -> the current request's dict, shared with its events",
    ),
    ffi::PyMethodDef::zeroed(),
]);

/// `subscribe_events(callback)` / `subscribe_shutdown(callback)`: `list`
/// is the function's own list.
unsafe extern "C" fn subscribe(
    list: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a CPython callback; `list` is the list bound at creation and
    // `args` the positional tuple.
    unsafe {
        callback(|py| {
            let args = Bound::from_borrowed_ptr(py, args).cast_into_unchecked::<PyTuple>();
            if args.len() != 1 {
                return Err(Raised::new::<pyo3::exceptions::PyTypeError>(
                    py,
                    format!("function takes exactly 1 argument ({} given)", args.len()),
                ));
            }
            let list = Bound::from_borrowed_ptr(py, list).cast_into_unchecked::<PyList>();
            list.append(args.get_item(0).raised(py)?).raised(py)?;
            Ok(py.None().into_bound(py))
        })
    }
}

unsafe extern "C" fn request_data(
    _module: *mut ffi::PyObject,
    _: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a CPython callback.
    unsafe {
        callback(|py| {
            let current = CURRENT.with(Cell::get);
            if current.data.is_null() {
                return Err(Raised::new::<PyRuntimeError>(
                    py,
                    "no active request for thread",
                ));
            }
            // SAFETY: set by the running request of this thread, which
            // holds a reference until it clears it.
            Ok(Bound::from_borrowed_ptr(py, current.data))
        })
    }
}

#[derive(Clone, Copy)]
struct Current {
    /// The running request's `request_data` dict and id (borrowed; the id
    /// may be null).
    data: *mut ffi::PyObject,
    request_id: *mut ffi::PyObject,
    /// Its interpreter's lists, when it has event callbacks.
    lists: *const EventLists,
}

thread_local! {
    static CURRENT: Cell<Current> = const {
        Cell::new(Current {
            data: std::ptr::null_mut(),
            request_id: std::ptr::null_mut(),
            lists: std::ptr::null(),
        })
    };
}

/// Calls every callback of `callbacks` as `callback(name, **event)`,
/// merging a returned dict into `event` for the callbacks after it. A
/// callback that raises is logged with its traceback and skipped.
fn publish(py: Python<'_>, callbacks: &Bound<'_, PyList>, name: &str, event: &Bound<'_, PyDict>) {
    let mut index = 0;
    // By index, as mod_wsgi: a callback may subscribe another.
    while index < callbacks.len() {
        let Ok(callback) = callbacks.get_item(index).raised(py) else {
            python_embed::raised::clear(py);
            break;
        };
        index += 1;
        match callback.call((name,), Some(event)).raised(py) {
            Ok(result) => {
                if let Ok(update) = result.cast::<PyDict>()
                    && event.update(update.as_mapping()).raised(py).is_err()
                {
                    python_embed::raised::clear(py);
                }
            }
            Err(Raised { .. }) => {
                log_to_server(
                    Level::Error,
                    &format!(
                        "mod_wsgi (pid={}): Exception occurred within event callback.",
                        std::process::id()
                    ),
                );
                for line in take_traceback_lines(py) {
                    log_to_server(Level::Error, &line);
                }
            }
        }
    }
}

fn seconds(micros: u64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// When the request reached each stage, in microseconds since the epoch
/// (0: not in this mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    pub request_start: u64,
    pub queue_start: u64,
    pub daemon_start: u64,
}

/// One request's part in the API, from before the application is called
/// until after its response ended.
pub struct RequestEvents<'py> {
    lists: &'py EventLists,
    data: Bound<'py, PyDict>,
    request_id: Option<Bound<'py, PyString>>,
    /// Whether the group had event callbacks when the request started: the
    /// request's events are published only then (mod_wsgi's rule).
    subscribed: bool,
    application_start: u64,
    cpu_start: Option<(f64, f64)>,
}

impl<'py> RequestEvents<'py> {
    /// Makes the request's `request_data` dict, lists it in
    /// `active_requests` under the request id and makes it this thread's.
    pub fn begin(
        py: Python<'py>,
        lists: &'py EventLists,
        request_id: Option<&str>,
    ) -> RaisedResult<Self> {
        let data = PyDict::new(py);
        let request_id = request_id.map(|id| PyString::new(py, id));
        if let Some(id) = &request_id {
            lists.active_requests(py).set_item(id, &data).raised(py)?;
        }
        let subscribed = !lists.event_callbacks(py).is_empty();
        CURRENT.with(|c| {
            c.set(Current {
                data: data.as_ptr(),
                request_id: request_id
                    .as_ref()
                    .map_or(std::ptr::null_mut(), |id| id.as_ptr()),
                lists: if subscribed { lists } else { std::ptr::null() },
            })
        });
        Ok(RequestEvents {
            lists,
            data,
            request_id,
            subscribed,
            application_start: 0,
            cpu_start: None,
        })
    }

    fn event(&self, py: Python<'py>) -> RaisedResult<Bound<'py, PyDict>> {
        let event = PyDict::new(py);
        if let Some(id) = &self.request_id {
            event.set_item("request_id", id).raised(py)?;
        }
        Ok(event)
    }

    /// `request_started`, just before the application is called; returns
    /// the application to call (a callback may replace it by returning
    /// `{"application_object": ...}`).
    pub fn started(
        &mut self,
        py: Python<'py>,
        application: &Bound<'py, PyAny>,
        environ: &Bound<'py, PyAny>,
        thread_id: u64,
        stages: Stages,
    ) -> RaisedResult<Bound<'py, PyAny>> {
        self.application_start = now_micros();
        if !self.subscribed {
            return Ok(application.clone());
        }
        self.cpu_start = thread_cpu_times();
        let event = self.event(py)?;
        let in_daemon = stages.daemon_start != 0;
        event.set_item("thread_id", thread_id).raised(py)?;
        event
            .set_item("daemon_connects", u64::from(in_daemon))
            .raised(py)?;
        event.set_item("daemon_restarts", 0u64).raised(py)?;
        event
            .set_item("request_start", seconds(stages.request_start))
            .raised(py)?;
        event
            .set_item("queue_start", seconds(stages.queue_start))
            .raised(py)?;
        event
            .set_item("daemon_start", seconds(stages.daemon_start))
            .raised(py)?;
        event
            .set_item("application_object", application)
            .raised(py)?;
        event.set_item("request_environ", environ).raised(py)?;
        event
            .set_item("application_start", seconds(self.application_start))
            .raised(py)?;
        event.set_item("request_data", &self.data).raised(py)?;
        publish(
            py,
            &self.lists.event_callbacks(py),
            "request_started",
            &event,
        );
        match event.get_item("application_object").raised(py)? {
            Some(replacement) => Ok(replacement),
            None => Ok(application.clone()),
        }
    }

    /// When the application was called (microseconds since the epoch).
    pub fn application_start(&self) -> u64 {
        self.application_start
    }

    /// `request_finished` with what the request read, wrote and took; then
    /// the request leaves `active_requests` and the thread.
    pub fn finish(self, py: Python<'py>, io: IoCounts) {
        if self.subscribed {
            match self.finished_event(py, io) {
                Ok(event) => publish(
                    py,
                    &self.lists.event_callbacks(py),
                    "request_finished",
                    &event,
                ),
                Err(Raised { .. }) => python_embed::raised::clear(py),
            }
        }
        if let Some(id) = &self.request_id {
            let active = self.lists.active_requests(py);
            // Only our own entry: a callback may have replaced it.
            match active.get_item(id).raised(py) {
                Ok(Some(entry)) if entry.is(&self.data) => {
                    if active.del_item(id).raised(py).is_err() {
                        python_embed::raised::clear(py);
                    }
                }
                Ok(_) => {}
                Err(Raised { .. }) => python_embed::raised::clear(py),
            }
        }
        CURRENT.with(|c| {
            c.set(Current {
                data: std::ptr::null_mut(),
                request_id: std::ptr::null_mut(),
                lists: std::ptr::null(),
            })
        });
    }

    fn finished_event(&self, py: Python<'py>, io: IoCounts) -> RaisedResult<Bound<'py, PyDict>> {
        let event = self.event(py)?;
        let finish = now_micros();
        let application_time = seconds(finish.saturating_sub(self.application_start));
        event.set_item("input_reads", io.input_reads).raised(py)?;
        event.set_item("input_length", io.input_length).raised(py)?;
        event
            .set_item("input_time", io.input_time.as_secs_f64())
            .raised(py)?;
        event
            .set_item("output_length", io.output_length)
            .raised(py)?;
        event
            .set_item("output_writes", io.output_writes)
            .raised(py)?;
        event
            .set_item("output_time", io.output_time.as_secs_f64())
            .raised(py)?;
        if let (Some((user0, system0)), Some((user1, system1))) =
            (self.cpu_start, thread_cpu_times())
        {
            let (mut user, mut system) = ((user1 - user0).max(0.0), (system1 - system0).max(0.0));
            // Never more CPU than time, as mod_wsgi reports it.
            let total = user + system;
            if total > application_time && total > 0.0 {
                user *= application_time / total;
                system *= application_time / total;
            }
            event.set_item("cpu_user_time", user).raised(py)?;
            event.set_item("cpu_system_time", system).raised(py)?;
        }
        event
            .set_item("application_finish", seconds(finish))
            .raised(py)?;
        event
            .set_item("application_time", application_time)
            .raised(py)?;
        event.set_item("request_data", &self.data).raised(py)?;
        Ok(event)
    }
}

/// `response_started`, from `start_response` on the request's thread.
pub fn response_started(
    py: Python<'_>,
    status: &Bound<'_, PyAny>,
    headers: &Bound<'_, PyAny>,
    exc_info: Option<&Bound<'_, PyAny>>,
) {
    let current = CURRENT.with(Cell::get);
    if current.lists.is_null() {
        return;
    }
    // SAFETY: set by the running request of this thread, which clears it
    // before the lists' interpreter can go.
    let lists = unsafe { &*current.lists };
    // SAFETY: as above, for its request_data dict.
    let data = unsafe { Bound::from_borrowed_ptr(py, current.data) };
    let built = (|| -> RaisedResult<Bound<'_, PyDict>> {
        let event = PyDict::new(py);
        if !current.request_id.is_null() {
            // SAFETY: as above, for its id string.
            let id = unsafe { Bound::from_borrowed_ptr(py, current.request_id) };
            event.set_item("request_id", id).raised(py)?;
        }
        event.set_item("response_status", status).raised(py)?;
        event.set_item("response_headers", headers).raised(py)?;
        event
            .set_item(
                "exception_info",
                exc_info.map_or_else(|| py.None().into_bound(py), Bound::clone),
            )
            .raised(py)?;
        event.set_item("request_data", &data).raised(py)?;
        Ok(event)
    })();
    match built {
        Ok(event) => publish(py, &lists.event_callbacks(py), "response_started", &event),
        Err(Raised { .. }) => python_embed::raised::clear(py),
    }
}

/// `request_exception`, after the exception's traceback was logged, for
/// the request running on this thread (if its group has subscribers).
pub fn request_exception<'py>(py: Python<'py>, exception: &TakenException<'py>) {
    let current = CURRENT.with(Cell::get);
    if current.lists.is_null() {
        return;
    }
    // SAFETY: set by the running request of this thread, which clears it
    // before the lists' interpreter can go.
    let lists = unsafe { &*current.lists };
    let built = (|| -> RaisedResult<Bound<'py, PyDict>> {
        let event = PyDict::new(py);
        if !current.request_id.is_null() {
            // SAFETY: the request's id string, alive while it runs.
            let id = unsafe { Bound::from_borrowed_ptr(py, current.request_id) };
            event.set_item("request_id", id).raised(py)?;
        }
        let info = PyTuple::new(py, exception.info(py)).raised(py)?;
        event.set_item("exception_info", info).raised(py)?;
        // SAFETY: the request's dict, alive while it runs.
        let data = unsafe { Bound::from_borrowed_ptr(py, current.data) };
        event.set_item("request_data", data).raised(py)?;
        Ok(event)
    })();
    match built {
        Ok(event) => publish(py, &lists.event_callbacks(py), "request_exception", &event),
        Err(Raised { .. }) => python_embed::raised::clear(py),
    }
}

/// `process_stopping` in one interpreter: its event callbacks, then its
/// shutdown callbacks, with `shutdown_reason`.
pub fn process_stopping(py: Python<'_>, lists: &EventLists) {
    let reason = *SHUTDOWN_REASON.lock();
    let event = PyDict::new(py);
    if event
        .set_item("shutdown_reason", reason)
        .raised(py)
        .is_err()
    {
        python_embed::raised::clear(py);
        return;
    }
    publish(py, &lists.event_callbacks(py), "process_stopping", &event);
    publish(
        py,
        &lists.shutdown_callbacks(py),
        "process_stopping",
        &event,
    );
}

/// This thread's CPU time so far, user and system, in seconds.
fn thread_cpu_times() -> Option<(f64, f64)> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_THREAD).ok()?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Some((secs(usage.user_time()), secs(usage.system_time())))
}
