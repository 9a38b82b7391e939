//! `POST /v1/pipelines`: runs a pipeline (the JSON form of a pipeline file) and answers with its
//! result, or — with `?stream=true` — streams its events as JSON lines while it runs.
//!
//! A pipeline counts as one of its token's concurrent runs (and against its rate) for as long as
//! it runs; each step runs in a worker process with limits clamped to the server's maxima; the
//! steps' variables live in the token's own namespace. Steps must carry `code`: the server reads
//! no files. A client that goes away cancels the pipeline.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::model::token_namespace;
use crate::runs::State;
use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State as Ax};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use polyrun_engine::{Limits, RunControl};
use polyrun_manager::pipeline::Pipeline;
use serde::Deserialize;
use std::sync::Arc;

/// `?stream=true`.
#[derive(Deserialize)]
pub struct PipelineQuery {
    #[serde(default)]
    stream: bool,
}

/// Cancels the pipeline when dropped before it finished (the client went away).
struct CancelOnDrop(Option<RunControl>);

impl CancelOnDrop {
    /// The pipeline finished: nothing to cancel.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.cancel();
        }
    }
}

fn clamp(asked: Option<&Limits>, state: &State) -> Limits {
    asked
        .cloned()
        .unwrap_or_default()
        .clamped(&state.config.max_limits)
}

/// The handler.
pub async fn run_pipeline(
    Ax(state): Ax<Arc<State>>,
    Extension(who): Extension<Principal>,
    Query(q): Query<PipelineQuery>,
    body: Result<Json<Pipeline>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(mut pipeline) = body?;
    for (i, step) in pipeline.steps.iter_mut().enumerate() {
        if step.file.is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "step {}: the server reads no files; send the step's `code`",
                    i + 1
                ),
            ));
        }
        step.limits = Some(clamp(
            step.limits.as_ref().or(pipeline.limits.as_ref()),
            &state,
        ));
    }
    pipeline.limits = None;
    let asked = pipeline.namespace.clone().or_else(|| pipeline.name.clone());
    pipeline.namespace = Some(token_namespace(&who, asked.as_deref()));
    pipeline
        .validate(&state.manager)
        .map_err(|e| ApiError::engine(&e))?;
    let slot = state.admit_pipeline(&who)?;
    let control = RunControl::new();
    let guard = CancelOnDrop(Some(control.clone()));
    let manager = state.manager.clone();
    tracing::info!(token = %who.0, steps = pipeline.steps.len(), "pipeline started");

    if q.stream {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let events = tx.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let result = manager.run_pipeline(
                &pipeline,
                move |e| {
                    let _ = events.send(serde_json::to_string(&e).unwrap_or_default() + "\n");
                },
                Some(control),
            );
            if let Err(e) = result {
                let line = serde_json::json!({ "type": "error", "message": e.to_string() });
                let _ = tx.send(line.to_string() + "\n");
            }
        });
        let stream = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            rx.recv()
                .await
                .map(|line| (Ok::<_, std::convert::Infallible>(line), (rx, guard)))
        });
        return Ok((
            [(header::CONTENT_TYPE, "application/x-ndjson")],
            Body::from_stream(stream),
        )
            .into_response());
    }
    let result = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        manager.run_pipeline(&pipeline, |_| {}, Some(control))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError::engine(&e))?;
    guard.disarm();
    Ok(Json(result).into_response())
}
