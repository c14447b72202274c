//! Counters for `/metrics`, rendered in the Prometheus text format (0.0.4). Plain atomics: a
//! metrics crate would add more than the handful of counters signet keeps, and counting a
//! request must not take a lock or allocate on the hot path.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The proxy's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Rule labels, in rule order; requests under no rule are counted after the last one.
    rules: Vec<String>,
    /// The auth type names a request can be counted under, by index.
    auth_types: &'static [&'static str],
    /// One counter per (rule or no rule, auth type).
    requests: Vec<AtomicU64>,
    upstream_errors: AtomicU64,
    challenge_replays: AtomicU64,
}

/// Counters kept where the work happens (the leaf cache, the OAuth 2.0 token sources), read when
/// rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pulled {
    /// Leaf certificates minted.
    pub minted: u64,
    /// Handshakes served from the cache.
    pub cache_hits: u64,
    /// Token requests sent to token endpoints.
    pub token_fetches: u64,
    /// Upstream HTTP/1.1 connections waiting for a client connection.
    pub idle_connections: u64,
}

impl Metrics {
    /// Counters for host rules labelled `rules` (like `host[0] (api.example.com)`), in order,
    /// and the auth types `auth_types`.
    pub fn new(rules: Vec<String>, auth_types: &'static [&'static str]) -> Self {
        let slots = (rules.len() + 1) * auth_types.len();
        Metrics {
            rules,
            auth_types,
            requests: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            ..Metrics::default()
        }
    }

    /// A request handled under host rule `rule` (`None`: no rule) with the auth type at index
    /// `auth` of the names given to [`Metrics::new`].
    pub fn request(&self, rule: Option<usize>, auth: usize) {
        let row = rule.unwrap_or(self.rules.len()).min(self.rules.len());
        let column = auth.min(self.auth_types.len().saturating_sub(1));
        if let Some(counter) = self.requests.get(row * self.auth_types.len() + column) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An upstream request that failed (connect, TLS or protocol error: signet answered 502).
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A request replayed after the upstream's answer (a challenge or a refresh).
    pub fn challenge_replay(&self) {
        self.challenge_replays.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in the Prometheus text format.
    pub fn render(&self, pulled: Pulled) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP signet_requests_total Requests handled, by host rule and auth type.\n",
        );
        out.push_str("# TYPE signet_requests_total counter\n");
        for (slot, counter) in self.requests.iter().enumerate() {
            let n = counter.load(Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            let (row, column) = (slot / self.auth_types.len(), slot % self.auth_types.len());
            let rule = self.rules.get(row).map_or("no rule", String::as_str);
            let _ = writeln!(
                out,
                "signet_requests_total{{rule=\"{}\",auth=\"{}\"}} {n}",
                escape(rule),
                self.auth_types[column]
            );
        }
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            );
        };
        counter(
            "signet_upstream_errors_total",
            "Upstream requests that failed (signet answered 502).",
            self.upstream_errors.load(Ordering::Relaxed),
        );
        counter(
            "signet_challenge_replays_total",
            "Requests replayed once after a challenge or a rejected token.",
            self.challenge_replays.load(Ordering::Relaxed),
        );
        counter(
            "signet_token_fetches_total",
            "Tokens fetched from token endpoints.",
            pulled.token_fetches,
        );
        counter(
            "signet_leaf_certs_minted_total",
            "Leaf certificates minted for intercepted hosts.",
            pulled.minted,
        );
        counter(
            "signet_leaf_cache_hits_total",
            "Intercepted handshakes served with a cached leaf certificate.",
            pulled.cache_hits,
        );
        let _ = write!(
            out,
            "# HELP signet_upstream_idle_connections Upstream HTTP/1.1 connections waiting for a \
             client.\n# TYPE signet_upstream_idle_connections gauge\n\
             signet_upstream_idle_connections {}\n",
            pulled.idle_connections
        );
        out
    }
}

/// Escapes a label value as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_and_plain_counters() {
        let m = Metrics::new(
            vec!["host[0] (api.example.com)".into()],
            &["none", "bearer"],
        );
        m.request(Some(0), 1);
        m.request(Some(0), 1);
        m.request(None, 0);
        m.upstream_error();
        let text = m.render(Pulled {
            minted: 2,
            cache_hits: 5,
            token_fetches: 3,
            idle_connections: 4,
        });
        assert!(text.contains(
            "signet_requests_total{rule=\"host[0] (api.example.com)\",auth=\"bearer\"} 2\n"
        ));
        assert!(text.contains("signet_requests_total{rule=\"no rule\",auth=\"none\"} 1\n"));
        assert!(text.contains("signet_upstream_errors_total 1\n"));
        assert!(text.contains("signet_leaf_certs_minted_total 2\n"));
        assert!(text.contains("signet_leaf_cache_hits_total 5\n"));
        assert!(text.contains("signet_token_fetches_total 3\n"));
        assert!(text.contains("# TYPE signet_upstream_idle_connections gauge\n"));
        assert!(text.contains("signet_upstream_idle_connections 4\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
