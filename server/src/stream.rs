//! `GET /v1/runs/{id}/events`: a WebSocket (events out; stdin and cancel in) or Server-Sent
//! Events. A client that reconnects with the last sequence number it saw (`?after=N`, or SSE's
//! `Last-Event-ID`) gets every later event exactly once, then live ones; the stream ends after
//! the run's `outcome` event.

use crate::auth::Principal;
use crate::error::ApiError;
use crate::runs::{Run, State, StdinRefused};
use axum::Extension;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State as Ax};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct EventsQuery {
    /// The last sequence number the client has (0 or missing: from the start).
    after: Option<u64>,
}

/// Sends `text` as lines of input (and then end of input, if `eof`): all of it, or nothing and
/// why.
pub fn feed_stdin(run: &Run, text: Option<&str>, eof: bool) -> Result<(), StdinRefused> {
    let mut lines: Vec<String> =
        text.map_or_else(Vec::new, |t| t.lines().map(str::to_string).collect());
    if text == Some("") {
        lines.push(String::new());
    }
    run.send_stdin(lines, eof)
}

pub async fn events(
    Ax(state): Ax<Arc<State>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let run = state
        .get(&who, &id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no run `{id}`")))?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    let after = q.after.or(last_event_id).unwrap_or(0);
    Ok(match ws {
        Ok(ws) => ws
            .max_message_size(state.config.max_body_bytes)
            .on_upgrade(move |socket| websocket(socket, state, run, after))
            .into_response(),
        Err(_) => Sse::new(sse(run, after))
            .keep_alive(KeepAlive::default())
            .into_response(),
    })
}

fn gap_json(first: u64) -> String {
    serde_json::json!({ "type": "gap", "first_available_seq": first }).to_string()
}

/// The events after `after`, then live ones, ending after the outcome.
fn sse(run: Arc<Run>, after: u64) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    struct S {
        run: Arc<Run>,
        rx: tokio::sync::watch::Receiver<u64>,
        after: u64,
        queue: VecDeque<SseEvent>,
        done: bool,
        first: bool,
    }
    let rx = run.subscribe();
    let s = S {
        run,
        rx,
        after,
        queue: VecDeque::new(),
        done: false,
        first: true,
    };
    stream::unfold(s, |mut s| async move {
        loop {
            if let Some(e) = s.queue.pop_front() {
                return Some((Ok(e), s));
            }
            if s.done {
                return None;
            }
            s.rx.borrow_and_update();
            let b = s.run.backlog(s.after);
            if let Some(first) = b.gap_until.filter(|_| s.first) {
                s.queue
                    .push_back(SseEvent::default().event("gap").data(gap_json(first)));
            }
            s.first = false;
            for (seq, json) in b.records {
                s.after = seq;
                s.queue
                    .push_back(SseEvent::default().id(seq.to_string()).data(&*json));
            }
            if b.finished {
                s.done = true;
                continue;
            }
            if s.queue.is_empty() && s.rx.changed().await.is_err() {
                s.done = true;
            }
        }
    })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    /// One or more lines of input.
    Stdin { text: String },
    /// End of input.
    StdinEof,
    /// Stop the run.
    Cancel,
}

async fn websocket(mut socket: WebSocket, state: Arc<State>, run: Arc<Run>, mut after: u64) {
    let mut rx = run.subscribe();
    let mut first = true;
    loop {
        rx.borrow_and_update();
        let b = run.backlog(after);
        if let Some(f) = b.gap_until.filter(|_| first)
            && socket.send(Message::text(gap_json(f))).await.is_err()
        {
            return;
        }
        first = false;
        for (seq, json) in b.records {
            if socket.send(Message::text(&*json)).await.is_err() {
                return;
            }
            after = seq;
        }
        if b.finished {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(text))) => {
                    let reply = match serde_json::from_str::<ClientMessage>(&text) {
                        Ok(ClientMessage::Stdin { text }) => feed_stdin(&run, Some(&text), false)
                            .err()
                            .map(|e| e.to_string()),
                        Ok(ClientMessage::StdinEof) => feed_stdin(&run, None, true)
                            .err()
                            .map(|e| e.to_string()),
                        Ok(ClientMessage::Cancel) => {
                            state.cancel(&run, "cancelled by the client");
                            None
                        }
                        Err(_) => Some("unknown message: expected {\"type\":\"stdin\",\"text\":…}, {\"type\":\"stdin_eof\"} or {\"type\":\"cancel\"}".to_string()),
                    };
                    if let Some(message) = reply {
                        let e = serde_json::json!({ "type": "error", "message": message });
                        if socket.send(Message::text(e.to_string())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    }
}
