//! # polyrun-lua
//!
//! Lua 5.4 for polyrun, through [`mlua`] over the C Lua: vendored natively; for wasm32 (the
//! browser bundle) `build.rs` compiles the same sources with clang.
//!
//! The sandbox is built by construction: only the `string`, `table`, `math`, `utf8` and
//! `coroutine` libraries are opened, plus a copy of `os` holding just `time`, `clock`, `date` and
//! `difftime`. `io` is polyrun's own table (`write`, `read`, `lines`, `stdout`, `stderr`) that
//! talks to the run's [`RunIo`]; `dofile`, `loadfile` and `require` do not exist and `load`
//! accepts text chunks only (binary chunks can crash the VM). There is no `debug` and no
//! `package`, so nothing reaches the host's files, processes or native libraries.
//!
//! Limits: an instruction-count hook polls the run's [`polyrun_engine::RunControl`] (deadline,
//! cancel, output limit) — natively on Unix only once the run must stop, switched on by a signal
//! ([`preempt`]), since a count hook slows every instruction; mlua's allocator limit enforces the
//! memory budget. `pcall`, `xpcall`,
//! `coroutine.resume` and `coroutine.close` are wrapped so that a caught limit error is raised
//! again at once: guest code can never swallow a limit.

mod helpers;
mod preempt;
#[cfg(target_arch = "wasm32")]
mod wasm_libc;

use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, Variadic, VmState};
use polyrun_engine::{
    Capabilities, Diagnostic, Error, Frame, Interrupt, LimitKind, LoadContext, MimeBundle, Outcome,
    Registry, RunIo, RunRequest, Runtime, RuntimeDescriptor, Stream,
};
use preempt::{HOOK_EVERY, Preempt};

/// What `setmetatable` says to a metatable with `__gc`.
const GC_REFUSED: &str = "setmetatable: __gc finalizers are not available in polyrun (Lua runs them outside every limit)";

/// The error Lua's allocator reports when the memory limit is hit.
const LUA_MEMORY_MESSAGE: &str = "not enough memory";

/// Registry keys of the untouchable `table.pack` / `table.unpack` used to collect values.
const PACK_KEY: &str = "polyrun.pack";
const UNPACK_KEY: &str = "polyrun.unpack";

/// The descriptor this crate registers.
pub const DESCRIPTOR: RuntimeDescriptor = RuntimeDescriptor {
    id: "lua",
    name: "Lua",
    aliases: &["lua54", "lua5.4"],
    extensions: &["lua"],
    backend: "mlua",
    version: "Lua 5.4",
    capabilities: Capabilities {
        preemptible: true,
        memory_limit: true,
        stdin: true,
        sessions: true,
    },
    load,
    prepare: None,
};

/// Adds Lua to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(DESCRIPTOR);
}

fn load(_: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
    Ok(Box::new(LuaRuntime::new()?))
}

/// A Lua state with polyrun's sandbox installed.
pub struct LuaRuntime {
    lua: Lua,
    /// When the count hook is on (see [`preempt`]).
    preempt: Preempt,
    /// Bytes the fresh state uses; the memory limit is counted on top of this.
    baseline: usize,
}

impl std::fmt::Debug for LuaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaRuntime")
            .field("used_memory", &self.lua.used_memory())
            .finish_non_exhaustive()
    }
}

/// Raised from Rust callbacks when the run must stop.
#[derive(Debug)]
struct Stop(Interrupt);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Interrupt::Cancelled => f.write_str("polyrun: run cancelled"),
            Interrupt::Limit(l) => write!(f, "polyrun: {l} limit exceeded"),
        }
    }
}

impl std::error::Error for Stop {}

fn stop(i: Interrupt) -> mlua::Error {
    mlua::Error::external(Stop(i))
}

fn load_error(e: mlua::Error) -> Error {
    Error::Load {
        language: "lua".into(),
        message: e.to_string(),
    }
}

/// The run's I/O, installed as app data for the duration of a run.
fn current_io(lua: &Lua) -> mlua::Result<RunIo> {
    lua.app_data_ref::<RunIo>()
        .map(|io| io.clone())
        .ok_or_else(|| mlua::Error::runtime("polyrun: no run in progress"))
}

/// Writes one already-formatted string to the run's output.
fn write_raw(lua: &Lua, stream: Stream, text: &mlua::LuaString) -> mlua::Result<()> {
    let io = current_io(lua)?;
    io.write(stream, &String::from_utf8_lossy(&text.as_bytes()))
        .map_err(stop)
}

