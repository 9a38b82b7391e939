//! The adversarial suite (conformance/hostile.json): attempts to escape, exhaust or crash, in
//! every language, each with the outcome it must have, run the way the CLI and the server run
//! code (`auto` isolation, workers of this build), on every backend of the language (a case's
//! `expect_on.<backend>` replaces its `expect` there). After every attempt the host must be
//! intact: the file the attempt tries to create does not exist, and the manager runs the next one.

use polyrun::{Limits, RunSpec, RuntimeManager, WorkerCommand};
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;

const SUITE: &str = include_str!("../../conformance/hostile.json");

/// The limits every attempt runs under (a playground's, tighter so floods end fast).
fn limits() -> Limits {
    Limits {
        wall_time: Some(Duration::from_secs(2)),
        memory_bytes: Some(64 << 20),
        output_bytes: Some(64 << 10),
        recursion_depth: Some(1000),
    }
}

/// The suite's limits with the case's `limits` laid over them.
fn case_limits(case: &Value) -> Limits {
    let mut base = serde_json::to_value(limits()).unwrap();
    if let Some(over) = case.get("limits").and_then(Value::as_object) {
        for (k, v) in over {
            base[k] = v.clone();
        }
    }
    serde_json::from_value(base).unwrap()
}

fn check(
    m: &RuntimeManager,
    case: &Value,
    backend: &str,
    marker: &std::path::Path,
) -> Result<(), String> {
    let code = case["code"]
        .as_str()
        .unwrap()
        .replace("{MARKER}", marker.to_str().unwrap());
    let stdout = std::sync::Arc::new(Mutex::new(String::new()));
    let out = stdout.clone();
    let r = m
        .run(
            RunSpec::new(case["language"].as_str().unwrap(), code)
                .backend(backend)
                .limits(case_limits(case))
                .stdin_text("")
                .on_event(move |e| {
                    if let polyrun::Event::Stdout { text } = e {
                        out.lock().unwrap().push_str(&text);
                    }
                }),
        )
        .map_err(|e| format!("host error: {e}"))?;
    let stdout = stdout.lock().unwrap().clone();
    let outcome = serde_json::to_value(&r.outcome).unwrap();
    let expect = case
        .get("expect_on")
        .and_then(|on| on.get(backend))
        .unwrap_or(&case["expect"]);
    let mut wrong = Vec::new();
    if outcome["status"] != expect["status"] {
        wrong.push(format!("status {}", outcome["status"]));
    }
    if let Some(limit) = expect.get("limit")
        && outcome["limit"] != *limit
    {
        wrong.push(format!("limit {}", outcome["limit"]));
    }
    if let Some(kind) = expect.get("kind")
        && outcome["diagnostic"]["kind"] != *kind
    {
        wrong.push(format!("kind {}", outcome["diagnostic"]["kind"]));
    }
    if let Some(s) = case.get("stdout").and_then(Value::as_str)
        && stdout != s
    {
        wrong.push(format!("stdout {stdout:?}"));
    }
    if let Some(s) = case.get("stdout_lacks").and_then(Value::as_str)
        && stdout.contains(s)
    {
        wrong.push(format!("stdout has {s:?}"));
    }
    if let Some(max) = case.get("message_max_bytes").and_then(Value::as_u64) {
        let len = outcome["diagnostic"]["message"]
            .as_str()
            .map_or(0, str::len);
        if len as u64 > max {
            wrong.push(format!("a message of {len} bytes"));
        }
    }
    if marker.exists() {
        wrong.push("it created a file on the host".into());
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}@{backend}, expected {expect}: got {}; outcome {}",
            case["name"].as_str().unwrap(),
            wrong.join(", "),
            outcome.to_string().chars().take(300).collect::<String>()
        ))
    }
}

#[test]
fn every_hostile_attempt_has_its_outcome_and_the_host_stays_intact() {
    let suite: Value = serde_json::from_str(SUITE).unwrap();
    let cases = suite["cases"].as_array().unwrap();
    for lang in ["javascript", "lua", "python", "ruby", "php"] {
        let n = cases.iter().filter(|c| c["language"] == lang).count();
        assert!(n >= 10, "{lang} has only {n} attempts");
    }
    let m = RuntimeManager::builder()
        .registry(polyrun::registry())
        .worker_command(WorkerCommand::new(env!("CARGO_BIN_EXE_polyrun")))
        .build();
    let registry = m.registry();
    let runs: Vec<(&Value, String)> = cases
        .iter()
        .flat_map(|case| {
            let language = case["language"].as_str().unwrap();
            let default = registry.resolve(language, None).unwrap();
            registry
                .backends(default.id)
                .into_iter()
                .map(move |d| (case, d.backend.to_string()))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let failures = Mutex::new(Vec::new());
    // Two at a time: most attempts end at a limit, and the machine has two cores.
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((case, backend)) = runs.get(i) else {
                        break;
                    };
                    let marker = dir.path().join(format!("planted-{i}"));
                    if let Err(e) = check(&m, case, backend, &marker) {
                        failures.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} attempts went wrong:\n{}",
        failures.len(),
        runs.len(),
        failures.join("\n")
    );
}
