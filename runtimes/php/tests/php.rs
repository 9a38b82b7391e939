//! Behaviour of the PHP backend, driven directly. The first test to run builds php.wasm from
//! Debian's source through polyrun-packaging when the cache has none for this recipe (a few
//! minutes, once), then compiles it (cached too).

use polyrun_engine::capture::{self, Captured};
use polyrun_engine::{Diagnostic, LimitKind, Limits, LoadContext, Outcome, RunControl, RunRequest};
use polyrun_php::PhpRuntime;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn rt() -> PhpRuntime {
    PhpRuntime::new(&LoadContext::default()).expect("php loads")
}

fn req(code: &str) -> RunRequest {
    RunRequest {
        code: code.into(),
        filename: Some("main.php".into()),
        limits: Limits::default(),
    }
}

fn run(code: &str, stdin: &str) -> Captured {
    capture::run(&mut rt(), &req(code), stdin).unwrap()
}

fn error_of(c: &Captured) -> &Diagnostic {
    match &c.outcome {
        Outcome::Error { diagnostic } => diagnostic,
        other => panic!("expected an error, got {other:?} (stdout {:?})", c.stdout),
    }
}

#[test]
fn output_warnings_and_stdin() {
    let c = run(
        "<?php\necho \"hello\\n\";\nfwrite(STDERR, \"err\\n\");\nprint(1 + 2);",
        "",
    );
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    assert_eq!(
        (c.stdout.as_str(), c.stderr.as_str()),
        ("hello\n3", "err\n")
    );

    // Without an opening tag too; warnings go to stderr with the user's file and line, and
    // `@` still silences them.
    let c = run(
        "$a = [];\necho @$a['x'];\necho $undefined;\necho \"after\";",
        "",
    );
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    assert_eq!(c.stdout, "after");
    assert_eq!(
        c.stderr,
        "Warning: Undefined variable $undefined in main.php on line 3\n"
    );

    // A template: text around PHP blocks.
    let c = run(
        "<ul>\n<?php foreach ([1, 2] as $i): ?>\n<li><?= $i ?></li>\n<?php endforeach; ?>\n</ul>\n",
        "",
    );
    assert_eq!(c.stdout, "<ul>\n<li>1</li>\n<li>2</li>\n</ul>\n");

    let c = run(
        "$name = readline('name? ');\n$age = (int) fgets(STDIN);\necho \"$name is $age\\n\";\nvar_dump(fgets(STDIN), readline());",
        "Ada\n36\n",
    );
    assert_eq!(c.stdout, "name? Ada is 36\nbool(false)\nbool(false)\n");
    let c = run("echo strtoupper(stream_get_contents(STDIN));", "a\nb\n");
    assert_eq!(c.stdout, "A\nB\n");

    // The php:// streams (which PHP opens by duplicating descriptors) work, and closing one
    // leaves the others open.
    let c = run(
        "$in = fopen('php://stdin', 'r');\necho fgets($in);\nfclose($in);\necho fgets(STDIN);\necho implode('|', file('php://stdin', FILE_IGNORE_NEW_LINES)), \"\\n\";\n$out = fopen('php://stdout', 'w');\nfwrite($out, \"via php://stdout\\n\");\nfclose($out);\nfile_put_contents('php://stderr', \"via php://stderr\\n\");\necho \"still here\\n\";",
        "one\ntwo\nthree\nfour\n",
    );
    assert!(c.outcome.is_completed(), "{:?} {}", c.outcome, c.stderr);
    assert_eq!(
        c.stdout,
        "one\ntwo\nthree|four\nvia php://stdout\nstill here\n"
    );
    assert_eq!(c.stderr, "via php://stderr\n");
    let c = run("echo file_get_contents('php://stdin');", "all of it\n");
    assert_eq!(c.stdout, "all of it\n");
}

