//! Behaviour of the Python backend, driven directly (no manager).

use polyrun_engine::capture::{self, Captured};
use polyrun_engine::{Event, LimitKind, Limits, Outcome, RunControl, RunRequest};
use polyrun_python::PythonRuntime;
use std::time::{Duration, Instant};

/// Runs `f` on a thread with a stack as large as the manager gives its instances.
fn big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn req(code: &str) -> RunRequest {
    RunRequest {
        code: code.into(),
        filename: Some("main.py".into()),
        limits: Limits {
            wall_time: Some(Duration::from_secs(20)),
            ..Limits::default()
        },
    }
}

fn run_in(rt: &mut PythonRuntime, request: RunRequest, stdin: &str) -> Captured {
    capture::run(rt, &request, stdin).unwrap()
}

fn run_with_stdin(code: &str, stdin: &str) -> Captured {
    let (code, stdin) = (code.to_string(), stdin.to_string());
    big_stack(move || run_in(&mut PythonRuntime::new().unwrap(), req(&code), &stdin))
}

fn run(code: &str) -> Captured {
    run_with_stdin(code, "")
}

fn diagnostic(c: &Captured) -> &polyrun_engine::Diagnostic {
    match &c.outcome {
        Outcome::Error { diagnostic } => diagnostic,
        other => panic!("expected an error, got {other:?} (stdout {:?})", c.stdout),
    }
}

fn timed(code: &str, limit: Duration) -> (Captured, Duration) {
    let code = code.to_string();
    big_stack(move || {
        let mut r = req(&code);
        r.limits.wall_time = Some(limit);
        let t = Instant::now();
        let c = run_in(&mut PythonRuntime::new().unwrap(), r, "");
        (c, t.elapsed())
    })
}

#[test]
fn print_and_streams_are_captured_in_order() {
    let c = run(r#"
import sys
print("a", 1, 2.5, None, True, [1, "x"])
print("b", "c", sep="-", end="!\n")
sys.stdout.write("d\n")
sys.stderr.write("e\n")
print("f", file=sys.stderr)
sys.stdout.buffer.write("é\n".encode())
"#);
    assert_eq!(c.stdout, "a 1 2.5 None True [1, 'x']\nb-c!\nd\né\n");
    assert_eq!(c.stderr, "e\nf\n");
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    let kinds: Vec<&str> = c
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Stdout { .. } => Some("out"),
            Event::Stderr { .. } => Some("err"),
            _ => None,
        })
        .collect();
    let first_err = kinds.iter().position(|k| *k == "err").unwrap();
    assert!(kinds[..first_err].iter().all(|k| *k == "out"));
    assert_eq!(
        c.events.first(),
        Some(&Event::Stdout {
            text: "a 1 2.5 None True [1, 'x']\n".into()
        }),
        "one print is one event"
    );

    let c = run(
        "import io, contextlib\nb = io.StringIO()\nprint('x', 2, file=b)\nwith contextlib.redirect_stdout(b):\n    print('y')\nprint(repr(b.getvalue()), sep=None, end=None)",
    );
    assert_eq!(c.stdout, "'x 2\\ny\\n'\n");
}

#[test]
fn input_reads_stdin_and_writes_the_prompt_to_stdout() {
    let c = run_with_stdin(
        "name = input('Name? ')\nprint(name.upper())\nimport sys\nprint(sys.stdin.readline(), end='')\nprint(list(sys.stdin))",
        "ada\nline two\nthree\nfour\n",
    );
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    assert_eq!(c.stdout, "Name? ADA\nline two\n['three\\n', 'four\\n']\n");

    let c = run("x = input()\n");
    let d = diagnostic(&c);
    assert_eq!(d.kind, "EOFError");
    assert_eq!(d.line, Some(1));
}

#[test]
fn the_last_expression_is_the_value() {
    assert_eq!(run("x = 20\nx * 2 + 2").value(), Some("42"));
    assert_eq!(run("'a' + 'b'").value(), Some("'ab'"));
    assert_eq!(run("x = 1").value(), None);
    assert_eq!(run("print('hi')").value(), None);
    assert_eq!(run("None").value(), None);
}

