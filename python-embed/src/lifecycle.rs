//! Initialising CPython once in a process, from [`PythonSettings`].

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;

use crate::settings::{HashSeed, HomeSetting, PythonSettings};
use crate::threads;

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// The interpreter this crate was built against. Without a configured home,
/// CPython derives its prefix from the program name; left unset it would use
/// `argv[0]` ("mod_wsgi"), find nothing on PATH and search from the current
/// directory (`/` in Apache's children). Naming the Python whose library we
/// link gives the right prefix whatever the working directory or PATH.
const BUILD_PYTHON: &str = match option_env!("PYO3_PYTHON") {
    Some(python) => python,
    None => "python3",
};

/// Whether [`initialize`] has succeeded in this process.
pub fn is_initialized() -> bool {
    INITIALIZED.load(Ordering::Acquire)
}

fn status_message(status: &ffi::PyStatus) -> String {
    let text = |p: *const std::os::raw::c_char| {
        if p.is_null() {
            None
        } else {
            // SAFETY: PyStatus messages are static NUL-terminated C strings.
            Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        }
    };
    match (text(status.func), text(status.err_msg)) {
        (Some(func), Some(msg)) => format!("{func}: {msg}"),
        (None, Some(msg)) => msg,
        _ => format!("exit code {}", status.exitcode),
    }
}

