//! # polyrun-php
//!
//! PHP for polyrun: PHP 8.2's CLI compiled to WebAssembly (wasm32-wasi) from Debian's `php8.2`
//! source by the recipe in `packaging/php/` (built on first use, or by `polyrun fetch php`),
//! hosted on [`polyrun_wasi`]. setjmp/longjmp are WebAssembly exceptions, so fatal errors,
//! `exit()` and uncaught exceptions unwind as in native PHP: shutdown functions run and output
//! buffers are flushed.
//!
//! Every run is one WASI command: `php -n -d ... -r PRELUDE -- NONCE FILE MODE CODE` in a new
//! instance. The prelude (`src/prelude.php`) evals the user's code at the top level (with or
//! without `<?php`, lines as the user wrote them), prints warnings on stderr, and writes a
//! report line (the uncaught exception or fatal error) to stderr after the user's shutdown
//! functions; the host takes that line out of the stream by its per-run nonce.
//!
//! The adapter is written once against the [`polyrun_wasi`] seam: natively (feature `native`,
//! the default) on wasmtime, in the browser bundle (feature `browser`) on the page's
//! WebAssembly engine — the same arguments, prelude, report and outcomes in both.
//!
//! Limits: `memory_limit` is the run's memory limit (PHP's own fatal error, reported as the
//! memory limit) and linear memory is capped [`MEMORY_HEADROOM`] above it; time and cancel
//! through wasmtime epochs and interruptible sleeps. Nothing of the host is visible: no
//! preopened directory, no environment, no sockets or processes (the build has none).

use polyrun_engine::{
    Capabilities, Diagnostic, Error, LoadContext, Outcome, Registry, RunIo, RunRequest, Runtime,
    RuntimeDescriptor,
};
use polyrun_wasi::{CallError, IoSlot, WasiConfig, WasiModule};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

/// Where the module comes from: built from source into the packaging cache and compiled by
/// wasmtime natively, the worker in the browser.
#[cfg(feature = "native")]
#[path = "native.rs"]
mod platform;
#[cfg(all(feature = "browser", not(feature = "native")))]
#[path = "browser.rs"]
mod platform;

#[cfg(not(any(feature = "native", feature = "browser")))]
compile_error!("enable feature `native` (wasmtime) or `browser` (the bundle)");

#[cfg(feature = "native")]
pub use platform::prepare;

/// The name of the module in the site's artifacts (and of the packaging recipe).
pub const ARTIFACT: &str = "php";

/// The build variant this backend runs: WebAssembly exceptions in the final (exnref)
/// encoding, which wasmtime implements.
pub const VARIANT: &str = "exnref";

/// Linear memory allowed above PHP's `memory_limit`: the 8 MiB C stack, static data and what
/// is allocated outside PHP's heap.
pub const MEMORY_HEADROOM: u64 = 32 << 20;

const PRELUDE: &str = include_str!("prelude.php");

/// The descriptor this crate registers.
pub const DESCRIPTOR: RuntimeDescriptor = RuntimeDescriptor {
    id: "php",
    name: "PHP",
    aliases: &["php8"],
    extensions: &["php"],
    backend: "php.wasm",
    version: "PHP 8.2 (Debian php8.2 source, built for WASI)",
    capabilities: Capabilities {
        preemptible: true,
        memory_limit: true,
        stdin: true,
        sessions: false,
    },
    load,
    prepare: platform::PREPARE,
};

/// Adds PHP to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(DESCRIPTOR);
}

fn load(ctx: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Ok(Box::new(PhpRuntime::new(ctx)?))
}

/// How the prelude evaluates the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// PHP code without an opening tag.
    Code,
    /// A PHP file: text, with `<?php ... ?>` blocks.
    Template,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Code => "code",
            Mode::Template => "template",
        }
    }
}

/// The code as the prelude gets it, and how to eval it. A byte-order mark goes; a `#!` line
/// is blanked (lines keep their numbers). Code that opens with `<?php` is bare code after that
/// tag (so `declare(strict_types=1)` and `namespace` may come first, as in a file); other code
/// starting with `<` or holding a `<?php` tag is a template; anything else is bare code.
fn source(code: &str) -> (String, Mode) {
    let mut code = code.strip_prefix('\u{feff}').unwrap_or(code);
    let mut lead = "";
    if code.starts_with("#!") {
        (lead, code) = match code.find('\n') {
            Some(nl) => ("\n", &code[nl + 1..]),
            None => ("", ""),
        };
    }
    if code.len() >= 5 && code.as_bytes()[..5].eq_ignore_ascii_case(b"<?php") {
        let rest = &code[5..];
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            return (format!("{lead}{rest}"), Mode::Code);
        }
    }
    let template = code.trim_start().starts_with('<') || code.contains("<?php");
    (
        format!("{lead}{code}"),
        if template { Mode::Template } else { Mode::Code },
    )
}

