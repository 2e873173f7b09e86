//! The content handler: checks the request as mod_wsgi does, then runs the
//! script's application in this process.

use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use apache_sys as ap;

use std::sync::Arc;

use crate::apache::log;
use crate::apache::request::{FileKind, Request};
use crate::child::auth::with_hook_script;
use crate::child::backend::{RequestBackend, RequestLogger};
use crate::child::environ::{self, WsgiKeys};
use crate::child::{HANDLER, HANDLER_MIME, notes};
use crate::config::access::dir_config;
use crate::config::{AliasOverrides, RequestConfig};
use crate::context;
use crate::groups::metrics_table::GroupMetrics;
use crate::groups::{DaemonGroup, ScriptOwner};
use crate::wsgi::dispatch::{Target, dispatch};
use crate::wsgi::dispatch_script::run_dispatch_script;
use crate::wsgi::run::{Completion, RunRequest};
use crate::wsgi::script::OnChange;
use wsgi_core::directives::groups::{GroupContext, expand_callable, expand_group};
use wsgi_core::directives::script_file::ScriptFile;
use wsgi_core::environ::{CgiEnviron, collapse_slashes};
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
fn script_error(request: &Request<'_>, what: &str, filename: &str) {
    request.log(Level::Error, &log::ours(&format!("{what}: {filename}")));
}

