//! # polyrun-quickjs
//!
//! JavaScript for polyrun on [QuickJS-NG](https://quickjs-ng.github.io/quickjs/) through
//! [`rquickjs`] 0.14: the native default JavaScript backend (`backend: "quickjs"`; Boa,
//! `polyrun-js`, stays selectable and is the bundle's interpreter in the browser).
//!
//! QuickJS has no host access of its own here: the context is QuickJS's standard built-ins only
//! (no `std`/`os` modules, no module loader), and the bridges are the ones this crate installs —
//! `console.log/info/debug/warn/error`, `prompt()`, `readline()` and the `polyrun` helpers — all
//! through the run's [`RunIo`].
//!
//! Limits, all in process and none catchable by guest code:
//! - **time and cancel**: QuickJS calls an interrupt handler every 10,000 branches and calls; it
//!   polls the run's [`polyrun_engine::RunControl`], and when it says stop QuickJS raises an
//!   uncatchable error (`try { while (true) {} } catch {}` ends too);
//! - **memory**: the runtime's allocator ([`budget`]) counts every byte QuickJS holds and refuses
//!   what passes the run's budget; the refusal trips the memory limit, so a guest that catches
//!   the `out of memory` error is stopped at the next interrupt check;
//! - **output**: a write past the limit stops the run with an uncatchable error;
//! - **depth**: QuickJS checks its native stack before every call and in its parser and JSON
//!   reader (deeply nested source, `JSON.parse('['.repeat(1e6))`, a recursive `toString`), and
//!   raises `RangeError: Maximum call stack size exceeded` / `InternalError: stack overflow`
//!   instead of overflowing it; the budget follows [`polyrun_engine::Limits::recursion_depth`]
//!   ([`STACK_BYTES_PER_CALL`] per call).
//!
//! Console formatting is `js/format.js`, the browser backend's formatter too (both follow the
//! Boa backend's rules, and the conformance cases hold all three to them).

mod budget;

use budget::{Budget, Meter};
use polyrun_engine::{
    Capabilities, Diagnostic, Error, Frame, Interrupt, JAVASCRIPT, LimitKind, LoadContext,
    MimeBundle, Outcome, Registry, RunIo, RunRequest, Runtime, RuntimeDescriptor, Stream,
};
use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Persistent, Promise, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// The descriptor this crate registers (JavaScript's names, as every JavaScript backend's).
pub const DESCRIPTOR: RuntimeDescriptor = RuntimeDescriptor {
    id: JAVASCRIPT.id,
    name: JAVASCRIPT.name,
    aliases: JAVASCRIPT.aliases,
    extensions: JAVASCRIPT.extensions,
    backend: "quickjs",
    version: "QuickJS-NG (rquickjs 0.14; ECMAScript 2023+)",
    capabilities: Capabilities {
        preemptible: true,
        memory_limit: true,
        stdin: true,
        sessions: true,
    },
    load,
    prepare: None,
};

/// Native stack allowed per guest call of the recursion limit. A JavaScript call through
/// QuickJS's interpreter takes ~670 bytes of native stack for a one-argument function (measured:
/// 3,100 nested calls in 2 MiB), more with more locals; so the default limit of 1,000 calls
/// lets about 3,000 simple calls nest, and at least 1,000 of most functions. The thread that
/// runs the backend needs this much stack (the manager's have 256 MiB).
pub const STACK_BYTES_PER_CALL: usize = 2 << 10;

/// The native stack QuickJS may use when a run sets no recursion limit.
pub const UNLIMITED_STACK_BYTES: usize = 64 << 20;

/// File name of polyrun's own code in stack traces (left out of the user's frames).
const GLOBALS_FILE: &str = "polyrun-globals.js";
const PRELUDE_FILE: &str = "polyrun-prelude.js";

/// The console formatter shared with the browser backend.
const FORMAT: &str = include_str!("../js/format.js");
/// `console`, `prompt()`, `readline()` over the host functions.
const GLOBALS: &str = include_str!("../js/globals.js");
/// The `polyrun` helpers: the Boa backend's prelude, the same for every JavaScript backend.
const HELPERS: &str = include_str!("../../js/src/prelude.js");

/// Adds JavaScript on QuickJS to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(DESCRIPTOR);
}

fn load(_: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Ok(Box::new(QuickJsRuntime::new()?))
}

