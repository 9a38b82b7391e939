//! Native: ruby.wasm from the packaging cache (fetched and verified on first use), booted once
//! and snapshotted into a pre-initialised module ([`polyrun_wasi::Preinit`]: every VM starts
//! booted, ~40 ms saved per VM), compiled by wasmtime into the module cache.

use crate::{ARTIFACT, load_error};
use polyrun_engine::{Error, LoadContext, Prepare, PrepareReport};
use polyrun_packaging::{Cache, Fetched};
use polyrun_wasi::{Compiled, Preinit, WasiModule};
use std::sync::Arc;

/// What every VM starts from: ruby.wasm after [`crate::start`].
fn with_preinit<R>(f: impl FnOnce(&Preinit<'_>) -> R) -> R {
    let config = crate::config();
    let id = crate::start_id();
    f(&Preinit {
        id: &id,
        config: &config,
        init: &crate::start,
    })
}

/// `polyrun fetch ruby`; ready once ruby.wasm is in the cache and its booted snapshot compiled.
pub(crate) const PREPARE: Option<Prepare> = Some(Prepare {
    run: prepare,
    ready: fetched,
});

fn fetched() -> bool {
    polyrun_packaging::artifact(ARTIFACT).is_ok_and(|a| {
        Cache::from_env().cached(a).is_some()
            && with_preinit(|p| polyrun_wasi::is_preinitialized(&a.sha256, p))
    })
}

/// Fetches and verifies ruby.wasm, boots it and compiles the snapshot into the module cache
/// (what `polyrun fetch ruby` does). A second call only verifies.
pub fn prepare(ctx: &LoadContext) -> Result<PrepareReport, Error> {
    let cache = Cache::from_env();
    let artifact = polyrun_packaging::artifact(ARTIFACT).map_err(load_error)?;
    let (path, fetched) = cache
        .ensure(artifact, &mut |p| report_fetch(ctx, p))
        .map_err(load_error)?;
    let mut lines = vec![format!(
        "{} {}: {} ({})",
        artifact.file,
        artifact.version,
        match fetched {
            Fetched::AlreadyCached => "already cached, checksum verified",
            Fetched::Downloaded => "downloaded, checksum verified",
            Fetched::Repaired => "damaged cache file replaced, checksum verified",
        },
        path.display()
    )];
    let (_, compiled) = with_preinit(|p| {
        polyrun_wasi::compile_preinitialized_cached(ctx, "ruby", &path, &artifact.sha256, p)
    })?;
    lines.push(compiled.to_string());
    Ok(PrepareReport {
        did_work: fetched != Fetched::AlreadyCached || compiled != Compiled::FromCache,
        lines,
    })
}

fn report_fetch(ctx: &LoadContext, p: polyrun_packaging::Progress) {
    match p {
        polyrun_packaging::Progress::Downloading { done, total } => {
            ctx.progress("downloading ruby.wasm", done, total)
        }
        polyrun_packaging::Progress::Unpacking => ctx.progress("unpacking ruby.wasm", 0, None),
        polyrun_packaging::Progress::Verifying => ctx.progress("verifying ruby.wasm", 0, None),
    }
}

/// The compiled module, shared by all Ruby instances of the process.
pub(crate) fn module(ctx: &LoadContext) -> Result<Arc<dyn WasiModule>, Error> {
    let module = with_preinit(|p| {
        polyrun_wasi::shared_preinitialized_module(ctx, "ruby", || locate(ctx), p)
    })?;
    Ok(module)
}

/// The verified ruby.wasm (fetched when missing) and its sha256.
fn locate(ctx: &LoadContext) -> Result<(std::path::PathBuf, String), Error> {
    let cache = Cache::from_env();
    let artifact = polyrun_packaging::artifact(ARTIFACT).map_err(load_error)?;
    let path = match cache.cached(artifact) {
        Some(p) => p,
        None => {
            cache
                .ensure(artifact, &mut |p| report_fetch(ctx, p))
                .map_err(load_error)?
                .0
        }
    };
    Ok((path, artifact.sha256.clone()))
}
