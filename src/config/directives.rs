//! The directive table httpd reads, and the handlers that store parsed
//! values into our configuration structs. Each handler returns NULL or an
//! error message; httpd then refuses to start, naming the file and line.

use std::ffi::{CString, c_void};
use std::os::raw::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use apache_sys as ap;
use wsgi_core::daemon_options::{Account, DaemonOptions};
use wsgi_core::directives::DirectiveError;
use wsgi_core::refuse;
use wsgi_core::trusted_proxies;

use wsgi_core::directives::{import_script, newer, script_alias, script_file, values};

use super::access::server_config_mut;
use super::{AliasEntry, CompiledRegex, DirConfig, ServerConfig};
use crate::apache::c_str;

/// Turns a handler's outcome into what httpd expects: NULL, or a message
/// in the command's pool.
unsafe fn outcome(cmd: *mut ap::cmd_parms, result: Result<(), DirectiveError>) -> *const c_char {
    match result {
        Ok(()) => std::ptr::null(),
        Err(message) => {
            let message = CString::new(message.replace('\0', "")).unwrap_or_default();
            // SAFETY: cmd is the live cmd_parms httpd passed in.
            unsafe { ap::apr_pstrdup((*cmd).pool, message.as_ptr()) }
        }
    }
}

/// Runs a handler body, turning a panic into a configuration error rather
/// than unwinding into httpd.
unsafe fn guarded(
    cmd: *mut ap::cmd_parms,
    directive: &str,
    body: impl FnOnce() -> Result<(), DirectiveError>,
) -> *const c_char {
    let result = catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|_| Err(refuse!("{directive}: internal error in mod_wsgi")));
    // SAFETY: cmd is live for the duration of the handler.
    unsafe { outcome(cmd, result) }
}

/// httpd's own check that a directive is used at server level only.
unsafe fn global_only(cmd: *mut ap::cmd_parms) -> Result<(), DirectiveError> {
    // SAFETY: cmd is live.
    let error = unsafe { ap::ap_check_cmd_context(cmd, ap::GLOBAL_ONLY as _) };
    if error.is_null() {
        Ok(())
    } else {
        // SAFETY: httpd returns a NUL-terminated message.
        Err(unsafe { c_str(error) }.into_owned().into())
    }
}

/// Our configuration for the server the directive appears in.
unsafe fn server_config<'a>(cmd: *mut ap::cmd_parms) -> &'a mut ServerConfig {
    // SAFETY: cmd->server is live and has our config attached by httpd.
    unsafe { server_config_mut((*cmd).server) }
}

unsafe fn dir_config<'a>(mconfig: *mut c_void) -> &'a mut DirConfig {
    // SAFETY: httpd passes the DirConfig our create_dir_config made.
    unsafe { &mut *mconfig.cast::<DirConfig>() }
}

unsafe extern "C" fn script_alias_directive(
    cmd: *mut ap::cmd_parms,
    _mconfig: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    // SAFETY: httpd passes live arguments; cmd_data marks the Match form.
    let is_match = unsafe { !(*cmd).info.is_null() };
    let directive = if is_match {
        "WSGIScriptAliasMatch"
    } else {
        "WSGIScriptAlias"
    };
    // SAFETY: httpd passes live arguments and the configuration's pool.
    unsafe {
        guarded(cmd, directive, || {
            let alias = script_alias::parse(directive, &c_str(args))?;
            let regex = match is_match {
                true => Some(compile_pattern((*cmd).pool, directive, &alias.url)?),
                false => None,
            };
            server_config(cmd).aliases.push(AliasEntry { alias, regex });
            Ok(())
        })
    }
}

/// Compiles a WSGIScriptAliasMatch pattern with httpd's regex engine.
///
/// # Safety
/// `pool` must be the live configuration pool.
unsafe fn compile_pattern(
    pool: *mut ap::apr_pool_t,
    directive: &str,
    pattern: &str,
) -> Result<CompiledRegex, DirectiveError> {
    let source =
        CString::new(pattern).map_err(|_| refuse!("{directive}: pattern contains a NUL byte"))?;
    // SAFETY: per the contract; source is NUL-terminated.
    let compiled = unsafe { ap::ap_pregcomp(pool, source.as_ptr(), ap::AP_REG_EXTENDED as _) };
    if compiled.is_null() {
        return Err(refuse!(
            "{directive}: regular expression '{pattern}' could not be compiled"
        ));
    }
    Ok(CompiledRegex(compiled))
}

