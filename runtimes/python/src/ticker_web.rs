//! wasm32 (browser) stand-in for the ticker: a Web Worker has a single thread, so nothing can
//! signal a running interpreter from outside; the page's `worker.terminate()` is the stop there.
//! Interruptible waits (`time.sleep`) still poll the run's control.

use polyrun_engine::RunControl;
use std::time::Duration;

/// No-op watch guard.
pub(crate) struct Watch;

pub(crate) fn watch(_control: RunControl, _fire: Box<dyn Fn() + Send>) -> Watch {
    Watch
}

/// Busy-waits for `d`, or until `control` trips (there is no blocking sleep on the browser's
/// main event loop, and no other thread to wake it).
pub(crate) fn pause(control: &polyrun_engine::RunControl, d: Duration) {
    let end = web_time::Instant::now() + d;
    while web_time::Instant::now() < end && control.check().is_none() {
        std::hint::spin_loop();
    }
}
