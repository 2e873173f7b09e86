//! A Python virtualenv with the packages the test apps need
//! (`tests/requirements.txt`), shared by all tests and all runs.
//!
//! It lives under the system temp dir (not the checkout, which www-data
//! cannot read), is named after a hash of the requirements so that editing
//! them yields a fresh venv, and is built from Debian's `/usr/bin/python3`,
//! the interpreter the module links against.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

const SYSTEM_PYTHON: &str = "/usr/bin/python3";
/// Marks a finished venv; written last, so a half-built one (an interrupted
/// run) is rebuilt rather than used.
const COMPLETE_MARKER: &str = ".complete";

fn requirements_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/requirements.txt")
}

/// The shared test venv, created on first use. Safe to call concurrently
/// from threads and processes: creation is serialised by a file lock.
pub fn test_venv() -> PathBuf {
    let requirements = requirements_path();
    let contents = fs::read(&requirements)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", requirements.display()));
    let name = format!("mod_wsgi-rs-venv-{:012x}", fnv1a(&contents) >> 16);
    venv_with(&name, |venv| {
        run(python_command(venv.join("bin/pip"))
            .args(["install", "--disable-pip-version-check", "--no-input", "-r"])
            .arg(&requirements));
    })
}

/// A venv with mod_wsgi `version` from PyPI (built against Debian's
/// Apache and Python) and Flask: its `mod_wsgi-express` writes the
/// configurations users bring along.
pub fn mod_wsgi_venv(version: &str) -> PathBuf {
    let name = format!("mod_wsgi-rs-pypi-mod_wsgi-{version}");
    venv_with(&name, |venv| {
        run(python_command(venv.join("bin/pip"))
            .args(["install", "--disable-pip-version-check", "--no-input"])
            .arg(format!("mod_wsgi=={version}"))
            .arg("flask==3.1.3"));
    })
}

/// The venv `name` under the temp dir, made by `fill` after `python -m
/// venv` unless a finished one exists.
fn venv_with(name: &str, fill: impl FnOnce(&Path)) -> PathBuf {
    let venv = std::env::temp_dir().join(name);
    let lock_path = std::env::temp_dir().join(format!("{name}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|err| panic!("cannot open {}: {err}", lock_path.display()));
    // Released when `lock` is dropped, i.e. when this function returns.
    lock.lock()
        .unwrap_or_else(|err| panic!("cannot lock {}: {err}", lock_path.display()));

    if venv.join(COMPLETE_MARKER).exists() {
        return venv;
    }
    if venv.exists() {
        fs::remove_dir_all(&venv).unwrap_or_else(|err| {
            panic!("cannot remove half-built venv {}: {err}", venv.display())
        });
    }
    eprintln!("creating venv {} (first run only)", venv.display());
    run(python_command(SYSTEM_PYTHON)
        .args(["-m", "venv"])
        .arg(&venv));
    fill(&venv);
    // Apache's children (www-data) import from it.
    run(Command::new("chmod").arg("-R").arg("a+rX").arg(&venv));
    fs::write(venv.join(COMPLETE_MARKER), b"")
        .unwrap_or_else(|err| panic!("cannot mark {} complete: {err}", venv.display()));
    venv
}

/// `<venv>/lib/pythonX.Y/site-packages`.
pub fn site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    let entries =
        fs::read_dir(&lib).unwrap_or_else(|err| panic!("cannot list {}: {err}", lib.display()));
    entries
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().starts_with("python"))
        .map(|entry| entry.path().join("site-packages"))
        .unwrap_or_else(|| panic!("no python*/ directory in {}", lib.display()))
}

/// A command for a Python tool, without the test process's Python-related
/// environment (which may point at the unreadable interpreter under /root).
/// Proxy and pip index settings are kept.
fn python_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for var in [
        "PYTHONHOME",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "VIRTUAL_ENV",
        "PIP_USER",
        "PIP_TARGET",
        "PIP_PREFIX",
    ] {
        command.env_remove(var);
    }
    command
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    if !output.status.success() {
        panic!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// FNV-1a: stable across Rust versions, unlike `DefaultHasher`, so the
/// venv is reused across toolchain upgrades.
fn fnv1a(bytes: &[u8]) -> u64 {
    fold(0xcbf2_9ce4_8422_2325, bytes)
}

/// The files `pip install .` builds from: a venv made from them is reused
/// only while none of them changes.
const PIP_SOURCES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
    "pyproject.toml",
    "MANIFEST.in",
    "src",
    "apache-sys",
    "python-embed",
    "wsgi-core",
    "python",
];

/// A venv into which `pip install .` installed this checkout (module and
/// mod_wsgi-express), with Flask beside it: what a user who installs with
/// pip has. Cargo builds it in `target/pip`, so a rebuild after a change
/// is incremental.
pub fn pip_installed_venv() -> PathBuf {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for source in PIP_SOURCES {
        hash = hash_tree(&checkout.join(source), hash);
    }
    let name = format!("mod_wsgi-rs-pip-{:012x}", hash >> 16);
    venv_with(&name, |venv| {
        // Niced: the build shares the machine with tests that time things.
        run(python_command("nice")
            .args(["-n", "10"])
            .arg(venv.join("bin/pip"))
            .args([
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
            ])
            .arg(checkout)
            .arg("flask==3.1.3")
            .env("CARGO_TARGET_DIR", checkout.join("target/pip"))
            .env_remove("PYO3_PYTHON"));
    })
}

/// Folds the names and contents of the files under `path` (skipping
/// build output) into `hash`, in a stable order.
fn hash_tree(path: &Path, mut hash: u64) -> u64 {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if matches!(name.as_deref(), Some("target" | "__pycache__"))
        || name.is_some_and(|n| n.ends_with(".egg-info"))
    {
        return hash;
    }
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .map(|dir| dir.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for entry in entries {
            hash = hash_tree(&entry, hash);
        }
        return hash;
    }
    let bytes = fs::read(path).unwrap_or_default();
    // Relative to the checkout, so that a fresh clone elsewhere hashes alike.
    let relative = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path);
    hash = fold(hash, relative.to_string_lossy().as_bytes());
    fold(hash, &bytes)
}

fn fold(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
