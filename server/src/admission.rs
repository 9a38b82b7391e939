//! Admission: whether a token may start a run or a pipeline now — its concurrency (one RAII
//! permit, [`TokenSlot`], held by a run until it ends and by a pipeline until it is dropped) and
//! its rate of starts. The queue's own capacity is the scheduler's (`runs.rs`).

use crate::auth::{Principal, RateLimiter};
use crate::error::Refused;
use crate::lock;
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs and pipelines in flight per token.
type Counts = Arc<Mutex<HashMap<Principal, usize>>>;

/// The admission policy of a server: the token limits of its `Config`.
pub struct Admission {
    token_concurrency: usize,
    runs_per_minute: u32,
    in_flight: Counts,
    rate: RateLimiter,
}

/// One of a token's concurrent runs or pipelines; dropping it gives the slot back.
pub struct TokenSlot {
    in_flight: Counts,
    who: Principal,
}

impl Drop for TokenSlot {
    fn drop(&mut self) {
        if let Some(n) = lock(&self.in_flight).get_mut(&self.who) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Admission {
    /// At most `token_concurrency` runs and pipelines in flight and `runs_per_minute` starts a
    /// minute per token.
    pub fn new(token_concurrency: usize, runs_per_minute: u32) -> Self {
        Admission {
            token_concurrency,
            runs_per_minute,
            in_flight: Counts::default(),
            rate: RateLimiter::default(),
        }
    }

    fn concurrency(
        &self,
        who: &Principal,
        in_flight: &HashMap<Principal, usize>,
        metrics: &Metrics,
    ) -> Result<(), Refused> {
        if in_flight.get(who).copied().unwrap_or(0) >= self.token_concurrency {
            metrics.rejected("token_concurrency");
            return Err(Refused::TooMany {
                message: format!(
                    "this token already has {} runs queued or running (the most it may)",
                    self.token_concurrency
                ),
                retry_after: Duration::from_secs(1),
            });
        }
        Ok(())
    }

    /// Refuses early when `who` has no slot left (nothing is taken: [`Admission::admit`] decides).
    pub fn check(&self, who: &Principal, metrics: &Metrics) -> Result<(), Refused> {
        self.concurrency(who, &lock(&self.in_flight), metrics)
    }

    /// Takes one of `who`'s slots and counts a start against its rate, or refuses (then
    /// nothing is taken or counted). Atomic per token.
    pub fn admit(&self, who: &Principal, metrics: &Metrics) -> Result<TokenSlot, Refused> {
        let mut in_flight = lock(&self.in_flight);
        self.concurrency(who, &in_flight, metrics)?;
        self.rate
            .try_start(who, self.runs_per_minute)
            .map_err(|wait| {
                metrics.rejected("rate");
                Refused::TooMany {
                    message: format!(
                        "this token may start {} runs a minute",
                        self.runs_per_minute
                    ),
                    retry_after: wait.max(Duration::from_secs(1)),
                }
            })?;
        *in_flight.entry(who.clone()).or_default() += 1;
        Ok(TokenSlot {
            in_flight: self.in_flight.clone(),
            who: who.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_held_until_dropped_and_refusals_take_nothing() {
        let a = Admission::new(2, 3);
        let m = Metrics::default();
        let who = Principal("t".into());
        let one = a.admit(&who, &m).unwrap();
        let two = a.admit(&who, &m).unwrap();
        assert!(a.check(&who, &m).is_err());
        assert!(matches!(a.admit(&who, &m), Err(Refused::TooMany { .. })));
        // Another token is not affected.
        assert!(a.check(&Principal("u".into()), &m).is_ok());
        drop(one);
        assert!(a.check(&who, &m).is_ok());
        // The third start of the minute is the last one the rate allows.
        let three = a.admit(&who, &m).unwrap();
        drop((two, three));
        let Err(Refused::TooMany { message, .. }) = a.admit(&who, &m) else {
            panic!("the rate should refuse");
        };
        assert!(message.contains("3 runs a minute"), "{message}");
        assert!(a.check(&who, &m).is_ok());
    }
}
