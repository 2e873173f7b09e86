//! Where this module is and which Python it serves: the module pip put
//! into the `mod_wsgi_rs` package (asked of the Python beside this
//! program), or the one cargo built beside it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ExpressError;

/// The Python version the module was built for (build.rs).
const PYTHON_VERSION: &str = env!("MOD_WSGI_PYTHON_VERSION");
/// What cargo names the module.
const CARGO_MODULE_NAME: &str = "libmod_wsgi.so";
const ASK_PYTHON: &str =
    "import mod_wsgi_rs; print(mod_wsgi_rs.module_location()); print(mod_wsgi_rs.python_home())";

pub struct ModuleFiles {
    /// The shared object for `LoadModule wsgi_module`.
    pub module: PathBuf,
    /// `WSGIPythonHome`: the prefix of the Python that installed it; none
    /// for a cargo build, which runs the system Python as it is.
    pub python_home: Option<PathBuf>,
}

impl ModuleFiles {
    pub fn find() -> Result<ModuleFiles, ExpressError> {
        let exe = std::env::current_exe().map_err(|source| ExpressError::Run {
            program: "mod_wsgi-express".into(),
            source,
        })?;
        let dir = exe.parent().unwrap_or(Path::new("/"));
        let beside = dir.join(CARGO_MODULE_NAME);
        if beside.is_file() {
            return Ok(ModuleFiles {
                module: beside,
                python_home: None,
            });
        }
        let pythons = ["python3", "python"]
            .iter()
            .map(|name| dir.join(name))
            .chain(std::iter::once(PathBuf::from(format!(
                "python{PYTHON_VERSION}"
            ))));
        let mut tried = Vec::new();
        for python in pythons {
            match ask(&python) {
                Ok(found) => return Ok(found),
                Err(why) => tried.push(format!("{}: {why}", python.display())),
            }
        }
        Err(ExpressError::NoModule(format!(
            "no {CARGO_MODULE_NAME} beside {} and no Python with the mod_wsgi_rs package ({})",
            exe.display(),
            tried.join("; ")
        )))
    }
}

fn ask(python: &Path) -> Result<ModuleFiles, String> {
    let output = Command::new(python)
        .args(["-E", "-c", ASK_PYTHON])
        .env_remove("PYTHONHOME")
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(stderr.lines().last().unwrap_or("failed").to_string());
    }
    let stdout = String::from_utf8(output.stdout).map_err(|_| "its answer is not UTF-8")?;
    let mut lines = stdout.lines();
    match (lines.next(), lines.next()) {
        (Some(module), Some(home)) => Ok(ModuleFiles {
            module: module.into(),
            python_home: Some(home.into()),
        }),
        _ => Err(format!("unexpected answer {stdout:?}")),
    }
}
