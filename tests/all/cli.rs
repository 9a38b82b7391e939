//! The `polyrun` command line, end to end: output, exit codes, limits, JSON mode, stdin.

use crate::common::{BIN, code, polyrun_env, polyrun_stdin, text};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn polyrun(args: &[&str]) -> Output {
    polyrun_env(args, "", &[])
}

#[test]
fn sample_programs_print_their_output() {
    let o = polyrun(&["run", "examples/hello.js"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "Hello from polyrun!\n{ languages: [ 'JavaScript', 'Lua' ], count: 2 }\n"
    );
    let o = polyrun(&["run", "examples/hello.lua"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "Hello from polyrun!\n1. JavaScript\n2. Lua\n"
    );
}

#[test]
fn eval_and_print_value() {
    let o = polyrun(&["run", "--lang", "js", "-e", "console.log('a'); 6 * 7", "-p"]);
    assert_eq!((code(&o), text(&o.stdout)), (0, "a\n42\n".to_string()));
    let o = polyrun(&["run", "-l", "lua", "-e", "print(2^10)", "--inline"]);
    assert_eq!((code(&o), text(&o.stdout)), (0, "1024.0\n".to_string()));
    let o = polyrun(&["run", "-e", "1"]);
    assert_eq!(code(&o), 2, "-e without --lang is a usage error");
}

#[test]
fn json_mode_emits_one_valid_json_object_per_line() {
    for lang in ["js", "lua"] {
        let src = if lang == "js" {
            "console.log('out'); console.error('err'); 1 + 1"
        } else {
            "print('out') io.stderr:write('err\\n') return 1 + 1"
        };
        let o = polyrun(&["run", "--lang", lang, "-e", src, "--json"]);
        assert_eq!(code(&o), 0);
        let lines: Vec<serde_json::Value> = text(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0]["type"], "stdout");
        assert_eq!(lines[0]["text"], "out\n");
        assert_eq!(lines[1]["type"], "stderr");
        let done = &lines[2];
        assert_eq!(done["type"], "done");
        assert_eq!(done["exit_code"], 0);
        assert_eq!(done["outcome"]["status"], "completed");
        assert_eq!(done["outcome"]["value"]["text/plain"], "2");
    }
    let o = polyrun(&["run", "--lang", "js", "-e", "null.x", "--json"]);
    assert_eq!(code(&o), 1);
    let done: serde_json::Value =
        serde_json::from_str(text(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(done["outcome"]["diagnostic"]["kind"], "TypeError");
}

fn timed(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let o = polyrun(args);
    (o, start.elapsed())
}

#[test]
fn infinite_loops_end_with_124_within_two_seconds() {
    let cases: &[&[&str]] = &[
        &[
            "run",
            "--lang",
            "js",
            "-e",
            "while(true){}",
            "--timeout",
            "1s",
        ],
        &[
            "run",
            "--lang",
            "js",
            "-e",
            "while(true){}",
            "--timeout",
            "1s",
            "--isolation",
            "worker",
        ],
        &[
            "run",
            "--lang",
            "lua",
            "-e",
            "while true do end",
            "--timeout",
            "1s",
            "--inline",
        ],
        &[
            "run",
            "--lang",
            "lua",
            "-e",
            "while true do end",
            "--timeout",
            "1s",
            "--isolation",
            "worker",
        ],
        &[
            "run",
            "--lang",
            "lua",
            "-e",
            "while true do pcall(function() while true do end end) end",
            "--timeout",
            "1s",
        ],
    ];
    for args in cases {
        let (o, took) = timed(args);
        assert_eq!(code(&o), 124, "{args:?}: {}", text(&o.stderr));
        assert!(took < Duration::from_secs(2), "{args:?} took {took:?}");
        assert!(
            text(&o.stderr).contains("time limit of 1 s exceeded"),
            "{}",
            text(&o.stderr)
        );
    }
}

#[test]
fn memory_bombs_end_with_125() {
    let cases: &[&[&str]] = &[
        &[
            "run",
            "--lang",
            "js",
            "-e",
            "const s = ('x').repeat(1e9); s.length",
        ],
        &[
            "run",
            "--lang",
            "js",
            "-e",
            "let a = []; while (true) a.push({ n: a.length })",
        ],
        // QuickJS concatenates into ropes, so doubling a string ends at its length limit
        // (`InternalError: string too long`, as V8's `Invalid string length`) before memory:
        // its string bomb builds flat strings; Boa's doubles.
        &[
            "run",
            "--lang",
            "js",
            "-e",
            "let a = []; for (;;) a.push('x'.repeat(1e6) + a.length)",
        ],
        &[
            "run",
            "--lang",
            "js",
            "--backend",
            "boa",
            "-e",
            "let s = 'x'; while (true) s = s + s",
        ],
        &[
            "run",
            "--lang",
            "js",
            "-e",
            "let a = []; while (true) a.push({ n: a.length })",
            "--inline",
        ],
        &[
            "run",
            "--lang",
            "lua",
            "-e",
            "local t = {} while true do t[#t + 1] = {} end",
        ],
        &[
            "run",
            "--lang",
            "lua",
            "-e",
            "local s = 'x' while true do s = s .. s end",
            "--inline",
        ],
        &[
            "run",
            "--lang",
            "lua",
            "-e",
            "local t = {} while true do t[#t + 1] = {} end",
            "--isolation",
            "worker",
        ],
    ];
    for args in cases {
        let mut args = args.to_vec();
        args.extend(["--memory", "64MiB", "--timeout", "20s"]);
        let o = polyrun(&args);
        assert_eq!(code(&o), 125, "{args:?}: {}", text(&o.stderr));
        assert!(
            // The outcome says the amount; the in-process allocation ceiling (--inline) only
            // says what happened.
            text(&o.stderr).contains("memory limit of 64 MiB exceeded")
                || text(&o.stderr).contains("polyrun: memory limit exceeded"),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
}

#[test]
fn output_floods_stop_at_max_output() {
    for (lang, src) in [
        (
            "js",
            "while (true) { try { console.log('flood') } catch (e) {} }",
        ),
        ("lua", "while true do pcall(print, 'flood') end"),
    ] {
        let o = polyrun(&["run", "--lang", lang, "-e", src, "--max-output", "10KiB"]);
        assert_eq!(code(&o), 125, "{lang}");
        assert_eq!(o.stdout.len(), 10 * 1024, "{lang}");
        assert!(text(&o.stderr).contains("output limit of 10 KiB exceeded"));
    }
}

#[test]
fn errors_are_reported_at_the_users_line() {
    let dir = std::env::temp_dir().join(format!("polyrun-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "rt.js",
            "let a = 1;\nlet b = 2;\nundefinedFunction(a, b);\n",
            "rt.js:3:1: ReferenceError: undefinedFunction is not defined",
        ),
        (
            "rt2.js",
            "console.log('ok');\nconst o = null;\nconsole.log(o.field);\n",
            "rt2.js:3:15: TypeError:",
        ),
        (
            "syn.js",
            "let a = 1;\nlet b = 2;\nlet = = 3;\n",
            "syn.js:3:7: SyntaxError:",
        ),
        (
            "rt.lua",
            "local a = 1\nlocal b = nil\nprint(a + b)\n",
            "rt.lua:3: RuntimeError: attempt to perform arithmetic on a nil value (local 'b')",
        ),
        (
            "syn.lua",
            "local a = 1\nlocal b = 2\nlocal = 3\n",
            "syn.lua:3: SyntaxError:",
        ),
    ];
    for (name, src, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, src).unwrap();
        let p = path.display().to_string();
        let o = polyrun(&["run", &p]);
        assert_eq!(code(&o), 1, "{name}: {}", text(&o.stderr));
        let first = text(&o.stderr)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let expected = format!("{}/{expected}", dir.display());
        assert!(
            first.starts_with(&expected),
            "{name}: got {first:?}, want {expected:?}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_terminal_stdin_is_the_guests_stdin() {
    let o = polyrun_stdin(
        &[
            "run",
            "--lang",
            "lua",
            "-e",
            "local n = io.read('n') local s = io.read() print(n * 2, s)",
        ],
        "21\nhello\n",
    );
    assert_eq!(text(&o.stdout), "42\thello\n");
    let o = polyrun_stdin(
        &[
            "run",
            "--lang",
            "js",
            "-e",
            "const a = prompt('a? '); const b = readline(); console.log(a + b, readline())",
        ],
        "x\ny\n",
    );
    assert_eq!(text(&o.stdout), "a? xy null\n");
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        vec!["run", "--lang", "cobol", "-e", "x"],
        vec!["run", "does-not-exist.js"],
        vec!["run", "--lang", "js", "-e", "1", "--timeout", "soon"],
        vec!["run", "--lang", "js", "-e", "1", "--memory", "lots"],
        vec!["run", "README.md"],
        vec!["frobnicate"],
    ] {
        let o = polyrun(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o.stderr));
    }
    let o = polyrun(&["run", "--lang", "cobol", "-e", "x"]);
    assert!(text(&o.stderr).contains("available: javascript, lua, python, ruby"));
}

#[test]
fn ctrl_c_cancels_with_130() {
    for extra in [&[][..], &["--inline"][..]] {
        let mut args = vec![
            "run",
            "--lang",
            "lua",
            "-e",
            "while true do end",
            "--timeout",
            "30s",
        ];
        args.extend(extra);
        let child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let o = child.wait_with_output().unwrap();
        assert_eq!(code(&o), 130, "{args:?}: {}", text(&o.stderr));
    }
}

#[test]
fn langs_lists_languages() {
    let o = polyrun(&["langs", "--json"]);
    assert_eq!(code(&o), 0);
    // A line per backend, a language's backends together.
    let mut ids: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["language"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids, ["javascript", "lua", "python", "ruby", "php"]);
}

#[test]
fn a_backend_can_be_chosen_and_a_missing_one_is_a_usage_error() {
    let o = polyrun(&[
        "run",
        "--lang",
        "lua",
        "--backend",
        "mlua",
        "-e",
        "print(1)",
    ]);
    assert_eq!((code(&o), text(&o.stdout).as_str()), (0, "1\n"));
    let o = polyrun(&[
        "run",
        "--lang",
        "lua",
        "--backend",
        "luajit",
        "-e",
        "print(1)",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("lua has no backend `luajit` (available: mlua)"),
        "{}",
        text(&o.stderr)
    );
    let o = polyrun(&[
        "run",
        "--lang",
        "js",
        "--backend",
        "v8",
        "-e",
        "1",
        "--json",
    ]);
    let line: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(line["kind"], "unknown_backend");
    assert_eq!(line["available"], serde_json::json!(["quickjs", "boa"]));
    assert_eq!(line["exit_code"], 2);
    // `langs` lists every backend with its default mark.
    let o = polyrun(&["langs", "--json"]);
    let langs: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // JavaScript has two backends (QuickJS the default), the others one each.
    assert_eq!(langs.len(), 6);
    assert!(langs.iter().all(|l| l["backend"].is_string()));
    let defaults: Vec<_> = langs
        .iter()
        .filter(|l| l["default"] == true)
        .map(|l| {
            format!(
                "{}/{}",
                l["language"].as_str().unwrap(),
                l["backend"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(defaults.len(), 5, "{defaults:?}");
    assert!(
        defaults.contains(&"javascript/quickjs".to_string()),
        "{defaults:?}"
    );
    let o = polyrun(&["langs"]);
    assert!(text(&o.stdout).contains("quickjs *"), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("boa"), "{}", text(&o.stdout));
}

#[test]
fn a_closed_pipe_ends_the_listing_quietly() {
    // `polyrun langs --json | head -1` with the reader gone before the first line: no panic.
    let mut child = Command::new(BIN)
        .args(["langs", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

/// The pids of `parent`'s children (from /proc: Linux).
fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read after its closing paren.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after.split_whitespace().nth(1) == Some(parent.to_string().as_str()) {
            found.push(pid);
        }
    }
    found
}

/// `true` while `pid` runs (a zombie nobody reaped has ended).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

#[test]
fn a_worker_does_not_outlive_its_killed_cli() {
    // Boa cannot interrupt a pure loop, so JavaScript on Boa runs in a worker process; the CLI
    // is killed outright (no chance to clean up) while the worker loops.
    use std::io::BufRead;
    let code = "console.log('looping'); while (true) {}";
    let mut cli = Command::new(BIN)
        .args([
            "run",
            "--lang",
            "js",
            "--backend",
            "boa",
            "-e",
            code,
            "--timeout",
            "120s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(cli.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "looping\n");
    let workers = children_of(cli.id());
    assert!(!workers.is_empty(), "the CLI runs JavaScript in a worker");
    cli.kill().unwrap();
    cli.wait().unwrap();
    // Its input closed with the CLI: the worker stops the run, and exits when the run does not
    // stop within the grace. Waiting is bounded far above that.
    let deadline = Instant::now() + Duration::from_secs(20);
    while workers.iter().any(|&w| running(w)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<_> = workers.into_iter().filter(|&w| running(w)).collect();
    for &w in &alive {
        // SAFETY: plain kill(2), so a failing test leaves nothing behind.
        unsafe { libc::kill(w as i32, libc::SIGKILL) };
    }
    assert!(alive.is_empty(), "workers {alive:?} outlived the CLI");
}

#[test]
fn a_stdin_line_past_the_cap_reaches_the_guest_cut() {
    let cap = polyrun::engine::MAX_LINE_BYTES;
    let mut input = "x".repeat(cap + (1 << 20));
    input.push_str("\nsecond\n");
    let o = polyrun_stdin(
        &[
            "run",
            "--lang",
            "lua",
            "-e",
            "local l = io.read() print(#l) print(io.read())",
        ],
        &input,
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), format!("{cap}\nsecond\n"));
}

#[test]
fn the_last_value_counts_against_the_output_limit() {
    // A 2 MiB value under the default 1 MiB output limit: the limit, not a 2 MiB result.
    let o = polyrun(&[
        "run",
        "--lang",
        "lua",
        "-e",
        "return string.rep('v', 2 * 1024 * 1024)",
    ]);
    assert_eq!(code(&o), 125, "{}", text(&o.stderr));
    assert!(o.stdout.is_empty());
    assert!(
        text(&o.stderr).contains("output limit"),
        "{}",
        text(&o.stderr)
    );
}
