//! The `polyrun` helpers in Lua: a `polyrun` table whose functions call one host function.
//! Lua values become JSON here, in Rust, with the rules every language shares
//! (docs/helpers.md): a table is an array when its keys are exactly `1..n` (or it was made by
//! `polyrun.array` or decoded from a JSON array), otherwise an object whose keys are strings
//! (numbers become their decimal text).

use crate::{current_io, stop};
use mlua::{Lua, MultiValue, Table, Value};
use polyrun_engine::HostCall;
use serde_json::{Map, Number, Value as Json};

/// Registry key of the metatable that marks a table as a JSON array.
const ARRAY_META: &str = "polyrun.array";
/// `polyrun.null`: JSON's `null` inside arrays (a `nil` there would end the sequence).
const NULL: Value = Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));
/// How deep a value may nest (deeper is taken for a cycle).
const MAX_DEPTH: usize = 128;

/// Installs `polyrun` in `lua`'s globals.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let meta = lua.create_table()?;
    meta.set("__name", "polyrun.array")?;
    lua.set_named_registry_value(ARRAY_META, meta.clone())?;
    let host = lua.create_function(host)?;
    lua.load(PRELUDE)
        .set_name("=polyrun")
        .call::<()>((host, meta, NULL))
}

const PRELUDE: &str = r#"
local host, array_meta, null = ...
local error, setmetatable, type = error, setmetatable, type
local function call(helper, ...)
  local ok, a, b = host(...)
  if not ok then error("polyrun." .. helper .. ": " .. a, 3) end
  return a, b
end
local function check_name(helper, name)
  if type(name) ~= "string" then
    error("polyrun." .. helper .. ": the variable name must be a string", 3)
  end
end
local p = {}
function p.input() return (call("input", "input")) end
function p.event() return (call("event", "event")) end
function p.output(value) call("output", "output", nil, value) end
function p.getVariable(name)
  check_name("getVariable", name)
  return (call("getVariable", "get_variable", name))
end
function p.setVariable(name, value)
  check_name("setVariable", name)
  call("setVariable", "set_variable", name, value)
end
function p.updateVariable(name, f)
  check_name("updateVariable", name)
  while true do
    local current, version = call("updateVariable", "read_variable", name)
    local next = f(current)
    if call("updateVariable", "swap_variable", name, next, version) then return next end
  end
end
function p.array(t) return setmetatable(t or {}, array_meta) end
p.null = null
p.get_variable, p.set_variable, p.update_variable = p.getVariable, p.setVariable, p.updateVariable
polyrun = p
"#;

/// `host(op, name, value, version)` → `true, result[, version]` or `false, message`.
fn host(
    lua: &Lua,
    (op, name, value, version): (String, Option<String>, Value, Option<u64>),
) -> mlua::Result<MultiValue> {
    let io = current_io(lua)?;
    if let Err(i) = io.check() {
        return Err(stop(i));
    }
    let fail = |m: String| -> mlua::Result<MultiValue> {
        Ok(MultiValue::from_vec(vec![
            Value::Boolean(false),
            Value::String(lua.create_string(m)?),
        ]))
    };
    let name = name.unwrap_or_default();
    let json = |v: &Value| to_json(lua, v, 0);
    let call = match op.as_str() {
        "input" => HostCall::Input,
        "event" => HostCall::Event,
        "get_variable" => HostCall::GetVariable { name },
        "read_variable" => HostCall::ReadVariable { name },
        "output" | "set_variable" | "swap_variable" => {
            let value = match json(&value) {
                Ok(v) => v,
                Err(m) => return fail(m),
            };
            match op.as_str() {
                "output" => HostCall::Output { value },
                "set_variable" => HostCall::SetVariable { name, value },
                _ => HostCall::SwapVariable {
                    name,
                    version: version.unwrap_or(0),
                    value,
                },
            }
        }
        other => return fail(format!("unknown helper call `{other}`")),
    };
    let read = matches!(call, HostCall::ReadVariable { .. });
    match io.host_call(call) {
        Err(m) => {
            if let Err(i) = io.check() {
                return Err(stop(i));
            }
            fail(m)
        }
        Ok(Json::Object(mut o)) if read => Ok(MultiValue::from_vec(vec![
            Value::Boolean(true),
            from_json(lua, &o.remove("value").unwrap_or(Json::Null))?,
            from_json(lua, &o.remove("version").unwrap_or(Json::Null))?,
        ])),
        Ok(v) => Ok(MultiValue::from_vec(vec![
            Value::Boolean(true),
            from_json(lua, &v)?,
        ])),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Function(_) => "a function",
        Value::Thread(_) => "a coroutine",
        Value::UserData(_) | Value::LightUserData(_) => "a userdata",
        _ => "this value",
    }
}

