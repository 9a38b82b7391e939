//! Behaviour of the Ruby backend, driven directly. The first test to run fetches ruby.wasm
//! through polyrun-packaging (cached afterwards) and compiles it (cached too).

use polyrun_engine::capture::{self, Captured};
use polyrun_engine::{Diagnostic, LimitKind, Limits, LoadContext, Outcome, RunRequest, Runtime};
use polyrun_ruby::RubyRuntime;
use std::time::{Duration, Instant};

fn rt() -> RubyRuntime {
    RubyRuntime::new(&LoadContext::default()).expect("ruby loads")
}

fn req(code: &str) -> RunRequest {
    RunRequest {
        code: code.into(),
        filename: Some("hello.rb".into()),
        limits: Limits::default(),
    }
}

fn run_in(rt: &mut RubyRuntime, r: RunRequest, stdin: &str) -> Captured {
    capture::run(rt, &r, stdin).unwrap()
}

fn error_of(c: &Captured) -> &Diagnostic {
    match &c.outcome {
        Outcome::Error { diagnostic } => diagnostic,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn output_values_and_stdin() {
    let mut r = rt();
    let c = run_in(
        &mut r,
        req("puts 'hello'\n$stderr.puts 'warn'\nprint 1, 2\n[1, :a, {b: 2}]"),
        "",
    );
    assert_eq!(c.stdout, "hello\n12");
    assert_eq!(c.stderr, "warn\n");
    assert_eq!(c.value(), Some("[1, :a, {b: 2}]"));
    let c = run_in(
        &mut r,
        req("puts gets.upcase\nputs gets.inspect"),
        "shout\n",
    );
    assert_eq!(c.stdout, "SHOUT\nnil\n");
    let c = run_in(&mut r, req("puts 'x'"), "");
    assert_eq!(c.value(), None);
}

#[test]
fn exceptions_carry_class_message_and_the_users_line() {
    let mut r = rt();
    let c = run_in(&mut r, req("puts 'before'\nraise 'boom'\n"), "");
    let d = error_of(&c);
    assert_eq!(
        (d.kind.as_str(), d.message.as_str(), d.line),
        ("RuntimeError", "boom", Some(2))
    );
    assert_eq!(c.stdout, "before\n");

    let c = run_in(&mut r, req("def f(x)\n  x.nope\nend\n\nf(1)\n"), "");
    let d = error_of(&c);
    assert_eq!(d.kind, "NoMethodError");
    assert_eq!(d.line, Some(2));
    let lines: Vec<_> = d.frames.iter().filter_map(|f| f.line).collect();
    assert_eq!(lines, vec![2, 5]);

    let c = run_in(&mut r, req("x = 1\ny = 2\nz = (\n"), "");
    let d = error_of(&c);
    assert_eq!(d.kind, "SyntaxError");
    assert!(d.line.is_some_and(|l| l >= 3), "{d:?}");
}

/// Runs `code` with a `deadline_ms` time limit: it must end with the time limit within 1.5 s.
fn times_out(r: &mut RubyRuntime, code: &str, deadline_ms: u64) -> Captured {
    let mut q = req(code);
    q.limits.wall_time = Some(Duration::from_millis(deadline_ms));
    let start = Instant::now();
    let c = run_in(r, q, "");
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Time
        },
        "{code}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{code}: {:?}",
        start.elapsed()
    );
    c
}

#[test]
fn infinite_loop_hits_the_deadline_and_the_next_run_works() {
    let mut r = rt();
    times_out(&mut r, "loop {}", 500);
    // `rescue Exception` cannot catch a trap.
    let c = times_out(
        &mut r,
        "begin\n  loop {}\nrescue Exception\n  puts 'caught'\nend",
        300,
    );
    assert_eq!(c.stdout, "");
    // A sleep is interrupted too (the host waits in slices that check the deadline).
    times_out(&mut r, "sleep 30", 300);
    let c = run_in(&mut r, req("puts 1 + 1"), "");
    assert_eq!(c.stdout, "2\n");
}

