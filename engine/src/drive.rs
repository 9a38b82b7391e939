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
/// 3. a panic of the backend is caught and becomes the outcome `crashed` (the instance is then
///    not reusable);
/// 4. what the outcome carries counts against the output limit like the run's output: a value
///    past what is left trips the limit (the outcome is then `limit_exceeded`), an error's
///    message is cut to what is left (never below [`DIAGNOSTIC_FLOOR`] bytes, so a run at its
///    limit still says what failed) and keeps at most [`MAX_FRAMES`] frames;
/// 5. once the run's control has tripped (deadline, cancel, a limit), that interrupt is the
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
        // A panic is the guest's doing as far as the caller can tell (hostile input reaching
        // a backend's bug): an outcome, never a host error.
        Err(p) => (
            Ok(Outcome::Crashed {
                reason: format!("the backend panicked: {}", panic_message(&*p)),
            }),
            false,
        ),
    };
    let result = result.map(|outcome| charge_outcome(outcome, io));
    let result = match io.control().interrupted() {
        Some(i) => Ok(Outcome::from_interrupt(i)),
        None => result,
    };
    Driven { result, reusable }
}

/// The bytes of an error's message kept however little of the output budget is left.
pub const DIAGNOSTIC_FLOOR: usize = 1024;
/// The stack frames an error keeps (the innermost).
pub const MAX_FRAMES: usize = 64;

/// `outcome` with its value and diagnostic charged to the run's output budget (step 4 above).
fn charge_outcome(outcome: Outcome, io: &RunIo) -> Outcome {
    match outcome {
        Outcome::Completed { value: Some(value) } => {
            let n = value.byte_len();
            if io.charge(n) < n {
                // The limit is tripped: the interrupt becomes the outcome.
                Outcome::Completed { value: None }
            } else {
                Outcome::Completed { value: Some(value) }
            }
        }
        Outcome::Error { mut diagnostic } => {
            let left = io.output_left().map_or(usize::MAX, |l| l as usize);
            let keep = left.max(DIAGNOSTIC_FLOOR);
            if diagnostic.message.len() > keep {
                let mut cut = keep;
                while !diagnostic.message.is_char_boundary(cut) {
                    cut -= 1;
                }
                let total = diagnostic.message.len();
                diagnostic.message.truncate(cut);
                diagnostic
                    .message
                    .push_str(&format!("… ({total} bytes, cut at the output limit)"));
            }
            diagnostic.frames.truncate(MAX_FRAMES);
            for f in &mut diagnostic.frames {
                if let Some(name) = &mut f.function
                    && name.len() > DIAGNOSTIC_FLOOR
                {
                    let mut cut = DIAGNOSTIC_FLOOR;
                    while !name.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    name.truncate(cut);
                    name.push('…');
                }
            }
            Outcome::Error { diagnostic }
        }
        other => other,
    }
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
        match d.result {
            Ok(Outcome::Crashed { reason }) => {
                assert!(reason.contains("panicked: scripted panic"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(!d.reusable);
    }

    #[test]
    fn the_value_and_the_error_count_against_the_output_limit() {
        let limited = |n| {
            RunIo::new(
                |_| {},
                Box::new(VecStdin::new("")),
                RunControl::new(),
                Some(n),
            )
        };
        let mut rt = ScriptedRuntime::new();
        // A value that fits is kept; one past what is left trips the output limit.
        let d = drive(
            &mut rt,
            &RunRequest::new("print 12345\nvalue abc"),
            &limited(10),
        );
        assert_eq!(
            d.result.unwrap(),
            Outcome::Completed {
                value: Some(crate::MimeBundle::text("abc"))
            }
        );
        let d = drive(
            &mut rt,
            &RunRequest::new("print 12345\nvalue abcde"),
            &limited(10),
        );
        assert_eq!(
            d.result.unwrap(),
            Outcome::LimitExceeded {
                limit: LimitKind::Output
            }
        );
        // An error's message is cut to what is left, but keeps DIAGNOSTIC_FLOOR bytes.
        let long = "é".repeat(DIAGNOSTIC_FLOOR);
        let d = drive(
            &mut rt,
            &RunRequest::new(format!("error Boom {long}")),
            &limited(10),
        );
        let Outcome::Error { diagnostic } = d.result.unwrap() else {
            panic!("not an error")
        };
        assert_eq!(diagnostic.kind, "Boom");
        assert!(
            diagnostic
                .message
                .starts_with(&"é".repeat(DIAGNOSTIC_FLOOR / 2))
        );
        assert!(diagnostic.message.ends_with(&format!(
            "… ({} bytes, cut at the output limit)",
            2 * DIAGNOSTIC_FLOOR
        )));
        let d = drive(
            &mut rt,
            &RunRequest::new(format!("error Boom {long}")),
            &limited(1 << 20),
        );
        let Outcome::Error { diagnostic } = d.result.unwrap() else {
            panic!("not an error")
        };
        assert_eq!(diagnostic.message, long);
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
