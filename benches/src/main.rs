//! # polyrun-bench
//!
//! The benchmark harness: every program of `benches/programs/` in every language, through polyrun
//! and through the reference interpreter a user would otherwise run (node and native QuickJS for
//! JavaScript, CPython, Lua 5.4, Ruby, PHP), on the same machine in one run, interleaved so that
//! drift cancels. Every implementation must print the same checksum line. A full run writes
//! `docs/runtime_benchmarks.md` (+ `.json` and SVG charts); `--quick` only checks that every
//! program runs everywhere and the checksums agree (CI).
//!
//! `scripts/bench [--quick]` installs the references and builds what is needed.

mod browser;
mod measure;
mod programs;
mod qjs;
mod report;

use clap::{Parser, Subcommand};
use polyrun::{Event, Isolation, RunSpec};
use programs::{LANGUAGES, PROGRAMS, Runner};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(version, about = "polyrun's benchmark harness")]
struct Cli {
    /// Only check that every program runs in every implementation with the same checksum.
    #[arg(long)]
    quick: bool,
    /// Measured runs per program and implementation (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The polyrun CLI to measure (default: `polyrun` next to this executable).
    #[arg(long)]
    polyrun: Option<PathBuf>,
    /// Where the report goes (JSON and charts beside it).
    #[arg(long, default_value = "docs/runtime_benchmarks.md")]
    out: PathBuf,
    /// The browser measurements to include (written by the browser tests), if present.
    #[arg(long)]
    browser: Option<PathBuf>,
    /// The built web site (`scripts/web build`): when given, the same programs also run in
    /// Chromium through polyrun's web build and through Pyodide, ruby.wasm's JS package, Wasmoon,
    /// php-wasm and the page's own JavaScript (`benches/browser/`).
    #[arg(long)]
    site: Option<PathBuf>,
    /// Timed runs per program in the browser (after one untimed run).
    #[arg(long, default_value_t = 3)]
    browser_runs: usize,
    /// Measure only what a live manager does — warm start, throughput, idle memory, helper
    /// calls — and print it as JSON (no report): a quick before/after check of host changes.
    #[arg(long, conflicts_with_all = ["quick", "report_only"])]
    manager_only: bool,
    /// Measure nothing: write the report again from the JSON beside `--out`.
    #[arg(long, conflicts_with = "quick")]
    report_only: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a JavaScript file on native QuickJS (the harness's reference for Boa).
    Qjs {
        /// The file.
        file: PathBuf,
    },
}

/// One implementation's numbers for one program.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ImplResult {
    /// `polyrun` or the reference's name.
    pub runner: String,
    /// polyrun's language id.
    pub language: String,
    /// Median wall time of a fresh process, ms.
    pub median_ms: f64,
    /// Fastest run, ms.
    pub min_ms: f64,
    /// Slowest run, ms.
    pub max_ms: f64,
    /// Median peak RSS, MB.
    pub max_rss_mb: f64,
}

/// One program's results.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ProgramResult {
    /// Its name.
    pub name: String,
    /// What it exercises.
    pub about: String,
    /// Its size parameter.
    pub n: u32,
    /// The line every implementation printed last (the checksum).
    pub checksum: String,
    /// Every implementation.
    pub results: Vec<ImplResult>,
}

/// Warm start: run requested to first output, in a live manager.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct WarmResult {
    /// Language id.
    pub language: String,
    /// `in_process` or `worker`.
    pub isolation: String,
    /// Median, µs, runs back to back (a run may wait for the previous run's reset).
    pub median_us: f64,
    /// Fastest, µs.
    pub min_us: f64,
    /// Slowest, µs.
    pub max_us: f64,
    /// Median, µs, runs spaced by [`SPACING`]: the fresh guest state is ready when asked for.
    #[serde(default)]
    pub spaced_median_us: Option<f64>,
    /// Fastest spaced run, µs.
    #[serde(default)]
    pub spaced_min_us: Option<f64>,
    /// Slowest spaced run, µs.
    #[serde(default)]
    pub spaced_max_us: Option<f64>,
}

/// The pause before each spaced warm-start run: longer than any backend's reset (a Ruby VM
/// boots in ~40 ms), shorter than a person's pause between two runs in a playground.
pub const SPACING: Duration = Duration::from_millis(150);

