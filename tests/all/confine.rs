//! Worker confinement (Linux): `polyrun worker` confines itself and says so, and a worker whose
//! backend is compromised — simulated by a backend that makes raw system calls, which no real
//! guest can — is stopped by the confinement: killed for `execve`, a socket, a new process,
//! tracing or signalling its parent; refused for files outside its policy.

use polyrun::engine::{
    Capabilities, Error, LoadContext, Outcome, Prepare, PrepareReport, Registry, RunIo, RunRequest,
    Runtime, RuntimeDescriptor, Stream,
};
use polyrun::manager::confine::{self, KILLED_BY_CONFINEMENT, Policy};
use polyrun::{Isolation, RunSpec, RuntimeManager, WorkerCommand};
use std::ffi::CString;
use std::io::BufRead;
use std::path::PathBuf;

const ENTRY: &str = "confine::hostile_worker_entry";
const DIR_ENV: &str = "POLYRUN_TEST_HOSTILE_DIR";

/// The backend a guest that escaped its interpreter would be: each line is a raw system call.
struct Hostile;

const HOSTILE: RuntimeDescriptor = RuntimeDescriptor {
    id: "hostile",
    name: "Hostile",
    aliases: &[],
    extensions: &["hostile"],
    backend: "raw-syscalls",
    version: "test",
    capabilities: Capabilities {
        preemptible: false,
        memory_limit: false,
        stdin: false,
        sessions: false,
    },
    load: |_: &LoadContext| Ok(Box::new(Hostile) as Box<dyn Runtime>),
    prepare: None,
};

/// The same backend with a `prepare` whose readiness checks are counted (in the manager's
/// process: the worker never prepares).
const PREPARED: RuntimeDescriptor = RuntimeDescriptor {
    backend: "raw-syscalls-prepared",
    prepare: Some(Prepare {
        run: |_: &LoadContext| Ok(PrepareReport::default()),
        ready: counted_ready,
    }),
    ..HOSTILE
};

static READY_CHECKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn counted_ready() -> bool {
    READY_CHECKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    true
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(HOSTILE);
    registry.register(PREPARED);
    registry
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn open(path: &str, flags: libc::c_int) -> String {
    let p = CString::new(path).unwrap();
    // SAFETY: a raw openat of a valid C string.
    let fd = unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, p.as_ptr(), flags, 0o600) };
    if fd < 0 {
        return format!("errno {}", errno());
    }
    // SAFETY: `fd` was just opened.
    unsafe { libc::close(fd as i32) };
    "opened".into()
}

impl Runtime for Hostile {
    fn run(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        for line in request.code.lines() {
            let (what, arg) = line.split_once(' ').unwrap_or((line, ""));
            // SAFETY (all arms): raw system calls with valid arguments; a forked child exits
            // at once.
            let result = match what {
                "read" => open(arg, libc::O_RDONLY),
                "create" => open(arg, libc::O_WRONLY | libc::O_CREAT),
                "exec" => {
                    let prog = CString::new("/bin/true").unwrap();
                    let argv = [prog.as_ptr(), std::ptr::null()];
                    let envp = [std::ptr::null::<libc::c_char>()];
                    unsafe {
                        libc::syscall(
                            libc::SYS_execve,
                            prog.as_ptr(),
                            argv.as_ptr(),
                            envp.as_ptr(),
                        )
                    };
                    format!("execve returned, errno {}", errno())
                }
                "socket" => {
                    let fd = unsafe {
                        libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0)
                    };
                    format!("socket {fd}")
                }
                "fork" => {
                    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
                    if pid == 0 {
                        unsafe { libc::_exit(0) };
                    }
                    format!("forked {pid}")
                }
                "ptrace" => {
                    let r = unsafe {
                        libc::syscall(libc::SYS_ptrace, libc::PTRACE_ATTACH, libc::getppid(), 0, 0)
                    };
                    format!("ptrace {r}")
                }
                "kill" => {
                    let r = unsafe { libc::syscall(libc::SYS_kill, libc::getppid(), 0) };
                    format!("kill {r}")
                }
                _ => format!("unknown {what}"),
            };
            let _ = io.write(Stream::Stdout, &format!("{line}: {result}\n"));
        }
        Ok(Outcome::Completed { value: None })
    }

    fn reset(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// Not a test: the entry point of the hostile worker process, which this test binary becomes
/// when started with `--ignored --exact confine::hostile_worker_entry` and [`DIR_ENV`] set.
#[test]
#[ignore = "the hostile worker's entry point, started by the tests below"]
fn hostile_worker_entry() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    confine::confine_process(&Policy {
        read: vec![PathBuf::from(&dir).join("readable")],
        write: vec![PathBuf::from(&dir).join("writable")],
        data_bytes: confine::DEFAULT_DATA_BYTES,
    });
    let registry = registry();
    let stdin = std::io::stdin();
    let code =
        match polyrun::manager::worker_server::serve(registry, stdin.lock(), std::io::stdout()) {
            Ok(()) => 0,
            Err(_) => 3,
        };
    std::process::exit(code);
}

