//! Running a backend directly and collecting everything it emits: for tests, conformance suites
//! and simple embedders that do not need streaming.

use crate::{
    Diagnostic, Error, Event, Limits, Outcome, RunControl, RunIo, RunRequest, Runtime, VecStdin,
};
use std::sync::{Arc, Mutex};

/// Everything one run produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Captured {
    /// All events, in order.
    pub events: Vec<Event>,
    /// The stdout chunks joined.
    pub stdout: String,
    /// The stderr chunks joined.
    pub stderr: String,
    /// How the run ended.
    pub outcome: Outcome,
}

impl Captured {
    /// The `text/plain` value of a completed run, if any.
    pub fn value(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Completed { value: Some(v) } => v.plain(),
            _ => None,
        }
    }

    /// The diagnostic of a run that ended in a guest error; panics (naming the outcome and the
    /// output) otherwise — for tests.
    pub fn error(&self) -> &Diagnostic {
        match &self.outcome {
            Outcome::Error { diagnostic } => diagnostic,
            other => panic!(
                "expected an error, got {other:?} (stdout {:?})",
                self.stdout
            ),
        }
    }
}

/// A request for `code` as the file `file`, with the default limits.
pub fn request(code: &str, file: &str) -> RunRequest {
    RunRequest {
        code: code.into(),
        filename: Some(file.into()),
        limits: Limits::default(),
    }
}

/// Runs `request` on `runtime` with `stdin` as standard input and a fresh [`RunControl`].
pub fn run(
    runtime: &mut dyn Runtime,
    request: &RunRequest,
    stdin: &str,
) -> Result<Captured, Error> {
    run_with(runtime, request, stdin, RunControl::new())
}

/// Like [`run`], with a caller-supplied control (to cancel from another thread).
pub fn run_with(
    runtime: &mut dyn Runtime,
    request: &RunRequest,
    stdin: &str,
    control: RunControl,
) -> Result<Captured, Error> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let io = RunIo::new(
        move |e| sink.lock().unwrap_or_else(|p| p.into_inner()).push(e),
        Box::new(VecStdin::new(stdin)),
        control,
        request.limits.output_bytes,
    );
    let outcome = crate::drive(runtime, request, &io).result?;
    let events = std::mem::take(&mut *events.lock().unwrap_or_else(|p| p.into_inner()));
    let mut stdout = String::new();
    let mut stderr = String::new();
    for e in &events {
        match e {
            Event::Stdout { text } => stdout.push_str(text),
            Event::Stderr { text } => stderr.push_str(text),
            _ => {}
        }
    }
    Ok(Captured {
        events,
        stdout,
        stderr,
        outcome,
    })
}