fn load_error(e: impl std::fmt::Display) -> Error {
    Error::Load {
        language: DESCRIPTOR.id.into(),
        message: e.to_string(),
    }
}

/// What the host functions and the interrupt handler share: the current run's I/O.
#[derive(Default)]
struct Shared {
    io: RefCell<Option<RunIo>>,
    /// Unhandled promise rejections of the run, oldest first (`(promise, reason)`).
    rejected: RefCell<Vec<(Persistent<Value<'static>>, Persistent<Value<'static>>)>>,
}

impl Shared {
    fn io(&self) -> Option<RunIo> {
        self.io.borrow().clone()
    }

    /// The interrupt handler's question: must the guest stop now?
    fn must_stop(&self, meter: &Meter) -> bool {
        let Some(io) = self.io() else {
            return false;
        };
        if meter.exceeded() {
            io.control().trip(Interrupt::Limit(LimitKind::Memory));
        }
        io.control().check().is_some()
    }
}

/// A QuickJS runtime and context with polyrun's globals installed.
pub struct QuickJsRuntime {
    // Field order is drop order: the values held for the context go before it, the context
    // before its runtime.
    inspect: Persistent<Function<'static>>,
    shared: Rc<Shared>,
    context: Context,
    runtime: rquickjs::Runtime,
    meter: Rc<Meter>,
}

impl std::fmt::Debug for QuickJsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickJsRuntime")
            .field("memory_used", &self.meter.used())
            .finish_non_exhaustive()
    }
}

/// Throws `message` into the guest as an error no `catch` can stop: the run is over.
fn stop<'js>(ctx: &Ctx<'js>, why: Interrupt) -> rquickjs::Error {
    let message = format!("polyrun: {why}");
    match rquickjs::Exception::from_message(ctx.clone(), &message) {
        Ok(e) => {
            let value = e.into_value();
            // SAFETY: both pointers come from live rquickjs handles of this context.
            unsafe { rquickjs::qjs::JS_SetUncatchableError(ctx.as_raw().as_ptr(), value.as_raw()) };
            ctx.throw(value)
        }
        Err(e) => e,
    }
}

fn current_io<'js>(ctx: &Ctx<'js>, shared: &Shared) -> rquickjs::Result<RunIo> {
    shared.io().ok_or_else(|| stop(ctx, Interrupt::Cancelled))
}

impl QuickJsRuntime {
    /// A fresh runtime and context with polyrun's globals.
    pub fn new() -> Result<Self, Error> {
        let meter = Rc::new(Meter::default());
        let runtime =
            rquickjs::Runtime::new_with_alloc(Budget::new(meter.clone())).map_err(load_error)?;
        let context = Context::full(&runtime).map_err(load_error)?;
        let shared = Rc::new(Shared::default());
        {
            let shared = shared.clone();
            let meter = meter.clone();
            runtime.set_interrupt_handler(Some(Box::new(move || shared.must_stop(&meter))));
        }
        {
            let shared = shared.clone();
            runtime.set_host_promise_rejection_tracker(Some(Box::new(
                move |ctx, promise, reason, handled| {
                    let mut rejected = shared.rejected.borrow_mut();
                    if handled {
                        rejected.retain(|(p, _)| {
                            p.clone()
                                .restore(&ctx)
                                .map(|p| p != promise)
                                .unwrap_or(false)
                        });
                    } else {
                        rejected.push((
                            Persistent::save(&ctx, promise),
                            Persistent::save(&ctx, reason),
                        ));
                    }
                },
            )));
        }
        let inspect = context
            .with(|ctx| Self::install(&ctx, &shared))
            .map_err(load_error)?;
        Ok(QuickJsRuntime {
            inspect,
            shared,
            context,
            runtime,
            meter,
        })
    }

