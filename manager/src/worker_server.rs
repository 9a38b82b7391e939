//! The worker process's side of the protocol: reads [`Command`]s from its input, runs them one
//! at a time on in-process instances, writes [`Message`]s to its output. `polyrun worker` calls
//! [`serve`] on stdin/stdout.

use crate::alloc;
use crate::protocol::HostReply;
use crate::protocol::{
    Command, EXIT_MEMORY_LIMIT, Message, PROTOCOL_VERSION, RunCommand, WorkerCapabilities,
};
use lru::LruCache;
use polyrun_engine::{
    Error, Event, Host, HostCall, Outcome, Pool, Registry, RunControl, RunIo, RunRequest, Stdin,
    drive,
};
use std::io::{BufRead, Write};
use std::num::NonZeroUsize;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Results remembered for idempotency keys.
const IDEMPOTENCY_CAPACITY: usize = 256;
/// Cancels of runs not started yet that a worker remembers (the oldest are forgotten: a caller
/// cancels what it queued, and a worker holds at most [`MAX_QUEUED`] runs).
const CANCEL_CAPACITY: usize = 4096;
/// Commands a worker holds behind the current run; a run past them is refused with an error.
pub const MAX_QUEUED: usize = 256;
/// Head-room above the memory limit for the process ceiling, so that backends with their own
/// (graceful) limit hit theirs first.
const CEILING_SLACK: usize = 32 << 20;

type Out = Arc<Mutex<Box<dyn Write + Send>>>;

