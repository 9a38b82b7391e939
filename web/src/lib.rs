//! # polyrun-web
//!
//! polyrun in the browser: the engine and the backends that compile into the bundle
//! (JavaScript — by default on the page's own engine, whose runs the worker hands to the page
//! ([`page_job`], `polyrun-js-browser`), and on Boa —, Lua, and Ruby and PHP — their Rust adapters over the WASI seam, the
//! modules compiled by the page's WebAssembly engine — in the main bundle; Python in a second,
//! lazily loaded one built from the same crate with the `python` feature), built for
//! `wasm32-unknown-unknown` and driven from a Web Worker (`web/js/worker.js`) through
//! wasm-bindgen. The worker is the isolation: a run that does not stop at its deadline is ended
//! by terminating the worker (`web/js/polyrun.js`).
//!
//! The boundary is JSON both ways (the engine's `wire::RunCommand` in, outcomes and typed
//! errors out), so the JavaScript side needs no generated types beyond [`Engine`]'s methods. Events go out as they happen through `globalThis.polyrunEmit`
//! (one JSON event per call); stdin lines come in through `globalThis.polyrunReadLine`. The
//! `polyrun` helpers are the engine's own, over the variables the page sends ([`page`]).
//!
//! On other targets the crate has [`languages_json`], [`default_limits_json`] and [`page`] (so
//! the workspace builds and tests them natively).

use polyrun_engine::wire::RunCommand;
use polyrun_engine::{Limits, Registry, RuntimeDescriptor};

pub mod page;

#[cfg(target_arch = "wasm32")]
mod bindings;
#[cfg(target_arch = "wasm32")]
pub use bindings::Engine;

/// The languages compiled into this bundle: JavaScript and Lua in the main one (feature
/// `main`), Python in its own (feature `python`).
pub fn registry() -> Registry {
    let mut r = Registry::new();
    bundle::register(&mut r);
    r
}

/// The WASI module (its artifact name: `ruby`, `php`) that `backend` runs on, if any: the worker
/// fetches and compiles it before the backend's first run.
pub fn wasi_module(backend: &RuntimeDescriptor) -> Option<&'static str> {
    bundle::WASI_MODULES
        .iter()
        .find(|(id, b, _)| *id == backend.id && *b == backend.backend)
        .map(|m| m.2)
}

/// The main bundle's languages (Ruby and PHP only in wasm32, where their adapters run on the
/// page's WebAssembly engine).
#[cfg(all(feature = "main", target_arch = "wasm32"))]
mod bundle {
    use polyrun_php::DESCRIPTOR as PHP;
    use polyrun_ruby::DESCRIPTOR as RUBY;

    /// (language, backend, module) of the WASI backends.
    pub const WASI_MODULES: &[(&str, &str, &str)] = &[
        (RUBY.id, RUBY.backend, polyrun_ruby::ARTIFACT),
        (PHP.id, PHP.backend, polyrun_php::ARTIFACT),
    ];

    pub fn register(r: &mut polyrun_engine::Registry) {
        // First: the default JavaScript (the page's own engine); Boa next to it.
        polyrun_js_browser::register(r);
        polyrun_js::register(r);
        polyrun_lua::register(r);
        // Python's default (RustPython is in the Python bundle).
        polyrun_python_pyodide::register(r);
        polyrun_ruby::register(r);
        polyrun_php::register(r);
    }
}

/// The main bundle's languages, built natively (for the workspace's tests).
#[cfg(all(feature = "main", not(target_arch = "wasm32")))]
mod bundle {
    pub const WASI_MODULES: &[(&str, &str, &str)] = &[];

    pub fn register(r: &mut polyrun_engine::Registry) {
        polyrun_js_browser::register(r);
        polyrun_js::register(r);
        polyrun_lua::register(r);
        polyrun_python_pyodide::register(r);
    }
}

/// The Python bundle's language.
#[cfg(all(feature = "python", not(feature = "main")))]
mod bundle {
    pub const WASI_MODULES: &[(&str, &str, &str)] = &[];

    pub fn register(r: &mut polyrun_engine::Registry) {
        polyrun_python::register(r);
    }
}

/// No language feature: an empty registry.
#[cfg(not(any(feature = "main", feature = "python")))]
mod bundle {
    pub const WASI_MODULES: &[(&str, &str, &str)] = &[];

