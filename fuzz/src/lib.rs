//! # polyrun-fuzz
//!
//! polyrun's fuzz targets, each a plain function over bytes that panics when it finds a bug:
//!
//! | target            | what gets the bytes                                                   |
//! |-------------------|-----------------------------------------------------------------------|
//! | `worker_protocol` | `polyrun worker`'s command loop (JSON lines in; every line out must be a protocol message) |
//! | `server_request`  | one HTTP/1.1 connection to the server (no response may be a 500)      |
//! | `helper_calls`    | the helper-call answerer, and the WASI stderr framing however its writes are cut |
//! | `lua_source`, `python_source`, `js_source` | an in-process backend, with generated source: no panic, no host error, no crash |
//!
//! A source target's first byte chooses raw source (the rest of the bytes as text) or a
//! program generated from the bytes by a small per-language grammar ([`generate`]), so the
//! fuzzer reaches the interpreter and its library, not only the parser.
//!
//! libFuzzer drives them in `fuzz/libfuzzer` (`scripts/fuzz run`, nightly); the test suite
//! replays the corpus in `fuzz/corpus/<target>/` and a bounded, seeded run of [`mutate`] on
//! stable (tests/all/fuzz.rs).

mod grammar;

pub use grammar::{Grammar, JS, LUA, PYTHON, generate};

use polyrun_engine::testkit;
use polyrun_engine::{
    Limits, Outcome, Pool, Registry, RunControl, RunIo, RunRequest, RuntimeDescriptor, VecStdin,
};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

/// A fuzz target: its name (the corpus directory and the libFuzzer binary) and its function.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// `worker_protocol`, …
    pub name: &'static str,
    /// Runs one input; panics on a finding.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "worker_protocol",
        run: worker_protocol,
    },
    Target {
        name: "server_request",
        run: server_request,
    },
    Target {
        name: "helper_calls",
        run: helper_calls,
    },
    Target {
        name: "lua_source",
        run: lua_source,
    },
    Target {
        name: "python_source",
        run: python_source,
    },
    Target {
        name: "js_source",
        run: js_source,
    },
];

/// Script commands of the testkit backend that model a backend that cannot stop (`sleep`),
/// waits on a stdin nobody feeds or a time limit (`read`, `spin`), a host failing by design
/// (`fail`) or a backend panicking by design (`panic`: caught and reported `crashed`, but
/// libFuzzer aborts on every panic): inputs holding them are skipped.
const SLOW_SCRIPT: &[&[u8]] = &[b"sleep", b"spin", b"read", b"fail", b"panic"];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn script_registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(testkit::DESCRIPTOR);
    registry.register(testkit::SECOND);
    registry
}

/// A `Write` that keeps what was written, shared with its clones.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `polyrun worker`'s loop over `data` as its stdin (the testkit backend registered): it must
/// end without an error, and every line it writes must read back as a protocol message.
pub fn worker_protocol(data: &[u8]) {
    if SLOW_SCRIPT.iter().any(|w| contains(data, w)) {
        return;
    }
    let out = Shared::default();
    polyrun_manager::worker_server::serve(
        script_registry(),
        std::io::Cursor::new(data.to_vec()),
        out.clone(),
    )
    .expect("the worker loop ends without an error");
    let written = std::mem::take(&mut *out.0.lock().unwrap_or_else(|p| p.into_inner()));
    for line in written.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Err(e) = serde_json::from_slice::<polyrun_manager::protocol::Message>(line) {
            panic!(
                "the worker wrote a line that is not a message ({e}): {}",
                String::from_utf8_lossy(line)
            );
        }
    }
}

fn exchange() -> &'static polyrun_server::fuzzing::Exchange {
    static EXCHANGE: OnceLock<polyrun_server::fuzzing::Exchange> = OnceLock::new();
    EXCHANGE.get_or_init(|| {
        let manager = polyrun_manager::RuntimeManager::builder()
            .registry(script_registry())
            .isolation(polyrun_manager::Isolation::InProcess)
            .build();
        let config = polyrun_server::Config {
            max_limits: Limits {
                wall_time: Some(Duration::from_secs(1)),
                memory_bytes: Some(64 << 20),
                output_bytes: Some(64 << 10),
                recursion_depth: Some(200),
            },
            retain_runs: 64,
            event_log: 256,
            header_read_timeout: Duration::from_secs(1),
            ..polyrun_server::Config::default()
        };
        polyrun_server::fuzzing::Exchange::new(manager, config).expect("a tokio runtime")
    })
}

