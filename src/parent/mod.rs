//! The Apache parent process: what this module does there besides reading
//! the configuration.

pub mod post_config;
pub mod python;
pub mod reaping;
pub mod supervisor;
