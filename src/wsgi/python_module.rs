//! The `mod_wsgi` module every interpreter gets: what the application can
//! learn about where it runs, consistent with the `mod_wsgi.*` environ keys.

use pyo3::prelude::*;
use pyo3::types::{PyModule, PyString, PyTuple};
use python_embed::{PyResultExt, RaisedResult};

use super::environ::module_version;

/// Facts about this process that the module reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessFacts {
    /// `""` in Apache's child processes, else the daemon process group.
    pub process_group: String,
    pub maximum_processes: u32,
    pub threads_per_process: u32,
}

/// Creates `mod_wsgi` in the current interpreter and puts it in
/// `sys.modules`.
pub fn install<'py>(
    py: Python<'py>,
    application_group: &str,
    facts: &ProcessFacts,
    file_wrapper: &Bound<'py, PyAny>,
    request_timeout: &Bound<'py, PyAny>,
) -> RaisedResult<Bound<'py, PyModule>> {
    let module = PyModule::new(py, "mod_wsgi").raised(py)?;
    let version = module_version();
    module
        .setattr(
            "version",
            PyTuple::new(py, [version.0, version.1, version.2]).raised(py)?,
        )
        .raised(py)?;
    module
        .setattr("process_group", PyString::new(py, &facts.process_group))
        .raised(py)?;
    module
        .setattr("application_group", PyString::new(py, application_group))
        .raised(py)?;
    module
        .setattr("maximum_processes", facts.maximum_processes)
        .raised(py)?;
    module
        .setattr("threads_per_process", facts.threads_per_process)
        .raised(py)?;
    module.setattr("FileWrapper", file_wrapper).raised(py)?;
    module
        .setattr("RequestTimeout", request_timeout)
        .raised(py)?;
    py.import("sys")
        .and_then(|sys| sys.getattr("modules"))
        .and_then(|modules| modules.set_item("mod_wsgi", &module))
        .raised(py)?;
    Ok(module)
}
