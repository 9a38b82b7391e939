//! # polyrun-manager
//!
//! Drives polyrun's backends: a [`Registry`] of descriptors, lazy loading on first use, a warm
//! instance per language kept in an LRU (reset before reuse), [`Session`]s that keep guest state,
//! cancel handles, and two isolation levels:
//!
//! - [`Isolation::InProcess`]: each instance on a thread of its own in this process; limits are
//!   cooperative (the backend's own hook), backed by a watchdog that abandons an instance which
//!   does not stop within a grace period.
//! - [`Isolation::Worker`]: a `polyrun worker` process speaking JSON lines (see [`protocol`]);
//!   killed and replaced when it passes its hard deadline or dies, with a well-formed outcome
//!   either way.
//!
//! [`Isolation::Auto`] (the default) runs backends that can stop themselves and limit their own
//! memory in process, and the others (JavaScript on Boa) in a worker.
//!
//! ```no_run
//! use polyrun_manager::{RuntimeManager, RunSpec};
//! # fn registry() -> polyrun_engine::Registry { unimplemented!() }
//! let manager = RuntimeManager::builder().registry(registry()).build();
//! let result = manager
//!     .run(RunSpec::new("lua", "print('hi')").on_event(|e| println!("{e:?}")))
//!     .unwrap();
//! assert!(result.outcome.is_completed());
//! ```

pub mod alloc;
pub mod confine;
mod instance;
pub mod pipeline;
pub mod protocol;
mod watch;
mod worker_client;
pub mod worker_server;

use instance::{Instance, Waited};
use lru::LruCache;
use polyrun_engine::pool::BackendKey;
use polyrun_engine::{
    Error, Event, Helpers, Limits, LoadContext, LogLevel, MemoryStore, NoStdin, Outcome, Registry,
    RunContext, RunControl, RunIo, RunRequest, RuntimeDescriptor, RuntimeInfo, Stdin,
    VariableStore, VecStdin,
};
use serde::{Deserialize, Serialize};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use worker_client::Worker;
pub use worker_client::{WORKER_ENV, WorkerCommand};

/// Where a run executes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// In-process for backends that are preemptible and limit their own memory, worker
    /// otherwise (when a worker command is configured).
    #[default]
    Auto,
    /// On a thread of this process.
    InProcess,
    /// In a worker process.
    Worker,
}

type Sink = Arc<dyn Fn(Event) + Send + Sync>;

/// One run: what to run, how, and where its events go.
pub struct RunSpec {
    language: Option<String>,
    backend: Option<String>,
    request: RunRequest,
    isolation: Option<Isolation>,
    idempotency_key: Option<String>,
    stdin: Box<dyn Stdin>,
    sink: Sink,
    control: RunControl,
    input: serde_json::Value,
    namespace: Option<String>,
    context: Option<RunContext>,
}

impl std::fmt::Debug for RunSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunSpec")
            .field("language", &self.language)
            .field("backend", &self.backend)
            .field("request", &self.request)
            .field("isolation", &self.isolation)
            .finish_non_exhaustive()
    }
}

impl RunSpec {
    /// Runs `code` as `language` (an id, alias such as `js`, or extension).
    pub fn new(language: impl Into<String>, code: impl Into<String>) -> Self {
        let mut s = Self::code(code);
        s.language = Some(language.into());
        s
    }

    /// Runs `code`; the language comes from [`RunSpec::filename`]'s extension, or from the
    /// session it runs in.
    pub fn code(code: impl Into<String>) -> Self {
        RunSpec {
            language: None,
            backend: None,
            request: RunRequest::new(code),
            isolation: None,
            idempotency_key: None,
            stdin: Box::new(NoStdin),
            sink: Arc::new(|_| {}),
            control: RunControl::new(),
            input: serde_json::Value::Null,
            namespace: None,
            context: None,
        }
    }

    /// The backend to run on (`boa`, `rustpython`; see `polyrun langs`); default: the
    /// language's default. A backend the language does not have is
    /// [`Error::UnknownBackend`], naming the ones it has.
    pub fn backend(mut self, backend: impl Into<String>) -> Self {
        self.backend = Some(backend.into());
        self
    }

    /// The data `polyrun.input()` returns in the guest (default `null`).
    pub fn input(mut self, input: serde_json::Value) -> Self {
        self.input = input;
        self
    }

    /// The namespace of the variables the guest reads and writes (default
    /// [`polyrun_engine::helpers::DEFAULT_NAMESPACE`]).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// What `polyrun.event()` returns (default: a fresh run id, trigger `api`, now).
    pub fn context(mut self, context: RunContext) -> Self {
        self.context = Some(context);
        self
    }

