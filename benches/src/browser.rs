//! The browser comparison: `benches/browser/compare.mjs` runs the program set in Debian's
//! Chromium through polyrun's web build and through the runtimes users pick in a browser today
//! (Pyodide, ruby.wasm's JS package, Wasmoon, php-wasm, and the page's own JavaScript engine).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One program in one browser runtime.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BrowserProgram {
    /// The program's name.
    pub name: String,
    /// Median of the timed runs in a live page, ms.
    #[serde(default)]
    pub median_ms: f64,
    /// Fastest, ms.
    #[serde(default)]
    pub min_ms: f64,
    /// Slowest, ms.
    #[serde(default)]
    pub max_ms: f64,
    /// Why the runtime could not run the program, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the untimed first run printed (checked against the native checksum, not kept).
    #[serde(default, skip_serializing)]
    pub output: String,
}

/// One runtime in the browser: start-up and the programs of its language.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BrowserRuntime {
    /// `polyrun`, `browser-js`, `browser-js-worker`, `wasmoon`, `pyodide`, `ruby.wasm` or `php-wasm`.
    pub runtime: String,
    /// polyrun's language id.
    pub language: String,
    /// What the runtime reports (and its npm package's version).
    pub version: String,
    /// Gzipped bytes transferred until hello world's output, empty HTTP cache.
    pub cold_bytes: u64,
    /// Requests until then.
    pub cold_requests: u32,
    /// Navigation start → hello world's output, empty HTTP cache, ms.
    pub cold_hello_ms: f64,
    /// The same with the HTTP cache warm, ms.
    pub warm_hello_ms: f64,
    /// Every program of its language.
    pub programs: Vec<BrowserProgram>,
}

/// Everything the browser comparison measured.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct BrowserComparison {
    /// The browser and its version.
    pub browser: String,
    /// Timed runs per program (after one untimed run).
    pub runs: usize,
    /// Every runtime, polyrun's next to its peer.
    pub runtimes: Vec<BrowserRuntime>,
    /// Programs a runtime failed or printed something else for (empty when all agree).
    #[serde(default)]
    pub problems: Vec<String>,
}

/// A program for the browser: name, language and source with `N` defined.
pub struct BrowserJob {
    /// Program name.
    pub name: &'static str,
    /// Language id.
    pub language: &'static str,
    /// The prepared source.
    pub code: String,
}

/// Runs the comparison against the built `site`; `expected[program]` is the output every native
/// implementation printed, which every browser runtime must print too.
pub fn compare(
    site: &Path,
    work: &Path,
    jobs: &[BrowserJob],
    runs: usize,
    expected: &BTreeMap<&str, String>,
) -> Result<BrowserComparison, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/compare.mjs");
    let input = work.join("browser-programs.json");
    let output = work.join("browser-results.json");
    let programs: Vec<_> = jobs
        .iter()
        .map(|j| serde_json::json!({ "name": j.name, "language": j.language, "code": j.code }))
        .collect();
    let text = serde_json::to_string(&serde_json::json!({ "runs": runs, "programs": programs }))
        .map_err(|e| e.to_string())?;
    std::fs::write(&input, text).map_err(|e| format!("{}: {e}", input.display()))?;
    let status = std::process::Command::new("node")
        .arg(&script)
        .arg(site)
        .arg(&input)
        .arg(&output)
        .status()
        .map_err(|e| format!("node {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!("the browser comparison failed ({status})"));
    }
    let text =
        std::fs::read_to_string(&output).map_err(|e| format!("{}: {e}", output.display()))?;
    let mut result: BrowserComparison = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    result.problems = check(&result, expected);
    Ok(result)
}

/// Every runtime ran every program of its language and printed what the native ones printed:
/// what did not.
fn check(r: &BrowserComparison, expected: &BTreeMap<&str, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for rt in &r.runtimes {
        for (name, want) in expected {
            match rt.programs.iter().find(|p| p.name == *name) {
                None => problems.push(format!(
                    "{} {}: {name} did not run",
                    rt.runtime, rt.language
                )),
                Some(p) if p.error.is_some() => problems.push(format!(
                    "{} {}: {name} failed: {}",
                    rt.runtime,
                    rt.language,
                    p.error.as_deref().unwrap_or_default()
                )),
                Some(p) if p.output.trim_end() != want.trim_end() => problems.push(format!(
                    "{} {}: {name} printed\n{}\nbut the native implementations printed\n{want}",
                    rt.runtime,
                    rt.language,
                    p.output.trim_end()
                )),
                Some(_) => {}
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(output: &str) -> BrowserComparison {
        BrowserComparison {
            browser: "Chromium".into(),
            runs: 1,
            runtimes: vec![BrowserRuntime {
                runtime: "pyodide".into(),
                language: "python".into(),
                version: String::new(),
                cold_bytes: 0,
                cold_requests: 0,
                cold_hello_ms: 0.0,
                warm_hello_ms: 0.0,
                programs: vec![BrowserProgram {
                    name: "fib".into(),
                    median_ms: 1.0,
                    min_ms: 1.0,
                    max_ms: 1.0,
                    output: output.into(),
                    error: None,
                }],
            }],
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_wrong_or_missing_output_fails_the_check() {
        let expected = BTreeMap::from([("fib", "fib(15) = 610".to_string())]);
        assert!(check(&runtime("fib(15) = 610\n"), &expected).is_empty());
        let wrong = check(&runtime("fib(15) = 611\n"), &expected).join("\n");
        assert!(wrong.contains("pyodide python: fib printed"), "{wrong}");
        let mut failed = runtime("");
        failed.runtimes[0].programs[0].error = Some("RuntimeError: unreachable".into());
        let failed = check(&failed, &expected).join("\n");
        assert!(
            failed.contains("fib failed: RuntimeError: unreachable"),
            "{failed}"
        );
        let more = BTreeMap::from([
            ("fib", "fib(15) = 610".to_string()),
            ("dict", "dict".to_string()),
        ]);
        let missing = check(&runtime("fib(15) = 610\n"), &more).join("\n");
        assert!(missing.contains("dict did not run"), "{missing}");
    }

    #[test]
    fn the_output_is_checked_but_not_kept() {
        let json = serde_json::to_string(&runtime("secret\n")).unwrap();
        assert!(!json.contains("secret"), "{json}");
        let back: BrowserComparison = serde_json::from_str(&json).unwrap();
        assert_eq!(back.runtimes[0].programs[0].output, "");
    }
}
