//! Natively on Unix: the hook is off while the run goes well, and a signal switches it on when
//! the run must stop.
//!
//! A run arms [`Preempt`]: its control's stop (cancel, a limit — and the deadline, which a
//! process-wide timer thread checks when it passes) *kicks* the thread running Lua with a
//! real-time signal; the handler, on that thread, calls `lua_sethook` on the main state, which
//! Lua allows in a signal handler (`lua.c` does it on Ctrl-C). The hook then raises the stop
//! error within [`HOOK_EVERY`] instructions, as the always-on hook did. Calling `lua_sethook`
//! from the watchdog's own thread instead would race with the interpreter's call-info list.
//!
//! polyrun owns the signal [`signal_number`] (`SIGRTMIN + 5`) in a process that runs Lua
//! natively: each run unblocks it on its thread and puts the handler back if another took its
//! place; a stray one is ignored.

use super::HOOK_EVERY;
use mlua::{Lua, Table, ffi};
use polyrun_engine::RunControl;
use std::cell::Cell;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

/// The signal that asks a thread running Lua to switch its hook on.
fn signal_number() -> c_int {
    libc::SIGRTMIN() + 5
}

thread_local! {
    /// The preemption state of the run on this thread (null between runs); the signal handler
    /// reads it. Constant-initialised and without a destructor, so reading it is signal-safe.
    static CURRENT: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
}

/// What a runtime's runs, the kick and the signal handler share.
struct Shared {
    /// The state's main thread.
    main: *mut ffi::lua_State,
    /// mlua's hook function for this state (it calls the callback set with `set_global_hook`).
    hook: ffi::lua_Hook,
    /// Set by a kick before it signals, taken by the handler: a signal left over from an
    /// earlier run finds it false and does nothing.
    requested: AtomicBool,
    /// The handler switched the main state's hook on during this run.
    kicked: AtomicBool,
    /// Counts runs, so a late stop of an earlier run's control kicks nobody.
    generation: AtomicU64,
    /// The thread running the armed run and its generation; `None` between runs. A kick signals
    /// under this lock, and the run clears it under the lock before it ends: the thread the
    /// signal goes to is alive.
    target: Mutex<Option<(libc::pthread_t, u64)>>,
}

// SAFETY: `main` is only handed to Lua on the thread that runs the state (the signal handler
// runs on that thread); the other fields are atomics and a mutex.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    fn target(&self) -> MutexGuard<'_, Option<(libc::pthread_t, u64)>> {
        self.target.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the thread running run `generation` to switch its hook on.
    fn kick(&self, generation: u64) {
        let target = self.target();
        if let Some((thread, g)) = *target
            && g == generation
        {
            self.requested.store(true, SeqCst);
            // SAFETY: `thread` runs the armed run, which cannot end while this lock is held.
            unsafe { libc::pthread_kill(thread, signal_number()) };
        }
    }

    /// Switches the count hook on for `state`.
    ///
    /// # Safety
    /// `state` is a live thread of this Lua state, on the calling thread.
    unsafe fn hook_on(&self, state: *mut ffi::lua_State) {
        unsafe {
            ffi::lua_sethook(
                state,
                Some(self.hook),
                ffi::LUA_MASKCOUNT,
                HOOK_EVERY as c_int,
            )
        };
    }
}

extern "C" fn on_signal(_: c_int) {
    let shared = CURRENT.with(Cell::get);
    if shared.is_null() {
        return;
    }
    // SAFETY: CURRENT points at the armed run's `Shared`, kept alive by its `Armed` guard,
    // which clears CURRENT before it lets go.
    let shared = unsafe { &*shared };
    if !shared.requested.swap(false, SeqCst) {
        return;
    }
    shared.kicked.store(true, SeqCst);
    // SAFETY: this thread runs the state; `lua_sethook` may be called from a signal handler.
    unsafe { shared.hook_on(shared.main) };
}

fn handler_address() -> libc::sighandler_t {
    on_signal as extern "C" fn(c_int) as libc::sighandler_t
}

/// Makes sure the kick can reach this thread, before each run: the signal unblocked here (a
/// host that blocks signals in its threads, to take them on one thread with `sigwait`, would
/// otherwise leave a runaway loop unstopped) and polyrun's handler in place (installed the first
/// time, and again if something replaced it). Two cheap syscalls per run.
fn ensure_deliverable() {
    // SAFETY: this thread's mask and this signal's action, which polyrun owns.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal_number());
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal_number(), std::ptr::null(), &mut current) != 0
            || current.sa_sigaction != handler_address()
        {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler_address();
            action.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal_number(), &action, std::ptr::null_mut());
        }
    }
}

/// The process-wide timer: at a watched run's deadline it checks the run's control, which trips
/// the time limit and so kicks the run.
struct Deadlines {
    entries: Mutex<Vec<(u64, Instant, RunControl)>>,
    changed: Condvar,
    next_id: AtomicU64,
}