/// One `io.read` format: `l`/`L`/`n`/`a` (with or without `*`), or a byte count.
fn read_one(lua: &Lua, io: &RunIo, fmt: &Value) -> mlua::Result<Value> {
    let fmt = match fmt {
        Value::Integer(n) => {
            return match io.read_line() {
                Some(line) => {
                    let n = (*n).max(0) as usize;
                    let cut: String = line.chars().take(n).collect();
                    Ok(Value::String(lua.create_string(cut)?))
                }
                None => Ok(Value::Nil),
            };
        }
        Value::String(s) => s.to_str()?.trim_start_matches('*').to_string(),
        Value::Nil => "l".to_string(),
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #1 to 'read' (invalid format, got {})",
                other.type_name()
            )));
        }
    };
    match fmt.chars().next() {
        Some('l') => Ok(match io.read_line() {
            Some(line) => Value::String(lua.create_string(line)?),
            None => Value::Nil,
        }),
        Some('L') => Ok(match io.read_line() {
            Some(line) => Value::String(lua.create_string(line + "\n")?),
            None => Value::Nil,
        }),
        Some('n') => Ok(match io.read_line() {
            Some(line) => {
                let t = line.trim();
                if let Ok(i) = t.parse::<i64>() {
                    Value::Integer(i)
                } else if let Ok(f) = t.parse::<f64>() {
                    Value::Number(f)
                } else {
                    Value::Nil
                }
            }
            None => Value::Nil,
        }),
        Some('a') => {
            let mut all = Vec::new();
            while let Some(line) = io.read_line() {
                all.push(line);
            }
            let mut text = all.join("\n");
            if !all.is_empty() {
                text.push('\n');
            }
            Ok(Value::String(lua.create_string(text)?))
        }
        _ => Err(mlua::Error::runtime(format!(
            "bad argument #1 to 'read' (invalid format '{fmt}')"
        ))),
    }
}

fn io_read(lua: &Lua, formats: Variadic<Value>) -> mlua::Result<MultiValue> {
    let io = current_io(lua)?;
    let mut out = MultiValue::new();
    if formats.is_empty() {
        out.push_back(read_one(lua, &io, &Value::Nil)?);
        return Ok(out);
    }
    for f in formats.iter() {
        let v = read_one(lua, &io, f)?;
        let end = v.is_nil();
        out.push_back(v);
        if end {
            break;
        }
    }
    Ok(out)
}

/// Guards installed over the raw protected-call functions: a caught error is raised again when
/// the run must stop, so `pcall` cannot swallow a limit or a cancel.
const PRELUDE: &str = r#"
local raw_pcall, raw_xpcall, raw_load, co_resume, co_close, check, write_out, write_err = ...
local tostring, select, type, format, mtype, pack, concat, error =
  tostring, select, type, string.format, math.type, table.pack, table.concat, error
local function pass(ok, ...)
  if not ok then check((...)) end
  return ok, ...
end
pcall = function(f, ...) return pass(raw_pcall(f, ...)) end
xpcall = function(f, h, ...) return pass(raw_xpcall(f, h, ...)) end
coroutine.resume = function(co, ...) return pass(co_resume(co, ...)) end
coroutine.close = function(co) return pass(co_close(co)) end
load = function(chunk, name, mode, env)
  return raw_load(chunk, name, "t", env)
end
-- print and io.write format exactly as Lua's own (tostring; %.14g for io.write).
print = function(...)
  local t = pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  write_out(concat(t, "\t", 1, t.n) .. "\n")
end
local function writer(write, self_arg)
  return function(...)
    local t = pack(...)
    local first = self_arg and 2 or 1
    for i = first, t.n do
      local v = t[i]
      local tv = type(v)
      if tv == "number" then
        t[i] = mtype(v) == "integer" and format("%d", v) or format("%.14g", v)
      elseif tv ~= "string" then
        error(format("bad argument #%d to 'write' (string expected, got %s)", i - first + 1, tv), 2)
      end
    end
    write(concat(t, "", first, t.n))
    return self_arg and t[1] or io.stdout
  end
