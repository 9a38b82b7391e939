//! # polyrun-packaging
//!
//! The language artifacts polyrun needs at run time (ruby.wasm, php.wasm, ...). Those a
//! registry ships are pinned in `artifacts.lock` (name, version, registry source, size, sha256),
//! fetched from their registry on first use, verified, and kept in a cache directory. Those no
//! registry ships are built from source by a [`Recipe`] compiled into polyrun (see
//! [`Cache::ensure_built`]). Once cached, nothing touches the network.
//!
//! Cache layout (`POLYRUN_CACHE`, else `$XDG_CACHE_HOME/polyrun`, else `~/.cache/polyrun`):
//!
//! ```text
//! artifacts/<name>/<sha256>/<file>   the verified artifact
//! artifacts/<name>/<recipe>-<variant>/<file> (+ <file>.json)   a built artifact and its record
//! <name>-build/                      build trees, logs and the recipe's files
//! compiled/                          precompiled modules (written by polyrun-wasi)
//! tmp/                               downloads in progress (removed on any failure)
//! ```
//!
//! A file is only ever moved into place after its sha256 matched, so an interrupted download,
//! a wrong checksum or a full disk leaves nothing half-written in the cache.

mod build;

pub use build::{BuildInfo, BuildProgress, Built, PHP, Recipe, recipe, recipes};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The default npm registry; `POLYRUN_NPM_REGISTRY` or `npm_config_registry` override it.
pub const NPM_REGISTRY: &str = "https://registry.npmjs.org";

/// The default Python package index (its PEP 691 JSON "simple" API); `POLYRUN_PYPI_INDEX` or
/// `PIP_INDEX_URL` override it.
pub const PYPI_INDEX: &str = "https://pypi.org/simple";

/// Where an artifact comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Source {
    /// The registry kind: `npm` (the file is inside the package's tarball) or `pypi` (the file
    /// is one of the project's distributions, a wheel, as the index lists it).
    pub registry: String,
    /// Package (npm) or project (PyPI) name.
    pub package: String,
    /// Package version.
    pub version: String,
    /// Path of the file inside the package's tarball (npm), or the distribution's file name
    /// (PyPI).
    pub path: String,
}

/// One pinned artifact.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Artifact {
    /// Short name (`ruby`).
    pub name: String,
    /// What it is.
    pub description: String,
    /// Human version string.
    pub version: String,
    /// File name it is stored under.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// Where it comes from.
    pub source: Source,
    /// The group it is fetched with (`pyodide`), if any: see [`group`].
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Deserialize)]
struct LockFile {
    artifact: Vec<Artifact>,
}

/// The lock file compiled into this build.
pub const LOCK: &str = include_str!("../artifacts.lock");

/// Every artifact of the lock file.
pub fn artifacts() -> &'static [Artifact] {
    static PARSED: OnceLock<Vec<Artifact>> = OnceLock::new();
    PARSED.get_or_init(|| {
        toml::from_str::<LockFile>(LOCK)
            .expect("artifacts.lock is valid (checked by a unit test)")
            .artifact
    })
}

/// The artifact called `name`.
pub fn artifact(name: &str) -> Result<&'static Artifact, PackagingError> {
    artifacts()
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| PackagingError::Unknown {
            name: name.to_string(),
            available: artifacts().iter().map(|a| a.name.clone()).collect(),
        })
}

/// The artifacts of the group `name` (`pyodide`: Pyodide's core files), in lock order; empty
/// for an unknown group.
pub fn group(name: &str) -> Vec<&'static Artifact> {
    artifacts()
        .iter()
        .filter(|a| a.group.as_deref() == Some(name))
        .collect()
}

