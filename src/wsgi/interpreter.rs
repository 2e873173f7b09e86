//! Preparing an interpreter for WSGI: the adapter's types, `sys.stdout` and
//! `sys.stderr` into Apache's error log, and extra module directories.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyList;
use python_embed::{PyResultExt, RaisedResult};

use super::log::new_log;
use super::types::{WsgiTypes, init_main_types};

/// Prepares the main interpreter (once per process, after Python is
/// initialised). `python_path` is WSGIPythonPath; a directory that cannot be
/// added is reported through `report` (with its traceback) and skipped, as
/// mod_wsgi does, rather than making Python unusable.
pub fn prepare_main_interpreter(
    py: Python<'_>,
    python_path: &[PathBuf],
    report: impl Fn(&str),
) -> RaisedResult<&'static WsgiTypes> {
    let types = init_main_types(py)?;
    let sys = py.import("sys").raised(py)?;
    let log_type = types.log(py);
    let stdout = new_log(py, &log_type, std::ptr::null_mut(), c"<stdout>")?;
    let stderr = new_log(py, &log_type, std::ptr::null_mut(), c"<stderr>")?;
    sys.setattr("stdout", stdout).raised(py)?;
    sys.setattr("stderr", stderr).raised(py)?;
    if add_site_dirs(py, python_path).is_err() {
        report("Call to 'site.addsitedir()' failed for WSGIPythonPath; continuing without it.");
        for line in python_embed::raised::take_traceback_lines(py) {
            report(&line);
        }
    }
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
    path.set_item(pyo3::types::PySlice::full(py), reordered)
        .raised(py)?;
    Ok(())
}
