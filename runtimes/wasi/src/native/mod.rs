//! The native host: wasmtime 48 with wasmtime-wasi's preview 1.
//!
//! - **One engine** per process (epoch interruption on), and an epoch ticker thread.
//! - **Compiled modules cached on disk**, keyed by the module's sha256, the wasmtime version and
//!   the engine's compatibility hash, each with a sha256 sidecar checked before the (unsafe)
//!   memory-mapped load. Compiling a big module takes about a minute: [`compile_or_load`]
//!   reports progress while it does.
//! - **Limits**: the run's [`RunControl`] is polled from the epoch callback (deadline, cancel,
//!   output limit) and a `ResourceLimiter` caps linear memory; both trap the guest, which guest
//!   code cannot catch. A store that trapped is never reused ([`WasiInstance::poisoned`]).
//! - **Sleeps** (`poll_oneoff` on clocks) wait on the run's control, so a sleeping guest stops
//!   on time too; `proc_exit` keeps every status (wasmtime-wasi rejects 126 and more).
//! - **Stdio** goes to the current run's `RunIo` as the guest writes it; stdin reads lines from
//!   the run's input on demand.

mod preinit;
mod streams;
mod waits;

pub use preinit::{
    Preinit, compile_preinitialized_cached, is_preinitialized, shared_preinitialized_module,
};

use crate::{CallError, HandleTable, IoSlot, WasiConfig, WasiInstance, WasiModule};
use polyrun_engine::{Error, Interrupt, LimitKind, LoadContext, RunControl};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use streams::Streams;
use wasmtime::{
    Caller, Config, Engine, Instance, Linker, Memory, ResourceLimiter, Store, UpdateDeadline, Val,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

/// A compiled module (wasmtime's).
pub use wasmtime::Module;

/// The wasmtime version compiled modules are valid for (the major version pins the format;
/// the compatibility hash pins the rest).
pub const WASMTIME_VERSION: &str = "48";

/// How often the engine's epoch advances: the granularity of deadlines and cancels.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The shared engine: cranelift, epoch interruption, a generous wasm stack.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(8 << 20);
        // wasmtime-wasi enables async support, whose stacks must be the larger.
        config.async_stack_size(9 << 20);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        // WebAssembly exception handling (the final `exnref` encoding): php.wasm's
        // setjmp/longjmp are lowered to it. wasmtime implements it on its GC support.
        config.wasm_exceptions(true);
        // A pre-initialised module's memory image (Ruby's booted VM: ~70 MB, much of it zero)
        // is mapped copy-on-write at instantiation only when wasmtime makes an image of it,
        // which for sparse data it does up to this size; beyond, every instance would copy
        // the data in (~10 ms for Ruby's).
        config.memory_guaranteed_dense_image_size(256 << 20);
        let engine = Engine::new(&config).expect("the wasmtime configuration is valid");
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("polyrun-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("spawn the epoch ticker");
        engine
    })
}

/// A `Hasher` that feeds sha256, for a stable digest of the engine's compatibility hash.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file name a compiled module is cached under: valid only for the same module, wasmtime
/// version and engine configuration.
pub fn compiled_name(module_sha256: &str) -> String {
    use std::hash::Hash;
    let mut h = ShaHasher(Sha256::new());
    engine().precompile_compatibility_hash().hash(&mut h);
    let config = format!("{:016x}", h.finish());
    format!("{module_sha256}-wasmtime{WASMTIME_VERSION}-{config}.cwasm")
}

/// `true` when the module cache holds the compiled form of the module whose sha256 is
/// `module_sha256` (a cheap check of two files; loading verifies the checksum).
pub fn is_compiled(module_sha256: &str) -> bool {
    let cwasm = polyrun_packaging::Cache::from_env()
        .compiled_dir()
        .join(compiled_name(module_sha256));
    cwasm.is_file() && cwasm.with_extension("cwasm.sha256").is_file()
}

