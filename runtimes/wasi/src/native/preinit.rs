//! Pre-initialised modules (wasmtime-wizer): a module whose instances start where an instance of
//! the original stood after an expensive start-up (Ruby's VM boot, ~40 ms), so that a fresh
//! instance costs an instantiation — its memory mapped copy-on-write from the compiled module's
//! image — instead of the start-up.
//!
//! Made once per machine and cached like any compiled module, under a key of the original's
//! sha256 and the recipe's id: the original is instrumented (its globals and memory exported),
//! compiled, instantiated with the recipe's WASI configuration and initialised by the recipe's
//! own calls (which may use WASI: clocks, randomness, the arguments), then its globals and
//! memory become the new module's initial state. What an instance's start-up drew from the
//! host at that moment (random seeds, the time) is the same in every instance: a backend that
//! needs fresh randomness reseeds per run.

use super::{
    Compiled, Error, HostState, IoSlot, Module, WasiConfig, WasiInstance, WasmtimeModule,
    cache_module, engine, hex, wasi_err,
};
use polyrun_engine::LoadContext;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::{Instance, Store, Val};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

/// How a module is pre-initialised.
pub struct Preinit<'a> {
    /// Names the recipe: part of the cache key, so a changed recipe (another prelude, other
    /// arguments) makes a new module. Include everything `init` depends on.
    pub id: &'a str,
    /// The WASI configuration the initialisation runs with (instances of the result get
    /// their own when they are made).
    pub config: &'a WasiConfig,
    /// The start-up: calls on a fresh instance of the original module.
    pub init: &'a (dyn Fn(&mut dyn WasiInstance) -> Result<(), Error> + Sync),
}

/// The cache key of the module `preinit` makes from the original whose sha256 is `sha256`.
fn key(sha256: &str, preinit: &Preinit<'_>) -> String {
    let recipe = format!(
        "polyrun-preinit 2\nwasmtime-wizer {}\n{sha256}\n{}",
        super::WASMTIME_VERSION,
        preinit.id
    );
    hex(&Sha256::digest(recipe.as_bytes()))
}

/// `true` when the module cache holds the pre-initialised module `preinit` makes from the
/// original whose sha256 is `sha256`.
pub fn is_preinitialized(sha256: &str, preinit: &Preinit<'_>) -> bool {
    super::is_compiled(&key(sha256, preinit))
}

/// The pre-initialised module made from the original at `wasm` (sha256 `sha256`) by
/// `preinit`: from the module cache, or made now (with progress to `ctx`) and cached.
pub fn compile_preinitialized_cached(
    ctx: &LoadContext,
    language: &str,
    wasm: &Path,
    sha256: &str,
    preinit: &Preinit<'_>,
) -> Result<(Module, Compiled), Error> {
    let dir = polyrun_packaging::Cache::from_env().compiled_dir();
    let what = format!("compiling {language} (first use, up to two minutes)");
    cache_module(
        language,
        &key(sha256, preinit),
        &dir,
        &|msg, secs| ctx.progress(msg, secs, None),
        &what,
        &|| make(language, wasm, preinit),
    )
}

/// [`super::shared_module`] for a pre-initialised module: the process's module for
/// `language`, made on first use and shared by every instance.
pub fn shared_preinitialized_module(
    ctx: &LoadContext,
    language: &'static str,
    locate: impl FnOnce() -> Result<(PathBuf, String), Error>,
    preinit: &Preinit<'_>,
) -> Result<Arc<WasmtimeModule>, Error> {
    super::process_module(language, || {
        let (path, sha256) = locate()?;
        let (compiled, _) = compile_preinitialized_cached(ctx, language, &path, &sha256, preinit)?;
        let mut m = WasmtimeModule::new(language, compiled)?;
        m.preinitialized = true;
        Ok(m)
    })
}

/// Instruments, compiles, instantiates and initialises the original, then compiles its
/// snapshot.
fn make(language: &str, wasm: &Path, preinit: &Preinit<'_>) -> Result<Module, Error> {
    let err = wasi_err(language);
    let bytes = std::fs::read(wasm)?;
    let wizer = Wizer::new();
    let (cx, instrumented) = wizer.instrument(&bytes).map_err(&err)?;
    let module = Module::new(engine(), &instrumented).map_err(&err)?;
    let original = WasmtimeModule::new(language, module)?;
    let slot = IoSlot::new();
    let mut instance = original.instantiate_wasmtime(preinit.config, &slot)?;
    (preinit.init)(&mut instance)?;
    if instance.poisoned || !instance.store.data().handles.is_empty() {
        return Err(Error::Load {
            language: language.to_string(),
            message: "the start-up to snapshot left the instance trapped or holding handles".into(),
        });
    }
    let mut state = State {
        store: &mut instance.store,
        instance: instance.instance,
    };
    let snapshot = block_on(wizer.snapshot(&cx, &mut state)).map_err(&err)?;
    Module::new(engine(), &snapshot).map_err(&err)
}

/// What Wizer reads of the initialised instance: its (instrumented) exported globals and memory.
struct State<'a> {
    store: &'a mut Store<HostState>,
    instance: Instance,
}

impl InstanceState for State<'_> {
    fn global_get(
        &mut self,
        name: &str,
        _type_hint: ValType,
    ) -> impl Future<Output = SnapshotVal> + Send {
        // Wizer asks only for the globals its instrumentation exported.
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("the instrumented module exports its globals");
        let value = match global.get(&mut *self.store) {
            Val::I32(v) => SnapshotVal::I32(v),
            Val::I64(v) => SnapshotVal::I64(v),
            Val::F32(v) => SnapshotVal::F32(v),
            Val::F64(v) => SnapshotVal::F64(v),
            Val::V128(v) => SnapshotVal::V128(v.as_u128()),
            other => panic!("global {name} holds {other:?}, which a snapshot cannot"),
        };
        std::future::ready(value)
    }

    fn memory_contents(
        &mut self,
        name: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) -> impl Future<Output = ()> + Send {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("the instrumented module exports its memories");
        contents(memory.data(&*self.store));
        std::future::ready(())
    }
}

/// Runs a future that never waits on anything outside (Wizer's snapshot over [`State`], whose
/// futures are ready at once) to its end on this thread.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::super::compiled_name;
    use super::*;

    #[test]
    fn the_key_changes_with_the_module_and_the_recipe() {
        let config = WasiConfig::default();
        let init = |_: &mut dyn WasiInstance| Ok(());
        let a = Preinit {
            id: "boot 1",
            config: &config,
            init: &init,
        };
        let b = Preinit {
            id: "boot 2",
            config: &config,
            init: &init,
        };
        assert_ne!(key("aa", &a), key("bb", &a));
        assert_ne!(key("aa", &a), key("aa", &b));
        assert_eq!(key("aa", &a), key("aa", &a));
        assert!(compiled_name(&key("aa", &a)).ends_with(".cwasm"));
    }
}
