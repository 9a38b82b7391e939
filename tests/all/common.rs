//! Helpers shared by the end-to-end tests that drive the `polyrun` binary.
// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The CLI under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_polyrun");

/// Runs `polyrun ARGS` from the repository root with `stdin` and extra environment variables.
pub fn polyrun_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn polyrun");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("polyrun output")
}

/// Runs `polyrun ARGS` from the repository root with `stdin`.
pub fn polyrun_stdin(args: &[&str], stdin: &str) -> Output {
    polyrun_env(args, stdin, &[])
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The exit status of a process that exited normally.
pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

/// The `text/plain` value of a completed outcome.
pub fn value(o: &polyrun::Outcome) -> Option<String> {
    match o {
        polyrun::Outcome::Completed { value: Some(v) } => v.plain().map(str::to_string),
        _ => None,
    }
}

/// A manager with every language and this build's binary as the worker.
pub fn manager() -> polyrun::RuntimeManager {
    polyrun::RuntimeManager::builder()
        .registry(polyrun::registry())
        .worker_command(polyrun::WorkerCommand::new(BIN))
        .build()
}

/// Checks, in process and in a worker, that a session keeps what `define` made (so that `use_it`
/// evaluates to `42`) and that a plain run starts clean (`probe` evaluates to `clean`). Then
/// runs `runaway` with a 300 ms deadline under auto isolation and returns that result.
pub fn check_sessions(
    m: &polyrun::RuntimeManager,
    lang: &str,
    define: &str,
    use_it: &str,
    probe: &str,
    clean: &str,
    runaway: &str,
) -> polyrun::RunResult {
    use polyrun::{Isolation, Limits, RunSpec};
    for iso in [Isolation::InProcess, Isolation::Worker] {
        let mut s = m.session(lang, Some(iso)).unwrap();
        s.run(RunSpec::code(define)).unwrap();
        let r = s.run(RunSpec::code(use_it)).unwrap();
        assert_eq!(value(&r.outcome), Some("42".into()), "{lang} {iso:?}");
        let r = m.run(RunSpec::new(lang, probe).isolation(iso)).unwrap();
        assert_eq!(value(&r.outcome), Some(clean.into()), "{lang} {iso:?}");
    }
    let r = m
        .run(RunSpec::new(lang, runaway).limits(Limits {
            wall_time: Some(std::time::Duration::from_millis(300)),
            ..Limits::default()
        }))
        .unwrap();
    assert_eq!(
        r.outcome,
        polyrun::Outcome::LimitExceeded {
            limit: polyrun::LimitKind::Time
        },
        "{lang}"
    );
    r
}