/// What the configuration being read has said so far that later
/// directives or start-up need: the daemon process group names (a name
/// must be unique, and WSGIImportScript may only name a group defined
/// before it), and whether a script that runs in Apache's children (an
/// access, auth or dispatch script, or a WSGIImportScript for
/// `%{GLOBAL}`) was configured, which needs Python there even under
/// WSGIRestrictEmbedded On. Keyed by the configuration
/// pool, so a new reading of the configuration starts afresh.
#[derive(Default)]
pub struct Reading {
    pool: usize,
    groups: Vec<String>,
    child_scripts: bool,
}

static READING: parking_lot::Mutex<Reading> = parking_lot::Mutex::new(Reading {
    pool: 0,
    groups: Vec::new(),
    child_scripts: false,
});

/// Whether the configuration last read has scripts that run in Apache's
/// children (read by each child after the fork).
pub fn child_scripts_configured() -> bool {
    READING.lock().child_scripts
}

unsafe extern "C" fn forget_reading(_data: *mut c_void) -> ap::apr_status_t {
    *READING.lock() = Reading::default();
    0
}

/// The state of the configuration being read in `pool`.
///
/// # Safety
/// `pool` must be the live configuration pool.
unsafe fn reading(pool: *mut ap::apr_pool_t) -> parking_lot::MutexGuard<'static, Reading> {
    let mut reading = READING.lock();
    if reading.pool != pool as usize {
        *reading = Reading {
            pool: pool as usize,
            ..Reading::default()
        };
        // The pool is reused for the next reading of the configuration
        // (a restart); the state must not outlive this one.
        // SAFETY: per the contract.
        unsafe {
            ap::apr_pool_cleanup_register(
                pool,
                std::ptr::null(),
                Some(forget_reading),
                Some(ap::apr_pool_cleanup_null),
            )
        };
    }
    reading
}

unsafe extern "C" fn daemon_process_directive(
    cmd: *mut ap::cmd_parms,
    _mconfig: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    // SAFETY: httpd passes live arguments, the configuration's pool and the
    // server record being configured.
    unsafe {
        guarded(cmd, "WSGIDaemonProcess", || {
            let options = wsgi_core::daemon_options::parse("WSGIDaemonProcess", &c_str(args))?;
            check_accounts(&options)?;
            define_group(&mut reading((*cmd).pool).groups, &options.name)?;
            server_config(cmd).daemon_groups.push(options);
            Ok(())
        })
    }
}

/// Every user and group a WSGIDaemonProcess names exists, and the daemon
/// would not run as root.
fn check_accounts(options: &DaemonOptions) -> Result<(), DirectiveError> {
    use crate::groups::accounts;
    let name = &options.name;
    let resolve_user = |account: &Account| {
        accounts::user(account).map_err(|e| refuse!("WSGIDaemonProcess {name}: {e}"))
    };
    if let Some(user) = &options.user
        && resolve_user(user)?.uid == 0
    {
        return Err(refuse!(
            "WSGIDaemonProcess {name}: daemon processes must not run as root"
        ));
    }
    for account in [&options.socket_user, &options.script_user]
        .into_iter()
        .flatten()
    {
        resolve_user(account)?;
    }
    for account in [&options.group, &options.script_group]
        .into_iter()
        .flatten()
    {
        accounts::group(account).map_err(|e| refuse!("WSGIDaemonProcess {name}: {e}"))?;
    }
    for group in &options.supplementary_groups {
        accounts::group(&Account::Name(group.clone()))
            .map_err(|e| refuse!("WSGIDaemonProcess {name}: supplementary-groups: {e}"))?;
    }
    Ok(())
}

/// Records a group name, refusing a second group of the same name.
fn define_group(defined: &mut Vec<String>, name: &str) -> Result<(), DirectiveError> {
    if defined.iter().any(|known| known == name) {
        return Err(refuse!(
            "WSGIDaemonProcess: the name '{name}' duplicates an earlier WSGIDaemonProcess"
        ));
    }
    defined.push(name.to_string());
    Ok(())
}

unsafe extern "C" fn restrict_process_directive(
    cmd: *mut ap::cmd_parms,
    mconfig: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    // SAFETY: httpd passes live arguments and our directory configuration.
    unsafe {
        guarded(cmd, "WSGIRestrictProcess", || {
            let groups: Vec<String> = wsgi_core::directives::words::words(&c_str(args))
                .into_iter()
                .map(|g| if g == "%{GLOBAL}" { String::new() } else { g })
                .collect();
            if groups.is_empty() {
                return Err("WSGIRestrictProcess needs at least one process group name".into());
            }
            dir_config(mconfig).restrict_process = Some(groups);
            Ok(())
        })
    }
}

