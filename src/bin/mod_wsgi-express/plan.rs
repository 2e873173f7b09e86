//! From the command line to the values the generated files are made of:
//! every default, path and derived setting mod_wsgi-express computes, in
//! one serialisable record the templates read.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::apache_install::ApacheInstall;
use crate::capacity::{Capacity, Workers, capacity};
use crate::cli::{ApplicationType, COMBINED_LOG_FORMAT, COMMON_LOG_FORMAT, ServerArgs};
use crate::error::ExpressError;
use crate::module_files::ModuleFiles;

/// Apache modules every generated server loads (each only when it is not
/// built into httpd already).
const ALWAYS_LOADED: &[&str] = &[
    "unixd",
    "authn_core",
    "authz_core",
    "authz_host",
    "mime",
    "rewrite",
    "alias",
    "dir",
    "env",
    "headers",
    "reqtimeout",
];

#[derive(Debug, Serialize)]
pub struct DaemonOption {
    pub name: &'static str,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct UrlAlias {
    pub url: String,
    pub target: String,
    /// For a file target: its directory and name.
    pub directory: Option<String>,
    pub file: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Https {
    pub port: u16,
    pub certificate_file: String,
    pub certificate_key_file: String,
    pub certificate_chain_file: Option<String>,
    pub ca_certificate_file: Option<String>,
    pub verify_client: Vec<String>,
    pub environment: bool,
    pub hsts_policy: Option<String>,
}

/// Everything the templates and the summary need.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub display_url: String,
    pub display_https_url: Option<String>,
    pub display_host: String,
    pub server_root: String,
    pub config_file: String,
    pub apachectl: String,
    pub handler_script: String,
    pub default_script: String,
    pub envvars: String,
    pub pid_file: String,
    pub httpd: String,
    pub httpd_args: Vec<String>,
    pub modules_directory: String,
    pub mpms: Vec<&'static str>,
    pub mpm_chosen: &'static str,
    pub modules: Vec<&'static str>,
    pub module_path: String,
    pub python_home: Option<String>,

    pub port: u16,
    pub listen_host: Option<String>,
    pub global_server_name: String,
    pub server_name: Option<String>,
    pub server_aliases: Vec<String>,
    pub allow_localhost: bool,
    pub user: String,
    pub group: String,
    pub locale: String,
    pub working_directory: String,

    pub server_backlog: u32,
    pub socket_timeout: u32,
    pub keep_alive_timeout: u32,
    pub limit_request_body: u64,
    pub request_read_timeout: String,
    pub mime_types: String,
    pub capacity: Capacity,
    pub max_connections_per_child: u32,

    pub error_log: String,
    pub access_log: Option<String>,
    pub access_log_format: String,
    pub error_log_format: Option<String>,
    pub startup_log: Option<String>,
    pub log_level: String,

    pub socket_prefix: String,
    pub map_head_to_get: String,
    pub server_metrics: bool,
    pub server_status: bool,
    pub disable_reloading: bool,
    pub reload_on_changes: bool,
    pub enable_sendfile: bool,
    pub error_override: bool,
    pub chunked_request: bool,
    pub switch_interval: Option<f64>,
    pub python_warnings: Vec<String>,
    pub trust_proxy_headers: Vec<String>,
    pub trust_proxies: Vec<String>,
    pub embedded: bool,
    pub python_path: String,
    pub process_group: String,
    pub handler_process_group: String,
    pub application_group: String,
    pub daemon_options: Vec<DaemonOption>,
    pub processes: u32,
    pub threads: u32,
    pub request_timeout: u32,
    pub queue_timeout: u32,
    pub startup_timeout: u32,
    pub daemon_backlog: u32,

