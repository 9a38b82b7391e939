//! No per-thread credit (every platform but Linux with glibc): every allocation is counted on
//! the shared counter.

/// Bytes a thread takes from the shared counter at a time: none here.
pub const BATCH: usize = 0;

/// What an allocation of `size` bytes adds to the shared counter: all of it.
#[inline]
pub(super) fn to_charge(size: usize) -> usize {
    size
}

/// What freeing `size` bytes takes off the shared counter: all of it.
#[inline]
pub(super) fn to_release(size: usize) -> usize {
    size
}