/// What can go wrong while fetching. Every variant leaves the cache as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackagingError {
    /// No such artifact in the lock.
    #[error("unknown artifact `{name}` (known: {})", available.join(", "))]
    Unknown {
        /// What was asked for.
        name: String,
        /// What the lock has.
        available: Vec<String>,
    },
    /// The registry could not be reached or answered with an error.
    #[error("cannot download {url}: {message}")]
    Network {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The download ended early.
    #[error("the download of {url} was truncated: got {got} of {expected} bytes")]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The package is not a valid gzip'd tar, or lacks the file.
    #[error("the package {package} has no readable {path}: {message}")]
    BadPackage {
        /// Package name and version.
        package: String,
        /// Path looked for.
        path: String,
        /// Detail.
        message: String,
    },
    /// The file does not have the pinned sha256.
    #[error("checksum mismatch for {name}: expected sha256 {expected}, got {actual}")]
    Checksum {
        /// Artifact name.
        name: String,
        /// Pinned hash.
        expected: String,
        /// Hash of what arrived.
        actual: String,
    },
    /// A build from source failed.
    #[error("building {name} failed at step `{step}` (log: {}):\n{tail}", log.display())]
    Build {
        /// Artifact name.
        name: String,
        /// The step that failed.
        step: String,
        /// The step's log, kept.
        log: PathBuf,
        /// The end of the build's error output.
        tail: String,
    },
    /// A local I/O failure (permissions, full disk...).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> PackagingError {
    let context = context.into();
    move |source| PackagingError::Io { context, source }
}

/// Progress of a fetch, for progress bars and events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Bytes of the package downloaded so far.
    Downloading {
        /// Bytes so far.
        done: u64,
        /// Bytes in all, when the registry says.
        total: Option<u64>,
    },
    /// Unpacking the file from the package.
    Unpacking,
    /// Hashing the file.
    Verifying,
}

/// What [`Cache::ensure`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The file was in the cache with the right checksum; nothing was downloaded.
    AlreadyCached,
    /// The file was downloaded now.
    Downloaded,
    /// A cached file had the wrong checksum; it was removed and downloaded again.
    Repaired,
}

/// A cache directory of artifacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
    npm_registry: String,
    pypi_index: String,
}

/// The default cache root: `POLYRUN_CACHE`, else `$XDG_CACHE_HOME/polyrun`, else
/// `~/.cache/polyrun`, else a directory under the system's temp dir.
pub fn default_cache_root() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("POLYRUN_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("polyrun")))
        .or_else(|| env("HOME").map(|p| p.join(".cache").join("polyrun")))
        .unwrap_or_else(|| std::env::temp_dir().join("polyrun-cache"))
}

