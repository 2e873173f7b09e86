//! The daemon process groups of the running configuration, as the three
//! kinds of process see them: what the parent starts and supervises, what
//! Apache children forward to, what a daemon process serves. Set up by the
//! parent in post_config; children inherit it through fork. Below it: the
//! socket and its protocol stream, the secret, the directory of current
//! routes, each group's board, the accounts groups run as.

pub mod accounts;
pub mod board;
pub mod directory;
pub mod metrics_table;
pub mod secret;
pub mod shared_words;
pub mod socket;

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use apache_sys as ap;

use board::GroupBoard;
use metrics_table::GroupMetrics;
use wsgi_core::daemon_options::DaemonOptions;

/// Who a daemon process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (for `initgroups`, computed from the user).
    pub groups: Vec<u32>,
}

/// A server_rec pointer that can sit in the registry (only dereferenced by
/// the process that owns the configuration, on the thread using it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRef(pub *mut ap::server_rec);
// SAFETY: see the type's comment; server records live as long as the
// configuration generation that the registry belongs to.
unsafe impl Send for ServerRef {}
// SAFETY: as above.
unsafe impl Sync for ServerRef {}

#[derive(Debug)]
pub struct DaemonGroup {
    pub options: DaemonOptions,
    /// Position in the configuration (socket names use it).
    pub index: usize,
    /// The server (virtual host) the group was defined in.
    pub server: ServerRef,
    pub server_hostname: String,
    /// Defined in a virtual host rather than at server level.
    pub in_virtual_host: bool,
    pub identity: Identity,
    /// Working directory of the processes.
    pub home: PathBuf,
    pub socket_path: PathBuf,
    /// The listening socket, created by the parent and shared by the
    /// group's processes.
    pub listener: RawFd,
    pub socket_timeout: Duration,
    /// The uid Apache's children connect with (besides root), checked
    /// against each connection's peer credentials.
    pub peer_uid: u32,
    /// script-user= / script-group=: the owner or group a script must have
    /// to run in this group.
    pub script_owner: Option<ScriptOwner>,
    /// What the group's processes share with each other, the parent and
    /// Apache's children (see `board.rs`).
    pub board: Option<GroupBoard>,
    /// The group's counters (see `metrics_table.rs`).
    pub metrics: Option<GroupMetrics>,
}

/// Who must own the scripts a group runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptOwner {
    User(u32),
    Group(u32),
}

impl DaemonGroup {
    pub fn name(&self) -> &str {
        &self.options.name
    }

    /// Whether a request on a server named `hostname` may use the group:
    /// groups defined at server level serve everyone, those of a virtual
    /// host only virtual hosts with the same ServerName (as mod_wsgi).
    pub fn accessible_from(&self, hostname: &str) -> bool {
        !self.in_virtual_host || self.server_hostname == hostname
    }
}

/// Written by the parent at each configuration generation; Apache children
/// and daemon processes only read it (many threads, every request).
static ACTIVE: RwLock<Vec<Arc<DaemonGroup>>> = RwLock::new(Vec::new());

fn active() -> RwLockReadGuard<'static, Vec<Arc<DaemonGroup>>> {
    ACTIVE.read().unwrap_or_else(|e| e.into_inner())
}

/// Replaces the registry (parent, post_config).
pub fn set_active(groups: Vec<Arc<DaemonGroup>>) {
    *ACTIVE.write().unwrap_or_else(|e| e.into_inner()) = groups;
}

pub fn all() -> Vec<Arc<DaemonGroup>> {
    active().clone()
}

pub fn find(name: &str) -> Option<Arc<DaemonGroup>> {
    active().iter().find(|g| g.name() == name).cloned()
}

/// The counters of requests run in Apache's children (embedded mode), for
/// the configuration generation. Set by the parent; children inherit it.
static EMBEDDED_METRICS: RwLock<Option<Arc<GroupMetrics>>> = RwLock::new(None);

pub fn embedded_metrics() -> Option<Arc<GroupMetrics>> {
    EMBEDDED_METRICS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Gives embedded mode a fresh table (parent, each generation), releasing
/// the last generation's: the parent itself never counts in it.
pub fn renew_embedded_metrics() {
    let old = std::mem::replace(
        &mut *EMBEDDED_METRICS.write().unwrap_or_else(|e| e.into_inner()),
        GroupMetrics::new().map(Arc::new),
    );
    if let Some(old) = old.and_then(|old| Arc::try_unwrap(old).ok()) {
        // SAFETY: it was the last reference in this process.
        unsafe { old.unmap() };
    }
}

/// Unmaps the boards and counters of every group but `keep`, and the
/// embedded counters (in a daemon process of `keep`: its application must
/// not reach other groups').
pub fn unmap_others(keep: &str) {
    for group in active().iter() {
        if group.name() == keep {
            continue;
        }
        if let Some(board) = &group.board {
            // SAFETY: this process never uses another group's board.
            unsafe { board.unmap() };
        }
        if let Some(metrics) = &group.metrics {
            // SAFETY: nor its counters.
            unsafe { metrics.unmap() };
        }
    }
    let embedded = EMBEDDED_METRICS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(embedded) = embedded.and_then(|table| Arc::try_unwrap(table).ok()) {
        // SAFETY: daemon processes never count embedded requests.
        unsafe { embedded.unmap() };
    }
}

/// Closes every group's listening socket except `keep` (Apache children
/// keep none; a daemon keeps its own).
pub fn close_listeners_except(keep: Option<&str>) {
    for group in active().iter() {
        if Some(group.name()) != keep && group.listener >= 0 {
            // The descriptor was inherited from the parent and is not used
            // in this process.
            let _ = nix::unistd::close(group.listener);
        }
    }
}
