//! # polyrun-python
//!
//! Python 3 for polyrun, through [RustPython](https://github.com/RustPython/RustPython)
//! (`rustpython-vm` 0.5; 0.6 needs rustc 1.96, see `docs/languages/python.md`).
//!
//! ## The sandbox, by construction
//! RustPython is built without its `host_env` and `stdio` features: the interpreter has no
//! native `posix`/`nt`, `_socket`, `_ctypes`, `_signal`, `select`, `mmap` or `FileIO`, so no
//! Python code can reach the host's files, processes, sockets, signals or native libraries,
//! whatever it imports. The standard library's Python half is frozen into the binary (nothing
//! is read from disk at run time). A prelude (`prelude.py`) then supplies what pure-Python
//! modules expect of the missing pieces: an `os` (also `posix`) with paths, constants and an
//! empty environment whose host-touching functions raise `PermissionError`, an `open` that
//! refuses, and `sys.stdin`/`stdout`/`stderr` that talk to the run's [`RunIo`].
//!
//! ## Limits
//! Wall time and cancel use RustPython's own signal check (once per bytecode instruction): a
//! process-wide ticker thread polls every running interpreter's [`polyrun_engine::RunControl`]
//! and, once it reports an interrupt, sends that interpreter a signal that raises
//! `KeyboardInterrupt` — and sends itself again, so the next instruction raises again and a
//! guest `except BaseException:` cannot keep the run alive. `time.sleep` and `input()` wait
//! interruptibly. A long call into native code (a huge `pow`, a catastrophic regex) is not
//! interrupted: the manager's worker process is the hard stop there, and for memory, which
//! RustPython cannot bound in process.

use polyrun_engine::{
    Capabilities, Diagnostic, Error, Interrupt, LoadContext, MimeBundle, Outcome, PYTHON, Registry,
    RunIo, RunRequest, Runtime, RuntimeDescriptor, Stream,
};
use rustpython_vm::builtins::PyStrRef;
use rustpython_vm::compiler::Mode;
use rustpython_vm::function::ArgIntoFloat;
use rustpython_vm::scope::Scope;
use rustpython_vm::signal::{UserSignal, UserSignalSender, user_signal_channel};
use rustpython_vm::{AsObject, Interpreter, PyObjectRef, PyResult, Settings, VirtualMachine};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod nesting;
#[cfg_attr(target_arch = "wasm32", path = "ticker_web.rs")]
mod ticker;

/// The prelude run in every new interpreter: the sandbox (`prelude.py`), then the outcomes and
/// the `polyrun` helpers every Python backend shares (`outcomes.py`, also Pyodide's).
const PRELUDE: &str = concat!(include_str!("prelude.py"), include_str!("outcomes.py"));

/// The descriptor this crate registers.
pub const DESCRIPTOR: RuntimeDescriptor = RuntimeDescriptor {
    id: PYTHON.id,
    name: PYTHON.name,
    aliases: PYTHON.aliases,
    extensions: PYTHON.extensions,
    backend: "rustpython",
    version: "Python 3.14 (RustPython 0.6)",
    capabilities: Capabilities {
        preemptible: true,
        memory_limit: false,
        stdin: true,
        sessions: true,
    },
    load,
    prepare: None,
};

/// Adds Python to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(DESCRIPTOR);
}

fn load(_: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Ok(Box::new(PythonRuntime::new()?))
}

/// What the host functions of the prelude reach: the run in progress.
type Slot = Rc<RefCell<Option<RunIo>>>;

/// A live interpreter and the prelude's helpers.
struct State {
    scope: Scope,
    bundle: PyObjectRef,
    describe: PyObjectRef,
    set_recursion_limit: PyObjectRef,
    /// Dropped last: everything above belongs to it.
    interp: Interpreter,
}

/// A RustPython interpreter with polyrun's sandbox installed.
pub struct PythonRuntime {
    slot: Slot,
    signals: UserSignalSender,
    /// The number of the run in progress; a stop signal sent for an earlier run does nothing.
    generation: Arc<AtomicU64>,
    state: State,
}

