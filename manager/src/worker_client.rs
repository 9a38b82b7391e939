//! The manager's side of a worker process: spawn it, send runs, stream its messages into the
//! run's [`RunIo`], answer its stdin requests, and kill it when it passes its hard deadline or
//! a cancel's grace period. A worker that dies still yields a well-formed outcome.

use crate::protocol::{Command, EXIT_MEMORY_LIMIT, Message, RunCommand};
use crate::watch::{self, Verdict, Watch};
use polyrun_engine::{Error, LimitKind, Outcome, RunIo, RunRequest, RuntimeDescriptor};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command as Process, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Environment variable set for worker processes; see `polyrun::serve_worker_if_requested`.
pub const WORKER_ENV: &str = "POLYRUN_WORKER";
/// How long a new worker may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Bytes of a worker's stderr kept for crash reports.
const STDERR_TAIL: usize = 4096;

/// How to start a worker process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables set for it (on top of the caller's).
    pub env: Vec<(String, String)>,
}

impl WorkerCommand {
    /// `PROGRAM worker`, the form the `polyrun` CLI answers to.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        WorkerCommand {
            program: program.into(),
            args: vec!["worker".into()],
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for the worker (e.g. `POLYRUN_WORKER_RETIRE_MB`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The running executable with the `worker` argument (and `POLYRUN_WORKER=1`).
    pub fn current_exe() -> Result<Self, Error> {
        Ok(Self::new(std::env::current_exe()?))
    }
}

enum Line {
    Msg(Box<Message>),
    Eof,
    /// The current run's control tripped: the watchdog looks now.
    Wake,
}

/// A live worker process.
pub(crate) struct Worker {
    child: Child,
    input: Arc<Mutex<ChildStdin>>,
    lines: mpsc::Receiver<Line>,
    wake: mpsc::Sender<Line>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    next_id: u64,
    dead: bool,
}

/// The result of one run on a worker.
pub(crate) struct WorkerRun {
    pub(crate) outcome: Outcome,
    pub(crate) replayed: bool,
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if status.signal() == Some(libc::SIGSYS) {
            return crate::confine::KILLED_BY_CONFINEMENT.into();
        }
        if status.signal() == Some(libc::SIGXCPU) {
            return "the worker passed its CPU-time backstop and was killed (SIGXCPU)".into();
        }
        if let Some(sig) = status.signal() {
            let name = match sig {
                libc::SIGKILL => "SIGKILL",
                libc::SIGSEGV => "SIGSEGV",
                libc::SIGABRT => "SIGABRT",
                libc::SIGTERM => "SIGTERM",
                libc::SIGBUS => "SIGBUS",
                _ => "",
            };
            return format!("the worker was killed by signal {sig} {name}")
                .trim_end()
                .to_string();
        }
    }
    match status.code() {
        Some(c) => format!("the worker exited with status {c}"),
        None => "the worker ended".into(),
    }
}

impl Worker {
    /// Starts a worker and waits for its ready message.
    pub(crate) fn spawn(cmd: &WorkerCommand) -> Result<Worker, Error> {
        let mut process = Process::new(&cmd.program);
        process
            .args(&cmd.args)
            .env(WORKER_ENV, "1")
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            // Its own process group: a terminal's Ctrl-C goes to the caller, which cancels.
            use std::os::unix::process::CommandExt;
            process.process_group(0);
        }
        let mut child = process
            .spawn()
            .map_err(|e| Error::Worker(format!("cannot start {}: {e}", cmd.program.display())))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let input = child.stdin.take().expect("piped");

