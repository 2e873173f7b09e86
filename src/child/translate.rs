//! The translate-name hook: maps URLs under a WSGIScriptAlias to the script
//! file (plus any trailing path, which httpd's directory walk turns into
//! PATH_INFO) and marks the request for our handler.

use std::ffi::CString;
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use apache_sys as ap;

use crate::apache::request::Request;
use crate::apache::{c_str, log};
use crate::child::{HANDLER, notes};
use crate::config::AliasEntry;
use crate::config::access::server_config;
use wsgi_core::directives::script_alias::ScriptAlias;
use wsgi_core::directives::script_alias::prefix_match;
use wsgi_core::level::Level;

/// Up to this many `$N` groups are substituted (httpd's AP_MAX_REG_MATCH).
const MAX_MATCHES: usize = 10;

/// The translate-name hook.
///
/// # Safety
/// Called by httpd with a live request.
pub unsafe extern "C" fn translate_name(r: *mut ap::request_rec) -> c_int {
    // SAFETY: httpd passes a live request.
    match catch_unwind(AssertUnwindSafe(|| unsafe { translate(r) })) {
        Ok(status) => status,
        Err(_) => {
            let message = log::ours("internal error while mapping the URL");
            // SAFETY: as above.
            unsafe { log::request(r, Level::Error, &message) };
            ap::HTTP_INTERNAL_SERVER_ERROR as c_int
        }
    }
}

/// Where an alias maps `uri`: the script path plus the rest of the URI.
fn map(request: &Request<'_>, entry: &AliasEntry, uri: &str) -> Option<String> {
    let alias = &entry.alias;
    match entry.regex {
        Some(regex) => {
            let c_uri = CString::new(uri).ok()?;
            let mut matches = [ap::ap_regmatch_t { rm_so: 0, rm_eo: 0 }; MAX_MATCHES];
            // SAFETY: regex was compiled by httpd; matches has MAX_MATCHES slots.
            let found = unsafe {
                ap::ap_regexec(
                    regex.0,
                    c_uri.as_ptr(),
                    MAX_MATCHES,
                    matches.as_mut_ptr(),
                    0,
                )
            };
            if found != 0 {
                return None;
            }
            let target = CString::new(alias.target.as_str()).ok()?;
            // SAFETY: the request's live pool; the inputs are NUL-terminated
            // and `matches` holds the result of ap_regexec on c_uri.
            let script = unsafe {
                ap::ap_pregsub(
                    request.pool(),
                    target.as_ptr(),
                    c_uri.as_ptr(),
                    MAX_MATCHES,
                    matches.as_mut_ptr(),
                )
            };
            if script.is_null() || matches[0].rm_eo <= 0 {
                return None;
            }
            let matched = (matches[0].rm_eo as usize).min(uri.len());
            // SAFETY: ap_pregsub returned a pool string.
            Some(format!("{}{}", unsafe { c_str(script) }, &uri[matched..]))
        }
        None => {
            let matched = prefix_match(uri, &alias.url)?;
            if matched == 0 {
                return None;
            }
            Some(if alias.url == "/" {
                format!("{}{}", alias.target, uri)
            } else {
                format!("{}{}", alias.target, &uri[matched..])
            })
        }
    }
}

/// Points the request at the script and leaves the alias's options in its
/// notes for the handler.
fn mark(request: &Request<'_>, alias: &ScriptAlias, filename: &str) {
    request.set_filename(filename);
    request.set_handler(HANDLER);
    request.set_note(notes::FORCED_TYPE, HANDLER);
    let note = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            request.set_note(key, value);
        }
    };
    note(notes::PROCESS_GROUP, alias.process_group.as_deref());
    note(notes::APPLICATION_GROUP, alias.application_group.as_deref());
    note(notes::CALLABLE_OBJECT, alias.callable_object.as_deref());
    note(
        notes::PASS_AUTHORIZATION,
        alias
            .pass_authorization
            .map(|on| if on { "1" } else { "0" }),
    );
}

/// # Safety
/// `r` must be the live request httpd is translating on this thread.
unsafe fn translate(r: *mut ap::request_rec) -> c_int {
    // SAFETY: per the contract.
    let request = unsafe { Request::new(r) };
    // SAFETY: the request's server record carries our configuration.
    let config = unsafe { server_config(request.server()) };
    if config.aliases.is_empty() {
        return ap::DECLINED;
    }
    let uri = request.uri();
    if !uri.is_empty() && !uri.starts_with('/') {
        return ap::DECLINED;
    }
    for entry in &config.aliases {
        if let Some(filename) = map(&request, entry, &uri) {
            mark(&request, &entry.alias, &filename);
            return ap::OK as c_int;
        }
    }
    ap::DECLINED
}
