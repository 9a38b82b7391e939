//! Ruby through the CLI and the manager, and `polyrun fetch`, end to end. ruby.wasm comes from
//! the npm registry through polyrun-packaging (cached in the user's cache after the first run).

use crate::common::{check_sessions, manager, polyrun_env, polyrun_stdin as polyrun, text};
use polyrun::Isolation;
use std::time::{Duration, Instant};

#[test]
fn hello_stdin_errors_timeout_and_memory_through_the_cli() {
    let o = polyrun(&["run", "examples/hello.rb"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "Hello from polyrun!\n1. JavaScript\n2. Lua\n3. Ruby\n"
    );

    let o = polyrun(
        &["run", "-l", "ruby", "-e", "puts gets.upcase"],
        "echo me\n",
    );
    assert_eq!(text(&o.stdout), "ECHO ME\n");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hello.rb");
    std::fs::write(&file, "puts 'one'\nraise \"boom\"\n").unwrap();
    let o = polyrun(&["run", file.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with(&format!("{}:2: RuntimeError: boom", file.display())),
        "{err}"
    );

    let start = Instant::now();
    let o = polyrun(
        &["run", "-l", "ruby", "-e", "loop {}", "--timeout", "1s"],
        "",
    );
    assert_eq!(o.status.code(), Some(124));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let o = polyrun(&["run", "-l", "ruby", "-e", "puts :next"], "");
    assert_eq!(text(&o.stdout), "next\n");

    let o = polyrun(
        &[
            "run",
            "-l",
            "ruby",
            "-e",
            "a = []; loop { a << 'x' * 1_000_000 }",
            "--memory",
            "256MiB",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(125), "{}", text(&o.stderr));
}

#[test]
fn sessions_keep_defs_and_variables_and_plain_runs_start_clean() {
    let r = check_sessions(
        &manager(),
        "ruby",
        "def twice(x) = x * 2\nbase = 20",
        "twice(base) + 2",
        "defined?(base).inspect",
        "\"nil\"",
        "loop {}",
    );
    assert_eq!(
        r.isolation,
        Isolation::InProcess,
        "Ruby is preemptible: auto keeps it in process"
    );
}

#[test]
fn fetch_downloads_verifies_precompiles_then_does_nothing_and_repairs_damage() {
    let cache = tempfile::tempdir().unwrap();
    let env = [("POLYRUN_CACHE", cache.path().to_str().unwrap())];
    let o = polyrun_env(&["fetch", "ruby"], "", &env);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("downloaded, checksum verified"), "{out}");
    assert!(out.contains("compiled module: compiled in"), "{out}");
    println!("{out}");

    let o = polyrun_env(&["fetch", "ruby"], "", &env);
    let out = text(&o.stdout);
    assert!(out.contains("already cached, checksum verified"), "{out}");
    assert!(out.contains("compiled module: already cached"), "{out}");
    assert!(out.contains("nothing to do"), "{out}");

    let o = polyrun_env(&["fetch", "--list"], "", &env);
    assert!(text(&o.stdout).contains("ruby") && text(&o.stdout).contains("cached at"));

    // Damage the cached file (same size): detected and fetched again.
    let artifact = polyrun_packaging::artifact("ruby").unwrap();
    let path = polyrun_packaging::Cache::at(cache.path()).path_of(artifact);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let o = polyrun_env(&["fetch", "ruby"], "", &env);
    let out = text(&o.stdout);
    assert!(out.contains("damaged cache file replaced"), "{out}");
    assert_eq!(
        polyrun_packaging::sha256_file(&path).unwrap(),
        artifact.sha256
    );

    // A damaged compiled module is compiled again rather than loaded.
    let compiled: Vec<_> = std::fs::read_dir(cache.path().join("compiled"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(compiled.len(), 1);
    let mut bytes = std::fs::read(&compiled[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&compiled[0], bytes).unwrap();
    let o = polyrun_env(&["run", "-l", "ruby", "-e", "puts 6 * 7"], "", &env);
    assert_eq!(text(&o.stdout), "42\n", "{}", text(&o.stderr));

    let o = polyrun_env(&["fetch", "cobol"], "", &env);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn four_first_runs_at_once_compile_the_module_once() {
    // A fresh cache that holds the downloaded ruby.wasm but no compiled module.
    let o = polyrun(&["fetch", "ruby"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let artifact = polyrun_packaging::artifact("ruby").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let to = polyrun_packaging::Cache::at(cache.path()).path_of(artifact);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(polyrun_packaging::Cache::from_env().path_of(artifact), &to).unwrap();
    let dir = cache.path().to_str().unwrap().to_string();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                polyrun_env(
                    &["run", "-l", "ruby", "--timeout", "300s", "-e", "puts 6 * 7"],
                    "",
                    &[("POLYRUN_CACHE", dir.as_str())],
                )
            })
        })
        .collect();
    let outputs: Vec<_> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    for o in &outputs {
        assert_eq!(text(&o.stdout), "42\n", "{}", text(&o.stderr));
    }
    // One compiled; the others waited for it ("waiting for another process compiling ruby"),
    // or came after it and loaded what it wrote.
    let compiled = outputs
        .iter()
        .filter(|o| text(&o.stderr).contains("compiling ruby (first use"))
        .count();
    assert_eq!(
        compiled,
        1,
        "{:?}",
        outputs.iter().map(|o| text(&o.stderr)).collect::<Vec<_>>()
    );
    let modules = std::fs::read_dir(cache.path().join("compiled"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(modules, 1);
}

#[test]
fn helper_replies_a_guest_never_reads_stop_it_at_its_memory_limit() {
    // Raw call frames on stderr, never reading the replies from stdin: the host keeps at most
    // a bounded amount of them, then stops the guest (it used to hold every reply: GBs).
    let dir = std::env::temp_dir().join(format!("polyrun-replies-{}", std::process::id()));
    let vars = dir.join("v.sqlite3");
    let code = r#"Polyrun.set_variable("big", "v" * (1 << 20)); 100.times { $stderr.write("\x02polyrun-call:{\"op\":\"get_variable\",\"name\":\"big\"}\n") }; puts "done""#;
    let o = polyrun_env(
        &["run", "--lang", "ruby", "--timeout", "30s", "-e", code],
        "",
        &[("POLYRUN_VARIABLES", vars.to_str().unwrap())],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("memory limit"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(text(&o.stdout), "");
}