    pub entry_point: String,
    pub application_type: ApplicationType,
    pub callable_object: String,
    pub mount_point: String,
    pub document_root: String,
    pub mount_directory: String,
    pub directory_index: Option<String>,
    pub directory_listing: bool,
    pub allow_override: String,
    pub url_aliases: Vec<UrlAlias>,
    pub setenv: Vec<(String, String)>,
    pub passenv: Vec<String>,
    pub ignore_activity: Vec<String>,
    pub include_files: Vec<String>,
    pub envvars_script: Option<String>,
    pub compress_responses: bool,
    pub host_access_script: Option<String>,
    pub auth_user_script: Option<String>,
    pub auth_type: String,
    pub auth_group_script: Option<String>,
    pub auth_group: String,
    pub https: Option<Https>,
    pub https_only: bool,
    pub https_port_suffix: String,
}

/// A path as text for the generated files (they are UTF-8).
fn text(option: &str, path: &Path) -> Result<String, ExpressError> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| ExpressError::Usage(format!("{option}: {} is not UTF-8", path.display())))
}

fn absolute(option: &str, path: &Path, base: &Path) -> Result<String, ExpressError> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    text(option, &normalize(&joined))
}

/// `a/./b/../c` as `a/c`, without touching the file system (the path may
/// not exist yet, and symlinks are the user's to keep).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn existing_file(option: &str, path: &Path, base: &Path) -> Result<String, ExpressError> {
    let path = absolute(option, path, base)?;
    if Path::new(&path).is_file() {
        Ok(path)
    } else {
        Err(ExpressError::Usage(format!(
            "{option}: {path}: no such file"
        )))
    }
}

/// `/a/b` with one leading slash and none trailing (`/` stays `/`).
fn mount_point(value: &str) -> String {
    let trimmed = value.trim_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        format!("/{trimmed}")
    }
}

/// The name of the user and group this runs as, or `#id`.
fn invoking_user() -> (String, String) {
    use nix::unistd::{Gid, Group, Uid, User};
    let uid = Uid::current();
    let gid = Gid::current();
    let user = User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| format!("#{uid}"), |u| u.name);
    let group = Group::from_gid(gid)
        .ok()
        .flatten()
        .map_or_else(|| format!("#{gid}"), |g| g.name);
    (user, group)
}

/// Run as root without --user, Apache's children need an unprivileged
/// user: the distribution's own Apache user.
fn unprivileged_user() -> Option<(String, String)> {
    use nix::unistd::{Group, User};
    ["www-data", "apache", "daemon", "nobody"]
        .iter()
        .find_map(|name| User::from_name(name).ok().flatten())
        .map(|user| {
            let group = Group::from_gid(user.gid)
                .ok()
                .flatten()
                .map_or_else(|| format!("#{}", user.gid), |g| g.name);
            (user.name, group)
        })
}

fn user_and_group(args: &ServerArgs) -> (String, String) {
    let (default_user, default_group) = if nix::unistd::Uid::effective().is_root() {
        unprivileged_user().unwrap_or_else(invoking_user)
    } else {
        invoking_user()
    };
    let user = args.user.clone().unwrap_or(default_user);
    let group = match (&args.group, &args.user) {
        (Some(group), _) => group.clone(),
        // The named user's own group.
        (None, Some(name)) => nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .and_then(|u| nix::unistd::Group::from_gid(u.gid).ok().flatten())
            .map_or(default_group, |g| g.name),
        (None, None) => default_group,
    };
    (user, group)
}

/// The locale for the daemons and apachectl: the one asked for, else the
/// environment's; the C locale becomes C.UTF-8 so that Python's file
/// system encoding is UTF-8.
fn locale(args: &ServerArgs) -> String {
    let asked = args
        .locale
        .clone()
        .or_else(|| args.lang.clone())
        .or_else(|| {
            ["LC_ALL", "LC_CTYPE", "LANG"]
                .iter()
                .filter_map(|var| std::env::var(var).ok())
                .find(|value| !value.is_empty())
        });
    match asked {
        Some(value) if value != "C" && value != "POSIX" => value,
        _ => "C.UTF-8".into(),
    }
}

fn words_only(option: &str, values: &[String]) -> Result<String, ExpressError> {
    if values.is_empty() {
        return Ok("None".into());
    }
    for value in values {
        if value.is_empty()
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "=,+-".contains(c))
        {
            return Err(ExpressError::Usage(format!(
                "{option}: {value:?} is not an AllowOverride type"
            )));
        }
    }
    Ok(values.join(" "))
}