/// A Lua value as JSON, or why it cannot be one.
pub(crate) fn to_json(lua: &Lua, v: &Value, depth: usize) -> Result<Json, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "cannot convert to JSON: nested more than {MAX_DEPTH} deep (a cycle?)"
        ));
    }
    Ok(match v {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::from(*i),
        Value::Number(f) => Json::Number(
            Number::from_f64(*f)
                .ok_or_else(|| format!("cannot convert {f} to JSON (not a finite number)"))?,
        ),
        Value::String(s) => Json::String(
            s.to_str()
                .map_err(|_| "cannot convert a string that is not UTF-8 text to JSON".to_string())?
                .to_string(),
        ),
        Value::Table(t) => table_to_json(lua, t, depth)?,
        Value::LightUserData(u) if u.0.is_null() => Json::Null,
        other => return Err(format!("cannot convert {} to JSON", kind(other))),
    })
}

fn table_to_json(lua: &Lua, t: &Table, depth: usize) -> Result<Json, String> {
    let marked = match (t.metatable(), lua.named_registry_value::<Table>(ARRAY_META)) {
        (Some(m), Ok(a)) => m == a,
        _ => false,
    };
    let len = t.raw_len();
    let mut count = 0usize;
    let mut pairs = Vec::new();
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        count += 1;
        pairs.push((k, v));
    }
    if marked || (len > 0 && count == len) {
        let mut out = Vec::with_capacity(len);
        for i in 1..=len {
            let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
            out.push(to_json(lua, &v, depth + 1)?);
        }
        return Ok(Json::Array(out));
    }
    let mut map = Map::new();
    for (k, v) in pairs {
        let key = match &k {
            Value::String(s) => s
                .to_str()
                .map_err(|_| "cannot convert a key that is not UTF-8 text to JSON".to_string())?
                .to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Number(f) => f.to_string(),
            other => {
                return Err(format!(
                    "cannot convert a table with {} keys to JSON (keys must be strings)",
                    other.type_name()
                ));
            }
        };
        map.insert(key, to_json(lua, &v, depth + 1)?);
    }
    Ok(Json::Object(map))
}

/// JSON as Lua values: arrays are tables marked as arrays (so they stay arrays, even empty);
/// `null` is `polyrun.null` inside an array and `nil` elsewhere.
pub(crate) fn from_json(lua: &Lua, v: &Json) -> mlua::Result<Value> {
    Ok(match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, x) in a.iter().enumerate() {
                let v = match x {
                    Json::Null => NULL,
                    x => from_json(lua, x)?,
                };
                t.raw_set(i + 1, v)?;
            }
            t.set_metatable(Some(lua.named_registry_value::<Table>(ARRAY_META)?))?;
            Value::Table(t)
        }
        Json::Object(o) => {
            let t = lua.create_table_with_capacity(0, o.len())?;
            for (k, x) in o {
                t.raw_set(k.as_str(), from_json(lua, x)?)?;
            }
            Value::Table(t)
        }
    })
}