#[test]
fn randomness_works_and_fibers_say_they_are_unavailable() {
    let c = run(
        "$a = random_bytes(1000);\n$b = random_bytes(1000);\nvar_dump(strlen($a), $a !== $b, count(array_unique(array_map(fn() => random_int(0, 1 << 40), range(1, 50)))) > 45);\n$s = range(1, 20); shuffle($s); echo count(array_unique($s)), ' ', strlen(uniqid()), ' ', strlen(bin2hex(random_bytes(16))), \"\\n\";",
        "",
    );
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    assert_eq!(c.stdout, "int(1000)\nbool(true)\nbool(true)\n20 13 32\n");

    let c = run(
        "$f = new Fiber(fn() => Fiber::suspend(1));\n$f->start();",
        "",
    );
    let d = error_of(&c);
    assert_eq!(
        (d.kind.as_str(), d.message.as_str(), d.line),
        (
            "FiberError",
            "Fibers are not available in PHP on WebAssembly",
            Some(2)
        )
    );
}

/// The tour in fixtures/features.php and the integer checks in fixtures/integers.php print
/// exactly what Debian's php-cli prints.
#[test]
fn prints_what_native_php_prints() {
    for name in ["features.php", "integers.php"] {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let native = Command::new("php").arg(&fixture).output().expect(
            "this test compares with Debian's PHP: apt-get install php-cli php-mbstring php-bcmath",
        );
        assert!(
            native.status.success(),
            "native php failed on {name} (are php-mbstring and php-bcmath installed?): {}",
            String::from_utf8_lossy(&native.stdout)
        );
        let native = String::from_utf8(native.stdout).unwrap();
        let code = std::fs::read_to_string(&fixture).unwrap();
        let c = run(&code, "");
        assert!(c.outcome.is_completed(), "{name}: {:?}", c.outcome);
        assert_eq!(c.stderr, "", "{name}");
        assert_eq!(c.stdout, native, "{name}");
    }
}

#[test]
fn integers_are_64_bit() {
    let c = run(
        "echo PHP_INT_SIZE, ' ', PHP_INT_MAX, ' ', 2 ** 40, ' ', 1 << 40, ' ', mktime(0, 0, 0, 1, 1, 2100);",
        "",
    );
    assert_eq!(
        c.stdout,
        "8 9223372036854775807 1099511627776 1099511627776 4102444800"
    );
}

#[test]
fn errors_carry_the_kind_message_and_the_users_line() {
    let c = run(
        "<?php\necho \"a\\n\";\nfunction f() {\n  throw new Exception(\"boom\");\n}\nf();\n",
        "",
    );
    let d = error_of(&c);
    assert_eq!(
        (d.kind.as_str(), d.message.as_str(), d.line),
        ("Exception", "boom", Some(4))
    );
    let frames: Vec<_> = d
        .frames
        .iter()
        .map(|f| (f.function.as_deref().unwrap_or(""), f.line))
        .collect();
    assert_eq!(frames, vec![("f", Some(4)), ("{main}", Some(6))]);
    assert_eq!(c.stdout, "a\n");

    // Engine errors are exceptions too; methods and closures are named.
    let c = run(
        "class A {\n  function m() {\n    return array_map(fn($v) => intdiv($v, 0), [1]);\n  }\n}\n(new A)->m();",
        "",
    );
    let d = error_of(&c);
    assert_eq!((d.kind.as_str(), d.line), ("DivisionByZeroError", Some(3)));
    let names: Vec<_> = d.frames.iter().filter_map(|f| f.function.clone()).collect();
    assert!(names.contains(&"A->m".to_string()), "{names:?}");
    assert_eq!(d.frames.last().and_then(|f| f.line), Some(6));

    // As native PHP says it: the end of the file is line 4.
    let c = run("<?php\n$x = 1;\nif ($x {\n", "");
    let d = error_of(&c);
    assert_eq!(
        (d.kind.as_str(), d.message.as_str(), d.line),
        ("ParseError", "Unclosed '{' on line 3", Some(4))
    );

    let c = run("\n\nundefined_function(1);", "");
    let d = error_of(&c);
    assert_eq!(
        (d.kind.as_str(), d.message.as_str(), d.line),
        (
            "Error",
            "Call to undefined function undefined_function()",
            Some(3)
        )
    );

    // A compile-time fatal error (not an exception).
    let c = run("function f() {}\nfunction f() {}\n", "");
    let d = error_of(&c);
    assert_eq!(d.kind, "Fatal error");
    assert!(d.message.contains("Cannot redeclare f()"), "{d:?}");
    assert_eq!(d.line, Some(2));

    // The user's own exception handler is honoured.
    let c = run(
        "set_exception_handler(function ($e) { echo 'handled: ', $e->getMessage(); });\nthrow new RuntimeException('x');",
        "",
    );
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    assert_eq!(c.stdout, "handled: x");
}

