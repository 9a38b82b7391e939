//! Building artifacts from a recipe: built once, verified afterwards, rebuilt when damaged, one
//! build at a time, and a failing step named with its log kept. Uses small stand-in recipes
//! (the PHP recipe itself is exercised by the PHP tests).

use polyrun_packaging::{BuildProgress, Cache, Fetched, PackagingError, Recipe};
use std::sync::{Arc, Barrier};

const BUILD: &str = r#"set -eu
OUT="$1"; V="$2"
echo "demo.bin: compile..."
echo run >> "$POLYRUN_CACHE/builds"
sleep 0.3
printf 'built %s with %s' "$V" "$(cat "$(dirname "$0")/data/input.txt")" > "$OUT"
echo "demo.bin: install..."
printf '{"source":"demo 1","sha256":"%s","recipe":"%s","exceptions":"%s","size":%s}' \
  "$(sha256sum "$OUT" | cut -d' ' -f1)" "$POLYRUN_RECIPE_HASH" "$V" "$(stat -c %s "$OUT")" > "$OUT.json"
"#;

static DEMO: Recipe = Recipe {
    name: "demo",
    description: "a stand-in",
    file: "demo.bin",
    variants: &["fast", "slow"],
    script: "build.sh",
    files: &[("build.sh", BUILD), ("data/input.txt", "recipe data")],
};

const FAILING: &str = r#"
echo "demo.bin: compile..."
mkdir -p "$POLYRUN_CACHE/logs"
echo "cc: error: something broke" > "$POLYRUN_CACHE/logs/compile.log"
echo "demo.bin: step 'compile' failed; its log: $POLYRUN_CACHE/logs/compile.log" >&2
echo "cc: error: something broke" >&2
exit 1
"#;

static BROKEN: Recipe = Recipe {
    name: "broken",
    description: "a recipe that fails",
    file: "demo.bin",
    variants: &["fast"],
    script: "build.sh",
    files: &[("build.sh", FAILING)],
};

fn builds(cache: &std::path::Path) -> usize {
    std::fs::read_to_string(cache.join("builds"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn builds_once_verifies_after_and_rebuilds_damage() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::at(dir.path());
    assert!(cache.built(&DEMO, "fast").is_none());
    let mut steps = Vec::new();
    let (built, did) = cache
        .ensure_built(&DEMO, "fast", &mut |p: BuildProgress| steps.push(p.step))
        .unwrap();
    assert_eq!(did, Fetched::Downloaded);
    assert!(steps.contains(&"compile".to_string()), "{steps:?}");
    assert_eq!(
        std::fs::read_to_string(&built.path).unwrap(),
        "built fast with recipe data"
    );
    assert_eq!(built.info.recipe, DEMO.hash());
    assert_eq!(built.info.variant, "fast");
    assert_eq!(built.path.parent().unwrap(), cache.built_dir(&DEMO, "fast"));
    assert_eq!(cache.built(&DEMO, "fast"), Some(built.clone()));

    let (again, did) = cache.ensure_built(&DEMO, "fast", &mut |_| {}).unwrap();
    assert_eq!((did, &again), (Fetched::AlreadyCached, &built));
    assert_eq!(builds(dir.path()), 1);

    // Same size, different bytes: rebuilt.
    std::fs::write(&built.path, "BUILT fast with recipe data").unwrap();
    let (_, did) = cache.ensure_built(&DEMO, "fast", &mut |_| {}).unwrap();
    assert_eq!(did, Fetched::Repaired);
    assert_eq!(
        std::fs::read_to_string(&built.path).unwrap(),
        "built fast with recipe data"
    );
    assert_eq!(builds(dir.path()), 2);

    // Variants are separate; unknown ones are refused.
    let (slow, _) = cache.ensure_built(&DEMO, "slow", &mut |_| {}).unwrap();
    assert_ne!(slow.path, built.path);
    let e = cache.ensure_built(&DEMO, "odd", &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("fast, slow"), "{e}");
}

#[test]
fn concurrent_callers_share_one_build() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (root, barrier) = (root.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                Cache::at(root)
                    .ensure_built(&DEMO, "fast", &mut |_| {})
                    .unwrap()
                    .1
            })
        })
        .collect();
    let results: Vec<Fetched> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(builds(dir.path()), 1, "{results:?}");
    assert_eq!(
        results
            .iter()
            .filter(|r| **r == Fetched::Downloaded)
            .count(),
        1
    );
}

#[test]
fn a_failed_step_is_named_and_its_log_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::at(dir.path());
    let e = cache
        .ensure_built(&BROKEN, "fast", &mut |_| {})
        .unwrap_err();
    let PackagingError::Build {
        name,
        step,
        log,
        tail,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((name.as_str(), step.as_str()), ("broken", "compile"));
    assert!(
        std::fs::read_to_string(log)
            .unwrap()
            .contains("something broke")
    );
    assert!(tail.contains("something broke"), "{tail}");
    assert!(e.to_string().contains("step `compile`"), "{e}");
    assert!(cache.built(&BROKEN, "fast").is_none());
    // Nothing half-built is left next to where the artifact would be.
    let leftovers: Vec<_> = std::fs::read_dir(cache.built_dir(&BROKEN, "fast"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != ".lock")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
