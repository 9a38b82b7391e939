//! Readable, Node-like rendering of JavaScript values for `console.log` and REPL values:
//! `{ a: 1, b: [ 1, 2 ] }`, `Map(1) { 'k' => 1 }`, `[Function: f]`, `[Circular]`.

use boa_engine::{Context, JsObject, JsResult, JsValue, js_string};

/// Nested objects deeper than this print as `[Object]` / `[Array]`.
const MAX_DEPTH: usize = 2;
/// Arrays and objects show at most this many entries.
const MAX_ITEMS: usize = 100;

/// Renders a value as a REPL shows it (strings quoted).
pub fn inspect(value: &JsValue, context: &mut Context) -> JsResult<String> {
    let mut seen = Vec::new();
    render(value, context, 0, &mut seen, false)
}

/// Renders `console.log` arguments: printf-style `%s %d %i %f %o %O %j %c %%` in a leading
/// string, then the rest separated by spaces; top-level strings are printed raw.
pub fn format_args(args: &[JsValue], context: &mut Context) -> JsResult<String> {
    let mut out = String::new();
    let mut rest = args;
    if let Some(first) = args.first()
        && let Some(fmt) = first.as_string()
    {
        let fmt = fmt.to_std_string_escaped();
        rest = &args[1..];
        let mut chars = fmt.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(&spec) = chars.peek() else {
                out.push('%');
                break;
            };
            if spec == '%' {
                chars.next();
                out.push('%');
                continue;
            }
            if !"sdifoOjc".contains(spec) || rest.is_empty() {
                out.push('%');
                continue;
            }
            chars.next();
            let arg = &rest[0];
            rest = &rest[1..];
            match spec {
                's' => {
                    if arg.is_object() && !arg.as_object().is_some_and(|o| o.is_callable()) {
                        out.push_str(&inspect(arg, context)?);
                    } else {
                        out.push_str(&render_top(arg, context)?);
                    }
                }
                'd' | 'i' => {
                    let n = arg.to_number(context)?;
                    let n = if spec == 'i' { n.trunc() } else { n };
                    out.push_str(&JsValue::from(n).to_string(context)?.to_std_string_escaped());
                }
                'f' => {
                    let n = arg.to_number(context)?;
                    out.push_str(&JsValue::from(n).to_string(context)?.to_std_string_escaped());
                }
                'j' => out.push_str(&json(arg, context)?),
                'c' => {}
                _ => out.push_str(&inspect(arg, context)?),
            }
        }
    } else if let Some(first) = args.first() {
        out.push_str(&render_top(first, context)?);
        rest = &args[1..];
    }
    for arg in rest {
        out.push(' ');
        out.push_str(&render_top(arg, context)?);
    }
    Ok(out)
}

fn render_top(value: &JsValue, context: &mut Context) -> JsResult<String> {
    let mut seen = Vec::new();
    render(value, context, 0, &mut seen, true)
}