    /// A file name for diagnostics; its extension picks the language if none was given.
    pub fn filename(mut self, name: impl Into<String>) -> Self {
        self.request.filename = Some(name.into());
        self
    }

    /// Limits for this run (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.request.limits = limits;
        self
    }

    /// Where the run executes (default: the manager's default).
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = Some(isolation);
        self
    }

    /// A key that makes the run idempotent on its worker: a repeated key returns the recorded
    /// result instead of running again. Implies worker isolation.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Standard input.
    pub fn stdin(mut self, stdin: impl Stdin + 'static) -> Self {
        self.stdin = Box::new(stdin);
        self
    }

    /// Standard input from a string.
    pub fn stdin_text(self, text: &str) -> Self {
        self.stdin(VecStdin::new(text))
    }

    /// Receives every event as it happens (called from the manager's threads).
    pub fn on_event(mut self, f: impl Fn(Event) + Send + Sync + 'static) -> Self {
        self.sink = Arc::new(f);
        self
    }

    /// Runs under `control` instead of a fresh one (e.g. a [`RunControl::child`] of a
    /// larger job's, so that stopping the job stops this run).
    pub fn with_control(mut self, control: RunControl) -> Self {
        self.control = control;
        self
    }

    /// The run's cancel handle: [`RunControl::cancel`] from any thread, any time.
    pub fn control(&self) -> RunControl {
        self.control.clone()
    }

    /// The request as it stands.
    pub fn request(&self) -> &RunRequest {
        &self.request
    }
}

/// What a run produced, besides its streamed events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Canonical language id.
    pub language: String,
    /// The backend that ran it.
    pub backend: String,
    /// How the run ended.
    pub outcome: Outcome,
    /// Where it ran.
    pub isolation: Isolation,
    /// Wall time from request to outcome.
    #[serde(with = "duration_ms", rename = "duration_ms")]
    pub duration: Duration,
    /// `true` when the outcome is the recorded one of an earlier run with the same
    /// idempotency key.
    pub replayed: bool,
    /// What the guest published last with `polyrun.output(value)`, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// How long a run that was told to stop (a cancel, its deadline, its caller gone) has to stop by
/// itself before it is stopped by force: the worker process killed, or a worker whose input
/// ended exiting. [`ManagerBuilder::grace`] changes it for a manager.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(250);
/// Builds a [`RuntimeManager`].
pub struct ManagerBuilder {
    registry: Registry,
    isolation: Isolation,
    worker: Option<WorkerCommand>,
    warm: usize,
    idle_workers: usize,
    grace: Duration,
    store: Arc<dyn VariableStore>,
}

impl std::fmt::Debug for ManagerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("registry", &self.registry)
            .field("isolation", &self.isolation)
            .finish_non_exhaustive()
    }
}

impl ManagerBuilder {
    /// Where the `polyrun` helpers keep variables (default: a [`MemoryStore`] of this manager;
    /// the `polyrun` facade uses SQLite in the cache directory).
    pub fn store(mut self, store: Arc<dyn VariableStore>) -> Self {
        self.store = store;
        self
    }

    /// The backends to offer.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Default isolation for runs that do not choose (default [`Isolation::Auto`]).
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// How to start worker processes. Without one, worker isolation is an error and
    /// [`Isolation::Auto`] stays in process.
    pub fn worker_command(mut self, cmd: WorkerCommand) -> Self {
        self.worker = Some(cmd);
        self
    }

    /// How many languages keep a warm in-process instance (default 4).
    pub fn warm_instances(mut self, n: usize) -> Self {
        self.warm = n;
        self
    }

    /// How many idle worker processes are kept for reuse (default 2).
    pub fn idle_workers(mut self, n: usize) -> Self {
        self.idle_workers = n;
        self
    }

    /// How long a run that must stop (deadline, cancel) may take to stop by itself before its
    /// instance is abandoned or its worker killed (default 250 ms).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The manager.
    pub fn build(self) -> RuntimeManager {
        RuntimeManager {
            inner: Arc::new(Inner {
                registry: self.registry,
                isolation: self.isolation,
                worker: self.worker,
                grace: self.grace,
                warm: Mutex::new(LruCache::new(
                    NonZeroUsize::new(self.warm.max(1)).expect("non-zero"),
                )),
                idle_workers: Mutex::new(Vec::new()),
                max_idle_workers: self.idle_workers,
                store: self.store,
                prepared: Mutex::default(),
            }),
        }
    }
}

