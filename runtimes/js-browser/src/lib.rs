//! # polyrun-js-browser
//!
//! JavaScript on the page's own engine: the browser bundle's default JavaScript backend
//! (`backend: "browser"`; Boa, `polyrun-js`, stays selectable). The engine is the browser's —
//! V8, SpiderMonkey or JavaScriptCore, with its JIT — so this backend is not code in the wasm
//! bundle: it is the JavaScript in `js/`, which `scripts/web` copies into the static site:
//!
//! - `js/host.js` (the page): one sandboxed `<iframe sandbox="allow-scripts">` (an opaque
//!   origin, which Chromium puts in its own process: a run that exhausts memory takes down that
//!   frame, not the page), replaced when it dies; the Pyodide backend
//!   (`polyrun-python-pyodide`) runs in a frame of its own made by the same host;
//! - `js/frame.js` (the frame): a fresh Worker per run (a fresh global state; a session keeps
//!   its worker), ended at the deadline, on cancel and at the output limit;
//! - `js/common.js` (every page runner): a run's output to the page and the helpers' answers;
//! - `js/runner.js` (the worker): evaluates the code and formats what it prints exactly as the
//!   Boa backend does; `prompt()`, the `polyrun` helpers (Boa's own prelude over a host that
//!   answers like the engine's `Helpers`, with the limits the bundle sends), errors with the
//!   user's line and column.
//!
//! The worker that owns the wasm bundle resolves every request (this crate's [`DESCRIPTOR`] is
//! registered there, first: the default) and hands the runs of this backend to the page
//! (`polyrun_web::page_job`). Natively nothing registers it: its `load` says where it runs.

use polyrun_engine::{
    Capabilities, Error, JAVASCRIPT, LoadContext, Registry, Runtime, RuntimeDescriptor,
};

/// The descriptor this crate registers (JavaScript's names, as every JavaScript backend's).
pub const DESCRIPTOR: RuntimeDescriptor = RuntimeDescriptor {
    id: JAVASCRIPT.id,
    name: JAVASCRIPT.name,
    aliases: JAVASCRIPT.aliases,
    extensions: JAVASCRIPT.extensions,
    backend: "browser",
    version: "the page's own JavaScript engine",
    capabilities: Capabilities {
        // The frame ends a run's worker at its deadline.
        preemptible: true,
        // Nothing bounds the page's engine below the frame's process.
        memory_limit: false,
        stdin: true,
        sessions: true,
    },
    load,
    prepare: None,
};

/// Adds JavaScript on the page's engine to `registry` (the browser bundle only).
pub fn register(registry: &mut Registry) {
    registry.register(DESCRIPTOR);
}

fn load(_: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Err(Error::Load {
        language: DESCRIPTOR.id.into(),
        message: "the `browser` backend runs on the page's own engine (polyrun's browser \
                  bundle hands its runs to js/host.js), not in this process"
            .into(),
    })
}

/// `true` if `backend` is this one (its runs go to the page).
pub fn is_browser(backend: &RuntimeDescriptor) -> bool {
    backend.id == DESCRIPTOR.id && backend.backend == DESCRIPTOR.backend
}

/// The file name of a run that names none.
pub const FILE_NAME: &str = "main.js";

/// `true` if `code` may read stdin (it names `prompt` or `readline`, the backends' two ways):
/// where the page's frame cannot wait for a line, the bundle runs such code on Boa instead.
pub fn reads_stdin(code: &str) -> bool {
    code.contains("prompt") || code.contains("readline")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stdin_sees_both_ways_and_the_backend_runs_on_the_page() {
        assert!(reads_stdin("const x = prompt('x')") && reads_stdin("readline()"));
        assert!(!reads_stdin("console.log('no input')"));
        let mut registry = Registry::new();
        register(&mut registry);
        let desc = registry.find(Some("js"), None, None).unwrap();
        assert!(is_browser(desc) && !is_browser(&polyrun_js::DESCRIPTOR));
        assert!((desc.load)(&LoadContext::default()).is_err());
    }
}
