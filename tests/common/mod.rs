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
