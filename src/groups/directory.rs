//! Where each daemon group of the current configuration generation
//! listens, and its secret: a table in memory the Apache parent maps once
//! for its whole life and shares with every Apache child of every
//! generation (they inherit it through fork). It is never on disk, in the
//! environment or in a daemon process (each unmaps it at once, keeping
//! only its own group's secret).
//!
//! The parent rewrites it at each (re)start before it forks the new
//! generation. An Apache child of an older generation that is still
//! finishing requests after a graceful restart finds the new sockets here,
//! so its requests go to the new daemon processes instead of failing.
//!
//! The parent is the only writer; readers in other processes use a
//! sequence lock, every word an atomic.

use std::ffi::{CStr, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering, fence};

use apache_sys as ap;

use crate::groups::secret::Secret;
use wsgi_core::protocol::SECRET_LEN;

/// Most groups the table holds (a configuration with more is refused).
pub const MAX_GROUPS: usize = 4096;
/// Words of a socket path (`sun_path` holds at most 107 bytes).
const PATH_WORDS: usize = 14;
const SECRET_WORDS: usize = SECRET_LEN / 8;
/// An entry: generation + 1, name hash, path length, path, secret.
const ENTRY_WORDS: usize = 3 + PATH_WORDS + SECRET_WORDS;
/// The header: layout tag, sequence, number of entries, and whether a hard
/// restart or stop is under way (see [`hard_stop_under_way`]).
const HEADER_WORDS: usize = 4;
const HARD_STOP: usize = 3;
const WORDS: usize = HEADER_WORDS + MAX_GROUPS * ENTRY_WORDS;
/// Changes with the layout, so a module built with another layout makes
/// its own table rather than misreading this one.
const LAYOUT: u64 = 0x6d77_7273_6469_7202;

const USERDATA_KEY: &CStr = c"mod_wsgi_rs_daemon_directory";

/// The table in this process (null until the parent made it, and in a
/// daemon process after it let it go).
static TABLE: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

/// Where a group's current processes listen.
#[derive(Debug, Clone)]
pub struct Route {
    /// Which configuration generation published it.
    pub generation: u64,
    pub socket_path: PathBuf,
    pub secret: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot map shared memory for the daemon directory: {0}")]
    Map(std::io::Error),
    #[error("socket path {0} is too long for the daemon directory")]
    PathTooLong(PathBuf),
    #[error("more than {MAX_GROUPS} WSGIDaemonProcess groups")]
    TooManyGroups,
}

/// FNV-1a: stable across builds, which matters because children of an
/// older generation may run an older build of this module.
fn name_hash(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // 0 marks nothing; keep real hashes away from it.
    hash.max(1)
}

fn table() -> Option<&'static [AtomicU64]> {
    let base = TABLE.load(Ordering::Acquire);
    if base.is_null() {
        return None;
    }
    // SAFETY: a non-null TABLE points at a mapping of WORDS words that is
    // never unmapped while TABLE holds it (see `forget`).
    Some(unsafe { std::slice::from_raw_parts(base, WORDS) })
}

/// Makes the table, or finds the one made by an earlier configuration
/// generation of this parent (the module itself is reloaded at restarts;
/// the process pool is not).
///
/// # Safety
/// `process_pool` must be the Apache parent's process pool.
pub unsafe fn open(process_pool: *mut ap::apr_pool_t) -> Result<(), DirectoryError> {
    let mut data: *mut c_void = std::ptr::null_mut();
    // SAFETY: reading a key of the live process pool.
    unsafe { ap::apr_pool_userdata_get(&mut data, USERDATA_KEY.as_ptr(), process_pool) };
    let existing = data.cast::<AtomicU64>();
    // SAFETY: the userdata, if set, is a mapping of WORDS words made below
    // by a build whose first word is its layout tag.
    if !existing.is_null() && unsafe { (*existing).load(Ordering::Relaxed) } == LAYOUT {
        TABLE.store(existing, Ordering::Release);
        return Ok(());
    }
    // Zero-filled; it lives as long as the parent and is inherited by its
    // children.
    let base = crate::groups::shared_words::map(WORDS)
        .map_err(|e| DirectoryError::Map(e.into()))?
        .as_ptr();
    // SAFETY: the mapping holds WORDS zeroed words.
    unsafe { (*base).store(LAYOUT, Ordering::Relaxed) };
    // SAFETY: the key is 'static; the mapping outlives the pool.
    unsafe {
        ap::apr_pool_userdata_set(
            base.cast_const().cast(),
            USERDATA_KEY.as_ptr(),
            Some(ap::apr_pool_cleanup_null),
            process_pool,
        )
    };
    TABLE.store(base, Ordering::Release);
    Ok(())
}

