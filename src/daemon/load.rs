//! How many requests each process of a group is running, in memory the
//! group's processes share (mapped by the parent before it forks them).
//! Connections from Apache's children stay open between requests, which
//! would otherwise pin work to whichever process accepted them first: a
//! process clearly busier than its least busy sibling closes connections
//! after their request and leaves new ones to the siblings, so the load
//! evens out.

use std::sync::atomic::{AtomicU32, Ordering};

pub struct GroupLoad {
    counts: *mut AtomicU32,
    processes: usize,
}

// SAFETY: the mapping lives until `unmap` (when the group's processes are
// gone) and is only accessed through atomics.
unsafe impl Send for GroupLoad {}
// SAFETY: as above.
unsafe impl Sync for GroupLoad {}

impl std::fmt::Debug for GroupLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GroupLoad({:?})", self.snapshot())
    }
}

impl GroupLoad {
    /// Shared, zeroed counters for `processes` processes; None if the
    /// memory cannot be mapped (the group then runs without balancing).
    pub fn new(processes: usize) -> Option<GroupLoad> {
        let length = processes.max(1) * std::mem::size_of::<AtomicU32>();
        // SAFETY: an anonymous shared mapping, zero-filled by the kernel.
        let memory = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if memory == libc::MAP_FAILED {
            return None;
        }
        Some(GroupLoad {
            counts: memory.cast(),
            processes: processes.max(1),
        })
    }

    fn count(&self, process: usize) -> &AtomicU32 {
        // SAFETY: process < self.processes (checked by callers via `min`),
        // inside the mapping.
        unsafe { &*self.counts.add(process.min(self.processes - 1)) }
    }

    /// A new process starts from zero (its predecessor may have died with
    /// requests running).
    pub fn reset(&self, process: usize) {
        self.count(process).store(0, Ordering::Relaxed);
    }

    pub fn enter(&self, process: usize) {
        self.count(process).fetch_add(1, Ordering::Relaxed);
    }

    pub fn leave(&self, process: usize) {
        let _ = self
            .count(process)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Whether `process` runs more than `margin` requests beyond its least
    /// busy sibling.
    pub fn busier_than_siblings(&self, process: usize, margin: u32) -> bool {
        let mine = self.count(process).load(Ordering::Relaxed);
        (0..self.processes)
            .filter(|&other| other != process)
            .map(|other| self.count(other).load(Ordering::Relaxed))
            .min()
            .is_some_and(|least| mine > least + margin)
    }

    fn snapshot(&self) -> Vec<u32> {
        (0..self.processes)
            .map(|p| self.count(p).load(Ordering::Relaxed))
            .collect()
    }

    /// Releases the memory.
    ///
    /// # Safety
    /// No process may use the counters afterwards.
    pub unsafe fn unmap(&self) {
        // SAFETY: per the contract; the mapping was made by `new`.
        unsafe {
            libc::munmap(
                self.counts.cast(),
                self.processes * std::mem::size_of::<AtomicU32>(),
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_busier_only_beyond_the_margin() {
        let load = GroupLoad::new(3).unwrap();
        for _ in 0..4 {
            load.enter(0);
        }
        load.enter(1);
        load.enter(2);
        assert!(load.busier_than_siblings(0, 2));
        assert!(!load.busier_than_siblings(0, 3));
        assert!(!load.busier_than_siblings(1, 0));
        load.leave(0);
        load.leave(0);
        assert!(!load.busier_than_siblings(0, 1));
        load.reset(0);
        load.leave(0);
        assert_eq!(load.snapshot(), [0, 1, 1]);
        // SAFETY: nothing uses it afterwards.
        unsafe { load.unmap() };
    }

    #[test]
    fn a_single_process_is_never_busier() {
        let load = GroupLoad::new(1).unwrap();
        load.enter(0);
        load.enter(0);
        assert!(!load.busier_than_siblings(0, 0));
        // SAFETY: nothing uses it afterwards.
        unsafe { load.unmap() };
    }
}
