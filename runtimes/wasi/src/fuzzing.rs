//! The helper-call framing of a WASI guest's stderr (`\x02polyrun-call:{…}\n`, answered on its
//! stdin), exposed for the `helper_calls` fuzz target (fuzz/).

use crate::stdio::Calls;

/// What the framing made of one stderr stream written in pieces cut at `cuts` (offsets into
/// `bytes`, in any order; out-of-range ones ignored).
#[derive(Debug, PartialEq, Eq)]
pub struct Framed {
    /// The bytes passed through as stderr, the calls taken out.
    pub passed: Vec<u8>,
    /// The replies queued for the guest's stdin, one line per call.
    pub replies: Vec<u8>,
    /// What is still held back at the end (a call without its newline, or a marker's prefix).
    pub held: Vec<u8>,
    /// The stream ended inside a call.
    pub open: bool,
}

/// Feeds `bytes` to a fresh framing in pieces cut at `cuts`, each call answered by `answer`.
pub fn frame(bytes: &[u8], cuts: &[usize], answer: impl Fn(&str) -> String) -> Framed {
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c < bytes.len()).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut calls = Calls::default();
    let mut passed = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([bytes.len()]) {
        passed.extend(calls.filter(&bytes[start..end], &answer));
        start = end;
    }
    Framed {
        passed,
        replies: std::mem::take(&mut calls.replies),
        held: std::mem::take(&mut calls.held),
        open: calls.open,
    }
}