fn hostile_manager(dir: &std::path::Path) -> RuntimeManager {
    let registry = registry();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = WorkerCommand::new(exe).env(DIR_ENV, dir.to_str().unwrap());
    cmd.args = [
        "--ignored",
        "--exact",
        ENTRY,
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]
    .map(String::from)
    .to_vec();
    RuntimeManager::builder()
        .registry(registry)
        .isolation(Isolation::Worker)
        .worker_command(cmd)
        .build()
}

fn run(m: &RuntimeManager, code: &str) -> (String, Outcome) {
    run_on(m, RunSpec::new("hostile", code))
}

fn run_on(m: &RuntimeManager, spec: RunSpec) -> (String, Outcome) {
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let o2 = out.clone();
    let r = m
        .run(spec.on_event(move |e| {
            if let polyrun::Event::Stdout { text } = e {
                o2.lock().unwrap().push_str(&text);
            }
        }))
        .unwrap();
    let out = out.lock().unwrap().clone();
    (out, r.outcome)
}

#[test]
fn a_compromised_backend_is_stopped_by_the_workers_confinement() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["readable", "writable"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    std::fs::write(dir.path().join("readable/file"), "x").unwrap();
    std::fs::write(dir.path().join("secret"), "host file").unwrap();
    let path = |p: &str| dir.path().join(p).display().to_string();
    let m = hostile_manager(dir.path());

    // Files: inside the policy allowed, outside refused (EACCES), whatever the mode bits say.
    let (out, outcome) = run(
        &m,
        &format!(
            "read {}\ncreate {}\nread {}\nread /etc/hostname\ncreate {}\ncreate {}",
            path("readable/file"),
            path("writable/new"),
            path("secret"),
            path("readable/new"),
            path("planted"),
        ),
    );
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    let lines: Vec<_> = out
        .lines()
        .map(|l| l.rsplit(": ").next().unwrap())
        .collect();
    let denied = format!("errno {}", libc::EACCES);
    assert_eq!(
        lines,
        ["opened", "opened", &denied, &denied, &denied, &denied],
        "{out}"
    );
    assert!(!dir.path().join("planted").exists());

    // Every forbidden call kills the worker, the run says why, and the next run gets a new
    // worker.
    for call in ["exec", "socket", "fork", "ptrace", "kill"] {
        let (out, outcome) = run(&m, call);
        match outcome {
            Outcome::Crashed { reason } => {
                assert!(reason.contains(KILLED_BY_CONFINEMENT), "{call}: {reason}")
            }
            other => panic!("{call} was not stopped: {other:?} (printed {out:?})"),
        }
        assert_eq!(out, "", "{call} returned to the guest");
    }
    let (out, _) = run(&m, &format!("read {}", path("readable/file")));
    assert!(out.ends_with(": opened\n"), "{out}");
}

#[test]
fn a_backend_is_checked_for_readiness_once_and_again_after_its_worker_was_killed() {
    let dir = tempfile::tempdir().unwrap();
    let m = hostile_manager(dir.path());
    let checks = || READY_CHECKS.load(std::sync::atomic::Ordering::SeqCst);
    let spec = |code: &str| RunSpec::new("hostile", code).backend("raw-syscalls-prepared");
    let (out, _) = run_on(&m, spec("read /"));
    assert!(out.starts_with("read /:"), "{out}");
    assert_eq!(checks(), 1, "checked before the first run");
    run_on(&m, spec("read /"));
    assert_eq!(checks(), 1, "remembered once ready");
    let (_, outcome) = run_on(&m, spec("exec"));
    assert!(matches!(outcome, Outcome::Crashed { .. }), "{outcome:?}");
    run_on(&m, spec("read /"));
    assert_eq!(checks(), 2, "checked again after a confinement kill");
}

#[test]
fn polyrun_worker_confines_itself_and_says_so() {
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_polyrun"))
        .arg("worker")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(worker.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    drop(worker.stdin.take());
    worker.wait().unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let c: confine::Confinement =
        serde_json::from_value(ready["capabilities"]["confinement"].clone()).unwrap();
    // Landlock where this kernel has it (ABI version query).
    // SAFETY: landlock_create_ruleset's version query takes no pointers.
    let landlock = unsafe { libc::syscall(444, std::ptr::null::<u8>(), 0, 1) } > 0;
    let mut expected = vec!["rlimits", "no-new-privs", "seccomp"];
    if landlock {
        expected.push("landlock");
    }
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        expected.push("capabilities-dropped");
    }
    for layer in expected {
        assert!(c.has(layer), "{layer} missing: {c:?}");
    }
}
