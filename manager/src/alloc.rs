//! A counting global allocator with a ceiling, for processes that run guests whose backend
//! cannot limit its own memory (Boa): the CLI and worker processes install it with
//! `#[global_allocator]`. When an allocation would pass the ceiling, the process writes a short
//! message to stderr and exits at once with the configured status — there is no way to unwind
//! out of an allocator, and a process that ran out of its budget has nothing left to save.
//!
//! On Linux with glibc counting is batched per thread (`alloc/batched.rs`): a thread takes
//! [`BATCH`] bytes at a time from the shared counter and hands them out to its own
//! allocations, and gives back what it holds past twice that (and all of it when it ends). So
//! the shared counter is touched about once per `BATCH` bytes instead of on every allocation
//! (allocation-heavy guests, such as Lua's binarytrees, spent a measurable share of their time
//! on those atomic operations), and [`allocated`] runs ahead of what is really allocated by at
//! most 2 × `BATCH` per thread — far inside every ceiling's slack. Elsewhere (`alloc/exact.rs`,
//! `BATCH` = 0) every allocation is counted on the shared counter: the thread's credit needs a
//! thread-local destructor, which std may only register without allocating where the C
//! library provides `__cxa_thread_atexit_impl`.
//!
//! Libraries embedding polyrun need not install it; [`installed`] tells whether it is.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static CEILING: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static EXIT_STATUS: AtomicI32 = AtomicI32::new(125);

#[cfg_attr(
    all(target_os = "linux", target_env = "gnu"),
    path = "alloc/batched.rs"
)]
#[cfg_attr(
    not(all(target_os = "linux", target_env = "gnu")),
    path = "alloc/exact.rs"
)]
mod credit;

pub use credit::BATCH;

/// The allocator. Install with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

/// Bytes allocated through [`CountingAlloc`], plus what threads have taken ahead (at most
/// 2 × [`BATCH`] each).
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

/// Counts `size` more bytes (from the thread's credit when it covers them), checked against the
/// ceiling whenever the shared counter moves.
#[inline]
fn charge(size: usize) {
    let n = credit::to_charge(size);
    if n != 0 {
        charge_shared(n);
    }
}

/// Adds `n` to the shared counter (rare where threads count in batches: their slow path is
/// marked cold there; on every allocation elsewhere).
fn charge_shared(n: usize) {
    INSTALLED.store(true, Ordering::Relaxed);
    let now = ALLOCATED.fetch_add(n, Ordering::Relaxed).saturating_add(n);
    let ceiling = CEILING.load(Ordering::Relaxed);
    if ceiling != 0 && now > ceiling {
        over_ceiling();
    }
}

/// Counts `size` bytes fewer.
#[inline]
fn release(size: usize) {
    let n = credit::to_release(size);
    if n != 0 {
        ALLOCATED.fetch_sub(n, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        }
        // SAFETY: same contract as ours.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > layout.size() {
                release(new_size - layout.size());
            }
        } else if new_size < layout.size() {
            release(layout.size() - new_size);
        }
        p
    }
}
