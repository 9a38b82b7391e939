//! The `polyrun` helpers of a browser run: the page keeps the variables (a worker can be
//! replaced at any time) and sends them, the input and the run's context with each run; the
//! engine's own [`Helpers`] answer every call — from every backend of the bundle, Ruby and
//! PHP's stderr frames included — and the run's output and changed variables go back with its
//! result.

use polyrun_engine::helpers::{DEFAULT_NAMESPACE, Helpers, MemoryStore, RunContext, Versioned};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the page sends with a run (`web/js/polyrun.js`): all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageHelpers {
    /// What `input()` returns.
    #[serde(default)]
    pub input: Value,
    /// What `event()` returns; a context started now by `browser` when absent.
    #[serde(default)]
    pub context: Option<RunContext>,
    /// The variables of the run's namespace, with their versions.
    #[serde(default)]
    pub variables: BTreeMap<String, Versioned>,
}

/// The helpers of one run and what it started with.
pub struct PageRun {
    /// The run's host: give it to the run's `RunIo`.
    pub helpers: Arc<Helpers>,
    store: Arc<MemoryStore>,
    before: BTreeMap<String, Versioned>,
}

impl PageHelpers {
    /// Reads what the page sent (`null` or empty: nothing).
    pub fn parse(json: &str) -> Result<PageHelpers, String> {
        if json.trim().is_empty() {
            return Ok(PageHelpers::default());
        }
        serde_json::from_str::<Option<PageHelpers>>(json)
            .map(Option::unwrap_or_default)
            .map_err(|e| format!("malformed helpers: {e}"))
    }

    /// The run's helpers over these variables.
    pub fn start(self) -> PageRun {
        let store = Arc::new(MemoryStore::with_variables(
            DEFAULT_NAMESPACE,
            self.variables.clone(),
        ));
        let helpers = Helpers::new(store.clone())
            .with_input(self.input)
            .with_context(self.context.unwrap_or_else(|| RunContext::now("browser")));
        PageRun {
            helpers: Arc::new(helpers),
            store,
            before: self.variables,
        }
    }
}

impl PageRun {
    /// Adds the run's `output` (if it published one) and its `variables` (if any changed) to
    /// the reply object.
    pub fn finish(&self, reply: &mut serde_json::Map<String, Value>) {
        if let Some(output) = self.helpers.output() {
            reply.insert("output".into(), output);
        }
        let after = self.store.variables(DEFAULT_NAMESPACE);
        if after != self.before {
            reply.insert(
                "variables".into(),
                serde_json::to_value(after).unwrap_or_default(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyrun_engine::{Host, HostCall};
    use serde_json::json;

    fn finish(run: &PageRun) -> Value {
        let mut reply = serde_json::Map::new();
        run.finish(&mut reply);
        Value::Object(reply)
    }

    #[test]
    fn a_run_reads_the_page_variables_and_returns_what_changed() {
        let page = PageHelpers::parse(
            r#"{"input":21,"variables":{"n":{"value":1,"version":3}},
                "context":{"run_id":"r1","pipeline":null,"step":null,"trigger":"browser",
                           "started_at":"2026-12-02T00:00:00.000Z","metadata":{}}}"#,
        )
        .unwrap();
        let run = page.start();
        let h = &run.helpers;
        assert_eq!(h.call(HostCall::Input).unwrap(), json!(21));
        assert_eq!(h.call(HostCall::Event).unwrap()["run_id"], "r1");
        let read = h.call(HostCall::ReadVariable { name: "n".into() }).unwrap();
        assert_eq!(read, json!({"value": 1, "version": 3}));
        // Unchanged: nothing goes back.
        assert_eq!(finish(&run), json!({}));
        let swapped = h
            .call(HostCall::SwapVariable {
                name: "n".into(),
                version: 3,
                value: json!(2),
            })
            .unwrap();
        assert_eq!(swapped, json!(true));
        h.call(HostCall::Output { value: json!(42.0) }).unwrap();
        assert_eq!(
            finish(&run),
            json!({"output": 42, "variables": {"n": {"value": 2, "version": 4}}})
        );
    }

    #[test]
    fn missing_helpers_are_empty_and_bad_ones_are_errors() {
        for empty in ["", "null", "{}"] {
            let run = PageHelpers::parse(empty).unwrap().start();
            assert_eq!(run.helpers.call(HostCall::Input).unwrap(), Value::Null);
            assert_eq!(
                run.helpers.call(HostCall::Event).unwrap()["trigger"],
                "browser"
            );
        }
        let bad = PageHelpers::parse(r#"{"variables":{"n":5}}"#).unwrap_err();
        assert!(bad.contains("malformed helpers"), "{bad}");
        assert!(PageHelpers::parse(r#"{"inputs":1}"#).is_err());
    }
}
