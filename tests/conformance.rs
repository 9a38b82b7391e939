//! The conformance cases of `conformance/cases.json`, run natively through the manager, in
//! process and in a worker: one test per case and host (`cargo test --test conformance --
//! python-hello`), on a libtest-mimic harness. `web/tests/browser.mjs` runs the same file in
//! the browser build and checks the same expectations, so both builds print the same thing. A
//! case that `needs` a capability is skipped (ignored) where the backend does not have it and
//! the host does not supply it (a worker process bounds memory for every backend). A case that
//! names no `backend` runs on every backend of its language: `js-hello::in_process` on the
//! default, `js-hello@boa::in_process` on the others.

#[path = "all/common.rs"]
mod common;

use libtest_mimic::{Arguments, Failed, Trial};
use polyrun::{Event, Isolation, Limits, RunSpec, RuntimeManager};
use serde_json::Value;
use std::sync::{Arc, Mutex, OnceLock};

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/cases.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn manager() -> &'static RuntimeManager {
    static M: OnceLock<RuntimeManager> = OnceLock::new();
    M.get_or_init(common::manager)
}

/// What a run printed.
#[derive(Debug, Default)]
struct Seen {
    stdout: String,
    stderr: String,
}

/// Checks one run against `expect`; returns the differences.
fn check(expect: &Value, seen: &Seen, outcome: &Value) -> Vec<String> {
    let mut bad = Vec::new();
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
    let fields = [
        ("value", "/value/text~1plain"),
        ("error_kind", "/diagnostic/kind"),
        ("error_line", "/diagnostic/line"),
        ("limit", "/limit"),
    ];
    for (field, pointer) in fields {
        if let Some(v) = expect.get(field) {
            let got = outcome.pointer(pointer).cloned().unwrap_or(Value::Null);
            want(field, got, v.clone());
        }
    }
    bad
}

/// Whether the backend of `case` in `isolation` has what the case `needs`.
fn supported(case: &Value, backend: &str, isolation: Isolation) -> bool {
    let Some(need) = case["needs"].as_str() else {
        return true;
    };
    let registry = manager().registry();
    let desc = registry
        .resolve(case["language"].as_str().unwrap(), Some(backend))
        .unwrap();
    match need {
        // A worker's allocation ceiling bounds every backend.
        "memory_limit" => desc.capabilities.memory_limit || isolation == Isolation::Worker,
        other => panic!("unknown capability `{other}` in {}", case["name"]),
    }
}

fn run_case(case: &Value, backend: &str, isolation: Isolation) -> Result<(), Failed> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = seen.clone();
    let limits: Limits = serde_json::from_value(case["limits"].clone()).unwrap_or_default();
    let mut spec = RunSpec::new(
        case["language"].as_str().unwrap(),
        case["code"].as_str().unwrap(),
    )
    .filename("main")
    .limits(limits)
    .isolation(isolation)
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
    spec = spec.backend(backend);
    let result = manager()
        .run(spec)
        .map_err(|e| Failed::from(e.to_string()))?;
    let outcome = serde_json::to_value(&result.outcome).unwrap();
    let bad = check(&case["expect"], &seen.lock().unwrap(), &outcome);
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n    outcome: {outcome}", bad.join("; ")).into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let cases = cases();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut trials = Vec::new();
    let registry = manager().registry();
    for case in cases {
        let language = case["language"].as_str().unwrap();
        let backends: Vec<String> = match case["backend"].as_str() {
            Some(b) => vec![b.to_string()],
            None => registry
                .resolve(language, None)
                .map(|d| registry.backends(d.id))
                .unwrap()
                .iter()
                .map(|d| d.backend.to_string())
                .collect(),
        };
        for (i, backend) in backends.iter().enumerate() {
            let label = match (i, case["backend"].as_str()) {
                (0, _) | (_, Some(_)) => case["name"].as_str().unwrap().to_string(),
                _ => format!("{}@{backend}", case["name"].as_str().unwrap()),
            };
            for (isolation, host) in [
                (Isolation::InProcess, "in_process"),
                (Isolation::Worker, "worker"),
            ] {
                let name = format!("{label}::{host}");
                let skip = !supported(&case, backend, isolation);
                let case = case.clone();
                let backend = backend.clone();
                trials.push(
                    Trial::test(name, move || run_case(&case, &backend, isolation))
                        .with_ignored_flag(skip),
                );
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
