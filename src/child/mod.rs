//! The Apache child: the request hooks (translate-name, the handler), the
//! application run in this process (embedded mode) on the thread Apache
//! gave the request, or handed to a daemon process (the relay).

pub mod auth;
pub mod backend;
pub mod environ;
pub mod handler;
pub mod in_flight;
pub mod init;
pub mod lost_request;
pub mod metrics_page;
pub mod relay;
pub mod request_body;
pub mod translate;

/// Request notes that carry a WSGIScriptAlias's options from the
/// translate-name phase to the handler (the same keys mod_wsgi uses).
pub mod notes {
    pub const FORCED_TYPE: &str = "alias-forced-type";
    pub const PROCESS_GROUP: &str = "mod_wsgi.process_group";
    pub const APPLICATION_GROUP: &str = "mod_wsgi.application_group";
    pub const CALLABLE_OBJECT: &str = "mod_wsgi.callable_object";
    pub const PASS_AUTHORIZATION: &str = "mod_wsgi.pass_authorization";
}

/// The handler names that run a WSGI script.
pub const HANDLER: &str = "wsgi-script";
pub const HANDLER_MIME: &str = "application/x-httpd-wsgi";
