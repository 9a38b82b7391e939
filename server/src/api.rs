//! The HTTP API: routes, authentication, REST handlers and errors.

use crate::auth::{self, Denied, Principal};
use crate::error::ApiError;
use crate::model::{Cancelled, Health, Languages, RunBody, RunView, ServerInfo};
use crate::runs::{State, StdinRefused};
use crate::stream;
use axum::extract::rejection::JsonRejection;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, MatchedPath, Path, Query, Request, State as Ax,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The run's event stream (WebSocket or Server-Sent Events): the one route that also takes its
/// token as `?access_token=` (browsers cannot set headers there; anywhere else a token in the
/// URL would end up in logs and histories).
const EVENTS_ROUTE: &str = "/v1/runs/{id}/events";

/// The whole application.
pub fn router(state: Arc<State>) -> Router {
    let api = Router::new()
        .route("/v1/languages", get(languages))
        .route("/v1/runs", post(create_run))
        .route("/v1/runs/{id}", get(get_run))
        .route("/v1/runs/{id}/cancel", post(cancel_run))
        .route("/v1/runs/{id}/stdin", post(send_stdin))
        .route(EVENTS_ROUTE, get(stream::events))
        .route("/v1/sessions/{id}", delete(end_session))
        .route("/v1/pipelines", post(crate::pipelines::run_pipeline))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/server.json", get(server_json))
        .route("/v1/openapi.json", get(openapi));
    let app = api
        .merge(open)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.config.body_read_timeout,
        ));
    let app = match &state.config.site {
        Some(dir) => app.fallback_service(tower_http::services::ServeDir::new(dir)),
        None => app.fallback(no_site),
    };
    app.with_state(state)
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

async fn authenticate(
    Ax(state): Ax<Arc<State>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<TokenQuery>,
    mut req: Request,
    next: Next,
) -> Response {
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let stream = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == EVENTS_ROUTE);
    let query_token = q.access_token.as_deref().filter(|_| stream);
    match auth::authenticate(&state.config.tokens, peer, host, bearer, query_token) {
        Ok(who) => {
            req.extensions_mut().insert(who);
            next.run(req).await
        }
        Err(Denied::Unauthorized) => {
            tracing::warn!(%peer, path = %req.uri().path(), "refused: no valid bearer token");
            let message = if q.access_token.is_some() && !stream {
                "a valid bearer token is required (in the Authorization header: `?access_token=` \
                 is only taken by the event stream, /v1/runs/{id}/events)"
            } else {
                "a valid bearer token is required"
            };
            ApiError::new(StatusCode::UNAUTHORIZED, message).into_response()
        }
        Err(Denied::NotLoopback) => ApiError::new(
            StatusCode::FORBIDDEN,
            "no tokens are configured, so only loopback clients are served",
        )
        .into_response(),
        Err(Denied::ForeignHost) => ApiError::new(
            StatusCode::FORBIDDEN,
            "no tokens are configured, so only requests to localhost are served (Host header)",
        )
        .into_response(),
    }
}

async fn healthz(Ax(state): Ax<Arc<State>>) -> Json<Health> {
    let (queued, running) = state.load();
    Json(Health {
        status: "ok",
        server: "polyrun",
        version: env!("CARGO_PKG_VERSION"),
        queued,
        running,
    })
}

/// What the playground page asks to learn that it may run code here (a static host serves the
/// site's own `server.json`, `{"server": null}`).
async fn server_json(Ax(state): Ax<Arc<State>>) -> Json<ServerInfo> {
    Json(ServerInfo {
        server: "polyrun",
        version: env!("CARGO_PKG_VERSION"),
        token_required: !state.config.tokens.is_empty(),
    })
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

async fn metrics(Ax(state): Ax<Arc<State>>) -> Response {
    let (queued, running) = state.load();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(queued, running),
    )
        .into_response()
}

async fn languages(Ax(state): Ax<Arc<State>>) -> Json<Languages> {
    Json(Languages {
        languages: state.manager.languages(),
    })
}

async fn create_run(
    Ax(state): Ax<Arc<State>>,
    Extension(who): Extension<Principal>,
    body: Result<Json<RunBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let (run, new) = state.submit(&who, body)?;
    let mut view = run.view();
    view.replayed = Some(!new);
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut r = (status, Json(view)).into_response();
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/v1/runs/{}", run.id)).expect("uuid"),
    );
    Ok(r)
}

#[derive(Deserialize)]
struct WaitQuery {
    /// Wait up to this long for the run to end before answering.
    wait_ms: Option<u64>,
}

async fn get_run(
    Ax(state): Ax<Arc<State>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<RunView>, ApiError> {
    let run = state.get(&who, &id).ok_or_else(|| ApiError::no_run(&id))?;
    if let Some(ms) = q.wait_ms {
        let mut rx = run.subscribe();
        let wait = async {
            while !run.is_finished() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(ms.min(60_000)), wait).await;
    }
    Ok(Json(run.view()))
}

async fn cancel_run(
    Ax(state): Ax<Arc<State>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let run = state.get(&who, &id).ok_or_else(|| ApiError::no_run(&id))?;
    let cancelled = state.cancel(&run, "cancelled by the client");
    tracing::info!(run = %id, cancelled, "cancel requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(Cancelled {
            id,
            cancel_requested: cancelled,
            status: run.status(),
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StdinBody {
    /// Text: every line in it is one line of input (a missing final newline is added).
    #[serde(default)]
    text: Option<String>,
    /// End of input after `text`.
    #[serde(default)]
    eof: bool,
}

async fn send_stdin(
    Ax(state): Ax<Arc<State>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<StdinBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body?;
    let run = state.get(&who, &id).ok_or_else(|| ApiError::no_run(&id))?;
    match stream::feed_stdin(&run, body.text.as_deref(), body.eof) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e @ StdinRefused::Closed) => Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
        Err(e @ StdinRefused::Full { .. }) => {
            Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()))
        }
    }
}

async fn end_session(
    Ax(state): Ax<Arc<State>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.end_session(&who, &id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no session `{id}`"),
        ))
    }
}

async fn no_site(headers: HeaderMap, req: Request) -> Response {
    let path = req.uri().path();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if path == "/" && wants_html {
        return Html(
            "<!doctype html><meta charset=utf-8><title>polyrun serve</title>\
             <h1>polyrun serve</h1><p>The API is at <code>/v1</code> \
             (<a href=\"/v1/openapi.json\">OpenAPI</a>, <a href=\"/v1/languages\">languages</a>). \
             The playground page is not being served: build it with <code>scripts/web build</code> \
             and start the server with <code>--site DIR</code>.</p>",
        )
        .into_response();
    }
    ApiError::new(StatusCode::NOT_FOUND, format!("no endpoint `{path}`")).into_response()
}
