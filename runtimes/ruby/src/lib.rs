//! # polyrun-ruby
//!
//! Ruby for polyrun: CRuby 3.4 compiled to WebAssembly (npm `@ruby/3.4-wasm-wasi`, the
//! `ruby+stdlib.wasm` file, stdlib packed inside with wasi-vfs), hosted on [`polyrun_wasi`].
//!
//! The module is a reactor with the old wit-bindgen canonical ABI: `_initialize`, then
//! `ruby-init(argv)`, then `rb-eval-string-protect(code)` returning a value handle; handles live
//! in the instance's [`polyrun_wasi::HandleTable`] through the `canonical_abi.resource_*`
//! imports. This adapter is written once against the [`polyrun_wasi`] seam: natively (feature
//! `native`, the default) on wasmtime, in the browser bundle (feature `browser`) on the page's
//! WebAssembly engine — the same calls, prelude, limits and outcomes in both.
//! User code runs through a small Ruby prelude (`src/prelude.rb`) that evaluates it in one
//! top-level binding with the user's file name and line 1 (so backtraces carry the user's own
//! lines) and reports the value or the exception as JSON.
//!
//! A non-session run gets a fresh VM (the manager resets instances between runs; a reset boots
//! the next VM ahead of time). Any trap — deadline, cancel, memory or output limit — discards the
//! VM. Ruby starts with `--disable-gems`.

use polyrun_engine::{
    Capabilities, Diagnostic, Error, LoadContext, Outcome, Registry, RunIo, RunRequest, Runtime,
    RuntimeDescriptor,
};
use polyrun_wasi::{CallError, IoSlot, WasiConfig, WasiInstance, WasiModule};
use std::sync::Arc;

/// Where the module comes from: the packaging cache and wasmtime natively, the worker in the
/// browser.
#[cfg(feature = "native")]
#[path = "native.rs"]
mod platform;
#[cfg(all(feature = "browser", not(feature = "native")))]
#[path = "browser.rs"]
mod platform;

#[cfg(not(any(feature = "native", feature = "browser")))]
compile_error!("enable feature `native` (wasmtime) or `browser` (the bundle)");

#[cfg(feature = "native")]
pub use platform::prepare;

/// The packaging artifact this backend runs.
pub const ARTIFACT: &str = "ruby";

const PRELUDE: &str = include_str!("prelude.rb");
const ARGV: [&str; 4] = ["ruby", "--disable-gems", "-EUTF-8", "-e_=0"];

const RUBY_INIT: &str = "ruby-init: func(args: list<string>) -> ()";
const EVAL: &str = "rb-eval-string-protect: func(str: string) -> tuple<handle<rb-abi-value>, s32>";
const RSTRING_PTR: &str = "rstring-ptr: func(value: handle<rb-abi-value>) -> string";
const RSTRING_POST: &str = "cabi_post_rstring-ptr";
const DROP_VALUE: &str = "canonical_abi_drop_rb-abi-value";

/// The descriptor this crate registers.
pub const DESCRIPTOR: RuntimeDescriptor = RuntimeDescriptor {
    id: "ruby",
    name: "Ruby",
    aliases: &["rb", "cruby"],
    extensions: &["rb"],
    backend: "ruby.wasm",
    version: "CRuby 3.4 (ruby.wasm 2.10.1)",
    capabilities: Capabilities {
        preemptible: true,
        memory_limit: true,
        stdin: true,
        sessions: true,
    },
    load,
    prepare: platform::PREPARE,
};

/// Adds Ruby to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(DESCRIPTOR);
}

fn load(ctx: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Ok(Box::new(RubyRuntime::new(ctx)?))
}

fn load_error(message: impl std::fmt::Display) -> Error {
    Error::Load {
        language: "ruby".into(),
        message: message.to_string(),
    }
}

/// A Ruby VM: one instance, booted and with the prelude loaded.
struct Vm {
    inst: Box<dyn WasiInstance>,
}

/// The WASI configuration of every Ruby instance: the program name, and the value handles.
fn config() -> WasiConfig {
    WasiConfig {
        args: vec!["ruby".into()],
        resources: vec!["rb-abi-value".into()],
        ..WasiConfig::default()
    }
}

/// What [`start`] does, for the key of a pre-initialised module natively: a changed prelude or
/// argument list makes a new one.
fn start_id() -> String {
    format!("ruby {ARGV:?} {RUBY_INIT}\n{PRELUDE}")
}

/// Boots Ruby in a fresh instance of the original module: the reactor's `_initialize`,
/// `ruby-init` with [`ARGV`], then the prelude. Natively it runs once per machine, and its
/// result is the pre-initialised module every VM starts from; in the browser, once per VM.
fn start(inst: &mut dyn WasiInstance) -> Result<(), Error> {
    inst.set_run(None, None);
    let e = |e: CallError| load_error(format!("booting the Ruby VM: {e}"));
    inst.call("_initialize", &[]).map_err(e)?;
    let list = inst
        .call_i32("cabi_realloc", &[0, 0, 4, ARGV.len() as i32 * 8])
        .map_err(e)?;
    for (i, arg) in ARGV.iter().enumerate() {
        // ruby-init's strings are C strings: the NUL is counted in the length.
        let mut bytes = arg.as_bytes().to_vec();
        bytes.push(0);
        let (ptr, len) = alloc(inst, &bytes, 1).map_err(e)?;
        inst.write_i32(list + i as i32 * 8, ptr).map_err(e)?;
        inst.write_i32(list + i as i32 * 8 + 4, len).map_err(e)?;
    }
    inst.call(RUBY_INIT, &[list, ARGV.len() as i32])
        .map_err(e)?;
    match eval(inst, PRELUDE).map_err(e)? {
        (_, 0) => Ok(()),
        (_, state) => Err(load_error(format!("the prelude failed (state {state})"))),
    }
}

