//! The `polyrun` command line: `polyrun run FILE`, `polyrun run --lang L -e CODE`,
//! `polyrun pipeline run FLOW.yaml`, `polyrun langs`, `polyrun fetch`, `polyrun serve`,
//! `polyrun worker`.

// The HTTP server is the `server` feature (default); without it `serve` says so.
#[cfg_attr(feature = "server", path = "polyrun/serve.rs")]
#[cfg_attr(not(feature = "server"), path = "polyrun/serve_off.rs")]
mod serve;

#[path = "polyrun/pipeline.rs"]
mod pipeline;

use clap::{Parser, Subcommand, ValueEnum};
use polyrun::{Diagnostic, Error, Event, Isolation, LimitKind, Limits, Outcome, RunSpec, Stdin};
use polyrun_manager::alloc::{self, CountingAlloc};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Exit statuses (documented in the README).
mod exit {
    pub const OK: u8 = 0;
    pub const GUEST_ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INTERNAL: u8 = 3;
    pub const TIME: u8 = 124;
    pub const MEMORY_OR_OUTPUT: u8 = 125;
    pub const CANCELLED: u8 = 130;
}

#[derive(Parser, Debug)]
#[command(
    name = "polyrun",
    version,
    about = "Run untrusted code in many languages, with hard limits."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a program from a file (language from its extension) or from -e CODE.
    Run(RunArgs),
    /// List the languages of this build.
    Langs {
        /// One JSON object per language.
        #[arg(long)]
        json: bool,
    },
    /// Run multi-language pipelines (`polyrun pipeline run flow.yaml`).
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCmd),
    /// Serve the HTTP API (REST + WebSocket/SSE streaming) and the playground page.
    Serve(serve::ServeArgs),
    /// Serve the worker protocol (JSON lines) on stdin/stdout; used by the manager.
    Worker,
    /// Download (or build from source), verify and precompile what languages need (all of them
    /// by default).
    Fetch {
        /// Languages to prepare (ids or aliases); all by default.
        langs: Vec<String>,
        /// List the pinned and the built-from-source artifacts and whether they are cached, and
        /// fetch nothing.
        #[arg(long)]
        list: bool,
        /// With --list: one JSON object per artifact (name, kind, version, file, path when
        /// present, sha256, size), for site builders and scripts.
        #[arg(long, requires = "list")]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum IsolationArg {
    /// In process for preemptible backends, in a worker for the others.
    Auto,
    /// In this process (same as --inline).
    Inline,
    /// In a worker process.
    Worker,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The program file.
    #[arg(required_unless_present = "code")]
    file: Option<PathBuf>,
    /// Language (id, alias or extension); required with -e.
    #[arg(short, long)]
    lang: Option<String>,
    /// The backend to run on (see `polyrun langs`); default: the language's default.
    #[arg(long)]
    backend: Option<String>,
    /// Run CODE instead of a file.
    #[arg(
        short = 'e',
        long = "eval",
        value_name = "CODE",
        conflicts_with = "file"
    )]
    code: Option<String>,
    /// Wall-clock limit: 2s, 500ms, 1.5s, 1m; 0 for none [default: the engine's, 10s].
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Memory limit: 64MiB, 512K, 1G (binary units), 1MB (decimal); 0 for none [default: the
    /// engine's, 256MiB].
    #[arg(long, value_parser = parse_size)]
    memory: Option<u64>,
    /// Limit on stdout + stderr bytes; 0 for none [default: the engine's, 1MiB].
    #[arg(long = "max-output", value_parser = parse_size)]
    max_output: Option<u64>,
    /// Print one JSON event per line, then a done line with the outcome.
    #[arg(long)]
    json: bool,
    /// Run in this process, without a worker.
    #[arg(long, conflicts_with = "isolation")]
    inline: bool,
    /// Where to run.
    #[arg(long, value_enum)]
    isolation: Option<IsolationArg>,
    /// Print the value of the program's last expression, if any.
    #[arg(short = 'p', long = "print-value")]
    print_value: bool,
    #[command(flatten)]
    input: pipeline::InputArgs,
    /// The namespace of the program's variables (`polyrun.getVariable`).
    #[arg(long)]
    namespace: Option<String>,
    /// Print what the program published with `polyrun.output(value)`, as JSON, at its end.
    #[arg(long)]
    print_output: bool,
}