unsafe extern "C" fn import_script_directive(
    cmd: *mut ap::cmd_parms,
    _mconfig: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    // SAFETY: httpd passes live arguments.
    unsafe {
        guarded(cmd, "WSGIImportScript", || {
            let script = import_script::parse("WSGIImportScript", &c_str(args))?;
            if !script.process_group.is_empty()
                && !reading((*cmd).pool).groups.contains(&script.process_group)
            {
                return Err(refuse!(
                    "WSGIImportScript: process group '{}' has not been defined by an earlier WSGIDaemonProcess",
                    script.process_group
                ));
            }
            // A script for Apache's children needs Python there, even
            // under WSGIRestrictEmbedded On (as in mod_wsgi).
            if script.process_group.is_empty() {
                reading((*cmd).pool).child_scripts = true;
            }
            server_config(cmd).import_scripts.push(script);
            Ok(())
        })
    }
}

/// A raw-arguments handler for a directive naming a script.
macro_rules! script_handler {
    ($fn_name:ident, $directive:literal, |$cmd:ident, $mconfig:ident, $args:ident| $body:expr) => {
        unsafe extern "C" fn $fn_name(
            $cmd: *mut ap::cmd_parms,
            $mconfig: *mut c_void,
            raw: *const c_char,
        ) -> *const c_char {
            // SAFETY: httpd passes a live cmd_parms, our directory
            // configuration and NUL-terminated arguments.
            unsafe {
                let $args = c_str(raw).into_owned();
                guarded($cmd, $directive, || $body)
            }
        }
    };
}

script_handler!(access_script, "WSGIAccessScript", |cmd, mconfig, args| {
    dir_config(mconfig).access_script = Some(script_file::parse("WSGIAccessScript", &args)?);
    reading((*cmd).pool).child_scripts = true;
    Ok(())
});

script_handler!(
    auth_user_script,
    "WSGIAuthUserScript",
    |cmd, mconfig, args| {
        dir_config(mconfig).auth_user_script =
            Some(script_file::parse("WSGIAuthUserScript", &args)?);
        reading((*cmd).pool).child_scripts = true;
        Ok(())
    }
);

script_handler!(
    auth_group_script,
    "WSGIAuthGroupScript",
    |cmd, mconfig, args| {
        dir_config(mconfig).auth_group_script =
            Some(script_file::parse("WSGIAuthGroupScript", &args)?);
        reading((*cmd).pool).child_scripts = true;
        Ok(())
    }
);

script_handler!(
    dispatch_script,
    "WSGIDispatchScript",
    |cmd, mconfig, args| {
        dir_config(mconfig).dispatch_script =
            Some(script_file::parse("WSGIDispatchScript", &args)?);
        reading((*cmd).pool).child_scripts = true;
        Ok(())
    }
);

script_handler!(
    handler_script,
    "WSGIHandlerScript",
    |_cmd, mconfig, args| {
        let (name, script) = script_file::parse_handler("WSGIHandlerScript", &args)?;
        let scripts = &mut dir_config(mconfig).handler_scripts;
        scripts.retain(|(known, _)| *known != name);
        scripts.push((name, script));
        Ok(())
    }
);

script_handler!(
    trusted_proxy_headers,
    "WSGITrustedProxyHeaders",
    |cmd, mconfig, args| {
        let (variables, unknown) =
            trusted_proxies::parse_headers("WSGITrustedProxyHeaders", &args)?;
        for name in unknown {
            crate::apache::log::server(
                (*cmd).server,
                wsgi_core::level::Level::Warning,
                &crate::apache::log::ours(&format!(
                    "WSGITrustedProxyHeaders: '{name}' is not a proxy header mod_wsgi knows; \
                     it has no effect"
                )),
            );
        }
        dir_config(mconfig)
            .trusted_proxy_headers
            .get_or_insert_with(Vec::new)
            .extend(variables);
        Ok(())
    }
);

script_handler!(
    trusted_proxies_directive,
    "WSGITrustedProxies",
    |_cmd, mconfig, args| {
        let networks = trusted_proxies::parse_proxies("WSGITrustedProxies", &args)?;
        dir_config(mconfig)
            .trusted_proxies
            .get_or_insert_with(Vec::new)
            .extend(networks);
        Ok(())
    }
);

macro_rules! take1_handler {
    ($fn_name:ident, $directive:literal, |$cmd:ident, $mconfig:ident, $value:ident| $body:expr) => {
        unsafe extern "C" fn $fn_name(
            $cmd: *mut ap::cmd_parms,
            $mconfig: *mut c_void,
            arg: *const c_char,
        ) -> *const c_char {
            // SAFETY: httpd passes a live cmd_parms, our config and a
            // NUL-terminated argument.
            unsafe {
                let $value = c_str(arg).into_owned();
                guarded($cmd, $directive, || $body)
            }
        }
    };
}

