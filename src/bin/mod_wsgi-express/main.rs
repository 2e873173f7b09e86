//! `mod_wsgi-express`: mod_wsgi-express's commands for this module.
//!
//! `start-server` and `setup-server` write a server root (httpd.conf, an
//! `apachectl` script, a handler script) for a WSGI application and run a
//! private Apache from it; `module-config`, `module-location` and
//! `install-module` put the module into the system's Apache. Every
//! option is described in docs/express.md.

mod apache_install;
mod capacity;
mod cli;
mod error;
mod launcher;
mod module_files;
mod plan;
mod quoting;
mod server_root;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::apache_install::ApacheInstall;
use crate::cli::{Cli, Command, ServerArgs};
use crate::error::ExpressError;
use crate::module_files::ModuleFiles;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(option) = cli::unsupported_option(&args) {
        eprintln!(
            "mod_wsgi-express: {option} is a mod_wsgi-express option this mod_wsgi-express \
             does not have (docs/express.md lists what it has)"
        );
        return ExitCode::from(2);
    }
    let cli = Cli::parse_from(cli::split_two_value_options(std::env::args()));
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("mod_wsgi-express: {error}");
            ExitCode::from(1)
        }
    }
}

fn run(command: Command) -> Result<ExitCode, ExpressError> {
    match command {
        Command::StartServer(args) => {
            let setup_only = args.setup_only;
            serve(&args, setup_only)
        }
        Command::SetupServer(args) => serve(&args, true),
        Command::ModuleConfig => {
            let module = ModuleFiles::find()?;
            print!(
                "{}",
                load_lines(&module.module, module.python_home.as_deref())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ModuleLocation => {
            println!("{}", ModuleFiles::find()?.module.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::InstallModule { modules_directory } => {
            let module = ModuleFiles::find()?;
            let directory = apache_install::modules_directory(modules_directory.as_deref())?;
            let target = directory.join(installed_name());
            std::fs::copy(&module.module, &target).map_err(ExpressError::file(&target))?;
            print!("{}", load_lines(&target, module.python_home.as_deref()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The file install-module writes: named for the Python it embeds, like
/// mod_wsgi's `mod_wsgi-py311.so`, and unlike it, so the two can coexist.
fn installed_name() -> String {
    let version = env!("MOD_WSGI_PYTHON_VERSION").replace('.', "");
    format!("mod_wsgi_rs-py{version}.so")
}

fn load_lines(module: &Path, python_home: Option<&Path>) -> String {
    let mut lines = format!(
        "LoadModule wsgi_module {}\n",
        quoting::apache_word(&module.to_string_lossy())
    );
    if let Some(home) = python_home {
        lines.push_str(&format!(
            "WSGIPythonHome {}\n",
            quoting::apache_word(&home.to_string_lossy())
        ));
    }
    lines
}

fn serve(args: &ServerArgs, setup_only: bool) -> Result<ExitCode, ExpressError> {
    let apache = ApacheInstall::find(
        args.httpd_executable.as_deref(),
        args.modules_directory.as_deref(),
    )?;
    let module = ModuleFiles::find()?;
    let plan = plan::plan(args, &apache, &module)?;
    server_root::write_server_root(&plan)?;
    print!("{}", server_root::summary(&plan, setup_only));
    warn_if_unreadable(&plan);
    if setup_only {
        return Ok(ExitCode::SUCCESS);
    }
    launcher::run_foreground(&plan.apachectl)
}

/// Run as root, Apache's children run as another user, who may not be able
/// to read an application kept under /root or a private home.
fn warn_if_unreadable(plan: &plan::Plan) {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::Uid::effective().is_root() || plan.entry_point.is_empty() {
        return;
    }
    let path = Path::new(&plan.entry_point);
    if !path.exists() {
        return;
    }
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    let readable = mode(path) & 0o004 != 0
        && path
            .ancestors()
            .skip(1)
            .all(|dir| dir.as_os_str().is_empty() || mode(dir) & 0o001 != 0);
    if !readable {
        eprintln!(
            "mod_wsgi-express: warning: {} may not be readable by {}, the user Apache's \
             children run as (--user)",
            plan.entry_point, plan.user
        );
    }
}
