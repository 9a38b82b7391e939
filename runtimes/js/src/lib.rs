//! # polyrun-js
//!
//! JavaScript for polyrun, through the [Boa](https://boajs.dev) engine (`boa_engine` 0.22).
//!
//! Boa has no host access at all (no file system, network, process or timers): the only
//! bridges are the ones this crate installs — `console.log/info/debug/warn/error`, `prompt()`
//! and `readline()` — and they all go through the run's [`RunIo`].
//!
//! Limits: Boa's recursion limit follows [`polyrun_engine::Limits::recursion_depth`]; output,
//! cancel and the deadline are checked whenever the guest calls into the host, and stop it with
//! an error JavaScript cannot catch. Boa cannot interrupt a pure loop (`while(true){}`), so the
//! backend reports `preemptible: false` and the manager runs JavaScript in a worker process when
//! a hard stop is needed.

mod inspect;

use boa_engine::error::{EngineError, PanicError, RuntimeLimitError};
use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{Context, JsError, JsResult, JsValue, NativeFunction, Source, js_string};
use polyrun_engine::{
    Capabilities, Diagnostic, Error, Frame, JAVASCRIPT, LoadContext, MimeBundle, Outcome, Registry,
    RunIo, RunRequest, Runtime, RuntimeDescriptor, Stream,
};

pub use inspect::inspect;

/// The descriptor this crate registers.
pub const DESCRIPTOR: RuntimeDescriptor = RuntimeDescriptor {
    id: JAVASCRIPT.id,
    name: JAVASCRIPT.name,
    aliases: JAVASCRIPT.aliases,
    extensions: JAVASCRIPT.extensions,
    backend: "boa",
    version: "Boa 0.22 (ECMAScript 2024+)",
    capabilities: Capabilities {
        preemptible: false,
        memory_limit: false,
        stdin: true,
        sessions: true,
    },
    load,
    prepare: None,
};

/// Adds JavaScript to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(DESCRIPTOR);
}

fn load(_: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Ok(Box::new(JsRuntime::new()?))
}

/// A Boa context with polyrun's console and stdin installed.
pub struct JsRuntime {
    context: Context,
}

impl std::fmt::Debug for JsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsRuntime").finish_non_exhaustive()
    }
}

/// Marker message of the uncatchable error raised when the run must stop.
const STOP_MESSAGE: &str = "polyrun: run stopped";

fn stop_error() -> JsError {
    EngineError::from(PanicError::new(STOP_MESSAGE)).into()
}

fn current_io(context: &Context) -> JsResult<RunIo> {
    context.get_data::<RunIo>().cloned().ok_or_else(stop_error)
}

fn console_write(stream: Stream, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let io = current_io(context)?;
    let mut line = inspect::format_args(args, context)?;
    line.push('\n');
    io.write(stream, &line).map_err(|_| stop_error())?;
    Ok(JsValue::undefined())
}

fn console_log(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    console_write(Stream::Stdout, args, context)
}

fn console_error(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    console_write(Stream::Stderr, args, context)
}

fn read_line_value(io: &RunIo) -> JsResult<JsValue> {
    let line = io.read_line();
    io.check().map_err(|_| stop_error())?;
    Ok(match line {
        Some(l) => JsValue::from(js_string!(l.as_str())),
        None => JsValue::null(),
    })
}

/// `prompt(message)`: writes the message (as a terminal prompt would) and reads a line.
fn prompt(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let io = current_io(context)?;
    if let Some(msg) = args.first().filter(|v| !v.is_undefined()) {
        let text = msg.to_string(context)?.to_std_string_escaped();
        io.write(Stream::Stdout, &text).map_err(|_| stop_error())?;
    }
    read_line_value(&io)
}

/// `__polyrun_host(request)`: one helper call as JSON text, answered as JSON text. The prelude
/// (`prelude.js`) takes it out of the global scope and builds `polyrun` on it.
fn host(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let io = current_io(context)?;
    io.check().map_err(|_| stop_error())?;
    let request = args
        .first()
        .cloned()
        .unwrap_or_default()
        .to_string(context)?
        .to_std_string_escaped();
    let reply = io.host_call_json(&request);
    io.check().map_err(|_| stop_error())?;
    Ok(JsValue::from(js_string!(reply.as_str())))
}

/// The prelude that defines `polyrun`.
const PRELUDE: &str = include_str!("prelude.js");

