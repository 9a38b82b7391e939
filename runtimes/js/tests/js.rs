//! Behaviour of the JavaScript backend, driven directly (no manager).

use polyrun_engine::capture::{self, Captured};
use polyrun_engine::{LimitKind, Outcome, RunControl, RunRequest, Runtime};
use polyrun_js::JsRuntime;
use std::time::Duration;

fn req(code: &str) -> RunRequest {
    capture::request(code, "main.js")
}

fn run(code: &str) -> Captured {
    run_in(&mut JsRuntime::new().unwrap(), req(code), "")
}

fn run_in(rt: &mut JsRuntime, request: RunRequest, stdin: &str) -> Captured {
    capture::run(rt, &request, stdin).unwrap()
}

#[test]
fn console_methods_go_to_the_right_stream_and_print_objects_readably() {
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
        c.stderr
            .starts_with("w\nRangeError: r\n    at <main> (main.js:3:"),
        "{:?}",
        c.stderr
    );
}

#[test]
fn circular_and_deep_objects_do_not_hang() {
    let c = run("let o = {a: {b: {c: {d: 1}}}}; o.self = o; console.log(o)");
    assert_eq!(
        c.stdout,
        "{ a: { b: { c: [Object] } }, self: [Circular] }\n"
    );
}

#[test]
fn prompt_and_readline_read_stdin() {
    let c = run_in(
        &mut JsRuntime::new().unwrap(),
        req(
            "const n = prompt('name? '); console.log('hi ' + n); console.log(readline(), readline())",
        ),
        "Ada\nx\n",
    );
    assert_eq!(c.stdout, "name? hi Ada\nx null\n");
}

#[test]
fn last_expression_value_is_returned() {
    assert_eq!(run("1 + 2").value(), Some("3"));
    assert_eq!(run("[1, 2].map(x => x * 2)").value(), Some("[ 2, 4 ]"));
    assert_eq!(run("'s'").value(), Some("'s'"));
    assert_eq!(run("let x = 1").value(), None);
    assert_eq!(run("console.log(1)").value(), None);
}

#[test]
fn promise_jobs_run_before_the_outcome() {
    let c = run(
        "Promise.resolve(2).then(v => console.log('then', v)); (async () => console.log('async'))(); undefined",
    );
    assert_eq!(c.stdout, "async\nthen 2\n");
}

#[test]
fn runtime_errors_report_the_users_line_and_column() {
    let c = run("let x = 1;\nlet y = 2;\nnull.foo;\n");
    let d = c.error();
    assert_eq!(
        (d.kind.as_str(), d.line, d.column),
        ("TypeError", Some(3), Some(6))
    );

    let c = run("function f() {\n  throw new TypeError('bad');\n}\nf();");
    let d = c.error();
    assert_eq!((d.kind.as_str(), d.message.as_str()), ("TypeError", "bad"));
    assert_eq!((d.line, d.column), (Some(2), Some(9)));
    let lines: Vec<_> = d
        .frames
        .iter()
        .map(|f| (f.function.clone(), f.line))
        .collect();
    assert_eq!(lines, vec![(Some("f".into()), Some(2)), (None, Some(4))]);

    let c = run("let a = 1;\n\nundefinedFn();");
    let d = c.error();
    assert_eq!(
        (d.kind.as_str(), d.line, d.column),
        ("ReferenceError", Some(3), Some(1))
    );

    let d = run("console.log('before');\nthrow 42");
    assert_eq!(d.error().kind, "Uncaught");
    assert_eq!(d.stdout, "before\n");
}

#[test]
fn syntax_errors_report_the_users_line() {
    let c = run("let x = 1;\n\nlet = = 3;\n");
    let d = c.error();
    assert_eq!(
        (d.kind.as_str(), d.line, d.column),
        ("SyntaxError", Some(3), Some(7))
    );
    assert!(c.stdout.is_empty());
}

#[test]
fn guest_try_catch_cannot_swallow_limits() {
    // Output limit inside try/catch in a loop.
    let mut r = req("while (true) { try { console.log('x'.repeat(100)) } catch (e) {} }");
    r.limits.output_bytes = Some(5000);
    let c = run_in(&mut JsRuntime::new().unwrap(), r, "");
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Output
        }
    );
    assert_eq!(c.stdout.len(), 5000);

    // Runaway recursion inside try/catch ends the run.
    let c = run(
        "function r() { try { return r() } catch (e) { return r() } }\nr(); console.log('after')",
    );
    assert_eq!(c.error().kind, "RangeError");
    assert!(c.stdout.is_empty());
}

#[test]
fn deadline_and_cancel_stop_a_guest_that_calls_the_host() {
    let mut r = req("while (true) { try { console.log('.') } catch (e) {} }");
    r.limits.wall_time = Some(Duration::from_millis(200));
    r.limits.output_bytes = None;
    let c = run_in(&mut JsRuntime::new().unwrap(), r, "");
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Time
        }
    );

    let control = RunControl::new();
    control.cancel();
    let c = capture::run_with(
        &mut JsRuntime::new().unwrap(),
        &req("console.log(1)"),
        "",
        control,
    )
    .unwrap();
    assert_eq!(c.outcome, Outcome::Cancelled);
}

#[test]
fn sessions_keep_globals_until_reset() {
    let mut rt = JsRuntime::new().unwrap();
    run_in(
        &mut rt,
        req("var counter = 41; function inc(x) { return x + 1 }"),
        "",
    );
    assert_eq!(run_in(&mut rt, req("inc(counter)"), "").value(), Some("42"));
    rt.reset().unwrap();
    assert_eq!(
        run_in(&mut rt, req("counter"), "").error().kind,
        "ReferenceError"
    );
}

#[test]
fn no_host_access_exists() {
    let c = run(
        "[typeof require, typeof process, typeof fetch, typeof Deno, typeof XMLHttpRequest, typeof setTimeout].join(',')",
    );
    assert_eq!(
        c.value(),
        Some("'undefined,undefined,undefined,undefined,undefined,undefined'")
    );
}
