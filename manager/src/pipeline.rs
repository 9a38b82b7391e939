//! Pipelines: steps in any languages run one after another, each step's output (what it
//! published with `polyrun.output`) becoming the next step's input (`polyrun.input()`), or an
//! explicit mapping of earlier outputs. A step that does not complete stops the pipeline with its
//! diagnostic. See docs/pipelines.md.
//!
//! The definition is plain data (serde): the CLI reads it from YAML, the server from JSON.
//!
//! ```no_run
//! # use polyrun_manager::{RuntimeManager, pipeline::{Pipeline, Step}};
//! # let manager: RuntimeManager = unimplemented!();
//! let pipeline = Pipeline::new(vec![
//!     Step::code("python", "polyrun.output(sum(polyrun.input()))"),
//!     Step::code("lua", "polyrun.output(polyrun.input() * 2)"),
//! ])
//! .with_input(serde_json::json!([1, 2, 3]));
//! let result = manager.run_pipeline(&pipeline, |_event| {}, None).unwrap();
//! assert_eq!(result.output, Some(serde_json::json!(12)));
//! ```

use crate::{RunSpec, RuntimeManager};
use polyrun_engine::{Diagnostic, Error, Event, Limits, Outcome, RunContext, RunControl};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// A pipeline definition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Its name (in `event().pipeline` and in events).
    #[serde(default)]
    pub name: Option<String>,
    /// The namespace of the steps' variables (default: the pipeline's name, else `default`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The first step's input (default `null`); the caller's input replaces it.
    #[serde(default)]
    pub input: Value,
    /// Limits for every step that sets none of its own (default: the playground defaults).
    #[serde(default)]
    pub limits: Option<Limits>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Its name (default `step-N`, from 1); unique in the pipeline.
    #[serde(default)]
    pub name: Option<String>,
    /// The language (an id, alias or extension); default: from `file`'s extension.
    #[serde(default)]
    pub language: Option<String>,
    /// The backend (`polyrun langs`); default: the language's default.
    #[serde(default)]
    pub backend: Option<String>,
    /// The code (exactly one of `code` and `file`).
    #[serde(default)]
    pub code: Option<String>,
    /// A file holding the code, relative to the pipeline file; read by
    /// [`Pipeline::resolve_files`].
    #[serde(default)]
    pub file: Option<String>,
    /// Limits for this step (fields left out take the playground defaults).
    #[serde(default)]
    pub limits: Option<Limits>,
    /// The step's input: default the previous step's output (the pipeline's input for the first
    /// step). Any string in it that is a reference — `${input}`, `${previous}`,
    /// `${steps.NAME.output}`, followed by `.key` or `.0` path parts — is replaced by that
    /// value; a reference inside a longer string is replaced by its text.
    #[serde(default)]
    pub input: Option<Value>,
}

impl Step {
    /// The backend that runs this step.
    fn backend_in<'r>(
        &self,
        registry: &'r polyrun_engine::Registry,
    ) -> Result<&'r polyrun_engine::RuntimeDescriptor, Error> {
        registry.find(
            self.language.as_deref(),
            self.file.as_deref(),
            self.backend.as_deref(),
        )
    }

    /// A step running `code` in `language`.
    pub fn code(language: impl Into<String>, code: impl Into<String>) -> Self {
        Step {
            language: Some(language.into()),
            code: Some(code.into()),
            ..Step::default()
        }
    }

    /// The same step with a name.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl Pipeline {
    /// A pipeline of `steps`.
    pub fn new(steps: Vec<Step>) -> Self {
        Pipeline {
            steps,
            ..Pipeline::default()
        }
    }

    /// The same pipeline with another first input.
    pub fn with_input(mut self, input: Value) -> Self {
        self.input = input;
        self
    }

    /// Reads every step's `file` (relative to `base`) into its `code`, keeping the file name
    /// for diagnostics.
    pub fn resolve_files(&mut self, base: &Path) -> Result<(), Error> {
        for (i, step) in self.steps.iter_mut().enumerate() {
            if let Some(file) = &step.file {
                if step.code.is_some() {
                    return Err(Error::InvalidRequest(format!(
                        "step {} has both `code` and `file`",
                        i + 1
                    )));
                }
                let path = base.join(file);
                step.code = Some(std::fs::read_to_string(&path).map_err(|e| {
                    Error::InvalidRequest(format!(
                        "step {}: cannot read {}: {e}",
                        i + 1,
                        path.display()
                    ))
                })?);
            }
        }
        Ok(())
    }

    fn step_name(i: usize, step: &Step) -> String {
        step.name
            .clone()
            .unwrap_or_else(|| format!("step-{}", i + 1))
    }

    /// Checks the definition before anything runs: steps exist, names are unique, each step has
    /// code (files resolved) and a language this manager has.
    pub fn validate(&self, manager: &RuntimeManager) -> Result<(), Error> {
        if self.steps.is_empty() {
            return Err(Error::InvalidRequest(
                "a pipeline needs at least one step".into(),
            ));
        }
        let mut names = HashSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let name = Self::step_name(i, step);
            if !names.insert(name.clone()) {
                return Err(Error::InvalidRequest(format!(
                    "two steps are named `{name}`"
                )));
            }
            if step.code.is_none() {
                return Err(Error::InvalidRequest(match &step.file {
                    Some(f) => format!("step `{name}`: its file {f} was not read"),
                    None => format!("step `{name}` has no `code` (or `file`)"),
                }));
            }
            if step.language.is_none() && step.file.is_none() {
                return Err(Error::InvalidRequest(format!(
                    "step `{name}` has no `language` (and no file to infer it from)"
                )));
            }
            step.backend_in(manager.registry())?;
        }
        Ok(())
    }
}

