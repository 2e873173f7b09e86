//! The command line: mod_wsgi-express's sub-commands and options, with its
//! names, value syntax and defaults (docs/express.md lists each one).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mod_wsgi-express",
    version,
    about = "Runs a WSGI application in a private Apache through this mod_wsgi",
    after_help = "Options take their value as `--opt value` or `--opt=value`; \
                  the ones that can be given more than once say so."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes a server root for the application and runs Apache in the
    /// foreground (Ctrl-C stops it).
    StartServer(Box<ServerArgs>),
    /// Writes a server root with an `apachectl` script, and stops there.
    SetupServer(Box<ServerArgs>),
    /// Prints the lines that load this module into the system's Apache.
    ModuleConfig,
    /// Prints the path of this module.
    ModuleLocation,
    /// Copies this module into Apache's modules directory and prints the
    /// lines that load it from there.
    InstallModule {
        /// Apache's modules directory (default: `apxs -q LIBEXECDIR`).
        #[arg(long, value_name = "DIRECTORY-PATH")]
        modules_directory: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationType {
    /// A WSGI script file, executed as a module named `__wsgi__`.
    Script,
    /// An importable module: `package.module` or `package.module:callable`.
    Module,
    /// A Paste Deploy ini file.
    Paste,
    /// No application: Apache serves the document root.
    Static,
}

/// How `--access-log-format` names a format.
pub const COMMON_LOG_FORMAT: &str = "%h %l %u %t \"%r\" %>s %b";
pub const COMBINED_LOG_FORMAT: &str =
    "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"";

/// The options of `start-server` and `setup-server`.
#[derive(Debug, Args)]
// As with mod_wsgi-express (optparse), a later value of an option replaces
// an earlier one: scripts can add to a fixed command line.
#[command(next_help_heading = "Server", args_override_self = true)]
pub struct ServerArgs {
    /// The WSGI script, module or ini file to serve (like --entry-point).
    #[arg(value_name = "SCRIPT-PATH|MODULE")]
    pub positional_entry_point: Option<String>,

    /// start-server only writes the server root, like setup-server.
    #[arg(long)]
    pub setup_only: bool,

    // --- the application ---
    /// The WSGI script, module or ini file to serve.
    #[arg(long, value_name = "FILE-PATH|MODULE", help_heading = "Application")]
    pub entry_point: Option<String>,
    /// What the entry point is.
    #[arg(
        long,
        value_enum,
        default_value = "script",
        help_heading = "Application"
    )]
    pub application_type: ApplicationType,
    /// The name of the WSGI callable in the script or module.
    #[arg(
        long,
        default_value = "application",
        value_name = "NAME",
        help_heading = "Application"
    )]
    pub callable_object: String,
    /// The URL the application is mounted at.
    #[arg(
        long,
        default_value = "/",
        value_name = "URL-PATH",
        help_heading = "Application"
    )]
    pub mount_point: String,
    /// The application's current directory (default: where this runs).
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Application")]
    pub working_directory: Option<PathBuf>,
    /// A directory to add to sys.path; repeatable.
    #[arg(long, value_name = "DIRECTORY-PATH", action = ArgAction::Append, help_heading = "Application")]
    pub python_path: Vec<PathBuf>,
    /// A variable for the WSGI environ of every request; repeatable.
    #[arg(long, num_args = 2, value_names = ["KEY", "VALUE"], action = ArgAction::Append, help_heading = "Application")]
    pub setenv: Vec<String>,
    /// A variable of this program's environment to pass into the WSGI
    /// environ; repeatable.
    #[arg(long, value_name = "KEY", action = ArgAction::Append, help_heading = "Application")]
    pub passenv: Vec<String>,
    /// Restarts the daemon process when a loaded Python module changes.
    #[arg(long, help_heading = "Application")]
    pub reload_on_changes: bool,
    /// Turns off restarting when the entry point itself changes.
    #[arg(long, help_heading = "Application")]
    pub disable_reloading: bool,
    /// Runs the application in Apache's children, not in a daemon.
    #[arg(long, help_heading = "Application")]
    pub embedded_mode: bool,
    /// The daemon process group's name (default: HOST:PORT).
    #[arg(long, value_name = "NAME", help_heading = "Application")]
    pub process_group: Option<String>,
    /// The application group (sub-interpreter) the application runs in.
    #[arg(
        long,
        default_value = "%{GLOBAL}",
        value_name = "NAME",
        help_heading = "Application"
    )]
    pub application_group: String,
    /// The locale of the daemon processes and of apachectl.
    #[arg(long, value_name = "NAME", help_heading = "Application")]
    pub locale: Option<String>,
    /// The language setting, used when --locale is not given.
    #[arg(long, value_name = "NAME", hide = true, help_heading = "Application")]
    pub lang: Option<String>,
    /// The Python environment to run the application in (WSGIPythonHome;
    /// default: the one this was installed into). Not in mod_wsgi-express.
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Application")]
    pub python_home: Option<PathBuf>,
    /// A `WSGIPythonWarnings` filter; repeatable.
    #[arg(long, value_name = "SPEC", action = ArgAction::Append, help_heading = "Application")]
    pub python_warnings: Vec<String>,

    // --- processes and capacity ---
    /// Daemon processes (default 1).
    #[arg(long, value_name = "NUMBER", value_parser = clap::value_parser!(u32).range(1..=1000), help_heading = "Capacity")]
    pub processes: Option<u32>,
    /// Threads in each daemon process.
    #[arg(long, default_value_t = 5, value_name = "NUMBER", value_parser = clap::value_parser!(u32).range(1..=1000), help_heading = "Capacity")]
    pub threads: u32,
    /// Concurrent connections Apache accepts (default: from processes and
    /// threads).
    #[arg(long, value_name = "NUMBER", value_parser = clap::value_parser!(u32).range(1..=100000), help_heading = "Capacity")]
    pub max_clients: Option<u32>,
    /// Fraction of --max-clients started at once.
    #[arg(long, value_name = "NUMBER", value_parser = fraction, help_heading = "Capacity")]
    pub initial_workers: Option<f64>,
    /// Fraction of --max-clients kept spare at least.
    #[arg(long, value_name = "NUMBER", value_parser = fraction, help_heading = "Capacity")]
    pub minimum_spare_workers: Option<f64>,
    /// Fraction of --max-clients kept spare at most.
    #[arg(long, value_name = "NUMBER", value_parser = fraction, help_heading = "Capacity")]
    pub maximum_spare_workers: Option<f64>,
    /// An MPM Apache may use (event, worker, prefork); repeatable.
    #[arg(long, value_name = "NAME", action = ArgAction::Append, value_parser = ["event", "worker", "prefork"], help_heading = "Capacity")]
    pub server_mpm: Vec<String>,
    /// Connections waiting for Apache.
    #[arg(
        long,
        default_value_t = 500,
        value_name = "NUMBER",
        help_heading = "Capacity"
    )]
    pub server_backlog: u32,
    /// Connections waiting for a daemon process (listen-backlog=).
    #[arg(
        long,
        default_value_t = 100,
        value_name = "NUMBER",
        help_heading = "Capacity"
    )]
    pub daemon_backlog: u32,

    // --- timeouts and limits of the daemon processes ---
    /// Seconds a request may run before its daemon process is restarted.
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub request_timeout: u32,
    /// Requests after which a daemon process is replaced (0: never).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "NUMBER",
        help_heading = "Timeouts"
    )]
    pub maximum_requests: u32,
    /// Seconds without requests after which a daemon process restarts.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub inactivity_timeout: u32,
    /// A URL whose requests do not count as activity; repeatable.
    #[arg(long, value_name = "URL-PATH", action = ArgAction::Append, help_heading = "Timeouts")]
    pub ignore_activity: Vec<String>,
    /// Seconds running requests get to finish at a graceful restart.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub graceful_timeout: u32,
    /// Seconds a daemon process gets to finish when Apache evicts it.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub eviction_timeout: u32,
    /// Seconds the GIL may be held before the process is restarted.
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub deadlock_timeout: u32,
    /// Seconds of silence on a connection (Apache's Timeout too).
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub socket_timeout: u32,
    /// Seconds a request may wait for a daemon thread.
    #[arg(
        long,
        default_value_t = 45,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub queue_timeout: u32,
    /// Seconds to connect to a daemon process.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub connect_timeout: u32,
    /// Seconds a daemon process may take to load the application.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub startup_timeout: u32,
    /// Seconds a daemon process gets to exit when stopped.
    #[arg(
        long,
        default_value_t = 5,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub shutdown_timeout: u32,
    /// Seconds after which a daemon process is restarted anyway (0: never).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub restart_interval: u32,
    /// CPU seconds after which a daemon process is restarted (0: no limit).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub cpu_time_limit: u32,
    /// Seconds before request-timeout at which the request is interrupted
    /// with an exception (0: not).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub interrupt_timeout: u32,
    /// Largest response header a daemon may send (0: 32768).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "NUMBER",
        help_heading = "Timeouts"
    )]
    pub header_buffer_size: u32,
    /// Response bytes gathered before they are sent on (0: the default).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "NUMBER",
        help_heading = "Timeouts"
    )]
    pub response_buffer_size: u32,
    /// The daemon socket's send buffer in bytes (0: the system's).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "NUMBER",
        help_heading = "Timeouts"
    )]
    pub send_buffer_size: u32,
    /// The daemon socket's receive buffer in bytes (0: the system's).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "NUMBER",
        help_heading = "Timeouts"
    )]
    pub receive_buffer_size: u32,
    /// Seconds a client may stall a response (0: --socket-timeout).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub response_socket_timeout: u32,
    /// Milliseconds a daemon waits for more response data before flushing.
    #[arg(
        long,
        default_value_t = 5,
        value_name = "MILLISECONDS",
        help_heading = "Timeouts"
    )]
    pub response_flush_delay: u32,
    /// Seconds between Python thread switches.
    #[arg(long, value_name = "SECONDS", help_heading = "Timeouts")]
    pub switch_interval: Option<f64>,
    /// Seconds an idle keep-alive connection is kept open (0: no keep-alive).
    #[arg(
        long,
        default_value_t = 2,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub keep_alive_timeout: u32,
    /// Seconds to receive the request header.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub header_timeout: u32,
    /// Seconds the header may take at most while data keeps coming (0: no
    /// maximum).
    #[arg(
        long,
        default_value_t = 30,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub header_max_timeout: u32,
    /// Bytes per second that extend the header timeout.
    #[arg(
        long,
        default_value_t = 500,
        value_name = "BYTES",
        help_heading = "Timeouts"
    )]
    pub header_min_rate: u32,
    /// Seconds to receive the request body.
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub body_timeout: u32,
    /// Seconds the body may take at most while data keeps coming (0: no
    /// maximum).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Timeouts"
    )]
    pub body_max_timeout: u32,
    /// Bytes per second that extend the body timeout.
    #[arg(
        long,
        default_value_t = 500,
        value_name = "BYTES",
        help_heading = "Timeouts"
    )]
    pub body_min_rate: u32,
    /// Largest request body accepted, in bytes.
    #[arg(
        long,
        default_value_t = 10_485_760,
        value_name = "NUMBER",
        help_heading = "Timeouts"
    )]
    pub limit_request_body: u64,

    // --- the server ---
    /// The port to listen on.
    #[arg(
        long,
        default_value_t = 8000,
        value_name = "NUMBER",
        help_heading = "Server"
    )]
    pub port: u16,
    /// The address to listen on (default: every address, named localhost).
    #[arg(long, value_name = "IP-ADDRESS", help_heading = "Server")]
    pub host: Option<String>,
    /// Serve only this host name (other Host headers get 403).
    #[arg(long, value_name = "HOSTNAME", help_heading = "Server")]
    pub server_name: Option<String>,
    /// Another name for --server-name; repeatable.
    #[arg(long, value_name = "HOSTNAME", action = ArgAction::Append, help_heading = "Server")]
    pub server_alias: Vec<String>,
    /// With --server-name, still answer requests to localhost.
    #[arg(long, help_heading = "Server")]
    pub allow_localhost: bool,
    /// Where the configuration, logs and sockets go (default:
    /// $TMPDIR/mod_wsgi-HOST:PORT:UID).
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Server")]
    pub server_root: Option<PathBuf>,
    /// The user Apache's children and the daemons run as (default: yours;
    /// www-data when run as root).
    #[arg(long, value_name = "USERNAME", help_heading = "Server")]
    pub user: Option<String>,
    /// Their group (default: the user's group).
    #[arg(long, value_name = "GROUP", help_heading = "Server")]
    pub group: Option<String>,
    /// Static files served by Apache; what is not there goes to the
    /// application (default: SERVER-ROOT/htdocs).
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Server")]
    pub document_root: Option<PathBuf>,
    /// The file Apache serves for a directory of the document root.
    #[arg(long, value_name = "FILE-NAME", help_heading = "Server")]
    pub directory_index: Option<String>,
    /// Lists directories of the document root.
    #[arg(long, help_heading = "Server")]
    pub directory_listing: bool,
    /// What .htaccess files in the document root may override; repeatable.
    #[arg(long, value_name = "DIRECTIVE-TYPE", action = ArgAction::Append, help_heading = "Server")]
    pub allow_override: Vec<String>,
    /// Serves a file or directory at a URL; repeatable.
    #[arg(long, num_args = 2, value_names = ["URL-PATH", "FILE-PATH|DIRECTORY-PATH"], action = ArgAction::Append, help_heading = "Server")]
    pub url_alias: Vec<String>,
    /// An Apache configuration file included at the end; repeatable.
    #[arg(long, value_name = "FILE-PATH", action = ArgAction::Append, help_heading = "Server")]
    pub include_file: Vec<PathBuf>,
    /// A shell script apachectl sources before starting Apache.
    #[arg(long, value_name = "FILE-PATH", help_heading = "Server")]
    pub envvars_script: Option<PathBuf>,
    /// The MIME types file (default: /etc/mime.types when present).
    #[arg(long, value_name = "FILE-PATH", help_heading = "Server")]
    pub mime_types: Option<PathBuf>,
    /// Apache's pid file (default: SERVER-ROOT/httpd.pid).
    #[arg(long, value_name = "FILE-PATH", help_heading = "Server")]
    pub pid_file: Option<PathBuf>,
    /// Where the daemon sockets go (default: SERVER-ROOT).
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Server")]
    pub socket_prefix: Option<PathBuf>,
    /// Compresses text responses (mod_deflate).
    #[arg(long, help_heading = "Server")]
    pub compress_responses: bool,
    /// A header set by a trusted front-end proxy; repeatable.
    #[arg(long, value_name = "HEADER-NAME", action = ArgAction::Append, help_heading = "Server")]
    pub trust_proxy_header: Vec<String>,
    /// The address or subnet of a trusted front-end proxy; repeatable.
    #[arg(long, value_name = "IP-ADDRESS/SUBNET", action = ArgAction::Append, help_heading = "Server")]
    pub trust_proxy: Vec<String>,
    /// Serves /server-status (mod_status) to localhost.
    #[arg(long, help_heading = "Server")]
    pub server_status: bool,
    /// Collects the server metrics mod_wsgi.server_metrics() reports.
    #[arg(long, help_heading = "Server")]
    pub server_metrics: bool,
    /// HEAD requests reach the application as GET (On, Off, Auto).
    #[arg(long, default_value = "Auto", value_name = "OFF|ON|AUTO", value_parser = ["Off", "On", "Auto", "off", "on", "auto"], help_heading = "Server")]
    pub map_head_to_get: String,
    /// Lets Apache send file responses with sendfile().
    #[arg(long, help_heading = "Server")]
    pub enable_sendfile: bool,
    /// Apache's error documents replace the application's error pages.
    #[arg(long, help_heading = "Server")]
    pub error_override: bool,
    /// Accepts chunked request bodies.
    #[arg(long, help_heading = "Server")]
    pub chunked_request: bool,
    /// A script whose check_password() authenticates users (Basic).
    #[arg(long, value_name = "SCRIPT-PATH", help_heading = "Server")]
    pub auth_user_script: Option<PathBuf>,
    /// The authentication type with --auth-user-script (Basic, Digest).
    #[arg(
        long,
        default_value = "Basic",
        value_name = "TYPE",
        help_heading = "Server"
    )]
    pub auth_type: String,
    /// A script whose groups_for_user() names the user's groups.
    #[arg(long, value_name = "SCRIPT-PATH", help_heading = "Server")]
    pub auth_group_script: Option<PathBuf>,
    /// The group a user must be in with --auth-group-script.
    #[arg(
        long,
        default_value = "wsgi",
        value_name = "NAME",
        help_heading = "Server"
    )]
    pub auth_group: String,
    /// A script whose allow_access() decides who may connect.
    #[arg(long, value_name = "SCRIPT-PATH", help_heading = "Server")]
    pub host_access_script: Option<PathBuf>,

    // --- HTTPS ---
    /// The port to serve HTTPS on.
    #[arg(
        long,
        alias = "ssl-port",
        value_name = "NUMBER",
        help_heading = "HTTPS"
    )]
    pub https_port: Option<u16>,
    /// The certificate (PEM).
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_certificate_file: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_certificate_key_file: Option<PathBuf>,
    /// The certificate and key as BASE.crt and BASE.key.
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_certificate: Option<PathBuf>,
    /// The chain of the certificate.
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_certificate_chain_file: Option<PathBuf>,
    /// CA certificates for client certificates.
    #[arg(long, value_name = "FILE-PATH", help_heading = "HTTPS")]
    pub ssl_ca_certificate_file: Option<PathBuf>,
    /// A URL that requires a client certificate; repeatable.
    #[arg(long, value_name = "URL-PATH", action = ArgAction::Append, help_heading = "HTTPS")]
    pub ssl_verify_client: Vec<String>,
    /// Puts mod_ssl's variables into the WSGI environ.
    #[arg(long, help_heading = "HTTPS")]
    pub ssl_environment: bool,
    /// The plain port only redirects to HTTPS.
    #[arg(long, help_heading = "HTTPS")]
    pub https_only: bool,
    /// A Strict-Transport-Security value, sent with --https-only.
    #[arg(long, value_name = "POLICY", help_heading = "HTTPS")]
    pub hsts_policy: Option<String>,

    // --- logging ---
    /// Apache's LogLevel.
    #[arg(
        long,
        default_value = "warn",
        value_name = "NAME",
        help_heading = "Logging"
    )]
    pub log_level: String,
    /// Logs go to the terminal, not to files.
    #[arg(long, help_heading = "Logging")]
    pub log_to_terminal: bool,
    /// Where the log files go (default: the server root).
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Logging")]
    pub log_directory: Option<PathBuf>,
    /// The error log's file name.
    #[arg(
        long,
        default_value = "error_log",
        value_name = "FILE-NAME",
        help_heading = "Logging"
    )]
    pub error_log_name: String,
    /// Apache's ErrorLogFormat.
    #[arg(long, value_name = "FORMAT", help_heading = "Logging")]
    pub error_log_format: Option<String>,
    /// Writes an access log.
    #[arg(long, help_heading = "Logging")]
    pub access_log: bool,
    /// The access log's file name.
    #[arg(
        long,
        default_value = "access_log",
        value_name = "FILE-NAME",
        help_heading = "Logging"
    )]
    pub access_log_name: String,
    /// common, combined or a LogFormat string.
    #[arg(long, value_name = "FORMAT", help_heading = "Logging")]
    pub access_log_format: Option<String>,
    /// Writes what Apache says while starting to a log file.
    #[arg(long, help_heading = "Logging")]
    pub startup_log: bool,
    /// The startup log's file name.
    #[arg(
        long,
        default_value = "startup_log",
        value_name = "FILE-NAME",
        help_heading = "Logging"
    )]
    pub startup_log_name: String,
    /// Rotates the log files through rotatelogs.
    #[arg(long, help_heading = "Logging")]
    pub rotate_logs: bool,
    /// Megabytes after which a log is rotated.
    #[arg(long, default_value_t = 5, value_name = "MB", help_heading = "Logging")]
    pub max_log_size: u32,
    /// The rotatelogs program.
    #[arg(long, value_name = "FILE-PATH", help_heading = "Logging")]
    pub rotatelogs_executable: Option<PathBuf>,

    // --- Apache itself ---
    /// Apache's program (default: found with apxs, then the usual places;
    /// the HTTPD environment variable wins).
    #[arg(long, value_name = "FILE-PATH", help_heading = "Apache")]
    pub httpd_executable: Option<PathBuf>,
    /// Apache's modules directory (default: found with apxs).
    #[arg(long, value_name = "DIRECTORY-PATH", help_heading = "Apache")]
    pub modules_directory: Option<PathBuf>,
}