#[test]
fn jupyter_repr_methods_become_mime_types() {
    let c = run(r#"
class Table:
    def __repr__(self): return "Table()"
    def _repr_html_(self): return "<table><tr><td>1</td></tr></table>"
    def _repr_json_(self): return {"rows": [1, 2]}
    def _repr_svg_(self): return None
Table()
"#);
    let Outcome::Completed {
        value: Some(bundle),
    } = &c.outcome
    else {
        panic!("{:?}", c.outcome)
    };
    assert_eq!(bundle.plain(), Some("Table()"));
    assert_eq!(
        bundle.get("text/html"),
        Some("<table><tr><td>1</td></tr></table>")
    );
    assert_eq!(bundle.get("application/json"), Some(r#"{"rows": [1, 2]}"#));
    assert_eq!(bundle.get("image/svg+xml"), None);

    // The class itself is shown as a class, not asked for its HTML.
    let c = run("class C:\n    def _repr_html_(self): return '<b>'\nC");
    let Outcome::Completed {
        value: Some(bundle),
    } = &c.outcome
    else {
        panic!("{:?}", c.outcome)
    };
    assert_eq!(bundle.plain(), Some("<class '__main__.C'>"));
    assert_eq!(bundle.get("text/html"), None);
}

#[test]
fn display_emits_rich_values_in_order_and_png_travels_as_base64() {
    let c = run(r#"
class Img:
    def __repr__(self): return "<Img>"
    def _repr_png_(self): return bytes([137, 80, 78, 71])
print("before")
display(Img(), "text")
import polyrun
polyrun.display(1)
print("after")
Img()
"#);
    let shown: Vec<String> = c
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Stdout { text } => Some(format!("out {text}")),
            Event::Display { bundle } => Some(format!(
                "display {} {}",
                bundle.plain().unwrap_or(""),
                bundle.get("image/png").unwrap_or("-")
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        shown,
        [
            "out before\n",
            "display <Img> iVBORw==",
            "display 'text' -",
            "display 1 -",
            "out after\n"
        ]
    );
    let Outcome::Completed {
        value: Some(bundle),
    } = &c.outcome
    else {
        panic!("{:?}", c.outcome)
    };
    assert_eq!(bundle.get("image/png"), Some("iVBORw=="));
}

#[test]
fn exceptions_carry_the_users_lines_and_frames() {
    let c = run("x = 1\ny = 0\nprint(x / y)\n");
    let d = diagnostic(&c);
    assert_eq!(d.kind, "ZeroDivisionError");
    assert_eq!(d.message, "division by zero");
    assert_eq!(d.line, Some(3));

    let c = run(
        "def inner(v):\n    return v['missing']\n\ndef outer():\n    return inner({})\n\nouter()\n",
    );
    let d = diagnostic(&c);
    assert_eq!(d.kind, "KeyError");
    assert_eq!(d.message, "'missing'");
    assert_eq!(d.line, Some(2));
    let frames: Vec<(Option<&str>, Option<u32>)> = d
        .frames
        .iter()
        .map(|f| (f.function.as_deref(), f.line))
        .collect();
    assert_eq!(
        frames,
        vec![
            (Some("inner"), Some(2)),
            (Some("outer"), Some(5)),
            (Some("<module>"), Some(7))
        ]
    );
}

#[test]
fn errors_raised_inside_the_standard_library_point_at_the_users_line() {
    let c = run("import json\n\njson.loads('{')\n");
    let d = diagnostic(&c);
    assert_eq!(d.kind, "json.decoder.JSONDecodeError");
    assert_eq!(d.line, Some(3));
    assert!(d.frames.iter().all(|f| f.line == Some(3)), "{:?}", d.frames);
}

#[test]
fn syntax_errors_report_their_line() {
    let c = run("x = 1\nif x\n    print(x)\n");
    let d = diagnostic(&c);
    assert_eq!(d.kind, "SyntaxError");
    assert_eq!(d.line, Some(2));
    assert!(c.stdout.is_empty());

    let c = run("print('ok')\n\n  print('indented')\n");
    let d = diagnostic(&c);
    assert!(d.kind.ends_with("Error"), "{}", d.kind);
    assert_eq!(d.line, Some(3));
    assert!(
        c.stdout.is_empty(),
        "nothing runs when the code does not compile"
    );
}

#[test]
fn system_exit_maps_to_the_outcome() {
    assert!(
        run("import sys\nprint('a')\nsys.exit(0)\nprint('b')")
            .outcome
            .is_completed()
    );
    let c = run("import sys\nsys.exit(3)");
    let d = diagnostic(&c);
    assert_eq!(
        (d.kind.as_str(), d.message.as_str()),
        ("SystemExit", "exit status 3")
    );
    let c = run("print('a')\nquit(4)");
    assert_eq!(diagnostic(&c).message, "exit status 4");
    assert!(run("exit()").outcome.is_completed());
    let c = run("raise SystemExit('bye')");
    assert_eq!(diagnostic(&c).message, "bye");
    assert_eq!(c.stderr, "bye\n");
}

#[test]
fn a_busy_loop_stops_at_the_deadline() {
    let (c, took) = timed("while True:\n    pass\n", Duration::from_millis(300));
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Time
        }
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn except_base_exception_cannot_swallow_a_limit() {
    for code in [
        "try:\n    while True: pass\nexcept BaseException:\n    pass\nprint('escaped')\nwhile True: pass\n",
        "while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass\n",
        "while True:\n    try:\n        while True: pass\n    finally:\n        while True: pass\n",
        "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        print('caught')\n",
    ] {
        let (c, took) = timed(code, Duration::from_millis(300));
        assert_eq!(
            c.outcome,
            Outcome::LimitExceeded {
                limit: LimitKind::Time
            },
            "{code}"
        );
        assert!(took < Duration::from_secs(2), "{code}: {took:?}");
        assert!(!c.stdout.contains("escaped"), "{code}");
    }
}

#[test]
fn cancel_from_another_thread_stops_the_run() {
    let c = big_stack(|| {
        let control = RunControl::new();
        let remote = control.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            remote.cancel();
        });
        let mut rt = PythonRuntime::new().unwrap();
        let c = capture::run_with(
            &mut rt,
            &req("n = 0\nwhile True:\n    n += 1\n"),
            "",
            control,
        )
        .unwrap();
        canceller.join().unwrap();
        // The instance is still usable afterwards, and old signals do not leak into new runs.
        let after = run_in(&mut rt, req("print(sum(range(100000)))"), "");
        (c, after)
    });
    assert_eq!(c.0.outcome, Outcome::Cancelled);
    assert!(c.1.outcome.is_completed(), "{:?}", c.1.outcome);
    assert_eq!(c.1.stdout, "4999950000\n");
}

#[test]
fn one_interpreter_stopping_does_not_disturb_another() {
    // Two interpreters in one process share RustPython's signal flag; the ticker re-sends.
    let busy = std::thread::spawn(|| {
        big_stack(|| {
            let mut rt = PythonRuntime::new().unwrap();
            let t = Instant::now();
            let c = run_in(
                &mut rt,
                req("t = 0\nfor i in range(3_000_000):\n    t += i % 7\nprint(t)"),
                "",
            );
            (c, t.elapsed())
        })
    });
    for _ in 0..3 {
        let (c, took) = timed("while True: pass", Duration::from_millis(150));
        assert!(matches!(c.outcome, Outcome::LimitExceeded { .. }));
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    let (c, _) = busy.join().unwrap();
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    let expected: u64 = (0..3_000_000u64).map(|i| i % 7).sum();
    assert_eq!(c.stdout, format!("{expected}\n"));
}

#[test]
fn deep_recursion_is_a_recursion_error_and_the_host_survives() {
    let c = run("def f(n):\n    return f(n + 1)\n\nf(0)\n");
    let d = diagnostic(&c);
    assert_eq!(d.kind, "RecursionError");
    assert_eq!(d.line, Some(2));
    assert!(
        d.frames
            .iter()
            .any(|f| f.function.as_deref().unwrap_or("").contains("repeated")),
        "repeated frames are folded: {} frames",
        d.frames.len()
    );
    assert!(d.frames.len() < 20);

    // Raising the limit does not let the guest overflow the host's stack.
    let c = run("import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)\n");
    assert_eq!(diagnostic(&c).kind, "RecursionError");
}

#[test]
fn the_recursion_limit_follows_the_request() {
    let c = big_stack(|| {
        let mut r =
            req("def depth(n):\n    return depth(n + 1) if n < 150 else n\nprint(depth(1))");
        r.limits.recursion_depth = Some(100);
        let a = run_in(&mut PythonRuntime::new().unwrap(), r.clone(), "");
        r.limits.recursion_depth = Some(200);
        let b = run_in(&mut PythonRuntime::new().unwrap(), r, "");
        (a, b)
    });
    assert_eq!(diagnostic(&c.0).kind, "RecursionError");
    assert_eq!(c.1.stdout, "150\n");
}

#[test]
fn the_output_limit_stops_a_flood() {
    let c = big_stack(|| {
        let mut r = req("while True:\n    print('x' * 10)\n");
        r.limits.output_bytes = Some(1000);
        run_in(&mut PythonRuntime::new().unwrap(), r, "")
    });
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Output
        }
    );
    assert_eq!(c.stdout.len(), 1000);
}

#[test]
fn sessions_keep_globals_and_reset_gives_a_clean_interpreter() {
    let (a, b, after_reset, math) = big_stack(|| {
        use polyrun_engine::Runtime;
        let mut rt = PythonRuntime::new().unwrap();
        let a = run_in(
            &mut rt,
            req(
                "import math\nmath.pi = 3\ncounter = 41\ndef bump():\n    global counter\n    counter += 1\n    return counter",
            ),
            "",
        );
        let b = run_in(&mut rt, req("bump()"), "");
        rt.reset().unwrap();
        let after = run_in(&mut rt, req("counter"), "");
        let math = run_in(&mut rt, req("import math\nmath.pi > 3.14"), "");
        (a, b, after, math)
    });
    assert!(a.outcome.is_completed(), "{:?}", a.outcome);
    assert_eq!(b.value(), Some("42"));
    assert_eq!(diagnostic(&after_reset).kind, "NameError");
    assert_eq!(math.value(), Some("True"));
}

/// Every door the issue lists, each expected to stay shut.
#[test]
fn the_sandbox_keeps_every_door_shut() {
    let c = run(r#"
import os, sys
def attempt(label, f):
    try:
        r = f()
    except (OSError, ImportError, AttributeError) as e:
        print(label, "closed", type(e).__name__)
    else:
        print(label, "OPEN", repr(r)[:60])

attempt("open", lambda: open("/etc/passwd").read())
attempt("io.open", lambda: __import__("io").open("/etc/passwd"))
attempt("FileIO", lambda: __import__("io").FileIO("/etc/passwd"))
attempt("pathlib", lambda: __import__("pathlib").Path("/etc/passwd").read_text())
attempt("listdir", lambda: os.listdir("/"))
attempt("scandir", lambda: list(os.scandir("/")))
attempt("walk", lambda: list(os.walk("/")))
attempt("stat", lambda: os.stat("/etc/passwd"))
attempt("system", lambda: os.system("echo pwned"))
attempt("popen", lambda: os.popen("echo pwned").read())
attempt("fork", lambda: os.fork())
attempt("execv", lambda: os.execv("/bin/sh", ["sh"]))
attempt("kill", lambda: os.kill(1, 9))
attempt("subprocess", lambda: __import__("subprocess").run(["echo", "pwned"]))
attempt("socket", lambda: __import__("socket").socket())
attempt("_socket", lambda: __import__("_socket"))
attempt("ctypes", lambda: __import__("ctypes").CDLL(None))
attempt("_ctypes", lambda: __import__("_ctypes"))
attempt("posix", lambda: __import__("posix").listdir("/"))
attempt("import_module", lambda: __import__("importlib").import_module("subprocess"))
attempt("SourceFileLoader", lambda: __import__("importlib.machinery").machinery.SourceFileLoader("m", "/etc/passwd").load_module())
attempt("signal.alarm", lambda: __import__("signal").alarm(1))
attempt("putenv", lambda: os.putenv("X", "1"))
print("environ", dict(os.environ), os.getenv("HOME"), os.getenv("PATH"))
print("cwd", os.getcwd(), "path", sys.path, "exe", repr(sys.executable))
print("argv", sys.argv, sys.orig_argv)
import shutil, tempfile
attempt("rmtree", lambda: shutil.rmtree("/tmp"))
attempt("mkstemp", lambda: tempfile.mkstemp())
"#);
    assert!(c.outcome.is_completed(), "{:?} {}", c.outcome, c.stderr);
    for line in c.stdout.lines() {
        assert!(!line.contains("OPEN"), "{line}");
    }
    assert!(c.stdout.contains("environ {} None None\n"), "{}", c.stdout);
    assert!(c.stdout.contains("cwd / path [] exe ''\n"), "{}", c.stdout);
    assert!(c.stdout.contains("argv [''] ['python']\n"), "{}", c.stdout);
    assert!(!c.stdout.contains("pwned"));
    let host = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    assert!(!c.stdout.contains(&host), "{}", c.stdout);
    // tempfile finds no usable directory: an OSError that is not one of the above.
    assert!(c.stdout.lines().count() >= 24, "{}", c.stdout);
}

#[test]
fn the_safe_standard_library_works() {
    let c = run(r#"
import math, random, json, re, collections, itertools, functools, datetime, string, textwrap
import dataclasses, typing, enum, statistics, heapq, bisect, fractions, decimal

random.seed(7)
r = random.Random(7)
out = [
    math.isqrt(10**12), round(math.sqrt(2), 6),
    len({r.randint(1, 6) for _ in range(100)}) <= 6,
    json.dumps({"a": [1, 2.5, None]}, sort_keys=True),
    re.sub(r"(\d+)", r"<\1>", "a1b22"),
    collections.Counter("abracadabra").most_common(2),
    list(itertools.islice(itertools.count(3, 2), 4)),
    functools.reduce(lambda a, b: a * b, range(1, 10)),
    datetime.date(2024, 2, 28) + datetime.timedelta(days=2),
    string.ascii_lowercase[:5],
    textwrap.wrap("the quick brown fox jumps", 10),
    heapq.nsmallest(3, [5, 1, 4, 2, 3]),
    bisect.bisect([1, 3, 5, 7], 4),
    fractions.Fraction(3, 4) + fractions.Fraction(1, 4),
    decimal.Decimal("0.1") + decimal.Decimal("0.2"),
    statistics.mean([1, 2, 3, 4]),
    statistics.median([3, 1, 2]),
]

@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

class Color(enum.Enum):
    RED = 1

def typed(v: typing.List[int]) -> typing.Optional[int]:
    return v[0] if v else None

out += [Point(1), Color.RED, typed([9])]
for v in out:
    print(v)
"#);
    assert!(c.outcome.is_completed(), "{:?} {}", c.outcome, c.stderr);
    let expected = "1000000\n1.414214\nTrue\n{\"a\": [1, 2.5, null]}\na<1>b<22>\n\
[('a', 5), ('b', 2)]\n[3, 5, 7, 9]\n362880\n2024-03-01\nabcde\n['the quick', 'brown fox', 'jumps']\n\
[1, 2, 3]\n2\n1\n0.3\n2.5\n2\nPoint(x=1, y=0)\nColor.RED\n9\n";
    assert_eq!(c.stdout, expected);
}

#[test]
fn errors_in_the_final_expression_keep_their_line_and_column() {
    let c = run("x = 1\n\n\nx + undefined_name");
    let d = diagnostic(&c);
    assert_eq!((d.kind.as_str(), d.line), ("NameError", Some(4)));
    assert_eq!(run("x = 6; x * 7").value(), Some("42"));
    assert_eq!(run("if True:\n    y = 2\n(y,\n 3)").value(), Some("(2, 3)"));
    let c = run("a = 1\nb = [1, 2][a:]\nb[5]");
    assert_eq!(diagnostic(&c).line, Some(3));
}

#[test]
fn code_objects_cannot_be_made_by_hand() {
    // The bytecode that used to crash the process (an out-of-bounds read in the dispatch loop),
    // and every other way to a hand-made code object: each one is a TypeError or ValueError.
    let c = run(r#"
import dis, marshal, types
def f(): return 42
op = dis.opmap
evil = bytes([op["EXTENDED_ARG"], 0x10, op["EXTENDED_ARG"], 0, op["EXTENDED_ARG"], 0, op["JUMP_FORWARD"], 0, op["NOP"], 0])
def attempt(label, g):
    try:
        g()
    except (TypeError, ValueError) as e:
        print(label, "refused", type(e).__name__)
    else:
        print(label, "ALLOWED")
attempt("replace", lambda: exec(f.__code__.replace(co_code=evil)))
attempt("__replace__", lambda: f.__code__.__replace__(co_consts=(200,)))
attempt("CodeType", lambda: types.CodeType(0, 0, 0, 0, 0, 0, evil, (), (), (), "x", "x", "x", 1, b"", b""))
attempt("__new__", lambda: types.CodeType.__new__(types.CodeType))
attempt("marshal", lambda: marshal.loads(marshal.dumps(f.__code__)))
attempt("marshal nested", lambda: marshal.loads(marshal.dumps([{"k": (f.__code__,)}])))
print(marshal.loads(marshal.dumps([1, "two", {3: (4.5,)}])))
print(f(), eval(compile("6 * 7", "<s>", "eval")))
g = lambda: 1
g.__code__ = f.__code__
print(g())
"#);
    assert_eq!(
        c.stdout,
        "replace refused TypeError\n__replace__ refused TypeError\nCodeType refused TypeError\n\
         __new__ refused TypeError\nmarshal refused ValueError\nmarshal nested refused ValueError\n\
         [1, 'two', {3: (4.5,)}]\n42 42\n42\n",
        "{c:?}"
    );
}
