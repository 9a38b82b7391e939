//! The conformance cases of `conformance/cases.json`, run natively through the manager (in
//! process and in a worker). `web/tests/browser.mjs` runs the same file in the browser build and
//! checks the same expectations, so both builds print the same thing.

mod common;

use polyrun::{Event, Isolation, Limits, Outcome, RunSpec};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a run printed and how it ended, in the shape the browser test compares.
#[derive(Debug, Default)]
struct Seen {
    stdout: String,
    stderr: String,
}

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/cases.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// Checks one run against `expect`; returns the differences.
fn check(expect: &Value, seen: &Seen, outcome: &Outcome) -> Vec<String> {
    let mut bad = Vec::new();
    let outcome = serde_json::to_value(outcome).unwrap();
    let mut want = |what: &str, got: Value, exp: Value| {
        if got != exp {
            bad.push(format!("{what}: expected {exp}, got {got}"));
        }
    };
    want(
        "status",
        outcome["status"].clone(),
        expect["status"].clone(),
    );
    want(
        "stdout",
        seen.stdout.clone().into(),
        expect.get("stdout").cloned().unwrap_or("".into()),
    );
    want(
        "stderr",
        seen.stderr.clone().into(),
        expect.get("stderr").cloned().unwrap_or("".into()),
    );
    if let Some(v) = expect.get("value") {
        want("value", outcome["value"]["text/plain"].clone(), v.clone());
    }
    if let Some(k) = expect.get("error_kind") {
        want(
            "error_kind",
            outcome["diagnostic"]["kind"].clone(),
            k.clone(),
        );
    }
    if let Some(l) = expect.get("error_line") {
        want(
            "error_line",
            outcome["diagnostic"]["line"].clone(),
            l.clone(),
        );
    }
    if let Some(l) = expect.get("limit") {
        want("limit", outcome["limit"].clone(), l.clone());
    }
    bad
}

#[test]
fn conformance_cases_native() {
    let m = common::manager();
    let mut failures = Vec::new();
    let cases = cases();
    assert!(cases.len() >= 35, "{} cases", cases.len());
    for case in &cases {
        for iso in [Isolation::InProcess, Isolation::Worker] {
            let seen = Arc::new(Mutex::new(Seen::default()));
            let sink = seen.clone();
            let limits = Limits {
                wall_time: Some(Duration::from_millis(
                    case["timeout_ms"].as_u64().unwrap_or(10_000),
                )),
                ..Limits::default()
            };
            let spec = RunSpec::new(
                case["language"].as_str().unwrap(),
                case["code"].as_str().unwrap(),
            )
            .filename("main")
            .limits(limits)
            .isolation(iso)
            .stdin_text(case["stdin"].as_str().unwrap_or(""))
            .on_event(move |e: Event| {
                if let Some((stream, text)) = e.output() {
                    let mut s = sink.lock().unwrap();
                    match stream {
                        polyrun::engine::Stream::Stdout => s.stdout.push_str(text),
                        polyrun::engine::Stream::Stderr => s.stderr.push_str(text),
                    }
                }
            });
            let result = m.run(spec).unwrap();
            let bad = check(&case["expect"], &seen.lock().unwrap(), &result.outcome);
            if !bad.is_empty() {
                failures.push(format!(
                    "{} ({iso:?}): {}\n    outcome: {:?}",
                    case["name"],
                    bad.join("; "),
                    result.outcome
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
