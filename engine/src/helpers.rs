//! The host side of the `polyrun` helpers that guest code sees in every language:
//! `input()`, `output(value)`, `getVariable(name)`, `setVariable(name, value)`,
//! `updateVariable(name, fn)` and `event()`.
//!
//! Every backend turns a helper call into one [`HostCall`] and hands it to the run's [`Host`]
//! (through [`crate::RunIo::host_call`]); what crosses a boundary (a WASI module's stderr frame,
//! the worker protocol, the browser worker) is that call as JSON, so every language, isolation
//! mode and target shares one implementation: [`Helpers`].
//!
//! Values are JSON with one set of rules everywhere (docs/helpers.md): `null`, booleans,
//! numbers, strings, arrays and objects with string keys. A number without a fraction part is an
//! integer (`2.0` reads back as `2`), NaN and infinities are refused, as are functions and other
//! values JSON cannot hold — a guest error raised in the guest's own language.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The largest JSON text one variable or output may take.
pub const MAX_VALUE_BYTES: usize = 4 << 20;
/// The most variables one namespace may hold.
pub const MAX_VARIABLES: u64 = 10_000;
/// The most bytes of JSON the variables of one namespace may hold together.
pub const MAX_NAMESPACE_BYTES: u64 = 64 << 20;

/// What one namespace's variables may hold together; [`Quota::default`] is [`MAX_VARIABLES`]
/// and [`MAX_NAMESPACE_BYTES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// The most variables.
    pub variables: u64,
    /// The most bytes of JSON, all values together.
    pub bytes: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            variables: MAX_VARIABLES,
            bytes: MAX_NAMESPACE_BYTES,
        }
    }
}

/// What a namespace holds (its variables but one): see [`VariableStore::usage`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// How many variables.
    pub count: u64,
    /// Their values' bytes of JSON.
    pub bytes: u64,
}

/// One call from guest code to its host, as it crosses boundaries:
/// `{"op":"get_variable","name":"count"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum HostCall {
    /// The step's input data.
    Input,
    /// The run's context ([`RunContext`]).
    Event,
    /// Publishes the step's output (a later call replaces it).
    Output {
        /// The value.
        value: Value,
    },
    /// A variable's value, `null` when unset.
    GetVariable {
        /// The variable's name.
        name: String,
    },
    /// Sets a variable.
    SetVariable {
        /// The variable's name.
        name: String,
        /// Its new value.
        value: Value,
    },
    /// A variable's value and version (`{"value":…,"version":N}`; version 0: unset), the first
    /// half of an atomic update.
    ReadVariable {
        /// The variable's name.
        name: String,
    },
    /// Sets a variable only if its version is still `version`: `true` if it was set, `false`
    /// if another run changed it first (read again and retry).
    SwapVariable {
        /// The variable's name.
        name: String,
        /// The version read by [`HostCall::ReadVariable`].
        version: u64,
        /// The new value.
        value: Value,
    },
}

/// What answers a run's [`HostCall`]s: [`Helpers`] in the process that owns the run, or a proxy
/// that forwards calls to it (a worker process, the browser's worker).
pub trait Host: Send + Sync {
    /// Answers one call. `Err` is a message the guest sees as an error raised by the helper.
    fn call(&self, call: HostCall) -> Result<Value, String>;
}

/// A failure of a [`VariableStore`].
#[derive(Debug, thiserror::Error)]
#[error("variable store: {0}")]
pub struct StoreError(pub String);

/// A variable's value and its version (incremented by every write; 0 means unset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    /// The value.
    pub value: Value,
    /// The version.
    pub version: u64,
}

/// Where variables live: keyed by a namespace the caller chooses and a name. Implementations
/// must make [`VariableStore::compare_and_set`] atomic across every process that shares them.
pub trait VariableStore: Send + Sync {
    /// The value and version of a variable, `None` when unset.
    fn get(&self, namespace: &str, name: &str) -> Result<Option<Versioned>, StoreError>;

    /// Sets a variable; returns its new version.
    fn set(&self, namespace: &str, name: &str, value: &Value) -> Result<u64, StoreError>;

