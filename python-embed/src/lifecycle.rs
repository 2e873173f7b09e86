//! Initialising CPython once in a process, from [`PythonSettings`].

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;

use crate::settings::{HomeSetting, PythonSettings};
use crate::threads;

static INITIALIZED: AtomicBool = AtomicBool::new(false);

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
    let result = (|| {
        // SAFETY: config was initialised above; fields are plain ints.
        unsafe {
            (*config).install_signal_handlers = 0;
            (*config).configure_c_stdio = 0;
            (*config).parse_argv = 0;
            (*config).optimization_level = i32::from(settings.optimize);
        }
        if let Some(home) = &settings.home {
            match HomeSetting::for_home(home) {
                // SAFETY: the fields belong to the initialised config.
                HomeSetting::Prefix(prefix) => unsafe {
                    set_config_string(config, &raw mut (*config).home, "python home", &prefix)?
                },
                // SAFETY: as above.
                HomeSetting::VirtualEnv { program } => unsafe {
                    set_config_string(
                        config,
                        &raw mut (*config).program_name,
                        "python program name",
                        &program,
                    )?
                },
            }
        }
        let argv0 = c_string("argv[0]", &settings.argv0)?;
        let mut argv = [argv0.as_ptr()];
        // SAFETY: argv holds one valid NUL-terminated string that outlives the call.
        let status = unsafe { ffi::PyConfig_SetBytesArgv(config, 1, argv.as_mut_ptr()) };
        // SAFETY: status was just returned by CPython.
        if unsafe { ffi::PyStatus_Exception(status) } != 0 {
            return Err(format!("cannot set sys.argv: {}", status_message(&status)));
        }
        // SAFETY: config is fully set up; this is the one initialisation.
        let status = unsafe { ffi::Py_InitializeFromConfig(config) };
        // SAFETY: status was just returned by CPython.
        if unsafe { ffi::PyStatus_Exception(status) } != 0 {
            return Err(format!(
                "Python initialisation failed: {}",
                status_message(&status)
            ));
        }
        Ok(())
    })();
    // SAFETY: config was initialised by PyConfig_InitPythonConfig.
    unsafe { ffi::PyConfig_Clear(config) };
    result?;
    INITIALIZED.store(true, Ordering::Release);
    threads::release_after_initialize();
    Ok(())
}
