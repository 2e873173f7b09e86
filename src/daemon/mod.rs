//! Daemon mode: process groups forked by the Apache parent, serving
//! requests that Apache children forward over a UNIX socket.

pub mod accounts;
pub mod groups;
pub mod options;
pub mod privileges;
pub mod protocol;
pub mod socket;
