//! Where Apache is: its program and its modules directory, from the
//! options, from `apxs` when apache2-dev / httpd-devel is installed, and
//! from the Debian and RHEL layouts when it is not.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ExpressError;

/// Debian/Ubuntu, then RHEL/Fedora, then a source build's default prefix.
const KNOWN_HTTPD: &[&str] = &[
    "/usr/sbin/apache2",
    "/usr/sbin/httpd",
    "/usr/local/apache2/bin/httpd",
];
const KNOWN_MODULE_DIRECTORIES: &[&str] = &[
    "/usr/lib/apache2/modules",
    "/usr/lib64/httpd/modules",
    "/usr/lib/httpd/modules",
    "/usr/local/apache2/modules",
];
const APXS_NAMES: &[&str] = &["apxs", "apxs2"];
const EXTRA_SEARCH_PATH: &[&str] = &["/usr/bin", "/usr/sbin", "/usr/local/apache2/bin"];

pub struct ApacheInstall {
    pub httpd: PathBuf,
    pub modules_directory: PathBuf,
    /// rotatelogs beside httpd, when there is one.
    pub rotatelogs: Option<PathBuf>,
}

impl ApacheInstall {
    /// An explicit option wins, then `$HTTPD` (for the program), then
    /// apxs, then the known layouts.
    pub fn find(
        httpd_option: Option<&Path>,
        modules_option: Option<&Path>,
    ) -> Result<ApacheInstall, ExpressError> {
        let apxs = Apxs::find();
        let httpd = match httpd_option {
            Some(path) => resolve_program(path)?,
            None => match std::env::var_os("HTTPD").filter(|v| !v.is_empty()) {
                Some(path) => resolve_program(Path::new(&path))?,
                None => apxs
                    .as_ref()
                    .and_then(Apxs::httpd)
                    .or_else(|| first_existing(KNOWN_HTTPD))
                    .ok_or_else(|| ExpressError::NoApache {
                        looked: KNOWN_HTTPD.join(", "),
                    })?,
            },
        };
        let modules_directory = match modules_option {
            Some(dir) if dir.is_dir() => dir.to_path_buf(),
            Some(dir) => {
                return Err(ExpressError::Usage(format!(
                    "--modules-directory {}: not a directory",
                    dir.display()
                )));
            }
            None => found_modules_directory(apxs.as_ref())?,
        };
        let rotatelogs = httpd
            .parent()
            .map(|dir| dir.join("rotatelogs"))
            .filter(|path| path.is_file())
            .or_else(|| search_path("rotatelogs"));
        Ok(ApacheInstall {
            httpd,
            modules_directory,
            rotatelogs,
        })
    }

    /// Whether `mod_NAME.so` is in the modules directory.
    pub fn has_module(&self, name: &str) -> bool {
        self.modules_directory
            .join(format!("mod_{name}.so"))
            .is_file()
    }
}

/// The modules directory alone (install-module, module-config).
pub fn modules_directory(option: Option<&Path>) -> Result<PathBuf, ExpressError> {
    if let Some(dir) = option {
        return Ok(dir.to_path_buf());
    }
    found_modules_directory(Apxs::find().as_ref())
}

/// apxs's LIBEXECDIR, else the first known layout that exists.
fn found_modules_directory(apxs: Option<&Apxs>) -> Result<PathBuf, ExpressError> {
    apxs.and_then(|apxs| apxs.query("LIBEXECDIR"))
        .map(PathBuf::from)
        .filter(|dir| dir.is_dir())
        .or_else(|| first_existing(KNOWN_MODULE_DIRECTORIES))
        .ok_or_else(|| ExpressError::NoModulesDirectory {
            looked: KNOWN_MODULE_DIRECTORIES.join(", "),
        })
}

struct Apxs(PathBuf);

impl Apxs {
    fn find() -> Option<Apxs> {
        if let Some(path) = std::env::var_os("APXS").filter(|v| !v.is_empty()) {
            return Some(Apxs(path.into()));
        }
        APXS_NAMES
            .iter()
            .find_map(|name| search_path(name))
            .map(Apxs)
    }

    fn query(&self, variable: &str) -> Option<String> {
        let output = Command::new(&self.0).args(["-q", variable]).output().ok()?;
        let value = String::from_utf8(output.stdout).ok()?.trim().to_string();
        (output.status.success() && !value.is_empty()).then_some(value)
    }

    fn httpd(&self) -> Option<PathBuf> {
        let program = self.query("PROGNAME")?;
        ["SBINDIR", "BINDIR"]
            .iter()
            .filter_map(|dir| self.query(dir))
            .map(|dir| Path::new(&dir).join(&program))
            .find(|path| path.is_file())
    }
}

fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// `name` on PATH, or in the places Apache's tools live on Debian and RHEL
/// (not always on a user's PATH).
fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_SEARCH_PATH.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A program given by name is looked for on the path; one given by path
/// must exist.
fn resolve_program(path: &Path) -> Result<PathBuf, ExpressError> {
    let found = if path.components().count() == 1 {
        search_path(&path.to_string_lossy())
    } else {
        path.is_file().then(|| path.to_path_buf())
    };
    found.ok_or_else(|| ExpressError::Usage(format!("{}: no such program", path.display())))
}
