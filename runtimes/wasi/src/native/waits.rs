//! Two WASI preview 1 calls polyrun answers itself instead of wasmtime-wasi:
//!
//! - `poll_oneoff` when every subscription is a relative clock (what `sleep`, `usleep` and
//!   `nanosleep` become): the wait is taken in short slices that check the run's
//!   [`RunControl`], so a deadline or a cancel ends a sleeping guest on time (the epoch
//!   interrupt only fires while the guest executes wasm). Anything else goes to wasmtime-wasi.
//! - `proc_exit` for every status: wasmtime-wasi turns statuses of 126 and more (PHP's 255 after
//!   a fatal error) into an anonymous error; polyrun keeps the number.

use super::HostState;
use polyrun_engine::RunControl;
use std::time::{Duration, Instant};
use wasmtime::{Caller, Extern, Func, Linker, Store};

const WASI: &str = "wasi_snapshot_preview1";
/// A subscription's size and an event's (WASI preview 1 ABI).
const SUBSCRIPTION: usize = 48;
const EVENT: usize = 32;

/// Replaces `poll_oneoff` and `proc_exit` in `linker` (already holding wasmtime-wasi's) for
/// one store: the original `poll_oneoff` is kept for the cases polyrun does not handle.
pub(crate) fn shadow(
    linker: &mut Linker<HostState>,
    store: &mut Store<HostState>,
) -> wasmtime::Result<()> {
    let Ok(Extern::Func(original)) = linker.get(&mut *store, WASI, "poll_oneoff") else {
        return Err(wasmtime::format_err!(
            "wasmtime-wasi defines no poll_oneoff"
        ));
    };
    linker.allow_shadowing(true);
    linker.func_wrap(
        WASI,
        "poll_oneoff",
        move |mut caller: Caller<'_, HostState>,
              subs: i32,
              events: i32,
              n: i32,
              nevents: i32|
              -> wasmtime::Result<i32> {
            match relative_clocks(&mut caller, subs, n)? {
                Some(clocks) => sleep(&mut caller, &clocks, events, nevents),
                None => call_original(&original, &mut caller, (subs, events, n, nevents)),
            }
        },
    )?;
    linker.func_wrap(
        WASI,
        "proc_exit",
        |_: Caller<'_, HostState>, status: i32| -> wasmtime::Result<()> {
            Err(wasmtime_wasi::I32Exit(status).into())
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn call_original(
    original: &Func,
    caller: &mut Caller<'_, HostState>,
    args: (i32, i32, i32, i32),
) -> wasmtime::Result<i32> {
    original
        .typed::<(i32, i32, i32, i32), i32>(&*caller)?
        .call(caller, args)
}

fn memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(wasmtime::format_err!("the guest exports no memory")),
    }
}

/// `(userdata, timeout)` of each subscription when all are relative clocks, else `None`.
fn relative_clocks(
    caller: &mut Caller<'_, HostState>,
    subs: i32,
    n: i32,
) -> wasmtime::Result<Option<Vec<(u64, Duration)>>> {
    let n = n as u32 as usize;
    if n == 0 || n > 64 {
        return Ok(None);
    }
    let mem = memory(caller)?;
    let start = subs as u32 as usize;
    let Some(bytes) = mem
        .data(&*caller)
        .get(start..start.saturating_add(n * SUBSCRIPTION))
    else {
        return Ok(None);
    };
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    let mut clocks = Vec::with_capacity(n);
    for sub in bytes.chunks_exact(SUBSCRIPTION) {
        let tag = sub[8];
        let flags = u16::from_le_bytes([sub[40], sub[41]]);
        if tag != 0 || flags & 1 != 0 {
            return Ok(None);
        }
        clocks.push((u64_at(sub, 0), Duration::from_nanos(u64_at(sub, 24))));
    }
    Ok(Some(clocks))
}

/// Waits for the earliest clock — woken at once when the run's control trips or its deadline
/// passes — and reports the clocks that are due.
fn sleep(
    caller: &mut Caller<'_, HostState>,
    clocks: &[(u64, Duration)],
    events: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let wait = clocks.iter().map(|c| c.1).min().unwrap_or_default();
    let control: Option<RunControl> = caller.data().limiter.control.clone();
    let until = Instant::now() + wait;
    loop {
        if let Some(i) = control.as_ref().and_then(RunControl::check) {
            return Err(wasmtime::Error::msg(format!("polyrun: {i}")));
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Woken by a trip (cancel, a limit) or the run's deadline, whichever comes first.
        match &control {
            Some(c) => {
                c.wait(Some(left));
            }
            None => std::thread::sleep(left),
        }
    }
    let mut out = Vec::new();
    for (userdata, _) in clocks.iter().filter(|c| c.1 <= wait) {
        let mut ev = [0u8; EVENT];
        ev[0..8].copy_from_slice(&userdata.to_le_bytes());
        // error 0 (success), type 0 (clock)
        out.extend_from_slice(&ev);
    }
    let count = (out.len() / EVENT) as u32;
    let mem = memory(caller)?;
    mem.write(&mut *caller, events as u32 as usize, &out)?;
    mem.write(&mut *caller, nevents as u32 as usize, &count.to_le_bytes())?;
    Ok(0)
}
