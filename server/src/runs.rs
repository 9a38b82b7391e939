//! Runs: their event logs, the queue and the slots they execute in, cancel, stdin, sessions,
//! idempotency keys, retention and shutdown. Who may start a run is [`crate::admission`]'s
//! decision; the request and response types are in [`crate::model`], the errors in
//! [`crate::error`].

use crate::Config;
use crate::admission::{Admission, TokenSlot};
use crate::auth::Principal;
use crate::error::Refused;
use crate::lock;
use crate::metrics::Metrics;
use crate::model::{Record, RunBody, RunEvent, RunView, Status, token_namespace};
use crate::sessions::{SessionSlot, Sessions};
use polyrun_engine::{Event, Limits, Outcome, RunControl, Stdin};
use polyrun_manager::{Isolation, RunResult, RunSpec, RuntimeManager};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, watch};

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct RunInner {
    status: Status,
    /// (seq, JSON text), oldest first; bounded by `Config::event_log`.
    records: VecDeque<(u64, Arc<str>)>,
    next_seq: u64,
    stdout: String,
    stderr: String,
    outcome: Option<Outcome>,
    reason: Option<String>,
    started: Option<(SystemTime, Instant)>,
    finished: Option<SystemTime>,
    duration_ms: Option<u64>,
    /// What the guest published with `polyrun.output`.
    output: Option<serde_json::Value>,
    /// The `outcome` event is in the log.
    ended: bool,
}

/// One run and everything known about it.
pub struct Run {
    /// Its id (a UUID).
    pub id: String,
    /// Whose it is.
    pub owner: Principal,
    /// Canonical language id.
    pub language: String,
    /// The backend that runs it.
    pub backend: String,
    /// The limits it runs under.
    pub limits: Limits,
    /// Its session, if any.
    pub session: Option<String>,
    /// Its idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// Whether stdin stays open for more lines.
    pub interactive: bool,
    fingerprint: u64,
    created: SystemTime,
    created_at: Instant,
    control: RunControl,
    cancel_requested: AtomicBool,
    cancel_reason: Mutex<Option<String>>,
    stdin_tx: Mutex<Option<mpsc::Sender<Option<String>>>>,
    /// Bytes of interactive input sent and not read yet (at most [`MAX_PENDING_STDIN_BYTES`]).
    stdin_pending: AtomicUsize,
    /// The token's concurrency slot, held until the run ends.
    permit: Mutex<Option<TokenSlot>>,
    inner: Mutex<RunInner>,
    cap: usize,
    seq: watch::Sender<u64>,
}

/// The events a client has not seen yet.
pub struct Backlog {
    /// Events after the requested sequence number were dropped from the bounded log: the
    /// first one still available.
    pub gap_until: Option<u64>,
    /// (seq, JSON) in order.
    pub records: Vec<(u64, Arc<str>)>,
    /// The run has ended (its `outcome` event is the last record).
    pub finished: bool,
}

impl Run {
    /// Appends an event; subscribers wake up.
    pub fn push(&self, event: RunEvent) {
        let mut inner = lock(&self.inner);
        let seq = inner.next_seq;
        inner.next_seq += 1;
        match &event {
            RunEvent::Guest(Event::Stdout { text }) => inner.stdout.push_str(text),
            RunEvent::Guest(Event::Stderr { text }) => inner.stderr.push_str(text),
            RunEvent::Status { status, .. } => inner.status = *status,
            RunEvent::Outcome { outcome, .. } => {
                inner.outcome = Some(outcome.clone());
                inner.ended = true;
            }
            _ => {}
        }
        let json = serde_json::to_string(&Record {
            seq,
            ts_ms: unix_ms(SystemTime::now()),
            event: &event,
        })
        .expect("events serialise");
        inner.records.push_back((seq, json.into()));
        while inner.records.len() > self.cap {
            inner.records.pop_front();
        }
        drop(inner);
        self.seq.send_replace(seq);
    }

    /// Events after `after` (0 = from the start).
    pub fn backlog(&self, after: u64) -> Backlog {
        let inner = lock(&self.inner);
        let first = inner.records.front().map_or(inner.next_seq, |r| r.0);
        Backlog {
            gap_until: (after.saturating_add(1) < first).then_some(first),
            records: inner
                .records
                .iter()
                .filter(|r| r.0 > after)
                .cloned()
                .collect(),
            finished: inner.ended,
        }
    }

    /// `true` once the `outcome` event is in the log.
    pub fn is_finished(&self) -> bool {
        lock(&self.inner).ended
    }

