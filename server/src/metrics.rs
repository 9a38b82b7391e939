//! Counters for `GET /metrics` (Prometheus text format).

use crate::model::Status;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets (seconds, submit → end).
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Inner {
    runs: BTreeMap<(String, Status), u64>,
    rejected: BTreeMap<&'static str, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Runs by language and status, refusals by reason, and a latency histogram.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run ended.
    pub fn finished(&self, language: &str, status: Status, latency: Duration) {
        let mut m = self.lock();
        *m.runs.entry((language.to_string(), status)).or_default() += 1;
        let s = latency.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                m.buckets[i] += 1;
            }
        }
        m.count += 1;
        m.sum += s;
    }

    /// A submission was refused (`queue_full`, `token_concurrency`, `rate`).
    pub fn rejected(&self, why: &'static str) {
        *self.lock().rejected.entry(why).or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self, queued: usize, running: usize) -> String {
        let m = self.lock();
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "# HELP polyrun_runs_total Runs ended, by language and final status."
        );
        let _ = writeln!(w, "# TYPE polyrun_runs_total counter");
        for ((lang, status), n) in &m.runs {
            let _ = writeln!(
                w,
                "polyrun_runs_total{{language=\"{lang}\",status=\"{}\"}} {n}",
                status.as_str()
            );
        }
        let _ = writeln!(
            w,
            "# HELP polyrun_runs_rejected_total Submissions refused with 429, by reason."
        );
        let _ = writeln!(w, "# TYPE polyrun_runs_rejected_total counter");
        for (why, n) in &m.rejected {
            let _ = writeln!(w, "polyrun_runs_rejected_total{{reason=\"{why}\"}} {n}");
        }
        let _ = writeln!(w, "# HELP polyrun_queue_depth Runs waiting for a slot.");
        let _ = writeln!(w, "# TYPE polyrun_queue_depth gauge");
        let _ = writeln!(w, "polyrun_queue_depth {queued}");
        let _ = writeln!(w, "# HELP polyrun_runs_running Runs executing.");
        let _ = writeln!(w, "# TYPE polyrun_runs_running gauge");
        let _ = writeln!(w, "polyrun_runs_running {running}");
        let _ = writeln!(
            w,
            "# HELP polyrun_run_latency_seconds Submit to end of run, seconds."
        );
        let _ = writeln!(w, "# TYPE polyrun_run_latency_seconds histogram");
        for (b, n) in BUCKETS.iter().zip(m.buckets) {
            let _ = writeln!(w, "polyrun_run_latency_seconds_bucket{{le=\"{b}\"}} {n}");
        }
        let _ = writeln!(
            w,
            "polyrun_run_latency_seconds_bucket{{le=\"+Inf\"}} {}",
            m.count
        );
        let _ = writeln!(w, "polyrun_run_latency_seconds_sum {}", m.sum);
        let _ = writeln!(w, "polyrun_run_latency_seconds_count {}", m.count);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_runs_refusals_and_latency() {
        let m = Metrics::default();
        m.finished("lua", Status::Succeeded, Duration::from_millis(7));
        m.finished("lua", Status::Succeeded, Duration::from_millis(300));
        m.finished("python", Status::TimedOut, Duration::from_secs(40));
        m.rejected("queue_full");
        let text = m.render(3, 2);
        for line in [
            "polyrun_runs_total{language=\"lua\",status=\"succeeded\"} 2",
            "polyrun_runs_total{language=\"python\",status=\"timed_out\"} 1",
            "polyrun_runs_rejected_total{reason=\"queue_full\"} 1",
            "polyrun_queue_depth 3",
            "polyrun_runs_running 2",
            "polyrun_run_latency_seconds_bucket{le=\"0.01\"} 1",
            "polyrun_run_latency_seconds_bucket{le=\"0.5\"} 2",
            "polyrun_run_latency_seconds_bucket{le=\"30\"} 2",
            "polyrun_run_latency_seconds_bucket{le=\"+Inf\"} 3",
            "polyrun_run_latency_seconds_count 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