end
io.write = writer(write_out, false)
io.stdout.write = writer(write_out, true)
io.stderr.write = writer(write_err, true)
-- C functions run without hooks, so no deadline or cancel reaches inside them: the two whose
-- loops a guest can make endless without allocating are bounded before they start. The
-- originals run under pcall and their errors are raised again at the caller's line.
local rep, move, tointeger = string.rep, table.move, math.tointeger
local function again(ok, ...)
  if ok then return ... end
  error((...), 3)
end
-- string.rep('', 2^62) copies nothing 2^62 times: an empty result needs no loop.
string.rep = function(...)
  local s, n, sep = ...
  if s == "" and (sep == nil or sep == "") and type(n) == "number" then
    local count = tointeger(n)
    if count and count > 0 then return "" end
  end
  return again(pcall(rep, ...))
end
-- table.move(t, 1, 2^62, 2) visits 2^62 slots; no table holds that many.
local MAX_MOVE = 1 << 24
table.move = function(...)
  local _, f, e = ...
  local first, last = tointeger(f), tointeger(e)
  if first and last and last >= first and last - first >= MAX_MOVE then
    error(format("bad argument #3 to 'table.move' (too many elements to move: at most %d per call in polyrun)", MAX_MOVE), 2)
  end
  return again(pcall(move, ...))
end
"#;

impl LuaRuntime {
    /// A fresh sandboxed Lua state.
    pub fn new() -> Result<Self, Error> {
        let (lua, preempt) = Self::new_state().map_err(load_error)?;
        let baseline = lua.used_memory();
        Ok(LuaRuntime {
            lua,
            preempt,
            baseline,
        })
    }