    /// Wakes when new events arrive.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.seq.subscribe()
    }

    /// The current status.
    pub fn status(&self) -> Status {
        lock(&self.inner).status
    }

    /// Asks the run to stop (queued: it never starts; running: the guest is stopped).
    /// `false` if it had already ended.
    pub fn cancel(&self, reason: &str) -> bool {
        if self.status().is_final() {
            return false;
        }
        lock(&self.cancel_reason).get_or_insert_with(|| reason.to_string());
        self.cancel_requested.store(true, Ordering::SeqCst);
        self.control.cancel();
        true
    }

    /// Sends lines of standard input, then the end of input when `eof`: all of them, or none
    /// when the run does not take more input or would then hold more than
    /// [`MAX_PENDING_STDIN_BYTES`] it has not read.
    pub fn send_stdin(&self, lines: Vec<String>, eof: bool) -> Result<(), StdinRefused> {
        let tx = lock(&self.stdin_tx);
        let tx = tx.as_ref().ok_or(StdinRefused::Closed)?;
        let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
        let pending = self.stdin_pending.load(Ordering::SeqCst);
        if pending + bytes > MAX_PENDING_STDIN_BYTES {
            return Err(StdinRefused::Full { pending });
        }
        self.stdin_pending.fetch_add(bytes, Ordering::SeqCst);
        for line in lines {
            tx.send(Some(line)).map_err(|_| StdinRefused::Closed)?;
        }
        if eof {
            tx.send(None).map_err(|_| StdinRefused::Closed)?;
        }
        Ok(())
    }

    /// The run as `GET /v1/runs/{id}` shows it.
    pub fn view(&self) -> RunView {
        let inner = lock(&self.inner);
        RunView {
            id: self.id.clone(),
            language: self.language.clone(),
            backend: self.backend.clone(),
            status: inner.status,
            created_at_ms: unix_ms(self.created),
            started_at_ms: inner.started.map(|s| unix_ms(s.0)),
            finished_at_ms: inner.finished.map(unix_ms),
            duration_ms: inner.duration_ms,
            limits: self.limits.clone(),
            interactive: self.interactive,
            session: self.session.clone(),
            idempotency_key: self.idempotency_key.clone(),
            outcome: inner.outcome.clone(),
            output: inner.output.clone(),
            reason: inner.reason.clone(),
            stdout: inner.stdout.clone(),
            stderr: inner.stderr.clone(),
            last_seq: inner.next_seq - 1,
            events: format!("/v1/runs/{}/events", self.id),
            replayed: None,
        }
    }
}

/// Standard input from the request, then (interactive runs) from the client.
/// The most interactive input a run may hold unread, in bytes (the lines it was sent and has
/// not read yet); more is refused until it reads.
pub const MAX_PENDING_STDIN_BYTES: usize = 4 << 20;

/// Why a run did not take input.
#[derive(Debug, thiserror::Error)]
pub enum StdinRefused {
    /// Not interactive, ended, or its input closed.
    #[error("this run does not take more input (not interactive, ended, or input closed)")]
    Closed,
    /// It holds too much it has not read.
    #[error(
        "this run has {pending} bytes of input it has not read yet; it may hold at most {} (send more once it reads)",
        MAX_PENDING_STDIN_BYTES
    )]
    Full {
        /// Bytes sent and not read.
        pending: usize,
    },
}

struct ServerStdin {
    given: VecDeque<String>,
    rx: Option<mpsc::Receiver<Option<String>>>,
    run: Arc<Run>,
}

impl Stdin for ServerStdin {
    fn read_line(&mut self) -> Option<String> {
        if let Some(line) = self.given.pop_front() {
            return Some(line);
        }
        let rx = self.rx.as_ref()?;
        if self.run.control.check().is_some() {
            return None;
        }
        self.run.push(RunEvent::StdinRequest);
        // A stop of the run sends the end of input (registered at submit): no polling.
        match rx.recv() {
            Ok(Some(line)) => {
                self.run
                    .stdin_pending
                    .fetch_sub(line.len() + 1, Ordering::SeqCst);
                Some(line)
            }
            Ok(None) | Err(_) => {
                self.rx = None;
                None
            }
        }
    }
}