/// What a pipeline reports while it runs (`polyrun pipeline run --json` prints one per line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PipelineEvent {
    /// A step starts.
    StepStarted {
        /// Its name.
        step: String,
        /// Its position, from 0.
        index: usize,
        /// Its language id.
        language: String,
        /// Its input.
        input: Value,
    },
    /// Something a step emitted (output, display, progress, log).
    StepEvent {
        /// The step's name.
        step: String,
        /// The event.
        event: Event,
    },
    /// A step ended.
    StepFinished {
        /// Its name.
        step: String,
        /// How it ended.
        outcome: Outcome,
        /// What it published.
        output: Option<Value>,
        /// Its wall time.
        duration_ms: u64,
    },
    /// The pipeline ended.
    Finished {
        /// `succeeded` or `failed`.
        status: PipelineStatus,
        /// The last step's output, when every step completed.
        output: Option<Value>,
        /// The step that stopped it, if one did.
        failed_step: Option<String>,
    },
}

/// How a pipeline ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineStatus {
    /// Every step completed.
    Succeeded,
    /// A step did not complete (error, limit, cancel, crash); later steps did not run.
    Failed,
}

/// One step's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// Its name.
    pub name: String,
    /// Its language id.
    pub language: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What it published.
    pub output: Option<Value>,
    /// Its wall time in milliseconds.
    pub duration_ms: u64,
}

/// How a pipeline ended, and each step that ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineResult {
    /// `succeeded` or `failed`.
    pub status: PipelineStatus,
    /// The last step's output, when every step completed.
    pub output: Option<Value>,
    /// The step that stopped the pipeline.
    pub failed_step: Option<String>,
    /// The steps that ran, in order.
    pub steps: Vec<StepResult>,
}

