//! Counters for `/metrics`, rendered in the Prometheus text format (0.0.4). Plain atomics: a
//! metrics crate would add more than the handful of counters signet keeps, and counting a
//! request must not take a lock or allocate on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Requests by host rule and auth type, for the rules of one loaded config. Each reload brings
/// its own; the counts of one no longer in use are kept in [`Metrics`] by rule label.
#[derive(Debug, Default)]
pub struct RequestCounters {
    /// Rule labels, in rule order; requests under no rule are counted after the last one.
    rules: Vec<String>,
    /// The auth type names a request can be counted under, by index.
    auth_types: &'static [&'static str],
    /// One counter per (rule or no rule, auth type).
    requests: Vec<AtomicU64>,
}

impl RequestCounters {
    /// Counters for host rules labelled `rules` (like `host[0] (api.example.com)`), in order,
    /// and the auth types `auth_types`.
    pub fn new(rules: Vec<String>, auth_types: &'static [&'static str]) -> Self {
        let slots = (rules.len() + 1) * auth_types.len();
        RequestCounters {
            rules,
            auth_types,
            requests: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// A request handled under host rule `rule` (`None`: no rule) with the auth type at index
    /// `auth` of the names given to [`RequestCounters::new`].
    pub fn request(&self, rule: Option<usize>, auth: usize) {
        let row = rule.unwrap_or(self.rules.len()).min(self.rules.len());
        let column = auth.min(self.auth_types.len().saturating_sub(1));
        if let Some(counter) = self.requests.get(row * self.auth_types.len() + column) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds the counts to `totals`, by rule label and auth type.
    fn add_to(&self, totals: &mut BTreeMap<(String, &'static str), u64>) {
        for (slot, counter) in self.requests.iter().enumerate() {
            let n = counter.load(Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            let (row, column) = (slot / self.auth_types.len(), slot % self.auth_types.len());
            let rule = self.rules.get(row).map_or("no rule", String::as_str);
            let auth = self.auth_types.get(column).copied().unwrap_or("none");
            *totals.entry((rule.to_owned(), auth)).or_default() += n;
        }
    }
}

/// The proxy's counters, over every config it has loaded.
#[derive(Debug, Default)]
pub struct Metrics {
    upstream_errors: AtomicU64,
    challenge_replays: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// What the configs no longer in use counted.
    retired: Mutex<Retired>,
    /// The config in force: its SHA-256 and when it was loaded (Unix seconds).
    loaded: Mutex<Option<(String, u64)>>,
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
    /// With `[shared]`: the store's failed calls, and whether its last call answered (`None`
    /// before the first).
    pub shared: Option<(u64, Option<bool>)>,
}

/// The counts of configs no longer in use, kept so that counters never go back.
#[derive(Debug, Default, Clone)]
struct Retired {
    requests: BTreeMap<(String, &'static str), u64>,
    pulled: Pulled,
}

impl Metrics {
    /// An upstream request that failed (connect, TLS or protocol error: signet answered 502).
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A request replayed after the upstream's answer (a challenge or a refresh).
    pub fn challenge_replay(&self) {
        self.challenge_replays.fetch_add(1, Ordering::Relaxed);
    }

    /// A reload that took effect (`ok`) or was refused.
    pub fn reload(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The config in force is the one whose SHA-256 is `hash`, loaded at `at`.
    pub fn loaded(&self, hash: String, at: SystemTime) {
        let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        *lock(&self.loaded) = Some((hash, secs));
    }

    /// Keeps the requests that a config no longer in use counted.
    pub fn retire_requests(&self, requests: &RequestCounters) {
        requests.add_to(&mut lock(&self.retired).requests);
    }

    /// Keeps what was pulled from parts that a reload replaced (a leaf cache, token sources).
    pub fn retire_pulled(&self, pulled: Pulled) {
        let total = &mut lock(&self.retired).pulled;
        total.minted += pulled.minted;
        total.cache_hits += pulled.cache_hits;
        total.token_fetches += pulled.token_fetches;
    }

    /// The counters in the Prometheus text format: `current`'s requests and `pulled` (from
    /// the parts in use) added to what retired configs counted.
    pub fn render(&self, current: &RequestCounters, pulled: Pulled) -> String {
        let retired = lock(&self.retired).clone();
        let mut requests = retired.requests;
        current.add_to(&mut requests);
        let mut out = String::new();
        out.push_str(
            "# HELP signet_requests_total Requests handled, by host rule and auth type.\n",
        );
        out.push_str("# TYPE signet_requests_total counter\n");
        for ((rule, auth), n) in &requests {
            let _ = writeln!(
                out,
                "signet_requests_total{{rule=\"{}\",auth=\"{auth}\"}} {n}",
                escape(rule)
            );
        }
        self.render_reloads(&mut out);
        let pulled = Pulled {
            minted: pulled.minted + retired.pulled.minted,
            cache_hits: pulled.cache_hits + retired.pulled.cache_hits,
            token_fetches: pulled.token_fetches + retired.pulled.token_fetches,
            idle_connections: pulled.idle_connections,
            shared: pulled.shared,
        };
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
        if let Some((errors, up)) = pulled.shared {
            render_shared(&mut out, errors, up);
        }
        out
    }

    fn render_reloads(&self, out: &mut String) {
        out.push_str(
            "# HELP signet_config_reloads_total Config reloads, by result.\n\
             # TYPE signet_config_reloads_total counter\n",
        );
        for (result, counter) in [("ok", &self.reloads_ok), ("error", &self.reloads_failed)] {
            let n = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "signet_config_reloads_total{{result=\"{result}\"}} {n}"
            );
        }
        if let Some((hash, at)) = lock(&self.loaded).clone() {
            let _ = write!(
                out,
                "# HELP signet_config_info The config in force, by its SHA-256.\n\
                 # TYPE signet_config_info gauge\n\
                 signet_config_info{{sha256=\"{hash}\"}} 1\n\
                 # HELP signet_config_loaded_timestamp_seconds When the config in force was loaded.\n\
                 # TYPE signet_config_loaded_timestamp_seconds gauge\n\
                 signet_config_loaded_timestamp_seconds {at}\n"
            );
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Escapes a label value as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `[shared]`'s health: failed calls, and 1 while the store answers (absent before the first call).
fn render_shared(out: &mut String, errors: u64, up: Option<bool>) {
    let _ = write!(
        out,
        "# HELP signet_shared_store_errors_total Calls to the shared store that failed or timed \
         out.\n# TYPE signet_shared_store_errors_total counter\nsignet_shared_store_errors_total \
         {errors}\n"
    );
    if let Some(up) = up {
        let _ = write!(
            out,
            "# HELP signet_shared_store_up Whether the shared store answered its last call.\n\
             # TYPE signet_shared_store_up gauge\nsignet_shared_store_up {}\n",
            u8::from(up)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_and_plain_counters() {
        let m = Metrics::default();
        let requests = RequestCounters::new(
            vec!["host[0] (api.example.com)".into()],
            &["none", "bearer"],
        );
        requests.request(Some(0), 1);
        requests.request(Some(0), 1);
        requests.request(None, 0);
        m.upstream_error();
        let text = m.render(
            &requests,
            Pulled {
                minted: 2,
                cache_hits: 5,
                token_fetches: 3,
                idle_connections: 4,
                shared: Some((7, Some(false))),
            },
        );
        assert!(text.contains(
            "# TYPE signet_shared_store_errors_total counter\nsignet_shared_store_errors_total 7\n"
        ));
        assert!(text.contains("# TYPE signet_shared_store_up gauge\nsignet_shared_store_up 0\n"));
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
    fn counts_of_a_retired_config_are_kept_by_rule_label() {
        let m = Metrics::default();
        let types = &["none", "bearer"];
        let old = RequestCounters::new(vec!["host[0] (a.test)".into()], types);
        old.request(Some(0), 1);
        old.request(Some(0), 1);
        let retired = Pulled {
            minted: 1,
            cache_hits: 2,
            token_fetches: 3,
            idle_connections: 9,
            shared: None,
        };
        m.retire_requests(&old);
        m.retire_pulled(retired);
        let new = RequestCounters::new(
            vec!["host[0] (b.test)".into(), "host[1] (a.test)".into()],
            types,
        );
        new.request(Some(0), 1);
        m.reload(true);
        m.reload(false);
        m.reload(false);
        m.loaded(
            "ab12".into(),
            UNIX_EPOCH + std::time::Duration::from_secs(1700000000),
        );
        let now = Pulled {
            minted: 10,
            cache_hits: 20,
            token_fetches: 30,
            idle_connections: 4,
            shared: None,
        };
        let text = m.render(&new, now);
        assert!(!text.contains("signet_shared_store"));
        assert!(
            text.contains("signet_requests_total{rule=\"host[0] (a.test)\",auth=\"bearer\"} 2\n")
        );
        assert!(
            text.contains("signet_requests_total{rule=\"host[0] (b.test)\",auth=\"bearer\"} 1\n")
        );
        assert!(text.contains("signet_leaf_certs_minted_total 11\n"));
        assert!(text.contains("signet_leaf_cache_hits_total 22\n"));
        assert!(text.contains("signet_token_fetches_total 33\n"));
        assert!(text.contains("signet_upstream_idle_connections 4\n"));
        assert!(text.contains("signet_config_reloads_total{result=\"ok\"} 1\n"));
        assert!(text.contains("signet_config_reloads_total{result=\"error\"} 2\n"));
        assert!(text.contains("signet_config_info{sha256=\"ab12\"} 1\n"));
        assert!(text.contains("signet_config_loaded_timestamp_seconds 1700000000\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
