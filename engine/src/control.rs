use crate::limits::LimitKind;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
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

impl Interrupt {
    /// Plain words with the limit's amount: `time limit of 1.5 s exceeded`,
    /// `memory limit of 64 MiB exceeded`, `cancelled`.
    pub fn describe(self, limits: &crate::Limits) -> String {
        let amount = match self {
            Interrupt::Cancelled => None,
            Interrupt::Limit(LimitKind::Time) => limits.wall_time.map(|d| {
                if d < Duration::from_secs(1) {
                    format!("{} ms", d.as_millis())
                } else {
                    format!("{} s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
                }
            }),
            Interrupt::Limit(LimitKind::Memory) => limits.memory_bytes.map(crate::limits::bytes),
            Interrupt::Limit(LimitKind::Output) => limits.output_bytes.map(crate::limits::bytes),
        };
        match (self, amount) {
            (Interrupt::Limit(k), Some(a)) => format!("{k} limit of {a} exceeded"),
            _ => self.to_string(),
        }
    }
}

impl std::fmt::Display for Interrupt {
    /// `cancelled`, `time limit exceeded`, `memory limit exceeded`, `output limit exceeded`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interrupt::Cancelled => f.write_str("cancelled"),
            Interrupt::Limit(k) => write!(f, "{k} limit exceeded"),
        }
    }
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

/// A callback of [`RunControl::on_stop`].
type OnStop = Box<dyn FnOnce(Interrupt) + Send>;

#[derive(Default)]
struct Inner {
    state: AtomicU8,
    deadline: OnceLock<Instant>,
    /// Waiters of [`RunControl::wait`] sleep here; every trip wakes them.
    lock: Mutex<()>,
    woken: Condvar,
    /// What runs at the trip: [`RunControl::on_stop`] callbacks, [`RunControl::child`] links.
    on_stop: Mutex<Vec<OnStop>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("state", &decode(self.state.load(Ordering::SeqCst)))
            .field("deadline", &self.deadline.get())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn trip(&self, why: Interrupt) {
        if self
            .state
            .compare_exchange(RUNNING, encode(why), Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        {
            // Taking the lock orders the trip before any waiter's next look at the state.
            let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.woken.notify_all();
        }
        let callbacks =
            std::mem::take(&mut *self.on_stop.lock().unwrap_or_else(|p| p.into_inner()));
        for f in callbacks {
            f(why);
        }
    }
}

/// The shared stop signal of one run: cancel flag, deadline and "limit tripped" state.
///
/// Cheap to clone and `Send + Sync`: the caller keeps a clone as its cancel handle, the backend
/// polls [`RunControl::check`] from its interrupt hook, and host threads sleep in
/// [`RunControl::wait`] until it trips (no polling). The first interrupt wins and sticks, so a
/// guest that catches the resulting error is stopped again at the next check. A
/// [`RunControl::child`] (a pipeline step's run) stops when its parent does.
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

    /// Records an interrupt unless one was recorded already (the first one wins), wakes every
    /// [`RunControl::wait`]er and trips the linked children.
    pub fn trip(&self, why: Interrupt) {
        self.inner.trip(why);
    }

    /// A new control linked to this one: when this one trips (cancel, its deadline, a limit),
    /// the child trips with the same interrupt; the child's own trips do not reach the parent.
    /// A child of a control that has tripped already starts tripped.
    pub fn child(&self) -> RunControl {
        let child = RunControl::new();
        let link: Weak<Inner> = Arc::downgrade(&child.inner);
        self.on_stop(move |i| {
            if let Some(c) = link.upgrade() {
                c.trip(i);
            }
        });
        child
    }

    /// Calls `f` once, with the interrupt, when the control trips — at once if it has tripped
    /// already. A passing deadline trips the control only when somebody looks
    /// ([`RunControl::check`], [`RunControl::wait`]), so `f` does not fire by itself then.
    pub fn on_stop(&self, f: impl FnOnce(Interrupt) + Send + 'static) {
        let mut callbacks = self.inner.on_stop.lock().unwrap_or_else(|p| p.into_inner());
        match self.interrupted() {
            Some(i) => {
                drop(callbacks);
                f(i);
            }
            None => callbacks.push(Box::new(f)),
        }
    }

    /// Sleeps until the run must stop (an interrupt, or the armed deadline passing — which then
    /// trips [`LimitKind::Time`]) or `timeout` has passed, whichever comes first; returns the
    /// interrupt, if any. `None` for `timeout` waits for the stop alone. Native threads only:
    /// the browser's one thread must never block.
    pub fn wait(&self, timeout: Option<Duration>) -> Option<Interrupt> {
        let started = Instant::now();
        let mut guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            // Not `check()` under the lock: tripping takes the lock.
            if let Some(i) = self.interrupted() {
                return Some(i);
            }
            let now = Instant::now();
            let deadline = self.deadline();
            if deadline.is_some_and(|d| now >= d) {
                drop(guard);
                return self.check();
            }
            let mut until = timeout.map(|t| started + t);
            if let Some(d) = deadline {
                until = Some(until.map_or(d, |u| u.min(d)));
            }
            guard = match until {
                Some(u) if u <= now => return None,
                Some(u) => {
                    self.inner
                        .woken
                        .wait_timeout(guard, u - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self
                    .inner
                    .woken
                    .wait(guard)
                    .unwrap_or_else(|p| p.into_inner()),
            };
        }
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

    #[test]
    fn interrupts_read_as_plain_words() {
        let limits = crate::Limits {
            wall_time: Some(Duration::from_millis(1500)),
            memory_bytes: Some(64 << 20),
            output_bytes: Some(1000),
            recursion_depth: None,
        };
        assert_eq!(Interrupt::Cancelled.to_string(), "cancelled");
        assert_eq!(
            Interrupt::Limit(LimitKind::Time).describe(&limits),
            "time limit of 1.5 s exceeded"
        );
        assert_eq!(
            Interrupt::Limit(LimitKind::Memory).describe(&limits),
            "memory limit of 64 MiB exceeded"
        );
        assert_eq!(
            Interrupt::Limit(LimitKind::Output).describe(&limits),
            "output limit of 1000 bytes exceeded"
        );
        assert_eq!(
            Interrupt::Limit(LimitKind::Time).describe(&crate::Limits::unlimited()),
            "time limit exceeded"
        );
    }

    #[test]
    fn wait_wakes_on_trip_and_on_the_deadline() {
        let c = RunControl::new();
        assert_eq!(c.wait(Some(Duration::from_millis(5))), None);
        let other = c.clone();
        let t = std::thread::spawn(move || other.wait(None));
        std::thread::sleep(Duration::from_millis(20));
        c.cancel();
        assert_eq!(t.join().unwrap(), Some(Interrupt::Cancelled));

        let c = RunControl::new();
        c.arm(Some(Duration::from_millis(10)));
        assert_eq!(c.wait(None), Some(Interrupt::Limit(LimitKind::Time)));
    }

    #[test]
    fn children_follow_their_parent_not_the_other_way() {
        let parent = RunControl::new();
        let child = parent.child();
        child.trip(Interrupt::Limit(LimitKind::Output));
        assert_eq!(parent.check(), None);
        let second = parent.child();
        parent.cancel();
        assert_eq!(second.check(), Some(Interrupt::Cancelled));
        // The first child keeps its own, earlier interrupt.
        assert_eq!(child.check(), Some(Interrupt::Limit(LimitKind::Output)));
        // A child of a stopped control starts stopped.
        assert_eq!(parent.child().check(), Some(Interrupt::Cancelled));
    }
}
