//! `docs/runtime_benchmarks.md` (+ `.json` and SVG charts), generated from [`Results`].

use crate::browser::{BrowserComparison, BrowserRuntime};
use crate::{ImplResult, ProgramResult, Results};
use std::fmt::Write as _;
use std::path::Path;

#[derive(Clone, Copy)]
/// One row of the report: polyrun's runner for a language (a backend), the reference its
/// ratios are taken against, and the target ratio.
struct Row {
    lang: &'static str,
    title: &'static str,
    /// The runner measured (`polyrun`: the default backend; `polyrun-boa`: `--backend boa`).
    runner: &'static str,
    reference: &'static str,
    target: f64,
    /// Why it is slower where it is: the known causes, shown next to the measured gaps.
    why: &'static str,
}

/// Every row, the default backend of each language first among its language's rows.
const REFERENCE: [Row; 6] = [
    Row {
        lang: "javascript",
        title: "JavaScript (QuickJS)",
        runner: "polyrun",
        reference: "quickjs",
        target: 1.2,
        why: "the same QuickJS-NG as the reference. polyrun adds an interrupt handler polled every \
              10,000 branches, an allocator that counts every byte against the memory limit, \
              console formatting in JavaScript (format.js) and the helpers' prelude in every \
              fresh context. Node.js is a JIT and is not the target.",
    },
    Row {
        lang: "javascript",
        title: "JavaScript (Boa, `--backend boa`)",
        runner: "polyrun-boa",
        reference: "quickjs",
        target: 3.0,
        why: "Boa is a bytecode interpreter written for correctness first; QuickJS has had two \
              decades of tuning of its value representation, property caches and GC. Building a \
              string with `+=` (the strings program) copies it each time in Boa, while \
              QuickJS-NG concatenates into ropes; a `Map` filled with freshly concatenated string \
              keys is a pathological case for Boa (the dict program). Boa runs in a worker \
              process (it cannot stop itself).",
    },
    Row {
        lang: "lua",
        title: "Lua (mlua, C Lua 5.4)",
        runner: "polyrun",
        reference: "lua",
        target: 1.1,
        why: "the same C Lua 5.4 as the reference. The count hook that checks limits and cancel is \
              switched on only when a run must stop (any active count hook sends every \
              instruction through Lua 5.4's slow path), but code inside coroutines still runs \
              with it; mlua's allocator accounting (the memory limit) and its calls into Rust \
              (print, io.write) add a little.",
    },
    Row {
        lang: "python",
        title: "Python (RustPython)",
        runner: "polyrun",
        reference: "cpython",
        target: 2.0,
        why: "RustPython is a young interpreter without CPython's specialising adaptive \
              interpreter, small-object allocator or optimised dict/str internals; start-up also \
              unmarshals the frozen standard library.",
    },
    Row {
        lang: "ruby",
        title: "Ruby (ruby.wasm on wasmtime)",
        runner: "polyrun",
        reference: "ruby",
        target: 1.5,
        why: "ruby.wasm is CRuby built for wasm32, a 32-bit target: no flonums, so every Float is \
              a heap object (the float programs, mandelbrot and nbody, are the worst by far), no \
              YJIT, bounds-checked memory on wasmtime's Cranelift. Every run gets a fresh VM, \
              which starts booted: the module is a snapshot of ruby.wasm booted once per machine \
              (a pre-initialised module), so a fresh VM is an instantiation, not a ~40 ms boot.",
    },
    Row {
        lang: "php",
        title: "PHP (php.wasm on wasmtime)",
        runner: "polyrun",
        reference: "php",
        target: 1.5,
        why: "PHP compiled to WebAssembly: no opcache and no JIT (the reference php-cli does not \
              use them either), bounds-checked linear memory, setjmp/longjmp as WebAssembly \
              exceptions, and a 6.5 MB module compiled (cached) and instantiated per run.",
    },
];

/// One row per language: its default backend's (what the per-language sections show).
fn languages() -> impl Iterator<Item = &'static Row> {
    REFERENCE.iter().filter(|r| r.runner == "polyrun")
}

