//! Embedded mode: the application runs in Apache's own child processes,
//! on the thread Apache gave the request.

pub mod backend;
pub mod environ;
pub mod handler;
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