    fn install<'js>(
        ctx: &Ctx<'js>,
        shared: &Rc<Shared>,
    ) -> Result<Persistent<Function<'static>>, String> {
        let fail = |e: CaughtError| format!("installing polyrun's globals: {e}");
        let format: Function = ctx
            .eval_with_options(
                format!("(() => {{ {FORMAT}\nreturn polyrunFormat; }})()"),
                options(GLOBALS_FILE, false),
            )
            .catch(ctx)
            .map_err(fail)?;
        let globals: Function = ctx
            .eval_with_options(GLOBALS, options(GLOBALS_FILE, false))
            .catch(ctx)
            .map_err(fail)?;
        let write = {
            let shared = shared.clone();
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, stream: i32, text: String| {
                    let io = current_io(&ctx, &shared)?;
                    let stream = if stream == 1 {
                        Stream::Stderr
                    } else {
                        Stream::Stdout
                    };
                    io.write(stream, &text).map_err(|i| stop(&ctx, i))
                },
            )
        }
        .catch(ctx)
        .map_err(fail)?;
        let read = {
            let shared = shared.clone();
            Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
                let io = current_io(&ctx, &shared)?;
                let line = io.read_line();
                io.check().map_err(|i| stop(&ctx, i))?;
                match line {
                    Some(l) => rquickjs::String::from_str(ctx.clone(), &l).map(|s| s.into_value()),
                    None => Ok(Value::new_null(ctx.clone())),
                }
            })
        }
        .catch(ctx)
        .map_err(fail)?;
        let host = {
            let shared = shared.clone();
            Function::new(ctx.clone(), move |ctx: Ctx<'js>, request: String| {
                let io = current_io(&ctx, &shared)?;
                io.check().map_err(|i| stop(&ctx, i))?;
                let reply = io.host_call_json(&request);
                io.check().map_err(|i| stop(&ctx, i))?;
                Ok::<_, rquickjs::Error>(reply)
            })
        }
        .catch(ctx)
        .map_err(fail)?;
        let inspect: Function = globals
            .call((format, write, read))
            .catch(ctx)
            .map_err(fail)?;
        ctx.globals()
            .set("__polyrun_host", host)
            .catch(ctx)
            .map_err(fail)?;
        ctx.eval_with_options::<(), _>(HELPERS, options(PRELUDE_FILE, false))
            .catch(ctx)
            .map_err(fail)?;
        Ok(Persistent::save(ctx, inspect))
    }

    /// Runs the code as a script; code with a top-level `await` (a syntax error in a script)
    /// runs again as async global code, and the run waits for it.
    fn execute<'js>(
        &self,
        ctx: &Ctx<'js>,
        request: &RunRequest,
        file: &str,
    ) -> Result<Option<Value<'js>>, Value<'js>> {
        let script = ctx
            .eval_with_options::<Value, _>(request.code.as_str(), options(file, false))
            .catch(ctx);
        let value = match script {
            Ok(v) => v,
            Err(e) if is_await_syntax_error(&e, &request.code) => {
                let promise: Promise = ctx
                    .eval_with_options(request.code.as_str(), options(file, true))
                    .catch(ctx)
                    .map_err(|e| caught_value(ctx, e))?;
                self.settle(ctx)?;
                return match promise.state() {
                    rquickjs::promise::PromiseState::Rejected => Err(promise
                        .result::<Value>()
                        .and_then(|r| r.err())
                        .map(|e| caught_from(ctx, e))
                        .unwrap_or_else(|| Value::new_undefined(ctx.clone()))),
                    // Async global code completes with `{ value }` (the completion value).
                    rquickjs::promise::PromiseState::Resolved => Ok(promise
                        .result::<rquickjs::Object>()
                        .and_then(|r| r.ok())
                        .and_then(|o| o.get::<_, Value>("value").ok())
                        .filter(|v| !v.is_undefined())),
                    rquickjs::promise::PromiseState::Pending => Ok(None),
                };
            }
            Err(e) => return Err(caught_value(ctx, e)),
        };
        self.settle(ctx)?;
        Ok(Some(value).filter(|v| !v.is_undefined()))
    }

    /// Runs promise jobs until none is left; an exception in one ends the run with it, as does
    /// a rejection nothing handled.
    fn settle<'js>(&self, ctx: &Ctx<'js>) -> Result<(), Value<'js>> {
        let rt = self.runtime_ptr(ctx);
        loop {
            let mut job_ctx = std::ptr::null_mut();
            // SAFETY: the runtime of a live context; rquickjs's own `Ctx::execute_pending_job`
            // swallows a job's exception, which is the run's error here. One context per
            // runtime, so the exception is pending on `ctx`.
            match unsafe { rquickjs::qjs::JS_ExecutePendingJob(rt, &mut job_ctx) } {
                0 => break,
                n if n < 0 => return Err(ctx.catch()),
                _ => continue,
            }
        }
        let first = self.shared.rejected.borrow_mut().drain(..).next();
        match first {
            Some((_, reason)) => Err(reason
                .restore(ctx)
                .unwrap_or_else(|_| Value::new_undefined(ctx.clone()))),
            None => Ok(()),
        }
    }

    fn outcome<'js>(
        &self,
        ctx: &Ctx<'js>,
        result: Result<Option<Value<'js>>, Value<'js>>,
        source: &str,
        io: &RunIo,
    ) -> Outcome {
        if self.meter.exceeded() {
            io.control().trip(Interrupt::Limit(LimitKind::Memory));
        }
        if let Some(i) = io.control().interrupted() {
            return Outcome::from_interrupt(i);
        }
        match result {
            Ok(None) => Outcome::Completed { value: None },
            Ok(Some(v)) => Outcome::Completed {
                value: Some(MimeBundle::text(self.show(ctx, v))),
            },
            Err(e) => Outcome::Error {
                diagnostic: diagnose(ctx, e, source, |v| self.show(ctx, v)),
            },
        }
    }

    fn runtime_ptr(&self, ctx: &Ctx<'_>) -> *mut rquickjs::qjs::JSRuntime {
        // SAFETY: a live context's runtime.
        unsafe { rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr()) }
    }

    /// A value as the REPL shows it (format.js's `inspect`).
    fn show<'js>(&self, ctx: &Ctx<'js>, v: Value<'js>) -> String {
        let shown = self
            .inspect
            .clone()
            .restore(ctx)
            .and_then(|f| f.call::<_, String>((v,)))
            .catch(ctx);
        match shown {
            Ok(s) => s,
            Err(e) => format!("<uninspectable: {e}>"),
        }
    }
}