fn fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}

impl ServerArgs {
    /// `--url-alias` pairs, in the order given.
    pub fn url_aliases(&self) -> impl Iterator<Item = (&str, &str)> {
        self.url_alias
            .chunks_exact(2)
            .map(|pair| (pair[0].as_str(), pair[1].as_str()))
    }

    /// `--setenv` pairs, in the order given.
    pub fn setenvs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.setenv
            .chunks_exact(2)
            .map(|pair| (pair[0].as_str(), pair[1].as_str()))
    }
}

/// mod_wsgi-express options this one does not have, so that using one
/// says so plainly rather than "unexpected argument".
pub const UNSUPPORTED_OPTIONS: &[&str] = &[
    "--enable-debugger",
    "--debugger-startup",
    "--debug-mode",
    "--enable-coverage",
    "--coverage-directory",
    "--enable-profiler",
    "--profiler-directory",
    "--enable-recorder",
    "--recorder-directory",
    "--enable-gdb",
    "--gdb-executable",
    "--enable-docs",
    "--with-newrelic",
    "--with-newrelic-agent",
    "--with-newrelic-platform",
    "--with-php5",
    "--with-cgi",
    "--http2",
    "--proxy-mount-point",
    "--proxy-url-alias",
    "--proxy-virtual-host",
    "--proxy-timeout",
    "--add-handler",
    "--service-script",
    "--service-user",
    "--service-group",
    "--service-log-file",
    "--rewrite-rules",
    "--error-document",
    "--python-eggs",
    "--shell-executable",
    "--process-name",
    "--orphan-interpreter",
    "--free-threading",
    "--enable-telemetry",
    "--telemetry-service",
    "--telemetry-options",
    "--telemetry-interval",
    "--telemetry-ui-port",
    "--slow-requests",
    "--verbose-debugging",
];