impl std::fmt::Debug for PythonRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonRuntime")
            .field("generation", &self.generation.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

fn load_error(message: impl Into<String>) -> Error {
    Error::Load {
        language: "python".into(),
        message: message.into(),
    }
}

/// The message of the exception a stop raises inside the guest.
fn stop_message(i: Interrupt) -> String {
    match i {
        Interrupt::Cancelled => "polyrun: run cancelled".into(),
        Interrupt::Limit(l) => format!("polyrun: {l} limit exceeded"),
    }
}

fn stop_exception(
    vm: &VirtualMachine,
    i: Interrupt,
) -> rustpython_vm::builtins::PyBaseExceptionRef {
    vm.new_exception_msg(
        vm.ctx.exceptions.keyboard_interrupt.to_owned(),
        stop_message(i).into(),
    )
}

/// The signal that stops run number `generation`: raises in the guest and re-arms itself, so
/// the instruction after a guest's `except` raises again.
fn stop_signal(
    io: RunIo,
    current: Arc<AtomicU64>,
    generation: u64,
    tx: UserSignalSender,
) -> UserSignal {
    Box::new(move |vm| {
        if current.load(Ordering::SeqCst) != generation {
            return Ok(());
        }
        match io.control().interrupted() {
            None => Ok(()),
            Some(i) => {
                let again = stop_signal(io.clone(), current.clone(), generation, tx.clone());
                let _ = tx.send(again);
                Err(stop_exception(vm, i))
            }
        }
    })
}

/// The text of a `compile`/`exec`/`eval` source argument that is source (not a code object).
fn source_text(source: &PyObjectRef) -> Option<String> {
    if let Some(s) = source.downcast_ref::<rustpython_vm::builtins::PyStr>() {
        return Some(s.to_string_lossy().into_owned());
    }
    if let Some(b) = source.downcast_ref::<rustpython_vm::builtins::PyBytes>() {
        return Some(String::from_utf8_lossy(b.as_bytes()).into_owned());
    }
    None
}

/// The exception for `src` if it nests past a limit ([`nesting::check_source`]): CPython's
/// `SyntaxError`/`IndentationError` (with its line) or `RecursionError`.
fn nesting_error(
    vm: &VirtualMachine,
    src: &str,
    file: &str,
) -> Option<rustpython_vm::builtins::PyBaseExceptionRef> {
    let too_deep = nesting::check_source(src).err()?;
    let types = &vm.ctx.exceptions;
    let message = too_deep.kind.message();
    let ty = match too_deep.kind {
        nesting::TooDeepKind::Expression => {
            return Some(vm.new_exception_msg(types.recursion_error.to_owned(), message.into()));
        }
        nesting::TooDeepKind::Brackets => types.syntax_error,
        nesting::TooDeepKind::Indentation => types.indentation_error,
    };
    let exc = vm.new_exception_msg(ty.to_owned(), message.into());
    let text: String = src
        .lines()
        .nth(too_deep.line - 1)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    let obj = exc.as_object();
    let attrs: [(&str, PyObjectRef); 5] = [
        ("msg", vm.ctx.new_str(message).into()),
        ("filename", vm.ctx.new_str(file).into()),
        ("lineno", vm.ctx.new_int(too_deep.line).into()),
        ("offset", vm.ctx.new_int(1).into()),
        ("text", vm.ctx.new_str(text).into()),
    ];
    for (attr, value) in attrs {
        let _: PyResult<()> = obj.set_attr(attr, value, vm);
    }
    Some(exc)
}

/// The run in progress, for a host function.
fn current(slot: &Slot, vm: &VirtualMachine) -> PyResult<RunIo> {
    slot.borrow()
        .clone()
        .ok_or_else(|| vm.new_runtime_error("polyrun: no run in progress".to_owned()))
}

fn io_result(vm: &VirtualMachine, r: Result<(), Interrupt>) -> PyResult<()> {
    r.map_err(|i| stop_exception(vm, i))
}

impl PythonRuntime {
    /// A fresh sandboxed interpreter.
    pub fn new() -> Result<Self, Error> {
        let slot: Slot = Rc::new(RefCell::new(None));
        let (tx, rx) = user_signal_channel();
        let state = Self::boot(&slot, rx)?;
        Ok(PythonRuntime {
            slot,
            signals: tx,
            generation: Arc::new(AtomicU64::new(0)),
            state,
        })
    }

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.import_site = false;
        s.isolated = true;
        s.ignore_environment = true;
        s.user_site_directory = false;
        s.write_bytecode = false;
        s.safe_path = true;
        s.install_signal_handlers = false;
        s.argv = vec![String::new()];
        s
    }

    fn boot(slot: &Slot, rx: rustpython_vm::signal::UserSignalReceiver) -> Result<State, Error> {
        let builder = Interpreter::builder(Self::settings());
        let natives = rustpython_stdlib::stdlib_module_defs(&builder.ctx);
        let interp = builder
            .add_native_modules(&natives)
            .add_frozen_modules(rustpython_pylib::FROZEN_STDLIB)
            .init_hook(move |vm| vm.set_user_signal_channel(rx))
            .build();
        let slot = slot.clone();
        let parts = interp.enter(|vm| {
            let setup = || -> PyResult<_> {
                Self::forbid_hand_made_code(vm);
                Self::guard_compilers(vm)?;
                let dict = vm.ctx.new_dict();
                let module = vm.new_module("_polyrun", dict.clone(), None);
                dict.set_item("__builtins__", vm.builtins.clone().into(), vm)?;
                Self::install_host_functions(vm, &dict, &slot)?;
                vm.sys_module
                    .get_attr("modules", vm)?
                    .set_item("_polyrun", module.into(), vm)?;
                let code = vm
                    .compile(PRELUDE, Mode::Exec, "<polyrun>".to_owned())
                    .map_err(|e| e.into_pyexception(vm, Some(PRELUDE)))?;
                vm.run_code_obj(code, Scope::with_builtins(None, dict.clone(), vm))?;
                let time = vm.import("time", 0)?;
                time.set_attr("sleep", dict.get_item("_sleep", vm)?, vm)?;
                let scope = vm.new_scope_with_main()?;
                Ok((
                    scope,
                    dict.get_item("_bundle", vm)?,
                    dict.get_item("_describe", vm)?,
                    vm.sys_module.get_attr("setrecursionlimit", vm)?,
                ))
            };
            setup().map_err(|e| {
                let mut text = String::new();
                let _ = vm.write_exception(&mut text, &e);
                text
            })
        });
        let (scope, bundle, describe, set_recursion_limit) = parts.map_err(load_error)?;
        Ok(State {
            scope,
            bundle,
            describe,
            set_recursion_limit,
            interp,
        })
    }
}

