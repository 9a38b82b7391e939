//! In-process instances: each backend instance lives on a thread of its own (interpreters such
//! as Boa are not `Send`), driven through a channel. The caller waits with a watchdog: once the
//! run's control reports an interrupt (deadline, cancel, limit) the instance gets a grace period
//! to stop by itself; a backend that cannot (Boa in a pure loop) is abandoned — its thread is
//! left to finish on its own and is never reused — and the caller gets its outcome anyway.

use polyrun_engine::{Error, LoadContext, Outcome, RunIo, RunRequest, Runtime, RuntimeDescriptor};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Stack for instance threads: interpreters recurse deeply on the native stack.
const INSTANCE_STACK: usize = 256 << 20;
/// How often the watchdog looks at the run's control.
const POLL: Duration = Duration::from_millis(10);

enum Job {
    Run {
        request: RunRequest,
        io: RunIo,
        reply: mpsc::Sender<Result<Outcome, Error>>,
    },
    Reset {
        reply: Option<mpsc::Sender<Result<(), Error>>>,
    },
}

/// A live backend instance on its own thread.
pub(crate) struct Instance {
    pub(crate) language: &'static str,
    tx: mpsc::Sender<Job>,
}

/// How waiting for a run ended.
pub(crate) enum Waited {
    /// The instance answered; it can be reused.
    Finished(Result<Outcome, Error>),
    /// The instance did not stop in time (or died); it must be dropped.
    Abandoned(Outcome),
    /// The instance had already ended; nothing ran. Use a new one.
    Gone,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl Instance {
    /// Starts a thread and loads the backend on it.
    pub(crate) fn spawn(desc: &RuntimeDescriptor, ctx: LoadContext) -> Result<Instance, Error> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), Error>>();
        let load = desc.load;
        let language = desc.id;
        std::thread::Builder::new()
            .name(format!("polyrun-{language}"))
            .stack_size(INSTANCE_STACK)
            .spawn(move || {
                let mut rt: Box<dyn Runtime> = match catch_unwind(AssertUnwindSafe(|| load(&ctx))) {
                    Ok(Ok(rt)) => rt,
                    Ok(Err(e)) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                    Err(p) => {
                        let _ = ready_tx.send(Err(Error::Load {
                            language: language.into(),
                            message: format!("backend panicked: {}", panic_message(&*p)),
                        }));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                drop(ready_tx);
                for job in rx {
                    match job {
                        Job::Run { request, io, reply } => {
                            match catch_unwind(AssertUnwindSafe(|| rt.run(&request, &io))) {
                                Ok(r) => {
                                    let _ = reply.send(r);
                                }
                                Err(p) => {
                                    let _ = reply.send(Err(Error::Internal(format!(
                                        "the {language} backend panicked: {}",
                                        panic_message(&*p)
                                    ))));
                                    // The guest state may be broken: end this instance.
                                    return;
                                }
                            }
                        }
                        Job::Reset { reply } => {
                            let r = catch_unwind(AssertUnwindSafe(|| rt.reset()))
                                .unwrap_or_else(|p| Err(Error::Internal(panic_message(&*p))));
                            let failed = r.is_err();
                            if let Some(reply) = reply {
                                let _ = reply.send(r);
                            }
                            if failed {
                                return;
                            }
                        }
                    }
                }
            })
            .map_err(Error::Io)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Instance { language, tx }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Load {
                language: language.into(),
                message: "the instance thread ended while loading".into(),
            }),
        }
    }

    /// Runs `request` and waits for it under the watchdog.
    pub(crate) fn run(&self, request: RunRequest, io: &RunIo, grace: Duration) -> Waited {
        let (reply_tx, reply_rx) = mpsc::channel();
        let control = io.control().clone();
        control.arm(request.limits.wall_time);
        let job = Job::Run {
            request,
            io: io.clone(),
            reply: reply_tx,
        };
        if self.tx.send(job).is_err() {
            return Waited::Gone;
        }
        let mut stop_seen: Option<Instant> = None;
        loop {
            match reply_rx.recv_timeout(POLL) {
                Ok(r) => return Waited::Finished(r),
                Err(RecvTimeoutError::Disconnected) => {
                    return Waited::Abandoned(Outcome::Crashed {
                        reason: "the backend's thread ended during the run".into(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(i) = control.check() {
                        let since = *stop_seen.get_or_insert_with(Instant::now);
                        if since.elapsed() >= grace {
                            return Waited::Abandoned(Outcome::from_interrupt(i));
                        }
                    }
                }
            }
        }
    }

    /// Asks the instance to reset before its next job, without waiting.
    pub(crate) fn reset_later(&self) -> bool {
        self.tx.send(Job::Reset { reply: None }).is_ok()
    }

    /// Resets and waits for the result.
    pub(crate) fn reset_now(&self) -> Result<(), Error> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .send(Job::Reset { reply: Some(tx) })
            .map_err(|_| Error::Internal("the instance has ended".into()))?;
        rx.recv()
            .map_err(|_| Error::Internal("the instance ended while resetting".into()))?
    }
}