/// Options that take two values.
const TWO_VALUE_OPTIONS: &[&str] = &["--url-alias", "--setenv"];

/// `--url-alias=URL PATH` as `--url-alias URL PATH`, as optparse read it
/// for mod_wsgi-express: clap gives `=` to one value only.
pub fn split_two_value_options(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    for arg in args {
        match arg.split_once('=') {
            Some((name, value)) if TWO_VALUE_OPTIONS.contains(&name) => {
                out.push(name.to_string());
                out.push(value.to_string());
            }
            _ => out.push(arg),
        }
    }
    out
}

/// The first argument naming an option of [`UNSUPPORTED_OPTIONS`].
pub fn unsupported_option(args: &[String]) -> Option<&'static str> {
    args.iter().find_map(|arg| {
        let name = arg.split('=').next().unwrap_or(arg);
        UNSUPPORTED_OPTIONS.iter().copied().find(|o| *o == name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn server(args: &[&str]) -> ServerArgs {
        let mut argv = vec!["mod_wsgi-express", "start-server"];
        argv.extend_from_slice(args);
        let argv = split_two_value_options(argv.into_iter().map(String::from));
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::StartServer(args) => *args,
            other => panic!("not start-server: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_mod_wsgi_express_defaults() {
        let args = server(&["app.wsgi"]);
        assert_eq!(args.positional_entry_point.as_deref(), Some("app.wsgi"));
        assert_eq!(args.port, 8000);
        assert_eq!(args.threads, 5);
        assert_eq!(args.processes, None);
        assert_eq!(args.request_timeout, 60);
        assert_eq!(args.graceful_timeout, 15);
        assert_eq!(args.queue_timeout, 45);
        assert_eq!(args.limit_request_body, 10_485_760);
        assert_eq!(args.log_level, "warn");
        assert_eq!(args.callable_object, "application");
        assert_eq!(args.application_type, ApplicationType::Script);
        assert!(!args.embedded_mode);
    }

    #[test]
    fn both_value_forms_and_repeats() {
        let args = server(&[
            "--port=80",
            "--threads",
            "10",
            "--python-path=/a",
            "--python-path",
            "/b",
            "--url-alias",
            "/static",
            "/srv/static",
            "--url-alias=/media",
            "/srv/media",
            "--setenv",
            "K",
            "V",
            "--trust-proxy-header",
            "X-Forwarded-For",
            "--trust-proxy-header=X-Forwarded-Proto",
        ]);
        assert_eq!(args.port, 80);
        assert_eq!(args.threads, 10);
        assert_eq!(args.python_path, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(
            args.url_aliases().collect::<Vec<_>>(),
            [("/static", "/srv/static"), ("/media", "/srv/media")]
        );
        assert_eq!(args.setenvs().collect::<Vec<_>>(), [("K", "V")]);
        assert_eq!(args.trust_proxy_header.len(), 2);
    }

    #[test]
    fn a_later_value_replaces_an_earlier_one() {
        let args = server(&[
            "--port",
            "8000",
            "--port=8080",
            "--python-path",
            "/a",
            "--python-path",
            "/b",
        ]);
        assert_eq!(args.port, 8080);
        assert_eq!(args.python_path.len(), 2);
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--port", "70000"][..],
            &["--threads", "0"],
            &["--processes", "x"],
            &["--initial-workers", "2"],
            &["--application-type", "egg"],
            &["--server-mpm", "winnt"],
            &["--no-such-option"],
        ] {
            let mut argv = vec!["mod_wsgi-express", "start-server"];
            argv.extend_from_slice(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn unsupported_options_are_named() {
        let args = ["app.wsgi".to_string(), "--enable-debugger".to_string()];
        assert_eq!(unsupported_option(&args), Some("--enable-debugger"));
        let args = ["--proxy-timeout=5".to_string()];
        assert_eq!(unsupported_option(&args), Some("--proxy-timeout"));
        assert_eq!(unsupported_option(&["--port".to_string()]), None);
    }
}