fn wasi_err(language: &str) -> impl Fn(wasmtime::Error) -> Error + '_ {
    move |e| Error::Load {
        language: language.to_string(),
        message: format!("{e:#}"),
    }
}

/// How a compiled module was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compiled {
    /// Loaded from the on-disk cache (memory-mapped).
    FromCache,
    /// Compiled now and written to the cache.
    CompiledNow(Duration),
    /// Compiled by another process, which this one waited for (so long), then loaded.
    Waited(Duration),
}

impl std::fmt::Display for Compiled {
    /// The line `polyrun fetch` prints for it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compiled::FromCache => f.write_str("compiled module: already cached"),
            Compiled::CompiledNow(t) => {
                write!(f, "compiled module: compiled in {:.1} s", t.as_secs_f64())
            }
            Compiled::Waited(t) => write!(
                f,
                "compiled module: compiled by another process (waited {:.1} s)",
                t.as_secs_f64()
            ),
        }
    }
}

/// Per-store state: WASI, the memory limit, and a handle table for reactors using the old
/// canonical ABI's resources (ruby.wasm's `rb-abi-value`).
pub(crate) struct HostState {
    wasi: WasiP1Ctx,
    limiter: MemoryLimit,
    /// Guest values by handle: `resource_new` pushes, `resource_get` reads, `resource_drop`
    /// frees. Handles are indices; freed slots are reused.
    pub handles: HandleTable,
}

#[derive(Default)]
struct MemoryLimit {
    bytes: Option<usize>,
    control: Option<RunControl>,
}

/// Raised (as a trap) when a guest tries to grow past its memory limit.
#[derive(Debug)]
struct MemoryLimitHit;

impl std::fmt::Display for MemoryLimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("polyrun: memory limit exceeded")
    }
}