take1_handler!(
    python_optimize,
    "WSGIPythonOptimize",
    |cmd, _mconfig, value| {
        global_only(cmd)?;
        server_config(cmd).python_optimize =
            Some(values::optimize_level("WSGIPythonOptimize", &value)?);
        Ok(())
    }
);

take1_handler!(python_home, "WSGIPythonHome", |cmd, _mconfig, value| {
    global_only(cmd)?;
    server_config(cmd).python_home = Some(values::python_home("WSGIPythonHome", &value)?);
    Ok(())
});

take1_handler!(python_path, "WSGIPythonPath", |cmd, _mconfig, value| {
    global_only(cmd)?;
    server_config(cmd).python_path = Some(values::python_path("WSGIPythonPath", &value)?);
    Ok(())
});

take1_handler!(
    callable_object,
    "WSGICallableObject",
    |_cmd, mconfig, value| {
        dir_config(mconfig).callable_object =
            Some(values::callable_object("WSGICallableObject", &value)?);
        Ok(())
    }
);

take1_handler!(
    pass_apache_request,
    "WSGIPassApacheRequest",
    |_cmd, mconfig, value| {
        dir_config(mconfig).pass_apache_request =
            Some(values::on_off("WSGIPassApacheRequest", &value)?);
        Ok(())
    }
);

take1_handler!(
    pass_authorization,
    "WSGIPassAuthorization",
    |_cmd, mconfig, value| {
        dir_config(mconfig).pass_authorization =
            Some(values::on_off("WSGIPassAuthorization", &value)?);
        Ok(())
    }
);

take1_handler!(
    chunked_request,
    "WSGIChunkedRequest",
    |_cmd, mconfig, value| {
        dir_config(mconfig).chunked_request = Some(values::on_off("WSGIChunkedRequest", &value)?);
        Ok(())
    }
);

take1_handler!(
    map_head_to_get,
    "WSGIMapHEADToGET",
    |_cmd, mconfig, value| {
        dir_config(mconfig).map_head_to_get =
            Some(values::map_head_to_get("WSGIMapHEADToGET", &value)?);
        Ok(())
    }
);

take1_handler!(
    application_group,
    "WSGIApplicationGroup",
    |_cmd, mconfig, value| {
        dir_config(mconfig).application_group = Some(value);
        Ok(())
    }
);

/// A per-directory On/Off setting.
macro_rules! dir_flag {
    ($fn_name:ident, $directive:literal, $field:ident) => {
        take1_handler!($fn_name, $directive, |_cmd, mconfig, value| {
            dir_config(mconfig).$field = Some(values::on_off($directive, &value)?);
            Ok(())
        });
    };
}

dir_flag!(error_override, "WSGIErrorOverride", error_override);
dir_flag!(enable_sendfile, "WSGIEnableSendfile", enable_sendfile);
dir_flag!(ignore_activity, "WSGIIgnoreActivity", ignore_activity);

take1_handler!(
    group_authoritative,
    "WSGIGroupAuthoritative",
    |_cmd, mconfig, value| {
        dir_config(mconfig).group_authoritative =
            Some(values::on_off("WSGIGroupAuthoritative", &value)?);
        Ok(())
    }
);

take1_handler!(
    script_reloading,
    "WSGIScriptReloading",
    |_cmd, mconfig, value| {
        dir_config(mconfig).script_reloading = Some(values::on_off("WSGIScriptReloading", &value)?);
        Ok(())
    }
);

/// A global On/Off setting stored in the main server's configuration.
macro_rules! global_flag {
    ($fn_name:ident, $directive:literal, $field:ident, $invert:expr) => {
        take1_handler!($fn_name, $directive, |cmd, _mconfig, value| {
            global_only(cmd)?;
            let on = values::on_off($directive, &value)?;
            server_config(cmd).$field = Some(on != $invert);
            Ok(())
        });
    };
}

global_flag!(
    lazy_initialization,
    "WSGILazyInitialization",
    lazy_initialization,
    false
);
global_flag!(
    dont_write_bytecode,
    "WSGIDontWriteBytecode",
    dont_write_bytecode,
    false
);
global_flag!(
    restrict_stdout,
    "WSGIRestrictStdout",
    restrict_stdout,
    false
);
global_flag!(restrict_stdin, "WSGIRestrictStdin", restrict_stdin, false);
global_flag!(
    restrict_embedded,
    "WSGIRestrictEmbedded",
    restrict_embedded,
    false
);

