//! The interpreter settings a host derives from its configuration.

use std::path::PathBuf;

/// Everything that must be decided before `Py_InitializeFromConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonSettings {
    /// `-O` level: 0, 1 or 2 (`sys.flags.optimize`).
    pub optimize: u8,
    /// Python home: a prefix, `prefix:exec_prefix`, or a virtual environment
    /// (a directory holding `pyvenv.cfg`).
    pub home: Option<PathBuf>,
    /// What `sys.argv` is set to (`['mod_wsgi']` in mod_wsgi).
    pub argv0: String,
    /// String hashing: Python's default (honouring PYTHONHASHSEED),
    /// always random, or a fixed seed.
    pub hash_seed: HashSeed,
    /// Whether `.pyc` files are written (the opposite of `-B`).
    pub write_bytecode: bool,
    /// `-W` options, in order.
    pub warnings: Vec<String>,
}

/// How `str` hashes are seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashSeed {
    /// Python decides (PYTHONHASHSEED in the environment, else random).
    #[default]
    Default,
    /// Randomised, whatever the environment says.
    Random,
    /// A fixed seed.
    Fixed(u32),
}

impl Default for PythonSettings {
    fn default() -> Self {
        PythonSettings {
            optimize: 0,
            home: None,
            argv0: "python3".into(),
            hash_seed: HashSeed::Default,
            write_bytecode: true,
            warnings: Vec::new(),
        }
    }
}

/// How a configured Python home is handed to CPython.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeSetting {
    /// A plain installation prefix: set `PyConfig.home` (as PYTHONHOME).
    Prefix(String),
    /// A virtual environment: CPython only honours `pyvenv.cfg` when it is
    /// found next to the executable, so point `program_name` at the
    /// environment's `bin/python` instead of setting the home.
    VirtualEnv { program: String },
}

impl HomeSetting {
    /// Classifies `home`, looking for `pyvenv.cfg` as CPython's getpath does.
    pub fn for_home(home: &std::path::Path) -> HomeSetting {
        if home.join("pyvenv.cfg").is_file() {
            HomeSetting::VirtualEnv {
                program: home
                    .join("bin")
                    .join("python")
                    .to_string_lossy()
                    .into_owned(),
            }
        } else {
            HomeSetting::Prefix(home.to_string_lossy().into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_prefix_is_a_home() {
        let dir = std::env::temp_dir().join(format!("pe-prefix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            HomeSetting::for_home(&dir),
            HomeSetting::Prefix(dir.to_string_lossy().into_owned())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn directory_with_pyvenv_cfg_is_a_virtualenv() {
        let dir = std::env::temp_dir().join(format!("pe-venv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        assert_eq!(
            HomeSetting::for_home(&dir),
            HomeSetting::VirtualEnv {
                program: dir.join("bin/python").to_string_lossy().into_owned()
            }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