/// A fresh random nonce: the report line is only taken when it carries this run's.
fn nonce() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        web_time::SystemTime::now()
            .duration_since(web_time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// The outcome from how `_start` ended and the prelude's report line (the engine's `Outcome`
/// as JSON), if the prelude could write one.
fn outcome_of(ended: Result<(), CallError>, report: Option<&[u8]>) -> Outcome {
    let status = match ended {
        Ok(()) => 0,
        Err(CallError::Exit(code)) => code,
        Err(CallError::Stopped(i)) => return Outcome::from_interrupt(i),
        Err(CallError::Trap(t)) => {
            return Outcome::Crashed {
                reason: format!("the PHP VM trapped: {t}"),
            };
        }
    };
    let report = report
        .map(|r| polyrun_engine::report::outcome(&String::from_utf8_lossy(r), "the PHP prelude"));
    match report {
        Some(Outcome::Completed { .. }) if status != 0 => Outcome::Error {
            diagnostic: Diagnostic::new("SystemExit", format!("exit status {status}")),
        },
        Some(outcome) => outcome,
        None if status == 0 => Outcome::Completed { value: None },
        None => Outcome::Error {
            diagnostic: Diagnostic::new(
                "Fatal error",
                format!("PHP stopped (exit status {status}) before it could report why"),
            ),
        },
    }
}

/// A PHP backend instance. Each run is a fresh WASI instance of the shared compiled module.
pub struct PhpRuntime {
    module: Arc<dyn WasiModule>,
    slot: IoSlot,
}

impl std::fmt::Debug for PhpRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhpRuntime").finish_non_exhaustive()
    }
}

impl PhpRuntime {
    /// Loads the module (building and compiling php.wasm on first use).
    pub fn new(ctx: &LoadContext) -> Result<Self, Error> {
        Ok(PhpRuntime {
            module: platform::module(ctx)?,
            slot: IoSlot::new(),
        })
    }

    fn execute(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        let (code, mode) = source(&request.code);
        let nonce = nonce();
        let memory_limit = match request.limits.memory_bytes {
            Some(bytes) => bytes.to_string(),
            None => "-1".to_string(),
        };
        let mut args: Vec<String> = ["php", "-n"].map(String::from).to_vec();
        for setting in [
            "display_errors=0".to_string(),
            "log_errors=0".to_string(),
            "html_errors=0".to_string(),
            "error_reporting=-1".to_string(),
            "max_execution_time=0".to_string(),
            format!("memory_limit={memory_limit}"),
        ] {
            args.push("-d".into());
            args.push(setting);
        }
        args.extend([
            "-r".to_string(),
            PRELUDE.to_string(),
            "--".to_string(),
            nonce.clone(),
            request.file_name("main.php").to_string(),
            mode.as_str().to_string(),
            code,
        ]);
        let config = WasiConfig {
            args,
            ..WasiConfig::default()
        };
        self.slot
            .capture(format!("\x01polyrun:{nonce}:").as_bytes());
        let mut inst = self.module.instantiate(&config, &self.slot)?;
        inst.set_run(
            Some(io.control()),
            request
                .limits
                .memory_bytes
                .map(|m| m.saturating_add(MEMORY_HEADROOM)),
        );
        let ended = inst.call("_start", &[]).map(drop);
        let report = self.slot.take_captured();
        Ok(outcome_of(ended, report.as_deref()))
    }
}

impl Runtime for PhpRuntime {
    fn run(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        self.slot.set(Some(io.clone()));
        let outcome = self.execute(request, io);
        self.slot.set(None);
        outcome
    }

    fn reset(&mut self) -> Result<(), Error> {
        // Every run has a fresh instance already.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyrun_engine::{Interrupt, LimitKind};

    #[test]
    fn code_and_templates_are_told_apart_and_lines_kept() {
        let s = |code: &str| {
            let (c, m) = source(code);
            (c, m)
        };
        assert_eq!(s("echo 1;"), ("echo 1;".into(), Mode::Code));
        assert_eq!(s("<?php\necho 1;"), ("\necho 1;".into(), Mode::Code));
        assert_eq!(
            s("<?PHP echo 1; ?>\nhi"),
            (" echo 1; ?>\nhi".into(), Mode::Code)
        );
        assert_eq!(s("\u{feff}<?php"), (String::new(), Mode::Code));
        assert_eq!(s("  <?php echo 1;").1, Mode::Template);
        assert_eq!(s("<h1><?= 1 ?></h1>").1, Mode::Template);
        assert_eq!(s("Hi <?php echo 2;").1, Mode::Template);
        assert_eq!(s("<?phpx").1, Mode::Template);
        assert_eq!(
            s("#!/usr/bin/env php\n<?php\necho 1;"),
            ("\n\necho 1;".into(), Mode::Code)
        );
        assert_eq!(s("#!/usr/bin/env php\nHi").1, Mode::Code);
    }

    #[test]
    fn reports_become_outcomes() {
        let report = |json: &'static str| Some(json.as_bytes());
        let e = outcome_of(
            Ok(()),
            report(
                r#"{"status":"error","diagnostic":{"kind":"Exception","message":"boom","line":4,"frames":[{"function":"{main}","line":4}]}}"#,
            ),
        );
        let Outcome::Error { diagnostic } = e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (diagnostic.kind.as_str(), diagnostic.line),
            ("Exception", Some(4))
        );
        assert_eq!(diagnostic.frames[0].function.as_deref(), Some("{main}"));
        let m = outcome_of(
            Err(CallError::Exit(255)),
            report(r#"{"status":"limit_exceeded","limit":"memory"}"#),
        );
        assert_eq!(
            m,
            Outcome::from_interrupt(Interrupt::Limit(LimitKind::Memory))
        );
        let done = report(r#"{"status":"completed","value":null}"#);
        assert!(outcome_of(Ok(()), done).is_completed());
        let x = outcome_of(Err(CallError::Exit(3)), done);
        assert!(format!("{x:?}").contains("exit status 3"), "{x:?}");
        let lost = outcome_of(Err(CallError::Exit(255)), None);
        assert!(format!("{lost:?}").contains("exit status 255"), "{lost:?}");
        let garbled = outcome_of(Ok(()), report("{"));
        assert!(
            format!("{garbled:?}").contains("unreadable report"),
            "{garbled:?}"
        );
    }
}
