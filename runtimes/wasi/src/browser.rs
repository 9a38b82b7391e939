//! The browser host: a WASI module runs on the page's own WebAssembly engine, in the worker that
//! owns the polyrun bundle. The worker compiles the module (`registerWasiModule` in
//! `web/js/wasi.js`) and answers the WASI syscalls; everything a run decides is here, in the same
//! code as natively:
//!
//! - **every syscall** first asks [`syscall`] whether the run may go on: the run's control
//!   (deadline, cancel, a limit already tripped) and linear memory against the memory limit
//!   (the browser has no hook at `memory.grow`, so a guest that outgrows its limit stops at its
//!   next syscall, and when its call returns);
//! - **writes** ([`write`]) and **reads** ([`read`]) go through the instance's [`IoSlot`]: the
//!   output limit, helper calls framed on stderr and answered on stdin, a captured report line;
//! - **sleeps** ([`sleep`]) wait on the run's control;
//! - **resources** of the old canonical ABI live in the instance's [`HandleTable`].
//!
//! A syscall told to stop throws out of the guest (a trap the guest cannot catch); the call
//! then reports [`CallError::Stopped`] with the run's interrupt, as wasmtime's epoch trap does.

use crate::{CallError, HandleTable, IoSlot, WasiConfig, WasiInstance, WasiModule};
use polyrun_engine::{Error, Interrupt, LimitKind, RunControl, Stream};
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Whether the worker has compiled the module named `module`.
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunWasiHas)]
    fn js_has(module: &str) -> bool;
    /// Instantiates `module` as instance `id` with `config` (JSON: args, env, resources).
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunWasiInstantiate, catch)]
    fn js_instantiate(module: &str, id: u32, config: &str) -> Result<(), JsValue>;
    /// Calls an export: JSON `{"ok":n|null}`, `{"exit":n}`, `"stop"` or `{"trap":"..."}`.
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunWasiCall)]
    fn js_call(id: u32, name: &str, args: &[i32]) -> String;
    /// `len` bytes of linear memory at `ptr` (fewer when out of bounds).
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunWasiRead)]
    fn js_read(id: u32, ptr: u32, len: u32) -> Vec<u8>;
    /// Writes bytes into linear memory at `ptr`; `false` when out of bounds.
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunWasiWrite)]
    fn js_write(id: u32, ptr: u32, bytes: &[u8]) -> bool;
    /// Bytes of linear memory.
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunWasiMemorySize)]
    fn js_memory_size(id: u32) -> f64;
    /// Forgets instance `id`.
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunWasiDrop)]
    fn js_drop(id: u32);
}

/// What the syscalls of one instance need.
#[derive(Default)]
struct State {
    slot: IoSlot,
    control: Option<RunControl>,
    memory_limit: Option<u64>,
    handles: HandleTable,
}

thread_local! {
    static INSTANCES: RefCell<HashMap<u32, Rc<RefCell<State>>>> = RefCell::default();
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
}

fn state(id: u32) -> Option<Rc<RefCell<State>>> {
    INSTANCES.with(|m| m.borrow().get(&id).cloned())
}

/// The run's control and the memory limit of instance `id`.
fn run_of(id: u32) -> (Option<RunControl>, Option<u64>) {
    state(id).map_or((None, None), |s| {
        let s = s.borrow();
        (s.control.clone(), s.memory_limit)
    })
}

/// Before every syscall: `false` when the run must stop (the syscall then traps the guest).
/// `memory_bytes` is the guest's linear memory now.
#[wasm_bindgen(js_name = wasiSyscall)]
pub fn syscall(id: u32, memory_bytes: f64) -> bool {
    let (control, limit) = run_of(id);
    let Some(control) = control else { return true };
    if limit.is_some_and(|l| memory_bytes > l as f64) {
        control.trip(Interrupt::Limit(LimitKind::Memory));
    }
    control.check().is_none()
}

/// The guest wrote `bytes` to `fd` (1 or 2): `false` when the run must stop.
#[wasm_bindgen(js_name = wasiWrite)]
pub fn write(id: u32, fd: u32, bytes: &[u8]) -> bool {
    let Some(s) = state(id) else { return false };
    let slot = s.borrow().slot.clone();
    let stream = if fd == 1 {
        Stream::Stdout
    } else {
        Stream::Stderr
    };
    slot.write(stream, bytes).is_ok()
}

/// Up to `max` bytes of stdin (a helper's reply first); empty at the end of input.
#[wasm_bindgen(js_name = wasiRead)]
pub fn read(id: u32, max: u32) -> Vec<u8> {
    let Some(s) = state(id) else {
        return Vec::new();
    };
    let slot = s.borrow().slot.clone();
    slot.read(max as usize)
}

/// Sleeps `nanos`, woken early when the run must stop: `false` then.
#[wasm_bindgen(js_name = wasiSleep)]
pub fn sleep(id: u32, nanos: f64) -> bool {
    let (control, _) = run_of(id);
    let end = web_time::Instant::now() + Duration::from_nanos(nanos.max(0.0) as u64);
    // A worker has one thread: nothing else can wake it, so the wait checks as it goes.
    while web_time::Instant::now() < end {
        if control.as_ref().is_some_and(|c| c.check().is_some()) {
            return false;
        }
        std::hint::spin_loop();
    }
    control.is_none_or(|c| c.check().is_none())
}

/// `canonical_abi.resource_new_*`: stores `value`, returns its handle.
#[wasm_bindgen(js_name = wasiHandleNew)]
pub fn handle_new(id: u32, value: i32) -> i32 {
    state(id).map_or(-1, |s| s.borrow_mut().handles.insert(value))
}

