//! The manager: isolation levels, warm reuse, sessions, cancel, worker death and replacement.

use crate::common::value;
use polyrun::{
    Event, Isolation, LimitKind, Limits, Outcome, RunSpec, RuntimeManager, WorkerCommand,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn manager() -> RuntimeManager {
    RuntimeManager::builder()
        .registry(polyrun::registry())
        .worker_command(WorkerCommand::new(env!("CARGO_BIN_EXE_polyrun")))
        .build()
}

fn limits(timeout_ms: u64) -> Limits {
    Limits {
        wall_time: Some(Duration::from_millis(timeout_ms)),
        ..Limits::default()
    }
}

/// Runs and returns (stdout, events, result).
fn run(m: &RuntimeManager, spec: RunSpec) -> (String, Vec<Event>, polyrun::RunResult) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    let r = m
        .run(spec.on_event(move |e| e2.lock().unwrap().push(e)))
        .unwrap();
    let events = events.lock().unwrap().clone();
    let stdout = events
        .iter()
        .filter_map(|e| match e {
            Event::Stdout { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    (stdout, events, r)
}

#[test]
fn languages_resolve_by_alias_and_extension_and_unknown_lists_available() {
    let m = manager();
    for lang in ["js", "JavaScript", "node", "lua", "lua54"] {
        let (_, _, r) = run(&m, RunSpec::new(lang, "1").isolation(Isolation::InProcess));
        assert!(r.outcome.is_completed(), "{lang}");
    }
    let (_, _, r) = run(&m, RunSpec::code("print('x')").filename("a/b/c.lua"));
    assert_eq!(r.language, "lua");
    let err = m
        .run(RunSpec::new("brainfuck", "+"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unknown language `brainfuck` (available: javascript, lua, python, ruby, php)"
    );
    assert!(
        m.run(RunSpec::code("x")).is_err(),
        "no language and no file name"
    );
}

#[test]
fn auto_isolation_runs_lua_and_quickjs_in_process_and_boa_in_a_worker() {
    let m = manager();
    let (_, _, r) = run(&m, RunSpec::new("lua", "1"));
    assert_eq!(r.isolation, Isolation::InProcess);
    // QuickJS bounds its own time and heap; Boa can do neither.
    let (_, _, r) = run(&m, RunSpec::new("js", "1"));
    assert_eq!(r.isolation, Isolation::InProcess);
    let (_, _, r) = run(&m, RunSpec::new("js", "1").backend("boa"));
    assert_eq!(r.isolation, Isolation::Worker);
    // Without a worker command, Auto stays in process and Worker is refused.
    let local = RuntimeManager::builder()
        .registry(polyrun::registry())
        .build();
    assert_eq!(
        local
            .run(RunSpec::new("js", "1").backend("boa"))
            .unwrap()
            .isolation,
        Isolation::InProcess
    );
    assert!(
        local
            .run(RunSpec::new("js", "1").isolation(Isolation::Worker))
            .is_err()
    );
}

#[test]
fn warm_instances_are_reset_before_reuse() {
    let m = manager();
    for iso in [Isolation::InProcess, Isolation::Worker] {
        for (lang, probe, clean) in [
            ("js", "typeof leaked", "'undefined'"),
            ("lua", "leaked", "nil"),
        ] {
            run(&m, RunSpec::new(lang, "leaked = 1").isolation(iso));
            let (_, _, r) = run(&m, RunSpec::new(lang, probe).isolation(iso));
            assert_eq!(value(&r.outcome), Some(clean.to_string()), "{lang} {iso:?}");
        }
    }
}

#[test]
fn timeouts_hold_and_the_next_run_works_in_both_isolations() {
    let m = manager();
    // JavaScript on QuickJS (the default) stops itself; on Boa it cannot.
    let cases = [
        ("js", "quickjs", "while (true) {}", Isolation::Worker),
        ("js", "quickjs", "while (true) {}", Isolation::InProcess),
        ("js", "boa", "while (true) {}", Isolation::Worker),
        ("js", "boa", "while (true) {}", Isolation::InProcess),
        ("lua", "mlua", "while true do end", Isolation::Worker),
        ("lua", "mlua", "while true do end", Isolation::InProcess),
    ];
    for (lang, backend, code, iso) in cases {
        let start = Instant::now();
        let (_, events, r) = run(
            &m,
            RunSpec::new(lang, code)
                .backend(backend)
                .limits(limits(500))
                .isolation(iso),
        );
        assert_eq!(
            r.outcome,
            Outcome::LimitExceeded {
                limit: LimitKind::Time
            },
            "{lang} {backend} {iso:?}"
        );
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "{lang} {backend} {iso:?}: {:?}",
            start.elapsed()
        );
        // Boa cannot stop itself: the manager abandoned the instance and said so; QuickJS
        // stopped itself, and its instance was kept.
        let abandoned = events
            .iter()
            .any(|e| matches!(e, Event::Log { message, .. } if message.contains("abandoned")));
        assert_eq!(
            abandoned,
            backend == "boa" && iso == Isolation::InProcess,
            "{lang} {backend} {iso:?}"
        );
        let (out, _, r) = run(
            &m,
            RunSpec::new(
                lang,
                if lang == "js" {
                    "console.log('next')"
                } else {
                    "print('next')"
                },
            )
            .backend(backend)
            .isolation(iso),
        );
        assert!(
            r.outcome.is_completed(),
            "{lang} {backend} {iso:?}: {:?}",
            r.outcome
        );
        assert_eq!(out, "next\n");
    }
}

#[test]
fn cancel_stops_runs_in_both_isolations() {
    let m = manager();
    for (lang, code) in [("lua", "while true do end"), ("js", "while (true) {}")] {
        for iso in [Isolation::InProcess, Isolation::Worker] {
            let spec = RunSpec::new(lang, code)
                .limits(Limits {
                    wall_time: None,
                    ..Limits::default()
                })
                .isolation(iso);
            let control = spec.control();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                control.cancel();
            });
            let start = Instant::now();
            let (_, _, r) = run(&m, spec);
            t.join().unwrap();
            assert_eq!(r.outcome, Outcome::Cancelled, "{lang} {iso:?}");
            assert!(start.elapsed() < Duration::from_secs(2));
        }
    }
}

#[test]
fn output_streams_before_the_run_ends() {
    // The first chunk arrives while the guest is still running (it then waits for cancel).
    let m = manager();
    for (lang, code, iso) in [
        (
            "lua",
            "print('early') while true do end",
            Isolation::InProcess,
        ),
        (
            "js",
            "console.log('early'); while (true) {}",
            Isolation::Worker,
        ),
    ] {
        let first_at = Arc::new(Mutex::new(None));
        let f2 = first_at.clone();
        let spec = RunSpec::new(lang, code)
            .limits(limits(1000))
            .isolation(iso)
            .on_event(move |_| {
                f2.lock().unwrap().get_or_insert_with(Instant::now);
            });
        let start = Instant::now();
        let r = m.run(spec).unwrap();
        let ended = Instant::now();
        assert_eq!(
            r.outcome,
            Outcome::LimitExceeded {
                limit: LimitKind::Time
            }
        );
        let first = first_at.lock().unwrap().expect("an event");
        assert!(
            first.duration_since(start) < Duration::from_millis(800),
            "{lang}: first chunk after {:?}",
            first.duration_since(start)
        );
        assert!(ended.duration_since(first) > Duration::from_millis(200));
    }
}

#[test]
fn stdin_reaches_the_guest_through_a_worker() {
    let m = manager();
    for lang in ["js", "lua"] {
        let code = if lang == "js" {
            "console.log(readline() + '!', readline())"
        } else {
            "print(io.read() .. '!', io.read())"
        };
        let (out, _, r) = run(
            &m,
            RunSpec::new(lang, code)
                .isolation(Isolation::Worker)
                .stdin_text("hey\n"),
        );
        assert!(r.outcome.is_completed(), "{:?}", r.outcome);
        let expected = if lang == "js" {
            "hey! null\n"
        } else {
            "hey!\tnil\n"
        };
        assert_eq!(out, expected);
    }
}

#[test]
fn sessions_keep_state_until_reset_in_both_isolations() {
    let m = manager();
    for iso in [Isolation::InProcess, Isolation::Worker] {
        let mut s = m.session("js", Some(iso)).unwrap();
        assert_eq!(s.isolation(), iso);
        s.run(RunSpec::code(
            "var total = 40; function add(n) { total += n; return total }",
        ))
        .unwrap();
        let r = s.run(RunSpec::code("add(2)")).unwrap();
        assert_eq!(value(&r.outcome), Some("42".into()), "{iso:?}");
        s.reset().unwrap();
        let r = s.run(RunSpec::code("typeof total")).unwrap();
        assert_eq!(value(&r.outcome), Some("'undefined'".into()), "{iso:?}");

        let mut s = m.session("lua", Some(iso)).unwrap();
        s.run(RunSpec::code("count = 1")).unwrap();
        let r = s.run(RunSpec::code("count + 1")).unwrap();
        assert_eq!(value(&r.outcome), Some("2".into()));
    }
}

#[test]
fn a_session_that_had_to_be_killed_says_its_state_is_lost_and_keeps_working() {
    let m = manager();
    // Boa cannot stop a loop, so its worker is killed and the session's state is lost (it says
    // so); QuickJS stops itself and keeps the state.
    for (backend, kept, lost) in [("quickjs", "'number'", false), ("boa", "'undefined'", true)] {
        let mut s = m
            .session_on("js", Some(backend), Some(Isolation::Worker))
            .unwrap();
        s.run(RunSpec::code("var kept = 1")).unwrap();
        let r = s
            .run(RunSpec::code("while (true) {}").limits(limits(300)))
            .unwrap();
        assert_eq!(
            r.outcome,
            Outcome::LimitExceeded {
                limit: LimitKind::Time
            },
            "{backend}"
        );
        let events = Arc::new(Mutex::new(Vec::new()));
        let e2 = events.clone();
        let r = s
            .run(RunSpec::code("typeof kept").on_event(move |e| e2.lock().unwrap().push(e)))
            .unwrap();
        assert_eq!(value(&r.outcome), Some(kept.into()), "{backend}");
        let said_lost = events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::Log { message, .. } if message.contains("lost")));
        assert_eq!(said_lost, lost, "{backend}");
    }
}

