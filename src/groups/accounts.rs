//! Resolving users and groups (`user=`, `group=`, `supplementary-groups=`)
//! to numeric ids.

use std::ffi::CString;

use nix::unistd::{Gid, Group, Uid, User, getgrouplist};
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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("invalid user name '{0}'")]
    InvalidUserName(String),
    #[error("no user '{0}' on this system")]
    NoUser(String),
    #[error("invalid group name '{0}'")]
    InvalidGroupName(String),
    #[error("no group '{0}' on this system")]
    NoGroup(String),
}

impl From<User> for ResolvedUser {
    fn from(user: User) -> ResolvedUser {
        ResolvedUser {
            name: user.name,
            uid: user.uid.as_raw(),
            primary_gid: user.gid.as_raw(),
            home: user.dir.to_string_lossy().into_owned(),
        }
    }
}

/// A uid without a password entry (`#uid`), as it runs.
fn unknown_user(uid: u32) -> ResolvedUser {
    ResolvedUser {
        name: format!("#{uid}"),
        uid,
        primary_gid: uid,
        home: "/".into(),
    }
}

/// Looks up a user by name or `#uid`.
pub fn user(account: &Account) -> Result<ResolvedUser, AccountError> {
    match account {
        Account::Name(name) => {
            if name.contains('\0') {
                return Err(AccountError::InvalidUserName(name.clone()));
            }
            match User::from_name(name) {
                Ok(Some(user)) => Ok(user.into()),
                _ => Err(AccountError::NoUser(name.clone())),
            }
        }
        Account::Id(uid) => Ok(match User::from_uid(Uid::from_raw(*uid)) {
            Ok(Some(user)) => user.into(),
            _ => unknown_user(*uid),
        }),
    }
}

/// Looks up a user by uid (for the Apache User default).
pub fn user_by_id(uid: u32) -> ResolvedUser {
    user(&Account::Id(uid)).unwrap_or_else(|_| unknown_user(uid))
}

/// Looks up a group by name or `#gid`.
pub fn group(account: &Account) -> Result<u32, AccountError> {
    match account {
        Account::Id(gid) => Ok(*gid),
        Account::Name(name) => {
            if name.contains('\0') {
                return Err(AccountError::InvalidGroupName(name.clone()));
            }
            match Group::from_name(name) {
                Ok(Some(group)) => Ok(group.gid.as_raw()),
                _ => Err(AccountError::NoGroup(name.clone())),
            }
        }
    }
}

/// The groups `initgroups` would give `user` with primary group `gid`.
pub fn initial_groups(user: &str, gid: u32) -> Vec<u32> {
    let Ok(name) = CString::new(user) else {
        return vec![gid];
    };
    match getgrouplist(&name, Gid::from_raw(gid)) {
        Ok(groups) => groups.into_iter().map(Gid::as_raw).collect(),
        Err(_) => vec![gid],
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
        assert_eq!(user(&Account::Id(4_000_000)).unwrap().name, "#4000000");
        assert_eq!(group(&Account::Id(42)), Ok(42));
        assert!(initial_groups("root", 0).contains(&0));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            user(&Account::Name("no-such-user-xyz".into()))
                .unwrap_err()
                .to_string(),
            "no user 'no-such-user-xyz' on this system"
        );
        assert_eq!(
            group(&Account::Name("no-such-group-xyz".into())),
            Err(AccountError::NoGroup("no-such-group-xyz".into()))
        );
    }
}