take1_handler!(process_group, "WSGIProcessGroup", |_cmd, mconfig, value| {
    if value.is_empty() {
        return Err("WSGIProcessGroup needs a process group name or %{GLOBAL}".into());
    }
    dir_config(mconfig).process_group = Some(value);
    Ok(())
});

take1_handler!(socket_prefix, "WSGISocketPrefix", |cmd, _mconfig, value| {
    global_only(cmd)?;
    if value.is_empty() {
        return Err("WSGISocketPrefix needs a path".into());
    }
    let path = CString::new(value.as_str())
        .map_err(|_| DirectiveError::from("WSGISocketPrefix: NUL in path"))?;
    let resolved = ap::ap_server_root_relative((*cmd).pool, path.as_ptr());
    if resolved.is_null() {
        return Err(refuse!("WSGISocketPrefix: invalid path '{value}'"));
    }
    server_config(cmd).socket_prefix = Some(std::path::PathBuf::from(c_str(resolved).into_owned()));
    Ok(())
});
global_flag!(
    restrict_signal,
    "WSGIRestrictSignal",
    restrict_signal,
    false
);

take1_handler!(
    python_hash_seed,
    "WSGIPythonHashSeed",
    |cmd, _mconfig, value| {
        global_only(cmd)?;
        server_config(cmd).python_hash_seed =
            Some(values::hash_seed("WSGIPythonHashSeed", &value)?);
        Ok(())
    }
);

take1_handler!(
    python_warnings,
    "WSGIPythonWarnings",
    |cmd, _mconfig, value| {
        global_only(cmd)?;
        let option = values::warning_option("WSGIPythonWarnings", &value)?;
        server_config(cmd).python_warnings.push(option);
        Ok(())
    }
);

global_flag!(
    socket_rotation,
    "WSGISocketRotation",
    socket_rotation,
    false
);
global_flag!(
    destroy_interpreter,
    "WSGIDestroyInterpreter",
    destroy_interpreter,
    false
);
global_flag!(
    verbose_debugging,
    "WSGIVerboseDebugging",
    verbose_debugging,
    false
);
global_flag!(server_metrics, "WSGIServerMetrics", server_metrics, false);
global_flag!(
    case_sensitivity,
    "WSGICaseSensitivity",
    case_sensitivity,
    false
);

take1_handler!(accept_mutex, "WSGIAcceptMutex", |cmd, _mconfig, value| {
    global_only(cmd)?;
    server_config(cmd).accept_mutex = Some(values::accept_mutex(&value)?);
    Ok(())
});

take1_handler!(python_eggs, "WSGIPythonEggs", |cmd, _mconfig, value| {
    global_only(cmd)?;
    if value.is_empty() {
        return Err("WSGIPythonEggs needs a directory".into());
    }
    server_config(cmd).python_eggs = Some(std::path::PathBuf::from(value));
    Ok(())
});

take1_handler!(
    newrelic_config_file,
    "WSGINewRelicConfigFile",
    |cmd, _mconfig, value| {
        global_only(cmd)?;
        if value.is_empty() {
            return Err("WSGINewRelicConfigFile needs a file".into());
        }
        server_config(cmd).newrelic_config_file = Some(std::path::PathBuf::from(value));
        Ok(())
    }
);

take1_handler!(
    newrelic_environment,
    "WSGINewRelicEnvironment",
    |cmd, _mconfig, value| {
        global_only(cmd)?;
        server_config(cmd).newrelic_environment = Some(value);
        Ok(())
    }
);

take1_handler!(
    switch_interval,
    "WSGISwitchInterval",
    |cmd, _mconfig, value| {
        global_only(cmd)?;
        server_config(cmd).switch_interval =
            Some(newer::switch_interval("WSGISwitchInterval", &value)?);
        Ok(())
    }
);

take1_handler!(slow_requests, "WSGISlowRequests", |cmd, _mconfig, value| {
    global_only(cmd)?;
    server_config(cmd).slow_requests = Some(newer::slow_requests("WSGISlowRequests", &value)?);
    Ok(())
});

script_handler!(
    telemetry_service,
    "WSGITelemetryService",
    |cmd, _mconfig, args| {
        global_only(cmd)?;
        let service = newer::telemetry_service("WSGITelemetryService", &args)?;
        crate::apache::log::server(
            (*cmd).server,
            wsgi_core::level::Level::Warning,
            &crate::apache::log::ours(&format!(
                "WSGITelemetryService: this module has no telemetry reporter; nothing is \
                 sent to {}",
                service.socket
            )),
        );
        server_config(cmd).telemetry_service = Some(service);
        Ok(())
    }
);

