//! What the access and auth phases read from a request: the cut-down
//! environ mod_wsgi gives access, auth and dispatch scripts (request
//! headers without the credentials, the server and client facts, the
//! request line's parts — never subprocess_env, which `.htaccess` files
//! could set), the client's host name, and the authenticated user.

use std::borrow::Cow;

use apache_sys as ap;
use wsgi_core::environ::CgiEnviron;

use super::request::Request;
use super::{c_bytes, c_str, table};

/// `REMOTE_HOST` of http_core.h: the host name if known (looked up when
/// HostnameLookups says so), else NULL.
const REMOTE_HOST: std::os::raw::c_int = 0;

/// `Content-Type` → `HTTP_CONTENT_TYPE`, or None when the name holds
/// anything but letters, digits and '-' (such a header is left out, as
/// mod_wsgi and httpd's CGI variables do).
fn header_variable(name: &[u8]) -> Option<String> {
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') {
        return None;
    }
    let mut variable = String::with_capacity(5 + name.len());
    variable.push_str("HTTP_");
    for b in name {
        variable.push(if *b == b'-' {
            '_'
        } else {
            b.to_ascii_uppercase() as char
        });
    }
    Some(variable)
}

/// The path of the request line's target, as the client sent it.
fn original_uri(the_request: &[u8]) -> &[u8] {
    let mut parts = the_request
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty());
    parts.next();
    parts.next().unwrap_or(b"")
}

impl<'r> Request<'r> {
    /// The user an authentication module established, if any.
    pub fn user(&self) -> Option<Cow<'r, str>> {
        let user = self.rec().user;
        // SAFETY: NULL or a string of the request's pool.
        (!user.is_null()).then(|| unsafe { c_str(user) })
    }

    /// Replaces the authenticated user's name (a `check_password` that
    /// answers with a name).
    pub fn set_user(&self, user: &str) {
        // SAFETY: the live request; the copy lives in its pool, as long
        // as the request.
        unsafe {
            (*self.raw()).user = super::pool::strdup(self.pool(), user.as_bytes()).cast_mut()
        };
    }

    /// The client's host name if known, else its address: what
    /// WSGIAccessScript's `allow_access` receives.
    pub fn client_host(&self) -> String {
        let rec = self.rec();
        // SAFETY: the live connection and the request's directory config.
        let host = unsafe {
            ap::ap_get_remote_host(
                rec.connection,
                rec.per_dir_config.cast(),
                REMOTE_HOST,
                std::ptr::null_mut(),
            )
        };
        if host.is_null() {
            // SAFETY: NULL or a string of the connection's pool.
            unsafe { c_str(rec.useragent_ip) }.into_owned()
        } else {
            // SAFETY: a string of the connection's pool.
            unsafe { c_str(host) }.into_owned()
        }
    }

    /// The environ of access, auth and dispatch scripts, in mod_wsgi's
    /// order.
    pub fn auth_environ(&self) -> CgiEnviron {
        let rec = self.rec();
        let mut env = CgiEnviron::default();
        // SAFETY: the request's live headers table.
        for (name, value) in unsafe { table::entries(rec.headers_in) } {
            if name.eq_ignore_ascii_case(b"Content-Type") {
                env.push("CONTENT_TYPE", value);
            } else if name.eq_ignore_ascii_case(b"Content-Length") {
                env.push("CONTENT_LENGTH", value);
            } else if name.eq_ignore_ascii_case(b"Authorization")
                || name.eq_ignore_ascii_case(b"Proxy-Authorization")
            {
                continue;
            } else if let Some(variable) = header_variable(name) {
                env.push(&variable, value);
            }
        }
        let r = self.raw();
        // SAFETY: plain httpd calls on the live request; every string they
        // return lives in the request's, connection's or configuration's
        // pool, and so do the record fields read.
        unsafe {
            env.push(
                "SERVER_SIGNATURE",
                c_bytes(ap::ap_psignature(c"".as_ptr(), r)),
            );
            env.push("SERVER_SOFTWARE", c_bytes(ap::ap_get_server_banner()));
            let name = ap::ap_escape_html2(rec.pool, ap::ap_get_server_name(r), 0);
            env.push("SERVER_NAME", c_bytes(name));
            let connection = &*rec.connection;
            if !connection.local_ip.is_null() {
                env.push("SERVER_ADDR", c_bytes(connection.local_ip));
            }
            env.push("SERVER_PORT", self.server_port().to_string().as_bytes());
            let host = ap::ap_get_remote_host(
                rec.connection,
                rec.per_dir_config.cast(),
                REMOTE_HOST,
                std::ptr::null_mut(),
            );
            if !host.is_null() {
                env.push("REMOTE_HOST", c_bytes(host));
            }
            if !rec.useragent_ip.is_null() {
                env.push("REMOTE_ADDR", c_bytes(rec.useragent_ip));
            }
            env.push("DOCUMENT_ROOT", c_bytes(ap::ap_document_root(r)));
            let admin = (*rec.server).server_admin;
            if !admin.is_null() {
                env.push("SERVER_ADMIN", c_bytes(admin));
            }
            let port = connection.client_addr.as_ref().map_or(0, |a| a.port);
            env.push("REMOTE_PORT", port.to_string().as_bytes());
            env.push("SERVER_PROTOCOL", c_bytes(rec.protocol));
            env.push("REQUEST_METHOD", c_bytes(rec.method));
            env.push("QUERY_STRING", c_bytes(rec.args));
            env.push("REQUEST_URI", original_uri(c_bytes(rec.the_request)));
            let uri = c_bytes(rec.uri);
            let path_info = c_bytes(rec.path_info);
            if c_bytes(rec.protocol) == b"INCLUDED" || path_info.is_empty() {
                env.push("SCRIPT_NAME", uri);
                env.push("PATH_INFO", path_info);
            } else {
                let start = ap::ap_find_path_info(rec.uri, rec.path_info).max(0) as usize;
                env.push("SCRIPT_NAME", &uri[..start.min(uri.len())]);
                env.push("PATH_INFO", path_info);
            }
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_become_variables() {
        assert_eq!(
            header_variable(b"X-Forwarded-For").as_deref(),
            Some("HTTP_X_FORWARDED_FOR")
        );
        assert_eq!(header_variable(b"accept").as_deref(), Some("HTTP_ACCEPT"));
        assert_eq!(header_variable(b"X_Underscore"), None);
        assert_eq!(header_variable(b"bad name"), None);
        assert_eq!(header_variable(b""), None);
    }

    #[test]
    fn original_uri_is_the_request_lines_target() {
        assert_eq!(original_uri(b"GET /a%20b?x=1 HTTP/1.1"), b"/a%20b?x=1");
        assert_eq!(original_uri(b"GET  /spaced  HTTP/1.0"), b"/spaced");
        assert_eq!(original_uri(b"GET"), b"");
        assert_eq!(original_uri(b""), b"");
    }
}
