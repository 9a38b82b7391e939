//! What crosses a boundary between hosts, in one format: the run command (the worker protocol,
//! the browser bundle and the HTTP API all carry it), the reply to a helper call, and errors
//! ([`crate::WireError`]). Outcomes and events are the engine's own types, serialised as they
//! are.

use crate::{Error, Limits, Registry, RunRequest, RuntimeDescriptor};
use serde::{Deserialize, Serialize};

/// One run, as every host receives it.
///
/// `limits` follows [`Limits`]' one meaning everywhere: a missing field takes the default, an
/// explicit `null` means no limit (which a server then clamps to its maxima).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCommand {
    /// Language id or alias; without it, `filename`'s extension picks the language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The backend to run it on; without it, the language's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The source code.
    pub code: String,
    /// A name for the code in diagnostics; its extension picks the language when `language`
    /// is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Limits for this run.
    #[serde(default)]
    pub limits: Limits,
    /// A session name: runs of one session share guest state; none is a fresh state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl RunCommand {
    /// A command to run `code` as `language` with default limits.
    pub fn new(language: impl Into<String>, code: impl Into<String>) -> Self {
        RunCommand {
            language: Some(language.into()),
            code: code.into(),
            ..RunCommand::default()
        }
    }

    /// The backend that runs it.
    pub fn resolve<'r>(&self, registry: &'r Registry) -> Result<&'r RuntimeDescriptor, Error> {
        registry.find(
            self.language.as_deref(),
            self.filename.as_deref(),
            self.backend.as_deref(),
        )
    }

    /// The request a backend gets.
    pub fn request(&self) -> RunRequest {
        RunRequest {
            code: self.code.clone(),
            filename: self.filename.clone(),
            limits: self.limits.clone(),
        }
    }
}

/// The answer to a helper call: `{"ok": VALUE}` or `{"error": "MESSAGE"}`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{DESCRIPTOR, SECOND};

    #[test]
    fn commands_parse_with_defaults_and_resolve() {
        let c: RunCommand = serde_json::from_str(r#"{"language":"scr","code":"1"}"#).unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c, RunCommand::new("scr", "1"));
        let c: RunCommand = serde_json::from_str(
            r#"{"filename":"a.script","backend":"scripted-b","code":"1","limits":{"wall_time_ms":1500,"memory_bytes":null},"session":"s"}"#,
        )
        .unwrap();
        assert_eq!(
            c.request().limits.wall_time,
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(c.request().limits.memory_bytes, None);
        let mut r = Registry::new();
        r.register(DESCRIPTOR);
        r.register(SECOND);
        assert_eq!(c.resolve(&r).unwrap().backend, "scripted-b");
        let back: RunCommand = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let bad = RunCommand {
            backend: Some("nope".into()),
            ..RunCommand::new("script", "")
        };
        assert_eq!(
            bad.resolve(&r).unwrap_err().to_wire().available,
            ["scripted", "scripted-b"]
        );
    }

    #[test]
    fn replies_are_ok_or_error() {
        assert_eq!(
            serde_json::to_string(&HostReply::Ok(5.into())).unwrap(),
            r#"{"ok":5}"#
        );
        let e: HostReply = serde_json::from_str(r#"{"error":"no"}"#).unwrap();
        assert_eq!(Result::from(e), Err::<serde_json::Value, _>("no".into()));
    }
}
