//! Guest stdio wired to the current run's [`RunIo`]: writes are forwarded as they happen (and
//! trap the guest once the run must stop, e.g. past the output limit); reads take a line of the
//! run's stdin when the guest asks.

use polyrun_engine::{Interrupt, LimitKind, RunIo, Stream};
use std::sync::{Arc, Mutex};

/// What starts a helper call on the guest's stderr: `\x02polyrun-call:{request JSON}\n`. The
/// host answers it before the write returns, and the answer (`{reply JSON}\n`) is what the
/// guest's next reads of stdin return, ahead of any input (docs/helpers.md).
pub const CALL_MARKER: &[u8] = b"\x02polyrun-call:";

/// Which run an instance's stdio serves right now. Set it before a run, clear it after.
#[derive(Clone, Default)]
pub struct IoSlot {
    io: Arc<Mutex<Option<RunIo>>>,
    pending: Arc<Mutex<Vec<u8>>>,
    capture: Arc<Mutex<Option<Capture>>>,
    calls: Arc<Mutex<Calls>>,
}

/// The longest helper call line kept: two of the largest values the helpers accept, plus room
/// for the rest of the request. A longer one is answered with an error and dropped.
const MAX_CALL_BYTES: usize = 2 * polyrun_engine::helpers::MAX_VALUE_BYTES + 4096;

/// The most reply bytes kept for a guest that has not read them. The helpers' own preludes read
/// each reply before the next call, so only a guest writing call frames itself gets here; it
/// is stopped at its memory limit (the replies are memory it holds on the host's side).
const MAX_UNREAD_REPLIES: usize = MAX_CALL_BYTES;

/// Helper calls being read out of stderr, and the replies not yet read by the guest.
#[derive(Default)]
pub(crate) struct Calls {
    /// Stderr bytes held back: a call being written, or what may be the start of a marker.
    pub(crate) held: Vec<u8>,
    /// `held` is a call (its marker was seen).
    pub(crate) open: bool,
    /// The call being written is too long: the rest of its line is dropped.
    oversized: bool,
    /// Replies for the guest's stdin.
    pub(crate) replies: Vec<u8>,
}

impl Calls {
    fn reply(&mut self, reply: &str) {
        self.replies.extend_from_slice(reply.as_bytes());
        self.replies.push(b'\n');
    }

    /// Takes the calls out of `bytes` (answering them with `answer`) and returns the rest. Each
    /// byte is looked at once, however the guest cuts its writes.
    pub(crate) fn filter(&mut self, bytes: &[u8], answer: impl Fn(&str) -> String) -> Vec<u8> {
        let mut pass = Vec::new();
        let mut rest: &[u8] = bytes;
        loop {
            if self.open {
                let nl = rest.iter().position(|&b| b == b'\n');
                let part = &rest[..nl.unwrap_or(rest.len())];
                if !self.oversized && self.held.len() + part.len() > MAX_CALL_BYTES {
                    self.oversized = true;
                    self.held = Vec::new();
                }
                if !self.oversized {
                    self.held.extend_from_slice(part);
                }
                let Some(nl) = nl else {
                    return pass;
                };
                let reply = if std::mem::take(&mut self.oversized) {
                    serde_json::json!({
                        "error": format!("the helper call is longer than {MAX_CALL_BYTES} bytes")
                    })
                    .to_string()
                } else {
                    answer(&String::from_utf8_lossy(&std::mem::take(&mut self.held)))
                };
                self.reply(&reply);
                self.open = false;
                rest = &rest[nl + 1..];
                continue;
            }
            // Not in a call: what was held back is at most a marker's prefix.
            let mut data = std::mem::take(&mut self.held);
            data.extend_from_slice(rest);
            if let Some(at) = find(&data, CALL_MARKER) {
                pass.extend_from_slice(&data[..at]);
                self.open = true;
                let after = at + CALL_MARKER.len();
                // The rest of `data` comes from `rest` (the held prefix is shorter than a marker).
                rest = &rest[rest.len() - (data.len() - after)..];
                continue;
            }
            // Hold back a tail that may be the start of a marker cut by the write.
            let keep = (1..CALL_MARKER.len().min(data.len() + 1))
                .rev()
                .find(|&n| data.ends_with(&CALL_MARKER[..n]))
                .unwrap_or(0);
            pass.extend_from_slice(&data[..data.len() - keep]);
            self.held = data[data.len() - keep..].to_vec();
            return pass;
        }
    }
}

