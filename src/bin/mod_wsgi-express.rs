//! `mod_wsgi-express`: serves one WSGI script through this module in a
//! private Apache, in the foreground, with a generated configuration.
//!
//! ```text
//! mod_wsgi-express start-server app.wsgi [--port 8000] [--host 127.0.0.1]
//!     [--mpm event|worker|prefork] [--user www-data] [--group www-data]
//!     [--server-root DIR] [--python-home DIR] [--python-path DIR[:DIR]]
//!     [--url-alias /static DIR] [--log-level info]
//!     [--daemon] [--processes N] [--threads N]
//! ```
//!
//! Embedded mode by default; `--daemon` (or `--processes`/`--threads`)
//! serves the script from a daemon process group named `express`.
//!
//! The server root (default `/tmp/mod_wsgi-express-<port>`) holds the
//! generated httpd.conf, the logs and, when Apache's user could not read
//! the application where it is, a copy of the application's directory.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";

struct Options {
    script: PathBuf,
    host: String,
    port: u16,
    mpm: String,
    user: String,
    group: String,
    server_root: Option<PathBuf>,
    python_home: Option<String>,
    python_path: Option<String>,
    aliases: Vec<(String, String)>,
    log_level: String,
    /// processes and threads of the daemon group, when in daemon mode.
    daemon: Option<(u32, u32)>,
}

const USAGE: &str = "usage: mod_wsgi-express start-server SCRIPT [--port N] [--host ADDR] \
[--mpm event|worker|prefork] [--user USER] [--group GROUP] [--server-root DIR] \
[--python-home DIR] [--python-path DIRS] [--url-alias URL DIR] [--log-level LEVEL] \
[--daemon] [--processes N] [--threads N]";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        Some("start-server") => {}
        _ => return Err(USAGE.into()),
    }
    let mut options = Options {
        script: PathBuf::new(),
        host: "127.0.0.1".into(),
        port: 8000,
        mpm: "event".into(),
        user: "www-data".into(),
        group: "www-data".into(),
        server_root: None,
        python_home: None,
        python_path: None,
        aliases: Vec::new(),
        log_level: "info".into(),
        daemon: None,
    };
    let mut script = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--port" => {
                options.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port needs a port number")?
            }
            "--host" => options.host = value("--host")?,
            "--mpm" => {
                options.mpm = value("--mpm")?;
                if !["event", "worker", "prefork"].contains(&options.mpm.as_str()) {
                    return Err("--mpm must be event, worker or prefork".into());
                }
            }
            "--user" => options.user = value("--user")?,
            "--group" => options.group = value("--group")?,
            "--server-root" => options.server_root = Some(value("--server-root")?.into()),
            "--python-home" => options.python_home = Some(value("--python-home")?),
            "--python-path" => options.python_path = Some(value("--python-path")?),
            "--url-alias" => {
                let url = value("--url-alias")?;
                let dir = value("--url-alias")?;
                options.aliases.push((url, dir));
            }
            "--log-level" => options.log_level = value("--log-level")?,
            "--daemon" => {
                options.daemon.get_or_insert((1, 15));
            }
            "--processes" | "--threads" => {
                let count: u32 = value(arg)?
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| format!("{arg} needs a number from 1 to 1000"))?;
                let daemon = options.daemon.get_or_insert((1, 15));
                if arg == "--processes" {
                    daemon.0 = count;
                } else {
                    daemon.1 = count;
                }
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other if other.starts_with("--") => {
                return Err(format!("unknown option {other}\n{USAGE}"));
            }
            other => {
                if script.replace(PathBuf::from(other)).is_some() {
                    return Err(format!("only one script can be served\n{USAGE}"));
                }
            }
        }
    }
    options.script = script.ok_or_else(|| format!("no WSGI script given\n{USAGE}"))?;
    Ok(options)
}

/// Whether every directory above `path` lets others in and the file lets
/// others read: what Apache's unprivileged user needs.
fn world_readable(path: &Path) -> bool {
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode())
            .unwrap_or(0)
    };
    if mode(path) & 0o004 == 0 {
        return false;
    }
    path.ancestors()
        .skip(1)
        .all(|dir| dir.as_os_str().is_empty() || mode(dir) & 0o001 != 0)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), &target)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
}

/// The module sits next to this program in cargo's target directory.
fn module_path() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("MOD_WSGI_SO") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let module = exe.with_file_name("libmod_wsgi.so");
    if module.is_file() {
        Ok(module)
    } else {
        Err(format!(
            "{} not found: build the module with `cargo build --release`",
            module.display()
        ))
    }
}

