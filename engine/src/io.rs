use crate::control::{Interrupt, RunControl};
use crate::event::{Event, LogLevel, MimeBundle, Stream};
use crate::helpers::{Host, HostCall};
use crate::limits::LimitKind;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Where a run's standard input comes from. `None` means end of input.
pub trait Stdin: Send {
    /// Reads one line, without its line terminator. `None` at end of input.
    fn read_line(&mut self) -> Option<String>;
}

/// The longest stdin line a host hands a guest, in bytes; the rest of a longer line is dropped
/// as it is read (never buffered), so one endless line cannot exhaust the host's memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Reads one line of `reader` for a guest: without its line terminator (`\n` or `\r\n`), cut
/// to [`MAX_LINE_BYTES`] at a character boundary (the rest of the line skipped), bytes that are
/// not UTF-8 replaced. `None` at end of input or on a read error.
pub fn read_guest_line(reader: &mut impl std::io::BufRead) -> Option<String> {
    use std::io::{BufRead, Read};
    let mut buf = Vec::new();
    match reader
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', &mut buf)
    {
        Ok(0) | Err(_) => return None,
        Ok(_) => {}
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if buf.len() > MAX_LINE_BYTES {
        // Too long: keep the first MAX_LINE_BYTES, skip to the end of the line.
        buf.truncate(MAX_LINE_BYTES);
        while let Ok(chunk) = reader.fill_buf() {
            if chunk.is_empty() {
                break;
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    reader.consume(i + 1);
                    break;
                }
                None => {
                    let n = chunk.len();
                    reader.consume(n);
                }
            }
        }
        // Back to a character boundary (at most 3 bytes of a cut character).
        let valid = match std::str::from_utf8(&buf) {
            Ok(_) => buf.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => buf.len(),
        };
        buf.truncate(valid);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Standard input that is always at its end.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoStdin;

impl Stdin for NoStdin {
    fn read_line(&mut self) -> Option<String> {
        None
    }
}

/// Standard input from a string given up front, split into lines.
#[derive(Debug, Default, Clone)]
pub struct VecStdin(VecDeque<String>);

impl VecStdin {
    /// Splits `text` into lines (`\n` or `\r\n`).
    pub fn new(text: &str) -> Self {
        VecStdin(text.lines().map(str::to_owned).collect())
    }
}

impl Stdin for VecStdin {
    fn read_line(&mut self) -> Option<String> {
        self.0.pop_front()
    }
}

type Sink = dyn Fn(Event) + Send + Sync;

struct Inner {
    sink: Box<Sink>,
    stdin: Mutex<Box<dyn Stdin>>,
    control: RunControl,
    output_limit: Option<u64>,
    output_used: AtomicU64,
    host: OnceLock<Arc<dyn Host>>,
}

/// The run's side of the world, handed to [`crate::Runtime::run`]: an event sink that enforces
/// the output limit, standard input, and the run's [`RunControl`].
///
/// Cheap to clone and `Send + Sync`, so a backend can keep a clone inside its interpreter's
/// callbacks for the duration of a run.
#[derive(Clone)]
pub struct RunIo {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RunIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunIo")
            .field("output_limit", &self.inner.output_limit)
            .field("output_used", &self.output_used())
            .finish_non_exhaustive()
    }
}

impl RunIo {
    /// A run's I/O: `sink` receives every event, `stdin` answers reads, `control` is polled.
    pub fn new(
        sink: impl Fn(Event) + Send + Sync + 'static,
        stdin: Box<dyn Stdin>,
        control: RunControl,
        output_limit: Option<u64>,
    ) -> Self {
        RunIo {
            inner: Arc::new(Inner {
                sink: Box::new(sink),
                stdin: Mutex::new(stdin),
                control,
                output_limit,
                output_used: AtomicU64::new(0),
                host: OnceLock::new(),
            }),
        }
    }

    /// Gives the run a [`Host`] for the `polyrun` helpers (once; later calls are ignored).
    pub fn with_host(self, host: Arc<dyn Host>) -> Self {
        let _ = self.inner.host.set(host);
        self
    }

    /// The run's [`Host`], if it has one.
    pub fn host(&self) -> Option<&dyn Host> {
        self.inner.host.get().map(|h| &**h)
    }

    /// Answers a helper call of the guest. `Err` is the message the helper raises in the guest.
    pub fn host_call(&self, call: HostCall) -> Result<serde_json::Value, String> {
        if let Err(i) = self.check() {
            return Err(format!("polyrun: {i}"));
        }
        match self.host() {
            Some(h) => h.call(call),
            None => Err("the polyrun helpers are not available in this run".into()),
        }
    }

    /// [`RunIo::host_call`] with the call and reply as JSON text (see
    /// [`crate::helpers::answer_json`]): what guest-side preludes use.
    pub fn host_call_json(&self, request: &str) -> String {
        crate::helpers::answer_json(self.host(), request)
    }

    /// The run's control (cancel flag, deadline, tripped limit).
    pub fn control(&self) -> &RunControl {
        &self.inner.control
    }

    /// `Err` with the reason once the run must stop (cancel, deadline, a limit).
    pub fn check(&self) -> Result<(), Interrupt> {
        match self.inner.control.check() {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }

    /// Bytes of output produced so far.
    pub fn output_used(&self) -> u64 {
        self.inner.output_used.load(Ordering::SeqCst)
    }

    /// Bytes of output the run may still produce (`None`: no limit).
    pub fn output_left(&self) -> Option<u64> {
        self.inner
            .output_limit
            .map(|l| l.saturating_sub(self.output_used()))
    }

    /// Charges `n` bytes to the output budget. Returns how many of them fit; when not all fit,
    /// the output limit is tripped.
    pub(crate) fn charge(&self, n: usize) -> usize {
        let n = n as u64;
        let before = self.inner.output_used.fetch_add(n, Ordering::SeqCst);
        match self.inner.output_limit {
            Some(limit) if before + n > limit => {
                self.inner.control.trip(Interrupt::Limit(LimitKind::Output));
                limit.saturating_sub(before) as usize
            }
            _ => n as usize,
        }
    }

    /// Writes guest output. Past the output limit the text is cut (at a character boundary),
    /// the limit is tripped and `Err` is returned: the backend must stop the guest.
    pub fn write(&self, stream: Stream, text: &str) -> Result<(), Interrupt> {
        self.check()?;
        if text.is_empty() {
            return Ok(());
        }
        let fits = self.charge(text.len());
        let mut cut = fits.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut > 0 {
            let text = text[..cut].to_string();
            (self.inner.sink)(match stream {
                Stream::Stdout => Event::Stdout { text },
                Stream::Stderr => Event::Stderr { text },
            });
        }
        self.check()
    }

    /// Emits a rich display value; it counts against the output limit.
    pub fn display(&self, bundle: MimeBundle) -> Result<(), Interrupt> {
        self.check()?;
        if self.charge(bundle.byte_len()) < bundle.byte_len() {
            return self.check();
        }
        (self.inner.sink)(Event::Display { bundle });
        self.check()
    }

    /// Emits a host log message (not counted as output).
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        (self.inner.sink)(Event::Log {
            level,
            message: message.into(),
        });
    }

    /// Emits any event as is, bypassing the output accounting (for forwarding events that were
    /// already accounted for, e.g. by a worker process).
    pub fn forward(&self, event: Event) {
        (self.inner.sink)(event);
    }

    /// Reads one line of standard input; `None` at end of input or once the run must stop.
    pub fn read_line(&self) -> Option<String> {
        if self.check().is_err() {
            return None;
        }
        let mut stdin = self.inner.stdin.lock().unwrap_or_else(|p| p.into_inner());
        stdin.read_line()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_lines_end_without_terminators_and_long_ones_are_cut() {
        let mut text = b"one\r\ntwo\n\xffbad\n".to_vec();
        // A line past the cap whose cut falls inside a character (é is 2 bytes).
        text.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES - 1));
        text.extend("é and more".as_bytes());
        text.extend(b"\nafter");
        let mut r = std::io::Cursor::new(text);
        assert_eq!(read_guest_line(&mut r).as_deref(), Some("one"));
        assert_eq!(read_guest_line(&mut r).as_deref(), Some("two"));
        assert_eq!(read_guest_line(&mut r).as_deref(), Some("\u{fffd}bad"));
        let long = read_guest_line(&mut r).unwrap();
        assert_eq!(long.len(), MAX_LINE_BYTES - 1);
        assert!(long.bytes().all(|b| b == b'a'));
        assert_eq!(read_guest_line(&mut r).as_deref(), Some("after"));
        assert_eq!(read_guest_line(&mut r), None);
    }

    fn collecting(limit: Option<u64>) -> (RunIo, Arc<Mutex<Vec<Event>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let e2 = events.clone();
        let io = RunIo::new(
            move |e| e2.lock().unwrap().push(e),
            Box::new(VecStdin::new("a\r\nb\n")),
            RunControl::new(),
            limit,
        );
        (io, events)
    }

    #[test]
    fn output_limit_cuts_at_a_char_boundary_and_trips() {
        let (io, events) = collecting(Some(5));
        assert!(io.write(Stream::Stdout, "abc").is_ok());
        // "dé" is 3 bytes: only "d" fits in the remaining 2 bytes without splitting "é".
        assert_eq!(
            io.write(Stream::Stdout, "déf"),
            Err(Interrupt::Limit(LimitKind::Output))
        );
        assert_eq!(
            io.write(Stream::Stderr, "more"),
            Err(Interrupt::Limit(LimitKind::Output))
        );
        let ev = events.lock().unwrap();
        let text: String = ev.iter().filter_map(|e| e.output()).map(|o| o.1).collect();
        assert_eq!(text, "abcd");
    }

    #[test]
    fn stdin_lines_and_stop() {
        let (io, _) = collecting(None);
        assert_eq!(io.read_line().as_deref(), Some("a"));
        assert_eq!(io.read_line().as_deref(), Some("b"));
        assert_eq!(io.read_line(), None);
        let (io, _) = collecting(None);
        io.control().cancel();
        assert_eq!(io.read_line(), None);
        assert_eq!(io.check(), Err(Interrupt::Cancelled));
    }
}
