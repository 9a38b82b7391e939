//! # polyrun-server
//!
//! `polyrun serve`: a [`RuntimeManager`] over HTTP. Runs are submitted with REST
//! (`POST /v1/runs`), watched as they happen over a WebSocket or Server-Sent Events
//! (`GET /v1/runs/{id}/events`), given stdin and cancelled over either; every run executes in a
//! worker process from the manager's pool, so a crashing or runaway guest never hurts the
//! server. Bearer tokens (none configured: loopback clients only), per-token concurrency and
//! rate limits, a bounded queue (a full queue is a 429), request size limits, limits clamped to
//! the server's maxima, graceful shutdown, `tracing` logs and a Prometheus `/metrics` endpoint.
//! The API is described by `GET /v1/openapi.json` (`server/openapi.json`).
//!
//! ```no_run
//! # async fn demo(manager: polyrun_manager::RuntimeManager) -> Result<(), polyrun_server::ServeError> {
//! let config = polyrun_server::Config::default();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! polyrun_server::serve(listener, manager, config, polyrun_server::shutdown_signal()).await
//! # }
//! ```

mod admission;
mod api;
mod auth;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod metrics;
mod model;
mod pipelines;
mod runs;
mod sessions;
mod stream;

/// A mutex's guard, also after a panic elsewhere poisoned it (the data stays consistent: every
/// critical section here is a few plain updates).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub use auth::Token;
pub use model::Status;

use polyrun_engine::Limits;
use polyrun_manager::RuntimeManager;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The OpenAPI 3.1 document of the HTTP API (served at `/v1/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// How the server behaves. [`Config::default`] suits a server on a developer machine.
#[derive(Clone, Debug)]
pub struct Config {
    /// Accepted bearer tokens. Empty: no authentication, and only loopback clients are served.
    pub tokens: Vec<Token>,
    /// Runs executing at once (each in a worker process). Default: 2 × cores, at least 2.
    pub max_running: usize,
    /// Runs waiting for a slot; one more is refused with 429. Default 64.
    pub max_queued: usize,
    /// Runs one token may have queued or running at once (default 8).
    pub token_concurrency: usize,
    /// Runs one token may start per minute; 0 = no rate limit (default 120).
    pub token_runs_per_minute: u32,
    /// Sessions one token may keep open (each holds a worker process; default 4).
    pub token_sessions: usize,
    /// Largest request body (and WebSocket message), bytes. Default 1 MiB.
    pub max_body_bytes: usize,
    /// The most a run may ask for; larger requests (and "no limit") are clamped to these.
    pub max_limits: Limits,
    /// Events kept per run for late or reconnecting clients. Default 10 000.
    pub event_log: usize,
    /// Finished runs kept for `GET /v1/runs/{id}` (oldest dropped first). Default 1000.
    pub retain_runs: usize,
    /// A session unused this long is ended. Default 10 minutes.
    pub session_idle: Duration,
    /// How long a shutdown waits for running runs before cancelling them. Default 10 s.
    pub shutdown_grace: Duration,
    /// A connection whose request headers have not all arrived this long after it started
    /// sending them is closed (slow clients holding connections open). Default 10 s.
    pub header_read_timeout: Duration,
    /// A request whose body has not all arrived this long after its headers gets `408` and
    /// its connection is closed (slow bodies holding connections and handlers). Default 30 s.
    pub body_read_timeout: Duration,
    /// Static files served at `/` (the playground site), if any.
    pub site: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Config {
            tokens: Vec::new(),
            max_running: (2 * cores).max(2),
            max_queued: 64,
            token_concurrency: 8,
            token_runs_per_minute: 120,
            token_sessions: 4,
            max_body_bytes: 1 << 20,
            max_limits: Limits {
                wall_time: Some(Duration::from_secs(60)),
                memory_bytes: Some(1 << 30),
                output_bytes: Some(8 << 20),
                recursion_depth: Some(10_000),
            },
            event_log: 10_000,
            retain_runs: 1000,
            session_idle: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            site: None,
        }
    }
}

/// A server that could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding or serving the socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Resolves on Ctrl+C or SIGTERM: the usual shutdown trigger for [`serve`].
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

/// Serves the API on `listener` until `shutdown` resolves; then stops accepting runs, cancels
/// queued ones, gives running ones [`Config::shutdown_grace`] to finish, cancels the rest
/// (status `cancelled`, reason "server shutting down") and returns once every run has ended.
pub async fn serve(
    listener: tokio::net::TcpListener,
    manager: RuntimeManager,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if config.max_running == 0 {
        return Err(ServeError::Config("max_running must be at least 1".into()));
    }
    let header_read_timeout = config.header_read_timeout;
    let state = Arc::new(runs::State::new(manager, config));
    let app = api::router(state.clone());
    let janitor = tokio::spawn(runs::janitor(state.clone()));
    let stopping = state.clone();
    connections(listener, app, header_read_timeout, async move {
        shutdown.await;
        stopping.shut_down().await;
    })
    .await;
    janitor.abort();
    tracing::info!("server stopped");
    Ok(())
}

/// Accepts connections until `shutdown` resolves, then lets the open ones finish (each is told
/// to shut down gracefully) and returns once they have: `axum::serve`'s loop, with hyper's
/// header read timeout set (axum sets no timer, which leaves that timeout off).
async fn connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            conn = listener.accept() => match conn {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on accepting.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = signal_tx.closed() => break,
        };
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(connection(
            stream,
            peer,
            app.clone(),
            header_read_timeout,
            async move { signal_tx.closed().await },
            close_rx,
        ));
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

/// Serves one connection (HTTP/1.1 with upgrades, hyper's header read timeout set) from `peer`
/// until it closes; once `shutdown` resolves the connection is told to shut down gracefully.
/// `closing` is dropped when the connection has ended (the caller waits for every one).
async fn connection<S>(
    stream: S,
    peer: std::net::SocketAddr,
    app: axum::Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
    closing: tokio::sync::watch::Receiver<()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let service = app.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        req.map(axum::body::Body::new)
    });
    let service = hyper_util::service::TowerToHyperService::new(service);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // A client that shuts down its writing side after its request still gets the answer.
        .half_close(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut signalled = std::pin::pin!(shutdown);
    let mut told = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection: {e}");
                }
                break;
            }
            _ = &mut signalled, if !told => {
                told = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    drop(closing);
}
