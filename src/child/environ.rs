//! Building the CGI part of the environ from Apache's request, the way
//! mod_wsgi does: httpd's own CGI variables (`ap_add_cgi_vars`,
//! `ap_add_common_vars`), then mod_wsgi's adjustments, all recorded in the
//! request's subprocess_env (so they can be logged) and copied out.

use apache_sys as ap;

use crate::apache::{c_str, table};
use crate::config::RequestConfig;
use wsgi_core::directives::values::MapHeadToGet;
use wsgi_core::environ::{CgiEnviron, collapse_slashes};

/// Whether HEAD is shown to the application as GET.
///
/// # Safety
/// `r` must be live.
unsafe fn head_becomes_get(r: *const ap::request_rec, mode: MapHeadToGet) -> bool {
    // SAFETY: r is live; HEAD requests have method_number M_GET and
    // header_only set by httpd.
    unsafe {
        let is_head = (*r).method_number == ap::M_GET as i32 && (*r).header_only != 0;
        match mode {
            MapHeadToGet::Off => false,
            MapHeadToGet::On => is_head,
            // A filter below the protocol level (content filters such as
            // DEFLATE, or CACHE_SAVE) needs the whole body to produce the
            // same headers as for GET.
            MapHeadToGet::Auto => {
                is_head
                    && !(*r).output_filters.is_null()
                    && (*(*(*r).output_filters).frec).ftype < ap::ap_filter_type_AP_FTYPE_PROTOCOL
            }
        }
    }
}

/// Whether mod_ssl reports the connection as HTTPS.
unsafe fn connection_is_https(c: *mut ap::conn_rec) -> bool {
    type IsHttps = unsafe extern "C" fn(*mut ap::conn_rec) -> i32;
    // SAFETY: looks up mod_ssl's optional function by name; if present it
    // has this signature.
    unsafe {
        let f = ap::apr_dynamic_fn_retrieve(c"ssl_is_https".as_ptr());
        match f {
            Some(f) => {
                let f: IsHttps = std::mem::transmute(f);
                f(c) != 0
            }
            None => false,
        }
    }
}

/// Settings that go into `mod_wsgi.*` keys.
pub struct WsgiKeys<'a> {
    pub config: &'a RequestConfig,
    pub process_group: &'a str,
    pub application_group: &'a str,
    pub callable_object: &'a str,
}

/// Builds the CGI environ for `r`.
///
/// # Safety
/// `r` must be live.
pub unsafe fn build(r: *mut ap::request_rec, keys: &WsgiKeys<'_>) -> CgiEnviron {
    // SAFETY: r and its tables/pool are live for the request.
    unsafe {
        let pool = (*r).pool;
        let env = (*r).subprocess_env;
        let set = |k: &str, v: &[u8]| table::set(env, pool, k.as_bytes(), v);
        ap::ap_add_cgi_vars(r);
        ap::ap_add_common_vars(r);

        if head_becomes_get(r, keys.config.map_head_to_get) {
            set("REQUEST_METHOD", b"GET");
        }
        if keys.config.pass_authorization
            && let Some(auth) = table::get((*r).headers_in, "Authorization")
        {
            let auth = auth.to_vec();
            set("HTTP_AUTHORIZATION", &auth);
        }
        let script_name = collapse_slashes(table::get(env, "SCRIPT_NAME").unwrap_or(b""));
        let path_info = collapse_slashes(table::get(env, "PATH_INFO").unwrap_or(b""));
        set("SCRIPT_NAME", &script_name);
        set("PATH_INFO", &path_info);
        set("mod_wsgi.script_name", &script_name);
        set("mod_wsgi.path_info", &path_info);

        let c = (*r).connection;
        if connection_is_https(c) {
            set("HTTPS", b"1");
        }
        set("mod_wsgi.process_group", keys.process_group.as_bytes());
        set(
            "mod_wsgi.application_group",
            keys.application_group.as_bytes(),
        );
        set("mod_wsgi.callable_object", keys.callable_object.as_bytes());
        set("mod_wsgi.request_handler", c_str((*r).handler).as_bytes());
        set("mod_wsgi.handler_script", b"");
        set(
            "mod_wsgi.script_reloading",
            if keys.config.script_reloading {
                b"1"
            } else {
                b"0"
            },
        );
        let local = (*c).local_addr;
        if !local.is_null() {
            set(
                "mod_wsgi.listener_host",
                c_str((*local).hostname).as_bytes(),
            );
            set(
                "mod_wsgi.listener_port",
                (*local).port.to_string().as_bytes(),
            );
        }
        set("mod_wsgi.enable_sendfile", b"0");
        set("mod_wsgi.ignore_activity", b"0");
        set(
            "mod_wsgi.request_start",
            (*r).request_time.to_string().as_bytes(),
        );
        if (*r).log_id.is_null() {
            ap::ap_run_generate_log_id(c, r, &mut (*r).log_id);
        }
        if !(*r).log_id.is_null() {
            set("mod_wsgi.request_id", c_str((*r).log_id).as_bytes());
        }
        if !(*c).log_id.is_null() {
            set("mod_wsgi.connection_id", c_str((*c).log_id).as_bytes());
        }

        let entries = table::entries(env);
        let bytes = entries.iter().map(|(k, v)| k.len() + v.len()).sum();
        let mut cgi = CgiEnviron::with_capacity(entries.len(), bytes);
        for (name, value) in entries {
            cgi.push(&String::from_utf8_lossy(name), value);
        }
        cgi
    }
}

/// A variable for `%{ENV:NAME}`: request notes, then subprocess_env, then
/// the process environment.
///
/// # Safety
/// `r` must be live.
pub unsafe fn lookup_env(r: *const ap::request_rec, name: &str) -> Option<String> {
    // SAFETY: r and its tables are live.
    unsafe {
        table::get((*r).notes, name)
            .or_else(|| table::get((*r).subprocess_env, name))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .or_else(|| std::env::var(name).ok())
    }
}
