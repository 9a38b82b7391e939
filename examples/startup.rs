//! Measures start-up inside a live manager, per language: the time from "run requested" to the
//! first output, for the first run (the backend loads) and for warm runs (a pooled instance
//! that the manager reset after the previous run). Also prints this process's peak RSS.
//!
//! `cargo run --release --example startup` (the benchmark harness will supersede this).

use polyrun::{Event, Isolation, RunSpec};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn first_output(m: &polyrun::RuntimeManager, lang: &str, code: &str) -> Duration {
    let first = Arc::new(Mutex::new(None));
    let f = first.clone();
    let start = Instant::now();
    m.run(
        RunSpec::new(lang, code)
            .isolation(Isolation::InProcess)
            .on_event(move |e| {
                if matches!(e, Event::Stdout { .. }) {
                    f.lock().unwrap().get_or_insert_with(Instant::now);
                }
            }),
    )
    .expect("run");
    let at = first.lock().unwrap().expect("output");
    at - start
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    polyrun::serve_worker_if_requested();
    let m = polyrun::manager().expect("manager");
    for (lang, code) in [
        ("lua", "print('hi')"),
        ("javascript", "console.log('hi')"),
        ("python", "print('hi')"),
        ("ruby", "puts 'hi'"),
    ] {
        let cold = first_output(&m, lang, code);
        let mut warm: Vec<Duration> = (0..30)
            .map(|_| {
                // Let the reset queued after the previous run finish, as between user runs.
                std::thread::sleep(Duration::from_millis(150));
                first_output(&m, lang, code)
            })
            .collect();
        warm.sort();
        println!(
            "{lang:<10} first run {:>8.2} ms | warm: median {:>6.3} ms, min {:>6.3} ms, max {:>6.3} ms",
            cold.as_secs_f64() * 1e3,
            warm[warm.len() / 2].as_secs_f64() * 1e3,
            warm[0].as_secs_f64() * 1e3,
            warm[warm.len() - 1].as_secs_f64() * 1e3,
        );
    }
    println!("peak RSS of this process: {} MiB", peak_rss_kib() / 1024);
}