/// `readline()`: reads a line of stdin, `null` at its end.
fn readline(_: &JsValue, _: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let io = current_io(context)?;
    read_line_value(&io)
}

impl JsRuntime {
    /// A fresh context with the console installed.
    pub fn new() -> Result<Self, Error> {
        let context = Self::new_context().map_err(|e| Error::Load {
            language: "javascript".into(),
            message: e.to_string(),
        })?;
        Ok(JsRuntime { context })
    }

    fn new_context() -> JsResult<Context> {
        let mut context = Context::default();
        let console = ObjectInitializer::new(&mut context)
            .function(
                NativeFunction::from_fn_ptr(console_log),
                js_string!("log"),
                0,
            )
            .function(
                NativeFunction::from_fn_ptr(console_log),
                js_string!("info"),
                0,
            )
            .function(
                NativeFunction::from_fn_ptr(console_log),
                js_string!("debug"),
                0,
            )
            .function(
                NativeFunction::from_fn_ptr(console_error),
                js_string!("warn"),
                0,
            )
            .function(
                NativeFunction::from_fn_ptr(console_error),
                js_string!("error"),
                0,
            )
            .build();
        context.register_global_property(js_string!("console"), console, Attribute::all())?;
        context.register_global_callable(
            js_string!("prompt"),
            1,
            NativeFunction::from_fn_ptr(prompt),
        )?;
        context.register_global_callable(
            js_string!("readline"),
            0,
            NativeFunction::from_fn_ptr(readline),
        )?;
        context.register_global_callable(
            js_string!("__polyrun_host"),
            1,
            NativeFunction::from_fn_ptr(host),
        )?;
        context.eval(
            Source::from_bytes(PRELUDE.as_bytes())
                .with_path(std::path::Path::new("polyrun-prelude.js")),
        )?;
        Ok(context)
    }

    fn outcome(&mut self, result: JsResult<JsValue>, source: &str, io: &RunIo) -> Outcome {
        if let Some(i) = io.control().interrupted() {
            return Outcome::from_interrupt(i);
        }
        match result {
            Ok(v) if v.is_undefined() => Outcome::Completed { value: None },
            Ok(v) => {
                let text = inspect::inspect(&v, &mut self.context)
                    .unwrap_or_else(|e| format!("<uninspectable: {e}>"));
                Outcome::Completed {
                    value: Some(MimeBundle::text(text)),
                }
            }
            Err(e) => Outcome::Error {
                diagnostic: diagnose(e, source, &mut self.context),
            },
        }
    }
}

/// Parses `    at f (main.js:3:5)` lines of a Boa stack string; frames of polyrun's own prelude
/// are left out.
fn parse_stack(stack: &str) -> Vec<Frame> {
    stack
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("at ")?;
            let (name, loc) = l.rsplit_once(" (")?;
            let loc = loc.strip_suffix(')')?;
            let mut parts = loc.rsplitn(3, ':');
            let column = parts.next()?.parse::<u32>().ok();
            let line = parts.next()?.parse::<u32>().ok();
            line?;
            if parts.next() == Some("polyrun-prelude.js") {
                return None;
            }
            Some(Frame {
                function: Some(name.to_string()).filter(|n| n != "<main>"),
                line,
                column,
            })
        })
        .collect()
}

/// Boa's parser reports `... at line 3, col 5`.
fn parse_syntax_position(message: &str) -> (Option<u32>, Option<u32>, String) {
    if let Some(idx) = message.rfind(" at line ") {
        let rest = &message[idx + " at line ".len()..];
        let mut it = rest.split(", col ");
        let line = it.next().and_then(|l| l.trim().parse().ok());
        let col = it.next().and_then(|c| {
            c.trim_end_matches(|ch: char| !ch.is_ascii_digit())
                .parse()
                .ok()
        });
        if line.is_some() {
            return (line, col, message[..idx].to_string());
        }
    }
    (None, None, message.to_string())
}

/// 1-based line and column of the first whole-word occurrence of `name` in `source`.
fn find_identifier(source: &str, name: &str) -> Option<(u32, u32)> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    for (i, line) in source.lines().enumerate() {
        let mut from = 0;
        while let Some(pos) = line[from..].find(name) {
            let start = from + pos;
            let end = start + name.len();
            let before_ok = !line[..start].chars().next_back().is_some_and(is_ident);
            let after_ok = !line[end..].chars().next().is_some_and(is_ident);
            if before_ok && after_ok {
                let col = line[..start].chars().count() + 1;
                return Some((i as u32 + 1, col as u32));
            }
            from = end;
        }
    }
    None
}

