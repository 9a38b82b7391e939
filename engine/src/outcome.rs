use crate::control::Interrupt;
use crate::event::MimeBundle;
use crate::limits::LimitKind;
use serde::{Deserialize, Serialize};

/// One frame of a guest's stack, in the user's own coordinates (1-based).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Function name, when the backend knows it.
    pub function: Option<String>,
    /// 1-based line in the user's code.
    pub line: Option<u32>,
    /// 1-based column in the user's code.
    pub column: Option<u32>,
}

/// A guest error, structured: what kind, what it says, and where in the user's code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The error's kind as the language names it: `SyntaxError`, `TypeError`, `RuntimeError`...
    pub kind: String,
    /// The message, without location prefixes.
    pub message: String,
    /// 1-based line in the user's code, when known.
    pub line: Option<u32>,
    /// 1-based column in the user's code, when known.
    pub column: Option<u32>,
    /// Stack frames, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Frame>,
}

impl Diagnostic {
    /// A diagnostic with only a kind and a message.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            kind: kind.into(),
            message: message.into(),
            ..Default::default()
        }
    }

    /// Sets the location.
    pub fn at(mut self, line: Option<u32>, column: Option<u32>) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    /// Formats as `FILE:LINE:COL: Kind: message` (the parts that are known).
    pub fn render(&self, file: &str) -> String {
        let mut loc = file.to_string();
        if let Some(l) = self.line {
            loc.push_str(&format!(":{l}"));
            if let Some(c) = self.column {
                loc.push_str(&format!(":{c}"));
            }
        }
        format!("{loc}: {}: {}", self.kind, self.message)
    }
}

/// How a run ended. Serialised with a `status` tag: `{"status":"completed","value":null}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The code ran to its end. `value` is the last expression's value, when the language has
    /// one and it is not empty (`undefined`, `nil`).
    Completed {
        /// The value as a MIME bundle.
        value: Option<MimeBundle>,
    },
    /// The guest raised an error it did not handle (syntax or runtime).
    Error {
        /// What and where.
        diagnostic: Diagnostic,
    },
    /// A limit stopped the run.
    LimitExceeded {
        /// Which one.
        limit: LimitKind,
    },
    /// The caller cancelled the run.
    Cancelled,
    /// The isolated worker running the guest died (killed from outside, or a fatal host
    /// fault); the manager replaced it.
    Crashed {
        /// What is known of the death (signal, exit code).
        reason: String,
    },
}

impl Outcome {
    /// The outcome for an [`Interrupt`].
    pub fn from_interrupt(i: Interrupt) -> Self {
        match i {
            Interrupt::Cancelled => Outcome::Cancelled,
            Interrupt::Limit(limit) => Outcome::LimitExceeded { limit },
        }
    }

    /// `true` for [`Outcome::Completed`].
    pub fn is_completed(&self) -> bool {
        matches!(self, Outcome::Completed { .. })
    }

    /// A short status word: `completed`, `error`, `limit_exceeded`, `cancelled`, `crashed`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Completed { .. } => "completed",
            Outcome::Error { .. } => "error",
            Outcome::LimitExceeded { .. } => "limit_exceeded",
            Outcome::Cancelled => "cancelled",
            Outcome::Crashed { .. } => "crashed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_serialise() {
        let d = Diagnostic::new("TypeError", "x is not a function").at(Some(3), Some(5));
        assert_eq!(d.render("a.js"), "a.js:3:5: TypeError: x is not a function");
        assert_eq!(
            Diagnostic::new("E", "m").at(Some(2), None).render("f"),
            "f:2: E: m"
        );
        let o = Outcome::LimitExceeded {
            limit: LimitKind::Time,
        };
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"status":"limit_exceeded","limit":"time"}"#
        );
        let o = Outcome::Error { diagnostic: d };
        let back: Outcome = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
        assert_eq!(
            Outcome::from_interrupt(Interrupt::Cancelled).status(),
            "cancelled"
        );
    }
}