#[test]
fn memory_and_output_limits_trap() {
    let mut r = rt();
    let mut q = req("a = []\nloop { a << ('x' * 1_000_000) }");
    q.limits.memory_bytes = Some(256 << 20);
    let c = run_in(&mut r, q, "");
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Memory
        }
    );
    let mut q = req("loop { begin; puts 'flood'; rescue Exception; end }");
    q.limits.output_bytes = Some(1000);
    let c = run_in(&mut r, q, "");
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Output
        }
    );
    assert_eq!(c.stdout.len(), 1000);
    assert_eq!(run_in(&mut r, req("6 * 7"), "").value(), Some("42"));
}

#[test]
fn the_host_is_invisible() {
    let mut r = rt();
    let marker = std::env::temp_dir().join(format!("polyrun-ruby-door-{}", std::process::id()));
    let m = marker.display().to_string();
    let code = r##"
def try
  r = yield
  r.inspect
rescue Exception => e
  "#{e.class}"
end
puts "read=" + try { File.read("/etc/passwd") }
puts "dir=" + try { Dir.entries("/").sort }
puts "cwd_files=" + try { Dir.entries(".").sort }
puts "tick=" + try { `touch MARKER` }
puts "system=" + try { system("touch MARKER") }
puts "spawn=" + try { Process.spawn("touch MARKER") }
puts "write=" + try { File.write("MARKER", "x") }
puts "env=" + try { ENV.to_h }
puts "home=" + try { File.exist?(ENV["HOME"].to_s + "/.bashrc") }
"##
    .replace("MARKER", &m);
    let c = run_in(&mut r, req(&code), "");
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    let out = c.stdout;
    assert!(out.contains("read=Errno::"), "{out}");
    assert!(!out.contains("root:"), "{out}");
    for host_dir in [
        "\"etc\"", "\"proc\"", "\"home\"", "\"root\"", "\"tmp\"", "\"work\"",
    ] {
        assert!(!out.contains(host_dir), "{host_dir} visible: {out}");
    }
    // ruby.wasm's process functions report odd results (`system` says true), but WASI has no
    // way to start a process or reach an unopened directory: nothing happened on the host.
    assert!(out.contains("write=Errno::"), "{out}");
    assert!(!marker.exists(), "a guest touched the host: {out}");
    assert!(out.contains("env={}"), "{out}");
    assert!(out.contains("home=false"), "{out}");
}

#[test]
fn sessions_keep_state_and_reset_starts_clean() {
    let mut r = rt();
    run_in(&mut r, req("def greet(n) = \"hi #{n}\"\ncount = 41"), "");
    assert_eq!(
        run_in(&mut r, req("greet(count + 1)"), "").value(),
        Some("\"hi 42\"")
    );
    r.reset().unwrap();
    let c = run_in(
        &mut r,
        req("defined?(count).inspect + ' ' + respond_to?(:greet, true).to_s"),
        "",
    );
    assert_eq!(c.value(), Some("\"nil false\""));
}

/// Natively every VM starts from one snapshot of a booted VM: each still draws its own random
/// numbers (seeded at its first run), and a session's seed stays its own.
#[test]
fn every_vm_draws_its_own_random_numbers() {
    let mut r = rt();
    let draw = "[rand(1 << 62), Random.rand(1 << 62), Random.new.rand(1 << 62)].inspect";
    let mut seen = Vec::new();
    for _ in 0..3 {
        let c = run_in(&mut r, req(draw), "");
        seen.push(c.value().expect("a value").to_string());
        r.reset().unwrap();
    }
    assert_ne!(seen[0], seen[1]);
    assert_ne!(seen[1], seen[2]);
    assert_ne!(seen[0], seen[2]);
    // srand in one run of a session fixes what its next runs draw.
    run_in(&mut r, req("srand(42)"), "");
    let a = run_in(&mut r, req("rand(1000)"), "")
        .value()
        .map(str::to_string);
    r.reset().unwrap();
    run_in(&mut r, req("srand(42)"), "");
    let b = run_in(&mut r, req("rand(1000)"), "")
        .value()
        .map(str::to_string);
    assert_eq!(a, b);
}
