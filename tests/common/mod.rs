//! Shared harness for the integration tests: starts private Apache httpd
//! servers, talks raw HTTP to them, and provides a Python venv with the
//! test apps' dependencies.
//!
//! Each test binary includes this with `mod common;` and uses only part of
//! it, hence the blanket `dead_code` and (for the re-exports below)
//! `unused_imports` allowances.
#![allow(dead_code, unused_imports)]

pub mod apache;
pub mod http;
pub mod load;
pub mod process;
pub mod venv;
pub mod wsgi;

pub use apache::{Apache, Mpm, ServerBuilder, StartError, assert_refused, module_path};
pub use http::{
    Response, basic_auth, chunked, keepalive_request, read_byte_pattern, read_raw_head,
    read_response, try_read_response,
};
pub use load::{Load, LoadReport, Outcome};
pub use process::{argv0, is_named_daemon, is_running, peak_rss_kib};
pub use venv::{mod_wsgi_venv, pip_installed_venv, site_packages, test_venv};
pub use wsgi::{DAEMON_GROUP, DAEMON_PROCESSES, DAEMON_THREADS, Mode, SiteBuilder, apps_dir};