/// The HTTP status of the first response in `answer`, if it starts with one.
pub fn status_of(answer: &[u8]) -> Option<u16> {
    let rest = answer.strip_prefix(b"HTTP/1.1 ")?;
    std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
}

/// `data` as one client connection to the server (testkit backend, loopback, no tokens): it
/// must not answer 500 (an unhandled error or a panic in a handler).
pub fn server_request(data: &[u8]) {
    if SLOW_SCRIPT.iter().any(|w| contains(data, w)) {
        return;
    }
    let answer = exchange().send(data);
    if let Some(status) = status_of(&answer) {
        assert!(
            status != 500,
            "the server answered 500: {}",
            String::from_utf8_lossy(&answer[..answer.len().min(2000)])
        );
    }
}

fn helpers() -> polyrun_engine::helpers::Helpers {
    polyrun_engine::helpers::Helpers::new(Arc::new(polyrun_engine::helpers::MemoryStore::new()))
}

/// The helper-call answerer given `data` as a request: its reply is always `{"ok":…}` or
/// `{"error":…}`. Then the WASI stderr framing: `data` written whole and written in pieces (cut
/// where its first bytes say) passes the same bytes through and answers the same calls.
pub fn helper_calls(data: &[u8]) {
    let h = helpers();
    let reply = polyrun_engine::helpers::answer_json(Some(&h), &String::from_utf8_lossy(data));
    let value: serde_json::Value = serde_json::from_str(&reply).expect("a helper reply is JSON");
    let object = value.as_object().expect("a helper reply is an object");
    assert!(
        object.len() == 1 && (object.contains_key("ok") || object.contains_key("error")),
        "a helper reply is {{\"ok\"}} or {{\"error\"}}: {reply}"
    );

    let cuts: Vec<usize> = data
        .iter()
        .take(8)
        .scan(0usize, |at, &b| {
            *at += b as usize % 17 + 1;
            Some(*at)
        })
        .collect();
    let answer = |h: polyrun_engine::helpers::Helpers| {
        move |request: &str| polyrun_engine::helpers::answer_json(Some(&h), request)
    };
    let whole = polyrun_wasi::fuzzing::frame(data, &[], answer(helpers()));
    let cut = polyrun_wasi::fuzzing::frame(data, &cuts, answer(helpers()));
    assert_eq!(whole, cut, "the framing depends on how the writes were cut");
    let calls = whole.replies.iter().filter(|&&b| b == b'\n').count();
    let markers = data
        .windows(polyrun_wasi::CALL_MARKER.len())
        .filter(|w| *w == polyrun_wasi::CALL_MARKER)
        .count();
    assert!(
        calls <= markers,
        "{calls} replies for {markers} call markers"
    );
}

/// The limits of a source target's runs: short, small, shallow.
fn fuzz_limits() -> Limits {
    Limits {
        wall_time: Some(Duration::from_millis(500)),
        memory_bytes: Some(64 << 20),
        output_bytes: Some(16 << 10),
        recursion_depth: Some(200),
    }
}

type Job = (
    RuntimeDescriptor,
    String,
    mpsc::Sender<Result<Outcome, polyrun_engine::Error>>,
);