/// The server's state.
pub struct State {
    /// The manager runs execute on.
    pub manager: RuntimeManager,
    /// The configuration.
    pub config: Config,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    runs: Mutex<HashMap<String, Arc<Run>>>,
    finished: Mutex<VecDeque<String>>,
    idempotency: Mutex<HashMap<(Principal, String), String>>,
    sessions: Sessions,
    /// Accepted runs waiting for a slot, oldest first (started strictly in this order).
    queue: Mutex<VecDeque<Pending>>,
    queued: AtomicUsize,
    running: AtomicUsize,
    /// Accepted and not yet ended.
    pending: AtomicUsize,
    admission: Admission,
    shutting_down: AtomicBool,
    idle: Notify,
}

impl State {
    /// A server state over `manager`.
    pub fn new(manager: RuntimeManager, config: Config) -> Self {
        let admission = Admission::new(config.token_concurrency, config.token_runs_per_minute);
        State {
            queue: Mutex::default(),
            manager,
            config,
            metrics: Metrics::default(),
            runs: Mutex::default(),
            finished: Mutex::default(),
            idempotency: Mutex::default(),
            sessions: Sessions::default(),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            admission,
            shutting_down: AtomicBool::new(false),
            idle: Notify::new(),
        }
    }

    /// Admits a pipeline for `who`: it counts as one of the token's concurrent runs (and
    /// against its rate) until the returned permit drops.
    pub fn admit_pipeline(&self, who: &Principal) -> Result<TokenSlot, Refused> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(Refused::ShuttingDown);
        }
        self.admission.admit(who, &self.metrics)
    }

    /// Runs waiting for a slot, and runs executing.
    pub fn load(&self) -> (usize, usize) {
        (
            self.queued.load(Ordering::SeqCst),
            self.running.load(Ordering::SeqCst),
        )
    }

    /// A run `who` may see.
    pub fn get(&self, who: &Principal, id: &str) -> Option<Arc<Run>> {
        lock(&self.runs)
            .get(id)
            .filter(|r| r.owner == *who)
            .cloned()
    }

    /// Accepts a run (or finds the one its idempotency key names). `true` when it is new.
    pub fn submit(
        self: &Arc<Self>,
        who: &Principal,
        body: RunBody,
    ) -> Result<(Arc<Run>, bool), Refused> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(Refused::ShuttingDown);
        }
        let desc = *self
            .manager
            .registry()
            .resolve(&body.language, body.backend.as_deref())
            .map_err(|e| Refused::Engine(Box::new(e.to_wire())))?;
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            body.hash(&mut h);
            h.finish()
        };
        // Holding the idempotency map across the checks below makes a key's first use atomic.
        let mut keys = lock(&self.idempotency);
        if let Some(key) = &body.idempotency_key
            && let Some(run) = keys
                .get(&(who.clone(), key.clone()))
                .and_then(|id| lock(&self.runs).get(id).cloned())
        {
            if run.fingerprint != fingerprint {
                return Err(Refused::Conflict(format!(
                    "the idempotency key `{key}` was used for a different request (run {})",
                    run.id
                )));
            }
            return Ok((run, false));
        }
        self.admission.check(who, &self.metrics)?;
        let capacity = self.config.max_running + self.config.max_queued;
        if self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < capacity).then_some(n + 1)
            })
            .is_err()
        {
            self.metrics.rejected("queue_full");
            return Err(Refused::TooMany {
                message: format!(
                    "the queue is full ({} running, {} waiting)",
                    self.config.max_running, self.config.max_queued
                ),
                retry_after: Duration::from_secs(1),
            });
        }
        let slot = match &body.session {
            None => None,
            Some(name) => match self.session_slot(who, name, &desc) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                    return Err(e);
                }
            },
        };
        // Only submissions that would be accepted count against the rate.
        let permit = match self.admission.admit(who, &self.metrics) {
            Ok(permit) => permit,
            Err(refused) => {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                return Err(refused);
            }
        };

        let limits = body
            .limits
            .clone()
            .unwrap_or_default()
            .clamped(&self.config.max_limits);
        let (tx, rx) = mpsc::channel();
        let id = uuid::Uuid::new_v4().to_string();
        let mut spec = RunSpec::new(desc.id, body.code.clone())
            .backend(desc.backend)
            .limits(limits.clone())
            .isolation(Isolation::Worker)
            .input(body.input.clone().map(|j| j.0).unwrap_or_default())
            .namespace(token_namespace(who, body.namespace.as_deref()))
            .context(polyrun_engine::RunContext {
                run_id: id.clone(),
                ..polyrun_engine::RunContext::now("http")
            });
        if let Some(f) = &body.filename {
            spec = spec.filename(f.clone());
        }
        if body.interactive {
            // A stop (cancel, deadline) answers a pending read with the end of input.
            let stop = tx.clone();
            spec.control().on_stop(move |_| {
                let _ = stop.send(None);
            });
        }
        let run = Arc::new(Run {
            id,
            owner: who.clone(),
            language: desc.id.to_string(),
            backend: desc.backend.to_string(),
            limits,
            session: body.session.clone(),
            idempotency_key: body.idempotency_key.clone(),
            interactive: body.interactive,
            fingerprint,
            created: SystemTime::now(),
            created_at: Instant::now(),
            control: spec.control(),
            cancel_requested: AtomicBool::new(false),
            cancel_reason: Mutex::new(None),
            stdin_tx: Mutex::new(body.interactive.then_some(tx)),
            stdin_pending: AtomicUsize::new(0),
            permit: Mutex::new(Some(permit)),
            inner: Mutex::new(RunInner {
                status: Status::Queued,
                records: VecDeque::new(),
                next_seq: 1,
                stdout: String::new(),
                stderr: String::new(),
                outcome: None,
                reason: None,
                started: None,
                finished: None,
                duration_ms: None,
                output: None,
                ended: false,
            }),
            cap: self.config.event_log.max(4),
            seq: watch::Sender::new(0),
        });
        let stdin = ServerStdin {
            given: body
                .stdin
                .as_deref()
                .map(|s| s.lines().map(str::to_owned).collect())
                .unwrap_or_default(),
            rx: body.interactive.then_some(rx),
            run: run.clone(),
        };
        let sink = run.clone();
        let spec = spec
            .stdin(stdin)
            .on_event(move |e| sink.push(RunEvent::Guest(e)));
        run.push(RunEvent::Status {
            status: Status::Queued,
            reason: None,
        });
        lock(&self.runs).insert(run.id.clone(), run.clone());
        if let Some(key) = &body.idempotency_key {
            keys.insert((who.clone(), key.clone()), run.id.clone());
        }
        drop(keys);
        tracing::info!(run = %run.id, language = %run.language, token = %who.0, "run queued");
        {
            let mut queue = lock(&self.queue);
            queue.push_back(Pending {
                run: run.clone(),
                spec,
                slot,
            });
            self.queued.store(queue.len(), Ordering::SeqCst);
        }
        self.pump();
        Ok((run, true))
    }

    fn session_slot(
        &self,
        who: &Principal,
        name: &str,
        desc: &polyrun_engine::RuntimeDescriptor,
    ) -> Result<Arc<SessionSlot>, Refused> {
        self.sessions.slot(
            who,
            name,
            desc,
            &self.manager,
            self.config.token_sessions,
            &self.metrics,
        )
    }

    /// Ends a session (its guest state is dropped). `false` if there was none.
    pub fn end_session(&self, who: &Principal, name: &str) -> bool {
        self.sessions.end(who, name)
    }

    fn finish(&self, run: &Run, result: Result<RunResult, polyrun_engine::Error>) {
        let (outcome, duration, output) = match result {
            Ok(r) => (r.outcome, r.duration, r.output),
            Err(e) => (
                Outcome::Crashed {
                    reason: format!("host error: {e}"),
                },
                Duration::ZERO,
                None,
            ),
        };
        let (status, mut reason) = Status::of(&outcome);
        if status == Status::Cancelled {
            reason = lock(&run.cancel_reason).clone();
        }
        let duration_ms = duration.as_millis() as u64;
        {
            let mut inner = lock(&run.inner);
            inner.finished = Some(SystemTime::now());
            inner.duration_ms = Some(duration_ms);
            inner.reason = reason.clone();
            inner.output = output.clone();
        }
        *lock(&run.stdin_tx) = None;
        run.push(RunEvent::Status {
            status,
            reason: reason.clone(),
        });
        run.push(RunEvent::Outcome {
            status,
            outcome,
            reason: reason.clone(),
            duration_ms,
            output,
        });
        let latency = run.created_at.elapsed();
        self.metrics.finished(&run.language, status, latency);
        tracing::info!(
            run = %run.id,
            language = %run.language,
            status = status.as_str(),
            reason = reason.as_deref().unwrap_or(""),
            duration_ms,
            latency_ms = latency.as_millis() as u64,
            "run ended"
        );
        // The token's slot goes back (the run's permit is dropped).
        lock(&run.permit).take();
        self.retire(&run.id);
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Keeps at most `retain_runs` ended runs.
    fn retire(&self, id: &str) {
        let mut finished = lock(&self.finished);
        finished.push_back(id.to_string());
        while finished.len() > self.config.retain_runs {
            let Some(old) = finished.pop_front() else {
                break;
            };
            let run = lock(&self.runs).remove(&old);
            if let Some(key) = run.as_ref().and_then(|r| r.idempotency_key.as_ref()) {
                let owner = run.as_ref().map(|r| r.owner.clone()).expect("run present");
                lock(&self.idempotency).remove(&(owner, key.clone()));
            }
        }
    }

    /// Stops taking runs, cancels queued ones, waits `shutdown_grace` for running ones, then
    /// cancels them and waits for them to end.
    pub async fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let runs: Vec<Arc<Run>> = lock(&self.runs).values().cloned().collect();
        tracing::info!(
            queued = self.queued.load(Ordering::SeqCst),
            running = self.running.load(Ordering::SeqCst),
            "shutting down"
        );
        for r in &runs {
            if r.status() == Status::Queued {
                self.cancel(r, "server shutting down");
            }
        }
        if !self.wait_idle(self.config.shutdown_grace).await {
            for r in &runs {
                self.cancel(r, "server shutting down");
            }
            self.wait_idle(Duration::from_secs(30)).await;
        }
        self.sessions.clear();
    }

    async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.idle.notified();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.pending.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

