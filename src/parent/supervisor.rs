//! The Apache parent's side of daemon mode: creates each group's socket,
//! forks its processes, replaces any that die (through httpd's "other
//! child" API, with a growing delay when they die right after starting),
//! and on restart or stop ends them all and removes the sockets.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use apache_sys as ap;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Gid, Pid, getegid, geteuid, getgroups, getpid};

use crate::apache::{c_str, log, pool};
use crate::config::ServerConfig;
use crate::config::access::server_config;
use crate::groups::Identity;
use crate::groups::accounts;
use crate::groups::accounts::AccountError;
use crate::groups::board::GroupBoard;
use crate::groups::directory;
use crate::groups::metrics_table::{GroupMetrics, RestartCause};
use crate::groups::secret::{NoRandomness, Secret};
use crate::groups::socket::ListenerError;
use crate::groups::socket::create_listener;
use crate::groups::{self, DaemonGroup, ScriptOwner, ServerRef};
use wsgi_core::level::Level;

/// One daemon process of a group, as the parent tracks it. Lives in the
/// configuration pool; its address is the "other child" callback data.
struct Slot {
    group: Arc<DaemonGroup>,
    number: usize,
    process: ap::apr_proc_t,
    pool: *mut ap::apr_pool_t,
    main_server: *mut ap::server_rec,
    started: Instant,
    quick_deaths: u32,
    alive: bool,
    /// When the parent, reclaiming its processes, asked this one to stop.
    stop_asked: Option<Instant>,
}

#[derive(Clone, Copy)]
struct SlotPtr(*mut Slot);
// SAFETY: slots are only touched by the parent's single thread.
unsafe impl Send for SlotPtr {}

static SLOTS: Mutex<Vec<SlotPtr>> = Mutex::new(Vec::new());

fn slots() -> Vec<SlotPtr> {
    SLOTS.lock().clone()
}

/// A process that died sooner than this after starting counts as failing
/// to start; its replacement waits before trying again.
const QUICK_DEATH: Duration = Duration::from_secs(2);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);

/// How long the parent waits for daemon processes to exit on restart or
/// stop before killing them (httpd's own value for its processes).
const STOP_WAIT: Duration = Duration::from_secs(3);

fn apache_identity() -> (u32, u32) {
    // SAFETY: mod_unixd's configuration is set while the configuration is
    // read and only read here.
    unsafe { (ap::ap_unixd_config.user_id, ap::ap_unixd_config.group_id) }
}

/// Whether the parent runs as root (and so can switch users).
fn parent_is_root() -> bool {
    geteuid().is_root()
}

/// The uid Apache's children run as: the User directive's when Apache was
/// started as root, else Apache's own.
fn children_uid() -> u32 {
    if parent_is_root() {
        apache_identity().0
    } else {
        geteuid().as_raw()
    }
}

/// Why the parent could not set up the daemon process groups (httpd then
/// does not start).
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Directory(#[from] directory::DirectoryError),
    #[error("WSGIDaemonProcess {group}: {source}")]
    Account { group: String, source: AccountError },
    #[error("WSGIDaemonProcess {group}: {source}")]
    Listener {
        group: String,
        source: ListenerError,
    },
    #[error("WSGIDaemonProcess {group}: {source}")]
    Randomness { group: String, source: NoRandomness },
}

fn identity(
    options: &wsgi_core::daemon_options::DaemonOptions,
) -> Result<(Identity, String), AccountError> {
    if !parent_is_root() {
        // Apache was not started as root: user= and group= cannot apply
        // (as in mod_wsgi); the processes keep Apache's identity.
        let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
        let user = accounts::user_by_id(uid);
        let groups = getgroups()
            .map(|groups| groups.into_iter().map(Gid::as_raw).collect())
            .unwrap_or_default();
        return Ok((
            Identity {
                user_name: user.name,
                uid,
                gid,
                groups,
            },
            user.home,
        ));
    }
    let (apache_uid, apache_gid) = apache_identity();
    let user = match &options.user {
        Some(account) => accounts::user(account)?,
        None => accounts::user_by_id(apache_uid),
    };
    let gid = match &options.group {
        Some(account) => accounts::group(account)?,
        None => apache_gid,
    };
    let groups = if options.supplementary_groups.is_empty() {
        accounts::initial_groups(&user.name, gid)
    } else {
        let mut groups = vec![gid];
        for name in &options.supplementary_groups {
            groups.push(accounts::group(&wsgi_core::daemon_options::Account::Name(
                name.clone(),
            ))?);
        }
        groups
    };
    Ok((
        Identity {
            user_name: user.name,
            uid: user.uid,
            gid,
            groups,
        },
        user.home,
    ))
}

