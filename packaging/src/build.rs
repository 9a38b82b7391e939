//! Artifacts polyrun builds from source, for languages no registry ships a usable build of
//! (PHP for WASI). The recipe — a build script and the files it needs — is compiled into
//! polyrun, so a binary can build its own artifacts on any machine of the supported kind
//! (Debian 12 with its package archive reachable).
//!
//! A built artifact lives in `artifacts/<name>/<recipe hash>-<variant>/` next to a JSON record
//! of what it is (source version, sha256, recipe hash, variant, size). The recipe hash covers
//! every file of the recipe, so changing the recipe builds anew and never reuses a stale
//! result. Builds are serialised across processes by a lock file; a build that fails names its
//! failing step and keeps that step's log.

use crate::{Cache, Fetched, PackagingError, io_err, sha256_file};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A build recipe compiled into polyrun.
#[derive(Debug)]
pub struct Recipe {
    /// Artifact name (`php`).
    pub name: &'static str,
    /// What it builds.
    pub description: &'static str,
    /// The file it produces.
    pub file: &'static str,
    /// The variants it can build (the first is the default).
    pub variants: &'static [&'static str],
    /// The build script, relative to the recipe's directory; it is run as
    /// `bash SCRIPT OUT VARIANT` and prints `NAME: STEP...` as each step starts.
    pub script: &'static str,
    /// Every file of the recipe: (path relative to the recipe's directory, content).
    pub files: &'static [(&'static str, &'static str)],
}

macro_rules! php_file {
    ($path:literal) => {
        ($path, include_str!(concat!("../php/", $path)))
    };
}

/// PHP 8.2's CLI for wasm32-wasi, from Debian's source package (`packaging/php/`).
pub const PHP: Recipe = Recipe {
    name: "php",
    description: "PHP 8.2 CLI for WASI, built from Debian's php8.2 source with polyrun's compat layer",
    file: "php.wasm",
    variants: &["exnref", "legacy"],
    script: "build.sh",
    files: &[
        php_file!("build.sh"),
        php_file!("compat/compat.c"),
        php_file!("compat/sjlj.c"),
        php_file!("compat/include/grp.h"),
        php_file!("compat/include/netdb.h"),
        php_file!("compat/include/polyrun_compat.h"),
        php_file!("compat/include/pwd.h"),
        php_file!("compat/include/setjmp.h"),
        php_file!("compat/include/syslog.h"),
        php_file!("compat/include/ucontext.h"),
    ],
};

/// Every recipe.
pub fn recipes() -> &'static [&'static Recipe] {
    &[&PHP]
}

/// The recipe called `name`.
pub fn recipe(name: &str) -> Result<&'static Recipe, PackagingError> {
    recipes()
        .iter()
        .copied()
        .find(|r| r.name == name)
        .ok_or_else(|| PackagingError::Unknown {
            name: name.to_string(),
            available: recipes().iter().map(|r| r.name.to_string()).collect(),
        })
}

impl Recipe {
    /// 16 hex digits of sha256 over every file of the recipe (path and content).
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (path, content) in self.files {
            h.update((path.len() as u64).to_le_bytes());
            h.update(path.as_bytes());
            h.update((content.len() as u64).to_le_bytes());
            h.update(content.as_bytes());
        }
        crate::hex(&h.finalize())[..16].to_string()
    }

    fn check_variant(&self, variant: &str) -> Result<(), PackagingError> {
        if self.variants.contains(&variant) {
            Ok(())
        } else {
            Err(PackagingError::Unknown {
                name: format!("{} variant `{variant}`", self.name),
                available: self.variants.iter().map(|v| v.to_string()).collect(),
            })
        }
    }
}

/// The record a build leaves next to its artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The source it was built from (`debian php8.2 8.2.32-1~deb12u1`).
    pub source: String,
    /// Lower-case hex sha256 of the artifact.
    pub sha256: String,
    /// The recipe hash.
    pub recipe: String,
    /// The variant (for PHP: the WebAssembly exception-handling encoding).
    #[serde(rename = "exceptions")]
    pub variant: String,
    /// Size in bytes.
    pub size: u64,
}

/// A built artifact in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// The artifact's path.
    pub path: PathBuf,
    /// Its record.
    pub info: BuildInfo,
}

/// Progress of a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildProgress {
    /// The step running (`toolchain`, `source`, `configure`, `make`, `install`), or `waiting`
    /// while another process builds the same artifact.
    pub step: String,
    /// Seconds since the build started.
    pub elapsed: u64,
}

impl Cache {
    /// The directory a recipe's variant is built into.
    pub fn built_dir(&self, recipe: &Recipe, variant: &str) -> PathBuf {
        self.root
            .join("artifacts")
            .join(recipe.name)
            .join(format!("{}-{variant}", recipe.hash()))
    }

    /// The built artifact, if its record is readable and the file has the recorded size (a
    /// cheap check for the run path; [`Cache::ensure_built`] verifies the checksum).
    pub fn built(&self, recipe: &Recipe, variant: &str) -> Option<Built> {
        let dir = self.built_dir(recipe, variant);
        let path = dir.join(recipe.file);
        let info: BuildInfo =
            serde_json::from_slice(&fs::read(dir.join(format!("{}.json", recipe.file))).ok()?)
                .ok()?;
        let meta = fs::metadata(&path).ok()?;
        (meta.is_file() && meta.len() == info.size).then_some(Built { path, info })
    }