    pub fn register(_: &mut polyrun_engine::Registry) {}
}

/// The job (JSON) of a run `command` whose backend, `backend`, runs on the page's own engines
/// (JavaScript's `browser`, Python's `pyodide`): what the page's runner needs of a run —
/// `backend`, `code`, `filename`, `session`, `limits` as the engine resolved them, and the
/// helpers' limits — the value limit ([`MAX_VALUE_BYTES`](polyrun_engine::helpers::MAX_VALUE_BYTES))
/// and the namespace's quota ([`Quota`](polyrun_engine::helpers::Quota)), named as the bundle's
/// own helpers name the page's namespace: the engine is the one source of them. `None` for every other backend, and for the runs the bundle's worker
/// takes instead ([`worker_backend`]): those that read stdin, did not choose their backend nor a
/// session, on a page where the frame cannot wait for a line (`stdin_waits` false: interactive
/// stdin without shared memory; the worker reads through the service worker).
pub fn page_job(
    backend: &RuntimeDescriptor,
    command: &RunCommand,
    stdin_waits: bool,
) -> Option<String> {
    let (file, reads_stdin) = page_engine::on_page(backend)?;
    let to_worker = !stdin_waits
        && command.backend.is_none()
        && command.session.is_none()
        && reads_stdin(&command.code);
    if to_worker {
        return None;
    }
    let request = command.request();
    let quota = polyrun_engine::helpers::Quota::default();
    Some(
        serde_json::json!({
            "backend": backend.backend,
            "code": request.code,
            "filename": request.file_name(file),
            "session": command.session,
            "limits": request.limits,
            "max_value_bytes": polyrun_engine::helpers::MAX_VALUE_BYTES,
            "quota": {"variables": quota.variables, "bytes": quota.bytes},
            "namespace": polyrun_engine::helpers::DEFAULT_NAMESPACE,
        })
        .to_string(),
    )
}

/// The backend the bundle's worker runs `backend`'s runs on: itself, or for JavaScript on the
/// page's engine (a run [`page_job`] left to the worker) Boa. (Python's such runs go to the
/// Python bundle, whose registry has RustPython only.)
pub fn worker_backend<'r>(
    registry: &'r Registry,
    backend: &'r RuntimeDescriptor,
) -> &'r RuntimeDescriptor {
    page_engine::worker_backend(registry, backend)
}

/// What [`page_job`] needs of a backend on the page: its default file name, and whether a
/// code may read stdin.
type OnPage = (&'static str, fn(&str) -> bool);

/// The backends on the page's own engines, in the main bundle.
#[cfg(feature = "main")]
mod page_engine {
    use super::OnPage;
    use polyrun_engine::{Registry, RuntimeDescriptor};
    use polyrun_js_browser::is_browser;
    use polyrun_python_pyodide::is_pyodide;

    /// The default file name and the stdin test of a backend on the page, if it is one.
    pub fn on_page(backend: &RuntimeDescriptor) -> Option<OnPage> {
        if is_browser(backend) {
            Some((
                polyrun_js_browser::FILE_NAME,
                polyrun_js_browser::reads_stdin,
            ))
        } else if is_pyodide(backend) {
            Some((
                polyrun_python_pyodide::FILE_NAME,
                polyrun_python_pyodide::reads_stdin,
            ))
        } else {
            None
        }
    }

    pub fn worker_backend<'r>(
        registry: &'r Registry,
        backend: &'r RuntimeDescriptor,
    ) -> &'r RuntimeDescriptor {
        if !is_browser(backend) {
            return backend;
        }
        let boa = polyrun_js::DESCRIPTOR;
        registry
            .find(Some(boa.id), None, Some(boa.backend))
            .unwrap_or(backend)
    }
}

/// No backend of a bundle without the main one's runs on the page's engines.
#[cfg(not(feature = "main"))]
mod page_engine {
    use super::OnPage;
    use polyrun_engine::{Registry, RuntimeDescriptor};

    pub fn on_page(_: &RuntimeDescriptor) -> Option<OnPage> {
        None
    }

    pub fn worker_backend<'r>(
        _: &'r Registry,
        backend: &'r RuntimeDescriptor,
    ) -> &'r RuntimeDescriptor {
        backend
    }
}

