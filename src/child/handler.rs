//! The content handler: checks the request as mod_wsgi does, then runs the
//! script's application in this process.

use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use apache_sys as ap;

use crate::apache::{c_str, log, table};
use crate::child::backend::{RequestBackend, RequestLogger};
use crate::child::environ::{self, WsgiKeys};
use crate::child::{HANDLER, HANDLER_MIME, notes};
use crate::config::access::dir_config;
use crate::config::{AliasOverrides, RequestConfig};
use crate::context;
use crate::wsgi::dispatch::{Target, dispatch};
use crate::wsgi::run::{Completion, RunRequest};
use crate::wsgi::script::OnChange;
use wsgi_core::directives::groups::{GroupContext, expand_callable, expand_group};
use wsgi_core::level::Level;

const INTERNAL_ERROR: c_int = ap::HTTP_INTERNAL_SERVER_ERROR as c_int;

/// The content handler hook.
///
/// # Safety
/// Called by httpd with a live request.
pub unsafe extern "C" fn handler(r: *mut ap::request_rec) -> c_int {
    // SAFETY: httpd passes a live request.
    match catch_unwind(AssertUnwindSafe(|| unsafe { handle(r) })) {
        Ok(status) => status,
        Err(_) => {
            let message = log::ours("internal error while handling the request");
            // SAFETY: as above.
            unsafe { log::request(r, Level::Error, &message) };
            INTERNAL_ERROR
        }
    }
}

/// Logs a problem with the script, naming it as mod_wsgi does.
///
/// # Safety
/// `r` must be live.
unsafe fn script_error(r: *mut ap::request_rec, what: &str, filename: &str) {
    let message = log::ours(&format!("{what}: {filename}"));
    // SAFETY: per the contract.
    unsafe { log::request(r, Level::Error, &message) };
}

/// The WSGIScriptAlias options noted at translate time.
unsafe fn alias_overrides(r: *const ap::request_rec) -> AliasOverrides {
    // SAFETY: r->notes is live.
    unsafe {
        let note =
            |key| table::get((*r).notes, key).map(|v| String::from_utf8_lossy(v).into_owned());
        AliasOverrides {
            process_group: note(notes::PROCESS_GROUP),
            application_group: note(notes::APPLICATION_GROUP),
            callable_object: note(notes::CALLABLE_OBJECT),
            pass_authorization: note(notes::PASS_AUTHORIZATION).map(|v| v == "1"),
        }
    }
}

/// Checks on the request body framing, before the application runs.
unsafe fn check_body(
    r: *mut ap::request_rec,
    config: &RequestConfig,
    filename: &str,
) -> Result<(), c_int> {
    // SAFETY: r and its tables are live.
    unsafe {
        if let Some(encoding) = table::get((*r).headers_in, "Transfer-Encoding") {
            if !encoding.eq_ignore_ascii_case(b"chunked") {
                script_error(
                    r,
                    &format!(
                        "Unexpected value for Transfer-Encoding of '{}' supplied. Only 'chunked' supported",
                        String::from_utf8_lossy(encoding)
                    ),
                    filename,
                );
                return Err(ap::HTTP_NOT_IMPLEMENTED as c_int);
            }
            if !config.chunked_request {
                script_error(
                    r,
                    "Received request requiring chunked transfer encoding, but optional support \
                     for chunked transfer encoding has not been enabled (WSGIChunkedRequest)",
                    filename,
                );
                return Err(ap::HTTP_LENGTH_REQUIRED as c_int);
            }
            if table::get((*r).headers_in, "Content-Length").is_some() {
                script_error(
                    r,
                    "Unexpected Content-Length header supplied where Transfer-Encoding was specified as 'chunked'",
                    filename,
                );
                return Err(ap::HTTP_BAD_REQUEST as c_int);
            }
        }
        if let Some(length) = table::get((*r).headers_in, "Content-Length") {
            let parsed = std::str::from_utf8(length)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
            let Some(length) = parsed else {
                script_error(
                    r,
                    &format!(
                        "Invalid Content-Length header value of '{}' was supplied",
                        String::from_utf8_lossy(length)
                    ),
                    filename,
                );
                return Err(ap::HTTP_BAD_REQUEST as c_int);
            };
            let limit = ap::ap_get_limit_req_body(r);
            if limit > 0 && length > limit as u64 {
                script_error(
                    r,
                    &format!("Request body of {length} bytes exceeds LimitRequestBody of {limit}"),
                    filename,
                );
                return Err(ap::HTTP_REQUEST_ENTITY_TOO_LARGE as c_int);
            }
        }
        Ok(())
    }
}

/// The script's modification time (µs) from httpd's stat of it during the
/// request's directory walk, if it made one.
///
/// # Safety
/// `r` must be the live request being handled.
pub unsafe fn script_mtime(r: *const ap::request_rec) -> Option<u64> {
    // SAFETY: r is live (the caller's contract).
    let finfo = unsafe { &(*r).finfo };
    (finfo.valid & ap::APR_FINFO_MTIME as i32 != 0).then(|| u64::try_from(finfo.mtime).unwrap_or(0))
}