impl Deadlines {
    /// The timer, its thread started on first use; `None` if no thread could be started.
    fn get() -> Option<&'static Deadlines> {
        static TIMER: OnceLock<Option<&'static Deadlines>> = OnceLock::new();
        *TIMER.get_or_init(|| {
            let timer: &'static Deadlines = Box::leak(Box::new(Deadlines {
                entries: Mutex::new(Vec::new()),
                changed: Condvar::new(),
                next_id: AtomicU64::new(1),
            }));
            std::thread::Builder::new()
                .name("polyrun-lua-deadlines".into())
                .spawn(move || timer.serve())
                .ok()
                .map(|_| timer)
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(u64, Instant, RunControl)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn watch(&self, at: Instant, control: RunControl) -> u64 {
        let id = self.next_id.fetch_add(1, SeqCst);
        self.lock().push((id, at, control));
        self.changed.notify_one();
        id
    }

    fn unwatch(&self, id: u64) {
        self.lock().retain(|e| e.0 != id);
    }

    fn serve(&self) {
        let mut entries = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            entries.retain(|(_, at, control)| {
                let passed = *at <= now;
                if passed {
                    due.push(control.clone());
                }
                !passed
            });
            if !due.is_empty() {
                drop(entries);
                for control in due {
                    control.check();
                }
                entries = self.lock();
                continue;
            }
            entries = match entries.iter().map(|e| e.1).min() {
                Some(at) => {
                    self.changed
                        .wait_timeout(entries, at.saturating_duration_since(now))
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self
                    .changed
                    .wait(entries)
                    .unwrap_or_else(|p| p.into_inner()),
            };
        }
    }
}

/// A state's preemption: its hook is off until a run must stop.
pub(crate) struct Preempt {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Preempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preempt")
            .field("kicked", &self.shared.kicked.load(SeqCst))
            .finish_non_exhaustive()
    }
}

impl Preempt {
    /// Takes the global hook off the main state (mlua keeps its callback) and keeps its
    /// function to switch it on again.
    pub(crate) fn new(lua: &Lua) -> mlua::Result<Self> {
        let mut found = None;
        // SAFETY: raw calls on this state's main thread, on the thread that owns it.
        unsafe {
            lua.exec_raw::<()>((), |state| {
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_MAINTHREAD);
                let main = ffi::lua_tothread(state, -1);
                ffi::lua_pop(state, 1);
                if let Some(hook) = ffi::lua_gethook(main) {
                    ffi::lua_sethook(main, None, 0, 0);
                    found = Some((main, hook));
                }
            })?;
        }
        let (main, hook) =
            found.ok_or_else(|| mlua::Error::runtime("polyrun: the global hook is not set"))?;
        Ok(Preempt {
            shared: Arc::new(Shared {
                main,
                hook,
                requested: AtomicBool::new(false),
                kicked: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                target: Mutex::new(None),
            }),
        })
    }

    /// A running coroutine cannot be reached from the main state, so each one gets the hook
    /// when it is made: it inherits its creator's, which `create` and `wrap` switch on around
    /// the original (after checking the argument the way it would, so its errors stay Lua's).
    pub(crate) fn wrap_coroutines(&self, lua: &Lua, co: &Table) -> mlua::Result<()> {
        let on = {
            let shared = self.shared.clone();
            lua.create_function(move |lua, ()| {
                let mut switched = false;
                // SAFETY: the calling thread's own state, from inside its callback.
                unsafe {
                    lua.exec_raw::<()>((), |state| {
                        if ffi::lua_gethook(state).is_none() {
                            shared.hook_on(state);
                            switched = true;
                        }
                    })?;
                }
                Ok(switched)
            })?
        };
        let off = {
            let shared = self.shared.clone();
            lua.create_function(move |lua, switched: bool| {
                if switched {
                    // SAFETY: as above. A kick that came meanwhile keeps the hook on.
                    unsafe {
                        lua.exec_raw::<()>((), |state| {
                            ffi::lua_sethook(state, None, 0, 0);
                            if shared.kicked.load(SeqCst) {
                                shared.hook_on(state);
                            }
                        })?;
                    }
                }
                Ok(())
            })?
        };
        lua.load(WRAP_COROUTINES)
            .set_name("=polyrun")
            .call::<()>((co.clone(), on, off))
    }

    /// Arms the kick for a run on this thread; the guard disarms it.
    pub(crate) fn arm(&self, _: &Lua, control: &RunControl) -> Armed {
        let shared = &self.shared;
        let generation = shared.generation.fetch_add(1, SeqCst) + 1;
        shared.requested.store(false, SeqCst);
        shared.kicked.store(false, SeqCst);
        // SAFETY: the main state, on this thread, outside any Lua call.
        unsafe { ffi::lua_sethook(shared.main, None, 0, 0) };
        ensure_deliverable();
        CURRENT.with(|c| c.set(Arc::as_ptr(shared)));
        // SAFETY: plain libc call.
        *shared.target() = Some((unsafe { libc::pthread_self() }, generation));
        let weak = Arc::downgrade(shared);
        control.on_stop(move |_| {
            if let Some(s) = weak.upgrade() {
                s.kick(generation);
            }
        });
        let deadline = control.deadline().and_then(|at| {
            let timer = Deadlines::get();
            if timer.is_none() {
                // No timer thread: the hook polls the deadline itself, as on other hosts.
                // SAFETY: as above.
                unsafe { shared.hook_on(shared.main) };
            }
            timer.map(|t| (t, t.watch(at, control.clone())))
        });
        Armed {
            shared: shared.clone(),
            deadline,
        }
    }
}