/// Everything a run of the harness measured.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Results {
    /// When (UTC, from `date`).
    pub date: String,
    /// CPU, cores, memory, OS.
    pub machine: BTreeMap<String, String>,
    /// Versions of polyrun and of every reference.
    pub versions: BTreeMap<String, String>,
    /// How polyrun was built (cargo profile of the measured binary).
    pub polyrun_build: String,
    /// Runs per measurement.
    pub runs: usize,
    /// Per program.
    pub programs: Vec<ProgramResult>,
    /// Per language and isolation.
    pub warm_start: Vec<WarmResult>,
    /// Hello-world runs per second through one manager, 2 threads, in process.
    pub throughput_runs_per_s: BTreeMap<String, f64>,
    /// Resident memory added by one idle loaded instance, MB.
    pub idle_instance_mb: BTreeMap<String, f64>,
    /// Cost of one `polyrun` helper call (a set/get pair's half, SQLite store), µs, by
    /// `language/isolation`.
    #[serde(default)]
    pub helper_call_us: BTreeMap<String, f64>,
    /// The browser measurements, if the web build's tests wrote them.
    pub browser: Option<serde_json::Value>,
    /// polyrun's web build next to the browser runtimes users pick today, if it ran.
    #[serde(default)]
    pub browser_comparison: Option<browser::BrowserComparison>,
}