unsafe fn handle(r: *mut ap::request_rec) -> c_int {
    // SAFETY: r and everything reachable from it are live for the request.
    unsafe {
        let handler_name = c_str((*r).handler);
        if handler_name != HANDLER && handler_name != HANDLER_MIME {
            return ap::DECLINED;
        }
        let filename = c_str((*r).filename).into_owned();
        let aliased = table::get((*r).notes, notes::FORCED_TYPE) == Some(HANDLER.as_bytes());
        if !aliased && (ap::ap_allow_options(r) & ap::OPT_EXECCGI as i32) == 0 {
            script_error(r, "Options ExecCGI is off in this directory", &filename);
            return ap::HTTP_FORBIDDEN as c_int;
        }
        match (*r).finfo.filetype {
            ap::apr_filetype_e_APR_NOFILE => {
                script_error(
                    r,
                    "Target WSGI script not found or unable to stat",
                    &filename,
                );
                return ap::HTTP_NOT_FOUND as c_int;
            }
            ap::apr_filetype_e_APR_DIR => {
                script_error(
                    r,
                    "Attempt to invoke directory as WSGI application",
                    &filename,
                );
                return ap::HTTP_FORBIDDEN as c_int;
            }
            _ => {}
        }
        let config = RequestConfig::resolve(dir_config(r), &alias_overrides(r));
        if (*r).used_path_info == ap::AP_REQ_REJECT_PATH_INFO as i32
            && !c_str((*r).path_info).is_empty()
        {
            script_error(r, "AcceptPathInfo off disallows user's path", &filename);
            return ap::HTTP_NOT_FOUND as c_int;
        }
        if let Err(status) = check_body(r, &config, &filename) {
            return status;
        }

        // Names that may refer to the request are expanded once the CGI
        // variables (SCRIPT_NAME in particular) are known.
        let lookup = |name: &str| environ::lookup_env(r, name);
        let hostname = c_str((*(*r).server).server_hostname).into_owned();
        let request_host = c_str((*r).hostname).into_owned();
        let script_name = {
            let uri = c_str((*r).uri).into_owned();
            let path_info = c_str((*r).path_info).into_owned();
            let end = if !path_info.is_empty() && uri.ends_with(&path_info) {
                uri.len() - path_info.len()
            } else {
                uri.len()
            };
            String::from_utf8_lossy(&wsgi_core::environ::collapse_slashes(
                &uri.as_bytes()[..end],
            ))
            .into_owned()
        };
        let context = GroupContext {
            server_hostname: &hostname,
            port: ap::ap_get_server_port(r),
            request_hostname: &request_host,
            script_name: &script_name,
            env: &lookup,
        };
        let process_group = expand_group(&config.process_group, &context);
        let application_group = expand_group(&config.application_group, &context);
        let callable = expand_callable(&config.callable_object, &context);

        let cgi = environ::build(
            r,
            &WsgiKeys {
                config: &config,
                process_group: &process_group,
                application_group: &application_group,
                callable_object: &callable,
            },
        );

        if let Some(allowed) = &config.restrict_process
            && !allowed.contains(&process_group)
        {
            script_error(
                r,
                &format!(
                    "Daemon process called '{process_group}' cannot be accessed by this WSGI \
                     application as not a member of allowed groups"
                ),
                &filename,
            );
            return INTERNAL_ERROR;
        }
        if !process_group.is_empty() {
            let Some(group) = crate::groups::find(&process_group) else {
                script_error(
                    r,
                    &format!("No WSGI daemon process called '{process_group}' has been configured"),
                    &filename,
                );
                return INTERNAL_ERROR;
            };
            if let Some(owner) = group.script_owner {
                let finfo = &(*r).finfo;
                let (matches, what) = match owner {
                    crate::groups::ScriptOwner::User(uid) => (
                        finfo.valid & ap::APR_FINFO_USER as i32 != 0 && finfo.user == uid,
                        format!(
                            "User of WSGI script file does not match required user for daemon process, uid={}",
                            finfo.user
                        ),
                    ),
                    crate::groups::ScriptOwner::Group(gid) => (
                        finfo.valid & ap::APR_FINFO_GROUP as i32 != 0 && finfo.group == gid,
                        format!(
                            "Group of WSGI script file does not match required group for daemon process, gid={}",
                            finfo.group
                        ),
                    ),
                };
                if !matches {
                    script_error(r, &what, &filename);
                    return ap::HTTP_FORBIDDEN as c_int;
                }
            }
            if !group.accessible_from(&hostname) {
                script_error(
                    r,
                    &format!(
                        "Daemon process called '{process_group}' cannot be accessed by this WSGI application"
                    ),
                    &filename,
                );
                return INTERNAL_ERROR;
            }
            return crate::child::relay::forward(r, &group, cgi, &filename);
        }
        if context::embedded_restricted() {
            script_error(
                r,
                "Embedded mode of mod_wsgi disabled by runtime configuration (WSGIRestrictEmbedded On)",
                &filename,
            );
            return INTERNAL_ERROR;
        }
        if let Err(why) = context::python_status() {
            script_error(
                r,
                &format!("Python is not available in this process ({why})"),
                &filename,
            );
            return INTERNAL_ERROR;
        }
        let mut backend = RequestBackend::new(r);
        let logger = RequestLogger::new(r);
        let request = RunRequest {
            script: &filename,
            cgi: &cgi,
            facts: context::facts(),
            head_request: (*r).header_only != 0,
            script_mtime: script_mtime(r),
        };
        let completion = dispatch(
            &Target {
                application_group: &application_group,
                callable: &callable,
                on_change: if config.script_reloading {
                    OnChange::Reload
                } else {
                    OnChange::Keep
                },
            },
            &request,
            &mut backend,
            &logger,
        );
        backend.finish(matches!(completion, Completion::Responded));
        match completion {
            Completion::Responded => ap::OK as c_int,
            Completion::Failed | Completion::RestartRequired => INTERNAL_ERROR,
            Completion::TimedOut => ap::HTTP_GATEWAY_TIME_OUT as c_int,
        }
    }
}
