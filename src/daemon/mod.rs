//! The daemon process: forked by the Apache parent for a WSGIDaemonProcess
//! group, it drops privileges, starts Python and serves the requests that
//! Apache's children hand it over the group's socket.

pub mod backend;
pub mod connections;
pub mod privileges;
pub mod run;
pub mod serve;
pub mod timeouts;