fn json(value: &JsValue, context: &mut Context) -> JsResult<String> {
    let json = context.global_object().get(js_string!("JSON"), context)?;
    let stringify = json
        .as_object()
        .map(|o| o.get(js_string!("stringify"), context))
        .transpose()?
        .unwrap_or_default();
    match stringify.as_callable() {
        Some(f) => Ok(f
            .call(&json, std::slice::from_ref(value), context)?
            .to_string(context)?
            .to_std_string_escaped()),
        None => Ok("undefined".into()),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

fn get_str(obj: &JsObject, key: &str, context: &mut Context) -> Option<String> {
    let v = obj.get(js_string!(key), context).ok()?;
    v.as_string().map(|s| s.to_std_string_escaped())
}

fn constructor_name(obj: &JsObject, context: &mut Context) -> Option<String> {
    let ctor = obj.get(js_string!("constructor"), context).ok()?;
    let ctor = ctor.as_object()?;
    get_str(&ctor, "name", context).filter(|n| !n.is_empty())
}

/// Calls a global helper such as `Object.keys` or `Array.from` on one argument.
fn call_static(ns: &str, method: &str, arg: &JsValue, context: &mut Context) -> JsResult<JsValue> {
    let global = context.global_object();
    let ns_val = global.get(js_string!(ns), context)?;
    let Some(ns_obj) = ns_val.as_object() else {
        return Ok(JsValue::undefined());
    };
    let f = ns_obj.get(js_string!(method), context)?;
    match f.as_callable() {
        Some(f) => f.call(&ns_val, std::slice::from_ref(arg), context),
        None => Ok(JsValue::undefined()),
    }
}

fn call_method(obj: &JsObject, method: &str, context: &mut Context) -> JsResult<Option<String>> {
    let f = obj.get(js_string!(method), context)?;
    match f.as_callable() {
        Some(f) => Ok(Some(
            f.call(&obj.clone().into(), &[], context)?
                .to_string(context)?
                .to_std_string_escaped(),
        )),
        None => Ok(None),
    }
}

fn array_items(value: &JsValue, context: &mut Context) -> JsResult<Vec<JsValue>> {
    let Some(obj) = value.as_object() else {
        return Ok(Vec::new());
    };
    let len = obj.get(js_string!("length"), context)?.to_length(context)?;
    let mut items = Vec::new();
    for i in 0..len.min(MAX_ITEMS as u64 + 1) {
        items.push(obj.get(i, context)?);
    }
    Ok(items)
}

fn render(
    value: &JsValue,
    context: &mut Context,
    depth: usize,
    seen: &mut Vec<JsObject>,
    top: bool,
) -> JsResult<String> {
    if let Some(s) = value.as_string() {
        let s = s.to_std_string_escaped();
        return Ok(if top { s } else { quote(&s) });
    }
    if value.is_bigint() {
        return Ok(format!(
            "{}n",
            value.to_string(context)?.to_std_string_escaped()
        ));
    }
    if value.is_symbol() {
        return Ok(value.display().to_string());
    }
    let Some(obj) = value.as_object() else {
        return Ok(value.to_string(context)?.to_std_string_escaped());
    };
    if seen.iter().any(|s| JsObject::equals(s, &obj)) {
        return Ok("[Circular]".into());
    }
    if obj.is_callable() {
        let name = get_str(&obj, "name", context).filter(|n| !n.is_empty());
        return Ok(match name {
            Some(n) => format!("[Function: {n}]"),
            None => "[Function (anonymous)]".into(),
        });
    }
    let ctor = constructor_name(&obj, context);
    if obj.is::<boa_engine::builtins::error::Error>() {
        let name = get_str(&obj, "name", context).unwrap_or_else(|| "Error".into());
        let msg = get_str(&obj, "message", context).unwrap_or_default();
        let head = if msg.is_empty() {
            name
        } else {
            format!("{name}: {msg}")
        };
        return Ok(match get_str(&obj, "stack", context) {
            Some(stack) if !stack.is_empty() => format!("{head}\n{}", stack.trim_end()),
            _ => head,
        });
    }
    match ctor.as_deref() {
        Some("Date") => {
            if let Ok(Some(iso)) = call_method(&obj, "toISOString", context) {
                return Ok(iso);
            }
            return Ok("Invalid Date".into());
        }
        Some("RegExp") => {
            if let Some(s) = call_method(&obj, "toString", context)? {
                return Ok(s);
            }
        }
        Some("Promise") => return Ok("Promise { ... }".into()),
        _ => {}
    }
    if depth > MAX_DEPTH {
        return Ok(if obj.is_array() {
            "[Array]".into()
        } else {
            "[Object]".into()
        });
    }
    seen.push(obj.clone());
    let result = render_container(&obj, ctor.as_deref(), context, depth, seen);
    seen.pop();
    result
}

fn render_container(
    obj: &JsObject,
    ctor: Option<&str>,
    context: &mut Context,
    depth: usize,
    seen: &mut Vec<JsObject>,
) -> JsResult<String> {
    let value: JsValue = obj.clone().into();
    if obj.is_array() {
        let items = array_items(&value, context)?;
        if items.is_empty() {
            return Ok("[]".into());
        }
        let mut parts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if i == MAX_ITEMS {
                let len = obj.get(js_string!("length"), context)?.to_length(context)?;
                parts.push(format!("... {} more items", len - MAX_ITEMS as u64));
                break;
            }
            parts.push(render(item, context, depth + 1, seen, false)?);
        }
        return Ok(format!("[ {} ]", parts.join(", ")));
    }
    if matches!(ctor, Some("Map") | Some("Set")) {
        let entries = call_static("Array", "from", &value, context)?;
        let items = array_items(&entries, context)?;
        let mut parts = Vec::new();
        for item in items.iter().take(MAX_ITEMS) {
            if ctor == Some("Map") {
                let kv = array_items(item, context)?;
                let k = render(
                    kv.first().unwrap_or(&JsValue::undefined()),
                    context,
                    depth + 1,
                    seen,
                    false,
                )?;
                let v = render(
                    kv.get(1).unwrap_or(&JsValue::undefined()),
                    context,
                    depth + 1,
                    seen,
                    false,
                )?;
                parts.push(format!("{k} => {v}"));
            } else {
                parts.push(render(item, context, depth + 1, seen, false)?);
            }
        }
        let name = ctor.unwrap_or_default();
        return Ok(if parts.is_empty() {
            format!("{name}(0) {{}}")
        } else {
            format!("{name}({}) {{ {} }}", items.len(), parts.join(", "))
        });
    }
    let keys = call_static("Object", "keys", &value, context)?;
    let keys = array_items(&keys, context)?;
    let mut parts = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if i == MAX_ITEMS {
            parts.push("...".to_string());
            break;
        }
        let k = key.to_string(context)?.to_std_string_escaped();
        let v = obj.get(js_string!(k.as_str()), context)?;
        let shown_key = if is_identifier(&k) { k } else { quote(&k) };
        parts.push(format!(
            "{shown_key}: {}",
            render(&v, context, depth + 1, seen, false)?
        ));
    }
    let prefix = match ctor {
        Some("Object") | None => String::new(),
        Some(name) => format!("{name} "),
    };
    Ok(if parts.is_empty() {
        format!("{prefix}{{}}")
    } else {
        format!("{prefix}{{ {} }}", parts.join(", "))
    })
}
