//! Application groups: one Python interpreter per group in each process —
//! the main interpreter for `%{GLOBAL}` (the empty name), a sub-interpreter
//! for any other name, created on first use and kept for the life of the
//! process. Each is prepared the same way: the adapter's types, `sys.stdout`
//! and `sys.stderr` into Apache's error log (or restricted), the `mod_wsgi`
//! module, extra module directories and the signal restriction.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use pyo3::prelude::*;
use pyo3::types::{PyList, PySlice};
use python_embed::raised::take_traceback_lines;
use python_embed::threads::{
    Interpreter, is_attached, new_sub_interpreter, with_interpreter, with_main_interpreter,
};
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::log::new_text_log;
use super::newrelic::{AgentSettings, AgentWrapper, start_agent};
use super::python_module::{self, ProcessFacts};
use super::restrict::{new_restricted, restrict_signal};
use super::types::WsgiTypes;

/// How every interpreter of this process is prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpreterSetup {
    /// WSGIPythonPath (or a daemon's python-path).
    pub python_path: Vec<PathBuf>,
    /// A daemon's home=: first on every interpreter's `sys.path`, as when
    /// Python runs a script from that directory (mod_wsgi does the same).
    pub home: Option<PathBuf>,
    /// WSGIPythonEggs (or a daemon's python-eggs): `PYTHON_EGG_CACHE` in
    /// each interpreter's `os.environ`.
    pub python_eggs: Option<PathBuf>,
    pub restrict_stdout: bool,
    pub restrict_stdin: bool,
    pub restrict_signal: bool,
    pub facts: ProcessFacts,
    /// WSGINewRelicConfigFile (or newrelic-config-file=).
    pub newrelic: Option<AgentSettings>,
}

/// A prepared interpreter for one application group.
pub struct WsgiInterpreter {
    pub interpreter: Interpreter,
    pub group: String,
    pub types: WsgiTypes,
    /// The New Relic agent's application wrapper, when it runs here.
    pub newrelic: AgentWrapper,
}

static SETUP: Mutex<Option<Arc<InterpreterSetup>>> = Mutex::new(None);
/// Read by every request: readers share it (a contended mutex would spin
/// and `sched_yield`), written only when an interpreter is made or all are
/// forgotten.
static INTERPRETERS: RwLock<Option<HashMap<String, Arc<WsgiInterpreter>>>> = RwLock::new(None);
/// Serialises creating interpreters. Only taken by threads not attached to
/// Python: creation runs Python code that may release the GIL, and a thread
/// waiting here while holding the GIL would deadlock the creator.
static CREATING: Mutex<()> = Mutex::new(());

/// Records how interpreters are prepared; called once Python is up.
pub fn configure(setup: InterpreterSetup) {
    super::metrics::process_started(
        setup.facts.threads_per_process,
        !setup.facts.process_group.is_empty(),
    );
    *SETUP.lock() = Some(Arc::new(setup));
}

/// The process group this process serves (`""` for Apache's children),
/// for log lines.
pub fn process_group() -> String {
    SETUP
        .lock()
        .as_ref()
        .map(|setup| setup.facts.process_group.clone())
        .unwrap_or_default()
}

/// Publishes `process_stopping` in every interpreter made so far, main
/// interpreter first. Must be called by a thread not attached to Python.
pub fn publish_process_stopping() {
    let mut all: Vec<Arc<WsgiInterpreter>> = INTERPRETERS
        .read()
        .as_ref()
        .map(|all| all.values().cloned().collect())
        .unwrap_or_default();
    all.sort_by(|a, b| a.group.cmp(&b.group));
    for interpreter in all {
        python_embed::threads::with_interpreter(interpreter.interpreter, |py| {
            super::events::process_stopping(py, &interpreter.types.events);
        });
    }
}

/// Forgets every interpreter (after Python was finalised).
pub fn forget_all() {
    *INTERPRETERS.write() = None;
}

fn existing(group: &str) -> Option<Arc<WsgiInterpreter>> {
    INTERPRETERS
        .read()
        .as_ref()
        .and_then(|all| all.get(group).cloned())
}

/// An application group's interpreter could not be made or prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .lines.join(" "))]
pub struct InterpreterError {
    /// What to log, line by line: what failed, then any traceback.
    pub lines: Vec<String>,
}

impl InterpreterError {
    fn new(lines: Vec<String>) -> InterpreterError {
        InterpreterError { lines }
    }
}

