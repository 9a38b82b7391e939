//! # polyrun-engine
//!
//! The contracts every polyrun backend and front end agrees on, and nothing else: the
//! [`Runtime`] trait a language backend implements, the [`RuntimeDescriptor`] it registers in a
//! [`Registry`], the [`Event`]s a run streams, the [`Limits`] it runs under, the [`Outcome`] it
//! ends with, and the host [`Error`] type.
//!
//! This crate has no backend dependency and builds for `wasm32-unknown-unknown`, so the browser
//! bundle and the native manager share it unchanged.
//!
//! A guest's failure (syntax error, exception, limit hit, cancel) is an [`Outcome`]; [`Error`] is
//! only for failures of the host (a backend that cannot load, an unknown language, a dead worker
//! pipe).

pub mod capture;
mod control;
mod drive;
mod error;
mod event;
pub mod helpers;
mod io;
mod limits;
mod outcome;
pub mod pool;
mod registry;
pub mod report;
mod runtime;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod wire;

pub use control::{Interrupt, RunControl};
pub use drive::{Driven, drive, panic_message};
pub use error::{Error, ErrorKind, WireError};
pub use event::{Event, LogLevel, MimeBundle, Stream};
pub use helpers::{
    Helpers, Host, HostCall, MemoryStore, RunContext, StoreError, VariableStore, Versioned,
};
pub use io::{MAX_LINE_BYTES, NoStdin, RunIo, Stdin, VecStdin, read_guest_line};
pub use limits::{LimitKind, Limits, bytes as format_bytes};
pub use outcome::{Diagnostic, Frame, Outcome};
pub use pool::Pool;
pub use registry::Registry;
pub use runtime::{
    Capabilities, JAVASCRIPT, LanguageNames, LoadContext, PYTHON, Prepare, PrepareFn,
    PrepareReport, RunRequest, Runtime, RuntimeDescriptor, RuntimeInfo,
};

/// The crate's version, reported by workers in their ready message.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
