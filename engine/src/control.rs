use crate::limits::LimitKind;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use web_time::Instant;

/// Why a run must stop now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "limit")]
pub enum Interrupt {
    /// Somebody called [`RunControl::cancel`].
    Cancelled,
    /// A limit was exceeded.
    Limit(LimitKind),
}

const RUNNING: u8 = 0;
const CANCELLED: u8 = 1;
const TIME: u8 = 2;
const MEMORY: u8 = 3;
const OUTPUT: u8 = 4;

fn encode(i: Interrupt) -> u8 {
    match i {
        Interrupt::Cancelled => CANCELLED,
        Interrupt::Limit(LimitKind::Time) => TIME,
        Interrupt::Limit(LimitKind::Memory) => MEMORY,
        Interrupt::Limit(LimitKind::Output) => OUTPUT,
    }
}

fn decode(v: u8) -> Option<Interrupt> {
    match v {
        CANCELLED => Some(Interrupt::Cancelled),
        TIME => Some(Interrupt::Limit(LimitKind::Time)),
        MEMORY => Some(Interrupt::Limit(LimitKind::Memory)),
        OUTPUT => Some(Interrupt::Limit(LimitKind::Output)),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct Inner {
    state: AtomicU8,
    deadline: OnceLock<Instant>,
}

/// The shared stop signal of one run: cancel flag, deadline and "limit tripped" state.
///
/// Cheap to clone and `Send + Sync`: the caller keeps a clone as its cancel handle, the backend
/// polls [`RunControl::check`] from its interrupt hook. The first interrupt wins and sticks, so a
/// guest that catches the resulting error is stopped again at the next check.
#[derive(Clone, Debug, Default)]
pub struct RunControl {
    inner: Arc<Inner>,
}

impl RunControl {
    /// A fresh control with no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the wall-clock budget now. Only the first call has an effect.
    pub fn arm(&self, wall_time: Option<Duration>) {
        if let Some(w) = wall_time {
            let _ = self.inner.deadline.set(Instant::now() + w);
        }
    }

    /// The deadline, once armed.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline.get().copied()
    }

    /// Asks the run to stop; it ends with [`crate::Outcome::Cancelled`].
    pub fn cancel(&self) {
        self.trip(Interrupt::Cancelled);
    }

    /// Records an interrupt unless one was recorded already (the first one wins).
    pub fn trip(&self, why: Interrupt) {
        let _ = self.inner.state.compare_exchange(
            RUNNING,
            encode(why),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// The recorded interrupt, without looking at the clock.
    pub fn interrupted(&self) -> Option<Interrupt> {
        decode(self.inner.state.load(Ordering::SeqCst))
    }

    /// The recorded interrupt, after tripping [`LimitKind::Time`] if the deadline has passed.
    /// Backends call this from their periodic hook.
    pub fn check(&self) -> Option<Interrupt> {
        if let Some(i) = self.interrupted() {
            return Some(i);
        }
        if let Some(d) = self.inner.deadline.get()
            && Instant::now() >= *d
        {
            self.trip(Interrupt::Limit(LimitKind::Time));
        }
        self.interrupted()
    }

    /// `true` if both handles control the same run.
    pub fn same_run(&self, other: &RunControl) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_interrupt_wins_and_deadline_trips_time() {
        let c = RunControl::new();
        assert_eq!(c.check(), None);
        c.trip(Interrupt::Limit(LimitKind::Output));
        c.cancel();
        assert_eq!(c.check(), Some(Interrupt::Limit(LimitKind::Output)));

        let c = RunControl::new();
        c.arm(Some(Duration::from_millis(0)));
        assert_eq!(c.check(), Some(Interrupt::Limit(LimitKind::Time)));
        let clone = c.clone();
        assert!(clone.same_run(&c));
        assert!(!RunControl::new().same_run(&c));
    }
}