/// Why Python could not be initialised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    #[error("{0} contains a NUL byte")]
    Nul(&'static str),
    #[error("cannot set {what}: {status}")]
    Setting { what: &'static str, status: String },
    #[error("cannot decode a warning option")]
    WarningUndecodable,
    #[error("cannot add warning option: {0}")]
    Warning(String),
    #[error("cannot set sys.argv: {0}")]
    Argv(String),
    #[error("Python initialisation failed: {0}")]
    Initialize(String),
}

fn c_string(what: &'static str, value: &str) -> Result<CString, InitError> {
    CString::new(value).map_err(|_| InitError::Nul(what))
}

/// Which `wchar_t*` member of the configuration a string goes to.
#[derive(Clone, Copy)]
enum ConfigString {
    Home,
    ProgramName,
}

/// Sets a `wchar_t*` member of `config` from a (locale-encoded) byte string.
fn set_config_string(
    config: &mut ffi::PyConfig,
    member: ConfigString,
    what: &'static str,
    value: &str,
) -> Result<(), InitError> {
    let value = c_string(what, value)?;
    let field = match member {
        ConfigString::Home => &raw mut config.home,
        ConfigString::ProgramName => &raw mut config.program_name,
    };
    // SAFETY: config is initialised and field is one of its members; value
    // is NUL-terminated and outlives the call.
    let status = unsafe { ffi::PyConfig_SetBytesString(config, field, value.as_ptr()) };
    check(&status).map_err(|StatusFailure(status)| InitError::Setting { what, status })
}

/// The message CPython gave with a failed status.
struct StatusFailure(String);

/// Ok, or the failed status's message, which the caller puts in its
/// [`InitError`] variant.
fn check(status: &ffi::PyStatus) -> Result<(), StatusFailure> {
    // SAFETY: status was just returned by CPython.
    if unsafe { ffi::PyStatus_Exception(*status) } != 0 {
        return Err(StatusFailure(status_message(status)));
    }
    Ok(())
}

/// Initialises the main interpreter and leaves the GIL released, so that any
/// thread may then attach with [`threads::with_main_interpreter`].
///
/// Signal handlers are not installed (the host owns signals) and C stdio is
/// left as the host configured it.
pub fn initialize(settings: &PythonSettings) -> Result<(), InitError> {
    if is_initialized() {
        return Ok(());
    }
    let mut config = MaybeUninit::<ffi::PyConfig>::zeroed();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the zeroed struct.
    unsafe { ffi::PyConfig_InitPythonConfig(config.as_mut_ptr()) };
    // SAFETY: initialised just above.
    let config = unsafe { config.assume_init_mut() };
    let result = configure_and_initialize(config, settings);
    // SAFETY: config was initialised by PyConfig_InitPythonConfig.
    unsafe { ffi::PyConfig_Clear(config) };
    result?;
    INITIALIZED.store(true, Ordering::Release);
    import_threading_here();
    threads::release_after_initialize();
    Ok(())
}

/// Imports `threading` on the initialising thread, which is the thread that
/// later finalises. Whichever thread first imports `threading` becomes its
/// main thread, and finalisation waits for that thread's state to end: were
/// it a request thread, the wait would outlast the process's shutdown.
fn import_threading_here() {
    // SAFETY: called right after initialisation with the GIL held by this
    // thread; a failed import only leaves an exception, which is cleared.
    unsafe {
        let module = ffi::PyImport_ImportModule(c"threading".as_ptr());
        if module.is_null() {
            ffi::PyErr_Clear();
        } else {
            ffi::Py_DECREF(module);
        }
    }
}

fn configure_and_initialize(
    config: &mut ffi::PyConfig,
    settings: &PythonSettings,
) -> Result<(), InitError> {
    config.install_signal_handlers = 0;
    config.configure_c_stdio = 0;
    config.parse_argv = 0;
    config.optimization_level = i32::from(settings.optimize);
    config.write_bytecode = i32::from(settings.write_bytecode);
    match settings.hash_seed {
        HashSeed::Default => {}
        HashSeed::Random => {
            config.use_hash_seed = 0;
            config.hash_seed = 0;
        }
        HashSeed::Fixed(seed) => {
            config.use_hash_seed = 1;
            config.hash_seed = std::os::raw::c_ulong::from(seed);
        }
    }
    for option in &settings.warnings {
        let option = c_string("warning option", option)?;
        // SAFETY: option is NUL-terminated; the result is freed below.
        let wide = unsafe { ffi::Py_DecodeLocale(option.as_ptr(), ptr::null_mut()) };
        if wide.is_null() {
            return Err(InitError::WarningUndecodable);
        }
        // SAFETY: the list belongs to the initialised config; Append copies
        // the string.
        let status = unsafe { ffi::PyWideStringList_Append(&mut config.warnoptions, wide) };
        // SAFETY: wide came from Py_DecodeLocale.
        unsafe { ffi::PyMem_RawFree(wide.cast()) };
        check(&status).map_err(|StatusFailure(m)| InitError::Warning(m))?;
    }
    match settings.home.as_deref().map(HomeSetting::for_home) {
        Some(HomeSetting::Prefix(prefix)) => {
            set_config_string(config, ConfigString::Home, "python home", &prefix)?
        }
        Some(HomeSetting::VirtualEnv { program }) => set_config_string(
            config,
            ConfigString::ProgramName,
            "python program name",
            &program,
        )?,
        None => set_config_string(
            config,
            ConfigString::ProgramName,
            "python program name",
            BUILD_PYTHON,
        )?,
    }
    let argv0 = c_string("argv[0]", &settings.argv0)?;
    let mut argv = [argv0.as_ptr()];
    // SAFETY: argv holds one NUL-terminated string that outlives the call.
    let status = unsafe { ffi::PyConfig_SetBytesArgv(config, 1, argv.as_mut_ptr()) };
    check(&status).map_err(|StatusFailure(m)| InitError::Argv(m))?;
    // SAFETY: the configuration is complete; Python is not yet initialised.
    let status = unsafe { ffi::Py_InitializeFromConfig(config) };
    check(&status).map_err(|StatusFailure(m)| InitError::Initialize(m))?;
    Ok(())
}

/// Runs every interpreter's `atexit` callbacks and finalises Python. Must be
/// called on a thread that is not attached, once request threads have
/// stopped. Afterwards [`initialize`] may be called again.
pub fn finalize() {
    if !is_initialized() {
        return;
    }
    threads::end_all_interpreters();
    threads::forget_after_finalize();
    INITIALIZED.store(false, Ordering::Release);
}

/// In a child forked from a process that initialised Python: resets
/// Python's locks and threading state for the child.
pub fn after_fork_child() {
    if is_initialized() {
        threads::after_fork_child();
    }
}
