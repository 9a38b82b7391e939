//! The server fed raw bytes without a socket, for the `server_request` fuzz target (fuzz/):
//! each request is one connection over an in-memory pipe, served by the same connection code,
//! router, authentication and handlers as [`crate::serve`].

use crate::{Config, api, runs::State};
use polyrun_manager::RuntimeManager;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one exchange may take before its answer is cut (a stream that stays open).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// A server without a listener: [`Exchange::send`] writes bytes as one client connection from
/// the loopback address and returns what the server answered.
pub struct Exchange {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange").finish_non_exhaustive()
    }
}

impl Exchange {
    /// A server over `manager` with `config` (its `site` and timeouts as given).
    pub fn new(manager: RuntimeManager, config: Config) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let app = runtime.block_on(async { api::router(Arc::new(State::new(manager, config))) });
        Ok(Exchange { runtime, app })
    }

    /// Writes `request` on a fresh connection, closes its writing side, and returns every byte
    /// the server wrote until it closed the connection (or [`EXCHANGE_TIMEOUT`] passed).
    pub fn send(&self, request: &[u8]) -> Vec<u8> {
        self.runtime.block_on(async {
            let (client, server) = tokio::io::duplex(1 << 16);
            let (_close_tx, close_rx) = tokio::sync::watch::channel(());
            let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000));
            tokio::spawn(crate::connection(
                server,
                peer,
                self.app.clone(),
                Duration::from_secs(1),
                std::future::pending(),
                close_rx,
            ));
            let (mut read, mut write) = tokio::io::split(client);
            let request = request.to_vec();
            let writer = tokio::spawn(async move {
                // The server may close before reading everything (a body too large): not an error.
                let _ = write.write_all(&request).await;
                let _ = write.shutdown().await;
            });
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(EXCHANGE_TIMEOUT, read.read_to_end(&mut answer)).await;
            writer.abort();
            answer
        })
    }
}
