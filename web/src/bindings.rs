//! The wasm-bindgen surface: [`Engine`], used by `web/js/worker.js`.

use crate::{Request, languages_json, registry};
use polyrun_engine::{
    Error, Event, Host, HostCall, LoadContext, Outcome, Registry, RunControl, RunIo, RunRequest,
    Runtime, Stdin,
};
use std::collections::HashMap;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Sends one event (JSON) to the page, as it happens.
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunEmit)]
    fn emit(event: &str);
    /// The next line of stdin, without its end of line; `undefined` at the end of input.
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunReadLine)]
    fn read_line() -> Option<String>;
    /// Answers a `polyrun` helper call (JSON text) with a reply (JSON text): the worker's
    /// `RunHelpers` (web/js/helpers.js).
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunHostCall)]
    fn host_call(request: &str) -> String;
    /// Where a panic's message goes before the module traps (the worker reports it).
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// The helpers of a run in the browser: answered by the worker (one place for every bundle and
/// the WASI languages).
struct WorkerHost;

impl Host for WorkerHost {
    fn call(&self, call: HostCall) -> Result<serde_json::Value, String> {
        let request = serde_json::to_string(&call).map_err(|e| e.to_string())?;
        polyrun_engine::helpers::parse_reply(&host_call(&request))
    }
}

struct HostStdin;

impl Stdin for HostStdin {
    fn read_line(&mut self) -> Option<String> {
        read_line()
    }
}

/// The engine of one worker: the bundle's languages, their loaded instances and sessions.
#[wasm_bindgen]
pub struct Engine {
    registry: Registry,
    /// Warm instances for runs without a session, reset after each run.
    fresh: HashMap<&'static str, Box<dyn Runtime>>,
    /// Instances of named sessions.
    sessions: HashMap<String, Box<dyn Runtime>>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

#[wasm_bindgen]
impl Engine {
    /// An engine with every language of the bundle (loaded on first use).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Engine {
        // A panic aborts (traps) the module: say why first, so the trap is diagnosable.
        std::panic::set_hook(Box::new(|info| console_error(&format!("polyrun: {info}"))));
        Engine {
            registry: registry(),
            fresh: HashMap::new(),
            sessions: HashMap::new(),
        }
    }

    /// The languages, as a JSON array of `RuntimeInfo`.
    pub fn languages(&self) -> String {
        languages_json()
    }

    /// Runs a request (JSON: `language`, `code`, `filename`, `limits`, `session`). Events go to
    /// `globalThis.polyrunEmit` while it runs; returns `{"outcome": ...}` or `{"error": "..."}`.
    pub fn run(&mut self, request: &str) -> String {
        let reply = match self.execute(request) {
            Ok(outcome) => serde_json::json!({ "outcome": outcome }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        reply.to_string()
    }

    /// Forgets a session's state.
    pub fn end_session(&mut self, name: &str) {
        self.sessions.remove(name);
    }
}

impl Engine {
    fn execute(&mut self, request: &str) -> Result<Outcome, Error> {
        let req: Request = serde_json::from_str(request)
            .map_err(|e| Error::InvalidRequest(format!("malformed request: {e}")))?;
        let desc = *self.registry.get(&req.language)?;
        let ctx = LoadContext::with_progress(std::sync::Arc::new(|e: Event| {
            emit(&serde_json::to_string(&e).unwrap_or_default())
        }));
        let instance = match &req.session {
            Some(name) => match self.sessions.entry(name.clone()) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert((desc.load)(&ctx)?),
            },
            None => match self.fresh.entry(desc.id) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert((desc.load)(&ctx)?),
            },
        };
        let run = RunRequest {
            code: req.code,
            filename: req.filename,
            limits: req.limits,
        };
        let io = RunIo::new(
            |e: Event| emit(&serde_json::to_string(&e).unwrap_or_default()),
            Box::new(HostStdin),
            RunControl::new(),
            run.limits.output_bytes,
        )
        .with_host(std::sync::Arc::new(WorkerHost));
        let outcome = instance.run(&run, &io);
        if req.session.is_none() {
            // The next run without a session starts clean.
            if instance.reset().is_err() {
                self.fresh.remove(desc.id);
            }
        }
        outcome
    }
}