/// Resolves the references in a step's `input` mapping.
fn resolve(template: &Value, scope: &Value) -> Result<Value, String> {
    Ok(match template {
        Value::String(s) => {
            let t = s.trim();
            if let Some(r) = t.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && !r.contains("${")
            {
                lookup(r.trim(), scope)?
            } else if s.contains("${") {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(at) = rest.find("${") {
                    out.push_str(&rest[..at]);
                    let after = &rest[at + 2..];
                    let end = after
                        .find('}')
                        .ok_or_else(|| format!("unclosed reference in {s:?}"))?;
                    match lookup(after[..end].trim(), scope)? {
                        Value::String(v) => out.push_str(&v),
                        v => out.push_str(&v.to_string()),
                    }
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Value::String(out)
            } else {
                template.clone()
            }
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| resolve(v, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, scope)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn lookup(path: &str, scope: &Value) -> Result<Value, String> {
    let mut v = scope;
    for (i, part) in path.split('.').enumerate() {
        let next = match v {
            Value::Object(o) => o.get(part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|n| a.get(n)),
            _ => None,
        };
        v = next.ok_or_else(|| {
            let head: Vec<&str> = path.split('.').take(i + 1).collect();
            if i == 1 && path.starts_with("steps.") {
                format!("${{{path}}}: no step `{part}` has run before this one")
            } else {
                format!("${{{path}}}: `{}` does not exist", head.join("."))
            }
        })?;
    }
    Ok(v.clone())
}

impl RuntimeManager {
    /// Runs `pipeline` to its end: steps one after another, each in its own run (fresh guest
    /// state, the manager's isolation for its language), all sharing the pipeline's variable
    /// namespace. Events stream to `on_event`; `cancel`, when given, stops the pipeline (the
    /// running step ends `cancelled`). `Err` only for a definition that cannot run (see
    /// [`Pipeline::validate`]) or a host failure; a failing step is a `failed` result.
    pub fn run_pipeline(
        &self,
        pipeline: &Pipeline,
        on_event: impl Fn(PipelineEvent) + Send + Sync + 'static,
        cancel: Option<RunControl>,
    ) -> Result<PipelineResult, Error> {
        pipeline.validate(self)?;
        let on_event = Arc::new(on_event);
        let namespace = pipeline
            .namespace
            .clone()
            .or_else(|| pipeline.name.clone())
            .unwrap_or_else(|| polyrun_engine::helpers::DEFAULT_NAMESPACE.to_string());
        let pipeline_run = RunContext::now("pipeline").run_id;
        let mut outputs = BTreeMap::new();
        let mut previous = pipeline.input.clone();
        let mut steps = Vec::new();
        for (index, step) in pipeline.steps.iter().enumerate() {
            let name = Pipeline::step_name(index, step);
            let started = Instant::now();
            let scope = serde_json::json!({
                "input": pipeline.input,
                "previous": previous,
                "steps": outputs,
            });
            let input = match &step.input {
                None => Ok(previous.clone()),
                Some(template) => resolve(template, &scope),
            };
            let (language, outcome, output) = match input {
                Err(message) => (
                    step.language.clone().unwrap_or_default(),
                    Outcome::Error {
                        diagnostic: Diagnostic::new(
                            "PipelineError",
                            format!("step `{name}`: {message}"),
                        ),
                    },
                    None,
                ),
                Ok(input) => {
                    let desc = *step.backend_in(self.registry())?;
                    let language = desc.id;
                    on_event(PipelineEvent::StepStarted {
                        step: name.clone(),
                        index,
                        language: language.to_string(),
                        input: input.clone(),
                    });
                    let context = RunContext {
                        pipeline: pipeline.name.clone(),
                        step: Some(name.clone()),
                        metadata: serde_json::json!({
                            "pipeline_run_id": pipeline_run,
                            "index": index,
                        }),
                        ..RunContext::now("pipeline")
                    };
                    let sink = on_event.clone();
                    let step_name = name.clone();
                    let mut spec = RunSpec::new(language, step.code.clone().unwrap_or_default())
                        .backend(desc.backend)
                        .limits(
                            step.limits
                                .clone()
                                .or_else(|| pipeline.limits.clone())
                                .unwrap_or_default(),
                        )
                        .input(input)
                        .namespace(namespace.clone())
                        .context(context)
                        .on_event(move |event| {
                            sink(PipelineEvent::StepEvent {
                                step: step_name.clone(),
                                event,
                            })
                        });
                    if let Some(f) = &step.file {
                        spec = spec.filename(f.clone());
                    }
                    let result = run_cancellable(self, spec, cancel.as_ref())?;
                    (language.to_string(), result.outcome, result.output)
                }
            };
            let duration_ms = started.elapsed().as_millis() as u64;
            on_event(PipelineEvent::StepFinished {
                step: name.clone(),
                outcome: outcome.clone(),
                output: output.clone(),
                duration_ms,
            });
            let completed = outcome.is_completed();
            steps.push(StepResult {
                name: name.clone(),
                language,
                outcome,
                output: output.clone(),
                duration_ms,
            });
            if !completed {
                on_event(PipelineEvent::Finished {
                    status: PipelineStatus::Failed,
                    output: None,
                    failed_step: Some(name.clone()),
                });
                return Ok(PipelineResult {
                    status: PipelineStatus::Failed,
                    output: None,
                    failed_step: Some(name),
                    steps,
                });
            }
            previous = output.clone().unwrap_or(Value::Null);
            outputs.insert(name, serde_json::json!({ "output": previous }));
        }
        let output = Some(previous);
        on_event(PipelineEvent::Finished {
            status: PipelineStatus::Succeeded,
            output: output.clone(),
            failed_step: None,
        });
        Ok(PipelineResult {
            status: PipelineStatus::Succeeded,
            output,
            failed_step: None,
            steps,
        })
    }
}

/// Runs `spec`, stopped when `cancel` is (its control is a child of `cancel`).
fn run_cancellable(
    manager: &RuntimeManager,
    spec: RunSpec,
    cancel: Option<&RunControl>,
) -> Result<crate::RunResult, Error> {
    match cancel {
        Some(cancel) => manager.run(spec.with_control(cancel.child())),
        None => manager.run(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_resolve_whole_and_inside_text() {
        let scope = json!({
            "input": {"name": "Ada"},
            "previous": [1, 2],
            "steps": {"sum": {"output": {"total": 6}}},
        });
        let t = json!({
            "who": "${input.name}",
            "all": "${ steps.sum.output }",
            "second": "${previous.1}",
            "text": "total=${steps.sum.output.total}, ${input.name}!",
            "plain": ["x", 1],
        });
        assert_eq!(
            resolve(&t, &scope).unwrap(),
            json!({
                "who": "Ada",
                "all": {"total": 6},
                "second": 2,
                "text": "total=6, Ada!",
                "plain": ["x", 1],
            })
        );
        assert_eq!(
            resolve(&json!("${steps.nope.output}"), &scope).unwrap_err(),
            "${steps.nope.output}: no step `nope` has run before this one"
        );
        assert_eq!(
            resolve(&json!("${input.age}"), &scope).unwrap_err(),
            "${input.age}: `input.age` does not exist"
        );
        assert!(resolve(&json!("a ${input"), &scope).is_err());
    }

    #[test]
    fn definitions_parse_strictly() {
        let p: Pipeline = serde_json::from_value(json!({
            "name": "p",
            "steps": [{"language": "lua", "code": "x", "limits": {"wall_time_ms": 500}}],
        }))
        .unwrap();
        assert_eq!(
            p.steps[0].limits.as_ref().unwrap().wall_time,
            Some(std::time::Duration::from_millis(500))
        );
        let e = serde_json::from_value::<Pipeline>(json!({"steps": [{"lang": "lua"}]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `lang`"), "{e}");
    }
}
