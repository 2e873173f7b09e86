//! What the build recorded about the Python this module links (see
//! `build.rs`).

/// `major.minor`, e.g. `3.11`.
pub const PYTHON_VERSION: &str = env!("MOD_WSGI_PYTHON_VERSION");

/// The path of the libpython the module links, e.g.
/// `/usr/lib/x86_64-linux-gnu/libpython3.11.so`.
pub const LIBPYTHON: &str = env!("MOD_WSGI_LIBPYTHON");
