//! Running the generated `apachectl start -DFOREGROUND`.
//!
//! Without a terminal, this program becomes Apache (exec). With one,
//! Apache runs in its own process group: a terminal resize sends SIGWINCH
//! to the foreground group, and SIGWINCH tells Apache to stop gracefully.
//! Ctrl-C and the other stop signals are passed on to it instead.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use nix::sys::signal::{SigSet, Signal, kill};
use nix::unistd::Pid;

use crate::error::ExpressError;

const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGUSR1,
];

pub fn run_foreground(apachectl: &str) -> Result<ExitCode, ExpressError> {
    let mut command = Command::new(apachectl);
    command.args(["start", "-DFOREGROUND"]);
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        let source = command.exec();
        return Err(ExpressError::Run {
            program: apachectl.into(),
            source,
        });
    }

    let mut signals = SigSet::empty();
    for signal in FORWARDED {
        signals.add(*signal);
    }
    signals.add(Signal::SIGWINCH);
    signals.add(Signal::SIGCHLD);
    // Blocked here so that sigwait() receives them; the child unblocks
    // them again (the mask is inherited across exec).
    signals
        .thread_block()
        .map_err(|e| ExpressError::Usage(format!("cannot block signals: {e}")))?;
    let unblock = signals;
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls async-signal-safe functions (setpgid, sigprocmask).
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            unblock.thread_unblock()?;
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|source| ExpressError::Run {
        program: apachectl.into(),
        source,
    })?;
    let pid = Pid::from_raw(child.id() as i32);
    loop {
        let signal = signals
            .wait()
            .map_err(|e| ExpressError::Usage(format!("waiting for signals: {e}")))?;
        match signal {
            Signal::SIGCHLD => {
                if let Ok(Some(status)) = child.try_wait() {
                    let code = status.code().unwrap_or(1);
                    return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
                }
            }
            Signal::SIGWINCH => {}
            other => {
                let _ = kill(pid, other);
            }
        }
    }
}
