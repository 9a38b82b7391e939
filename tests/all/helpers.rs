//! The `polyrun` helpers (input, output, variables, event) in every language, in process and in
//! a worker process: the same check script (examples/helpers/check.*) gives the same output.

use polyrun::engine::{MemoryStore, RunContext, VariableStore};
use polyrun::{Event, Isolation, Outcome, RunSpec, RuntimeManager, WorkerCommand};
use serde_json::json;
use std::sync::{Arc, Mutex};

const LANGUAGES: [(&str, &str); 5] = [
    ("javascript", "js"),
    ("lua", "lua"),
    ("python", "py"),
    ("ruby", "rb"),
    ("php", "php"),
];

fn manager(store: Arc<dyn VariableStore>) -> RuntimeManager {
    RuntimeManager::builder()
        .registry(polyrun::registry())
        .worker_command(WorkerCommand::new(env!("CARGO_BIN_EXE_polyrun")))
        .store(store)
        .build()
}

fn script(ext: &str) -> String {
    let path = format!(
        "{}/examples/helpers/check.{ext}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs `spec`; returns (stdout, result).
fn run(m: &RuntimeManager, spec: RunSpec) -> (String, polyrun::RunResult) {
    let out = Arc::new(Mutex::new(String::new()));
    let o2 = out.clone();
    let r = m
        .run(spec.on_event(move |e| {
            if let Event::Stdout { text } | Event::Stderr { text } = e {
                o2.lock().unwrap().push_str(&text);
            }
        }))
        .unwrap();
    let out = out.lock().unwrap().clone();
    (out, r)
}

fn check_spec(lang: &str, ext: &str, isolation: Isolation) -> RunSpec {
    let context = RunContext {
        step: Some("check".into()),
        ..RunContext::now("test")
    };
    RunSpec::new(lang, script(ext))
        .filename(format!("check.{ext}"))
        .isolation(isolation)
        .input(json!({"name": "Ada", "numbers": [1, 2, 3.5], "flags": {"ok": true}}))
        .context(context)
        .namespace(format!("check-{lang}"))
}

#[test]
fn the_check_script_gives_the_same_output_in_every_language_and_isolation() {
    let expected = json!({
        "greeting": "hello Ada",
        "total": 6.5,
        "doubled": [2, 4, 7],
        "runs": 1,
        "flags": {"ok": true},
        "step": "check",
        "trigger": "test",
        "has_run_id": true,
        "missing_is_null": true,
        "refused": true,
    });
    for isolation in [Isolation::InProcess, Isolation::Worker] {
        // A fresh store per isolation mode: `runs` counts from 1 again.
        let store: Arc<dyn VariableStore> = Arc::new(MemoryStore::new());
        let m = manager(store.clone());
        for (lang, ext) in LANGUAGES {
            let (out, r) = run(&m, check_spec(lang, ext, isolation));
            assert!(
                r.outcome.is_completed(),
                "{lang} {isolation:?}: {:?}\n{out}",
                r.outcome
            );
            assert_eq!(out, "checked hello Ada\n", "{lang} {isolation:?}");
            assert_eq!(r.output.as_ref(), Some(&expected), "{lang} {isolation:?}");
            let v = store.get(&format!("check-{lang}"), "greeting").unwrap();
            assert_eq!(v.unwrap().value, json!("hello Ada"), "{lang}");
            // The second run in the same namespace sees the first one's counter.
            let (_, r) = run(&m, check_spec(lang, ext, isolation));
            assert_eq!(r.output.unwrap()["runs"], 2, "{lang} {isolation:?}");
        }
    }
}

#[test]
fn a_value_json_cannot_hold_is_a_guest_error_on_the_users_line() {
    let m = manager(Arc::new(MemoryStore::new()));
    let cases = [
        ("js", "const x = 1;\npolyrun.output(() => 1);\n", "function"),
        ("lua", "local x = 1\npolyrun.output(print)\n", "function"),
        ("py", "x = 1\npolyrun.output(float('nan'))\n", "finite"),
        ("rb", "x = 1\npolyrun.output(Float::NAN)\n", "finite"),
        ("php", "<?php\npolyrun::output(NAN);\n", "finite"),
    ];
    for (lang, code, what) in cases {
        let (out, r) = run(&m, RunSpec::new(lang, code).isolation(Isolation::InProcess));
        let Outcome::Error { diagnostic } = &r.outcome else {
            panic!("{lang}: {:?} {out}", r.outcome);
        };
        assert!(
            diagnostic.message.contains("polyrun.output") && diagnostic.message.contains(what),
            "{lang}: {diagnostic:?}"
        );
        assert_eq!(diagnostic.line, Some(2), "{lang}: {diagnostic:?}");
        assert_eq!(r.output, None, "{lang}");
    }
}

#[test]
fn values_round_trip_with_the_same_rules_everywhere() {
    let m = manager(Arc::new(MemoryStore::new()));
    let value = json!({"a": [1, 2.5, "x", null, true, {"b": []}], "e": {}, "n": -3, "u": "é✓"});
    let echo = [
        ("js", "polyrun.output(polyrun.input())"),
        ("lua", "polyrun.output(polyrun.input())"),
        ("py", "polyrun.output(polyrun.input())"),
        ("rb", "polyrun.output(polyrun.input)"),
        ("php", "<?php polyrun::output(polyrun::input());"),
    ];
    for (lang, code) in echo {
        let (out, r) = run(
            &m,
            RunSpec::new(lang, code)
                .isolation(Isolation::InProcess)
                .input(value.clone()),
        );
        assert!(r.outcome.is_completed(), "{lang}: {:?} {out}", r.outcome);
        assert_eq!(r.output.as_ref(), Some(&value), "{lang}");
    }
}

#[test]
fn pipelines_run_from_the_rust_api_with_mappings_and_stop_on_cancel() {
    use polyrun::{Pipeline, PipelineStatus, Step};
    let m = manager(Arc::new(MemoryStore::new()));
    let mut last = Step::code("ruby", "polyrun.output(polyrun.input.sum)");
    last.input = Some(json!(["${steps.double.output}", "${input.k}", 1]));
    let pipeline = Pipeline::new(vec![
        Step::code("php", "<?php polyrun::output(polyrun::input()['k'] * 2);").named("double"),
        Step::code("js", "polyrun.output(polyrun.input() + 0.5)"),
        last,
    ])
    .with_input(json!({"k": 20}));
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    let r = m
        .run_pipeline(&pipeline, move |e| e2.lock().unwrap().push(e), None)
        .unwrap();
    assert_eq!(r.status, PipelineStatus::Succeeded, "{r:?}");
    assert_eq!(r.output, Some(json!(61)));
    assert_eq!(r.steps[1].output, Some(json!(40.5)));
    assert_eq!(
        events.lock().unwrap().len(),
        7,
        "3 × (started, finished) + finished"
    );

    // Cancelling stops the running step; later steps do not run.
    let control = polyrun::RunControl::new();
    let pipeline = Pipeline::new(vec![
        Step::code("lua", "while true do end"),
        Step::code("lua", "polyrun.output(1)"),
    ]);
    let c2 = control.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        c2.cancel();
    });
    let r = m.run_pipeline(&pipeline, |_| {}, Some(control)).unwrap();
    assert_eq!(r.status, PipelineStatus::Failed);
    assert_eq!(r.steps.len(), 1);
    assert_eq!(r.steps[0].outcome, Outcome::Cancelled);
    assert_eq!(r.failed_step.as_deref(), Some("step-1"));
}

#[test]
fn helpers_work_from_inside_blocks_and_loops() {
    // Found by the benchmark: helpers used first inside a `for (let …)` block.
    let m = manager(Arc::new(MemoryStore::new()));
    let code = "for (let i = 0; i < 3; i++) { polyrun.setVariable('x', i); }\n\
                { const y = polyrun.getVariable('x'); polyrun.output(y); }";
    let (out, r) = run(&m, RunSpec::new("js", code).isolation(Isolation::InProcess));
    assert!(r.outcome.is_completed(), "{:?} {out}", r.outcome);
    assert_eq!(r.output, Some(json!(2)));
}
