//! The WSGI adapter, written once for both modes: everything PEP 3333 says
//! happens here, against the [`backend::Backend`] trait.

#[cfg(test)]
mod application_tests;
pub mod auth;
pub mod backend;
pub mod dispatch;
pub mod dispatch_script;
pub mod environ;
pub mod events;
pub mod exchange;
pub mod exchange_ref;
pub mod file_wrapper;
pub mod hook_script;
pub mod input;
pub mod interpreter;
pub mod log;
pub mod log_handler;
pub mod metrics;
pub mod names;
pub mod newrelic;
pub mod python_module;
pub mod request_stacks;
pub mod restrict;
pub mod run;
pub mod script;
pub mod start_response;
#[cfg(test)]
mod testing;
pub mod types;
