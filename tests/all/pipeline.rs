//! `polyrun pipeline run` and the variable store across processes, end to end with the CLI.

use crate::common::{BIN, code, polyrun_env, text};
use serde_json::{Value, json};
use std::process::{Command, Stdio};

/// A fresh variable store file for one test.
fn store(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("polyrun-pipeline-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("vars.sqlite3").display().to_string()
}

#[test]
fn the_five_language_example_from_the_readme_gives_its_output_and_counts_its_runs() {
    let vars = store("example");
    let env = [("POLYRUN_VARIABLES", vars.as_str())];
    let args = ["pipeline", "run", "examples/pipeline/flow.yaml"];
    for runs in [1, 2] {
        // Each run is a new process: the counter comes from the SQLite file.
        let o = polyrun_env(&args, "", &env);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        let out = text(&o.stdout);
        let (steps, output) = out.split_at(out.find('{').expect("the output JSON"));
        assert_eq!(
            steps,
            format!(
                "python: 15 words\njavascript: 10 distinct words\nlua: the top word is \"the\"\n\
                 ruby: 3 lines\nphp: run {runs} of word-stats\n"
            )
        );
        let output: Value = serde_json::from_str(output).unwrap();
        assert_eq!(
            output,
            json!({
                "summary": "15 words, 10 distinct; top: 1. the x4, 2. dog x2, 3. fox x2",
                "runs": runs,
            })
        );
        for (i, step) in ["clean", "count", "top", "report", "summary"]
            .iter()
            .enumerate()
        {
            assert!(
                text(&o.stderr).contains(&format!("step {}/5 `{step}`", i + 1)),
                "{}",
                text(&o.stderr)
            );
        }
    }
}

#[test]
fn json_mode_streams_each_steps_events_in_order() {
    let vars = store("json");
    let o = polyrun_env(
        &[
            "pipeline",
            "run",
            "examples/pipeline/flow.yaml",
            "--json",
            "--input",
            r#"{"text": "b a b"}"#,
        ],
        "",
        &[("POLYRUN_VARIABLES", vars.as_str())],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let events: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let kinds: Vec<String> = events
        .iter()
        .filter(|e| e["type"] != "step_event")
        .map(|e| {
            format!(
                "{} {}",
                e["type"].as_str().unwrap(),
                e["step"].as_str().unwrap_or("")
            )
        })
        .collect();
    let mut expected = Vec::new();
    for s in ["clean", "count", "top", "report", "summary"] {
        expected.push(format!("step_started {s}"));
        expected.push(format!("step_finished {s}"));
    }
    expected.push("finished ".into());
    assert_eq!(kinds, expected);
    assert_eq!(events[0]["input"], json!({"text": "b a b"}));
    let stdout_of_top = events
        .iter()
        .find(|e| e["step"] == "top" && e["event"]["type"] == "stdout")
        .unwrap();
    assert_eq!(
        stdout_of_top["event"]["text"],
        "lua: the top word is \"b\"\n"
    );
    let last = events.last().unwrap();
    assert_eq!(last["status"], "succeeded");
    assert_eq!(
        last["output"]["summary"],
        "3 words, 2 distinct; top: 1. b x2, 2. a x1"
    );
}

#[test]
fn a_failing_step_stops_the_pipeline_with_its_diagnostic() {
    let dir = std::env::temp_dir().join(format!("polyrun-pipeline-{}-flow", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flow = dir.join("flow.yaml");
    std::fs::write(
        &flow,
        "steps:\n\
         \x20 - {name: first, language: lua, code: \"polyrun.output({n = 41})\"}\n\
         \x20 - name: second\n\
         \x20   file: second.rb\n\
         \x20 - {name: never, language: js, code: \"console.log('ran')\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("second.rb"),
        "n = polyrun.input[\"n\"]\nraise ArgumentError, \"n is #{n}\"\n",
    )
    .unwrap();
    let vars = store("fail");
    let env = [("POLYRUN_VARIABLES", vars.as_str())];
    let flow = flow.display().to_string();
    let o = polyrun_env(&["pipeline", "run", &flow], "", &env);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("the pipeline stopped at step `second`"),
        "{err}"
    );
    assert!(err.contains("second.rb:2: ArgumentError: n is 41"), "{err}");
    assert!(
        !err.contains("never") && !text(&o.stdout).contains("ran"),
        "{err}"
    );

    let o = polyrun_env(&["pipeline", "run", &flow, "--json"], "", &env);
    let last: Value = serde_json::from_str(text(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        last,
        json!({"type": "finished", "status": "failed", "output": null, "failed_step": "second"})
    );

    // A definition that cannot run is refused before anything runs.
    std::fs::write(
        dir.join("bad.yaml"),
        "steps:\n  - {language: cobol, code: x}\n",
    )
    .unwrap();
    let o = polyrun_env(
        &[
            "pipeline",
            "run",
            &dir.join("bad.yaml").display().to_string(),
        ],
        "",
        &env,
    );
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("unknown language `cobol`"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn two_processes_incrementing_one_counter_100_times_each_end_at_200() {
    let vars = store("counter");
    let spawn = |lang: &str, code: &str| {
        Command::new(BIN)
            .args(["run", "--lang", lang, "-e", code, "--namespace", "shared"])
            .env("POLYRUN_VARIABLES", &vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn(
        "lua",
        "for i = 1, 100 do polyrun.updateVariable('counter', function(n) return (n or 0) + 1 end) end",
    );
    let b = spawn(
        "python",
        "for i in range(100):\n    polyrun.update_variable('counter', lambda n: (n or 0) + 1)",
    );
    for child in [a, b] {
        let o = child.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    }
    // A third process reads what the two left.
    let o = polyrun_env(
        &[
            "run",
            "--lang",
            "js",
            "-e",
            "console.log(polyrun.getVariable('counter'))",
            "--namespace",
            "shared",
        ],
        "",
        &[("POLYRUN_VARIABLES", vars.as_str())],
    );
    assert_eq!(text(&o.stdout), "200\n", "{}", text(&o.stderr));
}

#[test]
fn a_store_that_cannot_be_opened_fails_only_the_helper_call() {
    // A path under a regular file can never be created.
    let blocker =
        std::env::temp_dir().join(format!("polyrun-pipeline-{}-blocker", std::process::id()));
    std::fs::write(&blocker, b"a file").unwrap();
    let vars = blocker.join("vars.sqlite3").display().to_string();
    let env = [("POLYRUN_VARIABLES", vars.as_str())];
    // A run that uses no variable does not notice.
    let o = polyrun_env(
        &[
            "run",
            "--lang",
            "lua",
            "-e",
            "print(polyrun.input())",
            "--input",
            "7",
        ],
        "",
        &env,
    );
    assert_eq!(
        (code(&o), text(&o.stdout)),
        (0, "7\n".to_string()),
        "{}",
        text(&o.stderr)
    );
    // One that does gets a clear error at its line, which it can catch.
    let o = polyrun_env(
        &[
            "run",
            "--lang",
            "python",
            "-e",
            "x = 1\npolyrun.get_variable('n')",
        ],
        "",
        &env,
    );
    assert_eq!(code(&o), 1);
    let err = text(&o.stderr);
    assert!(
        err.contains("-e:2: RuntimeError: polyrun.getVariable: variable store: cannot create"),
        "{err}"
    );
    let o = polyrun_env(
        &[
            "run",
            "--lang",
            "js",
            "-e",
            "try { polyrun.getVariable('n') } catch (e) { console.log('caught') }",
        ],
        "",
        &env,
    );
    assert_eq!((code(&o), text(&o.stdout)), (0, "caught\n".to_string()));
    let _ = std::fs::remove_file(&blocker);
}
