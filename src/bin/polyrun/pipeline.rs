//! `polyrun pipeline run FLOW.yaml`: runs a pipeline (docs/pipelines.md).

use super::{emit, exit, exit_code, host_error, print_diagnostic, progress_view};
use polyrun::{Outcome, PipelineEvent, PipelineStatus};
use std::io::Write;
use std::path::PathBuf;

/// `polyrun pipeline …`.
#[derive(clap::Subcommand, Debug)]
pub enum PipelineCmd {
    /// Run a pipeline: its steps one after another, each step's output the next one's input.
    Run(RunArgs),
}

/// `polyrun pipeline run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The pipeline file (YAML or JSON).
    file: PathBuf,
    /// The first step's input (replaces the file's `input`).
    #[command(flatten)]
    input: InputArgs,
    /// The namespace of the steps' variables (replaces the file's `namespace`).
    #[arg(long)]
    namespace: Option<String>,
    /// Print one JSON event per line (step_started, step_event, step_finished, finished).
    #[arg(long)]
    json: bool,
}

/// `--input JSON` / `--input-file FILE`: what `polyrun.input()` returns.
#[derive(clap::Args, Debug)]
pub struct InputArgs {
    /// What `polyrun.input()` returns, as JSON.
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    input: Option<String>,
    /// What `polyrun.input()` returns, from a JSON file.
    #[arg(long, value_name = "FILE")]
    input_file: Option<PathBuf>,
}

impl InputArgs {
    /// The input, if one was given.
    pub fn read(&self) -> Result<Option<serde_json::Value>, polyrun::Error> {
        read_input(self.input.as_deref(), self.input_file.as_ref())
    }
}

/// Reads `--input` / `--input-file` as JSON.
fn read_input(
    inline: Option<&str>,
    file: Option<&PathBuf>,
) -> Result<Option<serde_json::Value>, polyrun::Error> {
    let bad = |what: String, e: serde_json::Error| {
        polyrun::Error::InvalidRequest(format!("{what} is not JSON: {e}"))
    };
    match (inline, file) {
        (Some(text), _) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| bad("--input".into(), e)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                polyrun::Error::InvalidRequest(format!("cannot read {}: {e}", path.display()))
            })?;
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| bad(path.display().to_string(), e))
        }
        (None, None) => Ok(None),
    }
}

/// Runs the command; returns the exit status.
pub fn pipeline(cmd: PipelineCmd) -> u8 {
    let PipelineCmd::Run(args) = cmd;
    let json = args.json;
    let mut pipeline = match polyrun::load_pipeline(&args.file) {
        Ok(p) => p,
        Err(e) => return host_error(&e, json),
    };
    match args.input.read() {
        Ok(Some(v)) => pipeline.input = v,
        Ok(None) => {}
        Err(e) => return host_error(&e, json),
    }
    if let Some(ns) = args.namespace {
        pipeline.namespace = Some(ns);
    }
    let manager = match polyrun::manager() {
        Ok(m) => m,
        Err(e) => return host_error(&e, json),
    };
    let total = pipeline.steps.len();
    let control = polyrun::RunControl::new();
    super::cancel_on_sigint(control.clone());
    let result = manager.run_pipeline(
        &pipeline,
        move |event| {
            if json {
                if let Ok(line) = serde_json::to_string(&event) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
                return;
            }
            match event {
                PipelineEvent::StepStarted {
                    step,
                    index,
                    language,
                    ..
                } => eprintln!("polyrun: step {}/{total} `{step}` ({language})", index + 1),
                PipelineEvent::StepEvent { event, .. } => emit(&event, false),
                _ => {}
            }
        },
        Some(control),
    );
    progress_view().finish();
    let result = match result {
        Ok(r) => r,
        Err(e) => return host_error(&e, json),
    };
    let failed = result
        .steps
        .last()
        .filter(|_| result.status == PipelineStatus::Failed);
    let code = failed.map_or(exit::OK, |s| exit_code(&s.outcome));
    if json {
        return code;
    }
    let _ = std::io::stdout().flush();
    match failed {
        None => {
            let output = result.output.unwrap_or_default();
            println!(
                "{}",
                serde_json::to_string_pretty(&output).unwrap_or_default()
            );
        }
        Some(step) => {
            eprintln!("polyrun: the pipeline stopped at step `{}`", step.name);
            let file = pipeline
                .steps
                .iter()
                .zip(result.steps.iter())
                .find(|(_, r)| r.name == step.name)
                .and_then(|(s, _)| s.file.clone())
                .unwrap_or_else(|| step.name.clone());
            match &step.outcome {
                Outcome::Error { diagnostic } => print_diagnostic(diagnostic, &file),
                Outcome::LimitExceeded { limit } => {
                    eprintln!("polyrun: {limit} limit exceeded")
                }
                Outcome::Cancelled => eprintln!("polyrun: cancelled"),
                Outcome::Crashed { reason } => eprintln!("polyrun: {reason}"),
                Outcome::Completed { .. } => {}
            }
        }
    }
    code
}
