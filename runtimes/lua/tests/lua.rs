//! Behaviour of the Lua backend, driven directly (no manager).

use polyrun_engine::capture::{self, Captured};
use polyrun_engine::{LimitKind, Limits, Outcome, RunControl, RunRequest, Runtime};
use polyrun_lua::LuaRuntime;
use std::time::{Duration, Instant};

fn req(code: &str) -> RunRequest {
    RunRequest {
        code: code.into(),
        filename: Some("main.lua".into()),
        limits: Limits {
            wall_time: Some(Duration::from_secs(5)),
            ..Limits::default()
        },
    }
}

fn run(code: &str) -> Captured {
    run_in(&mut LuaRuntime::new().unwrap(), req(code), "")
}

fn run_in(rt: &mut LuaRuntime, request: RunRequest, stdin: &str) -> Captured {
    capture::run(rt, &request, stdin).unwrap()
}

fn limit_of(c: &Captured) -> Option<LimitKind> {
    match c.outcome {
        Outcome::LimitExceeded { limit } => Some(limit),
        _ => None,
    }
}

#[test]
fn print_and_io_write_are_captured_in_order() {
    let c = run(
        r#"print("a", 1, 2.5, nil, true) io.write("b", 3, "\n") io.stdout:write("c"):write("d\n") io.stderr:write("e\n")"#,
    );
    assert_eq!(c.stdout, "a\t1\t2.5\tnil\ttrue\nb3\ncd\n");
    assert_eq!(c.stderr, "e\n");
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
}

#[test]
fn io_write_rejects_tables_with_luas_message() {
    let c = run("io.write('a', {})");
    let Outcome::Error { diagnostic } = &c.outcome else {
        panic!("{:?}", c.outcome)
    };
    assert_eq!(
        diagnostic.message,
        "bad argument #2 to 'write' (string expected, got table)"
    );
    assert_eq!(diagnostic.line, Some(1));
}

#[test]
fn io_read_reads_stdin() {
    let mut rt = LuaRuntime::new().unwrap();
    let c = run_in(
        &mut rt,
        req(
            r#"local name = io.read() local n = io.read("n") print("hi " .. name, n * 2) print(io.read("l"))"#,
        ),
        "Ada\n21\n",
    );
    assert_eq!(c.stdout, "hi Ada\t42\nnil\n");
    let c = run_in(
        &mut rt,
        req("for l in io.lines() do io.write('[', l, ']') end"),
        "x\ny\n",
    );
    assert_eq!(c.stdout, "[x][y]");
}

#[test]
fn last_expression_value_is_returned() {
    assert_eq!(run("1 + 2").value(), Some("3"));
    assert_eq!(run("local x = 1").value(), None);
    assert_eq!(run("return 'a', 2").value(), Some("a\t2"));
    assert_eq!(run("print('x')").value(), None);
}

#[test]
fn runtime_error_reports_the_users_line_and_frames() {
    let c = run("local x = 1\n\nlocal function f()\n  return nil + 1\nend\nf()\n");
    let Outcome::Error { diagnostic } = &c.outcome else {
        panic!("{:?}", c.outcome)
    };
    assert_eq!(diagnostic.kind, "RuntimeError");
    assert_eq!(diagnostic.line, Some(4));
    assert!(
        diagnostic.message.contains("arithmetic on a nil value"),
        "{diagnostic:?}"
    );
    let lines: Vec<_> = diagnostic.frames.iter().filter_map(|f| f.line).collect();
    assert_eq!(lines, vec![4, 6], "{diagnostic:?}");

    let c = run("print(1)\nprint(2)\nerror('boom')\n");
    let Outcome::Error { diagnostic } = &c.outcome else {
        panic!("{:?}", c.outcome)
    };
    assert_eq!(
        (diagnostic.line, diagnostic.message.as_str()),
        (Some(3), "boom")
    );
    assert_eq!(c.stdout, "1\n2\n");
}

#[test]
fn syntax_error_reports_the_users_line() {
    let c = run("print(1)\nprint(2)\nlocal = 3\n");
    let Outcome::Error { diagnostic } = &c.outcome else {
        panic!("{:?}", c.outcome)
    };
    assert_eq!(diagnostic.kind, "SyntaxError");
    assert_eq!(diagnostic.line, Some(3));
    assert!(c.stdout.is_empty());
}