impl PythonRuntime {
    /// Guest code cannot make a code object other than by compiling source: RustPython runs
    /// bytecode unchecked, so a hand-made `co_code` reads and writes out of bounds.
    /// `types.CodeType(...)`, `CodeType.__new__`, `code.replace(...)` and `code.__replace__`
    /// raise `TypeError` (the prelude refuses code objects from `marshal` as well).
    fn forbid_hand_made_code(vm: &VirtualMachine) {
        const REFUSED: &str =
            "polyrun: code objects cannot be made by hand here (compile() source instead)";
        fn refuse_new(
            _: rustpython_vm::builtins::PyTypeRef,
            _: rustpython_vm::function::FuncArgs,
            vm: &VirtualMachine,
        ) -> PyResult {
            Err(vm.new_type_error(REFUSED))
        }
        let code = vm.ctx.types.code_type;
        code.slots.new.store(Some(refuse_new));
        for name in ["__new__", "replace", "__replace__"] {
            let refuse = vm.new_function(
                name,
                |_: rustpython_vm::function::FuncArgs, vm: &VirtualMachine| -> PyResult {
                    Err(vm.new_type_error(REFUSED))
                },
            );
            code.set_attr(vm.ctx.intern_str(name), refuse.into());
        }
    }

    /// `compile`, `exec` and `eval` given source measure how deep it nests first
    /// ([`nesting::check_source`]), as the backend does with a run's code: RustPython's parser
    /// and compiler recurse on the native stack without a depth check of their own. Native
    /// wrappers, so `exec`/`eval` still see their caller's globals and locals.
    fn guard_compilers(vm: &VirtualMachine) -> PyResult<()> {
        for name in ["compile", "exec", "eval"] {
            let original = vm.builtins.get_attr(name, vm)?;
            let wrapper = vm.new_function(
                name,
                move |args: rustpython_vm::function::FuncArgs, vm: &VirtualMachine| -> PyResult {
                    let source = args.args.first().or_else(|| args.kwargs.get("source"));
                    if let Some(text) = source.and_then(source_text) {
                        let file = match (name, args.args.get(1)) {
                            ("compile", Some(f)) => f
                                .downcast_ref::<rustpython_vm::builtins::PyStr>()
                                .map_or_else(
                                    || "<string>".to_owned(),
                                    |f| f.to_string_lossy().into_owned(),
                                ),
                            _ => "<string>".to_owned(),
                        };
                        if let Some(exc) = nesting_error(vm, &text, &file) {
                            return Err(exc);
                        }
                    }
                    original.call(args, vm)
                },
            );
            vm.builtins.set_attr(name, wrapper, vm)?;
        }
        Ok(())
    }