#[test]
fn killing_the_worker_mid_run_yields_a_crashed_outcome_and_a_fresh_worker() {
    let m = RuntimeManager::builder()
        .registry(polyrun::registry())
        .worker_command(WorkerCommand::new(env!("CARGO_BIN_EXE_polyrun")))
        .idle_workers(1)
        .build();
    // Park one worker, learn its pid, then give it a long run and kill it.
    run(&m, RunSpec::new("js", "1").isolation(Isolation::Worker));
    let pids = m.idle_worker_pids();
    assert_eq!(pids.len(), 1);
    let pid = pids[0];
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: plain kill(2) on the worker we started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let (_, _, r) = run(
        &m,
        RunSpec::new("js", "while (true) {}")
            .limits(limits(10_000))
            .isolation(Isolation::Worker),
    );
    killer.join().unwrap();
    match &r.outcome {
        Outcome::Crashed { reason } => assert!(reason.contains("signal 9"), "{reason}"),
        other => panic!("expected crashed, got {other:?}"),
    }
    let (out, _, r) = run(
        &m,
        RunSpec::new("js", "console.log('alive')").isolation(Isolation::Worker),
    );
    assert!(r.outcome.is_completed());
    assert_eq!(out, "alive\n");
    assert_ne!(m.idle_worker_pids(), vec![pid]);
}