fn find<'a>(p: &'a ProgramResult, runner: &str, lang: &str) -> Option<&'a ImplResult> {
    p.results
        .iter()
        .find(|r| r.runner == runner && r.language == lang)
}

fn ratio(p: &ProgramResult, row: &Row) -> Option<f64> {
    Some(find(p, row.runner, row.lang)?.median_ms / find(p, row.reference, row.lang)?.median_ms)
}

fn geomean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp()
}

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Writes the report, its JSON and charts.
pub fn write(out: &Path, r: &Results) -> std::io::Result<()> {
    let stem = out.with_extension("");
    let charts = stem.clone();
    std::fs::create_dir_all(&charts)?;
    let chart_dir = charts
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    std::fs::write(
        out.with_extension("json"),
        serde_json::to_string_pretty(r).expect("results serialise") + "\n",
    )?;
    let hello = r.programs.iter().find(|p| p.name == "hello");
    let work: Vec<&ProgramResult> = r.programs.iter().filter(|p| p.name != "hello").collect();

    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Runtime benchmarks\n");
    let _ = writeln!(
        w,
        "Generated by `scripts/bench` (the `polyrun-bench` harness in `benches/`) on {}. Do not edit \
         by hand: run it again. Raw data: [runtime_benchmarks.json](runtime_benchmarks.json).\n",
        r.date
    );
    let _ = writeln!(w, "## Machine and versions\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    for (k, v) in &r.machine {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    for (k, v) in &r.versions {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    let _ = writeln!(
        w,
        "| polyrun build | cargo profile `{}` |\n",
        r.polyrun_build
    );

    let _ = writeln!(w, "## Method\n");
    let _ = writeln!(
        w,
        "- The programs are ours, one file per language in `benches/programs/`, identical in intent; \
         the harness defines `N` at the top of each. Every implementation must print the same \
         checksum line (the harness fails otherwise; CI runs `scripts/bench --quick` for exactly \
         that).\n\
         - Every measurement is a fresh process: `polyrun run FILE` (no time, output or memory \
         limit beyond 2 GiB; polyrun picks in-process or worker isolation as it does for any user) \
         next to `node`, native QuickJS (`polyrun-bench qjs`, rquickjs), `python3`, `lua5.4`, \
         `ruby`, `php`. Wall time from spawn to exit, peak RSS from `wait4`. {} runs, interleaved \
         (round by round over every program and implementation) so that drift cancels; medians \
         are shown, min/max are in the JSON.\n\
         - Ratios are polyrun ÷ reference (lower is better; < 1 means polyrun is faster). Times \
         include start-up; `hello` is the start-up alone.\n\
         - Warm start is measured inside a live manager (`RuntimeManager::run`, a fresh guest \
         state per run): from the call to the first stdout event, after 5 warm-up runs 20 runs \
         back to back and 20 runs spaced (see the warm-start section). The headline shows the \
         spaced median.\n",
        r.runs
    );

    // Headline.
    let _ = writeln!(w, "## Headline\n");
    let _ = writeln!(
        w,
        "| language | reference | cold start ratio | execution ratio (geomean) | target | warm start in process |\n|---|---|---|---|---|---|"
    );
    for row in &REFERENCE {
        let Row {
            lang,
            title,
            runner,
            reference,
            target,
            ..
        } = *row;
        let cold = hello.and_then(|h| ratio(h, row));
        let exec: Vec<f64> = work.iter().filter_map(|p| ratio(p, row)).collect();
        // The live manager's warm start is the default backend's.
        let warm = r
            .warm_start
            .iter()
            .find(|x| runner == "polyrun" && x.language == lang && x.isolation == "in_process");
        let _ = writeln!(
            w,
            "| {title} | {reference} | {} | {} | ≤ {target}× {} | {} |",
            cold.map(|c| format!("{c:.2}×")).unwrap_or("—".into()),
            if exec.is_empty() {
                "—".into()
            } else {
                format!("{:.2}×", geomean(&exec))
            },
            if !exec.is_empty() && geomean(&exec) <= target {
                "(met)"
            } else {
                "(not met)"
            },
            warm.map(|x| match x.spaced_median_us {
                Some(spaced) => format!("{spaced:.0} µs ({:.0} µs back to back)", x.median_us),
                None => format!("{:.0} µs", x.median_us),
            })
            .unwrap_or("—".into()),
        );
    }
    let _ = writeln!(w);

    // Cold start.
    if let Some(h) = hello {
        let _ = writeln!(w, "## Cold start: `hello` as a fresh process\n");
        let _ = writeln!(
            w,
            "| language | polyrun ms | reference | reference ms | ratio | polyrun peak MB | reference peak MB |\n|---|---|---|---|---|---|---|"
        );
        for row in &REFERENCE {
            let Row {
                lang,
                title,
                runner,
                reference,
                ..
            } = *row;
            if let (Some(a), Some(b)) = (find(h, runner, lang), find(h, reference, lang)) {
                let _ = writeln!(
                    w,
                    "| {title} | {} | {reference} | {} | {:.2}× | {:.0} | {:.0} |",
                    ms(a.median_ms),
                    ms(b.median_ms),
                    a.median_ms / b.median_ms,
                    a.max_rss_mb,
                    b.max_rss_mb
                );
            }
        }
        if let Some(node) = find(h, "node", "javascript") {
            let _ = writeln!(
                w,
                "\nNode.js starts in {} ms ({:.0} MB).\n",
                ms(node.median_ms),
                node.max_rss_mb
            );
        }
        let _ = writeln!(w, "![cold start](./{chart_dir}/cold_start.svg)\n");
    }

    // Execution per language.
    let _ = writeln!(w, "## Execution\n");
    let _ = writeln!(w, "| program | N | what it exercises |\n|---|---|---|");
    for p in &work {
        let _ = writeln!(w, "| {} | {} | {} |", p.name, p.n, p.about);
    }
    let _ = writeln!(w);
    for row in &REFERENCE {
        let Row {
            lang,
            title,
            runner,
            reference,
            target,
            ..
        } = *row;
        let _ = writeln!(w, "### {title} vs {reference} (target ≤ {target}×)\n");
        let node = lang == "javascript";
        let _ = writeln!(
            w,
            "| program | polyrun ms | {reference} ms | ratio |{} polyrun peak MB | {reference} peak MB |\n|---|---|---|---|{}---|---|",
            if node { " node ms |" } else { "" },
            if node { "---|" } else { "" }
        );
        for p in &work {
            if let (Some(a), Some(b)) = (find(p, runner, lang), find(p, reference, lang)) {
                let node_col = if node {
                    find(p, "node", lang)
                        .map(|n| format!(" {} |", ms(n.median_ms)))
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {:.2}× |{node_col} {:.0} | {:.0} |",
                    p.name,
                    ms(a.median_ms),
                    ms(b.median_ms),
                    a.median_ms / b.median_ms,
                    a.max_rss_mb,
                    b.max_rss_mb
                );
            }
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "![execution ratios](./{chart_dir}/execution.svg)\n");

    // Warm start.
    let _ = writeln!(
        w,
        "## Warm start: run requested → first output, live manager\n\n\
         *Spaced*: each run starts {} ms after the previous one ended, so the instance has prepared \
         its fresh guest state (a playground's case: a person reads the output before running \
         again). *Back to back*: the next run may wait for the previous run's reset — for \
         Python a new interpreter, for Ruby a new instance of its booted snapshot.\n\n\
         | language | in process, spaced µs (min–max) | in process, back to back | worker, spaced | worker, back to back |\n|---|---|---|---|---|",
        crate::SPACING.as_millis()
    );
    for &Row { lang, title, .. } in languages() {
        let find = |iso: &str| {
            r.warm_start
                .iter()
                .find(|x| x.language == lang && x.isolation == iso)
        };
        let spaced = |iso: &str| {
            find(iso)
                .and_then(|x| {
                    Some(format!(
                        "{:.0} ({:.0}–{:.0})",
                        x.spaced_median_us?, x.spaced_min_us?, x.spaced_max_us?
                    ))
                })
                .unwrap_or("—".into())
        };
        let back = |iso: &str| {
            find(iso)
                .map(|x| format!("{:.0} ({:.0}–{:.0})", x.median_us, x.min_us, x.max_us))
                .unwrap_or("—".into())
        };
        let _ = writeln!(
            w,
            "| {title} | {} | {} | {} | {} |",
            spaced("in_process"),
            back("in_process"),
            spaced("worker"),
            back("worker")
        );
    }
    let _ = writeln!(w, "\nTarget: ≤ 1 ms (1000 µs).\n");

    let _ = writeln!(
        w,
        "## Throughput and idle memory\n\n| language | hello runs/s (one manager, 2 threads, in process) | MB per idle loaded instance |\n|---|---|---|"
    );
    for &Row { lang, title, .. } in languages() {
        let _ = writeln!(
            w,
            "| {title} | {} | {} |",
            r.throughput_runs_per_s
                .get(lang)
                .map(|x| format!("{x:.0}"))
                .unwrap_or("—".into()),
            r.idle_instance_mb
                .get(lang)
                .map(|x| format!("{x:.1}"))
                .unwrap_or("—".into())
        );
    }
    let _ = writeln!(w);

    if !r.helper_call_us.is_empty() {
        let _ = writeln!(
            w,
            "## Helper calls\n\nOne `polyrun` helper call (`setVariable` / `getVariable`, variables in SQLite): runs with 500 set/get pairs against runs with none, best of five, µs per call ([helpers](helpers.md)).\n\n| language | in process (µs) | in a worker (µs) |\n|---|---|---|"
        );
        for &Row { lang, title, .. } in languages() {
            let get = |iso: &str| {
                r.helper_call_us
                    .get(&format!("{lang}/{iso}"))
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or("—".into())
            };
            let _ = writeln!(w, "| {title} | {} | {} |", get("in_process"), get("worker"));
        }
        let _ = writeln!(w);
    }

    // Browser.
    let _ = writeln!(w, "## In the browser\n");
    match &r.browser {
        Some(b) => {
            let _ = writeln!(
                w,
                "From the web build's browser tests (Chromium {}; `measurements.json`), served from localhost with gzip:\n",
                b["browser"].as_str().unwrap_or("")
            );
            let _ = writeln!(
                w,
                "- bytes before the first JavaScript output (cold cache): **{:.2} MB** in {} requests; page to that output {} ms\n- warm page ready: {} ms\n",
                b["bytes_before_first_js_output"].as_f64().unwrap_or(0.0) / 1e6,
                b["requests_before_first_js_output"],
                b["cold_page_to_first_js_output_ms"],
                b["warm_page_ready_ms"]
            );
            let _ = writeln!(
                w,
                "| language | first output, first run in a worker (ms) | later runs (ms) |\n|---|---|---|"
            );
            for &Row {
                lang,
                title: native,
                ..
            } in languages()
            {
                let t = &b["time_to_first_output_warm_cache"][lang];
                // The browser's default backend, named by the comparison when it ran.
                let title = r
                    .browser_comparison
                    .as_ref()
                    .and_then(|c| browser_runtime(c, "polyrun", lang))
                    .map_or_else(|| native.to_string(), |rt| browser_title(lang, &rt.version));
                let _ = writeln!(
                    w,
                    "| {title} | {} | {} |",
                    t["first_run_ms"], t["later_run_ms"]
                );
            }
            let _ = writeln!(w);
        }
        None => {
            let _ = writeln!(
                w,
                "No browser measurements were found (run `scripts/web test` first).\n"
            );
        }
    }
    match &r.browser_comparison {
        Some(c) => browser_comparison(w, c, &chart_dir),
        None => {
            let _ = writeln!(
                w,
                "The browser comparison did not run (`scripts/bench` runs it unless `--no-browser`).\n"
            );
        }
    }

    // What is slow and why.
    let _ = writeln!(w, "## What is slow and why\n");
    for row in &REFERENCE {
        let Row { title, target, .. } = *row;
        let mut worst: Vec<(f64, &str)> = work
            .iter()
            .filter_map(|p| Some((ratio(p, row)?, p.name.as_str())))
            .collect();
        worst.sort_by(|a, b| b.0.total_cmp(&a.0));
        let slow: Vec<String> = worst
            .iter()
            .filter(|(x, _)| *x > target)
            .map(|(x, n)| format!("{n} {x:.1}×"))
            .collect();
        let why = row.why;
        let _ = writeln!(
            w,
            "- **{title}**: {}. {}",
            if slow.is_empty() {
                format!("every program within the {target}× target")
            } else {
                format!("over the {target}× target: {}", slow.join(", "))
            },
            capitalise(why)
        );
    }
    std::fs::write(out, md)?;

    if let Some(c) = &r.browser_comparison {
        let mut rows = Vec::new();
        for (lang, peer) in BROWSER_PEERS {
            for (name, ours, theirs) in browser_pairs(c, lang, peer) {
                rows.push((format!("{lang} {name} vs {peer}"), ours / theirs));
            }
        }
        std::fs::write(
            charts.join("browser.svg"),
            log_bars(
                "in Chromium: polyrun ÷ the runtime users pick (log scale; 1 = as fast)",
                &rows,
            ),
        )?;
    }

    // Charts.
    let mut rows = Vec::new();
    for row in &REFERENCE {
        let Row { lang, runner, .. } = *row;
        for p in &work {
            if let Some(x) = ratio(p, row) {
                let backend = runner
                    .strip_prefix("polyrun-")
                    .map(|b| format!("/{b}"))
                    .unwrap_or_default();
                rows.push((format!("{lang}{backend} {}", p.name), x));
            }
        }
    }
    std::fs::write(
        charts.join("execution.svg"),
        log_bars(
            "polyrun ÷ reference, execution (log scale; 1 = as fast)",
            &rows,
        ),
    )?;
    if let Some(h) = hello {
        let mut rows = Vec::new();
        for row in &REFERENCE {
            let Row {
                lang,
                runner,
                reference,
                ..
            } = *row;
            for who in [runner, reference] {
                if let Some(x) = find(h, who, lang) {
                    rows.push((format!("{lang}: {who}"), x.median_ms));
                }
            }
        }
        std::fs::write(
            charts.join("cold_start.svg"),
            linear_bars("hello world as a fresh process, ms", &rows),
        )?;
    }
    Ok(())
}

/// A failure as the report shows it: the outcome's `reason` when the message carries one (the
/// page's adapters throw the whole outcome), without `Error: ` prefixes.
fn short_error(e: &str) -> String {
    if let Some(start) = e.find("\"reason\":\"") {
        let rest = &e[start + 10..];
        let reason = rest.split('"').next().unwrap_or(rest);
        let head = e.split(": Error:").next().unwrap_or("");
        return if head.len() < start && e.contains(": Error:") {
            format!("{head}: crashed: {reason}")
        } else {
            format!("crashed: {reason}")
        };
    }
    e.replace("Error: ", "")
}

/// A language's name with its browser backend's version: `Python — Python 3.14 (Pyodide 314.0.7)`.
fn browser_title(lang: &str, version: &str) -> String {
    let name = languages()
        .find(|x| x.lang == lang)
        .and_then(|x| x.title.split(" (").next())
        .map_or_else(|| capitalise(lang), str::to_string);
    if version.is_empty() {
        name
    } else {
        format!("{name} — {version}")
    }
}

/// The browser runtime each of polyrun's languages is compared with.
const BROWSER_PEERS: [(&str, &str); 6] = [
    ("javascript", "browser-js"),
    ("javascript", "browser-js-worker"),
    ("lua", "wasmoon"),
    ("python", "pyodide"),
    ("ruby", "ruby.wasm"),
    ("php", "php-wasm"),
];

fn browser_runtime<'a>(
    c: &'a BrowserComparison,
    runtime: &str,
    lang: &str,
) -> Option<&'a BrowserRuntime> {
    c.runtimes
        .iter()
        .find(|r| r.runtime == runtime && r.language == lang)
}

