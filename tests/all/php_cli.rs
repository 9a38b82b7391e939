//! PHP through the CLI and the manager, end to end. php.wasm is built from Debian's source by
//! polyrun-packaging's recipe the first time (cached in the user's cache afterwards).

use crate::common::{manager, polyrun_stdin as polyrun, text};
use polyrun::{Isolation, RunSpec};
use std::time::{Duration, Instant};

#[test]
fn fetch_builds_once_then_does_nothing() {
    let o = polyrun(&["fetch", "php"], "");
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("debian php8.2"), "{out}");
    let o = polyrun(&["fetch", "php"], "");
    let out = text(&o.stdout);
    assert!(out.contains("already built, checksum verified"), "{out}");
    assert!(out.contains("compiled module: already cached"), "{out}");
    assert!(out.contains("nothing to do"), "{out}");
    let o = polyrun(&["fetch", "--list"], "");
    let out = text(&o.stdout);
    assert!(out.contains("php") && out.contains("built at"), "{out}");
    let o = polyrun(&["fetch", "--list", "--json"], "");
    let php: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["name"] == "php")
        .collect();
    assert_eq!(php.len(), 1, "{}", text(&o.stdout));
    assert_eq!(php[0]["kind"], "built");
    let path = php[0]["path"].as_str().expect("php.wasm is built");
    assert_eq!(
        polyrun_packaging::sha256_file(std::path::Path::new(path)).unwrap(),
        php[0]["sha256"].as_str().unwrap()
    );
    let o = polyrun(&["langs"], "");
    assert!(text(&o.stdout).contains("php"), "{}", text(&o.stdout));
}

#[test]
fn hello_errors_shutdown_timeout_memory_and_sandbox_through_the_cli() {
    let o = polyrun(&["run", "examples/hello.php"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "Hello from polyrun!\n1. JavaScript\n2. Lua\n3. Python\n4. Ruby\n5. PHP\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("boom.php");
    std::fs::write(
        &file,
        "<?php\necho \"one\\n\";\nfunction f() {\n    throw new Exception(\"boom\");\n}\nf();\n",
    )
    .unwrap();
    let o = polyrun(&["run", file.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stdout), "one\n");
    let err = text(&o.stderr);
    assert!(
        err.starts_with(&format!("{}:4: Exception: boom", file.display())),
        "{err}"
    );

    // A shutdown function still runs after a fatal error.
    let o = polyrun(
        &[
            "run",
            "-l",
            "php",
            "-e",
            "register_shutdown_function(function () { echo \"cleanup\\n\"; });\nnope();",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stdout), "cleanup\n");
    assert!(
        text(&o.stderr).contains("2: Error: Call to undefined function nope()"),
        "{}",
        text(&o.stderr)
    );

    let o = polyrun(
        &["run", "-l", "php", "-e", "echo fgets(STDIN) * 2;"],
        "21\n",
    );
    assert_eq!(text(&o.stdout), "42");

    let start = Instant::now();
    let o = polyrun(
        &["run", "-l", "php", "-e", "while(true){}", "--timeout", "1s"],
        "",
    );
    assert_eq!(o.status.code(), Some(124));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    let o = polyrun(
        &[
            "run",
            "-l",
            "php",
            "-e",
            "$s = str_repeat(\"x\", 1<<30);",
            "--memory",
            "128MiB",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(125), "{}", text(&o.stderr));

    let o = polyrun(
        &[
            "run",
            "-l",
            "php",
            "-e",
            "var_dump(file_get_contents('/etc/passwd'), scandir('/'), shell_exec('id'), getenv());",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "bool(false)\nbool(false)\nbool(false)\narray(0) {\n}\n"
    );
    let err = text(&o.stderr);
    assert!(!err.contains("root:"), "{err}");
}

#[test]
fn the_manager_runs_php_in_process_and_in_workers_and_refuses_sessions() {
    let m = manager();
    for iso in [Isolation::Auto, Isolation::InProcess, Isolation::Worker] {
        let r = m
            .run(RunSpec::new("php", "echo 'hi ', PHP_MAJOR_VERSION;").isolation(iso))
            .unwrap();
        assert!(r.outcome.is_completed(), "{iso:?}: {:?}", r.outcome);
        if iso == Isolation::Auto {
            assert_eq!(r.isolation, Isolation::InProcess, "PHP is preemptible");
        }
    }
    let e = m.session("php", None).unwrap_err();
    assert!(e.to_string().contains("no sessions"), "{e}");
}