fn send(out: &Out, msg: &Message) {
    let mut line = serde_json::to_string(msg).unwrap_or_else(|e| {
        format!(r#"{{"type":"error","id":null,"kind":"internal","message":"{e}"}}"#)
    });
    line.push('\n');
    let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
    // A broken pipe means the manager is gone; the read loop will see EOF and end.
    let _ = w.write_all(line.as_bytes());
    let _ = w.flush();
}

/// The run currently executing, as seen by the command-reading thread.
#[derive(Default)]
struct Current {
    id: Option<String>,
    control: Option<RunControl>,
    input: Option<mpsc::Sender<Option<String>>>,
    host: Option<mpsc::Sender<(u64, HostReply)>>,
}

/// stdin for a guest inside a worker: asks the manager for each line. A stop of the run
/// answers the pending read with the end of input.
struct ProtocolStdin {
    id: String,
    out: Out,
    rx: mpsc::Receiver<Option<String>>,
    control: RunControl,
}

impl Stdin for ProtocolStdin {
    fn read_line(&mut self) -> Option<String> {
        if self.control.check().is_some() {
            return None;
        }
        send(
            &self.out,
            &Message::InputRequest {
                id: self.id.clone(),
            },
        );
        self.rx.recv().ok().flatten()
    }
}

/// The call number of the reply a stop of the run sends to a pending helper call.
const STOPPED: u64 = u64::MAX;

/// The `polyrun` helpers of a guest inside a worker: every call goes to the manager, which owns
/// the run's input, output and variables.
struct ProtocolHost {
    id: String,
    out: Out,
    replies: Mutex<(u64, mpsc::Receiver<(u64, HostReply)>)>,
}

impl Host for ProtocolHost {
    fn call(&self, request: HostCall) -> Result<serde_json::Value, String> {
        let mut guard = self.replies.lock().unwrap_or_else(|p| p.into_inner());
        guard.0 += 1;
        let call = guard.0;
        send(
            &self.out,
            &Message::HostCall {
                id: self.id.clone(),
                call,
                request,
            },
        );
        loop {
            match guard.1.recv() {
                Ok((n, reply)) if n == call || n == STOPPED => return reply.into(),
                Ok(_) => {}
                Err(_) => return Err("the manager is gone".into()),
            }
        }
    }
}

struct Recorded {
    events: Vec<Event>,
    outcome: Outcome,
    duration_ms: u64,
}

struct Executor {
    /// Warm instances (reset once a run's `done` is out) and sessions.
    pool: Pool,
    out: Out,
    current: Arc<Mutex<Current>>,
    cancelled: Arc<Mutex<LruCache<String, ()>>>,
    recorded: LruCache<String, Recorded>,
}

impl Executor {
    fn error(&self, id: Option<String>, e: &Error) {
        send(
            &self.out,
            &Message::Error {
                id,
                error: e.to_wire(),
            },
        );
    }

    fn execute(&mut self, cmd: RunCommand) {
        let id = cmd.id.clone();
        if let Some(key) = &cmd.idempotency_key
            && let Some(rec) = self.recorded.get(key)
        {
            for event in &rec.events {
                send(
                    &self.out,
                    &Message::Event {
                        id: id.clone(),
                        event: event.clone(),
                    },
                );
            }
            send(
                &self.out,
                &Message::Done {
                    id,
                    outcome: rec.outcome.clone(),
                    duration_ms: rec.duration_ms,
                    replayed: true,
                    retiring: false,
                },
            );
            return;
        }
        let desc = match cmd.run.resolve(self.pool.registry()) {
            Ok(d) => *d,
            Err(e) => return self.error(Some(id), &e),
        };

        let control = RunControl::new();
        if self
            .cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop(&id)
            .is_some()
        {
            control.cancel();
        }
        let (input_tx, input_rx) = mpsc::channel();
        let (host_tx, host_rx) = mpsc::channel();
        // A stop answers a pending stdin read (end of input) and helper call (an error).
        let (stop_input, stop_host) = (input_tx.clone(), host_tx.clone());
        control.on_stop(move |i| {
            let _ = stop_input.send(None);
            let _ = stop_host.send((STOPPED, HostReply::Error(format!("polyrun: {i}"))));
        });
        {
            let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
            *cur = Current {
                id: Some(id.clone()),
                control: Some(control.clone()),
                input: Some(input_tx),
                host: Some(host_tx),
            };
        }

        let request = cmd.run.request();
        let limits = &request.limits;
        let record = cmd.idempotency_key.is_some();
        let events = Arc::new(Mutex::new(Vec::new()));
        let (out, ev, eid) = (self.out.clone(), events.clone(), id.clone());
        let io = RunIo::new(
            move |event: Event| {
                if record {
                    ev.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(event.clone());
                }
                send(
                    &out,
                    &Message::Event {
                        id: eid.clone(),
                        event,
                    },
                );
            },
            Box::new(ProtocolStdin {
                id: id.clone(),
                out: self.out.clone(),
                rx: input_rx,
                control: control.clone(),
            }),
            control.clone(),
            limits.output_bytes,
        )
        .with_host(Arc::new(ProtocolHost {
            id: id.clone(),
            out: self.out.clone(),
            replies: Mutex::new((0, host_rx)),
        }));

        crate::confine::cpu_backstop(limits.wall_time);
        let started = Instant::now();
        let result = self.pool.run_with(
            &desc,
            cmd.run.session.as_deref(),
            &request,
            &io,
            with_ceiling,
        );
        let duration_ms = started.elapsed().as_millis() as u64;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Current::default();

        match result {
            Ok(outcome) => {
                if let Some(key) = cmd.idempotency_key {
                    let events =
                        std::mem::take(&mut *events.lock().unwrap_or_else(|p| p.into_inner()));
                    self.recorded.put(
                        key,
                        Recorded {
                            events,
                            outcome: outcome.clone(),
                            duration_ms,
                        },
                    );
                }
                let retiring = self.should_retire();
                send(
                    &self.out,
                    &Message::Done {
                        id,
                        outcome,
                        duration_ms,
                        replayed: false,
                        retiring,
                    },
                );
                if retiring {
                    // This is a worker process (the counting allocator is installed): its
                    // caller starts another one.
                    std::process::exit(0);
                }
            }
            Err(e) => self.error(Some(id), &e),
        }
    }

    /// `true` when this worker should exit after the current run: it holds no session and its
    /// heap passed [`retire_bytes`].
    fn should_retire(&self) -> bool {
        alloc::installed()
            && self.pool.session_count() == 0
            && retire_bytes().is_some_and(|limit| alloc::allocated() > limit)
    }
}

/// [`drive`] under the process-wide allocation ceiling, which backs up backends that cannot
/// limit memory themselves.
fn with_ceiling(
    rt: &mut dyn polyrun_engine::Runtime,
    request: &RunRequest,
    io: &RunIo,
) -> polyrun_engine::Driven {
    if let Some(limit) = request.limits.memory_bytes {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let ceiling = alloc::allocated()
            .saturating_add(limit)
            .saturating_add(CEILING_SLACK.max(limit / 4));
        alloc::set_ceiling(Some(ceiling), EXIT_MEMORY_LIMIT);
    }
    let driven = drive(rt, request, io);
    alloc::set_ceiling(None, EXIT_MEMORY_LIMIT);
    driven
}

/// The heap size past which a worker process retires after a run (no session open):
/// `POLYRUN_WORKER_RETIRE_MB` (default 1024; `0` never retires).
fn retire_bytes() -> Option<usize> {
    let mb = std::env::var("POLYRUN_WORKER_RETIRE_MB")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1024);
    (mb > 0).then(|| mb.saturating_mul(1 << 20))
}

