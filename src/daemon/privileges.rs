//! Dropping a daemon process's privileges: supplementary groups, group,
//! user, in that order, then checking that every id really changed and
//! that root cannot be regained. Any failure is fatal for the process.

use crate::groups::Identity;

fn errno_text() -> String {
    std::io::Error::last_os_error().to_string()
}

/// Becomes `identity`. Only meaningful as root; as another user the
/// process keeps its ids (as mod_wsgi), but must still not be root.
pub fn drop_to(identity: &Identity) -> Result<(), String> {
    if identity.uid == 0 {
        return Err("refusing to run a daemon process as root".into());
    }
    // SAFETY: plain system calls on this process's credentials.
    unsafe {
        if libc::geteuid() != 0 {
            // Apache was not started as root: the process keeps its ids.
            return if libc::getuid() == 0 {
                Err("running with a real uid of root".into())
            } else {
                Ok(())
            };
        }
        {
            let groups: Vec<libc::gid_t> = identity.groups.clone();
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0 {
                return Err(format!(
                    "setgroups({:?}) failed: {}",
                    identity.groups,
                    errno_text()
                ));
            }
            if libc::setgid(identity.gid) != 0 {
                return Err(format!("setgid({}) failed: {}", identity.gid, errno_text()));
            }
            if libc::setuid(identity.uid) != 0 {
                return Err(format!("setuid({}) failed: {}", identity.uid, errno_text()));
            }
        }
        verify(identity)
    }
}

/// Checks the process's real and effective ids and groups against
/// `identity`, and that it cannot become root again.
fn verify(identity: &Identity) -> Result<(), String> {
    // SAFETY: reading this process's credentials.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    if uid == 0 || euid == 0 {
        return Err("still running as root after dropping privileges".into());
    }
    if uid != identity.uid || euid != identity.uid {
        return Err(format!(
            "running as uid {uid}/{euid}, expected {}",
            identity.uid
        ));
    }
    if gid != identity.gid || egid != identity.gid {
        return Err(format!(
            "running as gid {gid}/{egid}, expected {}",
            identity.gid
        ));
    }
    let mut groups = vec![0 as libc::gid_t; 1024];
    // SAFETY: groups has room for 1024 entries.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    if n < 0 {
        return Err(format!("getgroups failed: {}", errno_text()));
    }
    groups.truncate(n as usize);
    let mut expected = identity.groups.clone();
    expected.sort_unstable();
    groups.sort_unstable();
    if groups != expected {
        return Err(format!(
            "supplementary groups are {groups:?}, expected {expected:?}"
        ));
    }
    // SAFETY: an attempt that must fail for an unprivileged process.
    if unsafe { libc::setuid(0) } == 0 {
        return Err("could regain root after dropping privileges".into());
    }
    Ok(())
}
