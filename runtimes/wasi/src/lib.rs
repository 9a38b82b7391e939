//! # polyrun-wasi
//!
//! The seam the WASI language backends (Ruby, PHP) are written against, and its two hosts. A
//! backend drives a guest through [`WasiModule`] and [`WasiInstance`] only — instantiate with a
//! [`WasiConfig`], call exports, read and write linear memory, apply a run's control and memory
//! limit — so the same adapter code (the prelude, the calls, the report, the outcome) serves
//! every host:
//!
//! - **natively** (feature `wasmtime`, the default): wasmtime 48 with wasmtime-wasi's preview 1
//!   ([`WasmtimeModule`]): compiled modules cached on disk, epoch deadlines, a hard cap on linear
//!   memory at the grow, interruptible sleeps;
//! - **in the browser** (feature `browser`, wasm32): the page's own WebAssembly engine
//!   ([`browser`]): the worker compiles the module and answers the WASI syscalls
//!   (`web/js/wasi.js`); every syscall asks this crate whether the run may go on (deadline,
//!   cancel, memory), writes and reads go through the same [`IoSlot`] as natively.
//!
//! What both share lives here: [`IoSlot`] (stdio to the current run's [`RunIo`], helper calls
//! framed on stderr and answered on stdin, a captured report line), [`HandleTable`] (the old
//! canonical ABI's resources), [`CallError`].
//!
//! **Nothing of the host** is visible unless granted in [`WasiConfig`]: no preopened
//! directories, no environment variables, no arguments beyond the program name.

mod stdio;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

#[cfg(feature = "wasmtime")]
mod native;
#[cfg(feature = "wasmtime")]
pub use native::{
    Compiled, Module, Preinit, WASMTIME_VERSION, WasmtimeInstance, WasmtimeModule, compile_cached,
    compile_or_load, compile_preinitialized_cached, compiled_name, engine, is_compiled,
    is_preinitialized, shared_module, shared_preinitialized_module,
};

#[cfg(feature = "browser")]
pub mod browser;

use polyrun_engine::{Error, Interrupt, RunControl, RunIo};
use std::path::PathBuf;

pub use stdio::{CALL_MARKER, IoSlot};

/// Capabilities a caller grants a guest. Empty by default: nothing of the host is visible.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WasiConfig {
    /// `argv`, program name first.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Host directories made visible read-only: (host path, guest path). Native hosts only.
    pub preopens: Vec<(PathBuf, String)>,
    /// Resource types of the old canonical ABI the module imports from `canonical_abi`
    /// (`resource_new_NAME`, `resource_get_NAME`), kept in the instance's [`HandleTable`]:
    /// ruby.wasm's `rb-abi-value`.
    pub resources: Vec<String>,
}

/// Why a guest call failed.
#[derive(Debug)]
pub enum CallError {
    /// The run's control stopped it (deadline, cancel, output or memory limit).
    Stopped(Interrupt),
    /// The guest called `proc_exit`.
    Exit(i32),
    /// The guest trapped (a bug in the guest runtime, or a host function failed).
    Trap(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Stopped(i) => write!(f, "stopped: {i}"),
            CallError::Exit(c) => write!(f, "exited with status {c}"),
            CallError::Trap(t) => write!(f, "trapped: {t}"),
        }
    }
}

/// A loaded module, shared by every instance of one language: what a backend instantiates.
pub trait WasiModule: Send + Sync {
    /// A new instance with its own memory. Stdio goes to whatever run `slot` holds.
    fn instantiate(
        &self,
        config: &WasiConfig,
        slot: &IoSlot,
    ) -> Result<Box<dyn WasiInstance>, Error>;

    /// `true` when its instances start where an initialisation left one (a pre-initialised
    /// module: the backend skips its own start-up); `false` by default.
    fn preinitialized(&self) -> bool {
        false
    }
}

/// One instance of a [`WasiModule`]. After any failed call it is poisoned and must be dropped.
pub trait WasiInstance {
    /// Calls the exported function `name` with `i32` arguments; its `i32` result, if it has one.
    fn call(&mut self, name: &str, args: &[i32]) -> Result<Option<i32>, CallError>;

    /// Reads `len` bytes of guest memory at `ptr`.
    fn read(&self, ptr: i32, len: i32) -> Result<Vec<u8>, CallError>;

    /// Writes bytes into guest memory at `ptr`.
    fn write(&mut self, ptr: i32, bytes: &[u8]) -> Result<(), CallError>;

    /// Applies a run's control and memory limit (total linear memory, in bytes) to the next
    /// calls. `None` clears both (for host-driven calls such as booting the guest).
    fn set_run(&mut self, control: Option<&RunControl>, memory_bytes: Option<u64>);

    /// `true` once a call failed: the guest's state may be corrupt.
    fn poisoned(&self) -> bool;

    /// Bytes of linear memory in use.
    fn memory_size(&self) -> usize;

    /// Frees a handle of the instance's [`HandleTable`], returning its value.
    fn take_handle(&mut self, handle: i32) -> Option<i32>;

    /// Calls `name`, which returns an `i32`.
    fn call_i32(&mut self, name: &str, args: &[i32]) -> Result<i32, CallError> {
        self.call(name, args)?
            .ok_or_else(|| CallError::Trap(format!("{name} returned no value")))
    }

    /// Reads a little-endian `i32` of guest memory.
    fn read_i32(&self, ptr: i32) -> Result<i32, CallError> {
        let b = self.read(ptr, 4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Writes a little-endian `i32` into guest memory.
    fn write_i32(&mut self, ptr: i32, v: i32) -> Result<(), CallError> {
        self.write(ptr, &v.to_le_bytes())
    }
}

/// A table of `i32` guest values addressed by small integer handles.
#[derive(Debug, Default)]
pub struct HandleTable {
    slots: Vec<Option<i32>>,
    free: Vec<usize>,
}

impl HandleTable {
    /// Stores `value`, returns its handle.
    pub fn insert(&mut self, value: i32) -> i32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(value);
                i as i32
            }
            None => {
                self.slots.push(Some(value));
                (self.slots.len() - 1) as i32
            }
        }
    }

    /// The value behind `handle`.
    pub fn get(&self, handle: i32) -> Option<i32> {
        self.slots
            .get(usize::try_from(handle).ok()?)
            .copied()
            .flatten()
    }

    /// `true` when no handle is held.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Frees `handle`, returning its value.
    pub fn remove(&mut self, handle: i32) -> Option<i32> {
        let i = usize::try_from(handle).ok()?;
        let v = self.slots.get_mut(i)?.take();
        if v.is_some() {
            self.free.push(i);
        }
        v
    }
}

/// The run a slot currently serves, for backends that need it.
pub fn run_io(slot: &IoSlot) -> Option<RunIo> {
    slot.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_reused_after_they_are_freed() {
        let mut t = HandleTable::default();
        let (a, b) = (t.insert(10), t.insert(20));
        assert_eq!((t.get(a), t.get(b)), (Some(10), Some(20)));
        assert_eq!(t.remove(a), Some(10));
        assert_eq!(t.remove(a), None);
        assert_eq!(t.get(a), None);
        assert_eq!(t.insert(30), a);
        assert_eq!(t.get(-1), None);
    }
}
