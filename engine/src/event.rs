use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which output stream a chunk belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// The guest's standard output.
    Stdout,
    /// The guest's standard error.
    Stderr,
}

/// Severity of a [`Event::Log`] message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Diagnostic detail.
    Debug,
    /// Normal information (e.g. "compiling the module").
    Info,
    /// Something the user should know (e.g. "session state was lost").
    Warn,
}

/// A rich value, keyed by MIME type, as in Jupyter's display protocol: `text/plain` is always
/// the fallback; binary types (`image/png`) are base64 text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MimeBundle(pub BTreeMap<String, String>);

impl MimeBundle {
    /// A bundle with only `text/plain`.
    pub fn text(s: impl Into<String>) -> Self {
        let mut m = BTreeMap::new();
        m.insert("text/plain".to_string(), s.into());
        MimeBundle(m)
    }

    /// Adds or replaces one representation.
    pub fn with(mut self, mime: impl Into<String>, data: impl Into<String>) -> Self {
        self.0.insert(mime.into(), data.into());
        self
    }

    /// The representation for `mime`, if present.
    pub fn get(&self, mime: &str) -> Option<&str> {
        self.0.get(mime).map(String::as_str)
    }

    /// The `text/plain` representation, if present.
    pub fn plain(&self) -> Option<&str> {
        self.get("text/plain")
    }

    /// Total bytes of all representations (what counts against the output limit).
    pub fn byte_len(&self) -> usize {
        self.0.values().map(String::len).sum()
    }
}

/// Something a run reports while it runs. Serialised with a `type` tag:
/// `{"type":"stdout","text":"hi\n"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A chunk of standard output, as the guest wrote it.
    Stdout {
        /// The text.
        text: String,
    },
    /// A chunk of standard error.
    Stderr {
        /// The text.
        text: String,
    },
    /// A rich value the guest asked to display.
    Display {
        /// The value's representations.
        bundle: MimeBundle,
    },
    /// Progress of a long host step (loading, compiling a backend).
    Progress {
        /// What is in progress.
        stage: String,
        /// Units done.
        done: u64,
        /// Units in all, when known.
        total: Option<u64>,
    },
    /// A message from the host about this run.
    Log {
        /// Severity.
        level: LogLevel,
        /// The message.
        message: String,
    },
}

impl Event {
    /// The output chunk this event carries, with its stream, if it is one.
    pub fn output(&self) -> Option<(Stream, &str)> {
        match self {
            Event::Stdout { text } => Some((Stream::Stdout, text)),
            Event::Stderr { text } => Some((Stream::Stderr, text)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_a_type_tag() {
        let e = Event::Stdout {
            text: "hi\n".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"stdout","text":"hi\n"}"#
        );
        let d = Event::Display {
            bundle: MimeBundle::text("1").with("text/html", "<b>1</b>"),
        };
        let back: Event = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
        assert_eq!(d.output(), None);
        assert_eq!(e.output(), Some((Stream::Stdout, "hi\n")));
    }
}
