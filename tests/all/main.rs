//! polyrun's end-to-end tests of the facade crate, in one test binary (one link, one process
//! start-up), a module per topic: the CLI, the manager, the worker protocol, the helpers,
//! pipelines, Python/Ruby/PHP through the CLI and `polyrun serve`. The conformance cases are
//! their own binary (`tests/conformance.rs`), one test per case and host.

mod cli;
mod common;
#[cfg(target_os = "linux")]
mod confine;
mod fuzz;
mod helpers;
mod hostile;
mod manager;
mod php_cli;
mod pipeline;
mod python_cli;
mod ruby_cli;
#[cfg(feature = "server")]
mod server;
mod worker_protocol;