pub fn plan(
    args: &ServerArgs,
    apache: &ApacheInstall,
    module: &ModuleFiles,
) -> Result<Plan, ExpressError> {
    let cwd = std::env::current_dir().map_err(ExpressError::file("."))?;
    let uid = nix::unistd::Uid::current();
    let host_name = args.host.clone().unwrap_or_else(|| "localhost".into());
    let port = args.port;

    let server_root = match &args.server_root {
        Some(root) => absolute("--server-root", root, &cwd)?,
        None => {
            let tmp = std::env::var("TMPDIR")
                .ok()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "/tmp".into());
            format!(
                "{}/mod_wsgi-{host_name}:{port}:{uid}",
                tmp.trim_end_matches('/')
            )
        }
    };
    let in_root = |name: &str| -> String { format!("{server_root}/{name}") };

    let working_directory = match &args.working_directory {
        Some(dir) => absolute("--working-directory", dir, &cwd)?,
        None => text("--working-directory", &cwd)?,
    };

    let entry = args
        .entry_point
        .clone()
        .or_else(|| args.positional_entry_point.clone());
    let application_type = args.application_type;
    let (entry_point, application_type) = match (application_type, entry) {
        (ApplicationType::Static, _) => (String::new(), ApplicationType::Static),
        (ApplicationType::Module, Some(name)) => {
            let module_name = name.split(':').next().unwrap_or_default();
            if module_name.is_empty()
                || !module_name.split('.').all(|part| {
                    !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_')
                })
            {
                return Err(ExpressError::Usage(format!(
                    "--entry-point {name:?} is not a module name (package.module or package.module:callable)"
                )));
            }
            (name, ApplicationType::Module)
        }
        (ApplicationType::Module, None) => {
            return Err(ExpressError::Usage(
                "--application-type module needs a module name".into(),
            ));
        }
        (kind, Some(path)) => (existing_file("entry point", Path::new(&path), &cwd)?, kind),
        (_, None) => (in_root("default.wsgi"), ApplicationType::Script),
    };

    let embedded = args.embedded_mode;
    let processes = args.processes.unwrap_or(1);
    let threads = args.threads;
    let (user, group) = user_and_group(args);

    let mpm_order: &[&'static str] = if embedded && args.server_mpm.is_empty() {
        &["worker", "prefork"]
    } else {
        &["event", "worker", "prefork"]
    };
    let mpms: Vec<&'static str> = mpm_order
        .iter()
        .copied()
        .filter(|mpm| args.server_mpm.is_empty() || args.server_mpm.iter().any(|m| m == mpm))
        .collect();
    let mpm_chosen = mpms
        .iter()
        .copied()
        .find(|mpm| apache.has_module(&format!("mpm_{mpm}")))
        .ok_or_else(|| {
            ExpressError::Usage(format!(
                "none of the MPMs {} is in {}",
                mpms.join(", "),
                apache.modules_directory.display()
            ))
        })?;

    let capacity = capacity(&Workers {
        processes,
        threads,
        max_clients: args.max_clients,
        initial: args.initial_workers,
        minimum_spare: args.minimum_spare_workers,
        maximum_spare: args.maximum_spare_workers,
        embedded,
    });

    // Logs.
    let log_directory = match &args.log_directory {
        Some(dir) => Some(absolute("--log-directory", dir, &cwd)?),
        None => None,
    };
    let to_terminal = args.log_to_terminal && log_directory.is_none();
    let log_dir = log_directory.clone().unwrap_or_else(|| server_root.clone());
    let rotatelogs = match &args.rotatelogs_executable {
        Some(path) => Some(absolute("--rotatelogs-executable", path, &cwd)?),
        None => apache
            .rotatelogs
            .as_deref()
            .map(|p| text("rotatelogs", p))
            .transpose()?,
    };
    let log_target = |name: &str, terminal: &str| -> Result<String, ExpressError> {
        if to_terminal {
            return Ok(terminal.into());
        }
        let file = format!("{log_dir}/{name}");
        if args.rotate_logs {
            let rotatelogs = rotatelogs.as_deref().ok_or_else(|| {
                ExpressError::Usage("--rotate-logs: rotatelogs was not found".into())
            })?;
            return Ok(format!(
                "|{} {} {}M",
                crate::quoting::shell_word(rotatelogs),
                crate::quoting::shell_word(&format!("{file}.%Y-%m-%d-%H_%M_%S")),
                args.max_log_size
            ));
        }
        Ok(file)
    };
    let error_log = log_target(&args.error_log_name, "/dev/stderr")?;
    let access_log = if args.access_log {
        Some(log_target(&args.access_log_name, "/dev/stdout")?)
    } else {
        None
    };
    let access_log_format = match args.access_log_format.as_deref() {
        None | Some("common") => COMMON_LOG_FORMAT.to_string(),
        Some("combined") => COMBINED_LOG_FORMAT.to_string(),
        Some(custom) => custom.to_string(),
    };
    let startup_log = args.startup_log.then(|| {
        if to_terminal {
            "/dev/stderr".to_string()
        } else {
            format!("{log_dir}/{}", args.startup_log_name)
        }
    });

    // Documents and aliases.
    let document_root = match &args.document_root {
        Some(dir) => absolute("--document-root", dir, &cwd)?,
        None => in_root("htdocs"),
    };
    let mount = mount_point(&args.mount_point);
    let mount_directory = if mount == "/" {
        document_root.clone()
    } else {
        format!("{document_root}{mount}")
    };
    let mut url_aliases = Vec::new();
    for (url, target) in args.url_aliases() {
        let path = absolute("--url-alias", Path::new(target), &cwd)?;
        let is_file = Path::new(&path).is_file();
        let (directory, file) = if is_file {
            let p = Path::new(&path);
            (
                p.parent().map(|d| d.to_string_lossy().into_owned()),
                p.file_name().map(|f| f.to_string_lossy().into_owned()),
            )
        } else {
            (None, None)
        };
        // A trailing slash on the target stays: Alias maps it literally.
        let target = if target.ends_with('/') && !path.ends_with('/') {
            format!("{path}/")
        } else {
            path
        };
        url_aliases.push(UrlAlias {
            url: url.to_string(),
            target,
            directory,
            file,
        });
    }
    // The longest URL first, so that /static/css is not hidden by /static.
    url_aliases.sort_by(|a, b| b.url.cmp(&a.url));

    // HTTPS.
    let (certificate_file, certificate_key_file) = match &args.ssl_certificate {
        Some(base) => {
            let base = absolute("--ssl-certificate", base, &cwd)?;
            (Some(format!("{base}.crt")), Some(format!("{base}.key")))
        }
        None => (
            args.ssl_certificate_file
                .as_deref()
                .map(|p| absolute("--ssl-certificate-file", p, &cwd))
                .transpose()?,
            args.ssl_certificate_key_file
                .as_deref()
                .map(|p| absolute("--ssl-certificate-key-file", p, &cwd))
                .transpose()?,
        ),
    };
    let https = match (args.https_port, certificate_file, certificate_key_file) {
        (Some(https_port), Some(certificate_file), Some(certificate_key_file)) => {
            if https_port == port {
                return Err(ExpressError::Usage(
                    "--https-port must differ from --port".into(),
                ));
            }
            for file in [&certificate_file, &certificate_key_file] {
                if !Path::new(file).is_file() {
                    return Err(ExpressError::Usage(format!("{file}: no such file")));
                }
            }
            Some(Https {
                port: https_port,
                certificate_file,
                certificate_key_file,
                certificate_chain_file: args
                    .ssl_certificate_chain_file
                    .as_deref()
                    .map(|p| existing_file("--ssl-certificate-chain-file", p, &cwd))
                    .transpose()?,
                ca_certificate_file: args
                    .ssl_ca_certificate_file
                    .as_deref()
                    .map(|p| existing_file("--ssl-ca-certificate-file", p, &cwd))
                    .transpose()?,
                verify_client: if args.ssl_verify_client.is_empty() {
                    vec!["/".into()]
                } else {
                    args.ssl_verify_client.clone()
                },
                environment: args.ssl_environment,
                hsts_policy: args.hsts_policy.clone().filter(|_| args.https_only),
            })
        }
        (Some(_), _, _) => {
            return Err(ExpressError::Usage(
                "--https-port needs --ssl-certificate-file and --ssl-certificate-key-file (or --ssl-certificate)".into(),
            ));
        }
        (None, cert, key) => {
            if cert.is_some() || key.is_some() || args.https_only {
                return Err(ExpressError::Usage(
                    "the certificate options and --https-only need --https-port".into(),
                ));
            }
            None
        }
    };
    let https_port_suffix = match &https {
        Some(h) if h.port != 443 => format!(":{}", h.port),
        _ => String::new(),
    };

    // Modules.
    let mut modules: Vec<&'static str> = ALWAYS_LOADED.to_vec();
    if args.access_log || args.error_log_format.is_some() {
        modules.push("log_config");
    }
    if args.compress_responses {
        modules.extend(["filter", "deflate"]);
    }
    if args.server_status {
        modules.push("status");
    }
    if args.directory_listing {
        modules.push("autoindex");
    }
    if args.auth_user_script.is_some() {
        modules.extend(["auth_basic", "auth_digest", "authz_user"]);
    }
    if https.is_some() {
        modules.extend(["socache_shmcb", "ssl"]);
    }

    // The daemon group.
    let process_group = args
        .process_group
        .clone()
        .unwrap_or_else(|| format!("{host_name}:{port}"));
    let display_name = match &args.process_group {
        Some(name) => format!("(wsgi:{name})"),
        None => format!("(wsgi:{host_name}:{port}:{uid})"),
    };
    let python_path = args
        .python_path
        .iter()
        .map(|p| absolute("--python-path", p, &cwd))
        .collect::<Result<Vec<_>, _>>()?
        .join(":");
    let locale = locale(args);
    let n = |v: u32| v.to_string();
    let mut daemon_options = vec![
        DaemonOption {
            name: "display-name",
            value: display_name,
        },
        DaemonOption {
            name: "home",
            value: working_directory.clone(),
        },
    ];
    if args.processes.is_some() {
        daemon_options.push(DaemonOption {
            name: "processes",
            value: n(processes),
        });
    }
    daemon_options.extend([
        DaemonOption {
            name: "threads",
            value: n(threads),
        },
        DaemonOption {
            name: "maximum-requests",
            value: n(args.maximum_requests),
        },
    ]);
    if !python_path.is_empty() {
        daemon_options.push(DaemonOption {
            name: "python-path",
            value: python_path.clone(),
        });
    }
    daemon_options.extend([
        DaemonOption {
            name: "lang",
            value: locale.clone(),
        },
        DaemonOption {
            name: "locale",
            value: locale.clone(),
        },
        DaemonOption {
            name: "listen-backlog",
            value: n(args.daemon_backlog),
        },
        DaemonOption {
            name: "queue-timeout",
            value: n(args.queue_timeout),
        },
        DaemonOption {
            name: "socket-timeout",
            value: n(args.socket_timeout),
        },
        DaemonOption {
            name: "connect-timeout",
            value: n(args.connect_timeout),
        },
        DaemonOption {
            name: "request-timeout",
            value: n(args.request_timeout),
        },
        DaemonOption {
            name: "inactivity-timeout",
            value: n(args.inactivity_timeout),
        },
        DaemonOption {
            name: "startup-timeout",
            value: n(args.startup_timeout),
        },
        DaemonOption {
            name: "deadlock-timeout",
            value: n(args.deadlock_timeout),
        },
        DaemonOption {
            name: "graceful-timeout",
            value: n(args.graceful_timeout),
        },
        DaemonOption {
            name: "eviction-timeout",
            value: n(args.eviction_timeout),
        },
        DaemonOption {
            name: "restart-interval",
            value: n(args.restart_interval),
        },
        DaemonOption {
            name: "cpu-time-limit",
            value: n(args.cpu_time_limit),
        },
        DaemonOption {
            name: "shutdown-timeout",
            value: n(args.shutdown_timeout),
        },
        DaemonOption {
            name: "send-buffer-size",
            value: n(args.send_buffer_size),
        },
        DaemonOption {
            name: "receive-buffer-size",
            value: n(args.receive_buffer_size),
        },
        DaemonOption {
            name: "header-buffer-size",
            value: n(args.header_buffer_size),
        },
        DaemonOption {
            name: "response-buffer-size",
            value: n(args.response_buffer_size),
        },
        DaemonOption {
            name: "response-socket-timeout",
            value: n(args.response_socket_timeout),
        },
        DaemonOption {
            name: "interrupt-timeout",
            value: n(args.interrupt_timeout),
        },
        DaemonOption {
            name: "response-flush-delay",
            value: n(args.response_flush_delay),
        },
        DaemonOption {
            name: "server-metrics",
            value: if args.server_metrics { "On" } else { "Off" }.into(),
        },
    ]);
    if let Some(interval) = args.switch_interval {
        if interval.is_nan() || interval <= 0.0 {
            return Err(ExpressError::Usage(
                "--switch-interval must be more than 0".into(),
            ));
        }
        daemon_options.push(DaemonOption {
            name: "switch-interval",
            value: interval.to_string(),
        });
    }

    let mut httpd_args = vec!["-f".to_string(), in_root("httpd.conf")];
    if let Some(log) = &startup_log {
        httpd_args.extend(["-E".to_string(), log.clone()]);
    }

    let mime_types = match &args.mime_types {
        Some(path) => existing_file("--mime-types", path, &cwd)?,
        None => [
            "/etc/mime.types",
            "/etc/httpd/conf/mime.types",
            "/etc/apache2/mime.types",
        ]
        .iter()
        .find(|p| Path::new(p).is_file())
        .map_or_else(|| "/dev/null".to_string(), |p| p.to_string()),
    };
    let request_read_timeout = {
        let part = |what: &str, timeout: u32, max: u32, rate: u32| {
            if max > 0 {
                format!("{what}={timeout}-{max},MinRate={rate}")
            } else {
                format!("{what}={timeout},MinRate={rate}")
            }
        };
        format!(
            "{} {}",
            part(
                "header",
                args.header_timeout,
                args.header_max_timeout,
                args.header_min_rate
            ),
            part(
                "body",
                args.body_timeout,
                args.body_max_timeout,
                args.body_min_rate
            )
        )
    };
    let script = |option: &str, path: &Option<PathBuf>| {
        path.as_deref()
            .map(|p| existing_file(option, p, &cwd))
            .transpose()
    };

    let display_host = args
        .server_name
        .clone()
        .unwrap_or_else(|| host_name.clone());
    let display_url = if port == 80 {
        format!("http://{display_host}/")
    } else {
        format!("http://{display_host}:{port}/")
    };
    let display_https_url = https.as_ref().map(|h| {
        if h.port == 443 {
            format!("https://{display_host}/")
        } else {
            format!("https://{display_host}:{}/", h.port)
        }
    });

    Ok(Plan {
        display_url,
        display_https_url,
        display_host,
        config_file: in_root("httpd.conf"),
        apachectl: in_root("apachectl"),
        handler_script: in_root("handler.wsgi"),
        default_script: in_root("default.wsgi"),
        envvars: in_root("envvars"),
        pid_file: match &args.pid_file {
            Some(path) => absolute("--pid-file", path, &cwd)?,
            None => in_root("httpd.pid"),
        },
        httpd: text("--httpd-executable", &apache.httpd)?,
        httpd_args,
        modules_directory: text("--modules-directory", &apache.modules_directory)?,
        mpms: mpm_order.to_vec(),
        mpm_chosen,
        modules,
        module_path: text("module", &module.module)?,
        python_home: match &args.python_home {
            Some(home) => Some(absolute("--python-home", home, &cwd)?),
            None => module
                .python_home
                .as_deref()
                .map(|p| text("python home", p))
                .transpose()?,
        },
        port,
        listen_host: args.host.clone(),
        global_server_name: host_name,
        server_name: args.server_name.clone(),
        server_aliases: args.server_alias.clone(),
        allow_localhost: args.allow_localhost,
        user,
        group,
        locale,
        working_directory,
        server_backlog: args.server_backlog,
        socket_timeout: args.socket_timeout,
        keep_alive_timeout: args.keep_alive_timeout,
        limit_request_body: args.limit_request_body,
        request_read_timeout,
        mime_types,
        capacity,
        max_connections_per_child: if embedded { args.maximum_requests } else { 0 },
        error_log,
        access_log,
        access_log_format,
        error_log_format: args.error_log_format.clone(),
        startup_log,
        log_level: args.log_level.clone(),
        socket_prefix: match &args.socket_prefix {
            Some(dir) => format!("{}/wsgi", absolute("--socket-prefix", dir, &cwd)?),
            None => in_root("wsgi"),
        },
        map_head_to_get: args.map_head_to_get.clone(),
        server_metrics: args.server_metrics,
        server_status: args.server_status,
        disable_reloading: args.disable_reloading || embedded,
        reload_on_changes: args.reload_on_changes && !embedded && !args.disable_reloading,
        enable_sendfile: args.enable_sendfile,
        error_override: args.error_override,
        chunked_request: args.chunked_request,
        switch_interval: args.switch_interval,
        python_warnings: args.python_warnings.clone(),
        trust_proxy_headers: args.trust_proxy_header.clone(),
        trust_proxies: args.trust_proxy.clone(),
        embedded,
        python_path,
        handler_process_group: if embedded {
            "%{GLOBAL}".into()
        } else {
            process_group.clone()
        },
        process_group,
        application_group: args.application_group.clone(),
        daemon_options,
        processes,
        threads,
        request_timeout: args.request_timeout,
        queue_timeout: args.queue_timeout,
        startup_timeout: args.startup_timeout,
        daemon_backlog: args.daemon_backlog,
        entry_point,
        application_type,
        callable_object: args.callable_object.clone(),
        mount_point: mount,
        document_root,
        mount_directory,
        directory_index: args.directory_index.clone(),
        directory_listing: args.directory_listing,
        allow_override: words_only("--allow-override", &args.allow_override)?,
        url_aliases,
        setenv: args
            .setenvs()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        passenv: args.passenv.clone(),
        ignore_activity: args.ignore_activity.clone(),
        include_files: args
            .include_file
            .iter()
            .map(|p| existing_file("--include-file", p, &cwd))
            .collect::<Result<_, _>>()?,
        envvars_script: args
            .envvars_script
            .as_deref()
            .map(|p| existing_file("--envvars-script", p, &cwd))
            .transpose()?,
        compress_responses: args.compress_responses,
        host_access_script: script("--host-access-script", &args.host_access_script)?,
        auth_user_script: script("--auth-user-script", &args.auth_user_script)?,
        auth_type: args.auth_type.clone(),
        auth_group_script: script("--auth-group-script", &args.auth_group_script)?,
        auth_group: args.auth_group.clone(),
        https,
        https_only: args.https_only,
        https_port_suffix,
        server_root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_have_one_leading_slash() {
        assert_eq!(mount_point("/"), "/");
        assert_eq!(mount_point(""), "/");
        assert_eq!(mount_point("app"), "/app");
        assert_eq!(mount_point("/app/"), "/app");
        assert_eq!(mount_point("/a/b"), "/a/b");
    }

    #[test]
    fn paths_are_normalised_without_the_file_system() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(
            absolute("x", Path::new("../y"), Path::new("/srv/app")).unwrap(),
            "/srv/y"
        );
    }

    #[test]
    fn allow_override_takes_only_directive_types() {
        assert_eq!(words_only("x", &[]).unwrap(), "None");
        assert_eq!(
            words_only("x", &["FileInfo".into(), "Options=Indexes".into()]).unwrap(),
            "FileInfo Options=Indexes"
        );
        assert!(words_only("x", &["All\nInclude /etc/shadow".into()]).is_err());
    }
}