fn path_words(path: &Path) -> Result<(u64, [u64; PATH_WORDS]), DirectoryError> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() > PATH_WORDS * 8 {
        return Err(DirectoryError::PathTooLong(path.to_path_buf()));
    }
    let mut words = [0u64; PATH_WORDS];
    for (i, chunk) in bytes.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        words[i] = u64::from_le_bytes(word);
    }
    Ok((bytes.len() as u64, words))
}

fn secret_words(secret: &Secret) -> [u64; SECRET_WORDS] {
    let mut words = [0u64; SECRET_WORDS];
    for (i, chunk) in secret.bytes().chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        words[i] = u64::from_le_bytes(word);
    }
    words
}

/// Replaces the table's contents with `routes` (the parent, before it
/// forks the generation's processes).
pub fn publish(routes: &[(&str, Route)]) -> Result<(), DirectoryError> {
    if routes.len() > MAX_GROUPS {
        return Err(DirectoryError::TooManyGroups);
    }
    let Some(table) = table() else {
        return Ok(());
    };
    let mut encoded = Vec::with_capacity(routes.len());
    for (name, route) in routes {
        let (length, path) = path_words(&route.socket_path)?;
        encoded.push((
            name_hash(name),
            route.generation + 1,
            length,
            path,
            secret_words(&route.secret),
        ));
    }
    let sequence = &table[1];
    let count = &table[2];
    let previous = (count.load(Ordering::Relaxed) as usize).min(MAX_GROUPS);
    sequence.fetch_add(1, Ordering::Relaxed);
    fence(Ordering::Release);
    count.store(encoded.len() as u64, Ordering::Relaxed);
    for index in 0..previous.max(encoded.len()) {
        let entry = &table[HEADER_WORDS + index * ENTRY_WORDS..][..ENTRY_WORDS];
        match encoded.get(index) {
            Some((hash, generation, length, path, secret)) => {
                entry[0].store(*generation, Ordering::Relaxed);
                entry[1].store(*hash, Ordering::Relaxed);
                entry[2].store(*length, Ordering::Relaxed);
                for (word, value) in entry[3..3 + PATH_WORDS].iter().zip(path) {
                    word.store(*value, Ordering::Relaxed);
                }
                for (word, value) in entry[3 + PATH_WORDS..].iter().zip(secret) {
                    word.store(*value, Ordering::Relaxed);
                }
            }
            None => {
                for word in entry {
                    word.store(0, Ordering::Relaxed);
                }
            }
        }
    }
    sequence.fetch_add(1, Ordering::Release);
    table[HARD_STOP].store(0, Ordering::Release);
    Ok(())
}

/// The parent is ending this generation's processes at once (a hard
/// restart or a stop): until the next generation publishes its routes,
/// no daemon process will take a request, and an Apache child waiting to
/// hand one over should give up rather than keep the parent waiting for
/// it to exit.
pub fn announce_hard_stop() {
    if let Some(table) = table() {
        table[HARD_STOP].store(1, Ordering::Release);
    }
}

/// See [`announce_hard_stop`].
pub fn hard_stop_under_way() -> bool {
    table().is_some_and(|table| table[HARD_STOP].load(Ordering::Acquire) != 0)
}

