//! What can stop mod_wsgi-express, each with the message a user sees.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExpressError {
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run {program}: {source}")]
    Run {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("Apache was not found: give --httpd-executable (looked for apxs, then {looked})")]
    NoApache { looked: String },
    #[error(
        "Apache's modules directory was not found: give --modules-directory (looked for apxs, then {looked})"
    )]
    NoModulesDirectory { looked: String },
    #[error("this module was not found: {0}")]
    NoModule(String),
    #[error("template {name}: {source}")]
    Template {
        name: &'static str,
        source: minijinja::Error,
    },
}

impl ExpressError {
    pub fn file(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ExpressError {
        let path = path.into();
        move |source| ExpressError::File { path, source }
    }
}