fn options(file: &str, promise: bool) -> EvalOptions {
    let mut o = EvalOptions::default();
    o.global = true;
    o.strict = false;
    o.backtrace_barrier = true;
    o.promise = promise;
    o.filename = Some(file.to_string());
    o
}

/// A script that fails to parse because of `await` outside a function: it runs as async code.
fn is_await_syntax_error(e: &CaughtError, code: &str) -> bool {
    code.contains("await")
        && matches!(e, CaughtError::Exception(x) if x.message().is_some_and(|m| m.contains("await")) || x.get::<_, String>("name").is_ok_and(|n| n == "SyntaxError"))
}

/// The thrown value itself (an error object or whatever was thrown).
fn caught_value<'js>(ctx: &Ctx<'js>, e: CaughtError<'js>) -> Value<'js> {
    match e {
        CaughtError::Exception(x) => x.into_value(),
        CaughtError::Value(v) => v,
        CaughtError::Error(e) => rquickjs::Exception::from_message(ctx.clone(), &e.to_string())
            .map(|x| x.into_value())
            .unwrap_or_else(|_| Value::new_undefined(ctx.clone())),
    }
}

fn caught_from<'js>(ctx: &Ctx<'js>, e: rquickjs::Error) -> Value<'js> {
    match e {
        rquickjs::Error::Exception => ctx.catch(),
        other => caught_value(ctx, CaughtError::Error(other)),
    }
}

/// `    at f (main.js:3:5)` / `    at main.js:3:5` lines of a QuickJS stack, innermost first;
/// host (`native`) and polyrun's own frames are left out.
fn parse_stack(stack: &str) -> Vec<Frame> {
    stack
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("at ")?;
            let (name, loc) = match l.rsplit_once(" (") {
                Some((n, loc)) => (Some(n), loc.strip_suffix(')')?),
                None => (None, l),
            };
            let mut parts = loc.rsplitn(3, ':');
            let last = parts.next()?.parse::<u32>().ok()?;
            let (file, line, column) = match (parts.next(), parts.next()) {
                (Some(l), Some(f)) => match l.parse::<u32>() {
                    Ok(line) => (f, line, Some(last)),
                    Err(_) => (loc.rsplit_once(':')?.0, last, None),
                },
                (Some(f), None) => (f, last, None),
                _ => return None,
            };
            if file.starts_with("polyrun-") {
                return None;
            }
            Some(Frame {
                function: name
                    .filter(|n| *n != "<eval>" && *n != "<anonymous>")
                    .map(str::to_string),
                line: Some(line),
                column,
            })
        })
        .collect()
}