/// Copies `bytes` into guest memory (with one spare NUL after them: the guest may read them
/// as a C string); their address and length.
fn alloc(inst: &mut dyn WasiInstance, bytes: &[u8], align: i32) -> Result<(i32, i32), CallError> {
    let len = bytes.len() as i32;
    let ptr = inst.call_i32("cabi_realloc", &[0, 0, align, len + 1])?;
    inst.write(ptr, bytes)?;
    inst.write(ptr + len, &[0])?;
    Ok((ptr, len))
}

/// Evaluates `code`; returns the result's string value (if any) and Ruby's protect state.
fn eval(inst: &mut dyn WasiInstance, code: &str) -> Result<(Option<String>, i32), CallError> {
    let (ptr, len) = alloc(inst, code.as_bytes(), 1)?;
    let ret = inst.call_i32(EVAL, &[ptr, len])?;
    let handle = inst.read_i32(ret)?;
    let state = inst.read_i32(ret + 4)?;
    if state != 0 {
        release(inst, handle)?;
        return Ok((None, state));
    }
    let text = rstring(inst, handle)?;
    release(inst, handle)?;
    Ok((Some(text), 0))
}

fn rstring(inst: &mut dyn WasiInstance, handle: i32) -> Result<String, CallError> {
    let ret = inst.call_i32(RSTRING_PTR, &[handle])?;
    let ptr = inst.read_i32(ret)?;
    let len = inst.read_i32(ret + 4)?;
    let bytes = inst.read(ptr, len)?;
    inst.call(RSTRING_POST, &[ret])?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Lets Ruby's GC have the value again.
fn release(inst: &mut dyn WasiInstance, handle: i32) -> Result<(), CallError> {
    if let Some(value) = inst.take_handle(handle) {
        inst.call(DROP_VALUE, &[value])?;
    }
    Ok(())
}

impl Vm {
    /// A VM ready for runs: an instance of a pre-initialised module as it is, or one started.
    fn boot(module: &dyn WasiModule, slot: &IoSlot) -> Result<Vm, Error> {
        let mut inst = module.instantiate(&config(), slot)?;
        if !module.preinitialized() {
            start(&mut *inst)?;
        }
        Ok(Vm { inst })
    }

    fn eval(&mut self, code: &str) -> Result<(Option<String>, i32), CallError> {
        eval(&mut *self.inst, code)
    }
}

/// A Ruby string literal holding `s` exactly (single-quoted: only `\\` and `\'` are escapes).
fn ruby_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A Ruby backend instance.
pub struct RubyRuntime {
    module: Arc<dyn WasiModule>,
    slot: IoSlot,
    vm: Option<Vm>,
}

impl std::fmt::Debug for RubyRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RubyRuntime")
            .field("booted", &self.vm.is_some())
            .finish_non_exhaustive()
    }
}

impl RubyRuntime {
    /// Loads the module (fetching and compiling it on first use) and boots a VM.
    pub fn new(ctx: &LoadContext) -> Result<Self, Error> {
        let module = platform::module(ctx)?;
        let slot = IoSlot::new();
        let vm = Vm::boot(&*module, &slot)?;
        Ok(RubyRuntime {
            module,
            slot,
            vm: Some(vm),
        })
    }

    /// Bytes of linear memory the current VM uses (0 when none is booted).
    pub fn memory_size(&self) -> usize {
        self.vm.as_ref().map_or(0, |vm| vm.inst.memory_size())
    }

    fn execute(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        let vm = match &mut self.vm {
            Some(vm) => vm,
            None => self.vm.insert(Vm::boot(&*self.module, &self.slot)?),
        };
        let file = request.file_name("main.rb");
        let code = format!(
            "Polyrun.run({}, {})",
            ruby_literal(&request.code),
            ruby_literal(file)
        );
        vm.inst
            .set_run(Some(io.control()), request.limits.memory_bytes);
        let result = vm.eval(&code);
        vm.inst.set_run(None, None);
        Ok(match result {
            Ok((Some(json), 0)) => polyrun_engine::report::outcome(&json, "the Ruby prelude"),
            Ok((_, state)) => Outcome::Error {
                diagnostic: Diagnostic::new(
                    "Exception",
                    format!("the program ended abnormally (Ruby state {state})"),
                ),
            },
            Err(CallError::Stopped(i)) => Outcome::from_interrupt(i),
            Err(CallError::Exit(0)) => Outcome::Completed { value: None },
            Err(CallError::Exit(code)) => Outcome::Error {
                diagnostic: Diagnostic::new("SystemExit", format!("exit status {code}")),
            },
            Err(CallError::Trap(t)) => Outcome::Crashed {
                reason: format!("the Ruby VM trapped: {t}"),
            },
        })
    }
}

impl Runtime for RubyRuntime {
    fn run(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        self.slot.set(Some(io.clone()));
        let outcome = self.execute(request, io);
        self.slot.set(None);
        if self.vm.as_ref().is_some_and(|vm| vm.inst.poisoned()) {
            // A trapped store is never reused.
            self.vm = None;
        }
        outcome
    }

    fn reset(&mut self) -> Result<(), Error> {
        // Boot the next VM now, so that the next run does not wait for it.
        self.vm = None;
        self.vm = Some(Vm::boot(&*self.module, &self.slot)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_round_trip_quotes_and_backslashes() {
        assert_eq!(ruby_literal(r"a'b\c #{x}"), r"'a\'b\\c #{x}'");
    }
}
