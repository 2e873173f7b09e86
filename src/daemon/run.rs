//! The life of one daemon process, from the fork in the Apache parent to
//! its exit: privileges, environment, Python, import scripts, serving.

use std::ffi::{CStr, CString};
use std::sync::Arc;
use std::time::Duration;

use apache_sys as ap;
use python_embed::lifecycle;

use crate::apache::log;
use crate::config::access::server_config;
use crate::daemon::privileges::PrivilegeError;
use crate::daemon::serve::{Server, install_signal_handlers};
use crate::groups::board::End;
use crate::groups::directory;
use crate::groups::secret::Secret;
use crate::groups::{self, DaemonGroup};
use crate::wsgi::environ::ServerFacts;
use crate::wsgi::interpreter::{self, InterpreterSetup};
use crate::wsgi::newrelic::AgentSettings;
use crate::wsgi::python_module::ProcessFacts;
use crate::{context, startup};
use wsgi_core::level::Level;

/// Why a daemon process could not start serving (it then exits with
/// status 1, and the parent starts another after a delay).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("its group is not in the daemon directory")]
    NotInDirectory,
    #[error("cannot chroot to {}: {source}", path.display())]
    Chroot {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Privileges(#[from] PrivilegeError),
    #[error(transparent)]
    Python(#[from] python_embed::lifecycle::InitError),
    #[error(transparent)]
    Interpreter(#[from] crate::wsgi::interpreter::InterpreterError),
}

/// Runs a daemon process of `group` in the child just forked by the
/// parent; never returns.
///
/// # Safety
/// Must be called in a freshly forked child of the Apache parent;
/// `main_server` is the main server of the configuration.
pub unsafe fn daemon_main(
    group: Arc<DaemonGroup>,
    number: usize,
    main_server: *mut ap::server_rec,
    delay: Duration,
) -> ! {
    install_signal_handlers();
    if let Some(board) = &group.board {
        board.take_slot(number);
    }
    install_fatal_signal_handlers();
    // SAFETY: the daemon never serves Apache's own listeners.
    unsafe { ap::ap_close_listeners() };
    groups::close_listeners_except(Some(group.name()));
    // Only this group's secret stays in this process; the application it
    // runs must not learn how to talk to other groups.
    let secret = directory::lookup(group.name()).map(|route| route.secret);
    directory::forget();
    groups::unmap_others(group.name());
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let outcome = match secret {
        // SAFETY: main_server is the live main server.
        Some(secret) => unsafe { setup_and_serve(&group, number, main_server, secret) },
        None => Err(StartError::NotInDirectory),
    };
    let code = match outcome {
        Ok(()) => 0,
        Err(reason) => {
            log::server(
                group.server.0,
                Level::Error,
                &log::ours(&format!(
                    "Daemon process '{}' cannot start: {reason}",
                    group.name()
                )),
            );
            1
        }
    };
    if let Some(board) = &group.board {
        board.note_end(number, End::Exit(code));
    }
    // SAFETY: ending the process without running the parent's exit
    // handlers, which belong to Apache.
    unsafe { libc::_exit(code) }
}

/// mod_wsgi's `threads=0` mode: the process runs its import scripts in its
/// main thread (a never-ending task, say) and takes no requests; a stop
/// signal raises SystemExit in them; when they are done the process exits
/// and the parent starts another.
fn run_service(
    group: &DaemonGroup,
    scripts: &[wsgi_core::directives::import_script::ImportScript],
    destroy_interpreter: bool,
) -> Result<(), StartError> {
    log::server(
        group.server.0,
        Level::Info,
        &log::ours(&format!(
            "Daemon process '{}' has threads=0: running its import scripts as a service.",
            group.name()
        )),
    );
    startup::stop_signals_raise_system_exit();
    for script in scripts {
        startup::import_script_with(script, startup::SystemExitIs::TheEnd);
    }
    log::server(
        group.server.0,
        Level::Info,
        &log::ours(&format!("Stopping process '{}'.", group.name())),
    );
    if destroy_interpreter {
        startup::finalize_bounded(group.options.shutdown_timeout.as_secs().clamp(1, 3600) as u32);
    }
    Ok(())
}

/// The signals whose default action ends the process and that the daemon
/// does not handle otherwise (a crash in a C extension, an abort, a
/// resource limit, a stray kill; SIGUSR2 asks for stacks): recorded on the board before the process
/// dies of them, so that the parent and Apache's children can tell a
/// signal from an exit status (httpd reports both as one number). Only
/// SIGKILL cannot be recorded.
const FATAL_SIGNALS: [libc::c_int; 16] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
    libc::SIGQUIT,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGIO,
    libc::SIGPWR,
    libc::SIGSTKFLT,
];

extern "C" fn on_fatal_signal(signal: libc::c_int) {
    crate::groups::board::note_fatal_signal(signal);
    // SA_RESETHAND restored the default action: die of it as before.
    // SAFETY: raise(3) is async-signal-safe.
    unsafe { libc::raise(signal) };
}

fn install_fatal_signal_handlers() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_fatal_signal),
        SaFlags::SA_RESETHAND | SaFlags::SA_NODEFER,
        SigSet::empty(),
    );
    for signal in FATAL_SIGNALS {
        if let Ok(signal) = Signal::try_from(signal) {
            // SAFETY: the handler only touches atomics and calls raise(3).
            let _ = unsafe { sigaction(signal, &action) };
        }
    }
}

