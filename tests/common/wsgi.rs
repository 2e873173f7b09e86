//! Building servers that host WSGI test applications, in either mode.
//!
//! Every WSGI behaviour is tested in each mode the module offers: write the
//! test as `fn name(mpm: Mpm, mode: Mode)` and generate the variants with
//! [`wsgi_tests!`]. A test mounts its applications with [`SiteBuilder`],
//! which adds whatever the mode needs (for daemon mode, once it exists, a
//! process group and `process-group=` on each mount).

use std::path::Path;

use super::apache::{Mpm, ServerBuilder};

/// Where the application runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In Apache's child processes.
    Embedded,
}

impl Mode {
    pub const ALL: [Mode; 1] = [Mode::Embedded];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Embedded => "embedded",
        }
    }

    /// `mod_wsgi.process_group` as applications see it in this mode.
    pub fn process_group(self) -> &'static str {
        match self {
            Mode::Embedded => "",
        }
    }
}

/// A server hosting WSGI applications in a given MPM and mode.
pub struct SiteBuilder {
    server: ServerBuilder,
    mode: Mode,
}

impl SiteBuilder {
    pub fn new(mpm: Mpm, mode: Mode) -> SiteBuilder {
        SiteBuilder {
            server: ServerBuilder::new().mpm(mpm),
            mode,
        }
    }

    /// Mounts `source` (the text of a WSGI script) at `url`, stored as
    /// `apps/<file_name>`. `options` are extra WSGIScriptAlias options.
    pub fn mount(mut self, url: &str, file_name: &str, source: &str, options: &str) -> SiteBuilder {
        let rel = format!("apps/{file_name}");
        let alias = format!(
            "WSGIScriptAlias {url} {{root}}/{rel} {options}{}\n",
            self.mode_options()
        );
        self.server = self.server.file(&rel, source).conf(&alias);
        self
    }

    /// Mounts a script file from `tests/apps/`.
    pub fn mount_app(self, url: &str, app: &str, options: &str) -> SiteBuilder {
        let source = std::fs::read_to_string(apps_dir().join(app))
            .unwrap_or_else(|e| panic!("cannot read tests/apps/{app}: {e}"));
        self.mount(url, app, &source, options)
    }

    fn mode_options(&self) -> &'static str {
        match self.mode {
            Mode::Embedded => "",
        }
    }

    /// Raw configuration appended to httpd.conf (`{root}` is substituted).
    pub fn conf(mut self, text: &str) -> SiteBuilder {
        self.server = self.server.conf(text);
        self
    }

    /// Any other change to the underlying server.
    pub fn with(mut self, f: impl FnOnce(ServerBuilder) -> ServerBuilder) -> SiteBuilder {
        self.server = f(self.server);
        self
    }

    pub fn server(self) -> ServerBuilder {
        self.server
    }

    pub fn start(self) -> super::apache::Apache {
        self.server.start_ok()
    }
}

/// `tests/apps` in the checkout (read at test time, copied into the
/// server root for www-data).
pub fn apps_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps"))
}

/// Generates `#[test]` functions running `fn name(mpm: Mpm, mode: Mode)`
/// under the event and prefork MPMs in every mode.
#[macro_export]
macro_rules! wsgi_tests {
    ($($name:ident),* $(,)?) => {
        mod event_embedded {
            $( #[test] fn $name() { super::$name($crate::common::Mpm::Event, $crate::common::Mode::Embedded) } )*
        }
        mod prefork_embedded {
            $( #[test] fn $name() { super::$name($crate::common::Mpm::Prefork, $crate::common::Mode::Embedded) } )*
        }
    };
}