/// A run waiting for a slot.
struct Pending {
    run: Arc<Run>,
    spec: RunSpec,
    slot: Option<Arc<SessionSlot>>,
}

impl State {
    /// Starts queued runs, oldest first, while slots are free.
    fn pump(self: &Arc<Self>) {
        let mut queue = lock(&self.queue);
        while self.running.load(Ordering::SeqCst) < self.config.max_running {
            let Some(next) = queue.pop_front() else {
                break;
            };
            self.running.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(execute(self.clone(), next));
        }
        self.queued.store(queue.len(), Ordering::SeqCst);
    }

    /// Cancels a run: a queued one leaves the queue and ends at once, a running one is stopped.
    /// `false` if it had already ended.
    pub fn cancel(&self, run: &Arc<Run>, reason: &str) -> bool {
        if !run.cancel(reason) {
            return false;
        }
        let removed = {
            let mut queue = lock(&self.queue);
            let at = queue.iter().position(|p| Arc::ptr_eq(&p.run, run));
            let removed = at.and_then(|i| queue.remove(i));
            self.queued.store(queue.len(), Ordering::SeqCst);
            removed
        };
        if removed.is_some() {
            self.finish(run, Ok(cancelled_result(run)));
        }
        true
    }
}

/// Runs a dequeued run in a worker, records the end, and starts the next queued one.
async fn execute(state: Arc<State>, pending: Pending) {
    let Pending { run, spec, slot } = pending;
    if run.cancel_requested.load(Ordering::SeqCst) {
        state.running.fetch_sub(1, Ordering::SeqCst);
        state.finish(&run, Ok(cancelled_result(&run)));
        state.pump();
        return;
    }
    lock(&run.inner).started = Some((SystemTime::now(), Instant::now()));
    run.push(RunEvent::Status {
        status: Status::Running,
        reason: None,
    });
    let manager = state.manager.clone();
    let result = tokio::task::spawn_blocking(move || match slot {
        None => manager.run(spec),
        Some(slot) => {
            let mut guard = lock(&slot.session);
            let r = match guard.as_mut() {
                Some(s) => s.run(spec),
                None => Err(polyrun_engine::Error::Internal("the session ended".into())),
            };
            *lock(&slot.last_used) = Instant::now();
            r
        }
    })
    .await
    .unwrap_or_else(|e| Err(polyrun_engine::Error::Internal(format!("run task: {e}"))));
    state.running.fetch_sub(1, Ordering::SeqCst);
    state.finish(&run, result);
    state.pump();
}

fn cancelled_result(run: &Run) -> RunResult {
    RunResult {
        language: run.language.clone(),
        backend: run.backend.clone(),
        outcome: Outcome::Cancelled,
        isolation: Isolation::Worker,
        duration: Duration::ZERO,
        replayed: false,
        output: None,
    }
}

/// Ends sessions idle for longer than `Config::session_idle`.
pub async fn janitor(state: Arc<State>) {
    let every =
        (state.config.session_idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    loop {
        tokio::time::sleep(every).await;
        state.sessions.expire(state.config.session_idle);
    }
}
