//! The confinement of worker processes: the layer that makes the next memory-safety bug in a
//! backend harmless. A worker confines itself once, before it reads its first command, and
//! cannot undo it:
//!
//! - **seccomp-bpf allow-list**: the system calls an interpreter needs (memory, threads,
//!   signals, clocks, files) and nothing else. Starting a program (`execve`), creating a
//!   process (`fork`, `clone` without `CLONE_THREAD`), opening a socket, tracing another
//!   process, mounting, loading a kernel module or any call not on the list kills the worker
//!   with `SIGSYS`; the run reports it ([`KILLED_BY_CONFINEMENT`]).
//! - **Landlock**: the file system shrinks to what [`Policy`] names (the artifact cache, read
//!   only, and the compiled-module cache, writable); every other path fails with `EACCES`. It
//!   also takes away signals to processes outside the worker and TCP.
//! - **no new privileges**, and, when the worker runs as root, **every capability dropped**
//!   (effective, permitted, inheritable, ambient and bounding sets): the worker stays uid 0,
//!   because the artifact cache lives under the caller's home, which another user cannot read,
//!   but without capabilities and with Landlock and seccomp in front it has nothing a root
//!   process has beyond its own files.
//! - **rlimits**: no core dumps, at most [`MAX_OPEN_FILES`] open files, files of at most
//!   [`MAX_FILE_BYTES`], writable memory (`RLIMIT_DATA`: address space reserved but not
//!   writable, as wasmtime's guard regions are, does not count) of at most
//!   [`Policy::data_bytes`], and a CPU-time backstop re-armed before every run
//!   ([`cpu_backstop`]): a worker whose manager cannot kill it dies of `SIGXCPU`.
//!
//! Set [`CONFINE_ENV`] to `off` to start workers unconfined (debugging), or to `log` to have
//! seccomp log calls outside the list (kernel audit log) instead of killing. Off Linux there is
//! nothing to apply and the report says so.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

#[cfg(target_os = "linux")]
#[path = "confine_linux.rs"]
mod imp;

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Confinement, Policy};

    pub(super) fn apply(_: &Policy, _: bool) -> Confinement {
        Confinement {
            layers: Vec::new(),
            missing: vec!["all: worker confinement exists on Linux only".into()],
        }
    }

    pub(super) fn cpu_backstop(_: u64) {}
}

/// Environment variable read by [`confine_process`]: `off` skips confinement, `log` makes the
/// seccomp filter log forbidden calls instead of killing the process.
pub const CONFINE_ENV: &str = "POLYRUN_CONFINE";

/// At most this many open files (`RLIMIT_NOFILE`).
pub const MAX_OPEN_FILES: u64 = 256;

/// Files a worker writes are at most this long (`RLIMIT_FSIZE`): room for a compiled module.
pub const MAX_FILE_BYTES: u64 = 2 << 30;

/// The writable-memory ceiling of a worker ([`Policy::data_bytes`]) unless its host picks
/// another: far above any run's memory limit (each backend enforces its own, the allocation
/// ceiling the rest), low enough that a runaway cannot take the machine.
pub const DEFAULT_DATA_BYTES: u64 = 16 << 30;

/// CPU seconds a run may use past its time limit before the backstop kills its worker.
pub const CPU_BACKSTOP_SLACK_SECS: u64 = 30;

/// What the worker's exit reason says when its seccomp filter killed it.
pub const KILLED_BY_CONFINEMENT: &str = "the worker was killed by its confinement: it made a \
     system call outside its allow-list (SIGSYS)";

/// What a confined worker may touch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Paths it may read (everything beneath each; paths that do not exist are skipped).
    pub read: Vec<PathBuf>,
    /// Paths it may also write: create, replace, truncate and remove files beneath them.
    pub write: Vec<PathBuf>,
    /// Its writable memory at most (`RLIMIT_DATA`), in bytes.
    pub data_bytes: u64,
}

/// What [`confine_process`] applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// The layers in force: `seccomp`, `landlock`, `no-new-privs`, `capabilities-dropped`,
    /// `rlimits` (a layer enforced only in part says so in brackets).
    pub layers: Vec<String>,
    /// Layers that could not be applied, each with the reason.
    pub missing: Vec<String>,
}

impl Confinement {
    /// `true` when `layer` (e.g. `"seccomp"`) is in force, fully or in part.
    pub fn has(&self, layer: &str) -> bool {
        self.layers
            .iter()
            .any(|l| l == layer || l.strip_prefix(layer).is_some_and(|r| r.starts_with(' ')))
    }
}

static APPLIED: OnceLock<Confinement> = OnceLock::new();

/// Confines the calling process (irreversibly) as [`Policy`] says, unless [`CONFINE_ENV`] is
/// `off`. Call it once, first thing, before the process starts threads: the seccomp filter is
/// synchronised to every thread, the Landlock domain covers the calling thread and the threads
/// it starts afterwards. A later call returns the first one's report.
pub fn confine_process(policy: &Policy) -> &'static Confinement {
    APPLIED.get_or_init(|| match std::env::var(CONFINE_ENV).as_deref() {
        Ok("off") => Confinement {
            layers: Vec::new(),
            missing: vec![format!("all: {CONFINE_ENV}=off")],
        },
        mode => imp::apply(policy, mode == Ok("log")),
    })
}

/// What [`confine_process`] applied in this process, if it was called.
pub fn applied() -> Option<&'static Confinement> {
    APPLIED.get()
}

/// Re-arms the CPU-time backstop of a confined process for a run with `time_limit`: the
/// process may use that much CPU time (or a minute without a limit), plus
/// [`CPU_BACKSTOP_SLACK_SECS`], from now on before `SIGXCPU` ends it. Does nothing in a
/// process that is not confined.
pub fn cpu_backstop(time_limit: Option<Duration>) {
    if applied().is_some_and(|c| c.has("rlimits")) {
        let run = time_limit.map_or(60, |t| t.as_secs() + 1);
        imp::cpu_backstop(run + CPU_BACKSTOP_SLACK_SECS);
    }
}