    /// The variables of `namespace` other than `except`, counted (the helpers check
    /// [`MAX_VARIABLES`] and [`MAX_NAMESPACE_BYTES`] with it before a write).
    fn usage(&self, namespace: &str, except: &str) -> Result<Usage, StoreError>;

    /// Sets a variable if its version is `expected` (0: only if unset). Returns the new version,
    /// or `None` if the version had moved on.
    fn compare_and_set(
        &self,
        namespace: &str,
        name: &str,
        expected: u64,
        value: &Value,
    ) -> Result<Option<u64>, StoreError>;

    /// Atomically replaces a variable with `f(current)` (`None` when unset), retrying when
    /// another writer got in between; returns the value written. `f` may run more than once.
    fn update(
        &self,
        namespace: &str,
        name: &str,
        f: &mut dyn FnMut(Option<&Value>) -> Value,
    ) -> Result<Value, StoreError> {
        loop {
            let current = self.get(namespace, name)?;
            let version = current.as_ref().map_or(0, |c| c.version);
            let next = f(current.as_ref().map(|c| &c.value));
            if self
                .compare_and_set(namespace, name, version, &next)?
                .is_some()
            {
                return Ok(next);
            }
        }
    }
}

/// Variables in memory, for one process (tests, the browser, callers who want nothing on disk).
#[derive(Debug, Default)]
pub struct MemoryStore {
    vars: Mutex<HashMap<(String, String), Versioned>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `variables` in `namespace`, versions as given (a host that keeps the
    /// variables elsewhere between runs, as the browser page does).
    pub fn with_variables(
        namespace: &str,
        variables: impl IntoIterator<Item = (String, Versioned)>,
    ) -> Self {
        let vars = variables
            .into_iter()
            .map(|(name, v)| ((namespace.to_string(), name), v))
            .collect();
        MemoryStore {
            vars: Mutex::new(vars),
        }
    }

    /// Every variable of `namespace`, by name.
    pub fn variables(&self, namespace: &str) -> std::collections::BTreeMap<String, Versioned> {
        let vars = self.vars.lock().unwrap_or_else(|p| p.into_inner());
        vars.iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|((_, name), v)| (name.clone(), v.clone()))
            .collect()
    }
}

impl VariableStore for MemoryStore {
    fn get(&self, namespace: &str, name: &str) -> Result<Option<Versioned>, StoreError> {
        let vars = self.vars.lock().unwrap_or_else(|p| p.into_inner());
        Ok(vars.get(&(namespace.into(), name.into())).cloned())
    }

    fn usage(&self, namespace: &str, except: &str) -> Result<Usage, StoreError> {
        let vars = self.vars.lock().unwrap_or_else(|p| p.into_inner());
        Ok(vars
            .iter()
            .filter(|((ns, name), _)| ns == namespace && name != except)
            .fold(Usage::default(), |u, (_, v)| Usage {
                count: u.count + 1,
                bytes: u.bytes + v.value.to_string().len() as u64,
            }))
    }

    fn set(&self, namespace: &str, name: &str, value: &Value) -> Result<u64, StoreError> {
        let mut vars = self.vars.lock().unwrap_or_else(|p| p.into_inner());
        let slot = vars
            .entry((namespace.into(), name.into()))
            .or_insert(Versioned {
                value: Value::Null,
                version: 0,
            });
        slot.value = value.clone();
        slot.version += 1;
        Ok(slot.version)
    }

    fn compare_and_set(
        &self,
        namespace: &str,
        name: &str,
        expected: u64,
        value: &Value,
    ) -> Result<Option<u64>, StoreError> {
        let mut vars = self.vars.lock().unwrap_or_else(|p| p.into_inner());
        let key = (namespace.to_string(), name.to_string());
        let now = vars.get(&key).map_or(0, |v| v.version);
        if now != expected {
            return Ok(None);
        }
        vars.insert(
            key,
            Versioned {
                value: value.clone(),
                version: now + 1,
            },
        );
        Ok(Some(now + 1))
    }
}

