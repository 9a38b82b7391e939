//! # polyrun-web
//!
//! polyrun in the browser: the engine and the backends that compile into the bundle
//! (JavaScript on Boa and Lua in the main bundle; Python in a second, lazily loaded one built
//! from the same crate with the `python` feature), built for `wasm32-unknown-unknown` and driven from a Web Worker
//! (`web/js/worker.js`) through wasm-bindgen. The worker is the isolation: a run that does not
//! stop at its deadline is ended by terminating the worker (`web/js/polyrun.js`).
//!
//! The boundary is JSON both ways, so the JavaScript side needs no generated types beyond
//! [`Engine`]'s three methods. Events go out as they happen through `globalThis.polyrunEmit`
//! (one JSON event per call); stdin lines come in through `globalThis.polyrunReadLine`.
//!
//! On other targets the crate only has [`Request`] and [`languages_json`] (so the workspace
//! builds and tests them natively).

use polyrun_engine::{Limits, Registry};
use serde::Deserialize;

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

/// The main bundle's languages.
#[cfg(feature = "main")]
mod bundle {
    pub fn register(r: &mut polyrun_engine::Registry) {
        polyrun_js::register(r);
        polyrun_lua::register(r);
    }
}

/// The Python bundle's language.
#[cfg(all(feature = "python", not(feature = "main")))]
mod bundle {
    pub fn register(r: &mut polyrun_engine::Registry) {
        polyrun_python::register(r);
    }
}

/// No language feature: an empty registry.
#[cfg(not(any(feature = "main", feature = "python")))]
mod bundle {
    pub fn register(_: &mut polyrun_engine::Registry) {}
}

/// What the worker asks for: one run.
#[derive(Debug, Deserialize)]
pub struct Request {
    /// Language id or alias.
    pub language: String,
    /// Source code.
    pub code: String,
    /// File name for diagnostics.
    #[serde(default)]
    pub filename: Option<String>,
    /// Limits (the playground defaults when absent).
    #[serde(default)]
    pub limits: Limits,
    /// A session name: runs of one session share guest state; none is a fresh state.
    #[serde(default)]
    pub session: Option<String>,
}

/// The languages of [`registry`] as a JSON array of `RuntimeInfo` objects with the
/// descriptor's `aliases` and `extensions` added (what `polyrun langs --json` prints).
pub fn languages_json() -> String {
    let infos: Vec<serde_json::Value> = registry()
        .descriptors()
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d.info()).expect("infos serialise");
            v["aliases"] = serde_json::json!(d.aliases);
            v["extensions"] = serde_json::json!(d.extensions);
            v
        })
        .collect();
    serde_json::Value::Array(infos).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_defaults_and_languages_list() {
        let r: Request = serde_json::from_str(r#"{"language":"js","code":"1"}"#).unwrap();
        assert_eq!(r.limits, Limits::default());
        assert!(r.session.is_none());
        let r: Request = serde_json::from_str(
            r#"{"language":"js","code":"1","limits":{"wall_time_ms":1500},"session":"s"}"#,
        )
        .unwrap();
        assert_eq!(
            r.limits.wall_time,
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(r.session.as_deref(), Some("s"));
        let langs: serde_json::Value = serde_json::from_str(&languages_json()).unwrap();
        assert_eq!(langs[0]["language"], "javascript");
        assert!(
            langs[0]["aliases"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("js"))
        );
    }
}
