//! Writes a server root from a plan: httpd.conf, apachectl, the handler
//! script, and the directories Apache writes into.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use minijinja::{Environment, Error, ErrorKind};

use crate::error::ExpressError;
use crate::plan::Plan;
use crate::quoting;

const HTTPD_CONF: &str = include_str!("templates/httpd.conf.j2");
const APACHECTL: &str = include_str!("templates/apachectl.j2");
const HANDLER: &str = include_str!("templates/handler.wsgi.j2");
const DEFAULT_APP: &str = include_str!("templates/default.wsgi.j2");

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // Nothing is escaped by default: each file type has its own filter.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("q", |value: String| -> Result<String, Error> {
        match quoting::apache_problem(&value) {
            Some(why) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{value:?} cannot go into httpd.conf: {why}"),
            )),
            None => Ok(quoting::apache_word(&value)),
        }
    });
    env.add_filter("sh", |value: String| -> Result<String, Error> {
        if value.contains('\0') {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{value:?} holds a NUL byte"),
            ));
        }
        Ok(quoting::shell_word(&value))
    });
    for (name, source) in [
        ("httpd.conf", HTTPD_CONF),
        ("apachectl", APACHECTL),
        ("handler.wsgi", HANDLER),
        ("default.wsgi", DEFAULT_APP),
    ] {
        // The templates are part of this program; a broken one is a bug
        // the unit tests catch.
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
}

/// One generated file's text.
pub fn render(name: &'static str, plan: &Plan) -> Result<String, ExpressError> {
    let env = templates();
    let template = env
        .get_template(name)
        .map_err(|source| ExpressError::Template { name, source })?;
    template.render(plan).map_err(|source| {
        // A value the filter refused: say which, plainly.
        if source.kind() == ErrorKind::InvalidOperation {
            ExpressError::Usage(source.detail().unwrap_or("bad value").to_string())
        } else {
            ExpressError::Template { name, source }
        }
    })
}

fn write(path: &str, contents: &str, mode: u32) -> Result<(), ExpressError> {
    std::fs::write(path, contents).map_err(ExpressError::file(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(ExpressError::file(path))
}

fn directory(path: &str, mode: u32) -> Result<(), ExpressError> {
    std::fs::create_dir_all(path).map_err(ExpressError::file(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(ExpressError::file(path))
}

/// Writes the server root. Everything is rendered before anything is
/// written, so a refused value leaves an existing server root as it was.
pub fn write_server_root(plan: &Plan) -> Result<(), ExpressError> {
    let conf = render("httpd.conf", plan)?;
    let apachectl = render("apachectl", plan)?;
    let handler = render("handler.wsgi", plan)?;
    let default_app = render("default.wsgi", plan)?;

    // Apache's user reads and traverses it; the logs and sockets in it are
    // written by Apache's parent, which runs as whoever starts it.
    directory(&plan.server_root, 0o755)?;
    if plan.document_root.starts_with(&plan.server_root) {
        directory(&plan.document_root, 0o755)?;
    }
    if plan.mount_directory != plan.document_root && Path::new(&plan.document_root).is_dir() {
        directory(&plan.mount_directory, 0o755)?;
    }
    write(&plan.config_file, &conf, 0o644)?;
    write(&plan.apachectl, &apachectl, 0o755)?;
    write(&plan.handler_script, &handler, 0o644)?;
    write(&plan.default_script, &default_app, 0o644)?;
    match &plan.envvars_script {
        Some(script) => write(
            &plan.envvars,
            &format!(". {}\n", quoting::shell_word(script)),
            0o644,
        )?,
        // A user's own envvars is kept.
        None if !Path::new(&plan.envvars).exists() => write(&plan.envvars, "", 0o644)?,
        None => {}
    }
    Ok(())
}

/// What start-server and setup-server print: mod_wsgi-express's summary.
pub fn summary(plan: &Plan, with_files: bool) -> String {
    let mut lines = vec![("Server URL", plan.display_url.clone())];
    if let Some(url) = &plan.display_https_url {
        lines.push(("Server URL (HTTPS)", url.clone()));
    }
    if plan.server_status {
        lines.push((
            "Server Status",
            format!("{}server-status", plan.display_url),
        ));
    }
    lines.push(("Server Root", plan.server_root.clone()));
    lines.push(("Server Conf", plan.config_file.clone()));
    lines.push((
        "Error Log File",
        format!("{} ({})", plan.error_log, plan.log_level),
    ));
    if let Some(log) = &plan.access_log {
        lines.push(("Access Log File", log.clone()));
    }
    if let Some(log) = &plan.startup_log {
        lines.push(("Startup Log File", log.clone()));
    }
    if with_files {
        lines.push(("Environ Variables", plan.envvars.clone()));
        lines.push(("Control Script", plan.apachectl.clone()));
    }
    lines.push((
        "Operating Mode",
        if plan.embedded { "embedded" } else { "daemon" }.into(),
    ));
    lines.push((
        "Request Capacity",
        format!(
            "{} ({} process{} * {} threads)",
            plan.processes * plan.threads,
            plan.processes,
            if plan.processes == 1 { "" } else { "es" },
            plan.threads
        ),
    ));
    if !plan.embedded {
        lines.push((
            "Request Timeout",
            format!("{} (seconds)", plan.request_timeout),
        ));
        lines.push((
            "Startup Timeout",
            format!("{} (seconds)", plan.startup_timeout),
        ));
        lines.push((
            "Queue Backlog",
            format!("{} (connections)", plan.daemon_backlog),
        ));
        lines.push(("Queue Timeout", format!("{} (seconds)", plan.queue_timeout)));
        lines.push((
            "Server Capacity",
            format!(
                "{} (event/worker), {} (prefork)",
                plan.capacity.threaded.max_clients, plan.capacity.prefork.max_clients
            ),
        ));
    }
    lines.push((
        "Server Backlog",
        format!("{} (connections)", plan.server_backlog),
    ));
    lines.push(("Locale Setting", plan.locale.clone()));
    lines
        .into_iter()
        .map(|(label, value)| format!("{label:<19}: {value}\n"))
        .collect()
}
