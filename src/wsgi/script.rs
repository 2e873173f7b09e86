//! Loading WSGI script files as Python modules, as mod_wsgi does: each
//! script is its own module (never `__main__`) named `_mod_wsgi_` plus the
//! MD5 of its path, kept in `sys.modules`, and loaded again when the file's
//! modification time changes.

use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use md5::{Digest, Md5};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyModule, PyString};
use python_embed::modules::sys_modules;
use python_embed::threads::without_gil;
use python_embed::{PyResultExt, Raised, RaisedResult};

use super::backend::RequestLog;
use super::names::{Name, Names};
use wsgi_core::level::Level;

/// Serialises loading so that two threads asking for the same script at
/// once do not both execute it. Taken with the GIL released: the thread
/// holding it may release the GIL while importing.
static LOAD_LOCK: Mutex<()> = Mutex::new(());

/// Scripts this process reported as changed (daemon mode): the process is
/// restarting, and every later request for them must go to its successor,
/// even when what said "changed" (a one-shot `reload_required`) would now
/// say otherwise.
static REPORTED_CHANGED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Whether REPORTED_CHANGED has anything, so that requests do not take its
/// lock until a change was reported.
static ANY_REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn report_changed(name: &str) -> Loaded<'static> {
    ANY_REPORTED.store(true, std::sync::atomic::Ordering::Release);
    let mut reported = REPORTED_CHANGED.lock();
    if !reported.iter().any(|known| known == name) {
        reported.push(name.to_string());
    }
    Loaded::Changed
}

/// The module name a script file gets. With WSGICaseSensitivity Off the
/// path is lower-cased first, so that one file reached by differently
/// cased paths is loaded once.
pub fn module_name(path: &Path, case_sensitive: bool) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    let digest = if case_sensitive {
        Md5::digest(bytes)
    } else {
        Md5::digest(bytes.to_ascii_lowercase())
    };
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("_mod_wsgi_{hex}")
}

thread_local! {
    /// Module names already worked out by this thread (a digest per request
    /// is measurable).
    static MODULE_NAMES: RefCell<HashMap<PathBuf, String>> = RefCell::new(HashMap::new());
}

fn cached_module_name(path: &Path, case_sensitive: bool) -> String {
    MODULE_NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(name) = names.get(path) {
            return name.clone();
        }
        if names.len() >= 1024 {
            names.clear();
        }
        let name = module_name(path, case_sensitive);
        names.insert(path.to_path_buf(), name.clone());
        name
    })
}

/// Modification time in microseconds (httpd's resolution), the reload key.
fn modification_time(path: &Path) -> std::io::Result<u64> {
    let modified = std::fs::metadata(path)?.modified()?;
    Ok(modified
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64))
}

fn os_error(py: Python<'_>, path: &Path, err: &std::io::Error) -> Raised {
    Raised::new::<PyOSError>(
        py,
        format!("cannot read WSGI script '{}': {err}", path.display()),
    )
}

/// What to do when a loaded script's file has changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// WSGIScriptReloading Off: keep using the loaded module.
    Keep,
    /// Load the module again (embedded mode).
    Reload,
    /// Report it: the whole process must restart (daemon mode, as
    /// mod_wsgi, so that everything the script imported is fresh).
    Report,
}

/// A script ready to run, or the news that its file changed.
pub enum Loaded<'py> {
    Module(Bound<'py, PyAny>),
    Changed,
}

/// The time the first script load of this process started, and whether a
/// load has succeeded since (for startup-timeout).
static FIRST_LOAD: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
static LOADED_ONCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How long the process has been trying to load a script without success,
/// or None if a load succeeded or none was tried.
pub fn failing_to_load_for() -> Option<std::time::Duration> {
    if LOADED_ONCE.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    FIRST_LOAD.get().map(|start| start.elapsed())
}

/// The loaded module under `name` if it can be used as it is: None when
/// it must be loaded (missing, or changed with OnChange::Reload).
fn current<'py>(
    py: Python<'py>,
    modules: &Bound<'py, PyDict>,
    name: &str,
    on_change: OnChange,
    mtime: Option<u64>,
    names: &Names,
) -> RaisedResult<Option<Loaded<'py>>> {
    let Some(existing) = modules.get_item(name).raised(py)?.filter(|m| !m.is_none()) else {
        return Ok(None);
    };
    // `__mtime__` is set once the script has run to the end: without it
    // another thread is still loading it (it is in sys.modules meanwhile).
    let loaded_mtime = match existing
        .getattr_opt(names.get(py, Name::Mtime))
        .raised(py)?
    {
        Some(t) => match t.extract::<u64>() {
            Ok(t) => t,
            Err(err) => {
                Raised::from_err(py, err).clear(py);
                return Ok(None);
            }
        },
        None => return Ok(None),
    };
    match mtime {
        None => Ok(Some(Loaded::Module(existing))),
        Some(mtime) if mtime == loaded_mtime => Ok(Some(Loaded::Module(existing))),
        Some(_) => Ok((on_change == OnChange::Report).then_some(Loaded::Changed)),
    }
}

/// How a script is to be loaded.
pub struct ScriptLoad<'a> {
    pub on_change: OnChange,
    /// The file's modification time if the caller already knows it.
    pub known_mtime: Option<u64>,
    /// WSGICaseSensitivity.
    pub case_sensitive_paths: bool,
    /// The request's file, passed to the script's `reload_required`
    /// when reloading is on; None when that hook does not apply.
    pub resource: Option<&'a str>,
    /// The application group, for log lines.
    pub application_group: &'a str,
    /// Where load notices and hook failures go.
    pub log: &'a dyn RequestLog,
}