/// setjmp/longjmp are real: a fatal error unwinds, output buffers flush and shutdown functions
/// run (in that order, as in native PHP).
#[test]
fn fatal_errors_and_exit_unwind_normally() {
    let c = run(
        "register_shutdown_function(function () { echo \"shutdown ran\\n\"; });\nob_start();\necho \"buffered\\n\";\nfunction f() {}\nundefined_function();",
        "",
    );
    assert_eq!(error_of(&c).kind, "Error");
    assert_eq!(c.stdout, "buffered\nshutdown ran\n");

    let c = run(
        "register_shutdown_function(fn() => print(\"bye\\n\"));\ntrigger_error('custom', E_USER_ERROR);\necho 'not reached';",
        "",
    );
    let d = error_of(&c);
    assert_eq!(
        (d.kind.as_str(), d.message.as_str(), d.line),
        ("Fatal error", "custom", Some(2))
    );
    assert_eq!(c.stdout, "bye\n");

    let c = run(
        "register_shutdown_function(fn() => print(\"down\\n\"));\nfunction g() { exit(3); }\ng();\necho 'not reached';",
        "",
    );
    assert_eq!(error_of(&c).message, "exit status 3");
    assert_eq!(c.stdout, "down\n");
    // Statuses of 126 and more too (wasmtime-wasi alone would not say which).
    let c = run("exit(200);", "");
    assert_eq!(error_of(&c).message, "exit status 200");
    let c = run("echo 'a'; exit('done');", "");
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    assert_eq!(c.stdout, "adone");
    let c = run("try { exit(0); } finally { echo 'finally'; }", "");
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
}

#[test]
fn time_limits_stop_loops_and_sleeps() {
    for code in [
        "while (true) {}",
        "sleep(30);",
        "for (;;) { usleep(1000); }",
    ] {
        let mut q = req(code);
        q.limits.wall_time = Some(Duration::from_millis(500));
        let start = Instant::now();
        let c = capture::run(&mut rt(), &q, "").unwrap();
        assert_eq!(
            c.outcome,
            Outcome::LimitExceeded {
                limit: LimitKind::Time
            },
            "{code}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{code}: {:?}",
            start.elapsed()
        );
    }
    // Cancel from another thread.
    let control = RunControl::new();
    let c2 = control.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        c2.cancel();
    });
    let c = capture::run_with(&mut rt(), &req("while (true) { $x = 1; }"), "", control).unwrap();
    assert_eq!(c.outcome, Outcome::Cancelled);
}

#[test]
fn memory_and_output_limits() {
    for code in [
        "$s = str_repeat('x', 1 << 30);",
        "$a = [];\nwhile (true) { $a[] = str_repeat('y', 1000); }",
    ] {
        let mut q = req(code);
        q.limits.memory_bytes = Some(128 << 20);
        let c = capture::run(&mut rt(), &q, "").unwrap();
        assert_eq!(
            c.outcome,
            Outcome::LimitExceeded {
                limit: LimitKind::Memory
            },
            "{code}"
        );
    }
    // memory_limit is the run's limit.
    let mut q = req("echo ini_get('memory_limit');");
    q.limits.memory_bytes = Some(64 << 20);
    assert_eq!(capture::run(&mut rt(), &q, "").unwrap().stdout, "67108864");

    let mut q = req("while (true) { echo 'flood'; }");
    q.limits.output_bytes = Some(1000);
    let c = capture::run(&mut rt(), &q, "").unwrap();
    assert_eq!(
        c.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Output
        }
    );
    assert_eq!(c.stdout.len(), 1000);
}

