//! `polyrun serve` end to end: the real CLI listening on a loopback port, driven by a real HTTP
//! client (reqwest) and a real WebSocket client (tokio-tungstenite).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// A `polyrun serve` child process; killed when dropped.
struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyrun"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--no-site"])
            .args(args)
            .env("RUST_LOG", "warn")
            .env_remove("POLYRUN_TOKENS")
            .env("POLYRUN_VARIABLES", "memory")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start polyrun serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("polyrun serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server {
            child,
            base,
            client: reqwest::Client::new(),
            token: None,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn ws_url(&self, path: &str) -> String {
        let mut u = format!("{}{path}", self.base.replacen("http://", "ws://", 1));
        if let Some(t) = &self.token {
            u.push_str(if u.contains('?') { "&" } else { "?" });
            u.push_str(&format!("access_token={t}"));
        }
        u
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(method, self.url(path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = self
            .req(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Submits a run; its id.
    async fn submit(&self, body: Value) -> String {
        let (status, _, v) = self.post("/v1/runs", body).await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Every event of a run over the WebSocket, from after `after` until the server closes.
    async fn events(&self, id: &str, after: u64) -> Vec<Value> {
        let mut ws = self.open_events(&format!("{id}?after={after}")).await;
        let mut out = Vec::new();
        while let Some(e) = next_event(&mut ws).await {
            out.push(e);
        }
        out
    }

    /// The body of a response, as text.
    async fn text(&self, r: reqwest::RequestBuilder) -> String {
        r.send().await.unwrap().text().await.unwrap()
    }

    async fn metrics(&self) -> String {
        self.text(self.req(reqwest::Method::GET, "/metrics")).await
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Server {
    /// A run's events as Server-Sent Events (the whole stream, as text), with one extra header.
    async fn sse(&self, id: &str, header: &str, value: &str) -> String {
        let r = self.req(reqwest::Method::GET, &format!("/v1/runs/{id}/events"));
        self.text(r.header(header, value)).await
    }

    /// A WebSocket on a run's events (`id` may carry a query: `ID?after=N`).
    async fn open_events(&self, id: &str) -> Ws {
        let (id, query) = id.split_once('?').unwrap_or((id, ""));
        let mut url = self.ws_url(&format!("/v1/runs/{id}/events"));
        if !query.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(query);
        }
        tokio_tungstenite::connect_async(url).await.unwrap().0
    }
}

/// The next event on a WebSocket; `None` once the server closed it.
async fn next_event(ws: &mut Ws) -> Option<Value> {
    while let Some(Ok(m)) = ws.next().await {
        match m {
            Message::Text(t) => return Some(serde_json::from_str(&t).unwrap()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout_of(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "stdout")
        .map(|e| e["text"].as_str().unwrap())
        .collect()
}

fn statuses(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e["type"] == "status")
        .map(|e| e["status"].as_str().unwrap())
        .collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

/// The worker processes (children) of a process.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may contain spaces, so split after the last ')'.
        let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let zombie = after.split_whitespace().next() == Some("Z");
        if ppid == pid && !zombie {
            out.push(child);
        }
    }
    out
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_streams_stdout_in_order_before_its_final_status() {
    let s = Server::start(&[]);
    let code = "for (let i = 1; i <= 40; i++) console.log('line ' + i);\n'done'";
    let id = s.submit(json!({ "language": "js", "code": code })).await;
    let events = s.events(&id, 0).await;
    let expected: String = (1..=40).map(|i| format!("line {i}\n")).collect();
    assert_eq!(stdout_of(&events), expected);
    assert_eq!(statuses(&events), ["queued", "running", "succeeded"]);
    let n = events.len() as u64;
    assert_eq!(
        seqs(&events),
        (1..=n).collect::<Vec<_>>(),
        "gapless, in order"
    );
    let last_stdout = events.iter().rposition(|e| e["type"] == "stdout").unwrap();
    let final_status = events
        .iter()
        .position(|e| e["status"] == "succeeded")
        .unwrap();
    assert!(
        last_stdout < final_status,
        "all output before the final status"
    );
    let outcome = events.last().unwrap();
    assert_eq!(outcome["type"], "outcome");
    assert_eq!(outcome["outcome"]["value"]["text/plain"], "'done'");
    assert!(
        events
            .iter()
            .all(|e| e["ts_ms"].as_u64().unwrap() > 1_600_000_000_000)
    );

    // The same events over Server-Sent Events, and the run over REST.
    let text = s.sse(&id, "accept", "text/event-stream").await;
    let sse: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(sse, events);
    let (status, run) = s.get(&format!("/v1/runs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["stdout"], expected);
    assert_eq!(run["language"], "javascript");
    assert_eq!(run["last_seq"], n);
}

/// Cancels a run once it has printed, and measures until its `cancelled` status arrives.
/// `language` may name a backend: `javascript@boa`.
async fn cancel_after_first_output(s: &Server, language: &str, code: &str) -> Duration {
    let (language, backend) = match language.split_once('@') {
        Some((l, b)) => (l, Some(b)),
        None => (language, None),
    };
    let id = s
        .submit(json!({ "language": language, "backend": backend, "code": code, "limits": { "wall_time_ms": 30000 } }))
        .await;
    let mut ws = s.open_events(&id).await;
    let mut asked = None;
    let mut events = Vec::new();
    while let Some(e) = next_event(&mut ws).await {
        if e["type"] == "stdout" && asked.is_none() {
            asked = Some(Instant::now());
            let (status, _, v) = s.post(&format!("/v1/runs/{id}/cancel"), json!({})).await;
            assert_eq!(status, 202);
            assert_eq!(v["cancel_requested"], true);
        }
        let done = e["status"] == "cancelled";
        events.push(e);
        if done {
            break;
        }
    }
    let took = asked.expect("the run started").elapsed();
    println!("{language}: cancel → cancelled status: {took:?}");
    assert_eq!(statuses(&events), ["queued", "running", "cancelled"]);
    let (_, run) = s.get(&format!("/v1/runs/{id}?wait_ms=5000")).await;
    assert_eq!(run["outcome"]["status"], "cancelled");
    assert_eq!(run["reason"], "cancelled by the client");
    // Cancelling an ended run changes nothing.
    let (_, _, v) = s.post(&format!("/v1/runs/{id}/cancel"), json!({})).await;
    assert_eq!(v["cancel_requested"], false);
    took
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_mid_run_yields_cancelled_within_200_ms() {
    let s = Server::start(&[]);
    // Lua, Python and JavaScript (QuickJS) stop themselves at their next check; Boa cannot
    // interrupt a loop, so its worker is killed after the server's grace (100 ms) and replaced.
    for (language, code) in [
        ("lua", "print('started') while true do end"),
        (
            "python",
            "print('started', flush=True)\nwhile True:\n    pass\n",
        ),
        ("javascript", "console.log('started'); while (true) {}"),
        ("javascript@boa", "console.log('started'); while (true) {}"),
    ] {
        let took = cancel_after_first_output(&s, language, code).await;
        assert!(
            took < Duration::from_millis(200),
            "{language}: took {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnect_with_a_sequence_number_receives_the_missed_events_exactly_once() {
    let s = Server::start(&[]);
    // 30 lines, ~20 ms apart.
    let code = "for (let i = 1; i <= 30; i++) { const t = Date.now(); while (Date.now() - t < 20) {} console.log('tick ' + i); }";
    let id = s.submit(json!({ "language": "js", "code": code })).await;
    let mut ws = s.open_events(&id).await;
    let mut first = Vec::new();
    while let Some(e) = next_event(&mut ws).await {
        let stdout = e["type"] == "stdout";
        first.push(e);
        if stdout && first.iter().filter(|e| e["type"] == "stdout").count() == 5 {
            break;
        }
    }
    drop(ws); // the connection drops mid-run
    let last = *seqs(&first).last().unwrap();
    let rest = s.events(&id, last).await;
    let all = s.events(&id, 0).await;
    let mut joined = first.clone();
    joined.extend(rest.iter().cloned());
    assert_eq!(
        joined, all,
        "the two connections together are the whole log"
    );
    assert_eq!(rest.first().unwrap()["seq"], last + 1);
    let expected: String = (1..=30).map(|i| format!("tick {i}\n")).collect();
    assert_eq!(stdout_of(&joined), expected);
    // SSE honours Last-Event-ID the same way.
    let text = s.sse(&id, "last-event-id", &last.to_string()).await;
    let ids: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: ")?.parse().ok())
        .collect();
    assert_eq!(ids, seqs(&rest));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_replay_does_not_execute_twice() {
    let s = Server::start(&[]);
    let body = json!({ "language": "lua", "code": "print('once')", "idempotency_key": "grade-42" });
    let (status, _, first) = s.post("/v1/runs", body.clone()).await;
    assert_eq!(status, 201);
    assert_eq!(first["replayed"], false);
    let id = first["id"].as_str().unwrap();
    let (_, run) = s.get(&format!("/v1/runs/{id}?wait_ms=10000")).await;
    assert_eq!(run["stdout"], "once\n");
    for _ in 0..3 {
        let (status, _, again) = s.post("/v1/runs", body.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(again["id"], id);
        assert_eq!(again["replayed"], true);
        assert_eq!(again["stdout"], "once\n");
    }
    let metrics = s.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "polyrun_runs_total{language=\"lua\",status=\"succeeded\"} 1"),
        "executed exactly once:\n{metrics}"
    );
    // The same key for a different request is a conflict, not a silent replay.
    let (status, _, v) = s
        .post(
            "/v1/runs",
            json!({ "language": "lua", "code": "print('other')", "idempotency_key": "grade-42" }),
        )
        .await;
    assert_eq!(status, 409, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_gets_401_and_the_right_one_is_served() {
    let mut s = Server::start_with_env(&[], &[("POLYRUN_TOKENS", "ci:correct-horse-1")]);
    let r = s.client.get(s.url("/v1/languages")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    s.token = Some("correct-horse-2".into());
    let (status, _, v) = s
        .post("/v1/runs", json!({ "language": "js", "code": "1" }))
        .await;
    assert_eq!(status, 401, "{v}");
    assert!(
        tokio_tungstenite::connect_async(s.ws_url("/v1/runs/x/events"))
            .await
            .is_err(),
        "a WebSocket with a wrong token is refused"
    );
    // A token in the URL is taken by the event stream only (URLs end up in logs).
    let r = s
        .client
        .get(s.url("/v1/languages?access_token=correct-horse-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(body.contains("only taken by the event stream"), "{body}");
    s.token = Some("correct-horse-1".into());
    let (status, langs) = s.get("/v1/languages").await;
    assert_eq!(status, 200);
    assert!(langs["languages"].as_array().unwrap().len() >= 5);
    let id = s
        .submit(json!({ "language": "js", "code": "console.log('ok')" }))
        .await;
    assert_eq!(stdout_of(&s.events(&id, 0).await), "ok\n");
    // Health and the API description need no token.
    let r = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .get(s.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_gets_429_and_the_token_limits_hold() {
    let s = Server::start(&[
        "--max-running",
        "1",
        "--max-queued",
        "1",
        "--token-concurrency",
        "10",
    ]);
    let spin =
        json!({ "language": "js", "code": "while (true) {}", "limits": { "wall_time_ms": 20000 } });
    let running = s.submit(spin.clone()).await;
    let queued = s.submit(spin.clone()).await;
    let (status, headers, v) = s.post("/v1/runs", spin.clone()).await;
    assert_eq!(status, 429, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("queue is full"),
        "{v}"
    );
    assert!(headers.contains_key("retry-after"));
    let (_, q) = s.get(&format!("/v1/runs/{queued}")).await;
    let (_, r) = s.get(&format!("/v1/runs/{running}")).await;
    // Runs start in the order they were accepted.
    assert_eq!(q["status"], "queued", "{q}\nthe first run: {r}");
    assert_eq!(r["status"], "running", "{r}");
    // A queued run that is cancelled never starts.
    s.post(&format!("/v1/runs/{queued}/cancel"), json!({}))
        .await;
    let (_, q) = s.get(&format!("/v1/runs/{queued}?wait_ms=5000")).await;
    assert_eq!(q["status"], "cancelled");
    assert_eq!(q["started_at_ms"], Value::Null);
    s.post(&format!("/v1/runs/{running}/cancel"), json!({}))
        .await;
    let (_, r) = s.get(&format!("/v1/runs/{running}?wait_ms=5000")).await;
    assert_eq!(r["status"], "cancelled");
    assert!(
        s.metrics()
            .await
            .contains("polyrun_runs_rejected_total{reason=\"queue_full\"} 1")
    );
    drop(s);

    let s = Server::start(&["--token-concurrency", "1", "--token-rate", "3"]);
    let first = s.submit(spin.clone()).await;
    let (status, _, v) = s.post("/v1/runs", spin.clone()).await;
    assert_eq!(status, 429, "one run in flight per token: {v}");
    s.post(&format!("/v1/runs/{first}/cancel"), json!({})).await;
    s.get(&format!("/v1/runs/{first}?wait_ms=5000")).await;
    let quick = json!({ "language": "js", "code": "1" });
    for _ in 0..2 {
        let id = s.submit(quick.clone()).await;
        s.get(&format!("/v1/runs/{id}?wait_ms=5000")).await;
    }
    let (status, headers, v) = s.post("/v1/runs", quick).await;
    assert_eq!(status, 429, "3 runs a minute: {v}");
    assert!(v["error"].as_str().unwrap().contains("a minute"), "{v}");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_killing_its_worker_fails_with_a_reason_and_the_server_keeps_serving() {
    let s = Server::start(&[]);
    let id = s
        .submit(json!({
            "language": "python",
            "code": "print('up', flush=True)\nwhile True:\n    pass\n",
            "limits": { "wall_time_ms": 30000 }
        }))
        .await;
    let mut ws = s.open_events(&id).await;
    let mut events = Vec::new();
    while let Some(e) = next_event(&mut ws).await {
        if e["type"] == "stdout" {
            // The worker dies under the guest (as when a guest brings its process down).
            let workers = children(s.pid());
            assert!(!workers.is_empty());
            for w in workers {
                // SAFETY: kill(2) on a child of the server this test started.
                unsafe { libc::kill(w as i32, libc::SIGKILL) };
            }
        }
        let end = e["type"] == "outcome";
        events.push(e);
        if end {
            break;
        }
    }
    assert_eq!(statuses(&events), ["queued", "running", "failed"]);
    let outcome = events.last().unwrap();
    assert_eq!(outcome["outcome"]["status"], "crashed");
    let reason = outcome["reason"].as_str().unwrap();
    assert!(
        reason.contains("signal 9") || reason.contains("SIGKILL"),
        "{reason}"
    );
    let id = s
        .submit(json!({ "language": "python", "code": "print(6 * 7)" }))
        .await;
    assert_eq!(stdout_of(&s.events(&id, 0).await), "42\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_stdin_over_the_websocket_and_rest() {
    let s = Server::start(&[]);
    let id = s
        .submit(json!({
            "language": "python",
            "code": "a = input('a? ')\nb = input('b? ')\nprint(int(a) + int(b))\ntry:\n    input()\nexcept EOFError:\n    print('eof')\n",
            "stdin": "40\n",
            "interactive": true
        }))
        .await;
    let mut ws = s.open_events(&id).await;
    let mut events = Vec::new();
    let mut requests = 0;
    while let Some(e) = next_event(&mut ws).await {
        if e["type"] == "stdin_request" {
            requests += 1;
            let reply = if requests == 1 {
                json!({ "type": "stdin", "text": "2" })
            } else {
                json!({ "type": "stdin_eof" })
            };
            ws.send(Message::text(reply.to_string())).await.unwrap();
        }
        let end = e["type"] == "outcome";
        events.push(e);
        if end {
            break;
        }
    }
    assert_eq!(stdout_of(&events), "a? b? 42\neof\n");
    assert_eq!(requests, 2, "the given line was read first");

    // The same over REST.
    let id = s
        .submit(json!({ "language": "ruby", "code": "puts gets.upcase", "interactive": true }))
        .await;
    let mut delivered = false;
    for _ in 0..100 {
        let r = s
            .req(reqwest::Method::POST, &format!("/v1/runs/{id}/stdin"))
            .header("content-type", "application/json")
            .body(json!({ "text": "hello" }).to_string())
            .send()
            .await
            .unwrap();
        if r.status() == 204 {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(delivered);
    let (_, run) = s.get(&format!("/v1/runs/{id}?wait_ms=20000")).await;
    assert_eq!(run["stdout"], "HELLO\n", "{run}");
    // A run that does not read holds at most 4 MiB of unread input; more is refused (413)
    // until it reads, instead of piling up in the server.
    let id = s
        .submit(json!({ "language": "lua", "code": "print('up') while true do end", "interactive": true, "limits": { "wall_time_ms": 60000 } }))
        .await;
    let chunk = "y".repeat(800 << 10);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = s
            .req(reqwest::Method::POST, &format!("/v1/runs/{id}/stdin"))
            .header("content-type", "application/json")
            .body(json!({ "text": chunk }).to_string())
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 413 {
            let body = r.text().await.unwrap();
            assert!(body.contains("has not read yet"), "{body}");
        }
    }
    assert_eq!(statuses, [204, 204, 204, 204, 204, 413, 413]);
    let (status, _, _) = s.post(&format!("/v1/runs/{id}/cancel"), json!({})).await;
    assert_eq!(status, 202);
    // A run that is not interactive takes no more input.
    let id = s.submit(json!({ "language": "js", "code": "1" })).await;
    let (status, _, _) = s
        .post(&format!("/v1/runs/{id}/stdin"), json!({ "text": "x" }))
        .await;
    assert_eq!(status, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_keep_state_between_runs() {
    let s = Server::start(&["--token-sessions", "1"]);
    let a = s
        .submit(json!({ "language": "js", "code": "var total = 40;", "session": "nb" }))
        .await;
    s.get(&format!("/v1/runs/{a}?wait_ms=10000")).await;
    let b = s
        .submit(json!({ "language": "js", "code": "total + 2", "session": "nb" }))
        .await;
    let (_, run) = s.get(&format!("/v1/runs/{b}?wait_ms=10000")).await;
    assert_eq!(run["outcome"]["value"]["text/plain"], "42", "{run}");
    let (status, _, v) = s
        .post(
            "/v1/runs",
            json!({ "language": "lua", "code": "x", "session": "nb" }),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    // Each session holds a worker: one per token here.
    let (status, _, v) = s
        .post(
            "/v1/runs",
            json!({ "language": "js", "code": "1", "session": "other" }),
        )
        .await;
    assert_eq!(status, 429, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("sessions open"),
        "{v}"
    );
    let r = s
        .req(reqwest::Method::DELETE, "/v1/sessions/nb")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let c = s
        .submit(json!({ "language": "js", "code": "typeof total", "session": "nb" }))
        .await;
    let (_, run) = s.get(&format!("/v1/runs/{c}?wait_ms=10000")).await;
    assert_eq!(
        run["outcome"]["value"]["text/plain"], "'undefined'",
        "a new session"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_clear_errors_and_limits_are_clamped() {
    let s = Server::start(&["--max-timeout", "5s", "--max-body", "64KiB"]);
    let (status, _, v) = s
        .post("/v1/runs", json!({ "language": "cobol", "code": "x" }))
        .await;
    assert_eq!(status, 400);
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("cobol") && msg.contains("python"), "{msg}");
    assert_eq!(v["kind"], "unknown_language", "{v}");
    // A backend: chosen explicitly it runs (and the run says which); a missing one is a 400
    // naming the language's backends.
    let (status, _, v) = s
        .post(
            "/v1/runs",
            json!({ "language": "lua", "backend": "mlua", "code": "return 1" }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["backend"], "mlua", "{v}");
    let (status, _, v) = s
        .post(
            "/v1/runs",
            json!({ "language": "lua", "backend": "luajit", "code": "return 1" }),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["kind"], "unknown_backend", "{v}");
    assert_eq!(v["available"], json!(["mlua"]), "{v}");
    // Every backend is listed, and each language has exactly one default.
    let (_, v) = s.get("/v1/languages").await;
    let langs = v["languages"].as_array().unwrap();
    assert!(langs.iter().all(|l| l["backend"].is_string()), "{v}");
    let mut names: Vec<&str> = langs
        .iter()
        .map(|l| l["language"].as_str().unwrap())
        .collect();
    names.dedup();
    for name in names {
        let defaults = langs
            .iter()
            .filter(|l| l["language"] == name && l["default"] == true)
            .count();
        assert_eq!(defaults, 1, "{name}: {v}");
    }
    let js: Vec<&str> = langs
        .iter()
        .filter(|l| l["language"] == "javascript")
        .map(|l| l["backend"].as_str().unwrap())
        .collect();
    assert_eq!(js, ["quickjs", "boa"], "{v}");
    let (status, _, v) = s.post("/v1/runs", json!({ "language": "js" })).await;
    assert!((400..500).contains(&status), "{status} {v}");
    assert!(v["error"].as_str().unwrap().contains("code"), "{v}");
    let (status, _, _) = s
        .post(
            "/v1/runs",
            json!({ "language": "js", "code": "x".repeat(100_000) }),
        )
        .await;
    assert_eq!(status, 413);
    let (status, _, v) = s
        .post(
            "/v1/runs",
            json!({ "language": "js", "code": "1", "limits": { "wall_time_ms": 3_600_000 } }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        v["limits"]["wall_time_ms"], 5000,
        "clamped to --max-timeout"
    );
    let (status, _) = s.get("/v1/runs/no-such-run").await;
    assert_eq!(status, 404);
    // Without tokens, a request naming another host (a web page's DNS rebinding) is refused.
    let r = s
        .client
        .get(s.url("/v1/languages"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (status, v) = s.get("/nothing-here").await;
    assert_eq!(status, 404);
    assert!(v["error"].as_str().unwrap().contains("no endpoint"));

    // Every path and method of the OpenAPI document is routed (a placeholder id gives the
    // handler's own 404, never the router's).
    let (_, doc) = s.get("/v1/openapi.json").await;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let p = path.replace("{id}", "placeholder");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = s
                .req(m, &p)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert!(
                status != 405 && !text.contains("no endpoint"),
                "{method} {path}: {status} {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_cancels_running_runs_with_a_clear_status() {
    let s = Server::start(&["--shutdown-grace", "300ms"]);
    let id = s
        .submit(json!({ "language": "js", "code": "console.log('x'); while (true) {}", "limits": { "wall_time_ms": 30000 } }))
        .await;
    let mut ws = s.open_events(&id).await;
    let mut events = Vec::new();
    while let Some(e) = next_event(&mut ws).await {
        if e["type"] == "stdout" {
            // SAFETY: SIGTERM to the server this test started.
            unsafe { libc::kill(s.pid() as i32, libc::SIGTERM) };
        }
        events.push(e);
    }
    let cancelled = events.iter().find(|e| e["status"] == "cancelled").unwrap();
    assert_eq!(cancelled["reason"], "server shutting down");
    assert_eq!(events.last().unwrap()["type"], "outcome");
    let mut s = s;
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// 2,000 short runs at concurrency 32 over REST + WebSocket: every event arrives, and the server
/// is left with no extra worker and no growing memory. Prints runs/s and latency percentiles.
#[tokio::test(flavor = "multi_thread")]
async fn load_2000_runs_at_concurrency_32_lose_nothing_and_leave_nothing_behind() {
    const RUNS: usize = 2000;
    const CONCURRENCY: usize = 32;
    let s = std::sync::Arc::new(Server::start(&[
        "--max-running",
        "4",
        "--token-concurrency",
        "64",
        "--token-rate",
        "0",
        "--retain-runs",
        "200",
    ]));
    async fn one(s: &Server, i: usize) -> Duration {
        let started = Instant::now();
        let lang = ["js", "lua"][i % 2];
        let code = if lang == "js" {
            format!("for (let k = 0; k < 3; k++) console.log('run {i} line ' + k)")
        } else {
            format!("for k = 0, 2 do print('run {i} line ' .. k) end")
        };
        let id = s.submit(json!({ "language": lang, "code": code })).await;
        let events = s.events(&id, 0).await;
        let expected: String = (0..3).map(|k| format!("run {i} line {k}\n")).collect();
        assert_eq!(stdout_of(&events), expected, "run {i}");
        let n = events.len() as u64;
        assert_eq!(seqs(&events), (1..=n).collect::<Vec<_>>(), "run {i}");
        assert_eq!(
            statuses(&events),
            ["queued", "running", "succeeded"],
            "run {i}"
        );
        started.elapsed()
    }
    // Warm up (workers started, allocator settled), then measure memory and the load.
    for i in 0..64 {
        one(&s, i).await;
    }
    let rss_before = rss_kb(s.pid());
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let s = s.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= RUNS {
                    return lat;
                }
                lat.push(one(&s, i).await);
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "load: {RUNS} runs at concurrency {CONCURRENCY} in {elapsed:.2?}: {:.0} runs/s, latency p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        RUNS as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap()
    );
    assert_eq!(latencies.len(), RUNS);
    let metrics = s.metrics().await;
    let succeeded: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("polyrun_runs_total") && l.contains("succeeded"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(succeeded, (RUNS + 64) as u64);
    assert!(
        metrics.contains("polyrun_queue_depth 0") && metrics.contains("polyrun_runs_running 0")
    );
    let workers = children(s.pid());
    assert!(
        workers.len() <= 4,
        "at most the idle pool is left: {workers:?}"
    );
    let rss_after = rss_kb(s.pid());
    println!(
        "server RSS {rss_before} kB before, {rss_after} kB after; {} workers idle",
        workers.len()
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew from {rss_before} kB to {rss_after} kB"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn helpers_and_pipelines_over_http_keep_each_tokens_variables_apart() {
    let mut s = Server::start_with_env(
        &[],
        &[("POLYRUN_TOKENS", "alice:alice-secret-1,bob:bob-secret-22")],
    );
    // A run gets its input and publishes its output; its variables are the token's own.
    s.token = Some("alice-secret-1".into());
    let code = "polyrun.setVariable('who', polyrun.input().name); \
                polyrun.output({ n: polyrun.updateVariable('n', (v) => (v ?? 0) + 1) })";
    for n in [1, 2] {
        let (status, _, v) = s
            .post(
                "/v1/runs",
                json!({ "language": "js", "code": code, "input": { "name": "alice" } }),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        let id = v["id"].as_str().unwrap();
        let (_, done) = s.get(&format!("/v1/runs/{id}?wait_ms=20000")).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["output"], json!({ "n": n }));
        let events = s.events(id, 0).await;
        assert_eq!(events.last().unwrap()["output"], json!({ "n": n }));
    }
    // Bob asks for the same namespace name and sees nothing of Alice's.
    s.token = Some("bob-secret-22".into());
    let pipeline = json!({
        "name": "p",
        "input": 20,
        "steps": [
            { "name": "read", "language": "python", "code": "polyrun.output([polyrun.get_variable('who'), polyrun.input()])" },
            { "name": "add", "language": "lua", "code": "local v = polyrun.input()\npolyrun.output(v.b + 1)",
              "input": { "b": "${steps.read.output.1}" } },
        ],
    });
    let (status, _, v) = s.post("/v1/pipelines", pipeline.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "succeeded", "{v}");
    assert_eq!(v["steps"][0]["output"], json!([null, 20]));
    assert_eq!(v["output"], 21);

    // Streamed: one JSON line per event, `finished` last.
    let r = s
        .req(reqwest::Method::POST, "/v1/pipelines?stream=true")
        .header("content-type", "application/json")
        .body(pipeline.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "step_started",
            "step_finished",
            "step_started",
            "step_finished",
            "finished"
        ]
    );
    assert_eq!(lines[4]["output"], 21);

    // A failing step stops it with its diagnostic; a step with a file, or a bad definition, is
    // refused before anything runs.
    let failing = json!({ "steps": [
        { "language": "ruby", "code": "x = 1\nraise 'no'" },
        { "language": "js", "code": "polyrun.output(1)" },
    ]});
    let (status, _, v) = s.post("/v1/pipelines", failing).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["failed_step"], "step-1");
    assert_eq!(v["steps"][0]["outcome"]["diagnostic"]["line"], 2);
    assert_eq!(v["steps"].as_array().unwrap().len(), 1);
    let (status, _, v) = s
        .post(
            "/v1/pipelines",
            json!({ "steps": [{ "language": "lua", "file": "/etc/passwd" }] }),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("reads no files"),
        "{v}"
    );
    let (status, _, v) = s.post("/v1/pipelines", json!({ "steps": [] })).await;
    assert_eq!(status, 400, "{v}");
    let (status, _, _) = s
        .post(
            "/v1/pipelines",
            json!({ "steps": [{ "language": "cobol", "code": "x" }] }),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_that_never_finish_their_body_get_408_and_are_closed() {
    use std::io::{Read, Write};
    let s = Server::start(&["--body-timeout", "500ms"]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut slow: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(
                b"POST /v1/runs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"language\":",
            )
            .unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            c
        })
        .collect();
    for c in &mut slow {
        let mut answer = Vec::new();
        // The server answers, then closes (end of stream), well before the 20 s wait.
        if let Err(e) = c.read_to_end(&mut answer) {
            assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "still open");
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let (status, _) = s.get("/v1/languages").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_that_never_finish_their_headers_are_closed() {
    use std::io::{Read, Write};
    let s = Server::start(&["--header-timeout", "500ms"]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut slow: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /v1/languages HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            c
        })
        .collect();
    // Each is closed by the server (end of stream or reset), well before the 20 s wait.
    for c in &mut slow {
        let mut buf = [0u8; 256];
        match c.read(&mut buf) {
            Ok(n) => assert!(
                n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "still open"),
        }
    }
    // The server goes on serving.
    let (status, _) = s.get("/v1/languages").await;
    assert_eq!(status, 200);
}
