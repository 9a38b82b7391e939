//! # polyrun-web
//!
//! polyrun in the browser: the engine and the backends that compile into the bundle
//! (JavaScript on Boa, Lua, and Ruby and PHP — their Rust adapters over the WASI seam, the
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
        polyrun_js::register(r);
        polyrun_lua::register(r);
        polyrun_ruby::register(r);
        polyrun_php::register(r);
    }
}

/// The main bundle's languages, built natively (for the workspace's tests).
#[cfg(all(feature = "main", not(target_arch = "wasm32")))]
mod bundle {
    pub const WASI_MODULES: &[(&str, &str, &str)] = &[];

    pub fn register(r: &mut polyrun_engine::Registry) {
        polyrun_js::register(r);
        polyrun_lua::register(r);
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
        assert_eq!(langs[0]["backend"], "boa");
        assert_eq!(langs[0]["default"], true);
        assert!(
            langs[0]["aliases"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("js"))
        );
        let limits: serde_json::Value = serde_json::from_str(&default_limits_json()).unwrap();
        assert_eq!(limits["wall_time_ms"], 10_000);
    }
}