/// What `event()` returns: the context of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// A unique id of this run.
    pub run_id: String,
    /// The pipeline's name, when the run is a pipeline step.
    pub pipeline: Option<String>,
    /// The step's name, when the run is a pipeline step.
    pub step: Option<String>,
    /// What started the run: `api`, `cli`, `pipeline`, `http`, or what the caller says.
    pub trigger: String,
    /// When the run started, RFC 3339 in UTC with milliseconds.
    pub started_at: String,
    /// Free-form data from whoever started the run (an object).
    pub metadata: Value,
}

impl RunContext {
    /// A context started now, with a fresh run id and `trigger`.
    pub fn now(trigger: impl Into<String>) -> Self {
        let since = web_time::SystemTime::now()
            .duration_since(web_time::SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        RunContext {
            run_id: new_run_id(since.as_nanos()),
            pipeline: None,
            step: None,
            trigger: trigger.into(),
            started_at: rfc3339(since.as_millis() as i64),
            metadata: Value::Object(Default::default()),
        }
    }
}

/// A run id: time-ordered, unique within a process and very likely across processes.
fn new_run_id(nanos: u128) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // The address of a stack local differs between processes (ASLR) and mixes in some entropy.
    let salt = &n as *const u64 as usize as u64;
    format!(
        "run-{:x}-{:x}",
        nanos as u64,
        (salt ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)) & 0xffff_ffff
    )
}

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Brings a value to the shared rules: a number without a fraction part (that fits an `i64`)
/// becomes an integer, so `2.0` from Python or Ruby reads back as `2` as it does in JavaScript.
pub fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.fract() == 0.0 && f.abs() < 9.0e18 {
                Value::from(f as i64)
            } else {
                Value::Number(n)
            }
        }
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

/// The helpers of one run: its input, its context, its variables (a namespace of a
/// [`VariableStore`]) and the output it publishes.
pub struct Helpers {
    input: Value,
    context: RunContext,
    namespace: String,
    store: Arc<dyn VariableStore>,
    quota: Quota,
    output: Mutex<Option<Value>>,
}

impl std::fmt::Debug for Helpers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helpers")
            .field("namespace", &self.namespace)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// The namespace of runs that do not choose one.
pub const DEFAULT_NAMESPACE: &str = "default";

impl Helpers {
    /// Helpers over `store`: input `null`, namespace [`DEFAULT_NAMESPACE`], a context started
    /// now by `api`.
    pub fn new(store: Arc<dyn VariableStore>) -> Self {
        Helpers {
            input: Value::Null,
            context: RunContext::now("api"),
            namespace: DEFAULT_NAMESPACE.into(),
            store,
            quota: Quota::default(),
            output: Mutex::new(None),
        }
    }

    /// The quota of the namespace's variables (default: [`Quota::default`]).
    pub fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = quota;
        self
    }

    /// The input `input()` returns.
    pub fn with_input(mut self, input: Value) -> Self {
        self.input = normalize(input);
        self
    }

    /// The context `event()` returns.
    pub fn with_context(mut self, context: RunContext) -> Self {
        self.context = context;
        self
    }

    /// The namespace of the run's variables.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The run's context.
    pub fn context(&self) -> &RunContext {
        &self.context
    }

    /// The output the guest published last, if any.
    pub fn output(&self) -> Option<Value> {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn check_name(name: &str) -> Result<(), String> {
        if name.is_empty() || name.len() > 256 {
            return Err("a variable name must be 1 to 256 bytes long".into());
        }
        Ok(())
    }

    /// The value's bytes of JSON, refused past [`MAX_VALUE_BYTES`].
    fn check_size(what: &str, value: &Value) -> Result<usize, String> {
        let n = serde_json::to_string(value).map_or(0, |s| s.len());
        if n > MAX_VALUE_BYTES {
            return Err(format!(
                "{what} is {n} bytes of JSON; the limit is {MAX_VALUE_BYTES}"
            ));
        }
        Ok(n)
    }

    /// Refuses a write of `bytes` to `name` that would take the namespace past its quota.
    fn check_quota(&self, name: &str, bytes: usize) -> Result<(), String> {
        let ns = self.namespace.as_str();
        let u = self.store.usage(ns, name).map_err(|e| e.to_string())?;
        let q = self.quota;
        if u.count + 1 > q.variables {
            return Err(format!(
                "the namespace `{ns}` holds {} other variables; the limit is {}",
                u.count, q.variables
            ));
        }
        if u.bytes + bytes as u64 > q.bytes {
            return Err(format!(
                "the namespace `{ns}` would hold {} bytes of JSON; the limit is {}",
                u.bytes + bytes as u64,
                q.bytes
            ));
        }
        Ok(())
    }
}

