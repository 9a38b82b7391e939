//! The wasm-bindgen surface: [`Engine`], used by `web/js/worker.js`. Runs go through the
//! engine's [`Pool`] and [`polyrun_engine::drive`], as in a native worker process.

use crate::page::{PageHelpers, PageRun};
use crate::registry;
use polyrun_engine::wire::RunCommand;
use polyrun_engine::{Error, Event, Outcome, Pool, RunControl, RunIo, Stdin};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// Sends one event (JSON) to the page, as it happens.
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunEmit)]
    fn emit(event: &str);
    /// The next line of stdin, without its end of line; `undefined` at the end of input.
    #[wasm_bindgen(js_namespace = globalThis, js_name = polyrunReadLine)]
    fn read_line() -> Option<String>;
    /// Where a panic's message goes before the module traps (the worker reports it).
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

struct HostStdin;

impl Stdin for HostStdin {
    fn read_line(&mut self) -> Option<String> {
        read_line()
    }
}

/// The engine of one worker: the bundle's backends, their warm instances and sessions.
#[wasm_bindgen]
pub struct Engine {
    pool: Pool,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

#[wasm_bindgen]
impl Engine {
    /// An engine with every backend of the bundle (loaded on first use).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Engine {
        // A panic aborts (traps) the module: say why first, so the trap is diagnosable.
        std::panic::set_hook(Box::new(|info| console_error(&format!("polyrun: {info}"))));
        Engine {
            pool: Pool::new(registry()),
        }
    }

    /// The backends, as a JSON array of `RuntimeInfo`.
    pub fn languages(&self) -> String {
        crate::languages_json(self.pool.registry())
    }

    /// The default limits, as JSON (`Limits`): what a request's missing limits become.
    pub fn default_limits(&self) -> String {
        crate::default_limits_json()
    }

    /// Runs a request (JSON: the engine's `RunCommand`) with the page's helpers (JSON:
    /// `{input, context, variables}`, see [`PageHelpers`]). Events go to `globalThis.polyrunEmit`
    /// while it runs; returns `{"outcome": ..., "output"?: ..., "variables"?: ...}` or
    /// `{"error": {kind, message, ...}}`.
    pub fn run(&mut self, request: &str, helpers: &str) -> String {
        let mut reply = serde_json::Map::new();
        match PageHelpers::parse(helpers) {
            Err(message) => {
                reply.insert(
                    "error".into(),
                    serde_json::to_value(Error::InvalidRequest(message).to_wire())
                        .unwrap_or_default(),
                );
            }
            Ok(page) => {
                let run = page.start();
                match self.execute(request, &run) {
                    Ok(outcome) => {
                        reply.insert(
                            "outcome".into(),
                            serde_json::to_value(outcome).unwrap_or_default(),
                        );
                        run.finish(&mut reply);
                    }
                    Err(e) => {
                        reply.insert(
                            "error".into(),
                            serde_json::to_value(e.to_wire()).unwrap_or_default(),
                        );
                    }
                }
            }
        }
        serde_json::Value::Object(reply).to_string()
    }

    /// The WASI module (`ruby`, `php`) the request's backend runs on, if any: the worker
    /// compiles it (`registerWasiModule`) before the run. `undefined` for other backends and
    /// for requests that do not resolve (the run then reports why).
    pub fn wasi_module(&self, request: &str) -> Option<String> {
        let cmd: RunCommand = serde_json::from_str(request).ok()?;
        let desc = cmd.resolve(self.pool.registry()).ok()?;
        crate::wasi_module(desc).map(str::to_string)
    }

    /// The job of a request whose backend runs on the page's own engine (JSON:
    /// `polyrun_js_browser::job`, its limits resolved by the engine): the worker hands it to
    /// the page. `stdin_waits`: the page's frame can wait for stdin lines (false when the run
    /// has interactive stdin and the page no shared memory). `undefined` for other backends,
    /// for the runs this worker takes instead ([`crate::page_job`]), and for requests that do
    /// not resolve (the run then reports why).
    pub fn page_job(&self, request: &str, stdin_waits: bool) -> Option<String> {
        let cmd: RunCommand = serde_json::from_str(request).ok()?;
        let desc = cmd.resolve(self.pool.registry()).ok()?;
        crate::page_job(desc, &cmd, stdin_waits)
    }

    /// Brings the instances of finished runs back to a fresh state: the worker calls it once
    /// a run's result is out, so that the next run does not wait for it.
    pub fn settle(&mut self) {
        self.pool.reset_pending();
    }

    /// Forgets a session's state.
    pub fn end_session(&mut self, name: &str) {
        self.pool.end_session(name);
    }
}

impl Engine {
    fn execute(&mut self, request: &str, run: &PageRun) -> Result<Outcome, Error> {
        let cmd: RunCommand = serde_json::from_str(request)
            .map_err(|e| Error::InvalidRequest(format!("malformed request: {e}")))?;
        let registry = self.pool.registry();
        let desc = *crate::worker_backend(registry, cmd.resolve(registry)?);
        let request = cmd.request();
        let io = RunIo::new(
            |e: Event| emit(&serde_json::to_string(&e).unwrap_or_default()),
            Box::new(HostStdin),
            RunControl::new(),
            request.limits.output_bytes,
        )
        .with_host(run.helpers.clone());
        self.pool.run(&desc, cmd.session.as_deref(), &request, &io)
    }
}
