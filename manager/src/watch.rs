//! The watchdog of a run driven from another thread or process: sleep until something
//! happens (a message, the deadline, a trip of the run's control — no polling), and once the
//! run must stop, give it a grace period to stop by itself before it is ended by force.

use polyrun_engine::{Interrupt, RunControl};
use std::time::{Duration, Instant};

/// What the watchdog says after a wake-up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing to do: wait again.
    Wait,
    /// The run must stop: ask it to, once (the first time this is returned).
    Ask(Interrupt),
    /// The grace period is over: end it by force, with this outcome.
    Kill(Interrupt),
}

/// One run's watchdog.
pub(crate) struct Watch {
    control: RunControl,
    grace: Duration,
    stop_seen: Option<Instant>,
}

impl Watch {
    /// Watches `control`; `wake` is called (from whichever thread trips it) once it trips, so
    /// the waiting thread wakes at once.
    pub(crate) fn new(
        control: &RunControl,
        grace: Duration,
        wake: impl FnOnce() + Send + 'static,
    ) -> Self {
        control.on_stop(move |_| wake());
        Watch {
            control: control.clone(),
            grace,
            stop_seen: None,
        }
    }

    /// How long to sleep before the next look (`None`: until woken).
    pub(crate) fn timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        match self.stop_seen {
            Some(since) => Some((since + self.grace).saturating_duration_since(now)),
            None => self
                .control
                .deadline()
                .map(|d| d.saturating_duration_since(now)),
        }
    }

    /// Looks at the control after a wake-up or a timeout.
    pub(crate) fn look(&mut self) -> Verdict {
        let Some(i) = self.control.check() else {
            return Verdict::Wait;
        };
        match self.stop_seen {
            None => {
                self.stop_seen = Some(Instant::now());
                if self.grace.is_zero() {
                    Verdict::Kill(i)
                } else {
                    Verdict::Ask(i)
                }
            }
            Some(since) if since.elapsed() >= self.grace => Verdict::Kill(i),
            Some(_) => Verdict::Wait,
        }
    }
}

/// Waits on `rx` the way `watch` says: `Ok(message)`, or `Err(true)` on a timeout or a
/// wake-up, `Err(false)` when the channel is closed.
pub(crate) fn recv<T>(rx: &std::sync::mpsc::Receiver<T>, watch: &Watch) -> Result<T, bool> {
    use std::sync::mpsc::RecvTimeoutError;
    match watch.timeout() {
        None => rx.recv().map_err(|_| false),
        Some(t) => rx
            .recv_timeout(t)
            .map_err(|e| e == RecvTimeoutError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn sleeps_until_the_deadline_then_gives_grace() {
        let control = RunControl::new();
        control.arm(Some(Duration::from_millis(30)));
        let (tx, rx) = mpsc::channel::<()>();
        // As in the hosts, something else holds a sender too (the wake-up is used once).
        let _replies = tx.clone();
        let mut w = Watch::new(&control, Duration::from_millis(40), move || {
            let _ = tx.send(());
        });
        assert!(w.timeout().unwrap() <= Duration::from_millis(30));
        assert_eq!(w.look(), Verdict::Wait);
        let started = Instant::now();
        // The deadline passes: the timeout ends the wait; looking trips the control, which
        // wakes the channel too.
        assert_eq!(recv(&rx, &w), Err(true));
        assert!(started.elapsed() >= Duration::from_millis(25));
        assert_eq!(
            w.look(),
            Verdict::Ask(Interrupt::Limit(polyrun_engine::LimitKind::Time))
        );
        assert_eq!(recv(&rx, &w), Ok(()));
        assert_eq!(w.look(), Verdict::Wait);
        assert_eq!(recv(&rx, &w), Err(true));
        assert!(matches!(w.look(), Verdict::Kill(_)));
    }

    #[test]
    fn a_cancel_wakes_a_wait_without_deadline() {
        let control = RunControl::new();
        let (tx, rx) = mpsc::channel::<()>();
        let w = Watch::new(&control, Duration::from_millis(10), move || {
            let _ = tx.send(());
        });
        assert_eq!(w.timeout(), None);
        let c = control.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            c.cancel();
        });
        assert_eq!(recv(&rx, &w), Ok(()));
        t.join().unwrap();
    }
}
