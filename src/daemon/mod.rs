//! Daemon mode: process groups forked by the Apache parent, serving
//! requests that Apache children forward over a UNIX socket.

pub mod protocol;
