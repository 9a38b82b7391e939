//! The runtime's allocator: Rust's global allocator (through rquickjs's [`RustAllocator`]),
//! with every byte QuickJS holds counted against the run's memory budget.
//!
//! QuickJS turns a refused allocation into a catchable `InternalError: out of memory`; the
//! [`Meter`] remembers the refusal, and the backend turns it into the run's memory limit (the
//! interrupt handler stops a guest that caught the error).

use rquickjs::allocator::{Allocator, RustAllocator};
use std::cell::Cell;
use std::rc::Rc;

/// What QuickJS holds now, the budget of the current run and whether it was passed.
#[derive(Debug)]
pub(crate) struct Meter {
    used: Cell<usize>,
    limit: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            used: Cell::new(0),
            limit: Cell::new(usize::MAX),
            exceeded: Cell::new(false),
        }
    }
}

impl Meter {
    /// Bytes QuickJS holds.
    pub(crate) fn used(&self) -> usize {
        self.used.get()
    }

    /// Starts a run's budget: `bytes` more than what the runtime holds now (`None`: no limit).
    pub(crate) fn start(&self, bytes: Option<u64>) {
        self.exceeded.set(false);
        self.limit.set(match bytes {
            Some(b) => self
                .used
                .get()
                .saturating_add(usize::try_from(b).unwrap_or(usize::MAX)),
            None => usize::MAX,
        });
    }

    /// Lifts the budget (the host cleans up after a run without one).
    pub(crate) fn stop(&self) {
        self.limit.set(usize::MAX);
    }

    /// `true` once an allocation was refused since the run started.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.get()
    }

    fn admit(&self, more: usize) -> bool {
        let ok = self
            .used
            .get()
            .checked_add(more)
            .is_some_and(|total| total <= self.limit.get());
        if !ok {
            self.exceeded.set(true);
        }
        ok
    }
}

/// The allocator handed to QuickJS.
pub(crate) struct Budget {
    inner: RustAllocator,
    meter: Rc<Meter>,
}

impl Budget {
    pub(crate) fn new(meter: Rc<Meter>) -> Self {
        Budget {
            inner: RustAllocator,
            meter,
        }
    }

    fn counted(&self, ptr: *mut u8) -> *mut u8 {
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by the inner allocator.
            let size = unsafe { RustAllocator::usable_size(ptr) };
            self.meter.used.set(self.meter.used.get() + size);
        }
        ptr
    }
}

// SAFETY: every pointer comes from (and goes back to) rquickjs's own `RustAllocator`; this type
// only counts sizes and refuses requests, it never hands out memory of its own.
unsafe impl Allocator for Budget {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.meter.admit(size) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.alloc(size);
        self.counted(ptr)
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        if !self.meter.admit(total) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.calloc(count, size);
        self.counted(ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: the caller hands back a pointer of this allocator.
        let size = unsafe { RustAllocator::usable_size(ptr) };
        self.meter
            .used
            .set(self.meter.used.get().saturating_sub(size));
        // SAFETY: as above.
        unsafe { self.inner.dealloc(ptr) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        // QuickJS sends neither (js_realloc_rt), but `realloc`'s contract allows both.
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        if new_size == 0 {
            // SAFETY: the caller hands back a pointer of this allocator.
            unsafe { self.dealloc(ptr) };
            return std::ptr::null_mut();
        }
        // SAFETY: the caller hands back a pointer of this allocator.
        let old = unsafe { RustAllocator::usable_size(ptr) };
        if new_size > old && !self.meter.admit(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let new = unsafe { self.inner.realloc(ptr, new_size) };
        if !new.is_null() {
            self.meter
                .used
                .set(self.meter.used.get().saturating_sub(old));
            self.counted(new);
        }
        new
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller hands back a pointer of this allocator.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}
