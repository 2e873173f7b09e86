//! Building the CGI part of the environ from Apache's request, the way
//! mod_wsgi does: httpd's own CGI variables (`ap_add_cgi_vars`,
//! `ap_add_common_vars`), then mod_wsgi's adjustments, all recorded in the
//! request's subprocess_env (so they can be logged) and copied out.

use crate::apache::request::Request;
use crate::config::RequestConfig;
use wsgi_core::directives::values::MapHeadToGet;
use wsgi_core::environ::{CgiEnviron, collapse_slashes};
use wsgi_core::trusted_proxies::{Applied, ProxyEnv, apply_trusted_headers};

/// The request's subprocess_env, as the trusted-proxy rules change it.
struct SubprocessEnv<'a, 'r>(&'a Request<'r>);

impl ProxyEnv for SubprocessEnv<'_, '_> {
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        self.0.env(name).map(<[u8]>::to_vec)
    }
    fn set(&mut self, name: &str, value: &[u8]) {
        self.0.set_env(name, value);
    }
    fn unset(&mut self, name: &str) {
        self.0.unset_env(name);
    }
}

/// Whether HEAD is shown to the application as GET.
fn head_becomes_get(request: &Request<'_>, mode: MapHeadToGet) -> bool {
    let is_head = request.method_is_get() && request.header_only();
    match mode {
        MapHeadToGet::Off => false,
        MapHeadToGet::On => is_head,
        // A content filter needs the whole body to produce the same headers
        // as for GET.
        MapHeadToGet::Auto => is_head && request.filters_content(),
    }
}

/// Settings that go into `mod_wsgi.*` keys.
pub struct WsgiKeys<'a> {
    pub config: &'a RequestConfig,
    pub process_group: &'a str,
    pub application_group: &'a str,
    pub callable_object: &'a str,
    /// The WSGIHandlerScript script running, or "".
    pub handler_script: &'a str,
}

/// Builds the CGI environ for the request.
pub fn build(request: &Request<'_>, keys: &WsgiKeys<'_>) -> CgiEnviron {
    let set = |key: &str, value: &[u8]| request.set_env(key, value);
    request.add_cgi_variables();

    if head_becomes_get(request, keys.config.map_head_to_get) {
        set("REQUEST_METHOD", b"GET");
    }
    if keys.config.pass_authorization
        && let Some(auth) = request.header_in("Authorization")
    {
        set("HTTP_AUTHORIZATION", auth);
    }
    let script_name = collapse_slashes(request.env("SCRIPT_NAME").unwrap_or(b""));
    let path_info = collapse_slashes(request.env("PATH_INFO").unwrap_or(b""));
    set("SCRIPT_NAME", &script_name);
    set("PATH_INFO", &path_info);
    set("mod_wsgi.script_name", &script_name);
    set("mod_wsgi.path_info", &path_info);

    // A trusted proxy's scheme header is final: the connection here (from
    // the proxy) may well be HTTPS while the client's was not.
    let applied = match &keys.config.trusted_proxy_headers {
        Some(headers) => apply_trusted_headers(
            &mut SubprocessEnv(request),
            headers,
            keys.config.trusted_proxies.as_deref(),
        ),
        None => Applied::default(),
    };
    if !applied.scheme && request.is_https() {
        set("HTTPS", b"1");
    }
    set("mod_wsgi.process_group", keys.process_group.as_bytes());
    set(
        "mod_wsgi.application_group",
        keys.application_group.as_bytes(),
    );
    set("mod_wsgi.callable_object", keys.callable_object.as_bytes());
    set("mod_wsgi.request_handler", request.handler().as_bytes());
    set("mod_wsgi.handler_script", keys.handler_script.as_bytes());
    let reloading: &[u8] = if keys.config.script_reloading {
        b"1"
    } else {
        b"0"
    };
    set("mod_wsgi.script_reloading", reloading);
    if let Some((host, port)) = request.listener() {
        set("mod_wsgi.listener_host", host.as_bytes());
        set("mod_wsgi.listener_port", port.to_string().as_bytes());
    }
    let flag = |on: bool| if on { &b"1"[..] } else { &b"0"[..] };
    set(
        "mod_wsgi.enable_sendfile",
        flag(keys.config.enable_sendfile),
    );
    set(
        "mod_wsgi.ignore_activity",
        flag(keys.config.ignore_activity),
    );
    set(
        "mod_wsgi.request_start",
        request.request_time().to_string().as_bytes(),
    );
    if let Some(id) = request.log_id() {
        set("mod_wsgi.request_id", id.as_bytes());
    }
    if let Some(id) = request.connection_log_id() {
        set("mod_wsgi.connection_id", id.as_bytes());
    }

    let entries = request.env_entries();
    let bytes = entries.iter().map(|(k, v)| k.len() + v.len()).sum();
    let mut cgi = CgiEnviron::with_capacity(entries.len(), bytes);
    for (name, value) in entries {
        cgi.push(&String::from_utf8_lossy(name), value);
    }
    cgi
}

/// A variable for `%{ENV:NAME}`: request notes, then subprocess_env, then
/// the process environment.
pub fn lookup_env(request: &Request<'_>, name: &str) -> Option<String> {
    request
        .note(name)
        .or_else(|| request.env(name))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .or_else(|| std::env::var(name).ok())
}