/// Collects every WSGIDaemonProcess of the configuration, with the server
/// it was defined in.
unsafe fn configured(
    main: *mut ap::server_rec,
) -> Vec<(
    wsgi_core::daemon_options::DaemonOptions,
    *mut ap::server_rec,
)> {
    let mut all = Vec::new();
    let mut seen: Vec<*const ServerConfig> = Vec::new();
    let mut server = main;
    while !server.is_null() {
        // SAFETY: walking httpd's server list; each has our configuration.
        let config = unsafe { server_config(server) };
        // A virtual host without any directive of ours shares the main
        // server's configuration record (httpd does not merge it): its
        // groups are the main server's, already collected.
        let record = &raw const *config;
        if !seen.contains(&record) {
            seen.push(record);
            for options in &config.daemon_groups {
                all.push((options.clone(), server));
            }
        }
        // SAFETY: as above.
        server = unsafe { (*server).next };
    }
    all
}

/// Creates the sockets and starts the processes of every group. Called in
/// the parent's post_config of each configuration generation.
///
/// # Safety
/// `pconf` must be the generation's configuration pool and `main` the main
/// server.
pub unsafe fn start(
    pconf: *mut ap::apr_pool_t,
    main: *mut ap::server_rec,
    config: &ServerConfig,
) -> Result<(), SupervisorError> {
    SLOTS.lock().clear();
    groups::renew_embedded_metrics();
    // SAFETY: main is live; its process pool is the parent's.
    unsafe { directory::open((*(*main).process).pool) }?;
    // SAFETY: main is live.
    let defined = unsafe { configured(main) };
    if defined.is_empty() {
        groups::set_active(Vec::new());
        directory::publish(&[])?;
        return Ok(());
    }
    let prefix = match &config.socket_prefix {
        Some(prefix) => prefix.clone(),
        // SAFETY: pconf is live; the path is a pool string.
        None => PathBuf::from(
            unsafe { c_str(ap::ap_runtime_dir_relative(pconf, c"wsgi".as_ptr())) }.into_owned(),
        ),
    };
    let mut generation = 0;
    // SAFETY: ap_mpm_query writes one int.
    unsafe { ap::ap_mpm_query(ap::AP_MPMQ_GENERATION as i32, &mut generation) };
    let parent = getpid();
    let mut active = Vec::new();
    for (index, (options, server)) in defined.into_iter().enumerate() {
        let name = options.name.clone();
        let account = |source| SupervisorError::Account {
            group: name.clone(),
            source,
        };
        let (identity, user_home) = identity(&options).map_err(account)?;
        let socket_owner = match &options.socket_user {
            Some(socket_user) => accounts::user(socket_user).map_err(account)?.uid,
            None => children_uid(),
        };
        // WSGISocketRotation Off: the same name at every restart (as
        // mod_wsgi: the daemon's uid in place of the generation).
        let socket_path = PathBuf::from(if config.socket_rotation.unwrap_or(true) {
            format!("{}.{parent}.{generation}.{index}.sock", prefix.display())
        } else {
            format!(
                "{}.{parent}.u{}.{index}.sock",
                prefix.display(),
                identity.uid
            )
        });
        let listener = create_listener(&socket_path, options.listen_backlog, socket_owner)
            .map_err(|source| SupervisorError::Listener {
                group: name.clone(),
                source,
            })?;
        // Every process of the group polls the shared socket; accepting
        // must not block a process another one beat to the connection.
        set_nonblocking(listener);
        // SAFETY: server is a live server_rec of this configuration.
        let (hostname, timeout) = unsafe {
            (
                c_str((*server).server_hostname).into_owned(),
                (*server).timeout,
            )
        };
        let socket_timeout = options
            .socket_timeout
            .unwrap_or(Duration::from_micros(timeout.max(1_000_000) as u64));
        let script_owner = match (&options.script_user, &options.script_group) {
            (Some(user), _) => Some(ScriptOwner::User(
                accounts::user(user).map_err(account)?.uid,
            )),
            (None, Some(group)) => {
                Some(ScriptOwner::Group(accounts::group(group).map_err(account)?))
            }
            (None, None) => None,
        };
        let home = options
            .home
            .clone()
            .unwrap_or_else(|| PathBuf::from(user_home));
        let board = GroupBoard::new(options.processes as usize);
        active.push(Arc::new(DaemonGroup {
            board,
            metrics: GroupMetrics::new(),
            options,
            index,
            server: ServerRef(server),
            server_hostname: hostname,
            in_virtual_host: server != main,
            identity,
            home,
            socket_path,
            listener,
            socket_timeout,
            peer_uid: socket_owner,
            script_owner,
        }));
    }
    let mut routes = Vec::with_capacity(active.len());
    for group in &active {
        let secret = Secret::generate().map_err(|source| SupervisorError::Randomness {
            group: group.name().to_string(),
            source,
        })?;
        routes.push((
            group.name(),
            directory::Route {
                generation: generation as u64,
                socket_path: group.socket_path.clone(),
                secret,
            },
        ));
    }
    directory::publish(&routes)?;
    drop(routes);
    groups::set_active(active.clone());
    for group in active {
        for number in 0..group.options.processes as usize {
            // SAFETY: the slot lives in pconf as long as the registration.
            let slot = unsafe {
                pool::attach(
                    pconf,
                    Slot {
                        group: group.clone(),
                        number,
                        process: std::mem::zeroed(),
                        pool: pconf,
                        main_server: main,
                        started: Instant::now(),
                        quick_deaths: 0,
                        alive: false,
                        stop_asked: None,
                    },
                )
            };
            SLOTS.lock().push(SlotPtr(slot));
            // SAFETY: slot was just allocated and is only used by this thread.
            unsafe { spawn(slot, Duration::ZERO) };
        }
    }
    // Registered last so that it runs first when the generation ends,
    // while the slots (freed by their own, earlier cleanups) still exist.
    // SAFETY: pconf is live.
    unsafe {
        ap::apr_pool_cleanup_register(
            pconf,
            std::ptr::null(),
            Some(stop_all),
            Some(ap::apr_pool_cleanup_null),
        );
    }
    Ok(())
}

