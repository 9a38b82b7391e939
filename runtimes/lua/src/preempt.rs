//! When the run's instruction-count hook is on.
//!
//! Lua 5.4 sends every instruction through its slow path (`luaG_traceexec`) while a count hook
//! is set, whatever the count: a permanent hook costs ~40% on loop-heavy code. Natively on Unix
//! ([`signal`]) the hook is off while a run goes well and is switched on only when the run must
//! stop (its deadline passes, it is cancelled, a limit trips): a watchdog signals the thread
//! that runs Lua, and the signal handler calls `lua_sethook` there — what `lua.c` itself does
//! on Ctrl-C. Coroutines get the hook when they are created (a running coroutine cannot be
//! reached from the main state), so code inside a coroutine still pays it. Elsewhere (wasm32,
//! Windows: [`always`]) the hook is always on, as before.
//!
//! Both variants have the same shape: [`Preempt::new`] after the state's global hook is set,
//! [`Preempt::wrap_coroutines`] over `coroutine.create`/`wrap`, and [`Preempt::arm`] for a run
//! (the returned guard disarms on drop).

#[cfg_attr(all(unix, not(target_arch = "wasm32")), path = "preempt/signal.rs")]
#[cfg_attr(
    not(all(unix, not(target_arch = "wasm32"))),
    path = "preempt/always.rs"
)]
mod imp;

pub(crate) use imp::Preempt;

/// How many VM instructions run between two checks of the run's control while the hook is on.
pub(crate) const HOOK_EVERY: u32 = 1000;