/// The backends of `registry` as a JSON array of `RuntimeInfo` objects (what
/// `polyrun langs --json` prints, one per line).
pub fn languages_json(registry: &Registry) -> String {
    serde_json::to_string(&registry.infos()).expect("infos serialise")
}

/// [`Limits::default`] as JSON: the one source of the default limits for the JS API.
pub fn default_limits_json() -> String {
    serde_json::to_string(&Limits::default()).expect("limits serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_list_backends_and_defaults() {
        let langs: serde_json::Value = serde_json::from_str(&languages_json(&registry())).unwrap();
        assert_eq!(langs[0]["language"], "javascript");
        assert_eq!(langs[0]["backend"], "browser");
        assert_eq!(langs[0]["default"], true);
        assert_eq!(langs[1]["backend"], "boa");
        assert_eq!(langs[1]["default"], false);
        // Python's default in the main bundle: Pyodide (RustPython is in the Python bundle).
        let python = langs
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["language"] == "python")
            .unwrap();
        assert_eq!(python["backend"], "pyodide");
        assert_eq!(python["default"], true);
        assert!(
            langs[0]["aliases"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("js"))
        );
        let limits: serde_json::Value = serde_json::from_str(&default_limits_json()).unwrap();
        assert_eq!(limits["wall_time_ms"], 10_000);
    }

    #[test]
    fn page_engine_runs_go_to_the_page_unless_only_the_worker_can_wait_for_stdin() {
        let registry = registry();
        let cmd = |code: &str| {
            let mut c = RunCommand::new("js", code);
            c.limits.wall_time = Some(std::time::Duration::from_millis(1234));
            c
        };
        let route = |c: &RunCommand, waits: bool| {
            let desc = c.resolve(&registry).unwrap();
            page_job(desc, c, waits).map(|j| serde_json::from_str::<serde_json::Value>(&j).unwrap())
        };
        let job = route(&cmd("console.log(1)"), false).expect("the page runs it");
        assert_eq!(job["backend"], "browser");
        assert_eq!(job["code"], "console.log(1)");
        assert_eq!(job["session"], serde_json::Value::Null);
        assert_eq!(job["filename"], "main.js");
        assert_eq!(job["limits"]["wall_time_ms"], 1234);
        assert!(job["max_value_bytes"].as_u64().unwrap() > 0);
        assert_eq!(
            job["quota"]["variables"],
            polyrun_engine::helpers::MAX_VARIABLES
        );
        assert_eq!(job["namespace"], polyrun_engine::helpers::DEFAULT_NAMESPACE);
        // Reading stdin where the frame cannot wait: the worker (Boa) takes it.
        let reads = cmd("let n = prompt('n?')");
        assert!(route(&reads, false).is_none());
        let desc = reads.resolve(&registry).unwrap();
        assert_eq!(worker_backend(&registry, desc).backend, "boa");
        assert!(route(&reads, true).is_some());
        // A chosen backend or a session stays where it is.
        let mut chosen = cmd("readline()");
        chosen.backend = Some("browser".into());
        assert!(route(&chosen, false).is_some());
        let mut session = cmd("readline()");
        session.session = Some("s".into());
        session.filename = Some("dir/game.js".into());
        let job = route(&session, false).unwrap();
        assert_eq!(
            (&job["session"], &job["filename"]),
            (&"s".into(), &"game.js".into())
        );
        // Python: Pyodide on the page, its own file name; reading stdin where the frame cannot
        // wait, the Python bundle (RustPython) takes it.
        let py = RunCommand::new("py", "print(1)");
        let job = route(&py, false).expect("the page runs Python");
        assert_eq!(
            (&job["backend"], &job["filename"]),
            (&"pyodide".into(), &"main.py".into())
        );
        assert!(route(&RunCommand::new("python", "input()"), false).is_none());
        assert!(route(&RunCommand::new("python", "input()"), true).is_some());
        // Other backends never go to the page, and the worker runs them as they are.
        let mut boa = cmd("1");
        boa.backend = Some("boa".into());
        assert!(route(&boa, true).is_none());
        let lua = RunCommand::new("lua", "print(1)");
        let desc = lua.resolve(&registry).unwrap();
        assert!(page_job(desc, &lua, true).is_none());
        assert_eq!(worker_backend(&registry, desc).id, "lua");
    }
}
