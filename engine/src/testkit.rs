//! A scripted fake backend for testing hosts (pools, workers, managers) without a real
//! interpreter: [`ScriptedRuntime`] runs a tiny line-oriented script language, and
//! [`DESCRIPTOR`] / [`SECOND`] register it as language `script` with two backends.
//!
//! One command per line:
//!
//! | line              | what it does                                                        |
//! |-------------------|---------------------------------------------------------------------|
//! | `print TEXT`      | writes `TEXT\n` to stdout (stops if the output limit trips)         |
//! | `eprint TEXT`     | writes `TEXT\n` to stderr                                           |
//! | `set NAME VALUE`  | keeps a value in the instance's state (survives until `reset`)      |
//! | `get NAME`        | prints the value, or `unset`                                        |
//! | `whoami`          | prints `instance N run M backend B` (N unique per instance)        |
//! | `read`            | reads a line of stdin and prints it (`<eof>` at the end)            |
//! | `call JSON`       | makes a helper call and prints the reply                            |
//! | `value TEXT`      | ends the run, completed with `TEXT` as its value                    |
//! | `error KIND MSG`  | ends the run with a guest error at this line                        |
//! | `trip WHAT`       | trips `time`, `memory`, `output` or `cancel`, then goes on          |
//! | `spin`            | loops until the run must stop (a preemptible backend's loop)       |
//! | `sleep MS`        | sleeps without looking at the control (a backend that cannot stop)  |
//! | `panic`           | panics                                                              |
//! | `fail`            | fails as a host (`Error::Internal`)                                 |
//!
//! A script with `fail-reset` anywhere makes the instance's next `reset` fail.

use crate::{
    Capabilities, Diagnostic, Error, Interrupt, LimitKind, LoadContext, MimeBundle, Outcome, RunIo,
    RunRequest, Runtime, RuntimeDescriptor, Stream,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// The scripted backend `scripted` of language `script` (extension `.script`), with sessions.
pub const DESCRIPTOR: RuntimeDescriptor = RuntimeDescriptor {
    id: "script",
    name: "Script",
    aliases: &["scr"],
    extensions: &["script"],
    backend: "scripted",
    version: "testkit",
    capabilities: Capabilities {
        preemptible: true,
        memory_limit: true,
        stdin: true,
        sessions: true,
    },
    load: load_scripted,
    prepare: None,
};

/// A second backend of the same language, `scripted-b`, that is not preemptible.
pub const SECOND: RuntimeDescriptor = RuntimeDescriptor {
    backend: "scripted-b",
    capabilities: Capabilities {
        preemptible: false,
        memory_limit: false,
        stdin: true,
        sessions: true,
    },
    load: load_second,
    ..DESCRIPTOR
};

fn load_scripted(_: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Ok(Box::new(ScriptedRuntime::with_backend("scripted")))
}

fn load_second(_: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Ok(Box::new(ScriptedRuntime::with_backend("scripted-b")))
}

/// A fake backend driven by a script (see the module's documentation).
#[derive(Debug)]
pub struct ScriptedRuntime {
    instance: u64,
    backend: &'static str,
    runs: u64,
    state: HashMap<String, String>,
    fail_reset: bool,
}

impl Default for ScriptedRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedRuntime {
    /// A fresh instance of backend `scripted`.
    pub fn new() -> Self {
        Self::with_backend("scripted")
    }

    /// A fresh instance that says it is `backend`.
    pub fn with_backend(backend: &'static str) -> Self {
        ScriptedRuntime {
            instance: INSTANCES.fetch_add(1, Ordering::SeqCst) + 1,
            backend,
            runs: 0,
            state: HashMap::new(),
            fail_reset: false,
        }
    }

    /// How many runs reached the script (runs stopped before they began do not).
    pub fn runs(&self) -> u64 {
        self.runs
    }

    fn line(io: &RunIo, stream: Stream, text: &str) -> Result<(), Interrupt> {
        io.write(stream, &format!("{text}\n"))
    }
}

fn interrupt(what: &str) -> Option<Interrupt> {
    Some(match what {
        "time" => Interrupt::Limit(LimitKind::Time),
        "memory" => Interrupt::Limit(LimitKind::Memory),
        "output" => Interrupt::Limit(LimitKind::Output),
        "cancel" => Interrupt::Cancelled,
        _ => return None,
    })
}

impl Runtime for ScriptedRuntime {
    fn run(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        self.runs += 1;
        for (n, line) in request.code.lines().enumerate() {
            let (cmd, rest) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
            let wrote = match cmd {
                "print" => Self::line(io, Stream::Stdout, rest),
                "eprint" => Self::line(io, Stream::Stderr, rest),
                "set" => {
                    let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                    self.state.insert(k.into(), v.into());
                    Ok(())
                }
                "get" => {
                    let v = self.state.get(rest).cloned();
                    Self::line(io, Stream::Stdout, v.as_deref().unwrap_or("unset"))
                }
                "whoami" => Self::line(
                    io,
                    Stream::Stdout,
                    &format!(
                        "instance {} run {} backend {}",
                        self.instance, self.runs, self.backend
                    ),
                ),
                "read" => {
                    let l = io.read_line();
                    Self::line(io, Stream::Stdout, l.as_deref().unwrap_or("<eof>"))
                }
                "call" => Self::line(io, Stream::Stdout, &io.host_call_json(rest)),
                "value" => {
                    return Ok(Outcome::Completed {
                        value: Some(MimeBundle::text(rest)),
                    });
                }
                "error" => {
                    let (kind, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                    return Ok(Outcome::Error {
                        diagnostic: Diagnostic::new(kind, msg).at(Some(n as u32 + 1), None),
                    });
                }
                "trip" => {
                    if let Some(i) = interrupt(rest) {
                        io.control().trip(i);
                    }
                    Ok(())
                }
                "spin" => loop {
                    if let Err(i) = io.check() {
                        break Err(i);
                    }
                    std::thread::yield_now();
                },
                "sleep" => {
                    let ms = rest.parse().unwrap_or(0);
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    Ok(())
                }
                "panic" => panic!("scripted panic"),
                "fail" => return Err(Error::Internal("scripted failure".into())),
                "fail-reset" => {
                    self.fail_reset = true;
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(i) = wrote {
                return Ok(Outcome::from_interrupt(i));
            }
        }
        Ok(Outcome::Completed { value: None })
    }

    fn reset(&mut self) -> Result<(), Error> {
        if self.fail_reset {
            return Err(Error::Internal("scripted reset failure".into()));
        }
        self.state.clear();
        Ok(())
    }
}
