//! Per-thread credit (Linux with glibc, where std registers a thread-local destructor through
//! `__cxa_thread_atexit_impl`, without allocating — so an allocator may use one).

use super::ALLOCATED;
use std::cell::Cell;
use std::sync::atomic::Ordering;

/// Bytes a thread takes from the shared counter at a time.
pub const BATCH: usize = 256 << 10;

/// Bytes a thread has counted in [`ALLOCATED`] but not handed out yet; given back when the
/// thread ends.
struct Credit(Cell<usize>);

impl Drop for Credit {
    fn drop(&mut self) {
        ALLOCATED.fetch_sub(self.0.replace(0), Ordering::Relaxed);
    }
}

thread_local! {
    static CREDIT: Credit = const { Credit(Cell::new(0)) };
}

/// What an allocation of `size` bytes adds to the shared counter: nothing when the thread's
/// credit covers it, else `size` plus a batch for the credit. A thread whose credit is gone
/// (it is ending) counts `size` directly.
#[inline]
pub(super) fn to_charge(size: usize) -> usize {
    CREDIT
        .try_with(|c| {
            let have = c.0.get();
            if have >= size {
                c.0.set(have - size);
                0
            } else {
                refill(c, have, size)
            }
        })
        .unwrap_or(size)
}

/// The credit does not cover `size`: it takes a batch more, counted with `size`.
#[cold]
fn refill(c: &Credit, have: usize, size: usize) -> usize {
    c.0.set(have + BATCH);
    size.saturating_add(BATCH)
}

/// What freeing `size` bytes takes off the shared counter: the thread keeps up to
/// 2 × [`BATCH`] of credit, and gives back the rest.
#[inline]
pub(super) fn to_release(size: usize) -> usize {
    CREDIT
        .try_with(|c| {
            let have = c.0.get() + size;
            if have > 2 * BATCH {
                c.0.set(BATCH);
                have - BATCH
            } else {
                c.0.set(have);
                0
            }
        })
        .unwrap_or(size)
}

#[cfg(test)]
mod tests {
    use super::super::{allocated, charge, installed, release};
    use super::BATCH;

    // Only these calls move the counter in this test binary (the allocator is not installed
    // here), and each thread has its own credit.
    #[test]
    fn threads_count_in_batches_and_give_everything_back() {
        let base = allocated();
        std::thread::spawn(move || {
            charge(100);
            assert_eq!(
                allocated(),
                base + 100 + BATCH,
                "the first charge takes a batch ahead"
            );
            charge(1000);
            assert_eq!(
                allocated(),
                base + 100 + BATCH,
                "served from the thread's credit"
            );
            release(1100);
            charge(3 * BATCH);
            assert!(allocated() >= base + 3 * BATCH);
            release(3 * BATCH);
            assert!(
                allocated() <= base + 2 * BATCH,
                "{} kept",
                allocated() - base
            );
        })
        .join()
        .unwrap();
        assert_eq!(allocated(), base, "an ending thread gives its credit back");
        assert!(installed());
    }
}