    /// Makes sure the variant is built and intact: builds it when missing (or when the cached
    /// file no longer matches its record). Returns it and what was done.
    pub fn ensure_built(
        &self,
        recipe: &Recipe,
        variant: &str,
        progress: &mut dyn FnMut(BuildProgress),
    ) -> Result<(Built, Fetched), PackagingError> {
        recipe.check_variant(variant)?;
        let dir = self.built_dir(recipe, variant);
        fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let started = Instant::now();
        // One build at a time per artifact, across processes.
        let lock_path = dir.join(".lock");
        let lock = fs::File::create(&lock_path)
            .map_err(io_err(format!("creating {}", lock_path.display())))?;
        if lock.try_lock().is_err() {
            progress(BuildProgress {
                step: "waiting".into(),
                elapsed: 0,
            });
            lock.lock()
                .map_err(io_err(format!("locking {}", lock_path.display())))?;
        }
        let mut repaired = false;
        if let Some(built) = self.built(recipe, variant) {
            let actual = sha256_file(&built.path)
                .map_err(io_err(format!("reading {}", built.path.display())))?;
            if actual == built.info.sha256 {
                return Ok((built, Fetched::AlreadyCached));
            }
            fs::remove_file(&built.path)
                .map_err(io_err(format!("removing damaged {}", built.path.display())))?;
            repaired = true;
        }
        self.build(recipe, variant, &dir, started, progress)?;
        let built = self
            .built(recipe, variant)
            .ok_or_else(|| PackagingError::Build {
                name: recipe.name.to_string(),
                step: "install".into(),
                log: dir.clone(),
                tail: "the build finished but left no readable artifact and record".into(),
            })?;
        Ok((
            built,
            if repaired {
                Fetched::Repaired
            } else {
                Fetched::Downloaded
            },
        ))
    }

    fn build(
        &self,
        recipe: &Recipe,
        variant: &str,
        dir: &Path,
        started: Instant,
        progress: &mut dyn FnMut(BuildProgress),
    ) -> Result<(), PackagingError> {
        let hash = recipe.hash();
        // The recipe's files, written out for the script to use.
        let src = self
            .root
            .join(format!("{}-build", recipe.name))
            .join(format!("{hash}-recipe"));
        for (path, content) in recipe.files {
            let p = src.join(path);
            if let Some(parent) = p.parent() {
                fs::create_dir_all(parent)
                    .map_err(io_err(format!("creating {}", parent.display())))?;
            }
            fs::write(&p, content).map_err(io_err(format!("writing {}", p.display())))?;
        }
        let tmp = dir.join(format!(".building-{}", recipe.file));
        let mut child = Command::new("bash")
            .arg(src.join(recipe.script))
            .arg(&tmp)
            .arg(variant)
            .env("POLYRUN_CACHE", &self.root)
            .env("POLYRUN_RECIPE_HASH", &hash)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_err("starting bash for the build"))?;
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped");
        let lines = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("piped");
        let errors = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let prefix = format!("{}: ", recipe.file);
        let mut step = "starting".to_string();
        let mut last = u64::MAX;
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(line) => {
                    if let Some(s) = line
                        .strip_prefix(&prefix)
                        .and_then(|s| s.strip_suffix("..."))
                    {
                        step = s.to_string();
                        last = u64::MAX;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let elapsed = started.elapsed().as_secs();
            if elapsed != last {
                last = elapsed;
                progress(BuildProgress {
                    step: step.clone(),
                    elapsed,
                });
            }
        }
        let _ = lines.join();
        let status = child.wait().map_err(io_err("waiting for the build"))?;
        let stderr = errors.join().unwrap_or_default();
        if !status.success() {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(tmp.with_file_name(format!(".building-{}.json", recipe.file)));
            // The script names the failing step and its log: "<file>: step 'X' failed; its log: L".
            let failed = stderr.lines().find_map(|l| {
                let rest = l.strip_prefix(&prefix)?.strip_prefix("step '")?;
                let (name, rest) = rest.split_once('\'')?;
                let log = rest.split_once("its log: ")?.1;
                Some((name.to_string(), PathBuf::from(log.trim())))
            });
            let (step, log) = failed.unwrap_or((step, dir.to_path_buf()));
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            return Err(PackagingError::Build {
                name: recipe.name.to_string(),
                step,
                log,
                tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            });
        }
        let json = tmp.with_file_name(format!(".building-{}.json", recipe.file));
        fs::rename(&json, dir.join(format!("{}.json", recipe.file))).map_err(io_err(format!(
            "moving the build record into {}",
            dir.display()
        )))?;
        fs::rename(&tmp, dir.join(recipe.file))
            .map_err(io_err(format!("moving the build into {}", dir.display())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_php_recipe_is_complete_and_hashed() {
        let r = recipe("php").unwrap();
        assert_eq!(r.variants[0], "exnref");
        assert!(r.files.iter().any(|(p, _)| *p == r.script));
        assert_eq!(r.hash().len(), 16);
        // Every compat file the script refers to by glob is compiled in.
        for dir in ["compat/include", "compat"] {
            let on_disk = fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("php").join(dir))
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .count();
            let embedded = r
                .files
                .iter()
                .filter(|(p, _)| Path::new(p).parent() == Some(Path::new(dir)))
                .count();
            assert_eq!(on_disk, embedded, "files of packaging/php/{dir}");
        }
        assert!(recipe("cobol").is_err());
        assert!(r.check_variant("legacy").is_ok());
        assert!(r.check_variant("asyncify").is_err());
    }
}
