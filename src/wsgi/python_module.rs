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

/// The `mod_wsgi` module of the current interpreter. As in mod_wsgi, an
/// importable `mod_wsgi` package (the one `pip install mod_wsgi` brings,
/// with `mod_wsgi.server` and `mod_wsgi.express`) is imported and given
/// the module's attributes, so that `import mod_wsgi.server` works; only
/// without one is a plain module made.
fn package_or_new<'py>(
    py: Python<'py>,
    application_group: &str,
) -> RaisedResult<Bound<'py, PyModule>> {
    match py.import("mod_wsgi").raised(py) {
        Ok(package) => {
            if application_group.is_empty() {
                super::log::log_to_server(
                    wsgi_core::level::Level::Info,
                    &format!(
                        "mod_wsgi (pid={}): Imported 'mod_wsgi'.",
                        std::process::id()
                    ),
                );
            }
            Ok(package)
        }
        Err(_) => {
            // A package that failed half-way must not stay in sys.modules.
            let lines = python_embed::raised::take_traceback_lines(py);
            let found = !lines
                .iter()
                .any(|l| l.contains("No module named 'mod_wsgi'"));
            if found {
                for line in lines {
                    super::log::log_to_server(wsgi_core::level::Level::Error, &line);
                }
            }
            let modules = py
                .import("sys")
                .and_then(|sys| sys.getattr("modules"))
                .raised(py)?;
            if modules.contains("mod_wsgi").raised(py)? {
                modules.del_item("mod_wsgi").raised(py)?;
            }
            PyModule::new(py, "mod_wsgi").raised(py)
        }
    }
}

/// Creates (or completes) `mod_wsgi` in the current interpreter and puts
/// it in `sys.modules`.
pub fn install<'py>(
    py: Python<'py>,
    application_group: &str,
    facts: &ProcessFacts,
    file_wrapper: &Bound<'py, PyAny>,
    request_timeout: &Bound<'py, PyAny>,
    events: &super::events::EventLists,
) -> RaisedResult<Bound<'py, PyModule>> {
    let module = package_or_new(py, application_group)?;
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
    events.install(py, &module)?;
    super::metrics::install(py, &module)?;
    super::log_handler::install(py, &module)?;
    py.import("sys")
        .and_then(|sys| sys.getattr("modules"))
        .and_then(|modules| modules.set_item("mod_wsgi", &module))
        .raised(py)?;
    Ok(module)
}
