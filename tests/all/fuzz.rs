//! The fuzz targets (fuzz/, polyrun-fuzz) on stable: every input of the committed corpus
//! (`fuzz/corpus/<target>/`), then a bounded, seeded mutation run from it — the CI slice of the
//! libFuzzer campaigns `scripts/fuzz run` makes (docs/security.md, "Fuzzing").

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).expect("a corpus file");
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                bytes,
            )
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} has no seeds", dir.display());
    inputs
}

/// Runs `target` on its corpus and on `mutations` seeded mutations of it; a finding fails the
/// test with the input that found it (written under the target dir for libFuzzer to replay).
fn replay(name: &str, mutations: usize) {
    let target = polyrun_fuzz::TARGETS
        .iter()
        .find(|t| t.name == name)
        .expect("a known target");
    let seeds = corpus(name);
    let mut inputs: Vec<(String, Vec<u8>)> = seeds.clone();
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ name.len() as u64;
    for i in 0..mutations {
        let (seed_name, seed) = &seeds[i % seeds.len()];
        inputs.push((
            format!("mutation {i} of {seed_name}"),
            polyrun_fuzz::mutate(seed, &mut state),
        ));
    }
    for (label, input) in inputs {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| (target.run)(&input))) {
            let msg = polyrun_engine::panic_message(&*p);
            panic!(
                "fuzz target {name} failed on {label} ({} bytes: {:?}): {msg}",
                input.len(),
                String::from_utf8_lossy(&input)
            );
        }
    }
}

#[test]
fn worker_protocol_survives_its_corpus_and_mutations() {
    replay("worker_protocol", 300);
}

#[test]
fn server_requests_never_answer_500() {
    replay("server_request", 300);
}

#[test]
fn helper_calls_always_answer_and_framing_ignores_write_cuts() {
    replay("helper_calls", 2000);
}

#[test]
fn lua_generated_sources_never_crash() {
    replay("lua_source", 400);
}

#[test]
fn python_generated_sources_never_crash() {
    replay("python_source", 150);
}

#[test]
fn js_generated_sources_never_crash() {
    replay("js_source", 300);
}