    /// Puts `_host`, `_display`, `_write`, `_readline`, `_sleep` and `_urandom` into the
    /// prelude's globals.
    fn install_host_functions(
        vm: &VirtualMachine,
        dict: &rustpython_vm::builtins::PyDictRef,
        slot: &Slot,
    ) -> PyResult<()> {
        let s = slot.clone();
        let write = vm.new_function(
            "_write",
            move |fd: i32, text: PyStrRef, vm: &VirtualMachine| -> PyResult<()> {
                let io = current(&s, vm)?;
                let stream = if fd == 2 {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                };
                io_result(vm, io.write(stream, &text.to_string_lossy()))
            },
        );
        let s = slot.clone();
        let readline = vm.new_function(
            "_readline",
            move |vm: &VirtualMachine| -> PyResult<Option<String>> {
                let io = current(&s, vm)?;
                let line = io.read_line();
                io_result(vm, io.check())?;
                Ok(line.map(|l| l + "\n"))
            },
        );
        let s = slot.clone();
        let sleep = vm.new_function(
            "_sleep",
            move |seconds: ArgIntoFloat, vm: &VirtualMachine| -> PyResult<()> {
                let seconds = seconds.into_float();
                if seconds.is_nan() || seconds < 0.0 {
                    return Err(vm.new_value_error("sleep length must be non-negative".to_owned()));
                }
                let io = current(&s, vm)?;
                let end =
                    web_time::Instant::now() + std::time::Duration::from_secs_f64(seconds.min(1e9));
                loop {
                    io_result(vm, io.check())?;
                    let now = web_time::Instant::now();
                    if now >= end {
                        return Ok(());
                    }
                    ticker::pause(io.control(), end - now);
                }
            },
        );
        let urandom = vm.new_function(
            "_urandom",
            move |n: isize, vm: &VirtualMachine| -> PyResult<Vec<u8>> {
                let n = usize::try_from(n)
                    .map_err(|_| vm.new_value_error("negative argument not allowed".to_owned()))?;
                let mut buf = vec![0u8; n];
                getrandom::fill(&mut buf)
                    .map_err(|e| vm.new_runtime_error(format!("urandom: {e}")))?;
                Ok(buf)
            },
        );
        let s = slot.clone();
        let host = vm.new_function(
            "_host",
            move |request: PyStrRef, vm: &VirtualMachine| -> PyResult<String> {
                let io = current(&s, vm)?;
                io_result(vm, io.check())?;
                let reply = io.host_call_json(&request.to_string_lossy());
                io_result(vm, io.check())?;
                Ok(reply)
            },
        );
        let s = slot.clone();
        let display = vm.new_function(
            "_display",
            move |bundle: PyStrRef, vm: &VirtualMachine| -> PyResult<()> {
                let io = current(&s, vm)?;
                let bundle: MimeBundle = serde_json::from_str(&bundle.to_string_lossy())
                    .map_err(|e| vm.new_value_error(format!("display: {e}")))?;
                io_result(vm, io.display(bundle))
            },
        );
        // The prelude's JSON scanner asks it before RustPython's decoder recurses.
        let json_nesting = vm.new_function(
            "_json_nesting",
            |text: PyStrRef, index: usize, vm: &VirtualMachine| -> PyResult<()> {
                let limit = vm.recursion_limit.get().min(nesting::MAX_NESTING);
                if nesting::json_nests_deeper(&text.to_string_lossy(), index, limit) {
                    return Err(vm.new_exception_msg(
                        vm.ctx.exceptions.recursion_error.to_owned(),
                        "maximum recursion depth exceeded while decoding a JSON document".into(),
                    ));
                }
                Ok(())
            },
        );
        for (name, f) in [
            ("_json_nesting", json_nesting),
            ("_host", host),
            ("_display", display),
            ("_write", write),
            ("_readline", readline),
            ("_sleep", sleep),
            ("_urandom", urandom),
        ] {
            dict.set_item(name, f.into(), vm)?;
        }
        Ok(())
    }

