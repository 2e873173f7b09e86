//! The Apache parent process: what this module does there besides reading
//! the configuration.

pub mod reaping;
