//! The one way every host runs a backend: [`drive`].

use crate::{Error, Outcome, RunIo, RunRequest, Runtime};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// How [`drive`] went.
#[derive(Debug)]
pub struct Driven {
    /// The outcome, or the host failure.
    pub result: Result<Outcome, Error>,
    /// `false` when the instance must not run again (it panicked, or failed as a host): drop
    /// it and load another.
    pub reusable: bool,
}

/// The message of a caught panic.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `request` on `runtime` the way the contract says, so that no host and no backend can
/// forget a step:
///
/// 1. the run's wall-clock budget starts (unless the caller armed it earlier);
/// 2. a run stopped before it began (cancelled while queued) does not run at all;
/// 3. a panic of the backend is caught and becomes [`Error::Internal`] (the instance is then
///    not reusable);
/// 4. once the run's control has tripped (deadline, cancel, a limit), that interrupt is the
///    outcome, whatever the guest ended with — a guest that caught the stop, or a backend that
///    failed while being stopped, still reports the stop.
pub fn drive(runtime: &mut dyn Runtime, request: &RunRequest, io: &RunIo) -> Driven {
    io.control().arm(request.limits.wall_time);
    if let Some(i) = io.control().check() {
        return Driven {
            result: Ok(Outcome::from_interrupt(i)),
            reusable: true,
        };
    }
    let (result, reusable) = match catch_unwind(AssertUnwindSafe(|| runtime.run(request, io))) {
        Ok(Ok(outcome)) => (Ok(outcome), true),
        Ok(Err(e)) => (Err(e), false),
        Err(p) => (
            Err(Error::Internal(format!(
                "the backend panicked: {}",
                panic_message(&*p)
            ))),
            false,
        ),
    };
    let result = match io.control().interrupted() {
        Some(i) => Ok(Outcome::from_interrupt(i)),
        None => result,
    };
    Driven { result, reusable }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::ScriptedRuntime;
    use crate::{LimitKind, Limits, RunControl, VecStdin};

    fn io(control: RunControl) -> RunIo {
        RunIo::new(|_| {}, Box::new(VecStdin::new("")), control, None)
    }

    #[test]
    fn an_interrupt_wins_over_the_guest_result_and_panics_are_caught() {
        let mut rt = ScriptedRuntime::new();
        let control = RunControl::new();
        let request = RunRequest::new("trip output\nvalue 1");
        let d = drive(&mut rt, &request, &io(control));
        assert_eq!(
            d.result.unwrap(),
            Outcome::LimitExceeded {
                limit: LimitKind::Output
            }
        );
        assert!(d.reusable);

        let d = drive(&mut rt, &RunRequest::new("panic"), &io(RunControl::new()));
        assert!(
            d.result
                .unwrap_err()
                .to_string()
                .contains("panicked: scripted panic")
        );
        assert!(!d.reusable);
    }

    #[test]
    fn a_run_stopped_before_it_began_does_not_run_and_the_clock_starts() {
        let mut rt = ScriptedRuntime::new();
        let control = RunControl::new();
        control.cancel();
        let d = drive(&mut rt, &RunRequest::new("print x"), &io(control));
        assert_eq!(d.result.unwrap(), Outcome::Cancelled);
        assert_eq!(rt.runs(), 0);

        let control = RunControl::new();
        let mut request = RunRequest::new("print x");
        request.limits = Limits {
            wall_time: Some(std::time::Duration::from_secs(5)),
            ..Limits::default()
        };
        drive(&mut rt, &request, &io(control.clone()));
        assert!(control.deadline().is_some());
        assert_eq!(rt.runs(), 1);
    }
}
