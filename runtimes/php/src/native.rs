//! Native: php.wasm built from Debian's source into the packaging cache (on first use), compiled
//! by wasmtime into the module cache.

use crate::VARIANT;
use polyrun_engine::{Error, LoadContext, Prepare, PrepareReport};
use polyrun_packaging::{BuildProgress, Built, Cache, Fetched, PHP};
use polyrun_wasi::{Compiled, WasiModule};
use std::sync::Arc;

fn load_error(message: impl std::fmt::Display) -> Error {
    Error::Load {
        language: "php".into(),
        message: message.to_string(),
    }
}

/// `polyrun fetch php`; ready once php.wasm is built and compiled.
pub(crate) const PREPARE: Option<Prepare> = Some(Prepare {
    run: prepare,
    ready: built,
});

fn built() -> bool {
    Cache::from_env()
        .built(&PHP, VARIANT)
        .is_some_and(|b| polyrun_wasi::is_compiled(&b.info.sha256))
}

fn build(ctx: &LoadContext, cache: &Cache) -> Result<(Built, Fetched), Error> {
    cache
        .ensure_built(&PHP, VARIANT, &mut |p: BuildProgress| {
            let stage = if p.step == "waiting" {
                "waiting for another process building php.wasm".to_string()
            } else {
                format!(
                    "building php.wasm from source (first use, a few minutes): {}",
                    p.step
                )
            };
            ctx.progress(&stage, p.elapsed, None)
        })
        .map_err(load_error)
}

/// Builds php.wasm if needed, verifies it and compiles it into the module cache (what
/// `polyrun fetch php` does). A second call only verifies.
pub fn prepare(ctx: &LoadContext) -> Result<PrepareReport, Error> {
    let cache = Cache::from_env();
    let (built, fetched) = build(ctx, &cache)?;
    let mut lines = vec![format!(
        "php.wasm ({}, recipe {}, {}, {} bytes): {} ({})",
        built.info.source,
        built.info.recipe,
        built.info.variant,
        built.info.size,
        match fetched {
            Fetched::AlreadyCached => "already built, checksum verified",
            Fetched::Repaired => "damaged cache file rebuilt",
            _ => "built from source",
        },
        built.path.display()
    )];
    let (_, compiled) = polyrun_wasi::compile_cached(ctx, "php", &built.path, &built.info.sha256)?;
    lines.push(compiled.to_string());
    Ok(PrepareReport {
        did_work: fetched != Fetched::AlreadyCached || compiled != Compiled::FromCache,
        lines,
    })
}

/// The compiled module, shared by every PHP instance of the process.
pub(crate) fn module(ctx: &LoadContext) -> Result<Arc<dyn WasiModule>, Error> {
    let module = polyrun_wasi::shared_module(ctx, "php", || {
        let cache = Cache::from_env();
        let built = match cache.built(&PHP, VARIANT) {
            Some(b) => b,
            None => build(ctx, &cache)?.0,
        };
        Ok((built.path, built.info.sha256))
    })?;
    Ok(module)
}
