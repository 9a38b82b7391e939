//! The process-wide ticker that turns a run's deadline or cancel into a signal for its
//! interpreter (native builds: one thread for all Python instances of the process).

use polyrun_engine::RunControl;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often running interpreters' controls are polled.
const TICK: Duration = Duration::from_millis(5);
/// How often a stopped run is signalled again (another interpreter of the process may take
/// the process-wide "signal pending" flag before this one sees it).
const RESEND: Duration = Duration::from_millis(20);

struct Entry {
    id: u64,
    control: RunControl,
    fire: Box<dyn Fn() + Send>,
    last: Option<Instant>,
}

#[derive(Default)]
struct Ticker {
    entries: Mutex<(u64, Vec<Entry>)>,
    wake: Condvar,
}

fn ticker() -> &'static Arc<Ticker> {
    static TICKER: OnceLock<Arc<Ticker>> = OnceLock::new();
    TICKER.get_or_init(|| {
        let t = Arc::new(Ticker::default());
        let bg = t.clone();
        std::thread::Builder::new()
            .name("polyrun-python-ticker".into())
            .spawn(move || bg.run())
            .expect("spawn the Python ticker thread");
        t
    })
}

impl Ticker {
    fn run(&self) {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if guard.1.is_empty() {
                guard = self.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let now = Instant::now();
            for e in guard.1.iter_mut() {
                if e.control.check().is_some() && e.last.is_none_or(|t| now - t >= RESEND) {
                    e.last = Some(now);
                    (e.fire)();
                }
            }
            guard = self
                .wake
                .wait_timeout(guard, TICK)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Watches `control` until dropped; calls `fire` once it reports an interrupt (and again every
/// few milliseconds while the run goes on).
pub(crate) struct Watch(u64);

pub(crate) fn watch(control: RunControl, fire: Box<dyn Fn() + Send>) -> Watch {
    let t = ticker();
    let mut g = t.entries.lock().unwrap_or_else(|p| p.into_inner());
    g.0 += 1;
    let id = g.0;
    g.1.push(Entry {
        id,
        control,
        fire,
        last: None,
    });
    t.wake.notify_all();
    Watch(id)
}

impl Drop for Watch {
    fn drop(&mut self) {
        let t = ticker();
        let mut g = t.entries.lock().unwrap_or_else(|p| p.into_inner());
        g.1.retain(|e| e.id != self.0);
    }
}

/// Blocks the calling thread for `d`, or until `control` trips (it wakes the wait).
pub(crate) fn pause(control: &polyrun_engine::RunControl, d: Duration) {
    control.wait(Some(d));
}