/// A line of stderr that starts with a marker and is kept for the host instead of being
/// forwarded (a guest-side prelude's report).
#[derive(Default)]
struct Capture {
    marker: Vec<u8>,
    line: Vec<u8>,
    state: CaptureState,
}

#[derive(Default, PartialEq, Eq)]
enum CaptureState {
    #[default]
    Looking,
    /// The marker was seen; the line is not complete yet.
    Open,
    /// One line was captured; later output passes through.
    Done,
}

impl std::fmt::Debug for IoSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoSlot").finish_non_exhaustive()
    }
}

impl IoSlot {
    /// An empty slot (output is dropped, stdin is at its end).
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `io` from now on (`None`: nobody).
    pub fn set(&self, io: Option<RunIo>) {
        *self.io.lock().unwrap_or_else(|p| p.into_inner()) = io;
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        *self.calls.lock().unwrap_or_else(|p| p.into_inner()) = Calls::default();
    }

    /// The run served now.
    pub fn get(&self) -> Option<RunIo> {
        self.io.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// From now on, the first stderr line that starts with `marker` (which may start mid-write)
    /// is kept, without the marker, for [`IoSlot::take_captured`] instead of reaching the run.
    pub fn capture(&self, marker: &[u8]) {
        *self.capture.lock().unwrap_or_else(|p| p.into_inner()) = Some(Capture {
            marker: marker.to_vec(),
            ..Capture::default()
        });
    }

    /// The captured line (without its newline) if it was completed, and stops capturing.
    pub fn take_captured(&self) -> Option<Vec<u8>> {
        let c = self
            .capture
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        (c.state == CaptureState::Done).then_some(c.line)
    }

    /// Forwards what the guest wrote to `stream` (helper calls answered, a captured line kept);
    /// `Err` (a message) once the run must stop: the host traps the guest.
    pub(crate) fn write(&self, stream: Stream, bytes: &[u8]) -> Result<(), String> {
        let filtered;
        let bytes = if stream == Stream::Stderr {
            let io = self.get();
            let unread;
            {
                let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
                filtered = calls.filter(bytes, |request| {
                    polyrun_engine::helpers::answer_json(
                        io.as_ref().and_then(|io| io.host()),
                        request,
                    )
                });
                unread = calls.replies.len();
                if unread > MAX_UNREAD_REPLIES {
                    calls.replies = Vec::new();
                }
            }
            if let Some(io) = &io {
                if unread > MAX_UNREAD_REPLIES {
                    io.control().trip(Interrupt::Limit(LimitKind::Memory));
                }
                io.check().map_err(|i| format!("polyrun: {i}"))?;
            }
            &filtered[..]
        } else {
            bytes
        };
        let mut pass: &[u8] = bytes;
        let mut after: &[u8] = &[];
        if stream == Stream::Stderr {
            let mut guard = self.capture.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = guard.as_mut() {
                let mut rest = None;
                if c.state == CaptureState::Looking
                    && let Some(at) = find(bytes, &c.marker)
                {
                    pass = &bytes[..at];
                    rest = Some(&bytes[at + c.marker.len()..]);
                    c.state = CaptureState::Open;
                } else if c.state == CaptureState::Open {
                    pass = &[];
                    rest = Some(bytes);
                }
                if let Some(rest) = rest {
                    match rest.iter().position(|&b| b == b'\n') {
                        Some(nl) => {
                            c.line.extend_from_slice(&rest[..nl]);
                            c.state = CaptureState::Done;
                            after = &rest[nl + 1..];
                        }
                        None => c.line.extend_from_slice(rest),
                    }
                }
            }
        }
        let Some(io) = self.get() else { return Ok(()) };
        for part in [pass, after] {
            if !part.is_empty() {
                io.write(stream, &String::from_utf8_lossy(part))
                    .map_err(|i| format!("polyrun: {i}"))?;
            }
        }
        Ok(())
    }

    /// Up to `size` bytes of stdin, reading a new line when none are pending; empty at the end.
    pub(crate) fn read(&self, size: usize) -> Vec<u8> {
        {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            if !calls.replies.is_empty() {
                let n = size.min(calls.replies.len());
                return calls.replies.drain(..n).collect();
            }
        }
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.is_empty() {
            let Some(io) = self.get() else {
                return Vec::new();
            };
            match io.read_line() {
                Some(line) => {
                    pending.extend_from_slice(line.as_bytes());
                    pending.push(b'\n');
                }
                None => return Vec::new(),
            }
        }
        let n = size.min(pending.len());
        pending.drain(..n).collect()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_calls_are_taken_out_of_stderr_and_answered_on_stdin() {
        let mut c = Calls::default();
        let echo = |r: &str| format!("<{r}>");
        assert_eq!(c.filter(b"a\x02polyrun-call:{\"op\"", echo), b"a");
        assert_eq!(c.filter(b":1}\nb\x02poly", echo), b"b");
        assert_eq!(c.replies, b"<{\"op\":1}>\n");
        // A held-back prefix that turns out not to be a marker passes.
        assert_eq!(c.filter(b"x\n", echo), b"\x02polyx\n");
        assert_eq!(
            c.filter(b"\x02polyrun-call:2\n\x02polyrun-call:3\nz", echo),
            b"z"
        );
        assert_eq!(c.replies, b"<{\"op\":1}>\n<2>\n<3>\n");
    }

    #[test]
    fn long_calls_cost_one_pass_and_oversized_ones_are_refused() {
        let mut c = Calls::default();
        let len = |r: &str| r.len().to_string();
        assert!(c.filter(b"\x02polyrun-call:", len).is_empty());
        for _ in 0..1000 {
            assert!(c.filter(&[b'x'; 4096], len).is_empty());
        }
        assert_eq!(c.filter(b"\nok", len), b"ok");
        assert_eq!(c.replies, b"4096000\n");
        c.replies.clear();
        assert!(c.filter(b"\x02polyrun-call:", len).is_empty());
        let big = vec![b'y'; MAX_CALL_BYTES + 1];
        assert!(c.filter(&big, len).is_empty());
        assert_eq!(c.filter(b"y\nafter", len), b"after");
        assert!(String::from_utf8_lossy(&c.replies).contains("longer than"));
        assert!(c.held.is_empty());
    }

    #[test]
    fn replies_the_guest_does_not_read_stop_it_at_its_memory_limit() {
        use polyrun_engine::helpers::{Helpers, MemoryStore};
        use polyrun_engine::{RunControl, VariableStore, VecStdin};
        let store = Arc::new(MemoryStore::new());
        let big = serde_json::Value::String("v".repeat(1 << 20));
        store.set("default", "big", &big).unwrap();
        let control = RunControl::new();
        let io = RunIo::new(|_| {}, Box::new(VecStdin::new("")), control.clone(), None)
            .with_host(Arc::new(Helpers::new(store)));
        let slot = IoSlot::new();
        slot.set(Some(io));
        let call = b"\x02polyrun-call:{\"op\":\"get_variable\",\"name\":\"big\"}\n";
        // A guest that reads its replies may call as often as it likes.
        for _ in 0..20 {
            slot.write(Stream::Stderr, call).unwrap();
            while !slot.read(1 << 16).is_empty() && !slot.calls.lock().unwrap().replies.is_empty() {
            }
        }
        assert!(control.interrupted().is_none());
        // One that only writes calls is stopped before its replies pass the cap.
        let mut stopped = None;
        for i in 0..20 {
            if slot.write(Stream::Stderr, call).is_err() {
                stopped = Some(i);
                break;
            }
        }
        let n = stopped.expect("the guest was stopped");
        assert!(
            n * (1 << 20) <= MAX_UNREAD_REPLIES + (1 << 20),
            "stopped after {n} calls"
        );
        assert_eq!(
            control.interrupted(),
            Some(Interrupt::Limit(LimitKind::Memory))
        );
        assert!(slot.calls.lock().unwrap().replies.is_empty());
    }

    #[test]
    fn a_marked_stderr_line_is_kept_and_the_rest_passes() {
        let slot = IoSlot::new();
        slot.capture(b"\x01M:");
        // Nothing captured yet: no line.
        slot.write(Stream::Stderr, b"warning\n").unwrap();
        slot.write(Stream::Stdout, b"\x01M:not stderr\n").unwrap();
        assert_eq!(slot.take_captured(), None);

        slot.capture(b"\x01M:");
        slot.write(Stream::Stderr, b"before\x01M:{\"a\":").unwrap();
        slot.write(Stream::Stderr, b"1}\nafter").unwrap();
        slot.write(Stream::Stderr, b"\x01M:second\n").unwrap();
        assert_eq!(slot.take_captured().as_deref(), Some(&b"{\"a\":1}"[..]));
        // Taken: capturing stopped.
        assert_eq!(slot.take_captured(), None);

        // An unfinished line is not a report.
        slot.capture(b"\x01M:");
        slot.write(Stream::Stderr, b"\x01M:{\"cut").unwrap();
        assert_eq!(slot.take_captured(), None);
    }
}
