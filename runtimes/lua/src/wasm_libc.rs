//! The WASI functions wasi-libc imports, answered inside the module (wasm32 only).
//!
//! Lua's C code is linked with wasi-libc (see `build.rs`), whose system layer imports
//! `wasi_snapshot_preview1` functions. Defining `__imported_wasi_snapshot_preview1_<name>` here
//! resolves them at link time, so the browser bundle imports nothing but wasm-bindgen's glue and
//! Lua's C side gets exactly this much of a system: clocks (for `os.time`, `os.clock`,
//! `os.date`), a seed for randomness, empty environment, and no files. polyrun's sandbox never
//! opens Lua's `io` library (its `io` talks to the run instead), so nothing here needs real
//! file descriptors; a C write to stdout or stderr (Lua's own warnings) is dropped.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use web_time::{Instant, SystemTime, UNIX_EPOCH};

const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const ENOTCAPABLE: i32 = 76;

/// A WASI `ciovec`/`iovec`.
#[repr(C)]
pub struct IoVec {
    /// Start of the buffer.
    pub buf: *mut u8,
    /// Its length.
    pub len: usize,
}

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// `environ_get`: no variables.
#[unsafe(no_mangle)]
pub extern "C" fn __imported_wasi_snapshot_preview1_environ_get(
    _: *mut *mut u8,
    _: *mut u8,
) -> i32 {
    SUCCESS
}

/// `environ_sizes_get`: no variables.
///
/// # Safety
/// Called by wasi-libc with two valid out pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __imported_wasi_snapshot_preview1_environ_sizes_get(
    count: *mut usize,
    size: *mut usize,
) -> i32 {
    // SAFETY: wasi-libc passes valid, aligned out pointers.
    unsafe {
        *count = 0;
        *size = 0;
    }
    SUCCESS
}

/// `clock_time_get`: the realtime clock from the browser, the others since the first call.
///
/// # Safety
/// Called by wasi-libc with a valid out pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __imported_wasi_snapshot_preview1_clock_time_get(
    id: u32,
    _precision: u64,
    time: *mut u64,
) -> i32 {
    let nanos = if id == 0 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    } else {
        start().elapsed().as_nanos() as u64
    };
    // SAFETY: wasi-libc passes a valid, aligned out pointer.
    unsafe { *time = nanos };
    SUCCESS
}

/// `fd_write`: output from C is accepted and dropped (see the module docs).
///
/// # Safety
/// Called by wasi-libc with `len` valid iovecs and a valid out pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __imported_wasi_snapshot_preview1_fd_write(
    fd: i32,
    iovs: *const IoVec,
    len: usize,
    written: *mut usize,
) -> i32 {
    if !(1..=2).contains(&fd) {
        return EBADF;
    }
    // SAFETY: wasi-libc passes `len` valid iovecs and a valid out pointer.
    unsafe {
        let total = std::slice::from_raw_parts(iovs, len)
            .iter()
            .map(|v| v.len)
            .sum();
        *written = total;
    }
    SUCCESS
}

/// `fd_read`: end of file.
///
/// # Safety
/// Called by wasi-libc with a valid out pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __imported_wasi_snapshot_preview1_fd_read(
    fd: i32,
    _iovs: *const IoVec,
    _len: usize,
    read: *mut usize,
) -> i32 {
    if fd != 0 {
        return EBADF;
    }
    // SAFETY: a valid, aligned out pointer.
    unsafe { *read = 0 };
    SUCCESS
}

/// `random_get`: a seed for Lua's hashing and `math.random` (splitmix64 over the clock; not
/// for cryptography, which the sandbox does not offer).
///
/// # Safety
/// Called by wasi-libc with `len` writable bytes at `buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __imported_wasi_snapshot_preview1_random_get(
    buf: *mut u8,
    len: usize,
) -> i32 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // SAFETY: `len` writable bytes at `buf`.
    let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    for chunk in out.chunks_mut(8) {
        let mut z = STATE
            .fetch_add(0x9E37_79B9_7F4A_7C15 ^ seed, Ordering::Relaxed)
            .wrapping_add(seed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
    SUCCESS
}

/// `proc_exit`: C code never exits the bundle; if it tries, the instance traps.
#[unsafe(no_mangle)]
pub extern "C" fn __imported_wasi_snapshot_preview1_proc_exit(_: i32) -> ! {
    std::process::abort()
}

/// The file-descriptor and path functions: no files (descriptors are bad, paths not allowed).
macro_rules! no_files {
    ($($name:ident($($arg:ty),*) -> $err:ident;)*) => {$(
        #[doc = concat!("`", stringify!($name), "`: no files here.")]
        #[unsafe(no_mangle)]
        pub extern "C" fn $name($(_: $arg),*) -> i32 {
            $err
        }
    )*};
}

no_files! {
    __imported_wasi_snapshot_preview1_fd_close(i32) -> EBADF;
    __imported_wasi_snapshot_preview1_fd_fdstat_get(i32, *mut u8) -> EBADF;
    __imported_wasi_snapshot_preview1_fd_fdstat_set_flags(i32, i32) -> EBADF;
    __imported_wasi_snapshot_preview1_fd_prestat_get(i32, *mut u8) -> EBADF;
    __imported_wasi_snapshot_preview1_fd_prestat_dir_name(i32, *mut u8, usize) -> EBADF;
    __imported_wasi_snapshot_preview1_fd_renumber(i32, i32) -> EBADF;
    __imported_wasi_snapshot_preview1_fd_seek(i32, i64, i32, *mut u64) -> EBADF;
    __imported_wasi_snapshot_preview1_path_open(i32, i32, *const u8, usize, i32, u64, u64, i32, *mut i32) -> ENOTCAPABLE;
    __imported_wasi_snapshot_preview1_path_remove_directory(i32, *const u8, usize) -> ENOTCAPABLE;
    __imported_wasi_snapshot_preview1_path_rename(i32, *const u8, usize, i32, *const u8, usize) -> ENOTCAPABLE;
    __imported_wasi_snapshot_preview1_path_unlink_file(i32, *const u8, usize) -> ENOTCAPABLE;
}
