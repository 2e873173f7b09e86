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

fn c_string(what: &str, value: &str) -> Result<CString, String> {
    CString::new(value).map_err(|_| format!("{what} contains a NUL byte"))
}

/// Sets a `wchar_t*` member of `config` from a (locale-encoded) byte string.
///
/// # Safety
/// `config` must be initialised and `field` must point into it.
unsafe fn set_config_string(
    config: *mut ffi::PyConfig,
    field: *mut *mut libc::wchar_t,
    what: &str,
    value: &str,
) -> Result<(), String> {
    let value = c_string(what, value)?;
    // SAFETY: the caller guarantees config/field validity; value is NUL-terminated.
    let status = unsafe { ffi::PyConfig_SetBytesString(config, field, value.as_ptr()) };
    // SAFETY: status was just returned by CPython.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        return Err(format!("cannot set {what}: {}", status_message(&status)));
    }
    Ok(())
}

/// Initialises the main interpreter and leaves the GIL released, so that any
/// thread may then attach with [`threads::with_main_interpreter`].
///
/// Signal handlers are not installed (the host owns signals) and C stdio is
/// left as the host configured it.
pub fn initialize(settings: &PythonSettings) -> Result<(), String> {
    if is_initialized() {
        return Ok(());
    }
    let mut config = MaybeUninit::<ffi::PyConfig>::zeroed();
    let config = config.as_mut_ptr();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the zeroed struct.
    unsafe { ffi::PyConfig_InitPythonConfig(config) };
    // SAFETY: config was initialised above.
    let result = unsafe { configure_and_initialize(config, settings) };
    // SAFETY: config was initialised by PyConfig_InitPythonConfig.
    unsafe { ffi::PyConfig_Clear(config) };
    result?;
    INITIALIZED.store(true, Ordering::Release);
    threads::release_after_initialize();
    Ok(())
}

/// # Safety
/// `config` must have been initialised with `PyConfig_InitPythonConfig`.
unsafe fn configure_and_initialize(
    config: *mut ffi::PyConfig,
    settings: &PythonSettings,
) -> Result<(), String> {
    // SAFETY: per the contract; the fields written belong to config.
    unsafe {
        (*config).install_signal_handlers = 0;
        (*config).configure_c_stdio = 0;
        (*config).parse_argv = 0;
        (*config).optimization_level = i32::from(settings.optimize);
        (*config).write_bytecode = i32::from(settings.write_bytecode);
        match settings.hash_seed {
            HashSeed::Default => {}
            HashSeed::Random => {
                (*config).use_hash_seed = 0;
                (*config).hash_seed = 0;
            }
            HashSeed::Fixed(seed) => {
                (*config).use_hash_seed = 1;
                (*config).hash_seed = std::os::raw::c_ulong::from(seed);
            }
        }
        for option in &settings.warnings {
            let option = c_string("warning option", option)?;
            let wide = ffi::Py_DecodeLocale(option.as_ptr(), ptr::null_mut());
            if wide.is_null() {
                return Err("cannot decode a warning option".into());
            }
            let status = ffi::PyWideStringList_Append(&raw mut (*config).warnoptions, wide);
            ffi::PyMem_RawFree(wide.cast());
            if ffi::PyStatus_Exception(status) != 0 {
                return Err(format!(
                    "cannot add warning option: {}",
                    status_message(&status)
                ));
            }
        }
        match settings.home.as_deref().map(HomeSetting::for_home) {
            Some(HomeSetting::Prefix(prefix)) => {
                set_config_string(config, &raw mut (*config).home, "python home", &prefix)?
            }
            Some(HomeSetting::VirtualEnv { program }) => set_config_string(
                config,
                &raw mut (*config).program_name,
                "python program name",
                &program,
            )?,
            None => set_config_string(
                config,
                &raw mut (*config).program_name,
                "python program name",
                BUILD_PYTHON,
            )?,
        }
        let argv0 = c_string("argv[0]", &settings.argv0)?;
        let mut argv = [argv0.as_ptr()];
        // argv holds one valid NUL-terminated string that outlives the call.
        let status = ffi::PyConfig_SetBytesArgv(config, 1, argv.as_mut_ptr());
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(format!("cannot set sys.argv: {}", status_message(&status)));
        }
        let status = ffi::Py_InitializeFromConfig(config);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(format!(
                "Python initialisation failed: {}",
                status_message(&status)
            ));
        }
    }
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