fn context_of(load: &ScriptLoad<'_>) -> String {
    format!(
        "mod_wsgi (pid={}, process='{}', application='{}')",
        std::process::id(),
        super::interpreter::process_group(),
        load.application_group
    )
}

/// Asks the module's `reload_required(resource)` (the hook
/// WSGIScriptReloading documents) whether it must be loaded again. A
/// hook that raises is logged and the module kept, so that a failing hook
/// cannot make every request a reload (a restart in daemon mode).
fn hook_wants_reload(
    py: Python<'_>,
    module: &Bound<'_, PyAny>,
    resource: &str,
    path: &Path,
    load: &ScriptLoad<'_>,
    names: &Names,
) -> bool {
    // Looked up in the module's dict, as mod_wsgi does: a getattr of a
    // missing name would make (and drop) an AttributeError every request.
    let Ok(module) = module.cast::<PyModule>() else {
        return false;
    };
    let hook = match module.dict().get_item(names.get(py, Name::ReloadRequired)) {
        Ok(Some(hook)) if hook.is_callable() => hook,
        Ok(_) => return false,
        Err(err) => {
            Raised::from_err(py, err).clear(py);
            return false;
        }
    };
    match hook
        .call1((resource,))
        .and_then(|answer| answer.is_truthy())
    {
        Ok(wanted) => wanted,
        Err(err) => {
            Raised::from_err(py, err);
            load.log.log(
                Level::Error,
                &format!(
                    "{}: Exception occurred in reload_required() of WSGI script '{}'.",
                    context_of(load),
                    path.display()
                ),
            );
            for line in python_embed::raised::take_traceback_lines(py) {
                load.log.log(Level::Error, &line);
            }
            false
        }
    }
}

/// The loaded module for `path`, loading or reloading it as needed.
pub fn load_script<'py>(
    py: Python<'py>,
    path: &Path,
    load: &ScriptLoad<'_>,
    names: &Names,
) -> RaisedResult<Loaded<'py>> {
    let on_change = load.on_change;
    let known_mtime = load.known_mtime;
    let name = cached_module_name(path, load.case_sensitive_paths);
    let modules = sys_modules(py)?;
    // A stat of a local file is quick: done with the GIL held, as is the
    // common case below (module loaded and current), without the lock.
    let stat = || modification_time(path).map_err(|e| os_error(py, path, &e));
    let mtime = match (on_change, known_mtime) {
        (OnChange::Keep, _) => None,
        (_, Some(known)) => Some(known),
        (_, None) => Some(stat()?),
    };
    if on_change == OnChange::Report
        && ANY_REPORTED.load(std::sync::atomic::Ordering::Acquire)
        && REPORTED_CHANGED.lock().contains(&name)
    {
        return Ok(Loaded::Changed);
    }
    let mut forced = false;
    match current(py, &modules, &name, on_change, mtime, names)? {
        Some(Loaded::Module(module)) => {
            let asked = on_change != OnChange::Keep
                && load.resource.is_some_and(|resource| {
                    hook_wants_reload(py, &module, resource, path, load, names)
                });
            if !asked {
                return Ok(Loaded::Module(module));
            }
            if on_change == OnChange::Report {
                return Ok(report_changed(&name));
            }
            forced = true;
        }
        Some(Loaded::Changed) => return Ok(report_changed(&name)),
        None => {}
    }
    let _guard = without_gil(py, || LOAD_LOCK.lock());
    // Another thread may have loaded it while this one waited.
    if !forced && let Some(loaded) = current(py, &modules, &name, on_change, mtime, names)? {
        return Ok(match loaded {
            Loaded::Changed => report_changed(&name),
            module => module,
        });
    }
    let mtime = match mtime.or(known_mtime) {
        Some(mtime) => mtime,
        None => stat()?,
    };
    FIRST_LOAD.get_or_init(std::time::Instant::now);
    let reloading = modules.contains(&name).raised(py)?;
    load.log.log(
        Level::Info,
        &format!(
            "{}: {} WSGI script '{}'.",
            context_of(load),
            if reloading { "Reloading" } else { "Loading" },
            path.display()
        ),
    );
    let source = without_gil(py, || std::fs::read(path)).map_err(|e| os_error(py, path, &e))?;
    let filename = PyString::new(py, &path.to_string_lossy());
    let code = py
        .import("builtins")
        .and_then(|b| b.getattr("compile"))
        .and_then(|compile| compile.call1((PyBytes::new(py, &source), &filename, "exec")))
        .raised(py)?;
    let module = PyModule::new(py, &name).raised(py)?;
    module.setattr("__file__", &filename).raised(py)?;
    modules.set_item(&name, &module).raised(py)?;
    let globals: Bound<'py, PyDict> = module.dict();
    let executed = py
        .import("builtins")
        .and_then(|b| b.getattr("exec"))
        .and_then(|exec| exec.call1((code, &globals)));
    if let Err(err) = executed {
        // A script that failed to run must not stay half-loaded.
        if let Err(del) = modules.del_item(&name) {
            Raised::from_err(py, del).clear(py);
        }
        return Err(Raised::from_err(py, err));
    }
    // Marks the module as completely loaded (see `current`).
    module.setattr("__mtime__", mtime).raised(py)?;
    LOADED_ONCE.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(Loaded::Module(module.into_any()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_are_stable_and_distinct() {
        let a = module_name(Path::new("/srv/app.wsgi"), true);
        assert_eq!(a, module_name(Path::new("/srv/app.wsgi"), true));
        assert_ne!(a, module_name(Path::new("/srv/other.wsgi"), true));
        assert_ne!(a, module_name(Path::new("/srv/App.wsgi"), true));
        assert_eq!(a, module_name(Path::new("/srv/App.WSGI"), false));
        assert!(a.starts_with("_mod_wsgi_") && a.len() == "_mod_wsgi_".len() + 32);
    }
}
