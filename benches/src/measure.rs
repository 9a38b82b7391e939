//! Running one program as a fresh process: wall time, peak RSS, output.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured run.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Spawn to exit.
    pub wall: Duration,
    /// Peak resident set size of the process, in bytes.
    pub max_rss: u64,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Its stderr (shown when it fails).
    pub stderr: String,
    /// Exit status (`-1` when killed by a signal).
    pub status: i32,
}

/// Runs `command... file` to its end.
pub fn run(command: &[String], file: &Path) -> std::io::Result<Sample> {
    let started = Instant::now();
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    out.read_to_string(&mut stdout)?;
    let stderr = err_reader.join().unwrap_or_default();
    // wait4 rather than Child::wait: it also reports the child's peak RSS.
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child` is our unwaited child; both out pointers are valid for the call.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let status = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok(Sample {
        wall,
        max_rss: usage.ru_maxrss as u64 * 1024,
        stdout,
        stderr,
        status,
    })
}

/// Median, min and max of `xs` (not empty).
pub fn stats(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    let median = if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    };
    (median, v[0], v[v.len() - 1])
}

/// Resident set size of this process, in bytes.
pub fn self_rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        assert_eq!(stats(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(stats(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }

    #[test]
    fn a_process_is_measured_with_its_output_and_status() {
        let dir = std::env::temp_dir().join(format!("polyrun-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("x.sh");
        std::fs::write(&file, "echo out; echo err >&2; exit 3\n").unwrap();
        let s = run(&["sh".to_string()], &file).unwrap();
        assert_eq!(
            (s.stdout.as_str(), s.stderr.as_str(), s.status),
            ("out\n", "err\n", 3)
        );
        assert!(s.max_rss > 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
