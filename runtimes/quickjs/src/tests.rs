//! Behaviour of the QuickJS backend, driven directly (no manager): what differs from the other
//! JavaScript backends (limits in process, stack depth, QuickJS's error positions); the
//! conformance cases check the shared contract on every backend.

use super::*;
use polyrun_engine::capture::{self, Captured};
use polyrun_engine::{Limits, RunControl};
use std::time::Duration;

fn req(code: &str) -> RunRequest {
    capture::request(code, "main.js")
}

fn run(code: &str) -> Captured {
    run_in(&mut QuickJsRuntime::new().unwrap(), req(code), "")
}

fn run_in(rt: &mut QuickJsRuntime, request: RunRequest, stdin: &str) -> Captured {
    capture::run(rt, &request, stdin).unwrap()
}

fn limited(code: &str, limits: impl FnOnce(&mut Limits)) -> Captured {
    let mut r = req(code);
    limits(&mut r.limits);
    run_in(&mut QuickJsRuntime::new().unwrap(), r, "")
}

#[test]
fn stack_lines_parse() {
    let frames = parse_stack(
        "    at f (main.js:4:11)\n    at log (native)\n    at call (polyrun-prelude.js:3:9)\n    at <eval> (main.js:6:1)\n",
    );
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0].function.as_deref(), Some("f"));
    assert_eq!((frames[0].line, frames[0].column), (Some(4), Some(11)));
    assert_eq!(frames[1].function, None);
    let bare = parse_stack("    at main.js:2:9\n");
    assert_eq!((bare[0].line, bare[0].column), (Some(2), Some(9)));
}

#[test]
fn console_prints_as_the_other_backends_do() {
    let c = run(
        "console.log('a', 1, {x: [1, 'two', {y: null}]}, [], new Map([['k', 1]]), new Set([2]));\n\
         console.info('%s is %d', 'n', 42, 'extra'); console.debug(undefined, 10n, 1.5);\n\
         console.warn('w'); console.error(new RangeError('r'))",
    );
    assert_eq!(
        c.stdout,
        "a 1 { x: [ 1, 'two', { y: null } ] } [] Map(1) { 'k' => 1 } Set(1) { 2 }\n\
         n is 42 extra\nundefined 10n 1.5\n"
    );
    assert!(
        c.stderr.starts_with("w\nRangeError: r\n    at "),
        "{:?}",
        c.stderr
    );
    assert!(!c.stderr.contains("polyrun-"), "{:?}", c.stderr);
}

#[test]
fn values_stdin_and_promise_jobs() {
    assert_eq!(run("1 + 2").value(), Some("3"));
    assert_eq!(run("[1, 2].map(x => x * 2)").value(), Some("[ 2, 4 ]"));
    assert_eq!(run("'s'").value(), Some("'s'"));
    assert_eq!(run("let x = 1").value(), None);
    let c = run_in(
        &mut QuickJsRuntime::new().unwrap(),
        req(
            "const n = prompt('name? '); console.log('hi ' + n); console.log(readline(), readline())",
        ),
        "Ada\nx\n",
    );
    assert_eq!(c.stdout, "name? hi Ada\nx null\n");
    let c = run(
        "Promise.resolve(2).then(v => console.log('then', v)); (async () => console.log('async'))(); undefined",
    );
    assert_eq!(c.stdout, "async\nthen 2\n");
}

#[test]
fn top_level_await_runs_and_keeps_its_value() {
    let c = run("const v = await Promise.resolve(21);\nconsole.log('got', v);\nv * 2");
    assert_eq!(c.stdout, "got 21\n");
    assert_eq!(c.value(), Some("42"));
    let c = run("await null;\nthrow new TypeError('late')");
    let d = c.error();
    assert_eq!((d.kind.as_str(), d.line), ("TypeError", Some(2)));
}

#[test]
fn an_unhandled_rejection_ends_the_run_with_its_reason() {
    let c = run("Promise.reject(new RangeError('nobody'));\nconsole.log('after')");
    assert_eq!(c.stdout, "after\n");
    let d = c.error();
    assert_eq!(
        (d.kind.as_str(), d.message.as_str()),
        ("RangeError", "nobody")
    );
    let handled = run("Promise.reject(new Error('x')).catch(() => console.log('handled'))");
    assert_eq!(handled.stdout, "handled\n");
    assert!(handled.outcome.is_completed(), "{:?}", handled.outcome);
}

#[test]
fn errors_have_the_users_kind_line_and_column() {
    let d = run("let x = 1;\nlet y = 2;\nnull.foo;\n");
    let d = d.error();
    assert_eq!((d.kind.as_str(), d.line), ("TypeError", Some(3)));

    let c = run("function f() {\n  throw new TypeError('bad');\n}\nf();");
    let d = c.error();
    assert_eq!((d.kind.as_str(), d.message.as_str()), ("TypeError", "bad"));
    assert_eq!(d.line, Some(2));
    let lines: Vec<_> = d
        .frames
        .iter()
        .map(|f| (f.function.clone(), f.line))
        .collect();
    assert_eq!(lines, vec![(Some("f".into()), Some(2)), (None, Some(4))]);

    // QuickJS records no position for a property read on a literal (`null.x`): the frame points
    // at the function's head, and the backend finds the access in its body — at the property's
    // name, as Boa and V8 report it.
    let c = run("function f() {\n  return null.x;\n}\nf();");
    let d = c.error();
    assert_eq!(
        (d.kind.as_str(), d.line, d.column),
        ("TypeError", Some(2), Some(15))
    );
    assert_eq!(d.frames[0].line, Some(2));
    // A read on a variable holding null is reported at the variable; the name follows it.
    let c = run("console.log('ok');\nconst o = null;\nconsole.log(o.field);\n");
    let d = c.error();
    assert_eq!((d.line, d.column), (Some(3), Some(15)));
    assert_eq!(c.stdout, "ok\n");

    let d = run("let a = 1;\n\nundefinedFn();");
    let d = d.error();
    assert_eq!((d.kind.as_str(), d.line), ("ReferenceError", Some(3)));

    let c = run("console.log('before');\nthrow 42");
    assert_eq!(c.error().kind, "Uncaught");
    assert_eq!(c.stdout, "before\n");

    let c = run("let x = 1;\n\nlet = = 3;\n");
    let d = c.error();
    assert_eq!((d.kind.as_str(), d.line), ("SyntaxError", Some(3)));
    assert!(c.stdout.is_empty());
}