/// The interpreter of `group` (already expanded; `""` is the main one),
/// creating and preparing it on first use. Must be called by a thread that
/// is not attached to Python.
pub fn interpreter_for(group: &str) -> Result<Arc<WsgiInterpreter>, InterpreterError> {
    if let Some(found) = existing(group) {
        return Ok(found);
    }
    debug_assert!(!is_attached(), "interpreter_for called while attached");
    let _creating = CREATING.lock();
    if let Some(found) = existing(group) {
        return Ok(found);
    }
    let setup = SETUP.lock().clone().ok_or_else(|| {
        InterpreterError::new(vec![
            "Python interpreters are not configured in this process".to_string(),
        ])
    })?;
    let interpreter = if group.is_empty() {
        Interpreter::main()
    } else {
        with_main_interpreter(new_sub_interpreter).map_err(|e| {
            InterpreterError::new(vec![format!(
                "Cannot create the Python interpreter for application group '{group}': {e}"
            )])
        })?
    };
    let prepared = with_interpreter(interpreter, |py| match prepare(py, group, &setup) {
        Ok(types) => {
            let newrelic = match &setup.newrelic {
                Some(settings) => start_agent(py, settings, group),
                None => AgentWrapper::none(),
            };
            Ok((types, newrelic))
        }
        Err(Raised { .. }) => {
            let mut lines = vec![format!(
                "Cannot prepare the Python interpreter for application group '{group}':"
            )];
            lines.extend(take_traceback_lines(py));
            Err(InterpreterError::new(lines))
        }
    })?;
    let (types, newrelic) = prepared;
    let prepared = Arc::new(WsgiInterpreter {
        interpreter,
        group: group.to_string(),
        types,
        newrelic,
    });
    INTERPRETERS
        .write()
        .get_or_insert_with(HashMap::new)
        .insert(group.to_string(), prepared.clone());
    Ok(prepared)
}

fn prepare(py: Python<'_>, group: &str, setup: &InterpreterSetup) -> RaisedResult<WsgiTypes> {
    let types = WsgiTypes::create(py)?;
    let sys = py.import("sys").raised(py)?;
    let log_type = types.log(py);
    let wrapper_type = types.text_io_wrapper(py);
    let stdout = if setup.restrict_stdout {
        new_restricted(py, &types.restricted(py), c"sys.stdout")?
    } else {
        new_text_log(
            py,
            &log_type,
            &wrapper_type,
            None,
            c"<stdout>",
            &types.names,
        )?
        .0
    };
    sys.setattr("stdout", stdout).raised(py)?;
    let stderr = new_text_log(
        py,
        &log_type,
        &wrapper_type,
        None,
        c"<stderr>",
        &types.names,
    )?
    .0;
    sys.setattr("stderr", stderr).raised(py)?;
    if setup.restrict_stdin {
        sys.setattr(
            "stdin",
            new_restricted(py, &types.restricted(py), c"sys.stdin")?,
        )
        .raised(py)?;
    }
    sys.setattr("argv", PyList::new(py, ["mod_wsgi"]).raised(py)?)
        .raised(py)?;
    if setup.restrict_signal {
        restrict_signal(py, &types.signal_intercept(py))?;
    }
    if let Some(eggs) = &setup.python_eggs {
        py.import("os")
            .and_then(|os| os.getattr("environ"))
            .and_then(|environ| environ.set_item("PYTHON_EGG_CACHE", eggs.as_os_str()))
            .raised(py)?;
    }
    if add_site_dirs(py, &setup.python_path).is_err() {
        super::log::log_to_server(
            wsgi_core::level::Level::Error,
            &format!(
                "mod_wsgi (pid={}): Call to 'site.addsitedir()' failed for WSGIPythonPath; continuing without it.",
                std::process::id()
            ),
        );
        for line in take_traceback_lines(py) {
            super::log::log_to_server(wsgi_core::level::Level::Error, &line);
        }
    }
    if let Some(home) = &setup.home {
        sys.getattr("path")
            .and_then(|path| path.call_method1("insert", (0, home.as_os_str())))
            .raised(py)?;
    }
    // After sys.path is complete: a `mod_wsgi` package there is used.
    python_module::install(
        py,
        group,
        &setup.facts,
        types.file_wrapper(py).as_any(),
        types.request_timeout(py).as_any(),
        &types.events,
    )?;
    Ok(types)
}

/// Adds directories with `site.addsitedir` (so `.pth` files in them are
/// processed), then moves every entry that this added to the front of
/// `sys.path`, in order, so they take precedence as mod_wsgi arranges.
pub fn add_site_dirs(py: Python<'_>, dirs: &[PathBuf]) -> RaisedResult<()> {
    if dirs.is_empty() {
        return Ok(());
    }
    let sys = py.import("sys").raised(py)?;
    let path = sys.getattr("path").raised(py)?;
    let before: Vec<Bound<'_, PyAny>> = path
        .try_iter()
        .raised(py)?
        .collect::<PyResult<_>>()
        .raised(py)?;
    let site = py.import("site").raised(py)?;
    for dir in dirs {
        site.call_method1("addsitedir", (dir.to_string_lossy().as_ref(),))
            .raised(py)?;
    }
    let after: Vec<Bound<'_, PyAny>> = path
        .try_iter()
        .raised(py)?
        .collect::<PyResult<_>>()
        .raised(py)?;
    let mut added = Vec::new();
    let mut kept = Vec::new();
    for entry in after {
        let mut is_old = false;
        for old in &before {
            if entry.eq(old).raised(py)? {
                is_old = true;
                break;
            }
        }
        if is_old {
            kept.push(entry)
        } else {
            added.push(entry)
        }
    }
    let reordered = PyList::new(py, added.into_iter().chain(kept)).raised(py)?;
    path.set_item(PySlice::full(py), reordered).raised(py)?;
    Ok(())
}