    fn new_state() -> mlua::Result<(Lua, Preempt)> {
        let libs = StdLib::STRING
            | StdLib::TABLE
            | StdLib::MATH
            | StdLib::UTF8
            | StdLib::COROUTINE
            | StdLib::OS;
        let lua = Lua::new_with(libs, LuaOptions::new())?;
        let g = lua.globals();

        // A safe os: no execute, exit, getenv, remove, rename, tmpname, setlocale.
        let os: Table = g.get("os")?;
        let safe_os = lua.create_table()?;
        for name in ["time", "clock", "date", "difftime"] {
            safe_os.set(name, os.get::<Value>(name)?)?;
        }
        g.set("os", safe_os)?;
        for name in ["dofile", "loadfile", "require"] {
            g.set(name, Value::Nil)?;
        }

        // No `__gc` finalizers: Lua 5.4 runs them with its debug hooks off, so no limit could
        // stop one, and they run whenever a later collection or the closing of the state calls
        // them — outside the run that planted them. A table is only marked for finalization
        // when `setmetatable` sees `__gc` (the debug library is not loaded), so refusing it
        // there closes the door.
        let set_metatable: mlua::Function = g.get("setmetatable")?;
        g.set(
            "setmetatable",
            lua.create_function(move |_, (table, mt): (Value, Value)| {
                if let Value::Table(m) = &mt
                    && !m.raw_get::<Value>("__gc")?.is_nil()
                {
                    return Err(mlua::Error::runtime(GC_REFUSED));
                }
                set_metatable.call::<Value>((table, mt))
            })?,
        )?;

        // polyrun's io: stdout/stderr objects with write methods, read, lines.
        let io = lua.create_table()?;
        for name in ["stdout", "stderr"] {
            let file = lua.create_table()?;
            file.set("flush", lua.create_function(|_, this: Value| Ok(this))?)?;
            file.set("close", lua.create_function(|_, _: MultiValue| Ok(true))?)?;
            file.set("setvbuf", lua.create_function(|_, _: MultiValue| Ok(true))?)?;
            io.set(name, file)?;
        }
        io.set("read", lua.create_function(io_read)?)?;
        io.set(
            "lines",
            lua.create_function(|lua, _: MultiValue| {
                lua.create_function(|lua, ()| {
                    let io = current_io(lua)?;
                    read_one(lua, &io, &Value::Nil)
                })
            })?,
        )?;
        io.set("flush", lua.create_function(|_, ()| Ok(()))?)?;
        g.set("io", io)?;

        let check = lua.create_function(|lua, err: Value| {
            let io = current_io(lua)?;
            if let Some(i) = io.control().interrupted() {
                return Err(stop(i));
            }
            if let Value::String(s) = &err
                && s.as_bytes().as_ref() == LUA_MEMORY_MESSAGE.as_bytes()
            {
                io.control().trip(Interrupt::Limit(LimitKind::Memory));
                return Err(stop(Interrupt::Limit(LimitKind::Memory)));
            }
            Ok(())
        })?;
        let table: Table = g.get("table")?;
        lua.set_named_registry_value(PACK_KEY, table.get::<Value>("pack")?)?;
        lua.set_named_registry_value(UNPACK_KEY, table.get::<Value>("unpack")?)?;
        let co: Table = g.get("coroutine")?;
        // The prelude wraps some library functions (and tail-calls the originals, so errors
        // keep the guest's line). Lua names a function in an error by finding it in the
        // loaded-modules table, which guest code cannot reach: it keeps copies of the library
        // tables with the originals, so messages still say `string.rep`.
        let loaded: Table = lua.named_registry_value("_LOADED")?;
        for name in ["string", "table", "coroutine"] {
            let library: Table = g.get(name)?;
            let copy = lua.create_table()?;
            for pair in library.pairs::<Value, Value>() {
                let (k, v) = pair?;
                copy.raw_set(k, v)?;
            }
            loaded.raw_set(name, copy)?;
        }
        lua.load(PRELUDE).set_name("=polyrun").call::<()>((
            g.get::<Value>("pcall")?,
            g.get::<Value>("xpcall")?,
            g.get::<Value>("load")?,
            co.get::<Value>("resume")?,
            co.get::<Value>("close")?,
            check,
            lua.create_function(|lua, s: mlua::LuaString| write_raw(lua, Stream::Stdout, &s))?,
            lua.create_function(|lua, s: mlua::LuaString| write_raw(lua, Stream::Stderr, &s))?,
        ))?;

        helpers::install(&lua)?;

        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |lua, _| {
                if let Some(io) = lua.app_data_ref::<RunIo>()
                    && let Some(i) = io.control().check()
                {
                    return Err(stop(i));
                }
                Ok(VmState::Continue)
            },
        )?;
        let preempt = Preempt::new(&lua)?;
        preempt.wrap_coroutines(&lua, &co)?;
        Ok((lua, preempt))
    }

    fn execute(&self, request: &RunRequest, chunk_name: &str) -> mlua::Result<MultiValue> {
        // REPL rule: code that compiles as an expression list returns its values. The values
        // are packed (not `return CODE`, which would make a trailing call a tail call and lose
        // its frame); the wrapper stays on the code's first line so line numbers are the user's.
        let as_expr = format!(
            "local __polyrun_pack, __polyrun_unpack = ... \
             local __polyrun_r = __polyrun_pack({}\n) \
             return __polyrun_unpack(__polyrun_r, 1, __polyrun_r.n)",
            request.code
        );
        let name = format!("={chunk_name}");
        match self.lua.load(&as_expr).set_name(&name).into_function() {
            Ok(f) => {
                let pack: Value = self.lua.named_registry_value(PACK_KEY)?;
                let unpack: Value = self.lua.named_registry_value(UNPACK_KEY)?;
                f.call::<MultiValue>((pack, unpack))
            }
            Err(_) => self
                .lua
                .load(&request.code)
                .set_name(&name)
                .into_function()?
                .call::<MultiValue>(()),
        }
    }

    fn outcome(&self, result: mlua::Result<MultiValue>, io: &RunIo, chunk: &str) -> Outcome {
        if let Some(i) = io.control().interrupted() {
            return Outcome::from_interrupt(i);
        }
        match result {
            Ok(values) => {
                if values.is_empty() {
                    return Outcome::Completed { value: None };
                }
                let text: Vec<String> = values
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                        other => other.to_string().unwrap_or_else(|e| e.to_string()),
                    })
                    .collect();
                Outcome::Completed {
                    value: Some(MimeBundle::text(text.join("\t"))),
                }
            }
            Err(e) => match diagnose(&e, chunk) {
                Diagnosed::Stop(i) => Outcome::from_interrupt(i),
                Diagnosed::Guest(d) => Outcome::Error { diagnostic: d },
            },
        }
    }
}

enum Diagnosed {
    Stop(Interrupt),
    Guest(Diagnostic),
}

/// Splits `chunk:LINE: message` into line and message.
fn split_location(text: &str, chunk: &str) -> (Option<u32>, String) {
    if let Some(rest) = text.strip_prefix(chunk).and_then(|r| r.strip_prefix(':'))
        && let Some((num, msg)) = rest.split_once(':')
        && let Ok(line) = num.parse::<u32>()
    {
        return (Some(line), msg.trim_start().to_string());
    }
    (None, text.to_string())
}

