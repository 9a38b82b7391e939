//! What crosses the HTTP API: the run request, statuses, and the events a run streams. No
//! dependency on the scheduler (so `metrics` and `runs` both use it without a cycle).

use crate::auth::Principal;
use polyrun_engine::{Event, LimitKind, Limits, Outcome};
use serde::{Deserialize, Serialize};

/// Where a run is: `queued → running → succeeded | failed | cancelled | timed_out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for a slot.
    Queued,
    /// Executing in a worker.
    Running,
    /// Ran to its end.
    Succeeded,
    /// The guest raised an error, hit its memory or output limit, or its worker died.
    Failed,
    /// Cancelled by the client or by the server's shutdown.
    Cancelled,
    /// Hit its time limit.
    TimedOut,
}

impl Status {
    /// `true` once the run has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Running)
    }

    /// The lower-case name used on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::TimedOut => "timed_out",
        }
    }

    /// The final status for an outcome, and a reason for the ones that need one.
    pub(crate) fn of(outcome: &Outcome) -> (Status, Option<String>) {
        match outcome {
            Outcome::Completed { .. } => (Status::Succeeded, None),
            Outcome::Error { diagnostic } => (
                Status::Failed,
                Some(format!("{}: {}", diagnostic.kind, diagnostic.message)),
            ),
            Outcome::LimitExceeded {
                limit: LimitKind::Time,
            } => (Status::TimedOut, Some("time limit exceeded".into())),
            Outcome::LimitExceeded { limit } => (
                Status::Failed,
                Some(format!("{} limit exceeded", limit.as_str())),
            ),
            Outcome::Cancelled => (Status::Cancelled, None),
            Outcome::Crashed { reason } => (Status::Failed, Some(reason.clone())),
        }
    }
}

/// One entry of a run's event stream (the `type` tag names it).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// The status changed.
    Status {
        /// The new status.
        status: Status,
        /// Why, for final statuses other than `succeeded`.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The guest waits for a line of standard input.
    StdinRequest,
    /// The run ended: always the last event.
    Outcome {
        /// The final status.
        status: Status,
        /// How the run ended.
        outcome: Outcome,
        /// Why, when the status is not `succeeded`.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Execution time (running → ended), ms.
        duration_ms: u64,
        /// What the guest published with `polyrun.output(value)`.
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<serde_json::Value>,
    },
    /// What the guest and its backend report, as the engine names it (`stdout`, `stderr`,
    /// `display`, `progress`, `log`).
    #[serde(untagged)]
    Guest(Event),
}

/// An event as a run's log keeps it: its sequence number and time, then the event.
#[derive(Serialize)]
pub(crate) struct Record<'a> {
    pub(crate) seq: u64,
    pub(crate) ts_ms: u64,
    #[serde(flatten)]
    pub(crate) event: &'a RunEvent,
}

/// What a client asked for: the body of `POST /v1/runs`.
#[derive(Clone, Debug, Deserialize, Serialize, Hash)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// Language id, alias or extension.
    pub language: String,
    /// The backend (`GET /v1/languages`); default: the language's default.
    #[serde(default)]
    pub backend: Option<String>,
    /// The source.
    pub code: String,
    /// Standard input given up front.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Keep standard input open after `stdin`: the guest waits for lines sent over the
    /// WebSocket or `POST /v1/runs/{id}/stdin`.
    #[serde(default)]
    pub interactive: bool,
    /// Requested limits, the engine's `Limits` (a missing field takes the default, `null` means
    /// no limit); all are clamped to the server's maxima.
    #[serde(default)]
    pub limits: Option<Limits>,
    /// File name for diagnostics.
    #[serde(default)]
    pub filename: Option<String>,
    /// Runs with the same session id share guest state.
    #[serde(default)]
    pub session: Option<String>,
    /// A repeated key returns the original run instead of running again.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// What `polyrun.input()` returns in the guest.
    #[serde(default)]
    pub input: Option<HashedJson>,
    /// The namespace of the guest's variables (within the token's own: tokens never share
    /// variables).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A JSON value in a request that is fingerprinted for idempotency.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct HashedJson(pub serde_json::Value);

impl std::hash::Hash for HashedJson {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_string().hash(state);
    }
}

/// The variable namespace a token's request names: the token's own, then the one asked for.
/// The token's name is escaped (`%` → `%25`, `/` → `%2F`), so the first `/` always ends it: a
/// token `team` asking for `x/default` and a token `team/x` asking for `default` are apart.
pub fn token_namespace(who: &Principal, asked: Option<&str>) -> String {
    format!(
        "{}/{}",
        who.0.replace('%', "%25").replace('/', "%2F"),
        asked.unwrap_or(polyrun_engine::helpers::DEFAULT_NAMESPACE)
    )
}