impl std::error::Error for MemoryLimitHit {}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if self.bytes.is_some_and(|limit| desired > limit) {
            if let Some(c) = &self.control {
                c.trip(Interrupt::Limit(LimitKind::Memory));
            }
            // A trap, not a failed grow: a failed grow becomes an exception the guest can rescue.
            return Err(MemoryLimitHit.into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// A compiled module with its linker, shared by every instance of one language.
pub struct WasmtimeModule {
    module: Module,
    linker: Linker<HostState>,
    language: String,
    /// Its instances start initialised ([`Preinit`]).
    preinitialized: bool,
}

impl std::fmt::Debug for WasmtimeModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeModule")
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// Compiled modules already loaded in this process, by module sha256.
fn loaded() -> &'static Mutex<HashMap<String, Module>> {
    static LOADED: OnceLock<Mutex<HashMap<String, Module>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// [`compile_or_load`] into the packaging cache's module directory, with progress to `ctx`.
pub fn compile_cached(
    ctx: &LoadContext,
    language: &str,
    wasm: &Path,
    sha256: &str,
) -> Result<(Module, Compiled), Error> {
    let dir = polyrun_packaging::Cache::from_env().compiled_dir();
    compile_or_load(language, wasm, sha256, &dir, &|msg, secs| {
        ctx.progress(msg, secs, None)
    })
}

/// The process's module for `language`, made on first use and shared by every instance:
/// `locate` gives the verified module file and its sha256 (fetching or building it when
/// needed), which is compiled or loaded from the module cache. Concurrent first uses wait for
/// one compile.
pub fn shared_module(
    ctx: &LoadContext,
    language: &'static str,
    locate: impl FnOnce() -> Result<(PathBuf, String), Error>,
) -> Result<Arc<WasmtimeModule>, Error> {
    process_module(language, || {
        let (path, sha256) = locate()?;
        let (compiled, _) = compile_cached(ctx, language, &path, &sha256)?;
        WasmtimeModule::new(language, compiled)
    })
}

/// The process's one module for `language`: made by `make` on first use (concurrent first uses
/// wait for it), then shared.
fn process_module(
    language: &'static str,
    make: impl FnOnce() -> Result<WasmtimeModule, Error>,
) -> Result<Arc<WasmtimeModule>, Error> {
    static MODULES: Mutex<Vec<(&'static str, Arc<WasmtimeModule>)>> = Mutex::new(Vec::new());
    let mut modules = MODULES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, m)) = modules.iter().find(|(l, _)| *l == language) {
        return Ok(m.clone());
    }
    let m = Arc::new(make()?);
    modules.push((language, m.clone()));
    Ok(m)
}

/// The compiled module at `cwasm` if it is there and whole (its sidecar checksum matches); a
/// damaged one is removed. Loaded modules are kept for the process.
fn load_compiled(language: &str, cwasm: &Path, sha256: &str) -> Result<Option<Module>, Error> {
    let sidecar = cwasm.with_extension("cwasm.sha256");
    let (Ok(expected), true) = (std::fs::read_to_string(&sidecar), cwasm.exists()) else {
        return Ok(None);
    };
    let expected = expected.trim();
    // The file is hashed whole when it changed since it was last found whole (a Ruby module
    // is ~100 MB: hashing it on every start was half of Ruby's cold start).
    let stamp = cwasm.with_extension("cwasm.verified");
    let now = file_stamp(cwasm, expected);
    if now.is_none() || std::fs::read_to_string(&stamp).ok() != now {
        let actual = polyrun_packaging::sha256_file(cwasm)?;
        if actual != expected {
            // Damaged: compiled again.
            let _ = std::fs::remove_file(cwasm);
            let _ = std::fs::remove_file(&stamp);
            return Ok(None);
        }
        if let Some(now) = now {
            let _ = std::fs::write(&stamp, now);
        }
    }
    // SAFETY: the file was written by `Module::serialize` of this wasmtime version and
    // configuration (its name says so) and its checksum matches what we wrote (checked now,
    // or when the file last changed: its size and modification time are as then).
    let module =
        unsafe { Module::deserialize_file(engine(), cwasm) }.map_err(wasi_err(language))?;
    loaded()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(sha256.to_string(), module.clone());
    Ok(Some(module))
}

/// What identifies `file`'s present content without reading it — its size and modification
/// time (ns) — with the checksum it was found to have; `None` where the platform says less.
fn file_stamp(file: &Path, sha256: &str) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{} {modified} {sha256}\n", meta.len()))
}