/// Splits `1.5MiB` into `(1.5, "MiB")`; `what` names the expected kind of value in errors.
fn split_number<'a>(s: &'a str, what: &str) -> Result<(f64, &'a str), String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not {what}"))?;
    Ok((n, unit.trim()))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = split_number(s, "a duration (try 2s, 500ms)")?;
    let secs = match unit {
        "" | "s" | "sec" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("unknown duration unit `{u}` (use ms, s, m, h)")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (n, unit) = split_number(s, "a size (try 64MiB)")?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        u => {
            return Err(format!(
                "unknown size unit `{u}` (use KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    let v = n * mult;
    if !v.is_finite() || !(0.0..=u64::MAX as f64).contains(&v) {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(v as u64)
}

/// The terminal's stdin, line by line.
struct TermStdin;

impl Stdin for TermStdin {
    fn read_line(&mut self) -> Option<String> {
        polyrun::engine::read_guest_line(&mut std::io::stdin().lock())
    }
}

/// Progress events on stderr: a bar (or spinner) on a terminal, one line per stage otherwise.
struct ProgressView {
    current: Mutex<Option<(String, indicatif::ProgressBar)>>,
    terminal: bool,
}

fn progress_view() -> &'static ProgressView {
    static VIEW: OnceLock<ProgressView> = OnceLock::new();
    VIEW.get_or_init(|| ProgressView {
        current: Mutex::new(None),
        terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    })
}

impl ProgressView {
    fn show(&self, stage: &str, done: u64, total: Option<u64>) {
        use indicatif::{ProgressBar, ProgressStyle};
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.as_ref().is_none_or(|(s, _)| s != stage) {
            if let Some((_, bar)) = cur.take() {
                bar.finish_and_clear();
            }
            if !self.terminal {
                eprintln!("polyrun: {stage}...");
            }
            let bar = match total {
                Some(t) => ProgressBar::new(t).with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            if !self.terminal {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            bar.set_message(stage.to_string());
            *cur = Some((stage.to_string(), bar));
        }
        if let Some((_, bar)) = cur.as_ref() {
            match total {
                Some(_) => bar.set_position(done),
                None => bar.tick(),
            }
        }
    }

    fn finish(&self) {
        if let Some((_, bar)) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            bar.finish_and_clear();
        }
    }
}

fn fetch(langs: Vec<String>, list: bool, json: bool) -> u8 {
    if list && json {
        let cache = polyrun_packaging::Cache::from_env();
        for a in polyrun_packaging::artifacts() {
            let line = serde_json::json!({
                "name": a.name, "kind": "pinned", "group": a.group, "version": a.version, "file": a.file,
                "path": cache.cached(a), "sha256": a.sha256, "size": a.size,
            });
            println!("{line}");
        }
        for r in polyrun_packaging::recipes() {
            let built = cache.built(r, r.variants[0]);
            let line = serde_json::json!({
                "name": r.name, "kind": "built", "recipe": r.hash(), "variant": r.variants[0],
                "version": built.as_ref().map(|b| b.info.source.clone()), "file": r.file,
                "path": built.as_ref().map(|b| b.path.clone()),
                "sha256": built.as_ref().map(|b| b.info.sha256.clone()),
                "size": built.as_ref().map(|b| b.info.size),
            });
            println!("{line}");
        }
        return exit::OK;
    }
    if list {
        let cache = polyrun_packaging::Cache::from_env();
        println!("cache: {}", cache.root().display());
        for a in polyrun_packaging::artifacts() {
            let status = match cache.cached(a) {
                Some(p) => format!("cached at {}", p.display()),
                None => "not fetched".to_string(),
            };
            println!(
                "{:<8} {} — {} ({} bytes, sha256 {}…) from {} {}@{}: {status}",
                a.name,
                a.version,
                a.description,
                a.size,
                &a.sha256[..12],
                a.source.registry,
                a.source.package,
                a.source.version
            );
        }
        for r in polyrun_packaging::recipes() {
            let variant = r.variants[0];
            let status = match cache.built(r, variant) {
                Some(b) => format!("{}, built at {}", b.info.source, b.path.display()),
                None => "not built".to_string(),
            };
            println!(
                "{:<8} {} — built from source (recipe {}, {variant}): {status}",
                r.name,
                r.description,
                r.hash()
            );
        }
        return exit::OK;
    }
    let registry = polyrun::registry();
    // Besides languages, a group of artifacts by its name (`pyodide`: what the browser build
    // copies into the site).
    let mut groups = Vec::new();
    let descs: Vec<polyrun::engine::RuntimeDescriptor> = if langs.is_empty() {
        registry.descriptors().to_vec()
    } else {
        let mut out = Vec::new();
        for l in &langs {
            match registry.get(l) {
                Ok(d) => out.push(*d),
                Err(_) if !polyrun_packaging::group(l).is_empty() => groups.push(l.as_str()),
                Err(e) => return host_error(&e, false),
            }
        }
        out
    };
    let mut code = exit::OK;
    for group in groups {
        let cache = polyrun_packaging::Cache::from_env();
        for a in polyrun_packaging::group(group) {
            match cache.ensure(a, &mut |_| {}) {
                Ok((path, fetched)) => {
                    let what = match fetched {
                        polyrun_packaging::Fetched::AlreadyCached => "already cached",
                        polyrun_packaging::Fetched::Downloaded => "downloaded",
                        polyrun_packaging::Fetched::Repaired => "repaired",
                    };
                    println!(
                        "{group}: {} {} ({what}, {})",
                        a.name,
                        a.version,
                        path.display()
                    );
                }
                Err(e) => {
                    eprintln!("polyrun: {group}: {}: {e}", a.name);
                    code = exit::INTERNAL;
                }
            }
        }
    }
    for d in descs {
        let Some(prepare) = d.prepare else {
            if !langs.is_empty() {
                println!("{}: nothing to fetch (built in)", d.id);
            }
            continue;
        };
        let ctx = polyrun::engine::LoadContext::with_progress(Arc::new(|e| {
            if let Event::Progress { stage, done, total } = e {
                progress_view().show(&stage, done, total);
            }
        }));
        let result = (prepare.run)(&ctx);
        progress_view().finish();
        match result {
            Ok(report) => {
                for line in &report.lines {
                    println!("{}: {line}", d.id);
                }
                if !report.did_work {
                    println!("{}: nothing to do, everything was already in place", d.id);
                }
            }
            Err(e) => {
                eprintln!("polyrun: {}: {e}", d.id);
                code = exit::INTERNAL;
            }
        }
    }
    code
}

/// Ctrl-C cancels the run (exit 130) instead of killing polyrun: signal-hook turns the
/// signal into a wake-up of a thread that sleeps until it comes (no polling).
fn cancel_on_sigint(control: polyrun::RunControl) {
    match signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    control.cancel();
                }
            });
        }
        Err(e) => eprintln!("polyrun: Ctrl-C will not cancel the run: {e}"),
    }
}

