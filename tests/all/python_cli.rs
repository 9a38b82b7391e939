//! Python through the CLI and the manager, end to end (the acceptance checks).

use crate::common::{check_sessions, manager, polyrun_stdin as polyrun, text};
use polyrun::Isolation;
use std::time::{Duration, Instant};

fn script(dir: &tempfile::TempDir, name: &str, code: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, code).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn hello_stdin_errors_and_syntax_errors_through_the_cli() {
    let o = polyrun(&["run", "examples/hello.py"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "Hello from polyrun!\n1. JavaScript\n2. Lua\n3. Python\n4. Ruby\n"
    );

    let o = polyrun(
        &[
            "run",
            "-l",
            "py",
            "-e",
            "name = input(\"Name? \"); print(name.upper())",
        ],
        "grace\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "Name? GRACE\n");

    let dir = tempfile::tempdir().unwrap();
    let file = script(&dir, "div.py", "a = 1\nb = 0\nprint(a / b)\n");
    let o = polyrun(&["run", &file], "");
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with(&format!("{file}:3: ZeroDivisionError: division by zero")),
        "{err}"
    );

    let file = script(
        &dir,
        "syntax.py",
        "print('a')\nfor x in range(3)\n    print(x)\n",
    );
    let o = polyrun(&["run", &file], "");
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.starts_with(&format!("{file}:2:")), "{err}");
    assert!(err.contains("SyntaxError"), "{err}");
    assert!(text(&o.stdout).is_empty());
}

#[test]
fn runaway_loops_exit_124_within_two_seconds_and_recursion_is_an_error() {
    for code in [
        "while True: pass",
        "try:\n    while True: pass\nexcept BaseException:\n    pass\nwhile True: pass",
    ] {
        for isolation in ["auto", "inline", "worker"] {
            let start = Instant::now();
            let o = polyrun(
                &[
                    "run",
                    "-l",
                    "python",
                    "-e",
                    code,
                    "--timeout",
                    "1s",
                    "--isolation",
                    isolation,
                ],
                "",
            );
            let took = start.elapsed();
            assert_eq!(
                o.status.code(),
                Some(124),
                "{code} {isolation}: {}",
                text(&o.stderr)
            );
            assert!(
                took < Duration::from_secs(2),
                "{code} {isolation}: {took:?}"
            );
        }
    }

    let o = polyrun(&["run", "-l", "python", "-e", "def f(): f()\nf()"], "");
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains(":1: RecursionError: maximum recursion depth exceeded"),
        "{err}"
    );
    assert!(err.contains("[previous frame repeated"), "{err}");
}

#[test]
fn memory_bombs_hit_the_limit_in_the_worker() {
    let o = polyrun(
        &[
            "run",
            "-l",
            "python",
            "-e",
            "x = []\nwhile True:\n    x.append('y' * 100000)",
            "--memory",
            "128MiB",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(125), "{}", text(&o.stderr));
}

#[test]
fn a_repr_html_value_is_text_html_in_json_output() {
    let o = polyrun(
        &[
            "run",
            "-l",
            "python",
            "--json",
            "-e",
            "class Badge:\n    def _repr_html_(self):\n        return '<b>ok</b>'\nBadge()",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let done = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "done")
        .unwrap_or_else(|| panic!("no done line in {out}"));
    let value = &done["outcome"]["value"];
    assert_eq!(value["text/html"], "<b>ok</b>", "{out}");
    assert!(
        value["text/plain"]
            .as_str()
            .unwrap()
            .contains("Badge object"),
        "{out}"
    );
}

#[test]
fn sessions_keep_globals_in_process_and_in_workers() {
    let r = check_sessions(
        &manager(),
        "python",
        "def twice(x):\n    return x * 2\nbase = 20",
        "twice(base) + 2",
        "'base' in globals()",
        "False",
        "while True: pass",
    );
    assert_eq!(
        r.isolation,
        Isolation::Worker,
        "RustPython cannot bound its memory: auto runs Python in a worker"
    );
}

#[test]
fn workers_whose_heap_outgrew_its_budget_retire_and_are_replaced() {
    // Every RustPython interpreter a worker discards keeps some memory; a worker whose heap
    // passed POLYRUN_WORKER_RETIRE_MB exits after its run and the manager starts another.
    let m = polyrun::RuntimeManager::builder()
        .registry(polyrun::registry())
        .worker_command(
            polyrun::WorkerCommand::new(crate::common::BIN).env("POLYRUN_WORKER_RETIRE_MB", "1"),
        )
        .build();
    for i in 0..4 {
        let r = m
            .run(
                polyrun::RunSpec::new("python", format!("print({i})")).isolation(Isolation::Worker),
            )
            .unwrap();
        assert!(r.outcome.is_completed(), "run {i}: {:?}", r.outcome);
    }
}