/// (program, polyrun ms, peer ms) for every program but hello.
fn browser_pairs<'a>(c: &'a BrowserComparison, lang: &str, peer: &str) -> Vec<(&'a str, f64, f64)> {
    let (Some(ours), Some(theirs)) = (
        browser_runtime(c, "polyrun", lang),
        browser_runtime(c, peer, lang),
    ) else {
        return Vec::new();
    };
    ours.programs
        .iter()
        .filter(|p| p.name != "hello")
        .filter_map(|p| {
            let t = theirs.programs.iter().find(|q| q.name == p.name)?;
            (p.error.is_none() && t.error.is_none()).then_some((
                p.name.as_str(),
                p.median_ms,
                t.median_ms,
            ))
        })
        .collect()
}

/// Programs (but hello) that `runtime` could not run in `lang`, with why.
fn browser_failures<'a>(
    c: &'a BrowserComparison,
    runtime: &str,
    lang: &str,
) -> Vec<(&'a str, &'a str)> {
    browser_runtime(c, runtime, lang)
        .map(|r| {
            r.programs
                .iter()
                .filter_map(|p| Some((p.name.as_str(), p.error.as_deref()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn browser_comparison(w: &mut String, c: &BrowserComparison, chart_dir: &str) {
    let _ = writeln!(
        w,
        "### Next to the browser runtimes users pick today\n\n\
         The same programs (the same `N`) in {}, served from localhost with gzip by \
         `web/tools/serve.mjs`, through polyrun's web build (`polyrun.js`, a Web Worker, a fresh \
         guest state per run) and through Pyodide (one interpreter, fresh globals per run), \
         ruby.wasm's own JS package (`DefaultRubyVM` on the same `ruby+stdlib.wasm`, one VM, \
         `eval` per run), php-wasm (WordPress Playground's PHP 8.2, `@php-wasm/web-8-2` bundled \
         with esbuild, one `PHP` instance, `run` per run), Wasmoon (a fresh Lua state per run) \
         and the page's own JavaScript \
         engine, run directly (`browser-js`: `new Function` in the page, whose engine keeps \
         what it compiled and learnt from one run to the next) and with a fresh global state per \
         run as a sandbox needs (`browser-js-worker`: a new Worker per run). polyrun's JavaScript \
         runs on the page's engine too (the `browser` backend, in a sandboxed frame: a Worker \
         serves run after run, its global state put back as it was after each), and its Python on Pyodide (the `pyodide` backend: one \
         interpreter in a sandboxed frame, a fresh `__main__` per run, loaded next to the \
         bundle as a Python playground asks with `preload`). Every \
         runtime gets a fresh browser context: the page is opened with an empty HTTP cache \
         (gzipped bytes and time from navigation to hello world's output), then again with the \
         cache warm; in that page each program runs once untimed (its output must equal the \
         native one) and {} times timed; medians are shown. `benches/browser/` holds the page and \
         the driver.\n",
        c.browser, c.runs
    );
    let _ = writeln!(
        w,
        "| language | runtime | version | gzipped MB to hello world | requests | hello world, empty cache (ms) | warm cache (ms) |\n|---|---|---|---|---|---|---|"
    );
    for r in &c.runtimes {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {:.2} | {} | {:.0} | {:.0} |",
            r.language,
            r.runtime,
            r.version,
            r.cold_bytes as f64 / 1e6,
            r.cold_requests,
            r.cold_hello_ms,
            r.warm_hello_ms
        );
    }
    let _ = writeln!(w);
    for (lang, peer) in BROWSER_PEERS {
        let pairs = browser_pairs(c, lang, peer);
        if pairs.is_empty() {
            continue;
        }
        // polyrun's backend in the browser, by its version (JavaScript: the page's engine).
        let title = browser_runtime(c, "polyrun", lang).map_or_else(
            || browser_title(lang, ""),
            |r| browser_title(lang, &r.version),
        );
        let ratios: Vec<f64> = pairs.iter().map(|(_, a, b)| a / b).collect();
        let _ = writeln!(
            w,
            "**{title} vs {peer}** (geometric mean polyrun ÷ {peer}: {:.2}×)\n\n| program | polyrun ms | {peer} ms | polyrun ÷ {peer} |\n|---|---|---|---|",
            geomean(&ratios)
        );
        for (name, a, b) in &pairs {
            let _ = writeln!(w, "| {name} | {} | {} | {:.2}× |", ms(*a), ms(*b), a / b);
        }
        for who in ["polyrun", peer] {
            for (name, why) in browser_failures(c, who, lang) {
                let _ = writeln!(w, "| {name} | {who} **failed**: {} | | |", short_error(why));
            }
        }
        let _ = writeln!(w);
    }
    if !c.problems.is_empty() {
        let _ = writeln!(
            w,
            "**Problems found in the browser** (the harness reports them instead of stopping):\n"
        );
        for p in &c.problems {
            let _ = writeln!(w, "- {}", short_error(p).replace('\n', " "));
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "![browser]({chart_dir}/browser.svg)\n");
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn svg_frame(title: &str, rows: usize) -> (String, f64) {
    let height = 40.0 + rows as f64 * 18.0 + 20.0;
    (
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"10\" y=\"20\" font-size=\"13\" font-weight=\"bold\">{}</text>\n",
            escape(title)
        ),
        height,
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Horizontal bars on a log scale from 0.1 to 1000, with a line at 1.
fn log_bars(title: &str, rows: &[(String, f64)]) -> String {
    let (mut s, height) = svg_frame(title, rows.len());
    let (x0, width) = (170.0, 560.0);
    let x = |v: f64| x0 + (v.clamp(0.1, 1000.0).log10() + 1.0) / 4.0 * width;
    for t in [0.1, 1.0, 10.0, 100.0, 1000.0] {
        let _ = writeln!(
            s,
            "<line x1=\"{0}\" x2=\"{0}\" y1=\"30\" y2=\"{1}\" stroke=\"{2}\"/><text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{t}×</text>",
            x(t),
            height - 18.0,
            if t == 1.0 { "#333" } else { "#ddd" },
            height - 6.0
        );
    }
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 36.0 + i as f64 * 18.0;
        let (a, b) = (x(1.0).min(x(*v)), x(1.0).max(x(*v)));
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{a}\" y=\"{y}\" width=\"{}\" height=\"13\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{v:.2}×</text>",
            x0 - 6.0,
            y + 10.0,
            escape(label),
            (b - a).max(1.0),
            if *v <= 1.0 { "#4a9" } else { "#d74" },
            b + 4.0,
            y + 10.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Horizontal bars on a linear scale.
fn linear_bars(title: &str, rows: &[(String, f64)]) -> String {
    let (mut s, _) = svg_frame(title, rows.len());
    let max = rows.iter().map(|r| r.1).fold(1.0, f64::max);
    let (x0, width) = (170.0, 520.0);
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 36.0 + i as f64 * 18.0;
        let len = v / max * width;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{x0}\" y=\"{y}\" width=\"{}\" height=\"13\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{} ms</text>",
            x0 - 6.0,
            y + 10.0,
            escape(label),
            len.max(1.0),
            if label.contains("polyrun") {
                "#d74"
            } else {
                "#69c"
            },
            x0 + len + 4.0,
            y + 10.0,
            ms(*v)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::short_error;

    #[test]
    fn failures_show_the_outcome_reason() {
        let e = r#"polyrun python: dict failed: Error: polyrun python: {"status":"crashed","reason":"the Python module stopped (RuntimeError: unreachable); the worker was restarted"}"#;
        assert_eq!(
            short_error(e),
            "polyrun python: dict failed: crashed: the Python module stopped (RuntimeError: unreachable); the worker was restarted"
        );
        let bare = r#"Error: polyrun python: {"status":"crashed","reason":"boom"}"#;
        assert_eq!(short_error(bare), "crashed: boom");
        assert_eq!(short_error("Error: page crashed"), "page crashed");
    }
}