/// Forks the process of `slot`; the child becomes a daemon process and
/// never returns here.
unsafe fn spawn(slot: *mut Slot, delay: Duration) {
    // SAFETY: slot is live (see Slot).
    let slot = unsafe { &mut *slot };
    // SAFETY: forking the single-threaded parent; no lock is held.
    let status = unsafe { ap::apr_proc_fork(&mut slot.process, slot.pool) };
    if status == ap::APR_INCHILD as i32 {
        // SAFETY: in the new child, which becomes the daemon process.
        unsafe {
            crate::daemon::run::daemon_main(
                slot.group.clone(),
                slot.number,
                slot.main_server,
                delay,
            )
        };
    }
    if status != ap::APR_INPARENT as i32 {
        log::server(
            slot.main_server,
            Level::Error,
            &log::ours(&format!(
                "Unable to fork daemon process '{}' (status {status}).",
                slot.group.name()
            )),
        );
        return;
    }
    // A process counts as started once its delay is over.
    slot.started = Instant::now() + delay;
    slot.alive = true;
    slot.stop_asked = None;
    log::server(
        slot.main_server,
        Level::Info,
        &log::ours(&format!(
            "Starting process '{}' #{} with uid={}, gid={} and threads={} (pid {}).",
            slot.group.name(),
            slot.number,
            slot.group.identity.uid,
            slot.group.identity.gid,
            slot.group.options.threads,
            slot.process.pid
        )),
    );
    // SAFETY: the process record and slot live in the pool that bounds the
    // registration.
    unsafe {
        ap::apr_proc_other_child_register(
            &mut slot.process,
            Some(maintenance),
            (slot as *mut Slot).cast(),
            std::ptr::null_mut(),
            slot.pool,
        )
    };
}

fn stopping() -> bool {
    let mut state = 0;
    // SAFETY: ap_mpm_query writes one int.
    let rv = unsafe { ap::ap_mpm_query(ap::AP_MPMQ_MPM_STATE as i32, &mut state) };
    rv != 0 || state == ap::AP_MPMQ_STOPPING as i32
}

