//! Sessions: per token and name, guest state kept in one worker between runs, ended by the
//! client or after `Config::session_idle` unused.

use crate::auth::Principal;
use crate::error::Refused;
use crate::lock;
use crate::metrics::Metrics;
use polyrun_manager::{Isolation, RuntimeManager, Session};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A client's session: guest state kept in one worker between runs.
pub(crate) struct SessionSlot {
    /// `language/backend` it runs.
    language: String,
    /// The manager's session; taken while a run of it executes.
    pub(crate) session: Mutex<Option<Session>>,
    /// When a run last used it.
    pub(crate) last_used: Mutex<Instant>,
}

/// Every token's sessions.
#[derive(Default)]
pub(crate) struct Sessions {
    slots: Mutex<HashMap<(Principal, String), Arc<SessionSlot>>>,
}

impl Sessions {
    /// `who`'s session `name` on `desc`'s backend: the open one, or a new one (at most `most`
    /// per token).
    pub(crate) fn slot(
        &self,
        who: &Principal,
        name: &str,
        desc: &polyrun_engine::RuntimeDescriptor,
        manager: &RuntimeManager,
        most: usize,
        metrics: &Metrics,
    ) -> Result<Arc<SessionSlot>, Refused> {
        let language = desc.label();
        let mut slots = lock(&self.slots);
        if let Some(slot) = slots.get(&(who.clone(), name.to_string())) {
            if slot.language != language {
                return Err(Refused::Conflict(format!(
                    "session `{name}` runs {}, not {language}",
                    slot.language
                )));
            }
            *lock(&slot.last_used) = Instant::now();
            return Ok(slot.clone());
        }
        let open = slots.keys().filter(|(owner, _)| owner == who).count();
        if open >= most {
            metrics.rejected("token_sessions");
            return Err(Refused::TooMany {
                message: format!(
                    "this token has {open} sessions open (the most it may): end one with DELETE /v1/sessions/{{id}}"
                ),
                retry_after: Duration::from_secs(1),
            });
        }
        let session = manager
            .session_on(desc.id, Some(desc.backend), Some(Isolation::Worker))
            .map_err(|e| Refused::Engine(Box::new(e.to_wire())))?;
        let slot = Arc::new(SessionSlot {
            language,
            session: Mutex::new(Some(session)),
            last_used: Mutex::new(Instant::now()),
        });
        slots.insert((who.clone(), name.to_string()), slot.clone());
        Ok(slot)
    }

    /// Ends a session (its guest state is dropped). `false` if there was none.
    pub(crate) fn end(&self, who: &Principal, name: &str) -> bool {
        lock(&self.slots)
            .remove(&(who.clone(), name.to_string()))
            .is_some()
    }

    /// Ends every session.
    pub(crate) fn clear(&self) {
        lock(&self.slots).clear();
    }

    /// Ends the sessions unused for `idle` (not one whose run is executing).
    pub(crate) fn expire(&self, idle: Duration) {
        lock(&self.slots).retain(|_, slot| {
            let busy = slot.session.try_lock().is_err();
            busy || lock(&slot.last_used).elapsed() < idle
        });
    }
}
