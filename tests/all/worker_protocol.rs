//! The worker protocol spoken directly to `polyrun worker`, as a non-Rust client would.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

struct Worker {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Worker {
    fn start() -> Worker {
        Self::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_polyrun"))
            .arg("worker")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Worker {
            child,
            input,
            output,
        }
    }

    fn send(&mut self, v: Value) {
        writeln!(self.input, "{v}").unwrap();
        self.input.flush().unwrap();
    }

    fn send_raw(&mut self, line: &str) {
        writeln!(self.input, "{line}").unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        assert!(
            self.output.read_line(&mut line).unwrap() > 0,
            "worker closed its output"
        );
        serde_json::from_str(&line).unwrap()
    }

    /// Messages up to and including the done (or error) message of `id`.
    fn until_done(&mut self, id: &str) -> Vec<Value> {
        let mut msgs = Vec::new();
        loop {
            let m = self.recv();
            let end = (m["type"] == "done" || m["type"] == "error") && m["id"] == id;
            msgs.push(m);
            if end {
                return msgs;
            }
        }
    }
}

#[test]
fn a_worker_whose_input_closes_during_an_endless_loop_exits() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyrun"))
        .arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    // Boa: a pure loop the engine cannot interrupt.
    let run = json!({"type": "run", "id": "l", "language": "js", "backend": "boa", "code": "console.log('looping'); while (true) {}", "limits": {"wall_time_ms": 600000}});
    writeln!(input, "{run}").unwrap();
    input.flush().unwrap();
    let mut line = String::new();
    while !line.contains("looping") {
        line.clear();
        assert!(
            output.read_line(&mut line).unwrap() > 0,
            "the worker ended early"
        );
    }
    // The caller goes away: its end of the pipe closes.
    drop(input);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(
        status.is_some(),
        "the worker kept looping after its input closed"
    );
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout_of(msgs: &[Value]) -> String {
    msgs.iter()
        .filter(|m| m["type"] == "event" && m["event"]["type"] == "stdout")
        .map(|m| m["event"]["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ready_run_events_done() {
    let mut w = Worker::start();
    let ready = w.recv();
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["protocol"], 2);
    assert_eq!(ready["languages"][0]["backend"], "quickjs");
    assert_eq!(ready["languages"][0]["default"], true);
    assert_eq!(ready["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(ready["capabilities"]["memory_ceiling"], true);
    let langs: Vec<_> = ready["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["language"].clone())
        .collect();
    assert_eq!(
        langs,
        [
            json!("javascript"),
            json!("javascript"),
            json!("lua"),
            json!("python"),
            json!("ruby"),
            json!("php")
        ]
    );

    w.send(json!({"type": "run", "id": "a", "language": "lua", "code": "print('hi') return 7"}));
    let msgs = w.until_done("a");
    assert_eq!(stdout_of(&msgs), "hi\n");
    let done = msgs.last().unwrap();
    assert_eq!(
        done["outcome"],
        json!({"status": "completed", "value": {"text/plain": "7"}})
    );
    assert_eq!(done["replayed"], false);

    // Language from the file name's extension.
    w.send(json!({"type": "run", "id": "b", "code": "console.log(1)", "filename": "x.js"}));
    assert_eq!(stdout_of(&w.until_done("b")), "1\n");

    w.send(json!({"type": "run", "id": "c", "code": "print('py')\n6 * 7", "filename": "m.py"}));
    let msgs = w.until_done("c");
    assert_eq!(stdout_of(&msgs), "py\n");
    assert_eq!(
        msgs.last().unwrap()["outcome"],
        json!({"status": "completed", "value": {"text/plain": "42"}})
    );
}

#[test]
fn malformed_lines_and_unknown_languages_get_errors_and_the_worker_lives_on() {
    let mut w = Worker::start();
    w.recv();
    w.send_raw("this is not json");
    let e = w.recv();
    assert_eq!(
        (e["type"].as_str(), e["kind"].as_str()),
        (Some("error"), Some("invalid_request"))
    );
    // Not UTF-8 either: an error too, and the worker goes on.
    w.input.write_all(b"{\"type\": \"\xff\"}\n").unwrap();
    w.input.flush().unwrap();
    let e = w.recv();
    assert_eq!(e["kind"], "invalid_request", "{e}");
    w.send(json!({"type": "run", "id": "x", "language": "cobol", "code": "x"}));
    let e = w.recv();
    assert_eq!(e["kind"], "unknown_language");
    assert_eq!(e["id"], "x");
    assert_eq!(e["available"][1], "lua", "{e}");
    w.send(json!({"type": "run", "id": "z", "language": "lua", "backend": "luajit", "code": "x"}));
    let e = w.recv();
    assert_eq!(e["kind"], "unknown_backend");
    assert_eq!(e["available"], json!(["mlua"]), "{e}");
    // The backend named explicitly runs.
    w.send(
        json!({"type": "run", "id": "w", "language": "lua", "backend": "MLUA", "code": "return 1"}),
    );
    assert_eq!(
        w.until_done("w").last().unwrap()["outcome"]["status"],
        "completed"
    );
    w.send(json!({"type": "run", "id": "y", "language": "js", "code": "1+1"}));
    assert_eq!(
        w.until_done("y").last().unwrap()["outcome"]["status"],
        "completed"
    );
}

#[test]
fn input_requests_are_answered_with_input_commands() {
    let mut w = Worker::start();
    w.recv();
    w.send(json!({"type": "run", "id": "i", "language": "js", "code": "console.log('got ' + readline()); console.log(readline())"}));
    let m = w.recv();
    assert_eq!(m, json!({"type": "input_request", "id": "i"}));
    w.send(json!({"type": "input", "id": "i", "line": "line one"}));
    let m = w.recv();
    assert_eq!(m["event"]["text"], "got line one\n");
    assert_eq!(w.recv()["type"], "input_request");
    w.send(json!({"type": "input", "id": "i", "line": null}));
    let msgs = w.until_done("i");
    assert_eq!(stdout_of(&msgs), "null\n");
}

#[test]
fn cancel_command_stops_a_preemptible_run() {
    let mut w = Worker::start();
    w.recv();
    w.send(json!({"type": "run", "id": "c", "language": "lua", "code": "print('start') while true do end", "limits": {"wall_time_ms": 60000}}));
    assert_eq!(w.recv()["event"]["text"], "start\n");
    w.send(json!({"type": "cancel", "id": "c"}));
    let done = w.until_done("c").pop().unwrap();
    assert_eq!(done["outcome"]["status"], "cancelled");
}

#[test]
fn a_worker_refuses_runs_past_its_queue_and_runs_the_rest() {
    let mut w = Worker::start();
    w.recv();
    w.send(json!({"type": "run", "id": "loop", "language": "lua", "code": "print('start') while true do end", "limits": {"wall_time_ms": 60000}}));
    assert_eq!(w.recv()["event"]["text"], "start\n");
    let queued = polyrun::manager::worker_server::MAX_QUEUED;
    for i in 0..queued + 20 {
        w.send(
            json!({"type": "run", "id": format!("q{i}"), "language": "lua", "code": "return 1"}),
        );
    }
    // The 20 past the queue are refused at once, while the loop still runs.
    let mut refused = Vec::new();
    while refused.len() < 20 {
        let m = w.recv();
        assert_eq!(m["type"], "error", "{m}");
        assert_eq!(m["kind"], "worker", "{m}");
        assert!(
            m["message"].as_str().unwrap().contains("queued runs"),
            "{m}"
        );
        refused.push(m["id"].as_str().unwrap().to_string());
    }
    let expected: Vec<String> = (queued..queued + 20).map(|i| format!("q{i}")).collect();
    assert_eq!(refused, expected);
    w.send(json!({"type": "cancel", "id": "loop"}));
    assert_eq!(
        w.until_done("loop").pop().unwrap()["outcome"]["status"],
        "cancelled"
    );
    // Every queued run then runs.
    let last = w.until_done(&format!("q{}", queued - 1));
    assert_eq!(last.last().unwrap()["outcome"]["status"], "completed");
}

#[test]
fn a_queued_run_cancelled_before_it_starts_runs_nothing() {
    let mut w = Worker::start();
    w.recv();
    w.send(json!({"type": "run", "id": "a", "language": "lua", "code": "while true do end", "limits": {"wall_time_ms": 300}}));
    w.send(json!({"type": "run", "id": "b", "language": "js", "code": "console.log('b ran')"}));
    w.send(json!({"type": "cancel", "id": "b"}));
    let a = w.until_done("a");
    assert_eq!(a.last().unwrap()["outcome"]["limit"], "time");
    let b = w.until_done("b");
    assert_eq!(b.last().unwrap()["outcome"]["status"], "cancelled");
    assert_eq!(stdout_of(&b), "");
}

#[test]
fn wall_time_and_limits_apply() {
    let mut w = Worker::start();
    w.recv();
    w.send(json!({"type": "run", "id": "t", "language": "lua", "code": "while true do end", "limits": {"wall_time_ms": 200}}));
    assert_eq!(
        w.until_done("t").pop().unwrap()["outcome"],
        json!({"status": "limit_exceeded", "limit": "time"})
    );
    w.send(json!({"type": "run", "id": "o", "language": "lua", "code": "while true do print('x') end", "limits": {"output_bytes": 100}}));
    let msgs = w.until_done("o");
    assert_eq!(stdout_of(&msgs).len(), 100);
    assert_eq!(msgs.last().unwrap()["outcome"]["limit"], "output");
}

#[test]
fn idempotency_and_sessions() {
    let mut w = Worker::start();
    w.recv();
    let run = json!({"type": "run", "id": "1", "language": "js", "code": "console.log(Math.random())", "idempotency_key": "same"});
    w.send(run.clone());
    let first = w.until_done("1");
    let mut again = run;
    again["id"] = "2".into();
    w.send(again);
    let second = w.until_done("2");
    assert_eq!(stdout_of(&first), stdout_of(&second));
    assert_eq!(second.last().unwrap()["replayed"], true);

    w.send(json!({"type": "run", "id": "s1", "language": "lua", "code": "n = 10", "session": "s"}));
    w.until_done("s1");
    w.send(json!({"type": "run", "id": "s2", "language": "lua", "code": "n + 1", "session": "s"}));
    assert_eq!(
        w.until_done("s2").pop().unwrap()["outcome"]["value"]["text/plain"],
        "11"
    );
    w.send(json!({"type": "run", "id": "s3", "language": "lua", "code": "n"}));
    assert_eq!(
        w.until_done("s3").pop().unwrap()["outcome"]["value"]["text/plain"],
        "nil",
        "no session: fresh state"
    );
    w.send(json!({"type": "end_session", "session": "s"}));
    w.send(json!({"type": "run", "id": "s4", "language": "lua", "code": "n", "session": "s"}));
    assert_eq!(
        w.until_done("s4").pop().unwrap()["outcome"]["value"]["text/plain"],
        "nil"
    );
}

#[test]
fn memory_ceiling_ends_the_worker_with_its_status() {
    let bomb = "let a = []; while (true) a.push([a.length])";
    let mut w = Worker::start();
    w.recv();
    // QuickJS bounds its own heap: the run ends as over its memory limit, the worker lives on.
    w.send(json!({"type": "run", "id": "q", "language": "js", "code": bomb, "limits": {"memory_bytes": 33554432}}));
    let done = w.until_done("q");
    let outcome = &done.last().unwrap()["outcome"];
    assert_eq!(
        (&outcome["status"], &outcome["limit"]),
        (&json!("limit_exceeded"), &json!("memory")),
        "{done:?}"
    );
    w.send(json!({"type": "run", "id": "n", "language": "js", "code": "console.log(6 * 7)"}));
    assert_eq!(stdout_of(&w.until_done("n")), "42\n");
    // Boa cannot: the worker's own ceiling ends the process with its status.
    w.send(json!({"type": "run", "id": "m", "language": "js", "backend": "boa", "code": bomb, "limits": {"memory_bytes": 33554432}}));
    let status = w.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(polyrun::manager::protocol::EXIT_MEMORY_LIMIT)
    );
}

#[test]
fn a_worker_past_its_heap_budget_says_it_retires_and_exits() {
    let mut w = Worker::start_with(&[("POLYRUN_WORKER_RETIRE_MB", "1")]);
    w.recv();
    // A session keeps the worker alive whatever its heap.
    w.send(
        json!({"type": "run", "id": "s", "language": "python", "code": "x = 1", "session": "k"}),
    );
    let done = w.until_done("s");
    assert_eq!(done.last().unwrap()["retiring"], Value::Null, "{done:?}");
    w.send(json!({"type": "end_session", "session": "k"}));
    w.send(json!({"type": "run", "id": "a", "language": "python", "code": "print(1)"}));
    let msgs = w.until_done("a");
    assert_eq!(stdout_of(&msgs), "1\n");
    assert_eq!(msgs.last().unwrap()["retiring"], true);
    let status = w.child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // Without the setting (1 GiB by default) a small run does not retire.
    let mut w = Worker::start();
    w.recv();
    w.send(json!({"type": "run", "id": "b", "language": "python", "code": "print(2)"}));
    assert_eq!(w.until_done("b").last().unwrap()["retiring"], Value::Null);
}