/// QuickJS records a source position at identifiers and calls, not at a property access: a read
/// on `null` or `undefined` is reported at the object (`o` of `o.field`), or — for a read on a
/// literal as a function's first position (`return null.x`) — at the function's head. For such an
/// error (`cannot read property 'x' of null`), the column of the first `.x` after the reported
/// position — on its line, or anywhere in the function when the position is a `function` head —
/// is the user's, at the property's name (where Boa and V8 put it).
fn refine_position(source: &str, message: &str, line: u32, column: u32) -> Option<(u32, u32)> {
    let name = message
        .strip_prefix("cannot read property '")
        .or_else(|| message.strip_prefix("cannot set property '"))?
        .split('\'')
        .next()?;
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let lines: Vec<&str> = source.split('\n').collect();
    let first = line.checked_sub(1)? as usize;
    let head = lines.get(first)?;
    let at: usize = head
        .char_indices()
        .nth(column.checked_sub(1)? as usize)
        .map(|(i, _)| i)?;
    let rest = &head[at..];
    let span = if rest.starts_with("function") || rest.starts_with("async") {
        lines.len() - first
    } else {
        1
    };
    let wanted = format!(".{name}");
    for (n, text) in lines.iter().enumerate().skip(first).take(span) {
        let mut search = if n == first { at } else { 0 };
        while let Some(pos) = text[search..].find(&wanted) {
            let start = search + pos;
            let end = start + wanted.len();
            if !text[end..].chars().next().is_some_and(is_ident) {
                return Some((n as u32 + 1, text[..start].chars().count() as u32 + 2));
            }
            search = end;
        }
    }
    None
}

fn diagnose<'js>(
    ctx: &Ctx<'js>,
    thrown: Value<'js>,
    source: &str,
    show: impl Fn(Value<'js>) -> String,
) -> Diagnostic {
    let Some(obj) = thrown.as_object() else {
        // `throw 42` / `throw "text"`: no position is attached to primitives.
        return Diagnostic::new("Uncaught", show(thrown.clone()));
    };
    let get = |key: &str| -> Option<String> {
        let v: Value = obj.get(key).ok()?;
        if v.is_undefined() || v.is_null() {
            return None;
        }
        rquickjs::convert::Coerced::<String>::from_js(ctx, v)
            .ok()
            .map(|c| c.0)
    };
    let kind = get("name").unwrap_or_else(|| "Error".into());
    let message = get("message").unwrap_or_else(|| show(thrown.clone()));
    let mut frames = get("stack").map(|s| parse_stack(&s)).unwrap_or_default();
    if let Some(top) = frames.first_mut()
        && let (Some(l), Some(c)) = (top.line, top.column)
        && let Some((l, c)) = refine_position(source, &message, l, c)
    {
        (top.line, top.column) = (Some(l), Some(c));
    }
    let (line, column) = frames
        .first()
        .map(|f| (f.line, f.column))
        .unwrap_or((None, None));
    let mut d = Diagnostic::new(kind, message).at(line, column);
    d.frames = frames;
    d
}

use rquickjs::FromJs;

impl Runtime for QuickJsRuntime {
    fn run(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        let stack = match request.limits.recursion_depth {
            Some(d) => (d as usize)
                .saturating_mul(STACK_BYTES_PER_CALL)
                .clamp(256 << 10, UNLIMITED_STACK_BYTES),
            None => UNLIMITED_STACK_BYTES,
        };
        self.runtime.set_max_stack_size(stack);
        self.meter.start(request.limits.memory_bytes);
        *self.shared.io.borrow_mut() = Some(io.clone());
        self.shared.rejected.borrow_mut().clear();
        let file = request.file_name("main.js").to_string();
        let outcome = self.context.with(|ctx| {
            let result = self.execute(&ctx, request, &file);
            self.outcome(&ctx, result, &request.code, io)
        });
        *self.shared.io.borrow_mut() = None;
        self.shared.rejected.borrow_mut().clear();
        self.meter.stop();
        if !matches!(outcome, Outcome::Completed { .. }) {
            self.runtime.run_gc();
        }
        Ok(outcome)
    }

    fn reset(&mut self) -> Result<(), Error> {
        *self = QuickJsRuntime::new()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