fn run(options: Options) -> Result<(), String> {
    let script = std::fs::canonicalize(&options.script)
        .map_err(|e| format!("{}: {e}", options.script.display()))?;
    let root = options
        .server_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/mod_wsgi-express-{}", options.port)));
    for dir in ["", "logs", "run"] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let script = if world_readable(&script) {
        script
    } else {
        let source_dir = script.parent().ok_or("the script has no directory")?;
        let copy = root.join("app");
        let _ = std::fs::remove_dir_all(&copy);
        copy_tree(source_dir, &copy)
            .map_err(|e| format!("copying {}: {e}", source_dir.display()))?;
        eprintln!(
            "mod_wsgi-express: {} is not readable by {}; serving a copy of its directory from {}",
            script.display(),
            options.user,
            copy.display()
        );
        copy.join(script.file_name().ok_or("the script has no file name")?)
    };
    let module = module_path()?;
    let mut conf = String::new();
    let r = root.display();
    let _ = writeln!(conf, "ServerRoot \"{r}\"");
    let _ = writeln!(conf, "ServerName {}", options.host);
    let _ = writeln!(conf, "Listen {}:{}", options.host, options.port);
    let _ = writeln!(conf, "PidFile \"{r}/run/httpd.pid\"");
    let _ = writeln!(conf, "DefaultRuntimeDir \"{r}/run\"");
    let _ = writeln!(conf, "Mutex file:{r}/run default");
    let _ = writeln!(conf, "ErrorLog /dev/stderr");
    let _ = writeln!(conf, "LogLevel {}", options.log_level);
    let _ = writeln!(
        conf,
        "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b %D\" common"
    );
    let _ = writeln!(conf, "CustomLog /dev/stdout common");
    let _ = writeln!(conf, "User {}\nGroup {}", options.user, options.group);
    let _ = writeln!(conf, "ServerTokens Full");
    let _ = writeln!(
        conf,
        "LoadModule mpm_{0}_module {MODULES}/mod_mpm_{0}.so",
        options.mpm
    );
    for module_name in ["authz_core", "mime", "alias"] {
        let _ = writeln!(
            conf,
            "LoadModule {module_name}_module {MODULES}/mod_{module_name}.so"
        );
    }
    let _ = writeln!(conf, "TypesConfig /etc/mime.types");
    let _ = writeln!(conf, "LoadModule wsgi_module \"{}\"", module.display());
    let _ = writeln!(conf, "<Directory />\n  Require all granted\n</Directory>");
    if let Some(home) = &options.python_home {
        let _ = writeln!(conf, "WSGIPythonHome \"{home}\"");
    }
    if let Some(path) = &options.python_path {
        let _ = writeln!(conf, "WSGIPythonPath \"{path}\"");
    }
    let mut alias_options = String::new();
    if let Some((processes, threads)) = options.daemon {
        let _ = writeln!(conf, "WSGISocketPrefix \"{r}/run/wsgi\"");
        let _ = write!(
            conf,
            "WSGIDaemonProcess express processes={processes} threads={threads} \
             display-name=%{{GROUP}}"
        );
        if let Some(path) = &options.python_path {
            let _ = write!(conf, " \"python-path={path}\"");
        }
        conf.push('\n');
        alias_options = " process-group=express application-group=%{GLOBAL}".into();
    }
    for (url, dir) in &options.aliases {
        let _ = writeln!(conf, "Alias \"{url}\" \"{dir}\"");
    }
    let _ = writeln!(
        conf,
        "WSGIScriptAlias / \"{}\"{alias_options}",
        script.display()
    );
    let conf_path = root.join("httpd.conf");
    std::fs::write(&conf_path, conf).map_err(|e| format!("{}: {e}", conf_path.display()))?;
    eprintln!(
        "mod_wsgi-express: serving {} in {} mode on http://{}:{}/ (configuration {}; Ctrl-C stops)",
        script.display(),
        if options.daemon.is_some() {
            "daemon"
        } else {
            "embedded"
        },
        options.host,
        options.port,
        conf_path.display()
    );
    let error = Command::new(APACHE)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .arg("-d")
        .arg(&root)
        .arg("-f")
        .arg(&conf_path)
        .arg("-DFOREGROUND")
        .exec();
    Err(format!("cannot run {APACHE}: {error}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mod_wsgi-express: {message}");
            ExitCode::from(2)
        }
    }
}
