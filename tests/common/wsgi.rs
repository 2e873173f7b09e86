//! Building servers that host WSGI test applications, in either mode.
//!
//! Every WSGI behaviour is tested in each mode the module offers: write the
//! test as `fn name(mpm: Mpm, mode: Mode)` and generate the variants with
//! [`wsgi_tests!`]. A test mounts its applications with [`SiteBuilder`];
//! in daemon mode the builder defines a process group and makes it the
//! server-wide WSGIProcessGroup, so every mount (and any WSGIScriptAlias
//! written by hand) runs in the daemon processes unless it names a process
//! group itself.

use std::path::Path;

use super::apache::{Mpm, ServerBuilder};

/// Where the application runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In Apache's child processes.
    Embedded,
    /// In the daemon process group `wsgi-test`.
    Daemon,
}

/// The daemon process group of daemon-mode tests.
pub const DAEMON_GROUP: &str = "wsgi-test";
/// Its processes and threads: enough threads for the concurrency tests.
pub const DAEMON_PROCESSES: u32 = 2;
pub const DAEMON_THREADS: u32 = 20;

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Embedded, Mode::Daemon];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Embedded => "embedded",
            Mode::Daemon => "daemon",
        }
    }

    /// `mod_wsgi.process_group` as applications see it in this mode.
    pub fn process_group(self) -> &'static str {
        match self {
            Mode::Embedded => "",
            Mode::Daemon => DAEMON_GROUP,
        }
    }

    /// The `process-group=` value that runs a script in this mode.
    pub fn process_group_option(self) -> &'static str {
        match self {
            Mode::Embedded => "%{GLOBAL}",
            Mode::Daemon => DAEMON_GROUP,
        }
    }

    /// Whether applications run with several threads per process
    /// (`wsgi.multithread`).
    pub fn multithreaded(self, mpm: Mpm) -> bool {
        match self {
            Mode::Embedded => mpm != Mpm::Prefork,
            Mode::Daemon => DAEMON_THREADS > 1,
        }
    }

    /// Threads per process applications run with
    /// (`mod_wsgi.threads_per_process`).
    pub fn threads_per_process(self, mpm: Mpm) -> u32 {
        match self {
            Mode::Embedded if mpm == Mpm::Prefork => 1,
            Mode::Embedded => 40,
            Mode::Daemon => DAEMON_THREADS,
        }
    }
}

/// A server hosting WSGI applications in a given MPM and mode.
pub struct SiteBuilder {
    server: ServerBuilder,
    mode: Mode,
    python_path: Vec<String>,
    daemon_options: Vec<String>,
}

impl SiteBuilder {
    pub fn new(mpm: Mpm, mode: Mode) -> SiteBuilder {
        SiteBuilder {
            server: ServerBuilder::new().mpm(mpm),
            mode,
            python_path: Vec::new(),
            daemon_options: Vec::new(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Mounts `source` (the text of a WSGI script) at `url`, stored as
    /// `apps/<file_name>`. `options` are extra WSGIScriptAlias options.
    pub fn mount(mut self, url: &str, file_name: &str, source: &str, options: &str) -> SiteBuilder {
        let rel = format!("apps/{file_name}");
        let alias = format!("WSGIScriptAlias {url} {{root}}/{rel} {options}\n");
        self.server = self.server.file(&rel, source).conf(&alias);
        self
    }

    /// Mounts a script file from `tests/apps/`.
    pub fn mount_app(self, url: &str, app: &str, options: &str) -> SiteBuilder {
        let source = std::fs::read_to_string(apps_dir().join(app))
            .unwrap_or_else(|e| panic!("cannot read tests/apps/{app}: {e}"));
        self.mount(url, app, &source, options)
    }

    /// Directories to add to `sys.path` where the applications run:
    /// WSGIPythonPath in embedded mode, the daemon group's python-path=
    /// in daemon mode (WSGIPythonPath does not apply to daemons).
    /// `{root}` is substituted.
    pub fn python_path(mut self, dir: &str) -> SiteBuilder {
        self.python_path.push(dir.to_string());
        self
    }

    /// Extra WSGIDaemonProcess options in daemon mode (ignored in
    /// embedded mode).
    pub fn daemon_option(mut self, option: &str) -> SiteBuilder {
        self.daemon_options.push(option.to_string());
        self
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
        let path = self.python_path.join(":");
        match self.mode {
            Mode::Embedded => {
                if path.is_empty() {
                    self.server
                } else {
                    self.server.conf(&format!("WSGIPythonPath \"{path}\"\n"))
                }
            }
            Mode::Daemon => {
                let mut options = format!(
                    "processes={DAEMON_PROCESSES} threads={DAEMON_THREADS} display-name=%{{GROUP}}"
                );
                if !path.is_empty() {
                    options.push_str(&format!(" python-path=\"{path}\""));
                }
                for option in &self.daemon_options {
                    options.push(' ');
                    options.push_str(option);
                }
                // The group must be defined before anything refers to it.
                self.server.conf_first(&format!(
                    "WSGISocketPrefix {{root}}/run/wsgi\n\
                     WSGIDaemonProcess {DAEMON_GROUP} {options}\n\
                     WSGIProcessGroup {DAEMON_GROUP}\n"
                ))
            }
        }
    }

    pub fn start(self) -> super::apache::Apache {
        self.server().start_ok()
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
        mod event_daemon {
            $( #[test] fn $name() { super::$name($crate::common::Mpm::Event, $crate::common::Mode::Daemon) } )*
        }
        mod prefork_daemon {
            $( #[test] fn $name() { super::$name($crate::common::Mpm::Prefork, $crate::common::Mode::Daemon) } )*
        }
    };
}
