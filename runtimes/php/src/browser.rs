//! In the browser: the php.wasm the worker fetched (the same build as natively, from the site's
//! artifacts) and compiled on the page's WebAssembly engine.

use crate::ARTIFACT;
use polyrun_engine::{Error, LoadContext, Prepare};
use polyrun_wasi::WasiModule;
use std::sync::Arc;

/// Nothing to prepare: the worker fetches the module.
pub(crate) const PREPARE: Option<Prepare> = None;

/// The module the worker compiled.
pub(crate) fn module(_ctx: &LoadContext) -> Result<Arc<dyn WasiModule>, Error> {
    polyrun_wasi::browser::module("php", ARTIFACT)
}