fn nonzero<T: PartialEq + Default>(v: T) -> Option<T> {
    if v == T::default() { None } else { Some(v) }
}

fn host_error(e: &Error, json: bool) -> u8 {
    let code = match e {
        Error::UnknownLanguage { .. } | Error::UnknownBackend { .. } | Error::InvalidRequest(_) => {
            exit::USAGE
        }
        _ => exit::INTERNAL,
    };
    if json {
        let mut line = serde_json::to_value(e.to_wire()).unwrap_or_default();
        line["type"] = "error".into();
        line["exit_code"] = code.into();
        println!("{line}");
    } else {
        eprintln!("polyrun: {e}");
    }
    code
}

fn print_diagnostic(d: &Diagnostic, file: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", d.render(file));
    for f in d.frames.iter().skip(1) {
        let name = f.function.as_deref().unwrap_or("<main>");
        match (f.line, f.column) {
            (Some(l), Some(c)) => {
                let _ = writeln!(err, "    at {name} ({file}:{l}:{c})");
            }
            (Some(l), None) => {
                let _ = writeln!(err, "    at {name} ({file}:{l})");
            }
            (None, _) => {
                let _ = writeln!(err, "    {name}");
            }
        }
    }
}

fn run(args: RunArgs) -> u8 {
    let json = args.json;
    let (code, display_name, filename) = match (&args.code, &args.file) {
        (Some(code), _) => (code.clone(), "-e".to_string(), None),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(code) => {
                let p = path.display().to_string();
                (code, p.clone(), Some(p))
            }
            Err(e) => {
                let e = Error::InvalidRequest(format!("cannot read {}: {e}", path.display()));
                return host_error(&e, json);
            }
        },
        (None, None) => unreachable!("clap requires FILE or -e"),
    };
    if args.code.is_some() && args.lang.is_none() {
        return host_error(&Error::InvalidRequest("-e needs --lang".into()), json);
    }
    let manager = match polyrun::manager() {
        Ok(m) => m,
        Err(e) => return host_error(&e, json),
    };
    let isolation = match (args.inline, args.isolation) {
        (true, _) | (_, Some(IsolationArg::Inline)) => Isolation::InProcess,
        (_, Some(IsolationArg::Worker)) => Isolation::Worker,
        _ => Isolation::Auto,
    };
    // One source of the defaults: the engine's `Limits::default()`; 0 means no limit.
    let defaults = Limits::default();
    let limits = Limits {
        wall_time: args.timeout.map_or(defaults.wall_time, nonzero),
        memory_bytes: args.memory.map_or(defaults.memory_bytes, nonzero),
        output_bytes: args.max_output.map_or(defaults.output_bytes, nonzero),
        ..defaults
    };

    let mut spec = match &args.lang {
        Some(l) => RunSpec::new(l.clone(), code),
        None => RunSpec::code(code),
    };
    if let Some(b) = &args.backend {
        spec = spec.backend(b.clone());
    }
    if let Some(f) = filename {
        spec = spec.filename(f);
    }
    match args.input.read() {
        Ok(Some(v)) => spec = spec.input(v),
        Ok(None) => {}
        Err(e) => return host_error(&e, json),
    }
    if let Some(ns) = &args.namespace {
        spec = spec.namespace(ns.clone());
    }
    spec = spec.context(polyrun::engine::RunContext::now("cli"));
    spec = spec
        .limits(limits.clone())
        .isolation(isolation)
        .stdin(TermStdin)
        .on_event(move |e| emit(&e, json));
    cancel_on_sigint(spec.control());

    // In process, the allocation ceiling is the hard memory stop for backends that have none.
    if let (Isolation::InProcess, Some(m)) = (isolation, limits.memory_bytes) {
        let m = usize::try_from(m).unwrap_or(usize::MAX);
        let slack = (32usize << 20).max(m / 4);
        alloc::set_ceiling(
            Some(alloc::allocated().saturating_add(m).saturating_add(slack)),
            exit::MEMORY_OR_OUTPUT.into(),
        );
    }
    let result = match manager.run(spec) {
        Ok(r) => r,
        Err(e) => return host_error(&e, json),
    };
    alloc::set_ceiling(None, 0);
    progress_view().finish();

    let code = exit_code(&result.outcome);
    if json {
        let mut done = serde_json::to_value(&result).unwrap_or_default();
        done["type"] = "done".into();
        done["exit_code"] = code.into();
        println!("{done}");
        return code;
    }
    let _ = std::io::stdout().flush();
    match &result.outcome {
        Outcome::Completed { value } => {
            if args.print_value
                && let Some(text) = value.as_ref().and_then(|v| v.plain())
            {
                println!("{text}");
            }
            if args.print_output
                && let Some(output) = &result.output
            {
                println!("{output}");
            }
        }
        Outcome::Error { diagnostic } => print_diagnostic(diagnostic, &display_name),
        Outcome::LimitExceeded { limit } => {
            eprintln!(
                "polyrun: {}",
                polyrun::engine::Interrupt::Limit(*limit).describe(&limits)
            );
        }
        Outcome::Cancelled => eprintln!("polyrun: cancelled"),
        Outcome::Crashed { reason } => eprintln!("polyrun: {reason}"),
    }
    code
}