fn set_env(name: &str, value: &str) {
    // SAFETY: the daemon is still single-threaded here.
    unsafe { std::env::set_var(name, value) };
}

/// Shows `name` in `ps` in place of Apache's command line (as far as the
/// original arguments' space allows) and as the thread name.
///
/// # Safety
/// `main_server` must be the live main server record, and no other thread
/// may be running (the argument strings are overwritten).
unsafe fn set_display_name(main_server: *mut ap::server_rec, name: &str) {
    // SAFETY: per the contract.
    if let Some((start, httpd_end)) = unsafe { argument_strings(main_server) } {
        // What ps shows is the kernel's argument area, which may extend past
        // what httpd's argv still lists; use it when argv[0] is its start.
        let space = match kernel_argument_area() {
            Some((area_start, area_end)) if area_start == start as usize => {
                area_end - area_start - 1
            }
            _ => httpd_end - start as usize,
        };
        // SAFETY: the argument strings (and the kernel's area, when argv[0]
        // starts it) are process memory nothing else uses any more, `space`
        // bytes plus the final NUL.
        let area = unsafe { std::slice::from_raw_parts_mut(start, space + 1) };
        let n = name.len().min(space);
        area[..n].copy_from_slice(&name.as_bytes()[..n]);
        area[n..].fill(0);
    }
    // The thread name the kernel shows (15 bytes at most).
    if let Ok(short) = CString::new(&name.as_bytes()[..name.len().min(15)]) {
        let _ = nix::sys::prctl::set_name(&short);
    }
}

/// Where httpd's argument strings start (argv[0]) and the address just past
/// the NUL-less end of the one that lies last in memory (option parsing may
/// reorder the pointers).
///
/// # Safety
/// `main_server` must be the live main server record.
unsafe fn argument_strings(main_server: *mut ap::server_rec) -> Option<(*mut u8, usize)> {
    // SAFETY: per the contract; process->argv is httpd's argv, argc long,
    // of NUL-terminated strings or NULL.
    unsafe {
        let process = (*main_server).process.as_ref()?;
        if process.argv.is_null() || (*process.argv).is_null() {
            return None;
        }
        let argv = std::slice::from_raw_parts(process.argv, process.argc.max(1) as usize);
        let end = argv
            .iter()
            .filter(|arg| !arg.is_null())
            .map(|&arg| arg as usize + CStr::from_ptr(arg).count_bytes())
            .max()?;
        Some((argv[0] as *mut u8, end))
    }
}

/// The process's argument area (`arg_start`, `arg_end` of /proc/self/stat).
fn kernel_argument_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at 3.
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let start = fields.get(48 - 3)?.parse().ok()?;
    let end: usize = fields.get(49 - 3)?.parse().ok()?;
    (end > start).then_some((start, end))
}