/// `canonical_abi.resource_get_*`: the value behind `handle` (`undefined` if unknown: the
/// import traps).
#[wasm_bindgen(js_name = wasiHandleGet)]
pub fn handle_get(id: u32, handle: i32) -> Option<i32> {
    state(id).and_then(|s| s.borrow().handles.get(handle))
}

/// A module the worker compiled, by name: `ruby`, `php`.
#[derive(Debug)]
pub struct BrowserModule {
    name: String,
    language: String,
}

/// The module `name` (as the worker registered it) for `language`; an error when the worker has
/// not compiled it.
pub fn module(language: &str, name: &str) -> Result<Arc<dyn WasiModule>, Error> {
    if !js_has(name) {
        return Err(Error::Load {
            language: language.into(),
            message: format!("the worker has not loaded the `{name}` module"),
        });
    }
    Ok(Arc::new(BrowserModule {
        name: name.into(),
        language: language.into(),
    }))
}

impl WasiModule for BrowserModule {
    fn instantiate(
        &self,
        config: &WasiConfig,
        slot: &IoSlot,
    ) -> Result<Box<dyn WasiInstance>, Error> {
        let load = |message: String| Error::Load {
            language: self.language.clone(),
            message,
        };
        if !config.preopens.is_empty() {
            return Err(load("no directory can be preopened in the browser".into()));
        }
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id.wrapping_add(1).max(1));
            id
        });
        let state = Rc::new(RefCell::new(State {
            slot: slot.clone(),
            ..State::default()
        }));
        INSTANCES.with(|m| m.borrow_mut().insert(id, state.clone()));
        let json = serde_json::json!({
            "args": config.args,
            "env": config.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "resources": config.resources,
        });
        if let Err(e) = js_instantiate(&self.name, id, &json.to_string()) {
            INSTANCES.with(|m| m.borrow_mut().remove(&id));
            return Err(load(format!("instantiating {}: {e:?}", self.name)));
        }
        Ok(Box::new(BrowserInstance {
            id,
            state,
            poisoned: false,
        }))
    }
}

/// How a call into the guest ended, as `web/js/wasi.js` reports it.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Ok(Option<i32>),
    Exit(i32),
    Stop,
    Trap(String),
}

/// One instance on the page's WebAssembly engine.
struct BrowserInstance {
    id: u32,
    state: Rc<RefCell<State>>,
    poisoned: bool,
}

impl Drop for BrowserInstance {
    fn drop(&mut self) {
        js_drop(self.id);
        INSTANCES.with(|m| m.borrow_mut().remove(&self.id));
    }
}

impl BrowserInstance {
    fn interrupted(&self) -> Option<Interrupt> {
        self.state
            .borrow()
            .control
            .as_ref()
            .and_then(RunControl::interrupted)
    }

    /// Linear memory past the limit stops the run (the guest may have grown without a syscall
    /// after it).
    fn over_memory(&self) -> bool {
        let s = self.state.borrow();
        match (&s.control, s.memory_limit) {
            (Some(c), Some(limit)) if js_memory_size(self.id) > limit as f64 => {
                c.trip(Interrupt::Limit(LimitKind::Memory));
                true
            }
            _ => false,
        }
    }
}

impl WasiInstance for BrowserInstance {
    fn call(&mut self, name: &str, args: &[i32]) -> Result<Option<i32>, CallError> {
        if self.poisoned {
            return Err(CallError::Trap("the instance trapped earlier".into()));
        }
        let reply = serde_json::from_str::<Reply>(&js_call(self.id, name, args))
            .unwrap_or_else(|e| Reply::Trap(format!("unreadable reply from the WASI host: {e}")));
        let failed = match reply {
            Reply::Ok(v) if !self.over_memory() => return Ok(v),
            Reply::Ok(_) => CallError::Stopped(Interrupt::Limit(LimitKind::Memory)),
            Reply::Exit(code) => CallError::Exit(code),
            Reply::Stop | Reply::Trap(_) if self.interrupted().is_some() => {
                CallError::Stopped(self.interrupted().expect("interrupted"))
            }
            Reply::Stop => CallError::Trap("a syscall stopped the guest".into()),
            Reply::Trap(t) => CallError::Trap(t),
        };
        self.poisoned = true;
        Err(failed)
    }

    fn read(&self, ptr: i32, len: i32) -> Result<Vec<u8>, CallError> {
        let bytes = js_read(self.id, ptr as u32, len as u32);
        if bytes.len() != len as u32 as usize {
            return Err(CallError::Trap(format!(
                "guest pointer {}+{} out of bounds",
                ptr as u32, len as u32
            )));
        }
        Ok(bytes)
    }

    fn write(&mut self, ptr: i32, bytes: &[u8]) -> Result<(), CallError> {
        if js_write(self.id, ptr as u32, bytes) {
            Ok(())
        } else {
            Err(CallError::Trap(format!(
                "guest pointer {}+{} out of bounds",
                ptr as u32,
                bytes.len()
            )))
        }
    }

    fn set_run(&mut self, control: Option<&RunControl>, memory_bytes: Option<u64>) {
        let mut s = self.state.borrow_mut();
        s.control = control.cloned();
        s.memory_limit = memory_bytes;
    }

    fn poisoned(&self) -> bool {
        self.poisoned
    }

    fn memory_size(&self) -> usize {
        js_memory_size(self.id) as usize
    }

    fn take_handle(&mut self, handle: i32) -> Option<i32> {
        self.state.borrow_mut().handles.remove(handle)
    }
}
