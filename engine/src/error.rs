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
    /// A backend broke an invariant of its own (a bug in polyrun, not in the guest).
    #[error("internal error: {0}")]
    Internal(String),
    /// An operating-system I/O error on the host side.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