fn main() {
    polyrun::serve_worker_if_requested();
    let cli = Cli::parse();
    if let Some(Cmd::Qjs { file }) = &cli.command {
        std::process::exit(qjs::main(file));
    }
    let code = match run(&cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("polyrun-bench: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn sh(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .lines()
    .next()?
    .trim()
    .to_string();
    out.status.success().then_some(text)
}

/// The reference interpreters, per language; `None` when one is missing.
fn references(me: &Path) -> Vec<(Runner, Option<String>)> {
    let r = |name: &str, language: &'static str, command: &[&str], version: Option<String>| {
        (
            Runner {
                name: name.into(),
                language,
                command: command.iter().map(|s| s.to_string()).collect(),
            },
            version,
        )
    };
    let me = me.to_string_lossy().to_string();
    vec![
        r(
            "quickjs",
            "javascript",
            &[&me, "qjs"],
            Some("QuickJS-NG through rquickjs 0.14".into()),
        ),
        r(
            "node",
            "javascript",
            &["node"],
            sh("node", &["--version"]).map(|v| format!("Node.js {v}")),
        ),
        r("lua", "lua", &["lua5.4"], sh("lua5.4", &["-v"])),
        r(
            "cpython",
            "python",
            &["python3"],
            sh("python3", &["--version"]),
        ),
        r("ruby", "ruby", &["ruby"], sh("ruby", &["--version"])),
        r("php", "php", &["php"], sh("php", &["--version"])),
    ]
}

/// A directory removed when dropped (the prepared programs).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    if cli.report_only {
        let json = cli.out.with_extension("json");
        let text =
            std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
        let results: Results = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        report::write(&cli.out, &results).map_err(|e| e.to_string())?;
        println!("wrote {} from {}", cli.out.display(), json.display());
        return Ok(());
    }
    if cli.manager_only {
        let dir =
            TempDir(std::env::temp_dir().join(format!("polyrun-bench-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).map_err(|e| e.to_string())?;
        let out = serde_json::json!({
            "warm_start": warm_start()?,
            "throughput_runs_per_s": throughput()?,
            "idle_instance_mb": idle_memory()?,
            "helper_call_us": helper_calls(&dir.0)?,
        });
        println!("{out}");
        return Ok(());
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let polyrun = cli
        .polyrun
        .clone()
        .unwrap_or_else(|| me.with_file_name("polyrun"));
    if !polyrun.exists() {
        return Err(format!(
            "no polyrun CLI at {} (build it, or pass --polyrun)",
            polyrun.display()
        ));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let mut versions = BTreeMap::new();
    versions.insert(
        "polyrun".to_string(),
        format!(
            "{} ({})",
            env!("CARGO_PKG_VERSION"),
            sh("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into())
        ),
    );
    let mut runners = Vec::new();
    for (runner, version) in references(&me) {
        match version {
            Some(v) => {
                versions.insert(runner.name.clone(), v);
                runners.push(runner);
            }
            None => {
                return Err(format!(
                    "the reference `{}` is missing (scripts/bench installs it)",
                    runner.command[0]
                ));
            }
        }
    }
    // Each language's default backend, and JavaScript's second one.
    let polyrun_run = |backend: Option<&str>| {
        let mut command: Vec<String> = [
            "run",
            "--timeout",
            "0",
            "--memory",
            "2GiB",
            "--max-output",
            "0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        command.insert(0, polyrun.to_string_lossy().to_string());
        if let Some(b) = backend {
            command.extend(["--backend".to_string(), b.to_string()]);
        }
        command
    };
    for (lang, _) in LANGUAGES {
        runners.push(Runner {
            name: "polyrun".into(),
            language: lang,
            command: polyrun_run(None),
        });
    }
    runners.push(Runner {
        name: "polyrun-boa".into(),
        language: "javascript",
        command: polyrun_run(Some("boa")),
    });

    let dir = TempDir(std::env::temp_dir().join(format!("polyrun-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).map_err(|e| e.to_string())?;
    let runs = if cli.quick { 1 } else { cli.runs.max(1) };
    // samples[(program, runner index)] = wall ms and rss bytes per run.
    let mut samples: BTreeMap<(usize, usize), Vec<(f64, u64)>> = BTreeMap::new();
    let mut checksums: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
    let mut files: BTreeMap<(usize, &str), PathBuf> = BTreeMap::new();
    for (pi, p) in PROGRAMS.iter().enumerate() {
        let n = if cli.quick { p.quick } else { p.full };
        for (lang, ext) in LANGUAGES {
            let sub = dir.0.join(lang);
            std::fs::create_dir_all(&sub).map_err(|e| e.to_string())?;
            files.insert((pi, lang), programs::prepare(&root, &sub, p, lang, ext, n));
        }
    }
    let mut failures = Vec::new();
    for round in 0..runs {
        for (pi, p) in PROGRAMS.iter().enumerate() {
            for (ri, runner) in runners.iter().enumerate() {
                let file = &files[&(pi, runner.language)];
                let s = measure::run(&runner.command, file).map_err(|e| e.to_string())?;
                let who = format!("{} {}", runner.name, runner.language);
                if s.status != 0 {
                    failures.push(format!(
                        "{} on {who}: exit {}\n{}",
                        p.name,
                        s.status,
                        s.stderr.trim()
                    ));
                    continue;
                }
                if round == 0 {
                    checksums
                        .entry(pi)
                        .or_default()
                        .push((who, s.stdout.trim_end().to_string()));
                }
                samples
                    .entry((pi, ri))
                    .or_default()
                    .push((s.wall.as_secs_f64() * 1000.0, s.max_rss));
            }
            eprint!(".");
        }
        eprintln!(" round {}/{runs}", round + 1);
    }
    let mut jobs = Vec::new();
    for ((pi, lang), file) in &files {
        let code = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
        jobs.push(browser::BrowserJob {
            name: PROGRAMS[*pi].name,
            language: lang,
            code,
        });
    }
    for (pi, sums) in &checksums {
        let first = &sums[0].1;
        for (who, sum) in sums {
            if sum != first {
                failures.push(format!(
                    "{}: {who} printed\n{sum}\nbut {} printed\n{first}",
                    PROGRAMS[*pi].name, sums[0].0
                ));
            }
        }
    }
    if !failures.is_empty() {
        return Err(format!(
            "{} problem(s):\n{}",
            failures.len(),
            failures.join("\n")
        ));
    }
    let implementations = runners.len();
    println!(
        "{} programs × {} implementations: every program ran everywhere and printed the same checksum",
        PROGRAMS.len(),
        implementations
    );
    let browser_comparison = match &cli.site {
        Some(site) => {
            eprintln!(
                "in the browser (Chromium): polyrun's web build, Pyodide, ruby.wasm, Wasmoon, php-wasm"
            );
            let expected: BTreeMap<&str, String> = checksums
                .iter()
                .map(|(pi, sums)| (PROGRAMS[*pi].name, sums[0].1.clone()))
                .collect();
            let runs = if cli.quick {
                1
            } else {
                cli.browser_runs.max(1)
            };
            let c = browser::compare(site, &dir.0, &jobs, runs, &expected)?;
            if c.problems.is_empty() {
                println!(
                    "{} programs × {} browser runtimes: every program printed the same output as natively",
                    PROGRAMS.len(),
                    c.runtimes.len()
                );
            } else if cli.quick {
                return Err(format!(
                    "{} problem(s) in the browser:\n{}",
                    c.problems.len(),
                    c.problems.join("\n")
                ));
            } else {
                // A full run reports them (docs/runtime_benchmarks.md) rather than losing the rest.
                eprintln!(
                    "problems in the browser (reported):\n{}",
                    c.problems.join("\n")
                );
            }
            Some(c)
        }
        None => None,
    };
    let mut program_results = Vec::new();
    for (pi, p) in PROGRAMS.iter().enumerate() {
        let mut results = Vec::new();
        for (ri, runner) in runners.iter().enumerate() {
            let v = &samples[&(pi, ri)];
            let walls: Vec<f64> = v.iter().map(|x| x.0).collect();
            let rss: Vec<f64> = v.iter().map(|x| x.1 as f64 / 1e6).collect();
            let (median, min, max) = measure::stats(&walls);
            results.push(ImplResult {
                runner: runner.name.clone(),
                language: runner.language.to_string(),
                median_ms: median,
                min_ms: min,
                max_ms: max,
                max_rss_mb: measure::stats(&rss).0,
            });
        }
        program_results.push(ProgramResult {
            name: p.name.into(),
            about: p.about.into(),
            n: if cli.quick { p.quick } else { p.full },
            checksum: checksums[&pi][0]
                .1
                .lines()
                .last()
                .unwrap_or_default()
                .to_string(),
            results,
        });
    }
    if cli.quick {
        for p in &program_results {
            println!("  {:<12} {}", p.name, p.checksum);
        }
        return Ok(());
    }

    eprintln!("warm start, throughput, idle memory, helper calls");
    let warm_start = warm_start()?;
    let throughput = throughput()?;
    let idle = idle_memory()?;
    let helper_calls = helper_calls(&dir.0)?;
    let browser = cli
        .browser
        .clone()
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(cache.join("polyrun/web-artifacts/measurements.json"))
        })
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok());
    let results = Results {
        date: sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
        machine: machine(),
        versions,
        polyrun_build: std::env::var("POLYRUN_BENCH_PROFILE").unwrap_or_else(|_| "release".into()),
        runs,
        programs: program_results,
        warm_start,
        throughput_runs_per_s: throughput,
        idle_instance_mb: idle,
        helper_call_us: helper_calls,
        browser,
        browser_comparison,
    };
    report::write(&cli.out, &results).map_err(|e| e.to_string())?;
    println!("wrote {}", cli.out.display());
    Ok(())
}

fn machine() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if let Some(model) = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
    {
        m.insert("cpu".into(), model.trim().to_string());
    }
    m.insert(
        "cores".into(),
        std::thread::available_parallelism()
            .map(|n| n.get().to_string())
            .unwrap_or_default(),
    );
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(kb) = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
    {
        m.insert("memory".into(), format!("{:.0} GiB", kb / 1048576.0));
    }
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    if let Some(name) = os.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")) {
        m.insert("os".into(), name.trim_matches('"').to_string());
    }
    m
}

const HELLO: [(&str, &str); 5] = [
    ("javascript", "console.log('hi')"),
    ("lua", "print('hi')"),
    ("python", "print('hi')"),
    ("ruby", "puts 'hi'"),
    ("php", "echo \"hi\\n\";"),
];

/// Run requested → first stdout event, µs, for one run in a fresh guest state.
fn first_output_us(
    manager: &polyrun::RuntimeManager,
    lang: &str,
    code: &str,
    iso: Isolation,
) -> Result<f64, String> {
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    let sink = first.clone();
    let spec = RunSpec::new(lang, code).isolation(iso).on_event(move |e| {
        if matches!(e, Event::Stdout { .. }) {
            sink.lock().unwrap().get_or_insert_with(Instant::now);
        }
    });
    let started = Instant::now();
    let r = manager.run(spec).map_err(|e| e.to_string())?;
    if !r.outcome.is_completed() {
        return Err(format!("warm start {lang}: {:?}", r.outcome));
    }
    let t = first.lock().unwrap().ok_or("no output")?;
    Ok(t.duration_since(started).as_secs_f64() * 1e6)
}

/// Warm start in a live manager, runs back to back and runs spaced by [`SPACING`] (after five
/// warm-up runs: instances, workers).
fn warm_start() -> Result<Vec<WarmResult>, String> {
    let manager = polyrun::manager().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for iso in [Isolation::InProcess, Isolation::Worker] {
        for (lang, code) in HELLO {
            for _ in 0..5 {
                first_output_us(&manager, lang, code, iso)?;
            }
            let back_to_back = (0..20)
                .map(|_| first_output_us(&manager, lang, code, iso))
                .collect::<Result<Vec<_>, _>>()?;
            let spaced = (0..20)
                .map(|_| {
                    std::thread::sleep(SPACING);
                    first_output_us(&manager, lang, code, iso)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (median, min, max) = measure::stats(&back_to_back);
            let (s_median, s_min, s_max) = measure::stats(&spaced);
            out.push(WarmResult {
                language: lang.into(),
                isolation: match iso {
                    Isolation::InProcess => "in_process".into(),
                    _ => "worker".into(),
                },
                median_us: median,
                min_us: min,
                max_us: max,
                spaced_median_us: Some(s_median),
                spaced_min_us: Some(s_min),
                spaced_max_us: Some(s_max),
            });
        }
    }
    Ok(out)
}

/// Hello-world runs per second through one manager from two threads (in process).
fn throughput() -> Result<BTreeMap<String, f64>, String> {
    let manager = polyrun::manager().map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (lang, code) in HELLO {
        manager
            .run(RunSpec::new(lang, code).isolation(Isolation::InProcess))
            .map_err(|e| e.to_string())?;
        let window = Duration::from_secs(2);
        let started = Instant::now();
        let counts: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let mut n = 0;
                        while started.elapsed() < window {
                            if manager
                                .run(RunSpec::new(lang, code).isolation(Isolation::InProcess))
                                .is_ok_and(|r| r.outcome.is_completed())
                            {
                                n += 1;
                            }
                        }
                        n
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
        });
        let total: usize = counts.iter().sum();
        out.insert(
            lang.to_string(),
            total as f64 / started.elapsed().as_secs_f64(),
        );
    }
    Ok(out)
}

/// `n` pairs of `setVariable` + `getVariable` in `lang`.
fn helper_program(lang: &str, n: usize) -> String {
    match lang {
        "javascript" => {
            format!(
                "for (let i = 0; i < {n}; i++) {{ polyrun.setVariable('x', i); polyrun.getVariable('x'); }}"
            )
        }
        "lua" => {
            format!("for i = 1, {n} do polyrun.setVariable('x', i); polyrun.getVariable('x') end")
        }
        "python" => format!(
            "for i in range({n}):\n    polyrun.set_variable('x', i)\n    polyrun.get_variable('x')"
        ),
        "ruby" => {
            format!("{n}.times {{ |i| polyrun.set_variable('x', i); polyrun.get_variable('x') }}")
        }
        _ => format!(
            "<?php for ($i = 0; $i < {n}; $i++) {{ polyrun::setVariable('x', $i); polyrun::getVariable('x'); }}"
        ),
    }
}

/// The cost of one helper call, µs: runs with 500 set/get pairs against runs with none (best
/// of five each, warm instances), in process and in a worker, over SQLite in `dir`.
fn helper_calls(dir: &Path) -> Result<BTreeMap<String, f64>, String> {
    const PAIRS: usize = 500;
    let store =
        polyrun::SqliteStore::open(dir.join("helpers.sqlite3")).map_err(|e| e.to_string())?;
    let manager = polyrun::manager_builder()
        .map_err(|e| e.to_string())?
        .store(Arc::new(store))
        .build();
    let time = |lang: &str, n: usize, iso: Isolation| -> Result<f64, String> {
        let started = Instant::now();
        let r = manager
            .run(RunSpec::new(lang, helper_program(lang, n)).isolation(iso))
            .map_err(|e| e.to_string())?;
        if !r.outcome.is_completed() {
            return Err(format!("helper calls {lang}: {:?}", r.outcome));
        }
        Ok(started.elapsed().as_secs_f64() * 1e6)
    };
    let mut out = BTreeMap::new();
    for iso in [Isolation::InProcess, Isolation::Worker] {
        for (lang, _) in HELLO {
            let best = |n| -> Result<f64, String> {
                let mut b = f64::MAX;
                for _ in 0..5 {
                    b = b.min(time(lang, n, iso)?);
                }
                Ok(b)
            };
            let (none, some) = (best(0)?, best(PAIRS)?);
            let name = match iso {
                Isolation::InProcess => "in_process",
                _ => "worker",
            };
            out.insert(
                format!("{lang}/{name}"),
                ((some - none) / (2 * PAIRS) as f64).max(0.0),
            );
        }
    }
    Ok(out)
}

/// Resident memory one more loaded, idle instance adds (the mean over four).
fn idle_memory() -> Result<BTreeMap<String, f64>, String> {
    let registry = polyrun::registry();
    let ctx = polyrun::engine::LoadContext::with_progress(Arc::new(|_| {}));
    let mut out = BTreeMap::new();
    for (lang, _) in HELLO {
        let d = registry.get(lang).map_err(|e| e.to_string())?;
        // One instance first: shared, once-per-process costs (compiled modules) are not counted.
        let first = (d.load)(&ctx).map_err(|e| e.to_string())?;
        let before = measure::self_rss();
        let more: Vec<_> = (0..4)
            .map(|_| (d.load)(&ctx))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let after = measure::self_rss();
        out.insert(
            lang.to_string(),
            after.saturating_sub(before) as f64 / 4.0 / 1e6,
        );
        drop(more);
        drop(first);
    }
    Ok(out)
}