    /// Runs the request's code in the session's `__main__` and turns the result into an outcome.
    fn execute(&self, vm: &VirtualMachine, request: &RunRequest, io: &RunIo) -> Outcome {
        let file = request.file_name("main.py").to_string();
        let depth = request.limits.recursion_depth.unwrap_or(100_000).max(10);
        // The module's own frame counts, as in CPython.
        let _ = self
            .state
            .set_recursion_limit
            .call((depth as usize + 1,), vm);
        let result = self.run_code(vm, &request.code, &file);
        let outcome = match result {
            Ok(value) if vm.is_none(&value) => Outcome::Completed { value: None },
            Ok(value) => match self.state.bundle.call((value,), vm) {
                Ok(report) => report_outcome(vm, &report),
                Err(e) => self.error(vm, e, &file, io),
            },
            Err(e) => self.error(vm, e, &file, io),
        };
        match io.control().interrupted() {
            Some(i) => Outcome::from_interrupt(i),
            None => outcome,
        }
    }

    /// Runs `code` in `__main__`; the value of a final expression statement is the result (the
    /// REPL rule). The statements before it and the expression are compiled separately, each
    /// keeping its lines in the user's file.
    fn run_code(&self, vm: &VirtualMachine, code: &str, file: &str) -> PyResult {
        let syntax_error =
            |e: rustpython_vm::vm::VmCompileError, src: &str| e.into_pyexception(vm, Some(src));
        let scope = || self.state.scope.clone();
        if let Some(exc) = nesting_error(vm, code, file) {
            return Err(exc);
        }
        if let Some((start, end)) = last_expression(code) {
            let (body, expr) = (&code[..start], &code[start..end]);
            // Blank lines put the expression on its own line (eval mode rejects leading
            // spaces, so after a `;` its columns are counted from the expression's start).
            let padded = format!("{}{}", "\n".repeat(body.matches('\n').count()), expr);
            let compiled = vm
                .compile(body, Mode::Exec, file.to_owned())
                .map_err(|e| syntax_error(e, code))
                .and_then(|b| {
                    vm.compile(&padded, Mode::Eval, file.to_owned())
                        .map(|e| (b, e))
                        .map_err(|e| syntax_error(e, &padded))
                });
            if let Ok((body, expr)) = compiled {
                vm.run_code_obj(body, scope())?;
                return vm.run_code_obj(expr, scope());
            }
        }
        let compiled = vm
            .compile(code, Mode::Exec, file.to_owned())
            .map_err(|e| syntax_error(e, code))?;
        vm.run_code_obj(compiled, scope())
    }

    /// The outcome of an uncaught exception.
    fn error(
        &self,
        vm: &VirtualMachine,
        exc: rustpython_vm::builtins::PyBaseExceptionRef,
        file: &str,
        io: &RunIo,
    ) -> Outcome {
        if let Some(i) = io.control().interrupted() {
            return Outcome::from_interrupt(i);
        }
        let outcome = match self.state.describe.call((exc.clone(), file.to_owned()), vm) {
            Ok(report) => report_outcome(vm, &report),
            Err(_) => Outcome::Error {
                diagnostic: Diagnostic::new(exc.class().name().to_string(), ""),
            },
        };
        match io.control().interrupted() {
            Some(i) => Outcome::from_interrupt(i),
            None => outcome,
        }
    }
}