unsafe extern "C" fn maintenance(reason: i32, data: *mut std::ffi::c_void, status: i32) {
    let slot_ptr = data.cast::<Slot>();
    // SAFETY: data is the slot registered with this callback.
    let slot = unsafe { &mut *slot_ptr };
    let name = slot.group.name().to_string();
    let pid = slot.process.pid;
    match reason as u32 {
        ap::APR_OC_REASON_DEATH | ap::APR_OC_REASON_LOST => {
            slot.alive = false;
            // SAFETY: unregistering our own registration.
            unsafe { ap::apr_proc_other_child_unregister(data) };
            if stopping() {
                return;
            }
            // httpd passes the decoded exit code (or the signal number):
            // 0 is a process that ended on purpose (recycling).
            let death = slot
                .group
                .board
                .as_ref()
                .map(|board| board.record_death(slot.number, pid, status));
            if let (Some(death), Some(metrics)) = (&death, &slot.group.metrics) {
                metrics.count_restart(RestartCause::of(death));
            }
            let failed = status != 0;
            if failed && Instant::now().saturating_duration_since(slot.started) < QUICK_DEATH {
                slot.quick_deaths += 1;
            } else {
                slot.quick_deaths = 0;
            }
            let how = match &death {
                Some(death) => format!("{}; peak RSS {}", death.how(), death.peak_rss()),
                None => format!("exit status {status}"),
            };
            let delay = if slot.quick_deaths == 0 {
                Duration::ZERO
            } else {
                (Duration::from_secs(1) * 2u32.saturating_pow(slot.quick_deaths - 1))
                    .min(MAX_RESTART_DELAY)
            };
            log::server(
                slot.main_server,
                if failed { Level::Error } else { Level::Info },
                &log::ours(&format!(
                    "Process '{name}' (pid {pid}) has died ({how}), restarting it{}.",
                    if delay.is_zero() {
                        String::new()
                    } else {
                        format!(" after {} s", delay.as_secs())
                    }
                )),
            );
            // SAFETY: the slot stays valid; spawn forks a replacement.
            unsafe { spawn(slot_ptr, delay) };
        }
        ap::APR_OC_REASON_RESTART => {
            // httpd calls this on every pass of its loop reclaiming its
            // own children (hard restart and stop). The event MPM does not
            // signal its process group, and a child relaying a request to
            // a daemon waits for it, so the daemons are stopped here and
            // not only when the configuration pool is cleared afterwards.
            directory::announce_hard_stop();
            match slot.stop_asked {
                None => {
                    slot.stop_asked = Some(Instant::now());
                    // Our own, still unreaped, daemon.
                    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                }
                Some(asked) if asked.elapsed() >= STOP_WAIT => {
                    kill_and_reap(slot);
                    // SAFETY: unregistering our own registration.
                    unsafe { ap::apr_proc_other_child_unregister(data) };
                    slot.alive = false;
                }
                Some(_) => {}
            }
        }
        _ => {}
    }
}

/// A wait status decoded as httpd passes it: the exit code, or the signal.
/// `None` if the process has not ended.
fn decoded(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(signal as i32),
        _ => None,
    }
}

fn set_nonblocking(fd: std::os::fd::RawFd) {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    // SAFETY: the descriptor was just created and stays open as long as
    // the borrow is used (this call).
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if let Ok(flags) = fcntl(fd, FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        let _ = fcntl(fd, FcntlArg::F_SETFL(flags));
    }
}

/// Records on the group's board that the slot's process was reaped here
/// (not by httpd), so that an Apache child waiting to say why its request
/// died is told at once.
fn record_reaped(slot: &Slot, status: i32) {
    if let Some(board) = &slot.group.board {
        board.record_death(slot.number, slot.process.pid, status);
    }
}

/// Ends one of our daemon processes that did not stop in time.
fn kill_and_reap(slot: &Slot) {
    let pid = Pid::from_raw(slot.process.pid);
    let _ = kill(pid, Signal::SIGKILL);
    if let Ok(status) = waitpid(pid, None)
        && let Some(status) = decoded(status)
    {
        record_reaped(slot, status);
    }
}

/// Reaps the slot's process if it has exited (or is not ours to wait for).
fn process_gone(slot: &Slot) -> bool {
    match waitpid(Pid::from_raw(slot.process.pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(status) => match decoded(status) {
            Some(status) => {
                record_reaped(slot, status);
                true
            }
            None => false,
        },
        Err(_) => true,
    }
}

unsafe extern "C" fn stop_all(_data: *mut std::ffi::c_void) -> ap::apr_status_t {
    let now = Instant::now();
    let mut remaining: Vec<(&Slot, Instant)> = Vec::new();
    for slot in slots() {
        // SAFETY: slots live in the pool being cleared; their cleanups run
        // after this one, which was registered after them.
        let slot = unsafe { &*slot.0 };
        if !slot.alive || slot.process.pid <= 0 {
            continue;
        }
        let asked = slot.stop_asked.unwrap_or_else(|| {
            let _ = kill(Pid::from_raw(slot.process.pid), Signal::SIGTERM);
            now
        });
        remaining.push((slot, asked + STOP_WAIT));
    }
    loop {
        remaining.retain(|(slot, _)| !process_gone(slot));
        let now = Instant::now();
        if remaining.iter().all(|(_, deadline)| *deadline <= now) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (slot, _) in &remaining {
        kill_and_reap(slot);
    }
    for group in groups::all() {
        if let Some(board) = &group.board {
            // SAFETY: every process of the group is gone.
            unsafe { board.unmap() };
        }
        if let Some(metrics) = &group.metrics {
            // SAFETY: as above, and Apache's children of the generation
            // have their own mapping.
            unsafe { metrics.unmap() };
        }
    }
    for group in groups::all() {
        let _ = std::fs::remove_file(&group.socket_path);
        // Our listener, used by nobody after this.
        let _ = nix::unistd::close(group.listener);
    }
    groups::set_active(Vec::new());
    SLOTS.lock().clear();
    0
}
