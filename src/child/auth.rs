//! The access and auth phases: WSGIAccessScript's access checker, the
//! `wsgi` authn provider (AuthBasicProvider / AuthDigestProvider, with
//! WSGIAuthUserScript) and the `wsgi-group` authz provider (`Require
//! wsgi-group`, with WSGIAuthGroupScript). They run here, in the Apache
//! child, whichever process group serves the request.
//!
//! A script that fails (cannot load, raises, answers with the wrong type)
//! makes the request a 500 with the traceback in the error log.

use std::ffi::{CStr, c_void};
use std::os::raw::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use apache_sys as ap;

use crate::apache::c_str;
use crate::apache::log;
use crate::apache::request::Request;
use crate::child::backend::RequestLogger;
use crate::child::handler::NameExpander;
use crate::config::access::dir_config;
use crate::context;
use crate::wsgi::auth::{AuthAnswer, AuthCall, AuthFailed, AuthScript, run_auth_script};
use wsgi_core::directives::script_file::ScriptFile;
use wsgi_core::directives::words::words;
use wsgi_core::environ::CgiEnviron;
use wsgi_core::level::Level;

/// Runs `body` with the script ready to run for `request` (its
/// application group expanded, its environ, the request's log), or logs
/// why it cannot run. Shared with the dispatch script.
pub fn with_hook_script<R>(
    request: &Request<'_>,
    script: &ScriptFile,
    environ: &CgiEnviron,
    body: impl FnOnce(&AuthScript<'_>, &RequestLogger) -> Result<R, AuthFailed>,
) -> Result<R, AuthFailed> {
    if let Err(why) = context::python_status() {
        request.log(
            Level::Error,
            &log::ours(&format!(
                "Python is not available in this process ({why}): {}",
                script.path
            )),
        );
        return Err(AuthFailed);
    }
    // SAFETY: the request is live; its directory configuration is ours.
    let dir = unsafe { dir_config(request.raw()) };
    let application_group = NameExpander::new(request)
        .group(script.application_group.as_deref().unwrap_or("%{GLOBAL}"));
    // SAFETY: the request outlives the logger, which lives for this call.
    let logger = unsafe { RequestLogger::new(request.raw()) };
    body(
        &AuthScript {
            path: &script.path,
            application_group: &application_group,
            reloading: dir.script_reloading.unwrap_or(true),
            case_sensitive_paths: context::case_sensitive_paths(),
            environ,
            facts: context::facts(),
            apache_request: if dir.pass_apache_request.unwrap_or(false) {
                request.raw().cast()
            } else {
                std::ptr::null_mut()
            },
        },
        &logger,
    )
}

/// Runs `call` in the script of the request's configuration, or logs why
/// it cannot.
fn run(
    request: &Request<'_>,
    script: Option<&ScriptFile>,
    what: &str,
    call: AuthCall<'_>,
) -> Result<AuthAnswer, AuthFailed> {
    let Some(script) = script else {
        request.log(
            Level::Error,
            &log::ours(&format!("Location of WSGI {what} script not provided.")),
        );
        return Err(AuthFailed);
    };
    let environ = request.auth_environ();
    with_hook_script(request, script, &environ, |script, logger| {
        run_auth_script(script, call, logger)
    })
}

/// The access checker: WSGIAccessScript's `allow_access(environ, host)`.
///
/// # Safety
/// Called by httpd with a live request.
pub unsafe extern "C" fn access_checker(r: *mut ap::request_rec) -> c_int {
    // SAFETY: httpd passes a live request.
    guarded(r, ap::HTTP_INTERNAL_SERVER_ERROR as c_int, || unsafe {
        check_access(&Request::new(r))
    })
}

fn check_access(request: &Request<'_>) -> c_int {
    // SAFETY: the request is live; its directory configuration is ours.
    let dir = unsafe { dir_config(request.raw()) };
    let Some(script) = &dir.access_script else {
        return ap::DECLINED;
    };
    let host = request.client_host();
    match run(
        request,
        Some(script),
        "host access",
        AuthCall::AllowAccess { host: &host },
    ) {
        Ok(AuthAnswer::Allowed) => ap::OK as c_int,
        Ok(AuthAnswer::Unknown) => ap::DECLINED,
        Ok(_) => {
            request.log(
                Level::Error,
                &log::ours(&format!(
                    "Client denied by server configuration: '{}'.",
                    request.filename()
                )),
            );
            ap::HTTP_FORBIDDEN as c_int
        }
        Err(AuthFailed) => ap::HTTP_INTERNAL_SERVER_ERROR as c_int,
    }
}

/// Runs a hook body, turning a panic into `on_panic` with a log line
/// rather than unwinding into httpd.
fn guarded<T>(r: *mut ap::request_rec, on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        let message = log::ours("internal error in an access or auth hook");
        // SAFETY: httpd passed a live request.
        unsafe { log::request(r, Level::Error, &message) };
        on_panic
    })
}

/// `check_password` of the `wsgi` authn provider (Basic).
unsafe extern "C" fn check_password(
    r: *mut ap::request_rec,
    user: *const c_char,
    password: *const c_char,
) -> ap::authn_status {
    guarded(r, ap::authn_status_AUTH_GENERAL_ERROR, || {
        // SAFETY: httpd passes a live request and NUL-terminated strings
        // of its pool.
        let (request, user, password) = unsafe { (Request::new(r), c_str(user), c_str(password)) };
        // SAFETY: as above.
        let dir = unsafe { dir_config(r) };
        let call = AuthCall::CheckPassword {
            user: &user,
            password: &password,
        };
        match run(
            &request,
            dir.auth_user_script.as_ref(),
            "user authentication",
            call,
        ) {
            Ok(AuthAnswer::Allowed) => ap::authn_status_AUTH_GRANTED,
            Ok(AuthAnswer::UserNamed(name)) => {
                request.set_user(&name);
                ap::authn_status_AUTH_GRANTED
            }
            Ok(AuthAnswer::Unknown) => ap::authn_status_AUTH_USER_NOT_FOUND,
            Ok(_) => ap::authn_status_AUTH_DENIED,
            Err(AuthFailed) => ap::authn_status_AUTH_GENERAL_ERROR,
        }
    })
}

