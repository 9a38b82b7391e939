//! The report a guest-side prelude (Python's, Ruby's, PHP's) sends its host at the end of a run:
//! an [`Outcome`] as JSON, exactly as the engine serialises it —
//! `{"status":"completed","value":{"text/plain":"42"}}`,
//! `{"status":"error","diagnostic":{"kind":"NameError","message":"…","line":3,"frames":[…]}}`,
//! `{"status":"limit_exceeded","limit":"memory"}`. Optional fields (`line`, `column`, a frame's
//! `function`) may be left out.

use crate::Outcome;

/// The outcome in a prelude's report; a report that does not parse is a crash of `what`
/// (`the Ruby prelude`), with the reason.
pub fn outcome(json: &str, what: &str) -> Outcome {
    serde_json::from_str(json).unwrap_or_else(|e| Outcome::Crashed {
        reason: format!("unreadable report from {what}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Diagnostic, Frame, LimitKind, MimeBundle};

    #[test]
    fn reports_are_outcomes() {
        assert_eq!(
            outcome(r#"{"status":"completed","value":{"text/plain":"42"}}"#, "p"),
            Outcome::Completed {
                value: Some(MimeBundle::text("42"))
            }
        );
        assert_eq!(
            outcome(r#"{"status":"completed","value":null}"#, "p"),
            Outcome::Completed { value: None }
        );
        let mut d = Diagnostic::new("NameError", "x").at(Some(3), None);
        d.frames = vec![Frame {
            function: Some("f".into()),
            line: Some(2),
            column: None,
        }];
        assert_eq!(
            outcome(
                r#"{"status":"error","diagnostic":{"kind":"NameError","message":"x","line":3,"frames":[{"function":"f","line":2}]}}"#,
                "p"
            ),
            Outcome::Error { diagnostic: d }
        );
        assert_eq!(
            outcome(r#"{"status":"limit_exceeded","limit":"memory"}"#, "p"),
            Outcome::LimitExceeded {
                limit: LimitKind::Memory
            }
        );
        let bad = outcome("{", "the Ruby prelude");
        assert!(format!("{bad:?}").contains("unreadable report from the Ruby prelude"));
    }
}