/// Runs the worker loop until `input` ends or a `shutdown` command arrives. When `input` ends
/// during a run that does not stop within [`crate::DEFAULT_GRACE`] of its cancel, `serve`
/// returns without waiting for it (the exec thread is left running: a worker process then
/// exits, which ends it). In a worker process
/// (the counting allocator installed), a run after which the heap passed
/// `POLYRUN_WORKER_RETIRE_MB` and no session is open ends with `done.retiring` and the process
/// exits.
pub fn serve(
    registry: Registry,
    input: impl BufRead,
    output: impl Write + Send + 'static,
) -> Result<(), Error> {
    let out: Out = Arc::new(Mutex::new(Box::new(output)));
    send(
        &out,
        &Message::Ready {
            version: polyrun_engine::VERSION.to_string(),
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
            languages: registry.infos(),
            capabilities: WorkerCapabilities {
                memory_ceiling: alloc::installed(),
                idempotency: true,
                sessions: true,
                stdin: true,
                confinement: crate::confine::applied().cloned(),
            },
        },
    );

    let current = Arc::new(Mutex::new(Current::default()));
    let cancelled = Arc::new(Mutex::new(LruCache::new(
        NonZeroUsize::new(CANCEL_CAPACITY).expect("non-zero"),
    )));
    let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Command>(MAX_QUEUED);
    let (exec_out, exec_current, exec_cancelled) =
        (out.clone(), current.clone(), cancelled.clone());
    // Says (by closing) that the exec thread has ended.
    let (exec_alive, exec_ended) = mpsc::channel::<()>();
    let exec_thread = std::thread::Builder::new()
        .name("polyrun-worker-exec".into())
        .stack_size(256 << 20)
        .spawn(move || {
            let _alive = exec_alive;
            // Instances are not `Send`: they are created and used on this thread only.
            let mut executor = Executor {
                pool: Pool::new(registry),
                out: exec_out,
                current: exec_current,
                cancelled: exec_cancelled,
                recorded: LruCache::new(NonZeroUsize::new(IDEMPOTENCY_CAPACITY).expect("non-zero")),
            };
            for cmd in jobs_rx {
                match cmd {
                    Command::Run(run) => {
                        executor.execute(run);
                        // After `done` is out: the caller does not wait for the fresh state.
                        executor.pool.reset_pending();
                    }
                    Command::EndSession { session } => {
                        executor.pool.end_session(&session);
                    }
                    _ => {}
                }
            }
        })?;

    let mut shutdown = false;
    for line in input.split(b'\n') {
        let Ok(line) = line else { break };
        if line.trim_ascii().is_empty() {
            continue;
        }
        // Bytes, not `lines()`: a line that is not UTF-8 is a malformed command, not the end.
        let cmd: Command = match serde_json::from_slice(&line) {
            Ok(c) => c,
            Err(e) => {
                send(
                    &out,
                    &Message::Error {
                        id: None,
                        error: Error::InvalidRequest(format!("malformed command: {e}")).to_wire(),
                    },
                );
                continue;
            }
        };
        match cmd {
            Command::Cancel { id } => {
                let cur = current.lock().unwrap_or_else(|p| p.into_inner());
                if cur.id.as_deref() == Some(id.as_str()) {
                    if let Some(c) = &cur.control {
                        c.cancel();
                    }
                } else {
                    cancelled
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .put(id, ());
                }
            }
            Command::Input { id, line } => {
                let cur = current.lock().unwrap_or_else(|p| p.into_inner());
                if cur.id.as_deref() == Some(id.as_str())
                    && let Some(tx) = &cur.input
                {
                    let _ = tx.send(line);
                }
            }
            Command::HostReply { id, call, reply } => {
                let cur = current.lock().unwrap_or_else(|p| p.into_inner());
                if cur.id.as_deref() == Some(id.as_str())
                    && let Some(tx) = &cur.host
                {
                    let _ = tx.send((call, reply));
                }
            }
            Command::Shutdown => {
                shutdown = true;
                break;
            }
            other => match jobs_tx.try_send(other) {
                Ok(()) => {}
                Err(mpsc::TrySendError::Full(Command::Run(run))) => send(
                    &out,
                    &Message::Error {
                        id: Some(run.id),
                        error: Error::Worker(format!(
                            "this worker already holds {MAX_QUEUED} queued runs; the run was refused"
                        ))
                        .to_wire(),
                    },
                ),
                Err(mpsc::TrySendError::Full(other)) => {
                    // Not a run (a session's end): it waits for room.
                    if jobs_tx.send(other).is_err() {
                        break;
                    }
                }
                Err(mpsc::TrySendError::Disconnected(_)) => break,
            },
        }
    }
    drop(jobs_tx);
    if !shutdown {
        // Input ended without a shutdown: the caller is gone (it exited, or was killed: the
        // pipe closes with it). Stop the current run; one that does not stop within the grace
        // (Boa in a pure loop) is left to the process's exit, which follows `serve` returning:
        // a worker never outlives its caller.
        if let Some(c) = &current.lock().unwrap_or_else(|p| p.into_inner()).control {
            c.cancel();
        }
        if exec_ended.recv_timeout(crate::DEFAULT_GRACE) == Err(mpsc::RecvTimeoutError::Timeout) {
            return Ok(());
        }
    }
    let _ = exec_thread.join();
    Ok(())
}
