//! Dropping a daemon process's privileges: supplementary groups, group,
//! user, in that order, then checking that every id really changed and
//! that root cannot be regained. Any failure is fatal for the process.

use nix::unistd::{
    Gid, Uid, getegid, geteuid, getgid, getgroups, getuid, setgid, setgroups, setuid,
};

use crate::groups::Identity;

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("refusing to run a daemon process as root")]
    IdentityIsRoot,
    #[error("running with a real uid of root")]
    RealUidIsRoot,
    #[error("setgroups({groups:?}) failed: {source}")]
    SetGroups {
        groups: Vec<u32>,
        source: std::io::Error,
    },
    #[error("setgid({gid}) failed: {source}")]
    SetGid { gid: u32, source: std::io::Error },
    #[error("setuid({uid}) failed: {source}")]
    SetUid { uid: u32, source: std::io::Error },
    #[error("still running as root after dropping privileges")]
    StillRoot,
    #[error("running as uid {uid}/{euid}, expected {expected}")]
    WrongUid { uid: u32, euid: u32, expected: u32 },
    #[error("running as gid {gid}/{egid}, expected {expected}")]
    WrongGid { gid: u32, egid: u32, expected: u32 },
    #[error("getgroups failed: {0}")]
    GetGroups(std::io::Error),
    #[error("supplementary groups are {found:?}, expected {expected:?}")]
    WrongGroups { found: Vec<u32>, expected: Vec<u32> },
    #[error("could regain root after dropping privileges")]
    RootRegainable,
}

/// Becomes `identity`. Only meaningful as root; as another user the
/// process keeps its ids (as mod_wsgi), but must still not be root.
pub fn drop_to(identity: &Identity) -> Result<(), PrivilegeError> {
    if identity.uid == 0 {
        return Err(PrivilegeError::IdentityIsRoot);
    }
    if !geteuid().is_root() {
        // Apache was not started as root: the process keeps its ids.
        return if getuid().is_root() {
            Err(PrivilegeError::RealUidIsRoot)
        } else {
            Ok(())
        };
    }
    let groups: Vec<Gid> = identity.groups.iter().copied().map(Gid::from_raw).collect();
    setgroups(&groups).map_err(|e| PrivilegeError::SetGroups {
        groups: identity.groups.clone(),
        source: e.into(),
    })?;
    setgid(Gid::from_raw(identity.gid)).map_err(|e| PrivilegeError::SetGid {
        gid: identity.gid,
        source: e.into(),
    })?;
    setuid(Uid::from_raw(identity.uid)).map_err(|e| PrivilegeError::SetUid {
        uid: identity.uid,
        source: e.into(),
    })?;
    verify(identity)
}

/// Checks the process's real and effective ids and groups against
/// `identity`, and that it cannot become root again.
fn verify(identity: &Identity) -> Result<(), PrivilegeError> {
    let (uid, euid) = (getuid().as_raw(), geteuid().as_raw());
    let (gid, egid) = (getgid().as_raw(), getegid().as_raw());
    if uid == 0 || euid == 0 {
        return Err(PrivilegeError::StillRoot);
    }
    if uid != identity.uid || euid != identity.uid {
        return Err(PrivilegeError::WrongUid {
            uid,
            euid,
            expected: identity.uid,
        });
    }
    if gid != identity.gid || egid != identity.gid {
        return Err(PrivilegeError::WrongGid {
            gid,
            egid,
            expected: identity.gid,
        });
    }
    let mut found: Vec<u32> = getgroups()
        .map_err(|e| PrivilegeError::GetGroups(e.into()))?
        .into_iter()
        .map(Gid::as_raw)
        .collect();
    let mut expected = identity.groups.clone();
    expected.sort_unstable();
    found.sort_unstable();
    if found != expected {
        return Err(PrivilegeError::WrongGroups { found, expected });
    }
    // An attempt that must fail for an unprivileged process.
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivilegeError::RootRegainable);
    }
    Ok(())
}