impl Host for Helpers {
    fn call(&self, call: HostCall) -> Result<Value, String> {
        let store_err = |e: StoreError| e.to_string();
        let ns = self.namespace.as_str();
        match call {
            HostCall::Input => Ok(self.input.clone()),
            HostCall::Event => serde_json::to_value(&self.context).map_err(|e| e.to_string()),
            HostCall::Output { value } => {
                let _ = Self::check_size("the output", &value)?;
                *self.output.lock().unwrap_or_else(|p| p.into_inner()) = Some(normalize(value));
                Ok(Value::Null)
            }
            HostCall::GetVariable { name } => {
                Self::check_name(&name)?;
                Ok(self
                    .store
                    .get(ns, &name)
                    .map_err(store_err)?
                    .map_or(Value::Null, |v| v.value))
            }
            HostCall::SetVariable { name, value } => {
                Self::check_name(&name)?;
                let bytes = Self::check_size("the value", &value)?;
                self.check_quota(&name, bytes)?;
                self.store
                    .set(ns, &name, &normalize(value))
                    .map_err(store_err)?;
                Ok(Value::Null)
            }
            HostCall::ReadVariable { name } => {
                Self::check_name(&name)?;
                let v = self.store.get(ns, &name).map_err(store_err)?;
                Ok(serde_json::json!({
                    "value": v.as_ref().map_or(Value::Null, |v| v.value.clone()),
                    "version": v.map_or(0, |v| v.version),
                }))
            }
            HostCall::SwapVariable {
                name,
                version,
                value,
            } => {
                Self::check_name(&name)?;
                let bytes = Self::check_size("the value", &value)?;
                self.check_quota(&name, bytes)?;
                Ok(Value::Bool(
                    self.store
                        .compare_and_set(ns, &name, version, &normalize(value))
                        .map_err(store_err)?
                        .is_some(),
                ))
            }
        }
    }
}

