//! What this process knows about itself: the shape of Apache's MPM (for
//! `wsgi.multithread`, `wsgi.multiprocess` and the `mod_wsgi` module),
//! WSGIRestrictEmbedded, a daemon process's own facts, and whether Python
//! is usable here. The parent records it in post_config and Apache's
//! children inherit it through fork; a daemon process replaces the MPM's
//! facts with its group's after its fork; requests only read it.

use apache_sys as ap;
use parking_lot::RwLock;

use crate::wsgi::environ::ServerFacts;

/// Why Python cannot serve requests in this process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PythonUnavailable(pub String);

#[derive(Debug, Clone)]
pub struct ProcessContext {
    /// What the environ reports about this process.
    pub facts: ServerFacts,
    /// What the `mod_wsgi` module reports.
    pub maximum_processes: u32,
    pub threads_per_process: u32,
    /// WSGIRestrictEmbedded On: Apache's children never run Python.
    pub embedded_restricted: bool,
    /// WSGICaseSensitivity: script paths name different files when only
    /// their case differs (Off: one module per lower-cased path).
    pub case_sensitive_paths: bool,
    /// Whether Python is usable in this process, or why not.
    pub python: Result<(), PythonUnavailable>,
}

static CONTEXT: RwLock<ProcessContext> = RwLock::new(ProcessContext {
    facts: ServerFacts {
        multithread: false,
        multiprocess: false,
        run_once: false,
        apache_version: (
            ap::AP_SERVER_MAJORVERSION_NUMBER,
            ap::AP_SERVER_MINORVERSION_NUMBER,
            ap::AP_SERVER_PATCHLEVEL_NUMBER,
        ),
    },
    maximum_processes: 1,
    threads_per_process: 1,
    embedded_restricted: false,
    case_sensitive_paths: true,
    python: Err(PythonUnavailable(String::new())),
});

fn mpm_query(what: u32) -> Option<i32> {
    let mut value = 0;
    // SAFETY: ap_mpm_query writes one int.
    let rv = unsafe { ap::ap_mpm_query(what as i32, &mut value) };
    (rv == 0).then_some(value)
}

/// Records the MPM's shape, WSGIRestrictEmbedded and WSGICaseSensitivity
/// (the parent, each generation; children and daemons inherit it).
pub fn record_apache(embedded_restricted: bool, case_sensitive_paths: bool) {
    let supported = |what| mpm_query(what).unwrap_or(0) != ap::AP_MPMQ_NOT_SUPPORTED as i32;
    let threaded = supported(ap::AP_MPMQ_IS_THREADED);
    let forked = supported(ap::AP_MPMQ_IS_FORKED);
    let threads = if threaded {
        mpm_query(ap::AP_MPMQ_MAX_THREADS).unwrap_or(1)
    } else {
        1
    };
    let processes = if forked {
        match mpm_query(ap::AP_MPMQ_MAX_DAEMON_USED) {
            Some(used) if used != -1 => used,
            _ => mpm_query(ap::AP_MPMQ_MAX_DAEMONS).unwrap_or(1),
        }
    } else {
        1
    };
    let mut context = CONTEXT.write();
    context.facts.multithread = threads != 1 && threaded;
    context.facts.multiprocess = forked && mpm_query(ap::AP_MPMQ_MAX_DAEMONS).unwrap_or(1) != 1;
    context.facts.run_once = false;
    context.maximum_processes = processes.max(1) as u32;
    context.threads_per_process = threads.max(1) as u32;
    context.embedded_restricted = embedded_restricted;
    context.case_sensitive_paths = case_sensitive_paths;
}

/// WSGICaseSensitivity (On unless configured Off).
pub fn case_sensitive_paths() -> bool {
    CONTEXT.read().case_sensitive_paths
}

/// In a daemon process, after its fork: its group's facts.
pub fn record_daemon(facts: ServerFacts, maximum_processes: u32, threads_per_process: u32) {
    let mut context = CONTEXT.write();
    context.facts = facts;
    context.maximum_processes = maximum_processes;
    context.threads_per_process = threads_per_process;
}

/// Whether Python could be started here (or why not).
pub fn record_python(status: Result<(), PythonUnavailable>) {
    CONTEXT.write().python = status;
}

pub fn facts() -> ServerFacts {
    CONTEXT.read().facts
}

pub fn embedded_restricted() -> bool {
    CONTEXT.read().embedded_restricted
}

pub fn python_status() -> Result<(), PythonUnavailable> {
    match &CONTEXT.read().python {
        Ok(()) => Ok(()),
        Err(why) if why.0.is_empty() => Err(PythonUnavailable(
            "Python has not been initialised in this process".into(),
        )),
        Err(why) => Err(why.clone()),
    }
}

/// (maximum processes, threads per process), as the `mod_wsgi` module
/// reports them in Apache's children.
pub fn shape() -> (u32, u32) {
    let context = CONTEXT.read();
    (context.maximum_processes, context.threads_per_process)
}
