//! # polyrun-python-pyodide
//!
//! Python on Pyodide (CPython compiled to WebAssembly): the browser bundle's default Python
//! backend (`backend: "pyodide"`; RustPython, `polyrun-python`, stays selectable). Like the
//! page-engine JavaScript backend (`polyrun-js-browser`) it is not code in the wasm bundle:
//!
//! - `js/runner.js` (a Worker in a sandboxed frame that `js-browser/js/host.js` makes: an
//!   opaque origin in a process of its own, no network) loads Pyodide from the files the page
//!   hands it and runs run after run in one interpreter: at the deadline and on cancel it is
//!   interrupted (KeyboardInterrupt, through the frame's shared memory where the page is
//!   cross-origin isolated) and ended if it does not stop;
//! - `py/runner.py` gives each run a fresh `__main__` (a session keeps its own) and reports the
//!   engine's outcome through `outcomes.py`, the RustPython backend's own file (one source of
//!   results, errors and the `polyrun` helpers for both Python backends).
//!
//! Pyodide's core (the `pyodide` npm package) is pinned by version and sha256 in
//! `packaging/artifacts.lock` and copied into the static site by `scripts/web`. The worker that
//! owns the wasm bundle resolves every request: this crate's [`DESCRIPTOR`] is registered there
//! (the default) and its runs go to the page (`polyrun_web::page_job`). Natively nothing
//! registers it: its `load` says where it runs.

use polyrun_engine::{
    Capabilities, Error, LoadContext, PYTHON, Registry, Runtime, RuntimeDescriptor,
};

/// The Pyodide release this backend runs (the npm package `packaging/artifacts.lock` pins).
pub const PYODIDE_VERSION: &str = "314.0.7";

/// The file name of a run that names none.
pub const FILE_NAME: &str = "main.py";

/// The descriptor this crate registers.
pub const DESCRIPTOR: RuntimeDescriptor = RuntimeDescriptor {
    id: PYTHON.id,
    name: PYTHON.name,
    aliases: PYTHON.aliases,
    extensions: PYTHON.extensions,
    backend: "pyodide",
    version: "Python 3.14 (Pyodide 314.0.7)",
    capabilities: Capabilities {
        // Interrupted at the deadline, its worker ended if it goes on.
        preemptible: true,
        // WebAssembly's own ceiling only (MemoryError when the interpreter's memory is full).
        memory_limit: false,
        stdin: true,
        sessions: true,
    },
    load,
    prepare: None,
};

/// Adds Python on Pyodide to `registry` (the browser bundle only).
pub fn register(registry: &mut Registry) {
    registry.register(DESCRIPTOR);
}

fn load(_: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Err(Error::Load {
        language: DESCRIPTOR.id.into(),
        message: "the `pyodide` backend runs in the browser (polyrun's browser bundle hands its \
                  runs to the page), not in this process"
            .into(),
    })
}

/// `true` if `backend` is this one (its runs go to the page).
pub fn is_pyodide(backend: &RuntimeDescriptor) -> bool {
    backend.id == DESCRIPTOR.id && backend.backend == DESCRIPTOR.backend
}

/// `true` if `code` may read stdin (it names `input` or `stdin`): where the page's frame cannot
/// wait for a line, the bundle runs such code on RustPython instead.
pub fn reads_stdin(code: &str) -> bool {
    code.contains("input") || code.contains("stdin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_python_on_pyodide_which_runs_only_in_the_browser() {
        let mut registry = Registry::new();
        register(&mut registry);
        let desc = registry.find(Some("py"), None, None).unwrap();
        assert!(is_pyodide(desc));
        assert_eq!(desc.extensions, &["py"]);
        assert!(DESCRIPTOR.version.contains(PYODIDE_VERSION));
        let err = (desc.load)(&LoadContext::default()).err().unwrap();
        assert!(err.to_string().contains("runs in the browser"), "{err}");
        assert!(reads_stdin("n = int(input())") && reads_stdin("sys.stdin.read()"));
        assert!(!reads_stdin("print(1)"));
    }
}