script_handler!(
    telemetry_options,
    "WSGITelemetryOptions",
    |cmd, _mconfig, args| {
        global_only(cmd)?;
        let config = server_config(cmd);
        let flags = std::mem::take(&mut config.telemetry_options);
        config.telemetry_options = newer::telemetry_options("WSGITelemetryOptions", &args, flags)?;
        Ok(())
    }
);

/// A mod_wsgi 6 switch the Python this module runs may not support: Off
/// is accepted; On stops Apache naming the Python it needs.
fn needs_newer_python(
    directive: &str,
    value: &str,
    need: (u32, u32),
    what: &str,
) -> Result<(), DirectiveError> {
    if !values::on_off(directive, value)? {
        return Ok(());
    }
    let have = crate::build_info::PYTHON_VERSION;
    if !newer::python_at_least(have, need) {
        return Err(refuse!(
            "{directive} On needs {what} Python {}.{} or later; this module runs Python {have}",
            need.0,
            need.1
        ));
    }
    Err(refuse!(
        "{directive} On is not supported by this module yet (Python {have})"
    ))
}

take1_handler!(
    per_interpreter_gil,
    "WSGIPerInterpreterGIL",
    |cmd, _mconfig, value| {
        global_only(cmd)?;
        needs_newer_python("WSGIPerInterpreterGIL", &value, (3, 12), "a")
    }
);

take1_handler!(
    free_threading,
    "WSGIFreeThreading",
    |cmd, _mconfig, value| {
        global_only(cmd)?;
        needs_newer_python("WSGIFreeThreading", &value, (3, 13), "a free-threaded")
    }
);

/// The table handed to httpd in the module structure.
#[repr(transparent)]
pub struct CommandTable(pub [ap::command_rec; 52]);

// SAFETY: the table is immutable and only holds pointers to 'static data
// and functions.
unsafe impl Sync for CommandTable {}

const fn raw_args(
    name: &'static std::ffi::CStr,
    func: unsafe extern "C" fn(*mut ap::cmd_parms, *mut c_void, *const c_char) -> *const c_char,
    info: *mut c_void,
    context: u32,
    help: &'static std::ffi::CStr,
) -> ap::command_rec {
    ap::command_rec {
        name: name.as_ptr(),
        func: ap::cmd_func {
            raw_args: Some(func),
        },
        cmd_data: info,
        req_override: context as i32,
        args_how: ap::cmd_how_RAW_ARGS,
        errmsg: help.as_ptr(),
    }
}

const fn take1(
    name: &'static std::ffi::CStr,
    func: unsafe extern "C" fn(*mut ap::cmd_parms, *mut c_void, *const c_char) -> *const c_char,
    context: u32,
    help: &'static std::ffi::CStr,
) -> ap::command_rec {
    ap::command_rec {
        name: name.as_ptr(),
        func: ap::cmd_func { take1: Some(func) },
        cmd_data: std::ptr::null_mut(),
        req_override: context as i32,
        args_how: ap::cmd_how_TAKE1,
        errmsg: help.as_ptr(),
    }
}

/// Marks the Match form of the script alias handler (any non-null pointer).
static MATCH_MARKER: u8 = 0;

