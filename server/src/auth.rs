//! Bearer tokens, who a request comes from, and per-token rate limits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An accepted bearer token and the name it is known by in logs and metrics.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// A name for logs (never the secret).
    pub name: String,
    /// The secret the client sends as `Authorization: Bearer <secret>`.
    pub secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Parses tokens, one per line or comma-separated: `name:secret` or a bare `secret` (named
    /// `token-N`). Blank lines and `#` comments are skipped.
    pub fn parse_list(text: &str) -> Result<Vec<Token>, String> {
        let mut out = Vec::new();
        for item in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (name, secret) = match item.split_once(':') {
                Some((n, s)) => (n.trim().to_string(), s.trim().to_string()),
                None => (format!("token-{}", out.len() + 1), item.to_string()),
            };
            if secret.len() < 8 {
                return Err(format!(
                    "the token named `{name}` is shorter than 8 characters"
                ));
            }
            out.push(Token { name, secret });
        }
        Ok(out)
    }
}

/// Who sent a request: a token's name, or `local` for a loopback client when no tokens are
/// configured.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal(pub String);

/// Why a request is refused before it reaches a handler.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No token, or a wrong one (401).
    Unauthorized,
    /// No tokens are configured and the client is not on loopback (403).
    NotLoopback,
    /// No tokens are configured and the request names another host than this machine: a web
    /// page trying to reach the server through DNS rebinding (403).
    ForeignHost,
}

/// Checks the bearer token (from the `Authorization` header, or the `access_token` query
/// parameter the API passes for the event stream only: browsers' WebSocket and EventSource
/// cannot set headers).
pub fn authenticate(
    tokens: &[Token],
    peer: SocketAddr,
    host: Option<&str>,
    header: Option<&str>,
    query_token: Option<&str>,
) -> Result<Principal, Denied> {
    if tokens.is_empty() {
        if !peer.ip().is_loopback() {
            return Err(Denied::NotLoopback);
        }
        return if host.is_none_or(is_local_host) {
            Ok(Principal("local".into()))
        } else {
            Err(Denied::ForeignHost)
        };
    }
    let given = header
        .and_then(|h| h.strip_prefix("Bearer ").map(str::trim))
        .or(query_token)
        .ok_or(Denied::Unauthorized)?;
    tokens
        .iter()
        .find(|t| constant_time_eq(t.secret.as_bytes(), given.as_bytes()))
        .map(|t| Principal(t.name.clone()))
        .ok_or(Denied::Unauthorized)
}

/// `localhost`, `127.0.0.1`, `[::1]` (any port): the names a local client uses.
fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs started per token in a sliding minute.
#[derive(Debug, Default)]
pub struct RateLimiter {
    starts: Mutex<HashMap<Principal, Vec<Instant>>>,
}

impl RateLimiter {
    /// Records a start for `who` if fewer than `per_minute` happened in the last minute;
    /// otherwise how long until one more is allowed. `per_minute == 0` never limits.
    pub fn try_start(&self, who: &Principal, per_minute: u32) -> Result<(), Duration> {
        if per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let window = Duration::from_secs(60);
        let mut starts = self.starts.lock().unwrap_or_else(|p| p.into_inner());
        let list = starts.entry(who.clone()).or_default();
        list.retain(|t| now.duration_since(*t) < window);
        if list.len() >= per_minute as usize {
            return Err(window.saturating_sub(now.duration_since(list[0])));
        }
        list.push(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> SocketAddr {
        format!("{ip}:1234").parse().unwrap()
    }

    #[test]
    fn token_lists_parse_names_and_reject_short_secrets() {
        let t = Token::parse_list("# graders\nalice:0123456789\n\nbob-secret-1, carol:abcdefgh\n")
            .unwrap();
        let names: Vec<_> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["alice", "token-2", "carol"]);
        assert_eq!(t[1].secret, "bob-secret-1");
        assert!(Token::parse_list("x:short").unwrap_err().contains("`x`"));
        assert!(!format!("{:?}", t[0]).contains("0123456789"));
    }

    #[test]
    fn without_tokens_only_loopback_is_served() {
        let local = Ok(Principal("local".into()));
        for host in [
            None,
            Some("127.0.0.1:8080"),
            Some("localhost"),
            Some("[::1]:80"),
        ] {
            assert_eq!(
                authenticate(&[], peer("127.0.0.1"), host, None, None),
                local,
                "{host:?}"
            );
        }
        assert_eq!(
            authenticate(&[], peer("10.0.0.2"), None, None, None),
            Err(Denied::NotLoopback)
        );
        // A page of another site reaching 127.0.0.1 through its own name (DNS rebinding).
        assert_eq!(
            authenticate(
                &[],
                peer("127.0.0.1"),
                Some("evil.example:8080"),
                None,
                None
            ),
            Err(Denied::ForeignHost)
        );
    }

    #[test]
    fn with_tokens_the_bearer_or_query_token_must_match() {
        let tokens = Token::parse_list("ci:0123456789").unwrap();
        let remote = peer("10.0.0.2");
        let ok = Ok(Principal("ci".into()));
        // With tokens the Host header does not matter (a server behind a proxy has any name).
        let host = Some("grader.example");
        let bearer = Some("Bearer 0123456789");
        assert_eq!(authenticate(&tokens, remote, host, bearer, None), ok);
        let query = Some("0123456789");
        assert_eq!(authenticate(&tokens, remote, host, None, query), ok);
        for bad in [None, Some("Bearer 0123456780"), Some("Basic 0123456789")] {
            assert_eq!(
                authenticate(&tokens, peer("127.0.0.1"), None, bad, None),
                Err(Denied::Unauthorized),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_rate_limit_counts_a_sliding_minute_per_token() {
        let r = RateLimiter::default();
        let a = Principal("a".into());
        let b = Principal("b".into());
        assert!(r.try_start(&a, 2).is_ok());
        assert!(r.try_start(&a, 2).is_ok());
        let wait = r.try_start(&a, 2).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(r.try_start(&b, 2).is_ok(), "tokens are counted apart");
        assert!((0..100).all(|_| r.try_start(&a, 0).is_ok()), "0 = no limit");
    }
}