#[test]
fn host_doors_are_closed() {
    let marker = std::env::temp_dir().join(format!("polyrun-lua-door-{}", std::process::id()));
    let m = marker.display().to_string();
    let code = format!(
        r#"
local tried = {{}}
local function try(name, f)
  local ok, err = pcall(f)
  tried[#tried + 1] = name .. "=" .. tostring(ok)
end
try("os.execute", function() return os.execute("touch {m}") end)
try("io.open", function() return io.open("{m}", "w") end)
try("io.popen", function() return io.popen("touch {m}") end)
try("require", function() return require("os") end)
try("dofile", function() return dofile("/etc/passwd") end)
try("loadfile", function() return loadfile("/etc/passwd") end)
try("package.loadlib", function() return package.loadlib("libc.so.6", "system") end)
try("os.getenv", function() return os.getenv("HOME") end)
try("os.remove", function() return os.remove("{m}") end)
try("os.exit", function() return os.exit(3) end)
try("debug", function() return debug.getinfo(1) end)
try("binary load", function() return assert(load(string.dump(function() end)))() end)
print(table.concat(tried, " "))
print(type(os.time()), type(os.clock()), type(os.date("%Y")))
"#
    );
    let c = run(&code);
    assert!(c.outcome.is_completed(), "{:?}", c.outcome);
    assert_eq!(
        c.stdout.lines().next().unwrap(),
        "os.execute=false io.open=false io.popen=false require=false dofile=false \
         loadfile=false package.loadlib=false os.getenv=false os.remove=false os.exit=false \
         debug=false binary load=false"
    );
    assert_eq!(c.stdout.lines().nth(1).unwrap(), "number\tnumber\tstring");
    assert!(!marker.exists(), "a guest created a host file");
}

#[test]
fn infinite_loop_stops_at_the_deadline_and_pcall_cannot_swallow_it() {
    for code in [
        "while true do end",
        "while true do pcall(function() while true do end end) end",
        "local co = coroutine.create(function() while true do end end) while true do coroutine.resume(co) end",
        "local co = coroutine.wrap(function() while true do end end) co()",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
    ] {
        let mut r = req(code);
        r.limits.wall_time = Some(Duration::from_millis(300));
        let start = Instant::now();
        let c = run_in(&mut LuaRuntime::new().unwrap(), r, "");
        assert_eq!(
            limit_of(&c),
            Some(LimitKind::Time),
            "{code}: {:?}",
            c.outcome
        );
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{code} took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn cancel_from_another_thread_stops_the_run() {
    let mut rt = LuaRuntime::new().unwrap();
    let control = RunControl::new();
    let c2 = control.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c2.cancel();
    });
    let mut r = req("local n = 0 while true do n = n + 1 end");
    r.limits.wall_time = None;
    let c = capture::run_with(&mut rt, &r, "", control).unwrap();
    t.join().unwrap();
    assert_eq!(c.outcome, Outcome::Cancelled);
    // The instance stays usable.
    assert_eq!(run_in(&mut rt, req("40 + 2"), "").value(), Some("42"));

    // Cancelled before it starts: nothing runs at all.
    let control = RunControl::new();
    control.cancel();
    let c = capture::run_with(&mut rt, &req("ran = true"), "", control).unwrap();
    assert_eq!(c.outcome, Outcome::Cancelled);
    assert_eq!(run_in(&mut rt, req("ran"), "").value(), Some("nil"));
}

#[test]
fn memory_bombs_hit_the_memory_limit() {
    for code in [
        "local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end",
        "local s = 'x' while true do s = s .. s end",
        "local t = {} while true do local ok = pcall(function() t[#t+1] = string.rep('y', 1e6) end) end",
        "return string.rep('x', 1e9)",
    ] {
        let mut r = req(code);
        r.limits.memory_bytes = Some(64 << 20);
        let mut rt = LuaRuntime::new().unwrap();
        let c = run_in(&mut rt, r, "");
        assert_eq!(
            limit_of(&c),
            Some(LimitKind::Memory),
            "{code}: {:?}",
            c.outcome
        );
        // The state is still usable afterwards.
        assert_eq!(run_in(&mut rt, req("1"), "").value(), Some("1"));
    }
}

#[test]
fn output_flood_stops_at_the_output_limit() {
    let mut r = req("while true do pcall(print, string.rep('z', 100)) end");
    r.limits.output_bytes = Some(10_000);
    let c = run_in(&mut LuaRuntime::new().unwrap(), r, "");
    assert_eq!(limit_of(&c), Some(LimitKind::Output));
    assert_eq!(c.stdout.len(), 10_000);
}

#[test]
fn sessions_keep_globals_until_reset() {
    let mut rt = LuaRuntime::new().unwrap();
    run_in(&mut rt, req("counter = 41"), "");
    assert_eq!(run_in(&mut rt, req("counter + 1"), "").value(), Some("42"));
    rt.reset().unwrap();
    assert_eq!(run_in(&mut rt, req("counter"), "").value(), Some("nil"));
}

#[test]
fn deep_recursion_is_a_guest_error_not_a_crash() {
    let c = run("local function f(n) return 1 + f(n + 1) end\nreturn f(1)");
    let Outcome::Error { diagnostic } = &c.outcome else {
        panic!("{:?}", c.outcome)
    };
    assert!(
        diagnostic.message.contains("stack overflow"),
        "{diagnostic:?}"
    );
}

#[test]
fn finalizers_cannot_be_planted() {
    // Lua runs `__gc` with its hooks off: a finalizer that never ends would hang the reset (or
    // a later run) outside every limit. setmetatable refuses it, with the user's line.
    let mut rt = LuaRuntime::new().unwrap();
    let c = run_in(
        &mut rt,
        req("print('before')\nsetmetatable({}, {__gc = function() while true do end end})"),
        "",
    );
    let Outcome::Error { diagnostic } = &c.outcome else {
        panic!("{:?}", c.outcome)
    };
    assert!(diagnostic.message.contains("__gc"), "{diagnostic:?}");
    assert_eq!(diagnostic.line, Some(2), "{diagnostic:?}");
    assert_eq!(c.stdout, "before\n");
    // A `__gc` added after setmetatable never marks the table (Lua 5.4), so nothing runs later.
    let later = run_in(
        &mut rt,
        req(
            "local mt = {} local t = setmetatable({}, mt) mt.__gc = function() while true do end end t = nil collectgarbage() return getmetatable(setmetatable({}, {__index = {x = 1}})).__index.x",
        ),
        "",
    );
    assert_eq!(later.value(), Some("1"), "{:?}", later.outcome);
    rt.reset().unwrap();
    assert_eq!(run_in(&mut rt, req("1 + 1"), "").value(), Some("2"));
}