/// The WSGIScriptAlias options noted at translate time.
fn alias_overrides(request: &Request<'_>) -> AliasOverrides {
    let note = |key| {
        request
            .note(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    AliasOverrides {
        process_group: note(notes::PROCESS_GROUP),
        application_group: note(notes::APPLICATION_GROUP),
        callable_object: note(notes::CALLABLE_OBJECT),
        pass_authorization: note(notes::PASS_AUTHORIZATION).map(|v| v == "1"),
    }
}

/// Checks on the request body framing, before the application runs.
fn check_body(request: &Request<'_>, config: &RequestConfig, filename: &str) -> Result<(), c_int> {
    if let Some(encoding) = request.header_in("Transfer-Encoding") {
        if !encoding.eq_ignore_ascii_case(b"chunked") {
            script_error(
                request,
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
                request,
                "Received request requiring chunked transfer encoding, but optional support \
                 for chunked transfer encoding has not been enabled (WSGIChunkedRequest)",
                filename,
            );
            return Err(ap::HTTP_LENGTH_REQUIRED as c_int);
        }
        if request.header_in("Content-Length").is_some() {
            script_error(
                request,
                "Unexpected Content-Length header supplied where Transfer-Encoding was specified as 'chunked'",
                filename,
            );
            return Err(ap::HTTP_BAD_REQUEST as c_int);
        }
    }
    if let Some(length) = request.header_in("Content-Length") {
        let parsed = std::str::from_utf8(length)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let Some(length) = parsed else {
            script_error(
                request,
                &format!(
                    "Invalid Content-Length header value of '{}' was supplied",
                    String::from_utf8_lossy(length)
                ),
                filename,
            );
            return Err(ap::HTTP_BAD_REQUEST as c_int);
        };
        let limit = request.body_limit();
        if limit > 0 && length > limit {
            script_error(
                request,
                &format!("Request body of {length} bytes exceeds LimitRequestBody of {limit}"),
                filename,
            );
            return Err(ap::HTTP_REQUEST_ENTITY_TOO_LARGE as c_int);
        }
    }
    Ok(())
}

/// What the handler accepted to run.
struct Accepted {
    /// The script file to load: the request's file, or the script
    /// WSGIHandlerScript names for the request's handler.
    script: String,
    /// The WSGIHandlerScript script, if that is what runs.
    handler_script: Option<String>,
    /// The script's modification time if httpd already has it (the
    /// request's own file).
    script_mtime: Option<u64>,
    config: RequestConfig,
}

/// The callable a WSGIHandlerScript script provides, as in mod_wsgi.
const HANDLER_SCRIPT_CALLABLE: &str = "handle_request";

/// The checks mod_wsgi makes before anything runs, in its order: the
/// handler name (ours, or one WSGIHandlerScript defined), then for a
/// script ExecCGI and the file itself, AcceptPathInfo, the body's
/// framing. Gives what to run, or the status to answer (`DECLINED`: not
/// ours).
fn accept(request: &Request<'_>) -> Result<Accepted, c_int> {
    let handler_name = request.handler();
    // SAFETY: the request is live; its directory configuration is ours.
    let dir = unsafe { dir_config(request.raw()) };
    let filename = request.filename().into_owned();
    let accepted = if handler_name == HANDLER || handler_name == HANDLER_MIME {
        accept_script(request, &filename)?;
        Accepted {
            script: filename.clone(),
            handler_script: None,
            script_mtime: request.file_mtime(),
            config: RequestConfig::resolve(dir, &alias_overrides(request)),
        }
    } else if let Some(entry) = dir.handler_script(&handler_name) {
        let overrides = AliasOverrides {
            process_group: entry.process_group.clone(),
            application_group: entry.application_group.clone(),
            callable_object: Some(HANDLER_SCRIPT_CALLABLE.to_string()),
            pass_authorization: entry.pass_authorization,
        };
        Accepted {
            script: entry.path.clone(),
            handler_script: Some(entry.path.clone()),
            script_mtime: None,
            config: RequestConfig::resolve(dir, &overrides),
        }
    } else {
        return Err(ap::DECLINED);
    };
    if request.rejects_path_info() {
        script_error(
            request,
            "AcceptPathInfo off disallows user's path",
            &filename,
        );
        return Err(ap::HTTP_NOT_FOUND as c_int);
    }
    check_body(request, &accepted.config, &filename)?;
    Ok(accepted)
}

/// A request for a WSGI script file: ExecCGI (unless script-aliased) and
/// the file itself.
fn accept_script(request: &Request<'_>, filename: &str) -> Result<(), c_int> {
    let aliased = request.note(notes::FORCED_TYPE) == Some(HANDLER.as_bytes());
    if !aliased && !request.allows_exec_cgi() {
        script_error(
            request,
            "Options ExecCGI is off in this directory",
            filename,
        );
        return Err(ap::HTTP_FORBIDDEN as c_int);
    }
    match request.file_kind() {
        FileKind::Missing => {
            script_error(
                request,
                "Target WSGI script not found or unable to stat",
                filename,
            );
            Err(ap::HTTP_NOT_FOUND as c_int)
        }
        FileKind::Directory => {
            script_error(
                request,
                "Attempt to invoke directory as WSGI application",
                filename,
            );
            Err(ap::HTTP_FORBIDDEN as c_int)
        }
        FileKind::Other => Ok(()),
    }
}

/// The process group, application group and callable of the request, with
/// everything in them that refers to the request expanded.
struct GroupNames {
    process_group: String,
    application_group: String,
    callable: String,
}

/// Expands the `%{...}` references of group names and the callable name
/// for `request`.
pub struct NameExpander<'e> {
    request: &'e Request<'e>,
    server_hostname: std::borrow::Cow<'e, str>,
    request_hostname: std::borrow::Cow<'e, str>,
    script_name: String,
}

impl<'e> NameExpander<'e> {
    pub fn new(request: &'e Request<'e>) -> NameExpander<'e> {
        let uri = request.uri();
        let path_info = request.path_info();
        let end = if !path_info.is_empty() && uri.ends_with(&*path_info) {
            uri.len() - path_info.len()
        } else {
            uri.len()
        };
        NameExpander {
            request,
            server_hostname: request.server_hostname(),
            request_hostname: request.hostname(),
            script_name: String::from_utf8_lossy(&collapse_slashes(&uri.as_bytes()[..end]))
                .into_owned(),
        }
    }

    fn expand(&self, name: &str, how: fn(&str, &GroupContext<'_>) -> String) -> String {
        let request = self.request;
        let lookup = |variable: &str| environ::lookup_env(request, variable);
        how(
            name,
            &GroupContext {
                server_hostname: &self.server_hostname,
                port: request.server_port(),
                request_hostname: &self.request_hostname,
                script_name: &self.script_name,
                env: &lookup,
            },
        )
    }

    pub fn group(&self, name: &str) -> String {
        self.expand(name, expand_group)
    }

    pub fn callable(&self, name: &str) -> String {
        self.expand(name, expand_callable)
    }
}

fn group_names(request: &Request<'_>, config: &RequestConfig) -> GroupNames {
    let expander = NameExpander::new(request);
    GroupNames {
        process_group: expander.group(&config.process_group),
        application_group: expander.group(&config.application_group),
        callable: expander.callable(&config.callable_object),
    }
}

/// WSGIDispatchScript: the script's choices replace the configured
/// names, in the environ too (and in subprocess_env, for logging).
fn dispatch_by_script(
    request: &Request<'_>,
    script: &ScriptFile,
    names: &mut GroupNames,
    cgi: &mut CgiEnviron,
) -> Result<(), c_int> {
    let answer = with_hook_script(request, script, cgi, |script, logger| {
        run_dispatch_script(script, logger)
    })
    .map_err(|_| INTERNAL_ERROR)?;
    let expander = NameExpander::new(request);
    let mut replace = |key: &str, value: &str| {
        cgi.set(key, value);
        request.set_env(key, value.as_bytes());
    };
    if let Some(group) = answer.process_group {
        names.process_group = expander.group(&group);
        replace("mod_wsgi.process_group", &names.process_group);
    }
    if let Some(group) = answer.application_group {
        names.application_group = expander.group(&group);
        replace("mod_wsgi.application_group", &names.application_group);
    }
    if let Some(callable) = answer.callable_object {
        names.callable = expander.callable(&callable);
        replace("mod_wsgi.callable_object", &names.callable);
    }
    Ok(())
}

/// Where the request runs.
enum Route {
    Daemon(Arc<DaemonGroup>),
    Embedded,
}

/// The checks on where the request may run: WSGIRestrictProcess, the
/// group, its script owner, its virtual host; WSGIRestrictEmbedded and
/// Python for embedded mode.
fn route(
    request: &Request<'_>,
    config: &RequestConfig,
    process_group: &str,
    filename: &str,
) -> Result<Route, c_int> {
    let refuse = |what: &str, status: c_int| {
        script_error(request, what, filename);
        Err(status)
    };
    if let Some(allowed) = &config.restrict_process
        && !allowed.iter().any(|g| g == process_group)
    {
        return refuse(
            &format!(
                "Daemon process called '{process_group}' cannot be accessed by this WSGI \
                 application as not a member of allowed groups"
            ),
            INTERNAL_ERROR,
        );
    }
    if !process_group.is_empty() {
        let Some(group) = crate::groups::find(process_group) else {
            return refuse(
                &format!("No WSGI daemon process called '{process_group}' has been configured"),
                INTERNAL_ERROR,
            );
        };
        if let Some(owner) = group.script_owner {
            let (user, group_id) = request.file_owner();
            let (matches, what) = match owner {
                ScriptOwner::User(uid) => (
                    user == Some(uid),
                    format!(
                        "User of WSGI script file does not match required user for daemon process, uid={}",
                        user.unwrap_or(0)
                    ),
                ),
                ScriptOwner::Group(gid) => (
                    group_id == Some(gid),
                    format!(
                        "Group of WSGI script file does not match required group for daemon process, gid={}",
                        group_id.unwrap_or(0)
                    ),
                ),
            };
            if !matches {
                return refuse(&what, ap::HTTP_FORBIDDEN as c_int);
            }
        }
        if !group.accessible_from(&request.server_hostname()) {
            return refuse(
                &format!(
                    "Daemon process called '{process_group}' cannot be accessed by this WSGI application"
                ),
                INTERNAL_ERROR,
            );
        }
        return Ok(Route::Daemon(group));
    }
    if context::embedded_restricted() {
        return refuse(
            "Embedded mode of mod_wsgi disabled by runtime configuration (WSGIRestrictEmbedded On)",
            INTERNAL_ERROR,
        );
    }
    if let Err(why) = context::python_status() {
        return refuse(
            &format!("Python is not available in this process ({why})"),
            INTERNAL_ERROR,
        );
    }
    Ok(Route::Embedded)
}

/// Runs the application in this process.
fn run_embedded(
    request: &Request<'_>,
    accepted: &Accepted,
    names: &GroupNames,
    cgi: &CgiEnviron,
    metrics: Option<&GroupMetrics>,
) -> c_int {
    let config = &accepted.config;
    let _running = crate::child::in_flight::enter(request, &names.application_group);
    crate::wsgi::run::take_exceptions();
    // SAFETY: the request is live for the whole run.
    let mut backend = unsafe { RequestBackend::new(request.raw()) };
    backend.enable_sendfile(config.enable_sendfile);
    // SAFETY: as above.
    let logger = unsafe { RequestLogger::new(request.raw()) };
    let run = RunRequest {
        script: &accepted.script,
        cgi,
        facts: context::facts(),
        head_request: request.header_only(),
        apache_request: if config.pass_apache_request {
            request.raw().cast()
        } else {
            std::ptr::null_mut()
        },
        script_mtime: accepted.script_mtime,
    };
    let completion = dispatch(
        &Target {
            application_group: &names.application_group,
            callable: &names.callable,
            on_change: if config.script_reloading {
                OnChange::Reload
            } else {
                OnChange::Keep
            },
            case_sensitive_paths: crate::context::case_sensitive_paths(),
        },
        &run,
        &mut backend,
        &logger,
    );
    if let Some(metrics) = metrics {
        metrics
            .application(&names.application_group)
            .count_exceptions(crate::wsgi::run::take_exceptions());
    }
    backend.finish(matches!(completion, Completion::Responded));
    match completion {
        Completion::Responded => ap::OK as c_int,
        Completion::Failed | Completion::RestartRequired => INTERNAL_ERROR,
        Completion::TimedOut => ap::HTTP_GATEWAY_TIME_OUT as c_int,
    }
}

/// # Safety
/// `r` must be the live request httpd is handling on this thread.
unsafe fn handle(r: *mut ap::request_rec) -> c_int {
    // SAFETY: per the contract.
    let request = unsafe { Request::new(r) };
    let accepted = match accept(&request) {
        Ok(accepted) => accepted,
        Err(status) => return status,
    };
    // Names that may refer to the request are expanded once the CGI
    // variables (SCRIPT_NAME in particular) are known.
    let mut names = group_names(&request, &accepted.config);
    let mut cgi = environ::build(
        &request,
        &WsgiKeys {
            config: &accepted.config,
            process_group: &names.process_group,
            application_group: &names.application_group,
            callable_object: &names.callable,
            handler_script: accepted.handler_script.as_deref().unwrap_or(""),
        },
    );
    if let Some(script) = &accepted.config.dispatch_script
        && let Err(status) = dispatch_by_script(&request, script, &mut names, &mut cgi)
    {
        return status;
    }
    let table = if names.process_group.is_empty() {
        crate::groups::embedded_metrics()
    } else {
        None
    };
    let group = crate::groups::find(&names.process_group);
    let metrics = table
        .as_deref()
        .or_else(|| group.as_ref().and_then(|g| g.metrics.as_ref()));
    let in_flight = metrics.map(|m| m.application(&names.application_group).begin());
    let status = match route(
        &request,
        &accepted.config,
        &names.process_group,
        &accepted.script,
    ) {
        // SAFETY: the request is live for the whole exchange.
        Ok(Route::Daemon(group)) => unsafe {
            crate::child::relay::forward(r, &group, cgi, &accepted.script, accepted.script_mtime)
        },
        Ok(Route::Embedded) => run_embedded(&request, &accepted, &names, &cgi, metrics),
        Err(status) => status,
    };
    if let Some(in_flight) = in_flight {
        in_flight.finish(answered_status(&request, status));
    }
    status
}

/// The status the client gets: the response's own when the handler
/// answered it, else the error httpd will answer with.
fn answered_status(request: &Request<'_>, handler_status: c_int) -> u16 {
    if handler_status == ap::OK as c_int || handler_status == ap::DONE {
        request.status()
    } else {
        u16::try_from(handler_status).unwrap_or(0)
    }
}