struct Inner {
    registry: Registry,
    isolation: Isolation,
    worker: Option<WorkerCommand>,
    grace: Duration,
    warm: Mutex<LruCache<BackendKey, Instance>>,
    idle_workers: Mutex<Vec<Worker>>,
    max_idle_workers: usize,
    store: Arc<dyn VariableStore>,
    /// Backends whose artifacts are known to be in place (see `prepare_here`).
    prepared: Mutex<std::collections::HashSet<(&'static str, &'static str)>>,
}

/// The entry point: runs code in any registered language. Cheap to clone; `Send + Sync`, so
/// one manager serves many threads.
#[derive(Clone)]
pub struct RuntimeManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RuntimeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeManager")
            .field("languages", &self.inner.registry.ids())
            .field("isolation", &self.inner.isolation)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RuntimeManager {
    /// A builder with an empty registry, [`Isolation::Auto`] and no worker command.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder {
            registry: Registry::new(),
            isolation: Isolation::Auto,
            worker: None,
            warm: 4,
            idle_workers: 2,
            grace: DEFAULT_GRACE,
            store: Arc::new(MemoryStore::new()),
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Every backend of every language this manager can run (defaults marked).
    pub fn languages(&self) -> Vec<RuntimeInfo> {
        self.inner.registry.infos()
    }

    fn resolve(&self, spec: &RunSpec) -> Result<RuntimeDescriptor, Error> {
        self.inner
            .registry
            .find(
                spec.language.as_deref(),
                spec.request.filename.as_deref(),
                spec.backend.as_deref(),
            )
            .copied()
    }

    fn isolation_for(
        &self,
        desc: &RuntimeDescriptor,
        asked: Option<Isolation>,
    ) -> Result<Isolation, Error> {
        let caps = desc.capabilities;
        match asked.unwrap_or(self.inner.isolation) {
            Isolation::Auto => Ok(
                if (caps.preemptible && caps.memory_limit) || self.inner.worker.is_none() {
                    Isolation::InProcess
                } else {
                    Isolation::Worker
                },
            ),
            Isolation::Worker if self.inner.worker.is_none() => Err(Error::InvalidRequest(
                "worker isolation needs a worker command (ManagerBuilder::worker_command)".into(),
            )),
            other => Ok(other),
        }
    }

    /// The variable store of the `polyrun` helpers.
    pub fn store(&self) -> &Arc<dyn VariableStore> {
        &self.inner.store
    }

    fn io_for(&self, spec: &mut RunSpec) -> (RunIo, Arc<Helpers>) {
        let sink = spec.sink.clone();
        let stdin = std::mem::replace(&mut spec.stdin, Box::new(NoStdin));
        let mut helpers =
            Helpers::new(self.inner.store.clone()).with_input(std::mem::take(&mut spec.input));
        if let Some(ns) = spec.namespace.take() {
            helpers = helpers.with_namespace(ns);
        }
        if let Some(ctx) = spec.context.take() {
            helpers = helpers.with_context(ctx);
        }
        let helpers = Arc::new(helpers);
        let io = RunIo::new(
            move |e| sink(e),
            stdin,
            spec.control.clone(),
            spec.request.limits.output_bytes,
        )
        .with_host(helpers.clone());
        (io, helpers)
    }

    /// Runs `spec` to its end and returns the outcome; events stream to its callback as they
    /// happen. `Err` only for host failures (unknown language, a backend or worker that cannot
    /// start); every guest failure is an [`Outcome`].
    pub fn run(&self, mut spec: RunSpec) -> Result<RunResult, Error> {
        let started = Instant::now();
        let desc = self.resolve(&spec)?;
        let isolation = if spec.idempotency_key.is_some() {
            self.isolation_for(&desc, Some(Isolation::Worker))?
        } else {
            self.isolation_for(&desc, spec.isolation)?
        };
        let (io, helpers) = self.io_for(&mut spec);
        let (outcome, replayed) = match isolation {
            Isolation::Worker => {
                let key = spec.idempotency_key.as_deref();
                let run = self.run_in_worker(&desc, &spec.request, None, key, &io)?;
                (run.outcome, run.replayed)
            }
            _ => (self.run_in_process(&desc, spec.request, &io)?, false),
        };
        Ok(RunResult {
            language: desc.id.to_string(),
            backend: desc.backend.to_string(),
            outcome,
            isolation,
            duration: started.elapsed(),
            replayed,
            output: helpers.output(),
        })
    }

    fn take_instance(&self, desc: &RuntimeDescriptor, io: &RunIo) -> Result<Instance, Error> {
        if let Some(inst) = lock(&self.inner.warm).pop(&(desc.id, desc.backend)) {
            return Ok(inst);
        }
        Self::spawn_instance(desc, io)
    }

    fn spawn_instance(desc: &RuntimeDescriptor, io: &RunIo) -> Result<Instance, Error> {
        let progress = io.clone();
        Instance::spawn(
            desc,
            LoadContext::with_progress(Arc::new(move |e| progress.forward(e))),
        )
    }

    fn run_in_process(
        &self,
        desc: &RuntimeDescriptor,
        request: RunRequest,
        io: &RunIo,
    ) -> Result<Outcome, Error> {
        let mut inst = self.take_instance(desc, io)?;
        let mut waited = inst.run(request.clone(), io, self.inner.grace);
        if matches!(waited, Waited::Gone) {
            // The warm instance broke after its last run (a failed reset): use a new one.
            inst = Self::spawn_instance(desc, io)?;
            waited = inst.run(request, io, self.inner.grace);
        }
        match waited {
            Waited::Finished(result, reusable) => {
                if reusable && inst.reset_later() {
                    lock(&self.inner.warm).put(inst.key, inst);
                }
                result
            }
            Waited::Gone => Err(Error::Internal(format!(
                "the {} instance ended at once",
                desc.label()
            ))),
            Waited::Abandoned(outcome) => {
                io.log(
                    LogLevel::Warn,
                    format!(
                        "the {} instance did not stop within {} ms and was abandoned",
                        desc.id,
                        self.inner.grace.as_millis()
                    ),
                );
                Ok(outcome)
            }
        }
    }

    fn take_worker(&self) -> Result<Worker, Error> {
        let mut idle = lock(&self.inner.idle_workers);
        while let Some(mut w) = idle.pop() {
            if w.is_alive() {
                return Ok(w);
            }
        }
        drop(idle);
        self.spawn_worker()
    }

    fn return_worker(&self, mut worker: Worker) {
        if worker.is_alive() {
            let mut idle = lock(&self.inner.idle_workers);
            if idle.len() < self.inner.max_idle_workers {
                idle.push(worker);
            }
        }
    }

    fn run_in_worker(
        &self,
        desc: &RuntimeDescriptor,
        request: &RunRequest,
        session: Option<(&str, &mut Option<Worker>)>,
        key: Option<&str>,
        io: &RunIo,
    ) -> Result<worker_client::WorkerRun, Error> {
        self.prepare_here(desc, io)?;
        let r = self.run_on_worker(desc, request, session, key, io);
        // A worker killed by its confinement may have needed what is no longer in the cache
        // (deleted under a long-running host): look again before the next run.
        if let Ok(run) = &r
            && matches!(&run.outcome, Outcome::Crashed { reason }
                if reason.starts_with(confine::KILLED_BY_CONFINEMENT))
        {
            lock(&self.inner.prepared).remove(&(desc.id, desc.backend));
        }
        r
    }

    fn run_on_worker(
        &self,
        desc: &RuntimeDescriptor,
        request: &RunRequest,
        session: Option<(&str, &mut Option<Worker>)>,
        key: Option<&str>,
        io: &RunIo,
    ) -> Result<worker_client::WorkerRun, Error> {
        match session {
            Some((name, slot)) => {
                let mut worker = match slot.take().and_then(|mut w| w.is_alive().then_some(w)) {
                    Some(w) => w,
                    None => self.spawn_worker()?,
                };
                let r = worker.run(desc, request, Some(name), key, io, self.inner.grace);
                if worker.is_alive() {
                    *slot = Some(worker);
                }
                r
            }
            None => {
                // One retry: an idle worker may have died since it was parked.
                let mut worker = self.take_worker()?;
                let r = match worker.run(desc, request, None, key, io, self.inner.grace) {
                    Err(Error::Worker(_)) if !worker.is_alive() => {
                        worker = self.spawn_worker()?;
                        worker.run(desc, request, None, key, io, self.inner.grace)
                    }
                    r => r,
                };
                self.return_worker(worker);
                r
            }
        }
    }

    /// Fetches, builds or compiles what `desc` still needs, in this process, before a worker
    /// runs it (see [`polyrun_engine::Prepare::ready`]); progress goes to the run. Once ready,
    /// a backend is not checked again; concurrent first uses wait for one preparation.
    fn prepare_here(&self, desc: &RuntimeDescriptor, io: &RunIo) -> Result<(), Error> {
        let Some(prepare) = desc.prepare else {
            return Ok(());
        };
        let mut prepared = lock(&self.inner.prepared);
        if prepared.contains(&(desc.id, desc.backend)) {
            return Ok(());
        }
        if !(prepare.ready)() {
            let progress = io.clone();
            let ctx =
                polyrun_engine::LoadContext::with_progress(Arc::new(move |e| progress.forward(e)));
            (prepare.run)(&ctx)?;
        }
        prepared.insert((desc.id, desc.backend));
        Ok(())
    }

    fn spawn_worker(&self) -> Result<Worker, Error> {
        let cmd = self
            .inner
            .worker
            .as_ref()
            .ok_or_else(|| Error::InvalidRequest("no worker command configured".into()))?;
        Worker::spawn(cmd)
    }

    /// Process ids of the idle worker processes (for diagnostics and tests).
    pub fn idle_worker_pids(&self) -> Vec<u32> {
        lock(&self.inner.idle_workers)
            .iter()
            .map(|w| w.pid())
            .collect()
    }

    /// A session: runs in it share guest state (globals, functions) until [`Session::reset`].
    /// The backend loads on the session's first run. A language without sessions
    /// (`capabilities.sessions == false`, e.g. PHP) is an [`Error::InvalidRequest`].
    pub fn session(&self, language: &str, isolation: Option<Isolation>) -> Result<Session, Error> {
        self.session_on(language, None, isolation)
    }

    /// [`RuntimeManager::session`] on a chosen backend (`None`: the language's default).
    pub fn session_on(
        &self,
        language: &str,
        backend: Option<&str>,
        isolation: Option<Isolation>,
    ) -> Result<Session, Error> {
        let desc = *self.inner.registry.resolve(language, backend)?;
        if !desc.capabilities.sessions {
            return Err(Error::InvalidRequest(format!(
                "{} ({}) runs each program in a fresh interpreter: it has no sessions",
                desc.name, desc.backend
            )));
        }
        let isolation = self.isolation_for(&desc, isolation)?;
        Ok(Session {
            manager: self.clone(),
            desc,
            isolation,
            instance: None,
            worker: None,
            name: "session".into(),
            lost: false,
        })
    }
}

