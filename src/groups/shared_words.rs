//! Anonymous shared memory of atomic words, mapped by the Apache parent
//! and inherited through fork by the processes it starts: what the daemon
//! directory and the groups' boards are made of.

use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

/// Maps `words` zeroed words (at least one) shared with every process
/// forked after this.
pub fn map(words: usize) -> nix::Result<NonNull<AtomicU64>> {
    let length = NonZeroUsize::new(words.max(1) * std::mem::size_of::<AtomicU64>())
        .ok_or(nix::errno::Errno::EINVAL)?;
    // SAFETY: a new anonymous mapping, placed by the kernel; nothing else
    // refers to that memory.
    let memory = unsafe {
        mmap_anonymous(
            None,
            length,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
    }?;
    Ok(memory.cast())
}

/// Unmaps memory made by [`map`] for `words` words.
///
/// # Safety
/// Nothing in this process may use the memory afterwards.
pub unsafe fn unmap(memory: NonNull<AtomicU64>, words: usize) {
    let length = words.max(1) * std::mem::size_of::<AtomicU64>();
    // SAFETY: per the contract; the mapping was made by `map` with this
    // length.
    let _ = unsafe { munmap(memory.cast(), length) };
}
