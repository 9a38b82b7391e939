//! # polyrun
//!
//! A multi-language code playground engine: run untrusted snippets of JavaScript (QuickJS, or Boa), Lua
//! (mlua), Python (RustPython), Ruby (ruby.wasm) and PHP (php.wasm) — the last two on wasmtime —
//! behind one contract: streamed output, stdin, hard limits that guest code cannot catch,
//! structured errors with the user's own line numbers, rich values — in process or in an
//! isolated worker process.
//!
//! ```no_run
//! use polyrun::{Event, RunSpec};
//!
//! let manager = polyrun::manager().unwrap();
//! let result = manager
//!     .run(RunSpec::new("js", "console.log('hi'); 6 * 7").on_event(|e| {
//!         if let Event::Stdout { text } = e {
//!             print!("{text}");
//!         }
//!     }))
//!     .unwrap();
//! println!("{:?}", result.outcome);
//! ```
//!
//! Programs that use worker isolation through [`manager`] re-execute themselves as workers:
//! call [`serve_worker_if_requested`] first thing in `main`.
//!
//! Languages are cargo features: `lang-js`, `lang-lua`, `lang-python`, `lang-ruby`, `lang-php`
//! (all default). Ruby's runtime (ruby.wasm) is fetched from the npm registry on first use,
//! verified against its pinned sha256 and compiled once into the cache (`polyrun fetch ruby` does
//! it ahead of time). PHP's (php.wasm) is built from Debian's source on first use by a recipe
//! compiled into polyrun (`polyrun fetch php`: a few minutes, once).

pub use polyrun_engine as engine;
pub use polyrun_engine::{
    Diagnostic, Error, Event, Frame, LimitKind, Limits, MimeBundle, Outcome, Registry, RunControl,
    RuntimeInfo, Stdin,
};
pub use polyrun_manager as manager;
pub use polyrun_manager::pipeline::{
    Pipeline, PipelineEvent, PipelineResult, PipelineStatus, Step, StepResult,
};
pub use polyrun_manager::{
    Isolation, ManagerBuilder, RunResult, RunSpec, RuntimeManager, Session, WorkerCommand,
};
pub use polyrun_store::{LazySqliteStore, SqliteStore};

use polyrun_engine::{MemoryStore, VariableStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A registry with every language compiled into this build.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    register_all(&mut registry);
    registry
}

/// Adds every language compiled into this build to `registry`.
#[allow(unused_variables)]
pub fn register_all(registry: &mut Registry) {
    #[cfg(feature = "lang-js")]
    {
        polyrun_quickjs::register(registry);
        polyrun_js::register(registry);
    }
    #[cfg(feature = "lang-lua")]
    polyrun_lua::register(registry);
    #[cfg(feature = "lang-python")]
    polyrun_python::register(registry);
    #[cfg(feature = "lang-ruby")]
    polyrun_ruby::register(registry);
    #[cfg(feature = "lang-php")]
    polyrun_php::register(registry);
}

/// Where [`variable_store`] keeps variables: `POLYRUN_VARIABLES` (a file path, or `memory`),
/// else `variables.sqlite3` in the cache directory. `None` means in memory.
pub fn variable_store_path() -> Option<PathBuf> {
    match std::env::var_os("POLYRUN_VARIABLES").filter(|v| !v.is_empty()) {
        Some(v) if v == "memory" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => Some(polyrun_packaging::default_cache_root().join("variables.sqlite3")),
    }
}

/// The variable store of the guest helpers (`polyrun.getVariable` and friends): SQLite at
/// [`variable_store_path`], opened on first use (a store that cannot be opened is an error in
/// the guest's helper call, not in the run), or in memory.
pub fn variable_store() -> Arc<dyn VariableStore> {
    match variable_store_path() {
        None => Arc::new(MemoryStore::new()),
        Some(path) => Arc::new(SqliteStore::lazy(path)),
    }
}

/// A manager builder with every compiled-in language, the running executable as the worker
/// command (`EXE worker` with `POLYRUN_WORKER=1`) and [`variable_store`] for variables.
pub fn manager_builder() -> Result<ManagerBuilder, Error> {
    Ok(RuntimeManager::builder()
        .registry(registry())
        .worker_command(WorkerCommand::current_exe()?)
        .store(variable_store()))
}

/// Reads a pipeline definition (YAML, or JSON, which is YAML too) and the files its steps name,
/// relative to the definition's directory.
pub fn load_pipeline(path: impl AsRef<Path>) -> Result<Pipeline, Error> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::InvalidRequest(format!("cannot read {}: {e}", path.display())))?;
    let mut pipeline: Pipeline = serde_yaml_ng::from_str(&text)
        .map_err(|e| Error::InvalidRequest(format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    pipeline.resolve_files(base)?;
    Ok(pipeline)
}

/// [`manager_builder`], built with its defaults.
pub fn manager() -> Result<RuntimeManager, Error> {
    Ok(manager_builder()?.build())
}

/// Serves the worker protocol on stdin/stdout with every compiled-in language, until stdin
/// ends. This is what `polyrun worker` runs.
pub fn serve_worker() -> Result<(), Error> {
    polyrun_manager::confine::confine_process(&worker_policy());
    let stdin = std::io::stdin();
    polyrun_manager::worker_server::serve(registry(), stdin.lock(), std::io::stdout())
}

/// What a confined `polyrun worker` may touch: the artifact cache (read only) and its
/// compiled-module directory (a worker that is first to load a module compiles and caches it),
/// the time-zone files, `/dev/null`. See [`polyrun_manager::confine`].
pub fn worker_policy() -> polyrun_manager::confine::Policy {
    let cache = polyrun_packaging::Cache::from_env();
    let compiled = cache.compiled_dir();
    // Made now: once confined, the worker could not create it.
    let _ = std::fs::create_dir_all(&compiled);
    polyrun_manager::confine::Policy {
        read: vec![
            cache.root().to_path_buf(),
            "/etc/localtime".into(),
            "/usr/share/zoneinfo".into(),
        ],
        write: vec![compiled, "/dev/null".into()],
        data_bytes: polyrun_manager::confine::DEFAULT_DATA_BYTES,
    }
}

/// If this process was started as a polyrun worker (`POLYRUN_WORKER=1`), serves the worker
/// protocol and exits; otherwise returns at once. Call it first thing in `main` of programs
/// that use [`manager`] with worker isolation.
pub fn serve_worker_if_requested() {
    if std::env::var_os(polyrun_manager::WORKER_ENV).is_some_and(|v| v == "1") {
        let code = match serve_worker() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("polyrun worker: {e}");
                3
            }
        };
        std::process::exit(code);
    }
}