fn diagnose(err: JsError, source: &str, context: &mut Context) -> Diagnostic {
    if let Some(engine) = err.as_engine() {
        return match engine {
            EngineError::RuntimeLimit(RuntimeLimitError::Recursion)
            | EngineError::RuntimeLimit(RuntimeLimitError::StackSize) => {
                Diagnostic::new("RangeError", "Maximum call stack size exceeded")
            }
            other => Diagnostic::new("InternalError", other.to_string()),
        };
    }
    if let Some(native) = err.as_native()
        && native.is_syntax()
        && !native_has_stack(&err, context)
    {
        let (line, column, message) = parse_syntax_position(native.message());
        return Diagnostic::new("SyntaxError", message).at(line, column);
    }
    let value = match err.into_opaque(context) {
        Ok(v) => v,
        Err(e) => return Diagnostic::new("InternalError", e.to_string()),
    };
    let Some(obj) = value.as_object() else {
        // `throw 42` / `throw "text"`: no position is attached to primitives.
        let message = inspect::inspect(&value, context).unwrap_or_default();
        return Diagnostic::new("Uncaught", message);
    };
    let get = |key: &str, context: &mut Context| -> Option<String> {
        let v = obj.get(js_string!(key), context).ok()?;
        if v.is_undefined() || v.is_null() {
            return None;
        }
        v.to_string(context).ok().map(|s| s.to_std_string_escaped())
    };
    let kind = get("name", context).unwrap_or_else(|| "Error".into());
    let message = get("message", context)
        .unwrap_or_else(|| inspect::inspect(&value, context).unwrap_or_default());
    let frames = get("stack", context)
        .map(|s| parse_stack(&s))
        .unwrap_or_default();
    let (line, column) = frames
        .first()
        .map(|f| (f.line, f.column))
        .unwrap_or((None, None));
    // A SyntaxError thrown at run time (e.g. by JSON.parse) also carries "at line" text.
    let (line, column, message) = if line.is_none() && kind == "SyntaxError" {
        parse_syntax_position(&message)
    } else if line.is_none() && kind == "ReferenceError" {
        // Boa's source map has no entry for some global look-ups at the top level; the first
        // use of the undefined name is where a reader looks.
        let (l, c) = message
            .strip_suffix(" is not defined")
            .and_then(|name| find_identifier(source, name))
            .unzip();
        (l, c, message)
    } else {
        (line, column, message)
    };
    let mut d = Diagnostic::new(kind, message).at(line, column);
    d.frames = frames;
    d
}

/// Parse errors come from the parser, not from running code: they have no stack.
fn native_has_stack(err: &JsError, context: &mut Context) -> bool {
    let Ok(v) = err.clone().into_opaque(context) else {
        return false;
    };
    v.as_object()
        .and_then(|o| o.get(js_string!("stack"), context).ok())
        .is_some_and(|s| !s.is_undefined())
}

impl Runtime for JsRuntime {
    fn run(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        let limits = self.context.runtime_limits_mut();
        match request.limits.recursion_depth {
            Some(d) => limits.set_recursion_limit(d as usize),
            None => limits.set_recursion_limit(usize::MAX),
        }
        self.context.insert_data(io.clone());
        let path = std::path::Path::new(request.file_name("input.js"));
        let source = Source::from_bytes(request.code.as_bytes()).with_path(path);
        let mut result = self.context.eval(source);
        if result.is_ok() {
            // Settle promise jobs (`.then`, async functions) queued by the script.
            if let Err(e) = self.context.run_jobs() {
                result = Err(e);
            }
        }
        let outcome = self.outcome(result, &request.code, io);
        self.context.remove_data::<RunIo>();
        Ok(outcome)
    }

    fn reset(&mut self) -> Result<(), Error> {
        *self = JsRuntime::new()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_lines_parse() {
        let frames = parse_stack("    at f (main.js:4:11)\n    at <main> (main.js:6:1)\n");
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].function.as_deref(), Some("f"));
        assert_eq!((frames[0].line, frames[0].column), (Some(4), Some(11)));
        assert_eq!(frames[1].function, None);
        assert_eq!(
            parse_syntax_position("unexpected token 'x' at line 3, col 5"),
            (Some(3), Some(5), "unexpected token 'x'".to_string())
        );
    }
}