/// The current route of group `name`, if the table has one.
pub fn lookup(name: &str) -> Option<Route> {
    let table = table()?;
    let hash = name_hash(name);
    let sequence = &table[1];
    loop {
        let before = sequence.load(Ordering::Acquire);
        if before & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let mut found = None;
        let count = (table[2].load(Ordering::Relaxed) as usize).min(MAX_GROUPS);
        for index in 0..count {
            let entry = &table[HEADER_WORDS + index * ENTRY_WORDS..][..ENTRY_WORDS];
            let generation = entry[0].load(Ordering::Relaxed);
            if generation == 0 {
                break;
            }
            if entry[1].load(Ordering::Relaxed) != hash {
                continue;
            }
            let mut words = [0u64; ENTRY_WORDS];
            for (word, value) in words.iter_mut().zip(entry) {
                *word = value.load(Ordering::Relaxed);
            }
            found = Some(words);
            break;
        }
        fence(Ordering::Acquire);
        if sequence.load(Ordering::Relaxed) != before {
            continue;
        }
        let words = found?;
        let length = (words[2] as usize).min(PATH_WORDS * 8);
        let mut path = Vec::with_capacity(PATH_WORDS * 8);
        for word in &words[3..3 + PATH_WORDS] {
            path.extend_from_slice(&word.to_le_bytes());
        }
        path.truncate(length);
        let mut secret = [0u8; SECRET_LEN];
        for (chunk, word) in secret.chunks_mut(8).zip(&words[3 + PATH_WORDS..]) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        return Some(Route {
            generation: words[0] - 1,
            socket_path: PathBuf::from(std::ffi::OsStr::from_bytes(&path)),
            secret: Secret::from_bytes(secret),
        });
    }
}

/// Unmaps the table in this process (a daemon process, right after the
/// fork: it must not know other groups' secrets).
pub fn forget() {
    let base = TABLE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if let Some(base) = std::ptr::NonNull::new(base) {
        // SAFETY: the mapping made by `open`; TABLE no longer points at it
        // and this process is single-threaded here.
        unsafe { crate::groups::shared_words::unmap(base, WORDS) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private table for the test (the real one is made by `open` in the
    /// Apache parent); one test at a time uses the process's TABLE.
    fn with_table(f: impl FnOnce()) {
        static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
        let _turn = ONE_AT_A_TIME.lock();
        let words: Box<[AtomicU64]> = (0..WORDS).map(|_| AtomicU64::new(0)).collect();
        let base = Box::into_raw(words).cast::<AtomicU64>();
        TABLE.store(base, Ordering::Release);
        f();
        TABLE.store(std::ptr::null_mut(), Ordering::Release);
        // SAFETY: made above from a boxed slice of WORDS words.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(base, WORDS)) });
    }

    #[test]
    fn routes_are_found_by_name_and_replaced_whole() {
        with_table(|| {
            let a = Secret::generate().unwrap();
            let b = Secret::generate().unwrap();
            let long_path = PathBuf::from(format!("/run/{}.sock", "x".repeat(90)));
            publish(&[
                (
                    "app",
                    Route {
                        generation: 3,
                        socket_path: "/run/wsgi.1.3.0.sock".into(),
                        secret: a.clone(),
                    },
                ),
                (
                    "other",
                    Route {
                        generation: 3,
                        socket_path: long_path.clone(),
                        secret: b.clone(),
                    },
                ),
            ])
            .unwrap();
            let found = lookup("app").unwrap();
            assert_eq!(found.generation, 3);
            assert_eq!(found.socket_path, Path::new("/run/wsgi.1.3.0.sock"));
            assert_eq!(found.secret.bytes(), a.bytes());
            let other = lookup("other").unwrap();
            assert_eq!(other.socket_path, long_path);
            assert_eq!(other.secret.bytes(), b.bytes());
            assert!(lookup("missing").is_none());

            publish(&[(
                "other",
                Route {
                    generation: 4,
                    socket_path: "/run/wsgi.1.4.0.sock".into(),
                    secret: a.clone(),
                },
            )])
            .unwrap();
            assert!(lookup("app").is_none(), "a removed group is gone");
            assert_eq!(lookup("other").unwrap().generation, 4);
        });
    }

    #[test]
    fn paths_longer_than_a_socket_path_are_refused() {
        with_table(|| {
            let route = Route {
                generation: 1,
                socket_path: PathBuf::from("/".repeat(PATH_WORDS * 8 + 1)),
                secret: Secret::generate().unwrap(),
            };
            assert!(matches!(
                publish(&[("g", route)]),
                Err(DirectoryError::PathTooLong(_))
            ));
        });
    }
}