/// The byte range of the last statement when it is an expression statement.
fn last_expression(code: &str) -> Option<(usize, usize)> {
    use rustpython_vm::compiler::{ast, parser};
    let parsed = parser::parse_module(code).ok()?;
    match parsed.syntax().body.last()? {
        ast::Stmt::Expr(e) => Some((e.range.start().to_usize(), e.range.end().to_usize())),
        _ => None,
    }
}

impl PythonRuntime {
    /// Runs `f` (guest code of `io`'s run) with the run's I/O installed for the host functions
    /// and the ticker watching `io`'s control, signalling through `signals`.
    fn guarded<R>(&self, io: &RunIo, signals: &UserSignalSender, f: impl FnOnce() -> R) -> R {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        *self.slot.borrow_mut() = Some(io.clone());
        let (tx, current, signal_io) = (signals.clone(), self.generation.clone(), io.clone());
        let watch = ticker::watch(
            io.control().clone(),
            Box::new(move || {
                let signal =
                    stop_signal(signal_io.clone(), current.clone(), generation, tx.clone());
                let _ = tx.send(signal);
            }),
        );
        let result = f();
        drop(watch);
        // Signals still queued for this run now do nothing.
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.slot.borrow_mut() = None;
        result
    }
}

/// The outcome a prelude function reported (the engine's `Outcome` as a Python dict).
fn report_outcome(vm: &VirtualMachine, report: &PyObjectRef) -> Outcome {
    match to_json(vm, report, 0) {
        Some(json) => serde_json::from_value(json).unwrap_or_else(|e| Outcome::Crashed {
            reason: format!("unreadable report from the Python prelude: {e}"),
        }),
        None => Outcome::Crashed {
            reason: "unreadable report from the Python prelude".into(),
        },
    }
}

/// A report's plain Python data (`None`, `bool`, `int`, `float`, `str`, `list`, `tuple`,
/// `dict` with `str` keys) as JSON; `None` for anything else.
fn to_json(vm: &VirtualMachine, obj: &PyObjectRef, depth: usize) -> Option<serde_json::Value> {
    use rustpython_vm::builtins::{PyDict, PyFloat, PyInt, PyList, PyStr, PyTuple};
    use serde_json::Value;
    if depth > 16 {
        return None;
    }
    if vm.is_none(obj) {
        return Some(Value::Null);
    }
    if obj.class().is(vm.ctx.types.bool_type) {
        return Some(Value::Bool(obj.clone().try_to_bool(vm).ok()?));
    }
    if let Some(s) = obj.downcast_ref::<PyStr>() {
        return Some(Value::String(s.to_string_lossy().into_owned()));
    }
    if let Some(i) = obj.downcast_ref::<PyInt>() {
        return Some(i.try_to_primitive::<i64>(vm).ok()?.into());
    }
    if let Some(f) = obj.downcast_ref::<PyFloat>() {
        return serde_json::Number::from_f64(f.to_f64()).map(Value::Number);
    }
    let items = |items: &[PyObjectRef]| -> Option<Value> {
        items
            .iter()
            .map(|i| to_json(vm, i, depth + 1))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array)
    };
    if let Some(l) = obj.downcast_ref::<PyList>() {
        return items(&l.borrow_vec());
    }
    if let Some(t) = obj.downcast_ref::<PyTuple>() {
        return items(t.as_slice());
    }
    if let Some(d) = obj.downcast_ref::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d {
            let key = k.downcast_ref::<PyStr>()?.to_string_lossy().into_owned();
            map.insert(key, to_json(vm, &v, depth + 1)?);
        }
        return Some(Value::Object(map));
    }
    None
}

impl Runtime for PythonRuntime {
    fn run(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        // RustPython checks for signals at every instruction, and an exception raised at some
        // of them (inside its exception-handling sequences) can trip an internal assertion
        // ("stack underflow"). The panic reaches `polyrun_engine::drive`, which drops this
        // instance (and reports the stop, when the run was being stopped anyway).
        Ok(self.guarded(io, &self.signals, || {
            self.state.interp.enter(|vm| self.execute(vm, request, io))
        }))
    }

    fn reset(&mut self) -> Result<(), Error> {
        let (tx, rx) = user_signal_channel();
        self.state = Self::boot(&self.slot, rx)?;
        self.signals = tx;
        Ok(())
    }
}
