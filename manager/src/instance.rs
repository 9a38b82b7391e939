//! In-process instances: each backend instance lives on a thread of its own (interpreters such
//! as Boa are not `Send`), driven through a channel with [`polyrun_engine::drive`]. The caller
//! waits with a watchdog ([`crate::watch`]): once the run's control reports an interrupt
//! (deadline, cancel, limit) the instance gets a grace period to stop by itself; a backend that
//! cannot (Boa in a pure loop) is abandoned — its thread is left to finish on its own and is
//! never reused — and the caller gets its outcome anyway.

use crate::watch::{self, Verdict, Watch};
use polyrun_engine::{
    Driven, Error, LoadContext, Outcome, RunIo, RunRequest, Runtime, RuntimeDescriptor, drive,
    panic_message,
};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

/// Stack for instance threads: interpreters recurse deeply on the native stack.
const INSTANCE_STACK: usize = 256 << 20;

/// What the caller of a run hears: the result, or a wake-up of its watchdog.
enum Reply {
    /// The run's result, and whether the instance can run again.
    Done(Result<Outcome, Error>, bool),
    /// The instance is broken (its last run or reset failed): use another.
    Gone,
    Wake,
}

enum Job {
    Run {
        request: RunRequest,
        io: RunIo,
        reply: mpsc::Sender<Reply>,
    },
    Reset {
        reply: Option<mpsc::Sender<Result<(), Error>>>,
    },
}

/// A live backend instance on its own thread.
pub(crate) struct Instance {
    pub(crate) key: polyrun_engine::pool::BackendKey,
    tx: mpsc::Sender<Job>,
}

/// How waiting for a run ended.
pub(crate) enum Waited {
    /// The instance answered; `true` if it can be reused.
    Finished(Result<Outcome, Error>, bool),
    /// The instance did not stop in time (or died); it must be dropped.
    Abandoned(Outcome),
    /// The instance had already ended; nothing ran. Use a new one.
    Gone,
}

impl Instance {
    /// Starts a thread and loads the backend on it.
    pub(crate) fn spawn(desc: &RuntimeDescriptor, ctx: LoadContext) -> Result<Instance, Error> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), Error>>();
        let load = desc.load;
        let language = desc.id;
        let key = (desc.id, desc.backend);
        std::thread::Builder::new()
            .name(format!("polyrun-{language}-{}", desc.backend))
            .stack_size(INSTANCE_STACK)
            .spawn(move || {
                let rt: Box<dyn Runtime> = match catch_unwind(AssertUnwindSafe(|| load(&ctx))) {
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
                // Once a run or a reset fails, the guest state may be broken: the runtime is
                // dropped, and every later job hears that the instance is gone (the thread
                // lives on until its `Instance` is dropped, so no job is ever lost unanswered).
                let mut rt = Some(rt);
                for job in rx {
                    match (job, rt.as_mut()) {
                        (Job::Run { request, io, reply }, Some(live)) => {
                            let Driven { result, reusable } = drive(&mut **live, &request, &io);
                            if !reusable {
                                rt = None;
                            }
                            let _ = reply.send(Reply::Done(result, reusable));
                        }
                        (Job::Run { reply, .. }, None) => {
                            let _ = reply.send(Reply::Gone);
                        }
                        (Job::Reset { reply }, Some(live)) => {
                            let r = catch_unwind(AssertUnwindSafe(|| live.reset()))
                                .unwrap_or_else(|p| Err(Error::Internal(panic_message(&*p))));
                            if r.is_err() {
                                rt = None;
                            }
                            if let Some(reply) = reply {
                                let _ = reply.send(r);
                            }
                        }
                        (Job::Reset { reply }, None) => {
                            if let Some(reply) = reply {
                                let _ = reply
                                    .send(Err(Error::Internal("the instance has ended".into())));
                            }
                        }
                    }
                }
            })
            .map_err(Error::Io)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Instance { key, tx }),
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
        let wake = reply_tx.clone();
        let mut watch = Watch::new(&control, grace, move || {
            let _ = wake.send(Reply::Wake);
        });
        let job = Job::Run {
            request,
            io: io.clone(),
            reply: reply_tx,
        };
        if self.tx.send(job).is_err() {
            return Waited::Gone;
        }
        loop {
            match watch::recv(&reply_rx, &watch) {
                Ok(Reply::Done(r, reusable)) => return Waited::Finished(r, reusable),
                Ok(Reply::Gone) => return Waited::Gone,
                // The backend polls the control itself: the watchdog only keeps time.
                Ok(Reply::Wake) | Err(true) => match watch.look() {
                    Verdict::Kill(i) => return Waited::Abandoned(Outcome::from_interrupt(i)),
                    Verdict::Ask(_) | Verdict::Wait => {}
                },
                Err(false) => {
                    return Waited::Abandoned(Outcome::Crashed {
                        reason: "the backend's thread ended during the run".into(),
                    });
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
