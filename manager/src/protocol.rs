//! The worker protocol: JSON lines over a worker process's stdin (commands) and stdout
//! (messages). See `docs/worker-protocol.md` for the prose version.

use polyrun_engine::{Event, HostCall, Limits, Outcome, RuntimeInfo};
use serde::{Deserialize, Serialize};

/// Version of this protocol, sent in [`Message::Ready`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Exit status a worker uses when its allocation ceiling (the memory limit) was hit.
pub const EXIT_MEMORY_LIMIT: i32 = 86;

/// A run command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunCommand {
    /// Caller-chosen id echoed in every message about this run.
    pub id: String,
    /// Language id, alias or nothing if `filename` has a known extension.
    #[serde(default)]
    pub language: Option<String>,
    /// Source code.
    pub code: String,
    /// Name for diagnostics; its extension picks the language when `language` is absent.
    #[serde(default)]
    pub filename: Option<String>,
    /// Limits (defaults apply to absent fields).
    #[serde(default)]
    pub limits: Limits,
    /// Wall-clock timeout in ms; overrides `limits.wall_time_ms` when present.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// A repeated key returns the recorded result instead of running again.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Runs in this named session: guest state is kept between runs of the same session.
    #[serde(default)]
    pub session: Option<String>,
}

/// What a worker reads, one JSON object per line, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Run code. Runs are executed one at a time, in order.
    Run(RunCommand),
    /// Stop a run (queued or running); it ends with `cancelled`.
    Cancel {
        /// The run's id.
        id: String,
    },
    /// The answer to an [`Message::InputRequest`]: a line, or `null` at end of input.
    Input {
        /// The run's id.
        id: String,
        /// The line without its terminator.
        line: Option<String>,
    },
    /// The answer to a [`Message::HostCall`].
    HostReply {
        /// The run's id.
        id: String,
        /// The call's number.
        call: u64,
        /// What the helper returns, or the error it raises.
        reply: HostReply,
    },
    /// Forgets a session's guest state.
    EndSession {
        /// The session's name.
        session: String,
    },
    /// Finish the current run, then exit.
    Shutdown,
}

/// The result of a helper call: `{"ok": VALUE}` or `{"error": "MESSAGE"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostReply {
    /// What the helper returns.
    Ok(serde_json::Value),
    /// The message of the error the helper raises in the guest.
    Error(String),
}

impl From<Result<serde_json::Value, String>> for HostReply {
    fn from(r: Result<serde_json::Value, String>) -> Self {
        match r {
            Ok(v) => HostReply::Ok(v),
            Err(e) => HostReply::Error(e),
        }
    }
}

impl From<HostReply> for Result<serde_json::Value, String> {
    fn from(r: HostReply) -> Self {
        match r {
            HostReply::Ok(v) => Ok(v),
            HostReply::Error(e) => Err(e),
        }
    }
}

/// Capabilities of the worker process itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerCapabilities {
    /// The process enforces the memory limit with an allocation ceiling (exit status
    /// [`EXIT_MEMORY_LIMIT`] when hit).
    pub memory_ceiling: bool,
    /// Idempotency keys are honoured.
    pub idempotency: bool,
    /// Named sessions are supported.
    pub sessions: bool,
    /// Interactive stdin through `input_request` / `input`.
    pub stdin: bool,
}

/// What a worker writes, one JSON object per line, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// First line a worker writes.
    Ready {
        /// polyrun version.
        version: String,
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The worker's process id.
        pid: u32,
        /// Languages it can run.
        languages: Vec<RuntimeInfo>,
        /// What the process can do.
        capabilities: WorkerCapabilities,
    },
    /// Something a run emitted.
    Event {
        /// The run's id.
        id: String,
        /// The event.
        event: Event,
    },
    /// The guest wants a line of stdin; answer with [`Command::Input`].
    InputRequest {
        /// The run's id.
        id: String,
    },
    /// The guest called one of the `polyrun` helpers; answer with [`Command::HostReply`].
    /// Calls of one run are numbered from 1 and made one at a time.
    HostCall {
        /// The run's id.
        id: String,
        /// The call's number.
        call: u64,
        /// What the guest asks for.
        request: HostCall,
    },
    /// A run ended.
    Done {
        /// The run's id.
        id: String,
        /// How it ended.
        outcome: Outcome,
        /// Wall time of the run in milliseconds.
        duration_ms: u64,
        /// `true` when this is the recorded result of an earlier run with the same
        /// idempotency key.
        #[serde(default)]
        replayed: bool,
        /// `true` when the worker exits right after this message: its heap grew past its
        /// budget (some interpreters, RustPython among them, do not give all of a discarded
        /// instance's memory back). Send it nothing more; start another worker.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        retiring: bool,
    },
    /// A command could not be carried out (malformed line, unknown language, load failure).
    Error {
        /// The run's id, when the command had one.
        id: Option<String>,
        /// What went wrong.
        message: String,
        /// Machine-readable kind: `invalid_request`, `unknown_language`, `load`, `internal`.
        kind: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        let c: Command = serde_json::from_str(
            r#"{"type":"run","id":"1","language":"lua","code":"print(1)","timeout_ms":500,"idempotency_key":"k"}"#,
        )
        .unwrap();
        let Command::Run(run) = &c else { panic!() };
        assert_eq!(run.timeout_ms, Some(500));
        assert_eq!(run.limits, Limits::default());
        let back: Command = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let m = Message::InputRequest { id: "1".into() };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"input_request","id":"1"}"#
        );
        assert!(serde_json::from_str::<Command>(r#"{"type":"launch"}"#).is_err());
        let m = Message::HostCall {
            id: "1".into(),
            call: 1,
            request: HostCall::GetVariable { name: "n".into() },
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"host_call","id":"1","call":1,"request":{"op":"get_variable","name":"n"}}"#
        );
        let c: Command =
            serde_json::from_str(r#"{"type":"host_reply","id":"1","call":1,"reply":{"ok":5}}"#)
                .unwrap();
        assert_eq!(
            c,
            Command::HostReply {
                id: "1".into(),
                call: 1,
                reply: HostReply::Ok(5.into())
            }
        );
    }
}
