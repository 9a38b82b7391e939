use crate::error::Error;
use crate::event::Event;
use crate::io::RunIo;
use crate::limits::Limits;
use crate::outcome::Outcome;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a backend can do, so that callers (and the manager's isolation policy) can tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The backend itself can stop running guest code at the deadline or on cancel (e.g. Lua's
    /// instruction hook). When `false`, only a worker process (or Web Worker) is a hard stop.
    pub preemptible: bool,
    /// The backend enforces [`Limits::memory_bytes`] itself, in process.
    pub memory_limit: bool,
    /// Guest code can read standard input.
    pub stdin: bool,
    /// Guest state survives between runs of a session.
    pub sessions: bool,
}

/// A backend's identity and abilities, as listings show it (`polyrun langs --json`, the worker's
/// ready message, the browser's language list, `GET /v1/languages`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// Canonical language id: `javascript`, `lua`.
    pub language: String,
    /// Human name: `JavaScript`.
    pub name: String,
    /// Backend id, what `--backend` takes: `boa`, `mlua`.
    pub backend: String,
    /// Language / backend version: `Lua 5.4`.
    pub version: String,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Other names the language answers to.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// File extensions without the dot.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// `true` for the language's default backend in this registry.
    #[serde(default)]
    pub default: bool,
}

/// One run of guest code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The source code.
    pub code: String,
    /// A name for the code in diagnostics (`main.lua`), when the caller has one.
    #[serde(default)]
    pub filename: Option<String>,
    /// Limits for this run.
    #[serde(default)]
    pub limits: Limits,
}

impl RunRequest {
    /// A request with default limits and no file name.
    pub fn new(code: impl Into<String>) -> Self {
        RunRequest {
            code: code.into(),
            filename: None,
            limits: Limits::default(),
        }
    }

    /// The base name of [`RunRequest::filename`] (`dir/main.lua` → `main.lua`), or `default`:
    /// the name backends put in diagnostics.
    pub fn file_name<'a>(&'a self, default: &'a str) -> &'a str {
        self.filename
            .as_deref()
            .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f))
            .filter(|f| !f.is_empty())
            .unwrap_or(default)
    }
}

/// A language backend instance. One instance holds one guest state (globals survive between
/// runs until [`Runtime::reset`]).
///
/// Instances need not be `Send`: interpreters such as Boa are single-threaded, so the manager
/// creates each instance on the thread that will drive it.
pub trait Runtime {
    /// Runs `request.code`. Output, display values and stdin go through `io`; the backend
    /// polls `io.control()` and must end promptly once it reports an interrupt. A guest failure
    /// is `Ok(Outcome::Error..)`; `Err` is for host failures only.
    ///
    /// Hosts never call this directly but through [`crate::drive`], which starts the run's
    /// clock, skips a run stopped before it began, catches panics and lets an interrupt win
    /// over whatever the guest ended with.
    fn run(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error>;

    /// Returns the instance to a fresh guest state, reusing what can be reused.
    fn reset(&mut self) -> Result<(), Error>;
}

/// What loading a backend may use: a progress callback for slow loads.
#[derive(Clone, Default)]
pub struct LoadContext {
    progress: Option<Arc<dyn Fn(Event) + Send + Sync>>,
}

impl std::fmt::Debug for LoadContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadContext").finish_non_exhaustive()
    }
}

impl LoadContext {
    /// A context that reports progress to `sink`.
    pub fn with_progress(sink: Arc<dyn Fn(Event) + Send + Sync>) -> Self {
        LoadContext {
            progress: Some(sink),
        }
    }

    /// Reports progress of a loading stage.
    pub fn progress(&self, stage: &str, done: u64, total: Option<u64>) {
        if let Some(p) = &self.progress {
            p(Event::Progress {
                stage: stage.to_string(),
                done,
                total,
            });
        }
    }
}

/// The names of a language whose backends live in crates that do not depend on each other
/// (Python: RustPython, and Pyodide in the browser bundle; JavaScript: QuickJS, Boa and the
/// page's engine): each backend's descriptor takes them
/// from one constant, so that every backend answers to the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LanguageNames {
    /// Canonical id ([`RuntimeDescriptor::id`]).
    pub id: &'static str,
    /// Human name ([`RuntimeDescriptor::name`]).
    pub name: &'static str,
    /// Other names ([`RuntimeDescriptor::aliases`]).
    pub aliases: &'static [&'static str],
    /// File extensions ([`RuntimeDescriptor::extensions`]).
    pub extensions: &'static [&'static str],
}

