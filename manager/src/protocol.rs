//! The worker protocol: JSON lines over a worker process's stdin (commands) and stdout
//! (messages). See `docs/worker-protocol.md` for the prose version.

use polyrun_engine::{Event, HostCall, Outcome, RuntimeInfo, WireError};
use serde::{Deserialize, Serialize};

pub use polyrun_engine::wire::HostReply;

/// Version of this protocol, sent in [`Message::Ready`] (2: the engine's run command with
/// `backend`, typed errors; `timeout_ms` is gone — `limits.wall_time_ms` is the one timeout).
pub const PROTOCOL_VERSION: u32 = 2;

/// Exit status a worker uses when its allocation ceiling (the memory limit) was hit.
pub const EXIT_MEMORY_LIMIT: i32 = 86;

/// A run command: the engine's [`polyrun_engine::wire::RunCommand`] (language, backend, code,
/// filename, limits, session) with the worker's own fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunCommand {
    /// Caller-chosen id echoed in every message about this run.
    pub id: String,
    /// What to run.
    #[serde(flatten)]
    pub run: polyrun_engine::wire::RunCommand,
    /// A repeated key returns the recorded result instead of running again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
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
    /// The process's confinement, when it confined itself (see [`crate::confine`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confinement: Option<crate::confine::Confinement>,
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
    /// A command could not be carried out (malformed line, unknown language or backend, load
    /// failure): the engine's error, every field kept (`kind`, `message`, and `language`,
    /// `name`, `available` where they apply).
    Error {
        /// The run's id, when the command had one.
        id: Option<String>,
        /// What went wrong.
        #[serde(flatten)]
        error: WireError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyrun_engine::{Error, Limits};

    #[test]
    fn wire_format() {
        let c: Command = serde_json::from_str(
            r#"{"type":"run","id":"1","language":"lua","backend":"mlua","code":"print(1)","limits":{"wall_time_ms":500},"idempotency_key":"k"}"#,
        )
        .unwrap();
        let Command::Run(run) = &c else { panic!() };
        assert_eq!(
            run.run.limits.wall_time,
            Some(std::time::Duration::from_millis(500))
        );
        assert_eq!(run.run.limits.memory_bytes, Limits::default().memory_bytes);
        assert_eq!(run.run.backend.as_deref(), Some("mlua"));
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
        let e = Message::Error {
            id: Some("1".into()),
            error: Error::UnknownBackend {
                language: "lua".into(),
                name: "luajit".into(),
                available: vec!["mlua".into()],
            }
            .to_wire(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "unknown_backend");
        assert_eq!(json["available"][0], "mlua");
        assert_eq!(
            serde_json::from_value::<Message>(json).unwrap(),
            e,
            "errors round-trip"
        );
    }
}
