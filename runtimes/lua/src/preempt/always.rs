//! The hook stays on (wasm32 and non-Unix hosts): the global hook set at the state's creation
//! checks the run's control every [`super::HOOK_EVERY`] instructions, and coroutines inherit it.

use mlua::{Lua, Table};
use polyrun_engine::RunControl;

/// Nothing to switch: the hook is always on.
#[derive(Debug)]
pub(crate) struct Preempt;

impl Preempt {
    /// Keeps the global hook as it is.
    pub(crate) fn new(_: &Lua) -> mlua::Result<Self> {
        Ok(Preempt)
    }

    /// Coroutines inherit the global hook: nothing to wrap.
    pub(crate) fn wrap_coroutines(&self, _: &Lua, _: &Table) -> mlua::Result<()> {
        Ok(())
    }

    /// Nothing to arm: the hook polls the control by itself.
    pub(crate) fn arm(&self, _: &Lua, _: &RunControl) -> Armed {
        Armed
    }
}

/// What [`Preempt::arm`] returns.
pub(crate) struct Armed;