/// Runs `code` on `desc` in this process, on one long-lived thread with a worker's stack (its
/// pool keeps one warm instance per backend, reset between runs as in a worker).
fn run_in_process(desc: RuntimeDescriptor, code: String) -> Result<Outcome, polyrun_engine::Error> {
    static JOBS: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("polyrun-fuzz-exec".into())
            .stack_size(256 << 20)
            .spawn(move || {
                let mut registry = Registry::new();
                polyrun_lua::register(&mut registry);
                polyrun_python::register(&mut registry);
                polyrun_quickjs::register(&mut registry);
                let mut pool = Pool::new(registry);
                for (desc, code, reply) in rx {
                    let mut request = RunRequest::new(code);
                    request.limits = fuzz_limits();
                    let io = RunIo::new(
                        |_| {},
                        Box::new(VecStdin::new("1\nline\n")),
                        RunControl::new(),
                        request.limits.output_bytes,
                    );
                    let _ = reply.send(pool.run(&desc, None, &request, &io));
                    pool.reset_pending();
                }
            })
            .expect("spawn the fuzz exec thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    jobs.lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((desc, code, tx))
        .expect("the fuzz exec thread is alive");
    rx.recv().expect("the fuzz exec thread answers")
}

/// Runs a source target's input: the outcome may be anything a guest can cause (an error, a
/// limit) but not a crash (a backend panic) or a host error.
fn source_target(desc: RuntimeDescriptor, grammar: &Grammar, data: &[u8]) {
    let code = match data.split_first() {
        None => return,
        Some((mode, rest)) if mode % 4 == 0 => String::from_utf8_lossy(rest).into_owned(),
        Some((_, rest)) => generate(grammar, rest),
    };
    if grammar.skip.iter().any(|w| code.contains(w)) {
        return;
    }
    match run_in_process(desc, code.clone()) {
        Ok(Outcome::Crashed { reason }) => {
            panic!("{} crashed: {reason}\n--- source ---\n{code}", desc.label())
        }
        Err(e) => panic!(
            "{} failed as a host: {e}\n--- source ---\n{code}",
            desc.label()
        ),
        Ok(_) => {}
    }
}

/// Lua (mlua) in process with generated source.
pub fn lua_source(data: &[u8]) {
    source_target(polyrun_lua::DESCRIPTOR, &LUA, data);
}

/// Python (RustPython) in process with generated source.
pub fn python_source(data: &[u8]) {
    source_target(polyrun_python::DESCRIPTOR, &PYTHON, data);
}

/// JavaScript (QuickJS, the native default) in process with generated source.
pub fn js_source(data: &[u8]) {
    source_target(polyrun_quickjs::DESCRIPTOR, &JS, data);
}

/// A seeded mutation of `seed` (bytes flipped, inserted, deleted, repeated, or spliced from
/// [`INTERESTING`]): the stable replay's stand-in for libFuzzer, deterministic per `state`.
pub fn mutate(seed: &[u8], state: &mut u64) -> Vec<u8> {
    let mut next = || {
        // xorshift64*
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut data = seed.to_vec();
    for _ in 0..=(next() % 4) {
        let at = if data.is_empty() {
            0
        } else {
            (next() % data.len() as u64) as usize
        };
        match next() % 6 {
            0 if !data.is_empty() => data[at] ^= 1 << (next() % 8),
            1 => data.insert(at, next() as u8),
            2 if !data.is_empty() => {
                let end = (at + 1 + (next() % 8) as usize).min(data.len());
                data.drain(at..end);
            }
            3 if !data.is_empty() => {
                let end = (at + 1 + (next() % 16) as usize).min(data.len());
                let piece = data[at..end].to_vec();
                let times = 1 + (next() % 8) as usize;
                for _ in 0..times {
                    data.splice(at..at, piece.iter().copied());
                }
            }
            4 => {
                let word = INTERESTING[(next() % INTERESTING.len() as u64) as usize];
                data.splice(at..at, word.iter().copied());
            }
            _ => {
                let len = (next() % 64) as usize;
                let random: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                data.splice(at..at, random);
            }
        }
    }
    data
}

/// Byte strings the mutator splices in: delimiters, escapes, boundaries, protocol words.
pub const INTERESTING: &[&[u8]] = &[
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"'",
    b"\\",
    b"\n",
    b"\r\n",
    b"\0",
    b"\xff",
    b"\xc3",
    b"-1",
    b"0",
    b"4294967296",
    b"9223372036854775807",
    b"1e309",
    b"null",
    b"true",
    b"{\"op\":\"set_variable\"",
    b"\"id\":",
    b"\"type\":\"run\"",
    b"\x02polyrun-call:",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"\r\n\r\n",
    b"GET / HTTP/1.1\r\n",
];