        let (tx, lines) = mpsc::channel();
        let wake = tx.clone();
        std::thread::Builder::new()
            .name("polyrun-worker-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(msg) = serde_json::from_str::<Message>(&line)
                        && tx.send(Line::Msg(Box::new(msg))).is_err()
                    {
                        return;
                    }
                }
                let _ = tx.send(Line::Eof);
            })?;
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let tail = stderr_tail.clone();
        std::thread::Builder::new()
            .name("polyrun-worker-err".into())
            .spawn(move || {
                let mut stderr = stderr;
                let mut buf = [0u8; 1024];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    t.extend_from_slice(&buf[..n]);
                    let excess = t.len().saturating_sub(STDERR_TAIL);
                    t.drain(..excess);
                }
            })?;

        let mut worker = Worker {
            child,
            input: Arc::new(Mutex::new(input)),
            lines,
            wake,
            stderr_tail,
            next_id: 0,
            dead: false,
        };
        match worker.lines.recv_timeout(READY_TIMEOUT) {
            Ok(Line::Msg(m)) => match *m {
                Message::Ready { .. } => Ok(worker),
                other => Err(Error::Worker(format!(
                    "expected a ready message, got {other:?}"
                ))),
            },
            _ => {
                worker.kill();
                Err(Error::Worker(format!(
                    "the worker did not start: {}",
                    worker.stderr_text().trim()
                )))
            }
        }
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner()))
            .into_owned()
    }

    fn send(input: &Mutex<ChildStdin>, cmd: &Command) -> std::io::Result<()> {
        let mut line = serde_json::to_string(cmd).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut w = input.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(line.as_bytes())?;
        w.flush()
    }

    /// `false` once the process has ended or was killed.
    pub(crate) fn is_alive(&mut self) -> bool {
        if self.dead {
            return false;
        }
        if !matches!(self.child.try_wait(), Ok(None)) {
            self.dead = true;
        }
        !self.dead
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dead = true;
    }

    /// Tells the worker to forget a session.
    pub(crate) fn end_session(&mut self, session: &str) {
        if Self::send(
            &self.input,
            &Command::EndSession {
                session: session.to_string(),
            },
        )
        .is_err()
        {
            self.dead = true;
        }
    }

    /// What the death of the worker means for the run.
    fn death_outcome(&mut self, io: &RunIo) -> Outcome {
        let status = self.child.wait();
        self.dead = true;
        if let Ok(status) = status {
            if status.code() == Some(EXIT_MEMORY_LIMIT) {
                io.control()
                    .trip(polyrun_engine::Interrupt::Limit(LimitKind::Memory));
                return Outcome::LimitExceeded {
                    limit: LimitKind::Memory,
                };
            }
            if let Some(i) = io.control().interrupted() {
                return Outcome::from_interrupt(i);
            }
            let tail = self.stderr_text();
            let tail = tail.trim();
            return Outcome::Crashed {
                reason: if tail.is_empty() {
                    describe(status)
                } else {
                    format!("{}: {tail}", describe(status))
                },
            };
        }
        Outcome::Crashed {
            reason: "the worker ended".into(),
        }
    }

    /// Runs one request. `Err` only when the worker refused the command (or could not be
    /// written to before the run started: then the caller may retry on a new worker).
    pub(crate) fn run(
        &mut self,
        desc: &RuntimeDescriptor,
        request: &RunRequest,
        session: Option<&str>,
        idempotency_key: Option<&str>,
        io: &RunIo,
        grace: Duration,
    ) -> Result<WorkerRun, Error> {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        let control = io.control().clone();
        control.arm(request.limits.wall_time);
        let wake = self.wake.clone();
        let mut watch = Watch::new(&control, grace, move || {
            let _ = wake.send(Line::Wake);
        });
        let mut limits = request.limits.clone();
        // The worker's clock starts later than ours: it gets what is left of the budget.
        if let Some(d) = control.deadline() {
            limits.wall_time = Some(d.saturating_duration_since(Instant::now()));
        }
        let cmd = Command::Run(RunCommand {
            id: id.clone(),
            run: polyrun_engine::wire::RunCommand {
                language: Some(desc.id.to_string()),
                backend: Some(desc.backend.to_string()),
                code: request.code.clone(),
                filename: request.filename.clone(),
                limits,
                session: session.map(str::to_string),
            },
            idempotency_key: idempotency_key.map(str::to_string),
        });
        if let Err(e) = Self::send(&self.input, &cmd) {
            self.kill();
            return Err(Error::Worker(format!("cannot send the run: {e}")));
        }

        // The run's helper calls are answered in order on one thread of their own (started at
        // the first call, ended with the run): a store may take a moment, and the watchdog below
        // must keep running meanwhile.
        let mut helper: Option<mpsc::Sender<(u64, polyrun_engine::HostCall)>> = None;
        loop {
            match watch::recv(&self.lines, &watch) {
                Ok(Line::Msg(msg)) => match *msg {
                    Message::Event { id: i, event } if i == id => io.forward(event),
                    Message::InputRequest { id: i } if i == id => {
                        // Read on a helper thread: the watchdog must keep running meanwhile.
                        let (io, input, id) = (io.clone(), self.input.clone(), id.clone());
                        std::thread::spawn(move || {
                            let line = io.read_line();
                            let _ = Self::send(&input, &Command::Input { id, line });
                        });
                    }
                    Message::HostCall {
                        id: i,
                        call,
                        request,
                    } if i == id => {
                        let tx = helper.get_or_insert_with(|| {
                            let (tx, rx) = mpsc::channel::<(u64, polyrun_engine::HostCall)>();
                            let (io, input, id) = (io.clone(), self.input.clone(), id.clone());
                            std::thread::spawn(move || {
                                for (call, request) in rx {
                                    let reply = io.host_call(request).into();
                                    let id = id.clone();
                                    let _ =
                                        Self::send(&input, &Command::HostReply { id, call, reply });
                                }
                            });
                            tx
                        });
                        let _ = tx.send((call, request));
                    }
                    Message::Done {
                        id: i,
                        outcome,
                        replayed,
                        retiring,
                        ..
                    } if i == id => {
                        if retiring {
                            // It exits now (its heap passed its budget): reap it, and never
                            // hand it another run.
                            self.kill();
                        }
                        // A `cancel` we sent because our own control tripped (the deadline,
                        // say) may reach the worker before its own check does: report why we
                        // stopped it, not how it heard.
                        let outcome = match (&outcome, control.interrupted()) {
                            (Outcome::Cancelled, Some(i)) => Outcome::from_interrupt(i),
                            _ => outcome,
                        };
                        return Ok(WorkerRun { outcome, replayed });
                    }
                    Message::Error { id: Some(i), error } if i == id => {
                        return Err(error.into());
                    }
                    _ => {}
                },
                Ok(Line::Eof) | Err(false) => {
                    return Ok(WorkerRun {
                        outcome: self.death_outcome(io),
                        replayed: false,
                    });
                }
                Ok(Line::Wake) | Err(true) => match watch.look() {
                    Verdict::Wait => {}
                    Verdict::Ask(_) => {
                        let _ = Self::send(&self.input, &Command::Cancel { id: id.clone() });
                    }
                    Verdict::Kill(i) => {
                        self.kill();
                        return Ok(WorkerRun {
                            outcome: Outcome::from_interrupt(i),
                            replayed: false,
                        });
                    }
                },
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.dead {
            let _ = Self::send(&self.input, &Command::Shutdown);
            // Give it a moment to exit on its own, then make sure.
            let deadline = Instant::now() + Duration::from_millis(100);
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            self.kill();
        }
    }
}
