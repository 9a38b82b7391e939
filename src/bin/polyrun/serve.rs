//! `polyrun serve`: the HTTP server (the `server` feature, on by default).

use super::{exit, parse_duration, parse_size};
use polyrun::Isolation;
use polyrun_server::{Config, Token};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `polyrun serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Accepted bearer tokens, one `name:secret` per line. Also POLYRUN_TOKENS (comma-separated).
    /// Without any token, only loopback clients are served.
    #[arg(long)]
    tokens_file: Option<PathBuf>,
    /// Runs executing at once, each in a worker process (default: 2 × cores).
    #[arg(long)]
    max_running: Option<usize>,
    /// Runs waiting for a slot before submissions get 429.
    #[arg(long, default_value_t = 64)]
    max_queued: usize,
    /// Runs one token may have queued or running at once.
    #[arg(long, default_value_t = 8)]
    token_concurrency: usize,
    /// Runs one token may start per minute (0: no rate limit).
    #[arg(long, default_value_t = 120)]
    token_rate: u32,
    /// Sessions one token may keep open (each holds a worker process).
    #[arg(long, default_value_t = 4)]
    token_sessions: usize,
    /// Largest request body or WebSocket message.
    #[arg(long, value_parser = parse_size, default_value = "1MiB")]
    max_body: u64,
    /// The longest time limit a run may ask for (longer ones and "none" are clamped).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    max_timeout: Duration,
    /// The most memory a run may ask for.
    #[arg(long, value_parser = parse_size, default_value = "1GiB")]
    max_memory: u64,
    /// The most output a run may ask for.
    #[arg(long, value_parser = parse_size, default_value = "8MiB")]
    max_output: u64,
    /// Events kept per run for clients that connect late or reconnect.
    #[arg(long, default_value_t = 10_000)]
    event_log: usize,
    /// Ended runs kept for GET /v1/runs/{id}.
    #[arg(long, default_value_t = 1000)]
    retain_runs: usize,
    /// How long a shutdown (Ctrl+C, SIGTERM) waits for running runs before cancelling them.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    shutdown_grace: Duration,
    /// A connection that has not sent all its request headers this long after it started is
    /// closed (slow clients holding connections open).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    header_timeout: Duration,
    /// A request whose body has not all arrived this long after its headers gets 408 and its
    /// connection is closed (default 30s).
    #[arg(long, value_parser = parse_duration)]
    body_timeout: Option<Duration>,
    /// The playground site to serve at / (default: the one `scripts/web build` writes to
    /// ~/.cache/polyrun/site, when it exists).
    #[arg(long, conflicts_with = "no_site")]
    site: Option<PathBuf>,
    /// Serve the API only.
    #[arg(long)]
    no_site: bool,
    /// How long a cancelled or overdue run may take to stop by itself before its worker is
    /// killed and replaced.
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    grace: Duration,
    /// Log lines as JSON objects instead of text (logs go to stderr; RUST_LOG filters them).
    #[arg(long)]
    log_json: bool,
}

fn tokens(args: &ServeArgs) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    if let Some(file) = &args.tokens_file {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        tokens.extend(Token::parse_list(&text).map_err(|e| format!("{}: {e}", file.display()))?);
    }
    if let Ok(env) = std::env::var("POLYRUN_TOKENS") {
        tokens.extend(Token::parse_list(&env).map_err(|e| format!("POLYRUN_TOKENS: {e}"))?);
    }
    Ok(tokens)
}

fn default_site() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let site = cache.join("polyrun/site");
    site.join("index.html").is_file().then_some(site)
}

/// Runs the server until Ctrl+C or SIGTERM.
pub fn serve(args: ServeArgs) -> u8 {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let tokens = match tokens(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("polyrun serve: {e}");
            return exit::USAGE;
        }
    };
    let defaults = Config::default();
    let config = Config {
        max_running: args.max_running.unwrap_or(defaults.max_running),
        max_queued: args.max_queued,
        token_concurrency: args.token_concurrency,
        token_runs_per_minute: args.token_rate,
        token_sessions: args.token_sessions,
        max_body_bytes: args.max_body as usize,
        max_limits: polyrun::Limits {
            wall_time: Some(args.max_timeout),
            memory_bytes: Some(args.max_memory),
            output_bytes: Some(args.max_output),
            recursion_depth: defaults.max_limits.recursion_depth,
        },
        event_log: args.event_log,
        retain_runs: args.retain_runs,
        shutdown_grace: args.shutdown_grace,
        header_read_timeout: args.header_timeout,
        body_read_timeout: args.body_timeout.unwrap_or(defaults.body_read_timeout),
        site: if args.no_site {
            None
        } else {
            args.site.clone().or_else(default_site)
        },
        tokens,
        ..defaults
    };
    let manager = match polyrun::manager_builder() {
        Ok(b) => b
            .isolation(Isolation::Worker)
            .idle_workers(config.max_running)
            .grace(args.grace)
            .build(),
        Err(e) => {
            eprintln!("polyrun serve: {e}");
            return exit::INTERNAL;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("polyrun serve: {e}");
            return exit::INTERNAL;
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        tracing::info!(
            %addr,
            auth = if config.tokens.is_empty() { "none (loopback only)" } else { "bearer tokens" },
            tokens = config.tokens.len(),
            max_running = config.max_running,
            max_queued = config.max_queued,
            site = %config.site.as_ref().map_or("none".into(), |s| s.display().to_string()),
            "polyrun serve started"
        );
        println!("polyrun serve: listening on http://{addr}");
        let _ = std::io::stdout().flush();
        polyrun_server::serve(listener, manager, config, polyrun_server::shutdown_signal()).await
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("polyrun serve: {e}");
            exit::INTERNAL
        }
    }
}
