//! Warm instances and named sessions on one thread: the pool that the worker process and the
//! browser bundle drive runs through (the in-process manager keeps one thread per instance
//! and drives each with the same [`crate::drive`]).

use crate::drive::{Driven, drive};
use crate::{
    Error, LoadContext, LogLevel, Outcome, Registry, RunIo, RunRequest, Runtime, RuntimeDescriptor,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A backend: `(language id, backend id)`.
pub type BackendKey = (&'static str, &'static str);

fn key(d: &RuntimeDescriptor) -> BackendKey {
    (d.id, d.backend)
}

/// Instances of a registry's backends, loaded on first use:
///
/// - a run without a session takes the backend's warm instance (or loads one) and leaves it
///   *dirty*; [`Pool::reset_pending`] (which a host calls once the run's result is out, so the
///   caller does not wait for it) brings it back to a fresh state, and a run that finds its
///   instance still dirty resets it first;
/// - a run in a named session uses that session's instance and never resets it;
/// - an instance whose run panicked or failed as a host (see [`Driven::reusable`]) is dropped,
///   and a session that lost its instance says so (a warning) on its next run.
///
/// Instances need not be `Send`: the pool lives on the thread that drives them.
pub struct Pool {
    registry: Registry,
    warm: HashMap<BackendKey, Box<dyn Runtime>>,
    dirty: Vec<(BackendKey, Box<dyn Runtime>)>,
    sessions: HashMap<String, (BackendKey, Box<dyn Runtime>)>,
    lost: HashSet<String>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("warm", &self.warm.keys().collect::<Vec<_>>())
            .field("dirty", &self.dirty.len())
            .field("sessions", &self.sessions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// An empty pool over `registry`.
    pub fn new(registry: Registry) -> Self {
        Pool {
            registry,
            warm: HashMap::new(),
            dirty: Vec::new(),
            sessions: HashMap::new(),
            lost: HashSet::new(),
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Runs `request` on the backend `desc` (in session `session`, if given) with
    /// [`crate::drive`].
    pub fn run(
        &mut self,
        desc: &RuntimeDescriptor,
        session: Option<&str>,
        request: &RunRequest,
        io: &RunIo,
    ) -> Result<Outcome, Error> {
        self.run_with(desc, session, request, io, drive)
    }

    /// [`Pool::run`] with a host's own wrapper around [`crate::drive`] (a worker process sets
    /// its allocation ceiling around it).
    pub fn run_with(
        &mut self,
        desc: &RuntimeDescriptor,
        session: Option<&str>,
        request: &RunRequest,
        io: &RunIo,
        driver: impl FnOnce(&mut dyn Runtime, &RunRequest, &RunIo) -> Driven,
    ) -> Result<Outcome, Error> {
        let k = key(desc);
        if let Some(name) = session {
            if !desc.capabilities.sessions {
                return Err(Error::InvalidRequest(format!(
                    "{} ({}) runs each program in a fresh interpreter: it has no sessions",
                    desc.name, desc.backend
                )));
            }
            if let Some((other, _)) = self.sessions.get(name)
                && *other != k
            {
                return Err(Error::InvalidRequest(format!(
                    "session `{name}` runs {}/{}, not {}",
                    other.0,
                    other.1,
                    desc.label()
                )));
            }
            if self.lost.remove(name) {
                io.log(
                    LogLevel::Warn,
                    "the session's earlier state was lost when its previous run failed",
                );
            }
        }
        let mut rt = match session.and_then(|s| self.sessions.remove(s)) {
            Some((_, rt)) => rt,
            None if session.is_some() => Self::load(desc, io)?,
            None => self.take(desc, io)?,
        };
        let Driven { result, reusable } = driver(&mut *rt, request, io);
        match (session, reusable) {
            (Some(name), true) => {
                self.sessions.insert(name.to_string(), (k, rt));
            }
            (Some(name), false) => {
                self.lost.insert(name.to_string());
            }
            (None, true) => self.dirty.push((k, rt)),
            (None, false) => {}
        }
        result
    }

    fn load(desc: &RuntimeDescriptor, io: &RunIo) -> Result<Box<dyn Runtime>, Error> {
        let progress = io.clone();
        let ctx = LoadContext::with_progress(Arc::new(move |e| progress.forward(e)));
        (desc.load)(&ctx)
    }

    /// The backend's fresh instance: the warm one, a dirty one reset now, or a new one.
    fn take(&mut self, desc: &RuntimeDescriptor, io: &RunIo) -> Result<Box<dyn Runtime>, Error> {
        let k = key(desc);
        if let Some(rt) = self.warm.remove(&k) {
            return Ok(rt);
        }
        if let Some(at) = self.dirty.iter().position(|(d, _)| *d == k) {
            let (_, mut rt) = self.dirty.swap_remove(at);
            if rt.reset().is_ok() {
                return Ok(rt);
            }
        }
        Self::load(desc, io)
    }

    /// Brings instances used by runs since the last call back to a fresh state (an instance
    /// whose reset fails is dropped). Hosts call it when a run's result is out.
    pub fn reset_pending(&mut self) {
        for (k, mut rt) in std::mem::take(&mut self.dirty) {
            if rt.reset().is_ok() && !self.warm.contains_key(&k) {
                self.warm.insert(k, rt);
            }
        }
    }

    /// Forgets a session's state; `false` if there was no such session.
    pub fn end_session(&mut self, name: &str) -> bool {
        self.lost.remove(name);
        self.sessions.remove(name).is_some()
    }

    /// Forgets every instance (warm, dirty and sessions').
    pub fn clear(&mut self) {
        self.warm.clear();
        self.dirty.clear();
        self.sessions.clear();
        self.lost.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{DESCRIPTOR, SECOND};
    use crate::{Event, RunControl, VecStdin};
    use std::sync::Mutex;

    fn pool() -> Pool {
        let mut r = Registry::new();
        r.register(DESCRIPTOR);
        r.register(SECOND);
        Pool::new(r)
    }

    /// Runs `code`, returns (stdout, outcome or error text, logs).
    fn run(
        pool: &mut Pool,
        backend: Option<&str>,
        session: Option<&str>,
        code: &str,
    ) -> (String, Result<Outcome, String>, Vec<String>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let io = RunIo::new(
            move |e| sink.lock().unwrap().push(e),
            Box::new(VecStdin::new("")),
            RunControl::new(),
            None,
        );
        let desc = *pool.registry().resolve("script", backend).unwrap();
        let result = pool
            .run(&desc, session, &RunRequest::new(code), &io)
            .map_err(|e| e.to_string());
        let mut out = String::new();
        let mut logs = Vec::new();
        for e in events.lock().unwrap().iter() {
            match e {
                Event::Stdout { text } => out.push_str(text),
                Event::Log { message, .. } => logs.push(message.clone()),
                _ => {}
            }
        }
        (out, result, logs)
    }

    fn instance(out: &str) -> &str {
        out.split(" run").next().unwrap()
    }

    #[test]
    fn fresh_state_per_run_and_the_instance_is_reused() {
        let mut p = pool();
        let (a, _, _) = run(&mut p, None, None, "get x\nset x 1\nwhoami");
        assert!(a.starts_with("unset\ninstance "), "{a}");
        // The dirty instance is reset on demand when no reset_pending came in between.
        let (b, _, _) = run(&mut p, None, None, "get x\nwhoami");
        assert!(b.starts_with("unset\n"), "{b}");
        assert_eq!(instance(&a[6..]), instance(&b[6..]));
        p.reset_pending();
        let (c, _, _) = run(&mut p, None, None, "get x\nwhoami");
        assert_eq!(instance(&c[6..]), instance(&a[6..]));
    }

    #[test]
    fn sessions_keep_state_and_end() {
        let mut p = pool();
        let _ = run(&mut p, None, Some("s"), "set x 1");
        let (out, _, _) = run(&mut p, None, Some("s"), "get x");
        assert_eq!(out, "1\n");
        let (out, _, _) = run(&mut p, None, None, "get x");
        assert_eq!(out, "unset\n");
        assert_eq!(p.session_count(), 1);
        let (_, err, _) = run(&mut p, Some("scripted-b"), Some("s"), "get x");
        assert!(
            err.unwrap_err()
                .contains("session `s` runs script/scripted")
        );
        assert!(p.end_session("s"));
        assert!(!p.end_session("s"));
        let (out, _, _) = run(&mut p, None, Some("s"), "get x");
        assert_eq!(out, "unset\n");
    }

    #[test]
    fn backends_are_kept_apart() {
        let mut p = pool();
        let (a, _, _) = run(&mut p, None, None, "whoami");
        let (b, _, _) = run(&mut p, Some("scripted-b"), None, "whoami");
        assert!(a.ends_with("backend scripted\n"), "{a}");
        assert!(b.ends_with("backend scripted-b\n"), "{b}");
    }

    #[test]
    fn a_panicking_instance_is_dropped_and_a_session_says_it_lost_state() {
        let mut p = pool();
        let (a, _, _) = run(&mut p, None, None, "whoami");
        let (_, crashed, _) = run(&mut p, None, None, "panic");
        assert!(
            matches!(&crashed, Ok(Outcome::Crashed { reason }) if reason.contains("panicked")),
            "{crashed:?}"
        );
        let (b, _, _) = run(&mut p, None, None, "whoami");
        assert_ne!(instance(&a), instance(&b));

        let _ = run(&mut p, None, Some("s"), "set x 1");
        let (_, err, _) = run(&mut p, None, Some("s"), "fail");
        assert!(err.unwrap_err().contains("scripted failure"));
        let (out, ok, logs) = run(&mut p, None, Some("s"), "get x");
        assert_eq!(out, "unset\n");
        assert!(ok.is_ok());
        assert!(logs[0].contains("state was lost"), "{logs:?}");
    }

    #[test]
    fn an_instance_whose_reset_fails_is_replaced() {
        let mut p = pool();
        let (a, _, _) = run(&mut p, None, None, "fail-reset\nwhoami");
        p.reset_pending();
        let (b, _, _) = run(&mut p, None, None, "whoami");
        assert_ne!(instance(&a), instance(&b));
    }

    #[test]
    fn languages_without_sessions_refuse_them() {
        let mut r = Registry::new();
        r.register(RuntimeDescriptor {
            capabilities: crate::Capabilities {
                sessions: false,
                ..DESCRIPTOR.capabilities
            },
            ..DESCRIPTOR
        });
        let mut p = Pool::new(r);
        let (_, err, _) = run(&mut p, None, Some("s"), "print 1");
        assert!(err.unwrap_err().contains("has no sessions"));
    }
}