/// The exit status for an outcome (README: exit statuses).
fn exit_code(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Completed { .. } => exit::OK,
        Outcome::Error { .. } => exit::GUEST_ERROR,
        Outcome::LimitExceeded {
            limit: LimitKind::Time,
        } => exit::TIME,
        Outcome::LimitExceeded { .. } => exit::MEMORY_OR_OUTPUT,
        Outcome::Cancelled => exit::CANCELLED,
        Outcome::Crashed { .. } => exit::INTERNAL,
    }
}

fn emit(e: &Event, json: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(e) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        return;
    }
    match e {
        Event::Stdout { text } => {
            progress_view().finish();
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        Event::Stderr { text } => {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
        Event::Display { bundle } => {
            if let Some(t) = bundle.plain() {
                println!("{t}");
            }
        }
        Event::Log { level, message } if *level != polyrun::engine::LogLevel::Debug => {
            eprintln!("polyrun: {message}");
        }
        Event::Progress { stage, done, total } => progress_view().show(stage, *done, *total),
        _ => {}
    }
}

/// One line per backend (`*`: the language's default), with what it can do.
fn langs(json: bool) -> u8 {
    let registry = polyrun::registry();
    if !json {
        println!(
            "{:<12} {:<13} {:<48} {:<18} {:<20} can",
            "LANGUAGE", "BACKEND", "VERSION", "ALIASES", "EXTENSIONS"
        );
    }
    for info in registry.infos() {
        if json {
            println!("{}", serde_json::to_value(&info).unwrap_or_default());
            continue;
        }
        let c = info.capabilities;
        let can: Vec<&str> = [
            (c.preemptible, "preempt"),
            (c.memory_limit, "memory-limit"),
            (c.stdin, "stdin"),
            (c.sessions, "sessions"),
        ]
        .into_iter()
        .filter_map(|(has, name)| has.then_some(name))
        .collect();
        let exts: Vec<String> = info.extensions.iter().map(|e| format!(".{e}")).collect();
        println!(
            "{:<12} {:<13} {:<48} {:<18} {:<20} {}",
            info.language,
            format!("{}{}", info.backend, if info.default { " *" } else { "" }),
            info.version,
            info.aliases.join(", "),
            exts.join(" "),
            can.join(", ")
        );
    }
    exit::OK
}

/// For the listing commands: a closed reader (`polyrun langs --json | head -1`) ends the
/// process quietly, as it does `ls` or `cat`, instead of a panic in `println!`.
fn quiet_on_closed_pipe() {
    // SAFETY: resets one signal's disposition to the default before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Cmd::Run(args) => run(args),
        Cmd::Langs { json } => {
            quiet_on_closed_pipe();
            langs(json)
        }
        Cmd::Fetch { langs, list, json } => {
            if list {
                quiet_on_closed_pipe();
            }
            fetch(langs, list, json)
        }
        Cmd::Pipeline(cmd) => pipeline::pipeline(cmd),
        Cmd::Serve(args) => serve::serve(args),
        Cmd::Worker => match polyrun::serve_worker() {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("polyrun worker: {e}");
                exit::INTERNAL
            }
        },
    };
    ExitCode::from(code)
}