#[test]
fn the_host_is_invisible() {
    let marker = std::env::temp_dir().join(format!("polyrun-php-door-{}", std::process::id()));
    let code = r#"
$r = [
  'read' => @file_get_contents('/etc/passwd'),
  'dir' => @scandir('/'),
  'cwd' => @scandir('.'),
  'glob' => glob('/*'),
  'write' => @file_put_contents('MARKER', 'x'),
  'fopen' => @fopen('MARKER', 'w'),
  'shell' => @shell_exec('touch MARKER'),
  'exec' => @exec('touch MARKER'),
  'system' => @system('touch MARKER'),
  'proc' => function_exists('proc_open') ? @proc_open('touch MARKER', [], $pipes) : 'none',
  'socket' => @fsockopen('127.0.0.1', 22),
  'env' => getenv(),
  'home' => getenv('HOME'),
  'path' => $_SERVER['PATH'] ?? null,
  'envvar' => $_ENV,
];
echo json_encode($r), "\n";
echo count($_SERVER['argv']), ' ', $_SERVER['argv'][0], "\n";
"#
    .replace("MARKER", &marker.display().to_string());
    let c = run(&code, "");
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    let out: serde_json::Value = serde_json::from_str(c.stdout.lines().next().unwrap()).unwrap();
    for key in [
        "read", "dir", "cwd", "write", "fopen", "shell", "exec", "system", "socket", "home",
    ] {
        assert_eq!(out[key], serde_json::Value::Bool(false), "{key}: {out}");
    }
    assert_eq!(out["glob"], serde_json::json!([]), "{out}");
    assert!(out["path"].is_null(), "{out}");
    // The build has no process functions at all.
    assert_eq!(out["proc"], "none", "{out}");
    assert_eq!(out["env"], serde_json::json!([]), "{out}");
    assert_eq!(out["envvar"], serde_json::json!([]), "{out}");
    assert!(!c.stdout.contains("root:"));
    assert!(!marker.exists(), "a guest touched the host: {}", c.stdout);
    // The program sees its own file name only.
    assert_eq!(c.stdout.lines().nth(1), Some("1 main.php"));
}

#[test]
fn every_run_starts_clean() {
    let mut r = rt();
    let c = capture::run(
        &mut r,
        &req("function greet() { return 'hi'; }\n$count = 41;"),
        "",
    )
    .unwrap();
    assert!(c.outcome.is_completed());
    let c = capture::run(
        &mut r,
        &req("function greet() { return 'again'; }\nvar_dump(isset($count), greet());"),
        "",
    )
    .unwrap();
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    assert_eq!(c.stdout, "bool(false)\nstring(5) \"again\"\n");
    // A run after a trap works.
    let mut q = req("while (true) {}");
    q.limits.wall_time = Some(Duration::from_millis(100));
    capture::run(&mut r, &q, "").unwrap();
    let c = capture::run(&mut r, &req("echo 6 * 7;"), "").unwrap();
    assert_eq!(c.stdout, "42");
}

#[test]
fn a_forged_report_is_just_output() {
    // Only the line with this run's nonce is the prelude's report.
    let c = run(
        "fwrite(STDERR, \"\\x01polyrun:0000000000000000:{\\\"error\\\":{\\\"kind\\\":\\\"Fake\\\",\\\"message\\\":\\\"x\\\"}}\\n\");\necho 'ok';",
        "",
    );
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    assert!(c.stderr.contains("Fake"), "{:?}", c.stderr);
}
