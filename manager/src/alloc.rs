//! A counting global allocator with a ceiling, for processes that run guests whose backend
//! cannot limit its own memory (Boa): the CLI and worker processes install it with
//! `#[global_allocator]`. When an allocation would pass the ceiling, the process writes a short
//! message to stderr and exits at once with the configured status — there is no way to unwind
//! out of an allocator, and a process that ran out of its budget has nothing left to save.
//!
//! Libraries embedding polyrun need not install it; [`installed`] tells whether it is.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static CEILING: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static EXIT_STATUS: AtomicI32 = AtomicI32::new(125);

/// The allocator. Install with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

/// Bytes currently allocated through [`CountingAlloc`].
pub fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// `true` once [`CountingAlloc`] has served an allocation in this process.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Sets the ceiling in bytes (`None` lifts it) and the exit status used when it is hit.
pub fn set_ceiling(ceiling: Option<usize>, exit_status: i32) {
    EXIT_STATUS.store(exit_status, Ordering::SeqCst);
    CEILING.store(ceiling.unwrap_or(0), Ordering::SeqCst);
}

#[cold]
fn over_ceiling() -> ! {
    const MSG: &[u8] = b"\npolyrun: memory limit exceeded\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe and allocate nothing.
    unsafe {
        libc::write(2, MSG.as_ptr().cast(), MSG.len());
        libc::_exit(EXIT_STATUS.load(Ordering::SeqCst));
    }
}

#[inline]
fn charge(size: usize) {
    let now = ALLOCATED.fetch_add(size, Ordering::Relaxed) + size;
    let ceiling = CEILING.load(Ordering::Relaxed);
    if ceiling != 0 && now > ceiling {
        over_ceiling();
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        charge(layout.size());
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        charge(layout.size());
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        }
        // SAFETY: same contract as ours.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > layout.size() {
                ALLOCATED.fetch_sub(new_size - layout.size(), Ordering::Relaxed);
            }
        } else if new_size < layout.size() {
            ALLOCATED.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        p
    }
}