/// Python's names.
pub const PYTHON: LanguageNames = LanguageNames {
    id: "python",
    name: "Python",
    aliases: &["py", "python3"],
    extensions: &["py"],
};

/// JavaScript's names.
pub const JAVASCRIPT: LanguageNames = LanguageNames {
    id: "javascript",
    name: "JavaScript",
    aliases: &["js", "node", "ecmascript"],
    extensions: &["js", "mjs", "cjs"],
};

/// What a backend registers: how to find it and how to make an instance.
#[derive(Clone, Copy)]
pub struct RuntimeDescriptor {
    /// Canonical id (`javascript`).
    pub id: &'static str,
    /// Human name (`JavaScript`).
    pub name: &'static str,
    /// Other names it answers to (`js`, `node`).
    pub aliases: &'static [&'static str],
    /// File extensions without the dot (`js`, `mjs`).
    pub extensions: &'static [&'static str],
    /// Backend id (`boa`), unique within the language: what callers choose with `--backend`.
    pub backend: &'static str,
    /// Language / backend version string.
    pub version: &'static str,
    /// What instances can do.
    pub capabilities: Capabilities,
    /// Makes a fresh instance. Called on the thread that will drive it.
    pub load: fn(&LoadContext) -> Result<Box<dyn Runtime>, Error>,
    /// Fetches, verifies and precompiles what the backend needs ahead of its first run
    /// (`polyrun fetch`); `None` for backends that need nothing.
    pub prepare: Option<Prepare>,
}

/// Fetches and precompiles a backend's artifacts; see [`Prepare::run`].
pub type PrepareFn = fn(&LoadContext) -> Result<PrepareReport, Error>;

/// How a backend gets what it needs on disk before it can load; see
/// [`RuntimeDescriptor::prepare`].
#[derive(Clone, Copy)]
pub struct Prepare {
    /// Fetches, builds, verifies and precompiles (network, compilers): what `polyrun fetch`
    /// runs. A second call only verifies.
    pub run: PrepareFn,
    /// `true` once nothing must be fetched, built or compiled any more — a cheap check of
    /// files (no hashing). Hosts with worker processes check it before a backend's first run
    /// and run [`Prepare::run`] in their own process when it is `false`: a confined worker can
    /// neither open a socket nor start a compiler, and a first compile inside a run would
    /// count against its time limit.
    pub ready: fn() -> bool,
}

impl std::fmt::Debug for Prepare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepare").finish_non_exhaustive()
    }
}

/// What [`RuntimeDescriptor::prepare`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrepareReport {
    /// Human-readable lines, one per artifact or step.
    pub lines: Vec<String>,
    /// `false` when everything was already in place.
    pub did_work: bool,
}

impl std::fmt::Debug for RuntimeDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeDescriptor")
            .field("id", &self.id)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl RuntimeDescriptor {
    /// Its [`RuntimeInfo`] (`default` is the registry's to say: [`crate::Registry::infos`]).
    pub fn info(&self) -> RuntimeInfo {
        RuntimeInfo {
            language: self.id.to_string(),
            name: self.name.to_string(),
            backend: self.backend.to_string(),
            version: self.version.to_string(),
            capabilities: self.capabilities,
            aliases: self.aliases.iter().map(|a| a.to_string()).collect(),
            extensions: self.extensions.iter().map(|e| e.to_string()).collect(),
            default: false,
        }
    }

    /// `language/backend`: how logs and errors name it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.id, self.backend)
    }

    /// `true` if `name` is its id or one of its aliases (case-insensitive).
    pub fn answers_to(&self, name: &str) -> bool {
        self.id.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_is_the_base_name_or_the_default() {
        let mut r = RunRequest::new("x");
        assert_eq!(r.file_name("input"), "input");
        r.filename = Some("dir/sub/main.lua".into());
        assert_eq!(r.file_name("input"), "main.lua");
        r.filename = Some(r"C:\code\a.js".into());
        assert_eq!(r.file_name("input"), "a.js");
        r.filename = Some("dir/".into());
        assert_eq!(r.file_name("input"), "input");
    }
}
