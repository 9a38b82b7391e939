use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Resource limits for one run. `None` means "no limit" for that resource.
///
/// Every backend maps these onto its own mechanism (Lua: instruction hook and allocator limit;
/// Boa: recursion limit; worker processes: a hard deadline and an allocation ceiling). Guest code
/// can never catch a limit error.
///
/// On the wire (every host: the worker protocol, the browser bundle, HTTP, pipeline files) a
/// missing field takes the default and `null` means no limit; an unknown field is an error.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time for the run, in milliseconds on the wire (`wall_time_ms`).
    #[serde(rename = "wall_time_ms", with = "millis")]
    pub wall_time: Option<Duration>,
    /// Memory the guest may allocate, in bytes.
    pub memory_bytes: Option<u64>,
    /// Bytes of stdout + stderr + display data the guest may produce.
    pub output_bytes: Option<u64>,
    /// Maximum call depth of guest functions, where the backend can enforce it.
    pub recursion_depth: Option<u32>,
}

impl Default for Limits {
    /// Playground defaults: 10 s, 256 MiB, 1 MiB of output, 1000 nested calls.
    fn default() -> Self {
        Limits {
            wall_time: Some(Duration::from_secs(10)),
            memory_bytes: Some(256 << 20),
            output_bytes: Some(1 << 20),
            recursion_depth: Some(1000),
        }
    }
}

impl Limits {
    /// These limits, each at most `max`'s (no limit here becomes `max`'s; no limit in `max`
    /// leaves it as it is): what a server grants a request.
    pub fn clamped(&self, max: &Limits) -> Limits {
        fn pick<T: Ord + Copy>(asked: Option<T>, max: Option<T>) -> Option<T> {
            match (asked, max) {
                (Some(a), Some(m)) => Some(a.min(m)),
                (None, m) => m,
                (a, None) => a,
            }
        }
        Limits {
            wall_time: pick(self.wall_time, max.wall_time),
            memory_bytes: pick(self.memory_bytes, max.memory_bytes),
            output_bytes: pick(self.output_bytes, max.output_bytes),
            recursion_depth: pick(self.recursion_depth, max.recursion_depth),
        }
    }

    /// No limit at all. For trusted code only.
    pub fn unlimited() -> Self {
        Limits {
            wall_time: None,
            memory_bytes: None,
            output_bytes: None,
            recursion_depth: None,
        }
    }
}

/// `n` bytes in words: `1000 bytes`, `64 MiB`, `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size {
            let v = (n as f64 / size as f64 * 10.0).round() / 10.0;
            return format!("{v} {unit}");
        }
    }
    format!("{n} bytes")
}

/// Which limit a run exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// The wall-clock deadline passed.
    Time,
    /// The guest allocated more than its memory budget.
    Memory,
    /// The guest wrote more than its output budget.
    Output,
}

impl LimitKind {
    /// A short lower-case name: `time`, `memory` or `output`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Time => "time",
            LimitKind::Memory => "memory",
            LimitKind::Output => "output",
        }
    }
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_round_trip_in_milliseconds() {
        let l = Limits {
            wall_time: Some(Duration::from_millis(1500)),
            ..Limits::default()
        };
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["wall_time_ms"], 1500);
        let back: Limits = serde_json::from_value(json).unwrap();
        assert_eq!(back, l);
        // Missing fields take the defaults; explicit nulls mean unlimited.
        let partial: Limits = serde_json::from_str(r#"{"memory_bytes":null}"#).unwrap();
        assert_eq!(partial.memory_bytes, None);
        assert_eq!(partial.wall_time, Limits::default().wall_time);
        assert!(serde_json::from_str::<Limits>(r#"{"timeout_ms":5}"#).is_err());
    }

    #[test]
    fn clamping_takes_the_smaller_and_no_limit_becomes_the_maximum() {
        let max = Limits {
            wall_time: Some(Duration::from_secs(5)),
            memory_bytes: Some(1 << 20),
            output_bytes: None,
            recursion_depth: Some(100),
        };
        let asked = Limits {
            wall_time: Some(Duration::from_secs(3600)),
            memory_bytes: Some(1024),
            output_bytes: None,
            recursion_depth: None,
        };
        let l = asked.clamped(&max);
        assert_eq!(l.wall_time, max.wall_time);
        assert_eq!(l.memory_bytes, Some(1024));
        assert_eq!(l.output_bytes, None);
        assert_eq!(l.recursion_depth, Some(100));
    }

    #[test]
    fn byte_amounts_in_words() {
        assert_eq!(bytes(1000), "1000 bytes");
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(1 << 30), "1 GiB");
    }
}