/// A run as `GET /v1/runs/{id}` (and `POST /v1/runs`) shows it.
#[derive(Debug, Serialize)]
pub struct RunView {
    /// Its id.
    pub id: String,
    /// Canonical language id.
    pub language: String,
    /// The backend that runs it.
    pub backend: String,
    /// Where it is.
    pub status: Status,
    /// When it was accepted, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// When it started running.
    pub started_at_ms: Option<u64>,
    /// When it ended.
    pub finished_at_ms: Option<u64>,
    /// Execution time (running → ended), ms.
    pub duration_ms: Option<u64>,
    /// The limits it got (asked for, clamped to the server's maxima).
    pub limits: Limits,
    /// Standard input stays open for lines from the client.
    pub interactive: bool,
    /// Its session, if any.
    pub session: Option<String>,
    /// Its idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// How it ended, once it has.
    pub outcome: Option<Outcome>,
    /// What the guest published with `polyrun.output(value)`.
    pub output: Option<serde_json::Value>,
    /// Why, for final statuses other than `succeeded`.
    pub reason: Option<String>,
    /// Its standard output so far.
    pub stdout: String,
    /// Its standard error so far.
    pub stderr: String,
    /// The sequence number of its latest event.
    pub last_seq: u64,
    /// Where its events stream.
    pub events: String,
    /// In the answer to `POST /v1/runs`: `true` when an idempotency key found an earlier run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<bool>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// `polyrun`.
    pub server: &'static str,
    /// polyrun's version.
    pub version: &'static str,
    /// Runs waiting.
    pub queued: usize,
    /// Runs executing.
    pub running: usize,
}

/// `GET /server.json`: what the playground page reads to learn it may run code here.
#[derive(Debug, Serialize)]
pub struct ServerInfo {
    /// `polyrun`.
    pub server: &'static str,
    /// polyrun's version.
    pub version: &'static str,
    /// Requests need a bearer token.
    pub token_required: bool,
}

/// `GET /v1/languages`.
#[derive(Debug, Serialize)]
pub struct Languages {
    /// Every backend of every language.
    pub languages: Vec<polyrun_engine::RuntimeInfo>,
}

/// The answer to `POST /v1/runs/{id}/cancel`.
#[derive(Debug, Serialize)]
pub struct Cancelled {
    /// The run's id.
    pub id: String,
    /// `false` when it had ended already.
    pub cancel_requested: bool,
    /// Its status now.
    pub status: Status,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn token_namespaces_never_collide() {
        let ns =
            |token: &str, asked: Option<&str>| token_namespace(&Principal(token.into()), asked);
        assert_eq!(ns("team", None), "team/default");
        assert_ne!(ns("team", Some("x/default")), ns("team/x", None));
        assert_eq!(ns("team/x", None), "team%2Fx/default");
        assert_ne!(ns("a%2Fb", None), ns("a/b", None));
    }

    #[test]
    fn request_limits_mean_what_the_engine_says_and_are_clamped() {
        let max = Config::default().max_limits;
        let body: RunBody = serde_json::from_str(
            r#"{"language":"lua","code":"","limits":{"wall_time_ms":3600000,"memory_bytes":null}}"#,
        )
        .unwrap();
        let l = body.limits.unwrap().clamped(&max);
        assert_eq!(l.wall_time, max.wall_time);
        // `null`: no limit, which the server clamps to its maximum.
        assert_eq!(l.memory_bytes, max.memory_bytes);
        // Missing: the engine's default.
        assert_eq!(l.output_bytes, Limits::default().output_bytes);
        assert!(
            serde_json::from_str::<RunBody>(
                r#"{"language":"lua","code":"","limits":{"timeout":1}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn events_serialise_flat_with_their_sequence_number() {
        let json = |event: &RunEvent| {
            serde_json::to_value(Record {
                seq: 3,
                ts_ms: 7,
                event,
            })
            .unwrap()
        };
        let out = RunEvent::Guest(Event::Stdout {
            text: "hi\n".into(),
        });
        assert_eq!(
            json(&out),
            serde_json::json!({ "seq": 3, "ts_ms": 7, "type": "stdout", "text": "hi\n" })
        );
        let status = RunEvent::Status {
            status: Status::TimedOut,
            reason: Some("time limit exceeded".into()),
        };
        assert_eq!(
            json(&status),
            serde_json::json!({ "seq": 3, "ts_ms": 7, "type": "status", "status": "timed_out", "reason": "time limit exceeded" })
        );
        assert_eq!(
            json(&RunEvent::StdinRequest),
            serde_json::json!({ "seq": 3, "ts_ms": 7, "type": "stdin_request" })
        );
    }

    #[test]
    fn outcomes_map_to_final_statuses() {
        let time = Outcome::LimitExceeded {
            limit: LimitKind::Time,
        };
        assert_eq!(Status::of(&time).0, Status::TimedOut);
        let mem = Outcome::LimitExceeded {
            limit: LimitKind::Memory,
        };
        assert_eq!(
            Status::of(&mem),
            (Status::Failed, Some("memory limit exceeded".into()))
        );
        let crash = Outcome::Crashed {
            reason: "worker killed by signal 9".into(),
        };
        assert_eq!(
            Status::of(&crash),
            (Status::Failed, Some("worker killed by signal 9".into()))
        );
        assert_eq!(
            Status::of(&Outcome::Completed { value: None }).0,
            Status::Succeeded
        );
        assert!(Status::Cancelled.is_final() && !Status::Running.is_final());
    }
}