/// Guest state that survives between runs. Runs of one session are sequential (`&mut self`).
pub struct Session {
    manager: RuntimeManager,
    desc: RuntimeDescriptor,
    isolation: Isolation,
    instance: Option<Instance>,
    worker: Option<Worker>,
    name: String,
    /// The previous run had to be abandoned or its worker died: state is gone.
    lost: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("language", &self.desc.id)
            .field("isolation", &self.isolation)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session's language id.
    pub fn language(&self) -> &'static str {
        self.desc.id
    }

    /// The session's backend.
    pub fn backend(&self) -> &'static str {
        self.desc.backend
    }

    /// Where its runs execute.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// Runs `spec` in this session (its language and isolation are the session's).
    pub fn run(&mut self, mut spec: RunSpec) -> Result<RunResult, Error> {
        let started = Instant::now();
        let (io, helpers) = self.manager.io_for(&mut spec);
        if std::mem::take(&mut self.lost) {
            io.log(
                LogLevel::Warn,
                "the session's earlier state was lost when its previous run had to be stopped by force",
            );
        }
        let grace = self.manager.inner.grace;
        let outcome = match self.isolation {
            Isolation::Worker => {
                let run = self.manager.run_in_worker(
                    &self.desc,
                    &spec.request,
                    Some((&self.name, &mut self.worker)),
                    None,
                    &io,
                )?;
                // A worker that did not survive the run took the session's state with it.
                self.lost = self.worker.is_none();
                run.outcome
            }
            _ => {
                let inst = match self.instance.take() {
                    Some(i) => i,
                    None => self.manager.take_instance(&self.desc, &io)?,
                };
                match inst.run(spec.request, &io, grace) {
                    Waited::Finished(r, reusable) => {
                        if reusable {
                            self.instance = Some(inst);
                        } else {
                            self.lost = true;
                        }
                        r?
                    }
                    Waited::Abandoned(outcome) => {
                        self.lost = true;
                        outcome
                    }
                    Waited::Gone => {
                        self.lost = true;
                        return Err(Error::Internal("the session's instance has ended".into()));
                    }
                }
            }
        };
        Ok(RunResult {
            language: self.desc.id.to_string(),
            backend: self.desc.backend.to_string(),
            outcome,
            isolation: self.isolation,
            duration: started.elapsed(),
            replayed: false,
            output: helpers.output(),
        })
    }

    /// Forgets all guest state; the next run starts fresh.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.lost = false;
        if let Some(inst) = &self.instance
            && inst.reset_now().is_err()
        {
            self.instance = None;
        }
        if let Some(w) = &mut self.worker {
            w.end_session(&self.name);
        }
        Ok(())
    }
}
