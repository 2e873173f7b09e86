//! The logic of mod_wsgi that needs neither Apache nor Python, so that it
//! builds, is unit-tested and is fuzzed without apxs, libclang or
//! python3-dev:
//!
//! - [`protocol`]: the wire protocol between an Apache child and a daemon
//!   process (encoder, decoder, the one `ResponseHead` both sides use);
//! - [`directives`]: parsing directive values the way httpd splits them;
//! - [`daemon_options`]: the options of WSGIDaemonProcess;
//! - [`environ`]: the CGI environ as plain data;
//! - [`headers`]: status line and header checks, as PEP 3333 and mod_wsgi
//!   want them;
//! - [`level`]: the error-log levels;
//! - [`trusted_proxies`]: WSGITrustedProxyHeaders / WSGITrustedProxies.

pub mod daemon_options;
pub mod directives;
pub mod environ;
pub mod headers;
pub mod level;
pub mod protocol;
pub mod trusted_proxies;