/// Frames from a Lua traceback (`\tmain.lua:3: in function 'f'`), the user's chunk only.
fn parse_traceback(tb: &str, chunk: &str) -> Vec<Frame> {
    tb.lines()
        .skip_while(|l| !l.starts_with("stack traceback:"))
        .skip(1)
        .filter_map(|l| {
            let l = l.trim();
            let (line, what) = split_location(l, chunk);
            let line = line?;
            let function = if what.contains("main chunk") {
                Some("main chunk".to_string())
            } else {
                what.split(['\'', '<'])
                    .nth(1)
                    .map(|s| s.trim_end_matches('>').to_string())
            };
            Some(Frame {
                function,
                line: Some(line),
                column: None,
            })
        })
        .collect()
}

fn diagnose(e: &mlua::Error, chunk: &str) -> Diagnosed {
    match e {
        mlua::Error::SyntaxError { message, .. } => {
            let (line, msg) = split_location(message.lines().next().unwrap_or(""), chunk);
            Diagnosed::Guest(Diagnostic::new("SyntaxError", msg).at(line, None))
        }
        mlua::Error::MemoryError(_) => Diagnosed::Stop(Interrupt::Limit(LimitKind::Memory)),
        mlua::Error::RuntimeError(text) => {
            let first = text.lines().next().unwrap_or("");
            if first == LUA_MEMORY_MESSAGE {
                return Diagnosed::Stop(Interrupt::Limit(LimitKind::Memory));
            }
            let (mut line, msg) = split_location(first, chunk);
            let frames = parse_traceback(text, chunk);
            if line.is_none() {
                line = frames.first().and_then(|f| f.line);
            }
            let mut d = Diagnostic::new("RuntimeError", msg).at(line, None);
            d.frames = frames;
            Diagnosed::Guest(d)
        }
        mlua::Error::CallbackError { traceback, cause } => {
            if let Some(stop) = find_stop(cause) {
                return Diagnosed::Stop(stop);
            }
            match diagnose(cause, chunk) {
                Diagnosed::Guest(mut d) => {
                    d.frames = parse_traceback(traceback, chunk);
                    if d.line.is_none() {
                        d.line = d.frames.first().and_then(|f| f.line);
                    }
                    Diagnosed::Guest(d)
                }
                s => s,
            }
        }
        mlua::Error::ExternalError(inner) => match inner.downcast_ref::<Stop>() {
            Some(Stop(i)) => Diagnosed::Stop(*i),
            None => Diagnosed::Guest(Diagnostic::new("RuntimeError", inner.to_string())),
        },
        mlua::Error::WithContext { cause, .. } => diagnose(cause, chunk),
        other => Diagnosed::Guest(Diagnostic::new("RuntimeError", other.to_string())),
    }
}

fn find_stop(e: &mlua::Error) -> Option<Interrupt> {
    match e {
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<Stop>().map(|s| s.0),
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            find_stop(cause)
        }
        mlua::Error::MemoryError(_) => Some(Interrupt::Limit(LimitKind::Memory)),
        _ => None,
    }
}

impl Runtime for LuaRuntime {
    fn run(&mut self, request: &RunRequest, io: &RunIo) -> Result<Outcome, Error> {
        let limit = request
            .limits
            .memory_bytes
            .map(|m| {
                self.baseline
                    .saturating_add(usize::try_from(m).unwrap_or(usize::MAX))
            })
            .unwrap_or(0);
        self.lua
            .set_memory_limit(limit)
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.lua.set_app_data(io.clone());
        let armed = self.preempt.arm(&self.lua, io.control());
        let chunk = request.file_name("input").to_string();
        let result = self.execute(request, &chunk);
        let outcome = self.outcome(result, io, &chunk);
        drop(armed);
        self.lua.remove_app_data::<RunIo>();
        // Lift the limit so the host can clean up; collect what the guest left behind.
        let _ = self.lua.set_memory_limit(0);
        if !matches!(outcome, Outcome::Completed { .. }) {
            let _ = self.lua.gc_collect();
        }
        Ok(outcome)
    }

    fn reset(&mut self) -> Result<(), Error> {
        *self = LuaRuntime::new()?;
        Ok(())
    }
}