#[test]
fn pure_loops_stop_at_the_deadline_and_on_cancel_even_inside_try() {
    for code in [
        "while (true) {}",
        "try { while (true) {} } catch (e) {}",
        "for (;;) { try { for (;;) {} } finally { continue } }",
    ] {
        let c = limited(code, |l| l.wall_time = Some(Duration::from_millis(200)));
        assert_eq!(
            c.outcome,
            Outcome::LimitExceeded {
                limit: LimitKind::Time
            },
            "{code}"
        );
    }
    let control = RunControl::new();
    let stopper = control.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stopper.cancel();
    });
    let mut rt = QuickJsRuntime::new().unwrap();
    let mut r = req("let i = 0; while (true) { i++ }");
    r.limits.wall_time = None;
    let c = capture::run_with(&mut rt, &r, "", control).unwrap();
    t.join().unwrap();
    assert_eq!(c.outcome, Outcome::Cancelled);
    // The instance runs again afterwards.
    assert_eq!(run_in(&mut rt, req("6 * 7"), "").value(), Some("42"));
}

#[test]
fn a_memory_bomb_is_the_memory_limit_even_when_caught() {
    for code in [
        "let a = []; for (;;) a.push('x'.repeat(1e6) + a.length)",
        "let a = []; for (;;) { try { a.push('x'.repeat(1e6) + a.length) } catch (e) {} }",
    ] {
        let c = limited(code, |l| l.memory_bytes = Some(32 << 20));
        assert_eq!(
            c.outcome,
            Outcome::LimitExceeded {
                limit: LimitKind::Memory
            },
            "{code}"
        );
    }
    let mut rt = QuickJsRuntime::new().unwrap();
    let mut r = req("let a = []; for (;;) a.push(new Array(1e5).fill(1))");
    r.limits.memory_bytes = Some(16 << 20);
    run_in(&mut rt, r, "");
    // A session survives the limit: its memory is its own again for the next run.
    assert_eq!(run_in(&mut rt, req("'ok'"), "").value(), Some("'ok'"));
}

#[test]
fn output_limit_cannot_be_caught() {
    let c = limited(
        "while (true) { try { console.log('x'.repeat(100)) } catch (e) {} }",
        |l| l.output_bytes = Some(5000),
    );
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Output
        }
    );
    assert_eq!(c.stdout.len(), 5000);
}

#[test]
fn deep_nesting_and_recursion_are_errors_not_crashes() {
    let c = run("function r() { return r() }\nr(); console.log('after')");
    assert_eq!(c.error().kind, "RangeError");
    assert!(c.stdout.is_empty());
    // QuickJS's stack overflow is catchable, as V8's is: recursing again in the handler makes
    // an exponential tree of calls, which the deadline ends.
    let c = limited(
        "function r() { try { return r() } catch (e) { return r() } }\nr()",
        |l| l.wall_time = Some(Duration::from_millis(300)),
    );
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Time
        }
    );
    for code in [
        "eval('('.repeat(100000) + '1' + ')'.repeat(100000))",
        "JSON.parse('['.repeat(1e6) + ']'.repeat(1e6))",
        "let a = []; for (let i = 0; i < 1e6; i++) a = [a]; String(a)",
        "let p = {}; for (let i = 0; i < 2e5; i++) p = new Proxy(p, {}); p.x",
    ] {
        let c = limited(code, |l| l.wall_time = Some(Duration::from_secs(20)));
        let d = c.error();
        assert!(
            ["RangeError", "InternalError", "SyntaxError"].contains(&d.kind.as_str()),
            "{code}: {d:?}"
        );
    }
    // A thousand calls deep is within the default limit.
    let c = run("function d(n) { return n === 0 ? 0 : 1 + d(n - 1) }\nd(1000)");
    assert_eq!(c.value(), Some("1000"));
}

#[test]
fn sessions_keep_globals_until_reset_and_nothing_of_the_host_is_there() {
    let mut rt = QuickJsRuntime::new().unwrap();
    run_in(
        &mut rt,
        req("var counter = 41; let step = 1; function inc(x) { return x + step }"),
        "",
    );
    assert_eq!(run_in(&mut rt, req("inc(counter)"), "").value(), Some("42"));
    rt.reset().unwrap();
    assert_eq!(
        run_in(&mut rt, req("counter"), "").error().kind,
        "ReferenceError"
    );
    let c = run(
        "[typeof require, typeof process, typeof fetch, typeof std, typeof os, typeof setTimeout, typeof __polyrun_host, typeof polyrunFormat].join(',')",
    );
    assert_eq!(
        c.value(),
        Some("'undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined'")
    );
}
