//! mod_wsgi for Apache httpd 2.4, in Rust.
//!
//! - [`module`]: the `wsgi_module` structure Apache loads, and its hooks.
//! - [`config`]: directives, parsed into typed configuration.
//! - [`wsgi`]: the WSGI adapter (PEP 3333), independent of how the request
//!   reached us.
//! - [`embedded`]: Apache's request as the adapter's backend, in the child
//!   processes.
//! - [`apache`]: thin safe edges over the raw httpd/APR bindings.

pub mod apache;
pub mod build_info;
pub mod child;
pub mod config;
pub mod context;
pub mod daemon;
pub mod groups;
pub mod module;
pub mod parent;
pub mod startup;
pub mod wsgi;