/// An armed run; dropping it disarms the kick.
pub(crate) struct Armed {
    shared: Arc<Shared>,
    deadline: Option<(&'static Deadlines, u64)>,
}

impl Drop for Armed {
    fn drop(&mut self) {
        *self.shared.target() = None;
        CURRENT.with(|c| c.set(std::ptr::null()));
        if let Some((timer, id)) = self.deadline {
            timer.unwatch(id);
        }
    }
}

/// `coroutine.create` and `coroutine.wrap` with the hook switched on around them (see
/// [`Preempt::wrap_coroutines`]). A bad argument goes to the original as a tail call, so the
/// error is the original's, at the guest's line.
const WRAP_COROUTINES: &str = r#"
local co, on, off = ...
local create, wrap, type = co.create, co.wrap, type
co.create = function(...)
  if type((...)) ~= "function" then return create(...) end
  local switched = on()
  local made = create(...)
  off(switched)
  return made
end
co.wrap = function(...)
  if type((...)) ~= "function" then return wrap(...) end
  local switched = on()
  local made = wrap(...)
  off(switched)
  return made
end
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::{HookTriggers, VmState};
    use std::time::Duration;

    fn state() -> (Lua, Preempt) {
        let lua = Lua::new();
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |_, _| Ok(VmState::Continue),
        )
        .unwrap();
        let preempt = Preempt::new(&lua).unwrap();
        preempt
            .wrap_coroutines(&lua, &lua.globals().get("coroutine").unwrap())
            .unwrap();
        (lua, preempt)
    }

    fn main_hooked(p: &Preempt) -> bool {
        // SAFETY: the main state, on its own thread, outside any Lua call.
        unsafe { ffi::lua_gethook(p.shared.main).is_some() }
    }

    fn hooked(lua: &Lua, code: &str) -> bool {
        let thread: mlua::Thread = lua.load(code).eval().unwrap();
        // SAFETY: a live coroutine of this state (a thread's pointer is its `lua_State`).
        unsafe { ffi::lua_gethook(thread.to_pointer() as *mut ffi::lua_State).is_some() }
    }

    #[test]
    fn the_hook_is_off_until_the_run_must_stop() {
        let (lua, p) = state();
        assert!(!main_hooked(&p));
        let control = RunControl::new();
        let armed = p.arm(&lua, &control);
        lua.load("for i = 1, 1000 do end").exec().unwrap();
        assert!(!main_hooked(&p), "no stop, no hook");
        // A stop from another thread switches it on by the signal.
        let c = control.clone();
        std::thread::spawn(move || c.cancel()).join().unwrap();
        let start = Instant::now();
        while !main_hooked(&p) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(main_hooked(&p));
        drop(armed);
        // The next run starts without it, and a late stop of the old control kicks nobody.
        let armed = p.arm(&lua, &RunControl::new());
        assert!(!main_hooked(&p));
        control.cancel();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!main_hooked(&p));
        drop(armed);
    }

    #[test]
    fn a_thread_that_blocks_every_signal_is_still_kicked() {
        std::thread::spawn(|| {
            // SAFETY: blocking every signal in this test thread only.
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
            }
            let (lua, p) = state();
            let control = RunControl::new();
            let _armed = p.arm(&lua, &control);
            control.cancel();
            let start = Instant::now();
            while !main_hooked(&p) && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(main_hooked(&p));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_deadline_switches_the_hook_on_without_anybody_looking() {
        let (lua, p) = state();
        let control = RunControl::new();
        control.arm(Some(Duration::from_millis(30)));
        let _armed = p.arm(&lua, &control);
        let start = Instant::now();
        while !main_hooked(&p) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(main_hooked(&p));
        assert_eq!(
            control.interrupted(),
            Some(polyrun_engine::Interrupt::Limit(
                polyrun_engine::LimitKind::Time
            ))
        );
    }

    #[test]
    fn coroutines_are_made_with_the_hook_and_the_creator_keeps_none() {
        let (lua, p) = state();
        let _armed = p.arm(&lua, &RunControl::new());
        assert!(hooked(&lua, "return coroutine.create(function() end)"));
        assert!(hooked(
            &lua,
            "local f = coroutine.wrap(function() coroutine.yield(coroutine.running()) end) return f()"
        ));
        assert!(!main_hooked(&p));
        // Bad arguments are the originals' errors.
        let e = lua.load("coroutine.create(1)").exec().unwrap_err();
        assert!(e.to_string().contains("bad argument #1"), "{e}");
        assert!(!main_hooked(&p));
    }
}