/// Loads (or compiles and caches) the module at `wasm` whose sha256 is `sha256`.
/// `progress(message, elapsed_seconds)` is called while a compile runs.
pub fn compile_or_load(
    language: &str,
    wasm: &Path,
    sha256: &str,
    compiled_dir: &Path,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<(Module, Compiled), Error> {
    let what = format!("compiling {language} (first use, up to a minute)");
    cache_module(language, sha256, compiled_dir, progress, &what, &|| {
        Module::from_file(engine(), wasm).map_err(wasi_err(language))
    })
}

/// The compiled module cached under `key` (a sha256): loaded, or made by `produce` (while
/// `progress` hears `what` every second) and written to the cache. One `produce` per key per
/// machine: a process that finds another one making it waits for it and loads what it wrote.
fn cache_module(
    language: &str,
    key: &str,
    compiled_dir: &Path,
    progress: &(dyn Fn(&str, u64) + Sync),
    what: &str,
    produce: &(dyn Fn() -> Result<Module, Error> + Sync),
) -> Result<(Module, Compiled), Error> {
    if let Some(m) = loaded().lock().unwrap_or_else(|p| p.into_inner()).get(key) {
        return Ok((m.clone(), Compiled::FromCache));
    }
    let err = wasi_err(language);
    let cwasm = compiled_dir.join(compiled_name(key));
    if let Some(module) = load_compiled(language, &cwasm, key)? {
        return Ok((module, Compiled::FromCache));
    }
    std::fs::create_dir_all(compiled_dir)?;
    let lock_path = compiled_dir.join(format!(".{}.lock", compiled_name(key)));
    let lock = std::fs::File::create(&lock_path)?;
    if lock.try_lock().is_err() {
        let started = Instant::now();
        progress(
            &format!("waiting for another process compiling {language}"),
            0,
        );
        lock.lock()?;
        if let Some(module) = load_compiled(language, &cwasm, key)? {
            return Ok((module, Compiled::Waited(started.elapsed())));
        }
    }
    let sidecar = cwasm.with_extension("cwasm.sha256");
    let started = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let module = std::thread::scope(|s| {
        s.spawn(|| {
            let mut last = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let secs = started.elapsed().as_secs();
                if secs != last {
                    last = secs;
                    progress(what, secs);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        progress(what, 0);
        let m = produce();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        m
    })?;
    let took = started.elapsed();

    let bytes = module.serialize().map_err(&err)?;
    std::fs::create_dir_all(compiled_dir)?;
    let tmp = compiled_dir.join(format!(".{}.tmp{}", compiled_name(key), std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, &cwasm)?;
    std::fs::write(&sidecar, hex(&Sha256::digest(&bytes)))?;
    loaded()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key.to_string(), module.clone());
    Ok((module, Compiled::CompiledNow(took)))
}

impl WasmtimeModule {
    /// A module with a linker holding WASI preview 1. Unknown imports trap when called.
    pub fn new(language: &str, module: Module) -> Result<Self, Error> {
        let err = wasi_err(language);
        let mut linker: Linker<HostState> = Linker::new(engine());
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut HostState| &mut s.wasi)
            .map_err(&err)?;
        Ok(WasmtimeModule {
            module,
            linker,
            language: language.to_string(),
            preinitialized: false,
        })
    }

    /// A new instance with its own store (what [`WasiModule::instantiate`] boxes).
    pub fn instantiate_wasmtime(
        &self,
        config: &WasiConfig,
        slot: &IoSlot,
    ) -> Result<WasmtimeInstance, Error> {
        let err = wasi_err(&self.language);
        let mut b = WasiCtxBuilder::new();
        b.stdin(slot.stdin())
            .stdout(slot.stdout())
            .stderr(slot.stderr())
            .args(&config.args);
        for (k, v) in &config.env {
            b.env(k, v);
        }
        for (host, guest) in &config.preopens {
            b.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadOnly)
                .map_err(&err)?;
        }
        let state = HostState {
            wasi: b.build_p1(),
            limiter: MemoryLimit::default(),
            handles: HandleTable::default(),
        };
        let mut store = Store::new(engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(u64::MAX / 2);
        let mut linker = self.linker.clone();
        waits::shadow(&mut linker, &mut store).map_err(&err)?;
        for resource in &config.resources {
            define_resource(&mut linker, resource).map_err(&err)?;
        }
        linker
            .define_unknown_imports_as_traps(&self.module)
            .map_err(&err)?;
        let instance = linker.instantiate(&mut store, &self.module).map_err(&err)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| err(wasmtime::format_err!("the module exports no memory")))?;
        Ok(WasmtimeInstance {
            store,
            instance,
            memory,
            poisoned: false,
            control: None,
            language: self.language.clone(),
        })
    }
}

impl WasiModule for WasmtimeModule {
    fn instantiate(
        &self,
        config: &WasiConfig,
        slot: &IoSlot,
    ) -> Result<Box<dyn WasiInstance>, Error> {
        Ok(Box::new(self.instantiate_wasmtime(config, slot)?))
    }

    fn preinitialized(&self) -> bool {
        self.preinitialized
    }
}

/// `canonical_abi.resource_new_NAME` and `resource_get_NAME` over the store's handle table.
fn define_resource(linker: &mut Linker<HostState>, name: &str) -> wasmtime::Result<()> {
    linker.func_wrap(
        "canonical_abi",
        &format!("resource_new_{name}"),
        |mut c: Caller<'_, HostState>, value: i32| -> i32 { c.data_mut().handles.insert(value) },
    )?;
    let what = name.to_string();
    linker.func_wrap(
        "canonical_abi",
        &format!("resource_get_{name}"),
        move |c: Caller<'_, HostState>, handle: i32| -> wasmtime::Result<i32> {
            c.data()
                .handles
                .get(handle)
                .ok_or_else(|| wasmtime::format_err!("unknown {what} handle {handle}"))
        },
    )?;
    Ok(())
}

/// One instance and its store. After any failed call it is poisoned and must be dropped.
pub struct WasmtimeInstance {
    store: Store<HostState>,
    instance: Instance,
    memory: Memory,
    poisoned: bool,
    control: Option<RunControl>,
    language: String,
}

impl std::fmt::Debug for WasmtimeInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeInstance")
            .field("language", &self.language)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl WasiInstance for WasmtimeInstance {
    fn poisoned(&self) -> bool {
        self.poisoned
    }

    fn memory_size(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    fn set_run(&mut self, control: Option<&RunControl>, memory_bytes: Option<u64>) {
        self.control = control.cloned();
        let limiter = &mut self.store.data_mut().limiter;
        limiter.control = control.cloned();
        limiter.bytes = memory_bytes.map(|m| usize::try_from(m).unwrap_or(usize::MAX));
        match control.cloned() {
            Some(c) => self
                .store
                .epoch_deadline_callback(move |_| match c.check() {
                    Some(i) => Err(wasmtime::Error::msg(format!("polyrun: {i}"))),
                    None => Ok(UpdateDeadline::Continue(1)),
                }),
            None => self
                .store
                .epoch_deadline_callback(|_| Ok(UpdateDeadline::Continue(1))),
        }
    }

    fn call(&mut self, name: &str, args: &[i32]) -> Result<Option<i32>, CallError> {
        if self.poisoned {
            return Err(CallError::Trap("the instance trapped earlier".into()));
        }
        let Some(f) = self.instance.get_func(&mut self.store, name) else {
            self.poisoned = true;
            return Err(CallError::Trap(format!("{name}: no such export")));
        };
        let params: Vec<Val> = args.iter().map(|&a| Val::I32(a)).collect();
        let mut results = vec![Val::I32(0); f.ty(&self.store).results().len()];
        // Re-armed before every call: a stale deadline would trap at once.
        self.store.set_epoch_deadline(1);
        match f.call(&mut self.store, &params, &mut results) {
            Ok(()) => match results.first() {
                None => Ok(None),
                Some(Val::I32(v)) => Ok(Some(*v)),
                Some(other) => Err(CallError::Trap(format!(
                    "{name} returned {other:?}, not an i32"
                ))),
            },
            Err(e) => {
                self.poisoned = true;
                if let Some(i) = self.control.as_ref().and_then(|c| c.interrupted()) {
                    return Err(CallError::Stopped(i));
                }
                if e.downcast_ref::<MemoryLimitHit>().is_some() {
                    return Err(CallError::Stopped(Interrupt::Limit(LimitKind::Memory)));
                }
                if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    return Err(CallError::Exit(exit.0));
                }
                Err(CallError::Trap(format!("{e:#}")))
            }
        }
    }

    fn read(&self, ptr: i32, len: i32) -> Result<Vec<u8>, CallError> {
        let (p, l) = (ptr as u32 as usize, len as u32 as usize);
        self.memory
            .data(&self.store)
            .get(p..p.saturating_add(l))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| CallError::Trap(format!("guest pointer {p}+{l} out of bounds")))
    }

    fn write(&mut self, ptr: i32, bytes: &[u8]) -> Result<(), CallError> {
        self.memory
            .write(&mut self.store, ptr as u32 as usize, bytes)
            .map_err(|e| CallError::Trap(e.to_string()))
    }

    fn take_handle(&mut self, handle: i32) -> Option<i32> {
        self.store.data_mut().handles.remove(handle)
    }
}