/// `get_realm_hash` of the `wsgi` authn provider (Digest).
unsafe extern "C" fn get_realm_hash(
    r: *mut ap::request_rec,
    user: *const c_char,
    realm: *const c_char,
    hash: *mut *mut c_char,
) -> ap::authn_status {
    guarded(r, ap::authn_status_AUTH_GENERAL_ERROR, || {
        // SAFETY: httpd passes a live request and NUL-terminated strings
        // of its pool.
        let (request, user, realm) = unsafe { (Request::new(r), c_str(user), c_str(realm)) };
        // SAFETY: as above.
        let dir = unsafe { dir_config(r) };
        let call = AuthCall::GetRealmHash {
            user: &user,
            realm: &realm,
        };
        match run(
            &request,
            dir.auth_user_script.as_ref(),
            "user authentication",
            call,
        ) {
            Ok(AuthAnswer::RealmHash(value)) => {
                // SAFETY: httpd passes a place for the answer; the copy
                // lives in the request's pool.
                unsafe {
                    *hash = crate::apache::pool::strdup(request.pool(), &value).cast_mut();
                }
                ap::authn_status_AUTH_USER_FOUND
            }
            Ok(AuthAnswer::Unknown) => ap::authn_status_AUTH_USER_NOT_FOUND,
            Ok(_) | Err(AuthFailed) => ap::authn_status_AUTH_GENERAL_ERROR,
        }
    })
}

/// `Require wsgi-group NAME...`: granted when `groups_for_user` lists one
/// of the names.
unsafe extern "C" fn check_authorization(
    r: *mut ap::request_rec,
    require_line: *const c_char,
    _parsed: *const c_void,
) -> ap::authz_status {
    guarded(r, ap::authz_status_AUTHZ_GENERAL_ERROR, || {
        // SAFETY: httpd passes a live request and the Require line's
        // arguments, a string of the configuration pool.
        let (request, wanted) = unsafe { (Request::new(r), c_str(require_line)) };
        let Some(user) = request.user() else {
            return ap::authz_status_AUTHZ_DENIED_NO_USER;
        };
        // SAFETY: as above.
        let dir = unsafe { dir_config(r) };
        let call = AuthCall::GroupsForUser { user: &user };
        let groups = match run(
            &request,
            dir.auth_group_script.as_ref(),
            "group authorization",
            call,
        ) {
            Ok(AuthAnswer::Groups(groups)) => groups,
            Ok(_) | Err(AuthFailed) => return ap::authz_status_AUTHZ_GENERAL_ERROR,
        };
        let refuse = |why: &str| {
            request.log(
                Level::Error,
                &log::ours(&format!(
                    "Authorization of user '{user}' to access '{}' failed. {why}.",
                    request.uri()
                )),
            );
            ap::authz_status_AUTHZ_DENIED
        };
        if groups.is_empty() {
            return refuse("User is not a member of any groups");
        }
        if words(&wanted)
            .iter()
            .any(|name| groups.iter().any(|g| g == name.as_bytes()))
        {
            ap::authz_status_AUTHZ_GRANTED
        } else {
            refuse("User is not a member of designated groups")
        }
    })
}

/// The provider records httpd keeps pointers to.
static AUTHN_PROVIDER: ap::authn_provider = ap::authn_provider {
    check_password: Some(check_password),
    get_realm_hash: Some(get_realm_hash),
};

static AUTHZ_PROVIDER: ap::authz_provider = ap::authz_provider {
    check_authorization: Some(check_authorization),
    parse_require_line: None,
};

const AUTHN_GROUP: &CStr = c"authn";
const AUTHZ_GROUP: &CStr = c"authz";
const PROVIDER_VERSION: &CStr = c"0";

/// Registers the access checker and both providers.
///
/// # Safety
/// Called from register_hooks with the pool httpd passes it.
pub unsafe fn register(pool: *mut ap::apr_pool_t) {
    static BEFORE: crate::apache::module_record::ModuleList<2> =
        crate::apache::module_record::ModuleList([c"mod_ssl.c".as_ptr(), std::ptr::null()]);
    static AFTER: crate::apache::module_record::ModuleList<2> =
        crate::apache::module_record::ModuleList([c"mod_authz_host.c".as_ptr(), std::ptr::null()]);
    // SAFETY: httpd is building its hook and provider tables; the ordering
    // lists, names and provider records are 'static.
    unsafe {
        ap::ap_hook_access_checker(
            Some(access_checker),
            BEFORE.0.as_ptr(),
            AFTER.0.as_ptr(),
            ap::APR_HOOK_MIDDLE as c_int,
        );
        ap::ap_register_auth_provider(
            pool,
            AUTHN_GROUP.as_ptr(),
            c"wsgi".as_ptr(),
            PROVIDER_VERSION.as_ptr(),
            (&raw const AUTHN_PROVIDER).cast(),
            ap::AP_AUTH_INTERNAL_PER_CONF as c_int,
        );
        ap::ap_register_auth_provider(
            pool,
            AUTHZ_GROUP.as_ptr(),
            c"wsgi-group".as_ptr(),
            PROVIDER_VERSION.as_ptr(),
            (&raw const AUTHZ_PROVIDER).cast(),
            ap::AP_AUTH_INTERNAL_PER_CONF as c_int,
        );
    }
}