pub static COMMANDS: CommandTable = CommandTable([
    raw_args(
        c"WSGIScriptAlias",
        script_alias_directive,
        std::ptr::null_mut(),
        ap::RSRC_CONF,
        c"URL-path file-or-directory [process-group=...] [application-group=...] [callable-object=...] [pass-authorization=On|Off]",
    ),
    raw_args(
        c"WSGIScriptAliasMatch",
        script_alias_directive,
        &MATCH_MARKER as *const u8 as *mut c_void,
        ap::RSRC_CONF,
        c"regex file-or-directory [process-group=...] [application-group=...] [callable-object=...] [pass-authorization=On|Off]",
    ),
    take1(c"WSGIPythonOptimize", python_optimize, ap::RSRC_CONF, c"0|1|2: Python optimisation level"),
    take1(c"WSGIPythonHome", python_home, ap::RSRC_CONF, c"Python prefix or virtual environment directory"),
    take1(c"WSGIPythonPath", python_path, ap::RSRC_CONF, c"directories to add to sys.path, separated by ':'"),
    take1(
        c"WSGICallableObject",
        callable_object,
        ap::OR_FILEINFO,
        c"name of the WSGI application object in the script",
    ),
    take1(
        c"WSGIPassAuthorization",
        pass_authorization,
        ap::OR_FILEINFO,
        c"On|Off: pass the Authorization header to the application",
    ),
    take1(
        c"WSGIPassApacheRequest",
        pass_apache_request,
        ap::ACCESS_CONF | ap::RSRC_CONF,
        c"On|Off: put Apache's request_rec in the environ (embedded mode)",
    ),
    take1(c"WSGIChunkedRequest", chunked_request, ap::OR_FILEINFO, c"On|Off: accept chunked request bodies"),
    take1(c"WSGIMapHEADToGET", map_head_to_get, ap::OR_FILEINFO, c"On|Off|Auto: present HEAD requests as GET"),
    take1(
        c"WSGIApplicationGroup",
        application_group,
        ap::ACCESS_CONF | ap::RSRC_CONF,
        c"application group (Python sub-interpreter) name, or %{GLOBAL}, %{SERVER}, %{HOST}, %{RESOURCE}, %{ENV:name}",
    ),
    take1(c"WSGIScriptReloading", script_reloading, ap::OR_FILEINFO, c"On|Off: reload scripts whose file changed"),
    raw_args(
        c"WSGIImportScript",
        import_script_directive,
        std::ptr::null_mut(),
        ap::RSRC_CONF,
        c"path process-group=... application-group=...: load a script when a process starts",
    ),
    take1(c"WSGILazyInitialization", lazy_initialization, ap::RSRC_CONF, c"On|Off: initialise Python only after fork"),
    take1(c"WSGIPythonHashSeed", python_hash_seed, ap::RSRC_CONF, c"random or 0..4294967295: Python hash seed"),
    take1(c"WSGIDontWriteBytecode", dont_write_bytecode, ap::RSRC_CONF, c"On|Off: do not write .pyc files"),
    take1(c"WSGIPythonWarnings", python_warnings, ap::RSRC_CONF, c"a Python -W warning option (repeatable)"),
    take1(c"WSGIRestrictStdout", restrict_stdout, ap::RSRC_CONF, c"On|Off: make sys.stdout raise on use"),
    take1(c"WSGIRestrictStdin", restrict_stdin, ap::RSRC_CONF, c"On|Off: make sys.stdin raise on use"),
    take1(c"WSGIRestrictSignal", restrict_signal, ap::RSRC_CONF, c"On|Off: ignore signal.signal() registrations"),
    raw_args(
        c"WSGIDaemonProcess",
        daemon_process_directive,
        std::ptr::null_mut(),
        ap::RSRC_CONF,
        c"name [options]: a group of daemon processes to run applications in",
    ),
    take1(
        c"WSGIProcessGroup",
        process_group,
        ap::ACCESS_CONF | ap::RSRC_CONF,
        c"daemon process group to run the application in, or %{GLOBAL} for Apache's children",
    ),
    raw_args(
        c"WSGIRestrictProcess",
        restrict_process_directive,
        std::ptr::null_mut(),
        ap::ACCESS_CONF | ap::RSRC_CONF,
        c"group [group...]: the process groups this location may use",
    ),
    take1(c"WSGIRestrictEmbedded", restrict_embedded, ap::RSRC_CONF, c"On|Off: refuse to run applications in Apache's children"),
    take1(c"WSGISocketPrefix", socket_prefix, ap::RSRC_CONF, c"path prefix of the daemon process sockets"),
    take1(c"WSGISocketRotation", socket_rotation, ap::RSRC_CONF, c"On|Off: new daemon socket names at every restart"),
    take1(c"WSGIDestroyInterpreter", destroy_interpreter, ap::RSRC_CONF, c"On|Off: finalise Python when a process exits"),
    take1(c"WSGIVerboseDebugging", verbose_debugging, ap::RSRC_CONF, c"On|Off: log daemon thread starts and exits at info level"),
    take1(c"WSGIServerMetrics", server_metrics, ap::RSRC_CONF, c"On|Off: allow mod_wsgi.server_metrics()"),
    take1(c"WSGIAcceptMutex", accept_mutex, ap::RSRC_CONF, c"default|flock|fcntl|sysvsem|posixsem|pthread: accepted, not needed"),
    take1(c"WSGICaseSensitivity", case_sensitivity, ap::RSRC_CONF, c"On|Off: whether script paths differing only in case are different files"),
    take1(c"WSGIPythonEggs", python_eggs, ap::RSRC_CONF, c"directory: PYTHON_EGG_CACHE for embedded interpreters"),
    take1(
        c"WSGISwitchInterval",
        switch_interval,
        ap::RSRC_CONF,
        c"seconds: sys.setswitchinterval() in Apache's children (mod_wsgi 6)",
    ),
    take1(
        c"WSGISlowRequests",
        slow_requests,
        ap::RSRC_CONF,
        c"seconds: slow-request telemetry threshold (mod_wsgi 6; no telemetry here)",
    ),
    raw_args(
        c"WSGITelemetryService",
        telemetry_service,
        std::ptr::null_mut(),
        ap::RSRC_CONF,
        c"unix:/path [interval=S]: telemetry ingester (mod_wsgi 6; no telemetry here)",
    ),
    raw_args(
        c"WSGITelemetryOptions",
        telemetry_options,
        std::ptr::null_mut(),
        ap::RSRC_CONF,
        c"+Flag -Flag | None | All: telemetry captures (mod_wsgi 6; no telemetry here)",
    ),
    take1(
        c"WSGIPerInterpreterGIL",
        per_interpreter_gil,
        ap::RSRC_CONF,
        c"On|Off: a GIL per sub-interpreter (mod_wsgi 6; needs Python 3.12)",
    ),
    take1(
        c"WSGIFreeThreading",
        free_threading,
        ap::RSRC_CONF,
        c"On|Off: run Python without the GIL (mod_wsgi 6; needs free-threaded Python 3.13)",
    ),
    take1(
        c"WSGINewRelicConfigFile",
        newrelic_config_file,
        ap::RSRC_CONF,
        c"file: start the New Relic agent with this configuration in Apache's children",
    ),
    take1(
        c"WSGINewRelicEnvironment",
        newrelic_environment,
        ap::RSRC_CONF,
        c"name: the New Relic agent's environment (section of its configuration file)",
    ),
    take1(
        c"WSGIErrorOverride",
        error_override,
        ap::OR_FILEINFO,
        c"On|Off: Apache's ErrorDocument for daemon-mode error responses",
    ),
    take1(
        c"WSGIEnableSendfile",
        enable_sendfile,
        ap::OR_FILEINFO,
        c"On|Off: send wsgi.file_wrapper files with sendfile()",
    ),
    take1(
        c"WSGIIgnoreActivity",
        ignore_activity,
        ap::OR_FILEINFO,
        c"On|Off: requests here do not reset a daemon's inactivity-timeout",
    ),
    raw_args(
        c"WSGITrustedProxyHeaders",
        trusted_proxy_headers,
        std::ptr::null_mut(),
        ap::OR_FILEINFO,
        c"header [header...]: proxy headers to honour (X-Forwarded-For, X-Forwarded-Proto, ...)",
    ),
    raw_args(
        c"WSGITrustedProxies",
        trusted_proxies_directive,
        std::ptr::null_mut(),
        ap::OR_FILEINFO,
        c"address[/mask] [...]: the proxies whose WSGITrustedProxyHeaders are honoured",
    ),
    raw_args(
        c"WSGIAccessScript",
        access_script,
        std::ptr::null_mut(),
        ap::OR_AUTHCFG,
        c"path [application-group=...]: script whose allow_access(environ, host) controls access",
    ),
    raw_args(
        c"WSGIAuthUserScript",
        auth_user_script,
        std::ptr::null_mut(),
        ap::OR_AUTHCFG,
        c"path [application-group=...]: script for the 'wsgi' authn provider (check_password, get_realm_hash)",
    ),
    raw_args(
        c"WSGIAuthGroupScript",
        auth_group_script,
        std::ptr::null_mut(),
        ap::OR_AUTHCFG,
        c"path [application-group=...]: script for 'Require wsgi-group' (groups_for_user)",
    ),
    take1(
        c"WSGIGroupAuthoritative",
        group_authoritative,
        ap::OR_AUTHCFG,
        c"On|Off: accepted; Apache 2.4's Require containers decide how authorisations combine",
    ),
    raw_args(
        c"WSGIDispatchScript",
        dispatch_script,
        std::ptr::null_mut(),
        ap::ACCESS_CONF | ap::RSRC_CONF,
        c"path [application-group=...]: script choosing process group, application group and callable per request",
    ),
    raw_args(
        c"WSGIHandlerScript",
        handler_script,
        std::ptr::null_mut(),
        ap::ACCESS_CONF | ap::RSRC_CONF,
        c"name path [process-group=...] [application-group=...] [pass-authorization=On|Off]: a handler for AddHandler/SetHandler",
    ),
    ap::command_rec {
        name: std::ptr::null(),
        func: ap::cmd_func { no_args: None },
        cmd_data: std::ptr::null_mut(),
        req_override: 0,
        args_how: ap::cmd_how_RAW_ARGS,
        errmsg: std::ptr::null(),
    },
]);
