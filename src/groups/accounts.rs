//! Resolving users and groups (`user=`, `group=`, `supplementary-groups=`)
//! to numeric ids.

use std::ffi::{CStr, CString};

use wsgi_core::daemon_options::Account;

/// A user as a daemon process runs as it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub name: String,
    pub uid: u32,
    /// The user's primary group in the password database.
    pub primary_gid: u32,
    pub home: String,
}

fn text(ptr: *const libc::c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        // SAFETY: the password/group database returns NUL-terminated strings
        // that stay valid until the next call on the same buffer.
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned()
    }
}

fn passwd_lookup(by_name: Option<&CStr>, uid: u32) -> Option<ResolvedUser> {
    let mut buffer = vec![0 as libc::c_char; 16384];
    // SAFETY: zeroed passwd is a valid out-parameter.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; the buffer backs entry's strings.
    let rc = unsafe {
        match by_name {
            Some(name) => libc::getpwnam_r(
                name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut result,
            ),
            None => libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut result,
            ),
        }
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(ResolvedUser {
        name: text(entry.pw_name),
        uid: entry.pw_uid,
        primary_gid: entry.pw_gid,
        home: text(entry.pw_dir),
    })
}

/// Looks up a user by name or `#uid`.
pub fn user(account: &Account) -> Result<ResolvedUser, String> {
    match account {
        Account::Name(name) => {
            let c =
                CString::new(name.as_str()).map_err(|_| format!("invalid user name '{name}'"))?;
            passwd_lookup(Some(&c), 0).ok_or_else(|| format!("no user '{name}' on this system"))
        }
        Account::Id(uid) => Ok(passwd_lookup(None, *uid).unwrap_or(ResolvedUser {
            name: format!("#{uid}"),
            uid: *uid,
            primary_gid: *uid,
            home: "/".into(),
        })),
    }
}

/// Looks up a user by uid (for the Apache User default).
pub fn user_by_id(uid: u32) -> ResolvedUser {
    user(&Account::Id(uid)).unwrap_or(ResolvedUser {
        name: format!("#{uid}"),
        uid,
        primary_gid: uid,
        home: "/".into(),
    })
}

/// Looks up a group by name or `#gid`.
pub fn group(account: &Account) -> Result<u32, String> {
    match account {
        Account::Id(gid) => Ok(*gid),
        Account::Name(name) => {
            let c =
                CString::new(name.as_str()).map_err(|_| format!("invalid group name '{name}'"))?;
            let mut buffer = vec![0 as libc::c_char; 65536];
            // SAFETY: zeroed group is a valid out-parameter.
            let mut entry: libc::group = unsafe { std::mem::zeroed() };
            let mut result: *mut libc::group = std::ptr::null_mut();
            // SAFETY: all pointers are valid for the call.
            let rc = unsafe {
                libc::getgrnam_r(
                    c.as_ptr(),
                    &mut entry,
                    buffer.as_mut_ptr(),
                    buffer.len(),
                    &mut result,
                )
            };
            if rc != 0 || result.is_null() {
                return Err(format!("no group '{name}' on this system"));
            }
            Ok(entry.gr_gid)
        }
    }
}

/// The groups `initgroups` would give `user` with primary group `gid`.
pub fn initial_groups(user: &str, gid: u32) -> Vec<u32> {
    let Ok(name) = CString::new(user) else {
        return vec![gid];
    };
    let mut count: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; count as usize];
        let mut n = count;
        // SAFETY: groups has room for n entries; n is updated with the count.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n as usize);
            return groups;
        }
        if n <= count {
            return vec![gid];
        }
        count = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_its_group_resolve() {
        let root = user(&Account::Name("root".into())).unwrap();
        assert_eq!((root.uid, root.primary_gid), (0, 0));
        assert_eq!(group(&Account::Name("root".into())), Ok(0));
        assert_eq!(group(&Account::Id(42)), Ok(42));
        assert!(initial_groups("root", 0).contains(&0));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(user(&Account::Name("no-such-user-xyz".into())).is_err());
        assert!(group(&Account::Name("no-such-group-xyz".into())).is_err());
    }
}