unsafe fn setup_and_serve(
    group: &Arc<DaemonGroup>,
    number: usize,
    main_server: *mut ap::server_rec,
    secret: Secret,
) -> Result<(), StartError> {
    use nix::sys::resource::{Resource, setrlimit};
    let options = &group.options;
    if let Some(root) = &options.chroot {
        nix::unistd::chroot(root.as_path())
            .and_then(|()| nix::unistd::chdir("/"))
            .map_err(|e| StartError::Chroot {
                path: root.clone(),
                source: e.into(),
            })?;
    }
    // Raising the priority needs root: done before privileges go.
    if options.cpu_priority != 0 {
        // SAFETY: setting this process's own priority (nix has no wrapper).
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, options.cpu_priority) };
    }
    for (resource, limit) in [
        (Resource::RLIMIT_DATA, options.memory_limit),
        (Resource::RLIMIT_AS, options.virtual_memory_limit),
    ] {
        if let Some(limit) = limit {
            // As in mod_wsgi, a limit that cannot be set does not stop the
            // process.
            let _ = setrlimit(resource, limit, limit);
        }
    }
    crate::daemon::privileges::drop_to(&group.identity)?;
    if let Some(mask) = options.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
            mask as libc::mode_t,
        ));
    }
    if let Err(e) = std::env::set_current_dir(&group.home) {
        log::server(
            group.server.0,
            Level::Warning,
            &log::ours(&format!(
                "Unable to change working directory of daemon process '{}' to '{}': {e}",
                group.name(),
                group.home.display()
            )),
        );
    }
    set_env("HOME", &group.home.to_string_lossy());
    set_env("USER", &group.identity.user_name);
    set_env("LOGNAME", &group.identity.user_name);
    if let Some(lang) = &options.lang {
        set_env("LANG", lang);
    }
    if let Some(locale) = &options.locale {
        set_env("LC_ALL", locale);
        if let Ok(c) = CString::new(locale.as_str()) {
            // SAFETY: still single-threaded.
            unsafe { libc::setlocale(libc::LC_ALL, c.as_ptr()) };
        }
    }
    if let Some(eggs) = &options.python_eggs {
        set_env("PYTHON_EGG_CACHE", &eggs.to_string_lossy());
    }
    if let Some(name) = options.display_name() {
        // SAFETY: main_server is live; single-threaded.
        unsafe { set_display_name(main_server, &name) };
    }
    context::record_daemon(
        ServerFacts {
            multithread: options.threads > 1,
            multiprocess: options.processes_given,
            run_once: options.threads == 1 && options.maximum_requests == 1,
            ..context::facts()
        },
        options.processes,
        options.threads,
    );

    // SAFETY: the main server's configuration is ours.
    let config = unsafe { server_config(main_server) }.clone();
    if lifecycle::is_initialized() {
        // WSGILazyInitialization Off: Python came with the fork.
        lifecycle::after_fork_child();
    } else {
        let mut settings = startup::python_settings(&config);
        if options.python_home.is_some() {
            settings.home = options.python_home.clone();
        }
        log::server(
            group.server.0,
            Level::Info,
            &log::ours("Initializing Python."),
        );
        lifecycle::initialize(&settings)?;
    }
    crate::wsgi::log::set_server_log(|level, line| log::server(std::ptr::null(), level, line));
    // server_metrics() in a daemon only with server-metrics=On (mod_wsgi).
    if options.server_metrics {
        crate::wsgi::metrics::set_scoreboard_reader(crate::apache::scoreboard::read);
    }
    interpreter::configure(InterpreterSetup {
        python_path: options.python_path.clone(),
        home: options.home.clone(),
        python_eggs: options.python_eggs.clone(),
        restrict_stdout: config.restrict_stdout.unwrap_or(false),
        restrict_stdin: config.restrict_stdin.unwrap_or(false),
        restrict_signal: config.restrict_signal.unwrap_or(true),
        facts: ProcessFacts {
            process_group: group.name().to_string(),
            maximum_processes: options.processes,
            threads_per_process: options.threads,
        },
        newrelic: options
            .newrelic_config_file
            .clone()
            .map(|config_file| AgentSettings {
                config_file,
                environment: options.newrelic_environment.clone(),
            }),
    });
    interpreter::interpreter_for("")?;
    if let Some(interval) = options.switch_interval {
        startup::set_switch_interval(interval);
    }
    // SAFETY: main_server is the live main server.
    let scripts = unsafe { startup::startup_scripts(main_server, group.name()) };
    if options.threads == 0 {
        return run_service(group, &scripts, config.destroy_interpreter.unwrap_or(true));
    }
    for script in scripts {
        startup::import_script(&script);
    }
    let apache_uid = match &options.socket_user {
        Some(account) => crate::groups::accounts::user(account)
            .map(|u| u.uid)
            .unwrap_or(u32::MAX),
        // SAFETY: reading mod_unixd's configuration.
        None => unsafe { ap::ap_unixd_config.user_id },
    };
    let server = Server::new(
        group.clone(),
        apache_uid,
        secret,
        number,
        config.verbose_debugging.unwrap_or(false),
    );
    let clean = server.run();
    // WSGIDestroyInterpreter Off: exit without tearing Python down.
    if clean && config.destroy_interpreter.unwrap_or(true) {
        startup::finalize_bounded(options.shutdown_timeout.as_secs().clamp(1, 3600) as u32);
    }
    Ok(())
}
