use serde::{Deserialize, Serialize};

/// A failure of the host, never of the guest: guest failures are [`crate::Outcome`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No registered backend answers to this name, alias or file extension.
    #[error("unknown language `{name}` (available: {})", available.join(", "))]
    UnknownLanguage {
        /// What the caller asked for.
        name: String,
        /// Canonical ids of the languages this build has.
        available: Vec<String>,
    },
    /// The language exists, but has no backend of this name.
    #[error("{language} has no backend `{name}` (available: {})", available.join(", "))]
    UnknownBackend {
        /// Canonical language id.
        language: String,
        /// The backend asked for.
        name: String,
        /// The language's backends.
        available: Vec<String>,
    },
    /// A backend failed to start.
    #[error("failed to load the {language} runtime: {message}")]
    Load {
        /// Canonical language id.
        language: String,
        /// What went wrong.
        message: String,
    },
    /// The request itself is malformed (bad limit, empty language, bad protocol message).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A worker process could not be started or talked to.
    #[error("worker: {0}")]
    Worker(String),
    /// A backend broke an invariant of its own (a bug in polyrun, not in the guest), or
    /// panicked.
    #[error("internal error: {0}")]
    Internal(String),
    /// An operating-system I/O error on the host side.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What kind of [`Error`] it is, as every boundary (worker protocol, browser bundle, HTTP)
/// names it: `unknown_language`, `unknown_backend`, `invalid_request`, `load`, `worker`,
/// `internal`, `io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::UnknownLanguage`].
    UnknownLanguage,
    /// [`Error::UnknownBackend`].
    UnknownBackend,
    /// [`Error::InvalidRequest`].
    InvalidRequest,
    /// [`Error::Load`].
    Load,
    /// [`Error::Worker`].
    Worker,
    /// [`Error::Internal`].
    Internal,
    /// [`Error::Io`].
    Io,
}

/// An [`Error`] as it crosses a boundary, without loss: its kind, its message, and the fields
/// a caller may act on (the language, what was asked for, what is available).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// The kind.
    pub kind: ErrorKind,
    /// The whole message, as [`Error`]'s `Display` writes it.
    pub message: String,
    /// The language concerned (unknown backend, load failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// What was asked for (unknown language or backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What is available instead (unknown language or backend).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub available: Vec<String>,
    /// The detail without the kind's prefix (`Load`, `InvalidRequest`, `Worker`, `Internal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Error {
    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownLanguage { .. } => ErrorKind::UnknownLanguage,
            Error::UnknownBackend { .. } => ErrorKind::UnknownBackend,
            Error::Load { .. } => ErrorKind::Load,
            Error::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Error::Worker(_) => ErrorKind::Worker,
            Error::Internal(_) => ErrorKind::Internal,
            Error::Io(_) => ErrorKind::Io,
        }
    }

    /// The error as it crosses a boundary.
    pub fn to_wire(&self) -> WireError {
        let mut w = WireError {
            kind: self.kind(),
            message: self.to_string(),
            language: None,
            name: None,
            available: Vec::new(),
            detail: None,
        };
        match self {
            Error::UnknownLanguage { name, available } => {
                w.name = Some(name.clone());
                w.available = available.clone();
            }
            Error::UnknownBackend {
                language,
                name,
                available,
            } => {
                w.language = Some(language.clone());
                w.name = Some(name.clone());
                w.available = available.clone();
            }
            Error::Load { language, message } => {
                w.language = Some(language.clone());
                w.detail = Some(message.clone());
            }
            Error::InvalidRequest(m) | Error::Worker(m) | Error::Internal(m) => {
                w.detail = Some(m.clone());
            }
            Error::Io(_) => {}
        }
        w
    }
}

impl From<WireError> for Error {
    /// The error back, with every field the other side sent.
    fn from(w: WireError) -> Self {
        let detail = || w.detail.clone().unwrap_or_else(|| w.message.clone());
        match w.kind {
            ErrorKind::UnknownLanguage => Error::UnknownLanguage {
                name: w.name.clone().unwrap_or_default(),
                available: w.available.clone(),
            },
            ErrorKind::UnknownBackend => Error::UnknownBackend {
                language: w.language.clone().unwrap_or_default(),
                name: w.name.clone().unwrap_or_default(),
                available: w.available.clone(),
            },
            ErrorKind::Load => Error::Load {
                language: w.language.clone().unwrap_or_default(),
                message: detail(),
            },
            ErrorKind::InvalidRequest => Error::InvalidRequest(detail()),
            ErrorKind::Worker => Error::Worker(detail()),
            ErrorKind::Internal => Error::Internal(detail()),
            ErrorKind::Io => Error::Io(std::io::Error::other(w.message.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_the_wire_without_loss() {
        for e in [
            Error::UnknownLanguage {
                name: "cobol".into(),
                available: vec!["lua".into(), "ruby".into()],
            },
            Error::UnknownBackend {
                language: "javascript".into(),
                name: "v8".into(),
                available: vec!["boa".into()],
            },
            Error::Load {
                language: "ruby".into(),
                message: "no network".into(),
            },
            Error::InvalidRequest("bad".into()),
            Error::Internal("oops".into()),
        ] {
            let json = serde_json::to_string(&e.to_wire()).unwrap();
            let back: Error = serde_json::from_str::<WireError>(&json).unwrap().into();
            assert_eq!(back.to_string(), e.to_string(), "{json}");
            assert_eq!(back.kind(), e.kind());
            assert_eq!(back.to_wire(), e.to_wire());
        }
        let w = Error::UnknownLanguage {
            name: "x".into(),
            available: vec!["lua".into()],
        }
        .to_wire();
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            serde_json::json!({"kind": "unknown_language", "message": "unknown language `x` (available: lua)", "name": "x", "available": ["lua"]})
        );
    }
}
