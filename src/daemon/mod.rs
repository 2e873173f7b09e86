//! Daemon mode: process groups forked by the Apache parent, serving
//! requests that Apache children forward over a UNIX socket.

pub mod accounts;
pub mod backend;
pub mod board;
pub mod client;
pub mod connections;
pub mod directory;
pub mod groups;
pub mod lost_request;
pub mod privileges;
pub mod request_body;
pub mod run;
pub mod secret;
pub mod serve;
pub mod shared_words;
pub mod socket;
pub mod supervisor;
pub mod timeouts;