#[test]
fn idempotency_keys_replay_the_recorded_result() {
    let m = manager();
    let code = "console.log(Math.random())";
    let (out1, _, r1) = run(&m, RunSpec::new("js", code).idempotency_key("k-1"));
    let (out2, _, r2) = run(&m, RunSpec::new("js", code).idempotency_key("k-1"));
    assert!(!r1.replayed);
    assert!(r2.replayed);
    assert_eq!(out1, out2, "the replay carries the recorded output");
    let (out3, _, r3) = run(&m, RunSpec::new("js", code).idempotency_key("k-2"));
    assert!(!r3.replayed);
    assert_ne!(out1, out3);
}

#[test]
fn concurrent_runs_share_one_manager() {
    let m = manager();
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let m = m.clone();
            std::thread::spawn(move || {
                let lang = if i % 2 == 0 { "lua" } else { "js" };
                let code = if lang == "lua" {
                    format!("return {i} * 2")
                } else {
                    format!("{i} * 2")
                };
                let r = m.run(RunSpec::new(lang, code)).unwrap();
                (i, value(&r.outcome))
            })
        })
        .collect();
    for h in handles {
        let (i, v) = h.join().unwrap();
        assert_eq!(v, Some((i * 2).to_string()));
    }
}

#[test]
fn backends_are_chosen_per_run_and_session_and_a_missing_one_is_named() {
    let m = manager();
    for iso in [Isolation::InProcess, Isolation::Worker] {
        let (out, _, r) = run(
            &m,
            RunSpec::new("py", "print('hi')")
                .backend("rustpython")
                .isolation(iso),
        );
        assert_eq!((out.as_str(), r.backend.as_str()), ("hi\n", "rustpython"));
        let e = m
            .run(RunSpec::new("py", "1").backend("cpython").isolation(iso))
            .unwrap_err();
        match e {
            polyrun::Error::UnknownBackend {
                language,
                name,
                available,
            } => {
                assert_eq!((language.as_str(), name.as_str()), ("python", "cpython"));
                assert_eq!(available, ["rustpython"]);
            }
            other => panic!("{other:?}"),
        }
    }
    let mut s = m.session_on("lua", Some("mlua"), None).unwrap();
    assert_eq!(s.backend(), "mlua");
    s.run(RunSpec::code("x = 41")).unwrap();
    let r = s.run(RunSpec::code("return x + 1")).unwrap();
    assert_eq!(value(&r.outcome), Some("42".to_string()));
    assert!(m.session_on("lua", Some("luajit"), None).is_err());
    // Every backend is listed, each language's default marked.
    let infos = m.languages();
    assert!(infos.iter().any(|i| i.language == "ruby" && i.default));
}