/// Answers a call given as JSON text (`{"op":…}`) with a reply as JSON text:
/// `{"ok":VALUE}` or `{"error":"MESSAGE"}` — the wire format of every boundary.
pub fn answer_json(host: Option<&dyn Host>, request: &str) -> String {
    let reply = match serde_json::from_str::<HostCall>(request) {
        Err(e) => Err(format!("malformed helper call: {e}")),
        Ok(call) => match host {
            Some(h) => h.call(call),
            None => Err("the polyrun helpers are not available in this run".into()),
        },
    };
    serde_json::to_string(&crate::wire::HostReply::from(reply))
        .unwrap_or_else(|e| format!(r#"{{"error":"unserialisable reply: {e}"}}"#))
}

/// Reads a reply made by [`answer_json`] back into a result.
pub fn parse_reply(reply: &str) -> Result<Value, String> {
    serde_json::from_str::<crate::wire::HostReply>(reply)
        .map_err(|e| format!("malformed helper reply: {e}"))?
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_namespace_holds_at_most_its_quota() {
        let store = Arc::new(MemoryStore::new());
        let h = Helpers::new(store.clone()).with_quota(Quota {
            variables: 2,
            bytes: 20,
        });
        let set = |name: &str, value: Value| {
            h.call(HostCall::SetVariable {
                name: name.into(),
                value,
            })
        };
        assert_eq!(set("a", json!("0123456789")), Ok(Value::Null)); // 12 bytes
        assert_eq!(set("b", json!(1)), Ok(Value::Null));
        let e = set("c", json!(1)).unwrap_err();
        assert!(e.contains("holds 2 other variables; the limit is 2"), "{e}");
        // Replacing a variable counts its new value, not both.
        assert_eq!(set("a", json!("012345678901234")), Ok(Value::Null)); // 17 + 1
        let e = set("a", json!("0123456789012345678")).unwrap_err(); // 21 + 1
        assert!(
            e.contains("would hold 22 bytes of JSON; the limit is 20"),
            "{e}"
        );
        let swap = h.call(HostCall::SwapVariable {
            name: "c".into(),
            version: 0,
            value: json!(1),
        });
        assert!(swap.unwrap_err().contains("other variables"));
        // Another namespace has its own.
        let other = Helpers::new(store)
            .with_namespace("other")
            .with_quota(Quota {
                variables: 2,
                bytes: 20,
            });
        assert_eq!(
            other.call(HostCall::SetVariable {
                name: "c".into(),
                value: json!(1)
            }),
            Ok(Value::Null)
        );
    }

    #[test]
    fn calls_use_one_wire_format() {
        let c: HostCall = serde_json::from_str(r#"{"op":"get_variable","name":"n"}"#).unwrap();
        assert_eq!(c, HostCall::GetVariable { name: "n".into() });
        assert_eq!(
            serde_json::to_string(&HostCall::Input).unwrap(),
            r#"{"op":"input"}"#
        );
        assert_eq!(
            answer_json(None, r#"{"op":"input"}"#),
            r#"{"error":"the polyrun helpers are not available in this run"}"#
        );
        assert!(answer_json(None, r#"{"op":"launch"}"#).contains("malformed helper call"));
        assert_eq!(parse_reply(r#"{"ok":[1]}"#), Ok(json!([1])));
        assert_eq!(parse_reply(r#"{"error":"no"}"#), Err("no".into()));
    }

    #[test]
    fn helpers_answer_input_output_variables_and_swaps() {
        let store = Arc::new(MemoryStore::new());
        let h = Helpers::new(store.clone())
            .with_input(json!({"n": 2.0}))
            .with_namespace("ns");
        assert_eq!(h.call(HostCall::Input), Ok(json!({"n": 2})));
        assert_eq!(
            h.call(HostCall::GetVariable { name: "x".into() }),
            Ok(Value::Null)
        );
        h.call(HostCall::SetVariable {
            name: "x".into(),
            value: json!([1.5, 3.0]),
        })
        .unwrap();
        assert_eq!(
            h.call(HostCall::GetVariable { name: "x".into() }),
            Ok(json!([1.5, 3]))
        );
        // Another namespace does not see it.
        assert_eq!(store.get("other", "x").unwrap(), None);
        let read = h.call(HostCall::ReadVariable { name: "x".into() }).unwrap();
        assert_eq!(read["version"], 1);
        let swap = |version| {
            h.call(HostCall::SwapVariable {
                name: "x".into(),
                version,
                value: json!(7),
            })
        };
        assert_eq!(swap(0), Ok(json!(false)));
        assert_eq!(swap(1), Ok(json!(true)));
        assert_eq!(swap(1), Ok(json!(false)));
        assert!(h.call(HostCall::GetVariable { name: "".into() }).is_err());
        assert_eq!(h.output(), None);
        h.call(HostCall::Output { value: json!(1) }).unwrap();
        h.call(HostCall::Output { value: json!(2) }).unwrap();
        assert_eq!(h.output(), Some(json!(2)));
        let ev = h.call(HostCall::Event).unwrap();
        assert_eq!(ev["trigger"], "api");
        assert!(ev["run_id"].as_str().unwrap().starts_with("run-"));
    }

    #[test]
    fn concurrent_updates_are_atomic() {
        let store = Arc::new(MemoryStore::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        s.update("n", "c", &mut |v| {
                            json!(v.and_then(Value::as_i64).unwrap_or(0) + 1)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.get("n", "c").unwrap().unwrap().value, json!(400));
    }

    #[test]
    fn times_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_795_000_000_000), "2026-11-18T11:06:40.000Z");
    }
}