/// sha256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// An HTTP agent that trusts the operating system's certificate store (so machines behind a
/// TLS-inspecting proxy with its own CA work as they do for curl and npm).
fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Cache {
    /// The cache at [`default_cache_root`], with the registry from the environment.
    pub fn from_env() -> Cache {
        let registry = std::env::var("POLYRUN_NPM_REGISTRY")
            .or_else(|_| std::env::var("npm_config_registry"))
            .ok()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| NPM_REGISTRY.to_string());
        let index = std::env::var("POLYRUN_PYPI_INDEX")
            .or_else(|_| std::env::var("PIP_INDEX_URL"))
            .ok()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| PYPI_INDEX.to_string());
        Cache::at(default_cache_root())
            .with_npm_registry(registry)
            .with_pypi_index(index)
    }

    /// A cache rooted at `root`, using the public npm registry and PyPI.
    pub fn at(root: impl Into<PathBuf>) -> Cache {
        Cache {
            root: root.into(),
            npm_registry: NPM_REGISTRY.to_string(),
            pypi_index: PYPI_INDEX.to_string(),
        }
    }

    /// Uses another npm registry (a mirror, or a test server).
    pub fn with_npm_registry(mut self, url: impl Into<String>) -> Cache {
        self.npm_registry = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Uses another Python package index (its simple API's root: a mirror, or a test server).
    pub fn with_pypi_index(mut self, url: impl Into<String>) -> Cache {
        self.pypi_index = url.into().trim_end_matches('/').to_string();
        self
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where precompiled modules go.
    pub fn compiled_dir(&self) -> PathBuf {
        self.root.join("compiled")
    }

    /// Where `artifact` is stored once fetched.
    pub fn path_of(&self, artifact: &Artifact) -> PathBuf {
        self.root
            .join("artifacts")
            .join(&artifact.name)
            .join(&artifact.sha256)
            .join(&artifact.file)
    }

    /// The stored file if it is present with the pinned size (a cheap check for the run path;
    /// [`Cache::ensure`] verifies the checksum).
    pub fn cached(&self, artifact: &Artifact) -> Option<PathBuf> {
        let p = self.path_of(artifact);
        let meta = fs::metadata(&p).ok()?;
        (meta.is_file() && meta.len() == artifact.size).then_some(p)
    }

    /// Makes sure `artifact` is in the cache with the right checksum, downloading it if it is
    /// missing or damaged. Returns its path and what was done.
    pub fn ensure(
        &self,
        artifact: &Artifact,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(PathBuf, Fetched), PackagingError> {
        let path = self.path_of(artifact);
        let mut repaired = false;
        if path.exists() {
            progress(Progress::Verifying);
            let actual =
                sha256_file(&path).map_err(io_err(format!("reading {}", path.display())))?;
            if actual == artifact.sha256 {
                return Ok((path, Fetched::AlreadyCached));
            }
            fs::remove_file(&path)
                .map_err(io_err(format!("removing damaged {}", path.display())))?;
            repaired = true;
        }
        self.download(artifact, &path, progress)?;
        Ok((
            path,
            if repaired {
                Fetched::Repaired
            } else {
                Fetched::Downloaded
            },
        ))
    }

    /// Where a PyPI distribution is: the index's JSON page of its project (PEP 691) lists each
    /// file with its URL.
    fn distribution_url(&self, source: &Source) -> Result<String, PackagingError> {
        let page = format!("{}/{}/", self.pypi_index, source.package);
        let bad = |message: String| PackagingError::BadPackage {
            package: format!("{}@{}", source.package, source.version),
            path: source.path.clone(),
            message,
        };
        let mut response = agent()
            .get(&page)
            .header("Accept", "application/vnd.pypi.simple.v1+json")
            .call()
            .map_err(|e| PackagingError::Network {
                url: page.clone(),
                message: e.to_string(),
            })?;
        let listing: serde_json::Value = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
            .map_err(|e| {
                bad(format!(
                    "the index's page {page} is not its JSON listing: {e}"
                ))
            })?;
        let url = listing["files"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["filename"] == source.path.as_str())
            .and_then(|f| f["url"].as_str())
            .ok_or_else(|| bad(format!("not listed on {page}")))?;
        // A relative URL is relative to the page.
        Ok(if url.contains("://") {
            url.to_string()
        } else {
            format!("{page}{url}")
        })
    }

    fn tarball_url(&self, source: &Source) -> Result<String, PackagingError> {
        match source.registry.as_str() {
            "pypi" => self.distribution_url(source),
            "npm" => {
                let base = source.package.rsplit('/').next().unwrap_or(&source.package);
                Ok(format!(
                    "{}/{}/-/{}-{}.tgz",
                    self.npm_registry, source.package, base, source.version
                ))
            }
            other => Err(PackagingError::BadPackage {
                package: source.package.clone(),
                path: source.path.clone(),
                message: format!("unsupported registry `{other}`"),
            }),
        }
    }

    fn download(
        &self,
        artifact: &Artifact,
        dest: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), PackagingError> {
        let url = self.tarball_url(&artifact.source)?;
        let tmp_dir = self.root.join("tmp");
        fs::create_dir_all(&tmp_dir).map_err(io_err(format!("creating {}", tmp_dir.display())))?;
        let dest_dir = dest.parent().expect("artifact paths have a parent");
        fs::create_dir_all(dest_dir).map_err(io_err(format!("creating {}", dest_dir.display())))?;

        // 1. The package tarball, into a temporary file (removed on drop).
        let net = |e: ureq::Error| PackagingError::Network {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut response = agent().get(&url).call().map_err(net)?;
        let total = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut tarball = tempfile::NamedTempFile::new_in(&tmp_dir)
            .map_err(io_err(format!("creating a file in {}", tmp_dir.display())))?;
        let mut reader = response.body_mut().as_reader();
        let mut buf = vec![0u8; 256 << 10];
        let mut done = 0u64;
        progress(Progress::Downloading { done, total });
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(PackagingError::Network {
                        url: url.clone(),
                        message: format!("after {done} bytes: {e}"),
                    });
                }
            };
            tarball.write_all(&buf[..n]).map_err(io_err(format!(
                "writing the download to {}",
                tmp_dir.display()
            )))?;
            done += n as u64;
            progress(Progress::Downloading { done, total });
        }
        if let Some(expected) = total
            && done != expected
        {
            return Err(PackagingError::Truncated {
                url,
                expected,
                got: done,
            });
        }
        tarball.flush().map_err(io_err("writing the download"))?;

        // 2. The one file we need, into a temporary file next to its destination (from PyPI,
        // the download is the file).
        if artifact.source.registry == "pypi" {
            progress(Progress::Verifying);
            let actual = sha256_file(tarball.path()).map_err(io_err("hashing the download"))?;
            if actual != artifact.sha256 {
                return Err(PackagingError::Checksum {
                    name: artifact.name.clone(),
                    expected: artifact.sha256.clone(),
                    actual,
                });
            }
            tarball
                .as_file()
                .sync_all()
                .map_err(io_err("writing the download"))?;
            return tarball
                .persist(dest)
                .map(|_| ())
                .map_err(|e| PackagingError::Io {
                    context: format!("moving the file into {}", dest.display()),
                    source: e.error,
                });
        }
        progress(Progress::Unpacking);
        let package = format!("{}@{}", artifact.source.package, artifact.source.version);
        let bad = |message: String| PackagingError::BadPackage {
            package: package.clone(),
            path: artifact.source.path.clone(),
            message,
        };
        let file = File::open(tarball.path()).map_err(io_err("reopening the download"))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let entries = archive.entries().map_err(|e| bad(e.to_string()))?;
        let mut out = tempfile::NamedTempFile::new_in(dest_dir)
            .map_err(io_err(format!("creating a file in {}", dest_dir.display())))?;
        let mut found = false;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(e.to_string()))?;
            let path = entry.path().map_err(|e| bad(e.to_string()))?;
            if path.to_string_lossy() != artifact.source.path {
                continue;
            }
            let mut hasher = Sha256::new();
            loop {
                let n = entry.read(&mut buf).map_err(|e| bad(e.to_string()))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .map_err(io_err(format!("writing {}", dest.display())))?;
            }
            progress(Progress::Verifying);
            let actual = hex(&hasher.finalize());
            if actual != artifact.sha256 {
                return Err(PackagingError::Checksum {
                    name: artifact.name.clone(),
                    expected: artifact.sha256.clone(),
                    actual,
                });
            }
            found = true;
            break;
        }
        if !found {
            return Err(bad("not found in the package".into()));
        }
        out.as_file()
            .sync_all()
            .map_err(io_err(format!("writing {}", dest.display())))?;
        out.persist(dest).map_err(|e| PackagingError::Io {
            context: format!("moving the file into {}", dest.display()),
            source: e.error,
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_parses_and_pins_every_artifact() {
        assert!(!artifacts().is_empty());
        for a in artifacts() {
            assert_eq!(a.sha256.len(), 64, "{}", a.name);
            assert!(
                a.sha256
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
            assert!(a.size > 0);
            assert!(["npm", "pypi"].contains(&a.source.registry.as_str()));
        }
        assert_eq!(artifact("ruby").unwrap().file, "ruby+stdlib.wasm");
        // Pyodide's core: one npm package, several files, all of one version; and micropip's
        // wheel from PyPI, the file itself.
        let pyodide = group("pyodide");
        assert!(pyodide.iter().any(|a| a.file == "pyodide.asm.wasm"));
        let (core, wheels): (Vec<&Artifact>, Vec<&Artifact>) =
            pyodide.iter().partition(|a| a.source.registry == "npm");
        assert!(core.iter().all(|a| a.source.package == "pyodide"
            && a.source.path == format!("package/{}", a.file)
            && a.source.version == core[0].source.version));
        assert!(
            wheels
                .iter()
                .all(|a| a.source.path == a.file && a.file.ends_with(".whl"))
        );
        assert_eq!(wheels.len(), 1);
        assert!(group("ruby").is_empty());
        assert!(
            artifact("cobol")
                .unwrap_err()
                .to_string()
                .contains("known: ruby")
        );
    }

    #[test]
    fn npm_tarball_urls() {
        let cache = Cache::at("/x").with_npm_registry("http://127.0.0.1:1/");
        let url = cache
            .tarball_url(&artifact("ruby").unwrap().source)
            .unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:1/@ruby/3.4-wasm-wasi/-/3.4-wasm-wasi-2.10.1.tgz"
        );
    }
}
