//! Counters for `/metrics`, rendered in the Prometheus text format (0.0.4). Plain atomics: a
//! metrics crate would add a registry and label lookups for the handful of series signet keeps,
//! and counting a request must not take a lock or allocate on the hot path. Names follow
//! Prometheus conventions: base units (seconds), `_total` for counters.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The status classes requests are counted by.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Requests by host rule, auth type and status class, for the rules of one loaded config. Each
/// reload brings its own; the counts of one no longer in use are kept in [`Metrics`] by rule
/// name.
#[derive(Debug, Default)]
pub struct RequestCounters {
    /// Rule names, in rule order; requests under no rule are counted after the last one.
    rules: Vec<String>,
    /// The auth type names a request can be counted under, by index.
    auth_types: &'static [&'static str],
    /// One counter per (rule or no rule, auth type, status class).
    requests: Vec<AtomicU64>,
}

/// Totals by (rule, auth type, status class).
type RequestTotals = BTreeMap<(String, &'static str, &'static str), u64>;

impl RequestCounters {
    /// Counters for host rules named `rules`, in order, and the auth types `auth_types`.
    pub fn new(rules: Vec<String>, auth_types: &'static [&'static str]) -> Self {
        let slots = (rules.len() + 1) * auth_types.len() * STATUS_CLASSES.len();
        RequestCounters {
            rules,
            auth_types,
            requests: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// A request answered with `status` under host rule `rule` (`None`: no rule) with the auth
    /// type at index `auth` of the names given to [`RequestCounters::new`].
    pub fn request(&self, rule: Option<usize>, auth: usize, status: u16) {
        let row = rule.unwrap_or(self.rules.len()).min(self.rules.len());
        let column = auth.min(self.auth_types.len().saturating_sub(1));
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let slot = (row * self.auth_types.len() + column) * STATUS_CLASSES.len() + class;
        if let Some(counter) = self.requests.get(slot) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds the counts to `totals`.
    fn add_to(&self, totals: &mut RequestTotals) {
        let classes = STATUS_CLASSES.len();
        for (slot, counter) in self.requests.iter().enumerate() {
            let n = counter.load(Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            let (cell, class) = (slot / classes, slot % classes);
            let (row, column) = (cell / self.auth_types.len(), cell % self.auth_types.len());
            let rule = self.rules.get(row).map_or("no rule", String::as_str);
            let auth = self.auth_types.get(column).copied().unwrap_or("none");
            let class = STATUS_CLASSES.get(class).copied().unwrap_or("5xx");
            *totals.entry((rule.to_owned(), auth, class)).or_default() += n;
        }
    }
}

/// Which side of signet a TLS handshake failed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A client inside an intercepted tunnel (often: it does not trust signet's CA).
    Client,
    /// An origin.
    Upstream,
}

/// What is open now, counted by [`Open`] guards.
#[derive(Debug, Clone, Copy)]
pub enum Gauge {
    /// Client connections to the proxy port and gateways.
    ClientConnections,
    /// CONNECT tunnels, blind or intercepted.
    Tunnels,
}

/// Holds one unit of a gauge until dropped.
#[derive(Debug)]
pub struct Open {
    metrics: Arc<Metrics>,
    gauge: Gauge,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.metrics
            .gauge(self.gauge)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Upper bounds of the upstream latency histogram, in microseconds (rendered in seconds).
const LATENCY_BOUNDS_US: [u64; 12] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    10_000_000,
];

/// A fixed-bucket histogram: one counter per bucket (not cumulative until rendered), a count
/// and a sum.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if let Some(at) = LATENCY_BOUNDS_US.iter().position(|&bound| us <= bound)
            && let Some(bucket) = self.buckets.get(at)
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BOUNDS_US.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = *bound as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}\n"
        );
    }
}

/// At most this many auth schemes are counted by scheme.
const MAX_SCHEMES: usize = 32;

/// The proxy's counters, over every config it has loaded.
#[derive(Debug, Default)]
pub struct Metrics {
    upstream_errors: AtomicU64,
    challenge_replays: [AtomicU64; MAX_SCHEMES],
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    egress_refused: AtomicU64,
    proxy_auth_required: AtomicU64,
    tls_failures: [AtomicU64; 2],
    client_connections: AtomicI64,
    tunnels: AtomicI64,
    upstream_latency: Histogram,
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

/// One OAuth 2.0 profile's token requests and token, read when rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileTokens {
    /// The profile (or inline table) name.
    pub profile: String,
    /// Token requests by (kind, result): `[fetch ok, fetch error, refresh ok, refresh error]`.
    pub requests: [u64; 4],
    /// When the token in memory expires (Unix seconds), if it says.
    pub expires_at: Option<u64>,
}

/// The counts of configs no longer in use, kept so that counters never go back.
#[derive(Debug, Default, Clone)]
struct Retired {
    requests: RequestTotals,
    pulled: Pulled,
    tokens: BTreeMap<String, [u64; 4]>,
}

/// What one rendering reads besides the counters themselves.
pub struct Scrape<'a> {
    /// The request counters of the config in force.
    pub requests: &'a RequestCounters,
    /// What the parts in use counted.
    pub pulled: Pulled,
    /// The token sources in use.
    pub tokens: &'a [ProfileTokens],
    /// The auth type names, in scheme index order.
    pub schemes: &'a [&'a str],
}

impl Metrics {
    /// An upstream request that failed (connect, TLS or protocol error: signet answered 502).
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// How long an upstream took to answer with a response head.
    pub fn upstream_latency(&self, took: Duration) {
        self.upstream_latency.observe(took);
    }

    /// A request replayed after the upstream's answer (a challenge or a refresh), under the
    /// scheme at index `scheme`.
    pub fn challenge_replay(&self, scheme: usize) {
        if let Some(counter) = self.challenge_replays.get(scheme) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A destination refused by `[proxy] allow`/`deny`.
    pub fn egress_refused(&self) {
        self.egress_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A 407 for missing or wrong `[proxy] client_auth` credentials.
    pub fn proxy_auth_required(&self) {
        self.proxy_auth_required.fetch_add(1, Ordering::Relaxed);
    }

    /// A TLS handshake that failed with `side`.
    pub fn tls_handshake_failed(&self, side: Side) {
        self.tls_failures[side as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn gauge(&self, gauge: Gauge) -> &AtomicI64 {
        match gauge {
            Gauge::ClientConnections => &self.client_connections,
            Gauge::Tunnels => &self.tunnels,
        }
    }

    /// One more of `gauge`, until the guard is dropped.
    pub fn open(self: &Arc<Self>, gauge: Gauge) -> Open {
        self.gauge(gauge).fetch_add(1, Ordering::Relaxed);
        Open {
            metrics: self.clone(),
            gauge,
        }
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
    pub fn retire_pulled(&self, pulled: Pulled, tokens: &[ProfileTokens]) {
        let mut retired = lock(&self.retired);
        let total = &mut retired.pulled;
        total.minted += pulled.minted;
        total.cache_hits += pulled.cache_hits;
        total.token_fetches += pulled.token_fetches;
        for gone in tokens {
            let kept = retired.tokens.entry(gone.profile.clone()).or_default();
            for (kept, n) in kept.iter_mut().zip(gone.requests) {
                *kept += n;
            }
        }
    }

    /// The counters in the Prometheus text format: what `scrape` reads from the parts in use
    /// added to what retired configs counted.
    pub fn render(&self, scrape: &Scrape<'_>) -> String {
        let retired = lock(&self.retired).clone();
        let mut out = String::new();
        help(&mut out, "signet_build_info", "gauge", "signet's version.");
        let version = env!("CARGO_PKG_VERSION");
        let _ = writeln!(out, "signet_build_info{{version=\"{version}\"}} 1");
        let mut requests = retired.requests;
        scrape.requests.add_to(&mut requests);
        out.push_str(
            "# HELP signet_requests_total Requests answered, by host rule, auth type and status \
             class.\n# TYPE signet_requests_total counter\n",
        );
        for ((rule, auth, class), n) in &requests {
            let _ = writeln!(
                out,
                "signet_requests_total{{rule=\"{}\",auth=\"{auth}\",status=\"{class}\"}} {n}",
                escape(rule)
            );
        }
        self.upstream_latency.render(
            &mut out,
            "signet_upstream_response_seconds",
            "Time from sending a request upstream to its response head.",
        );
        self.render_gauges(&mut out);
        self.render_refusals(&mut out, scrape.schemes);
        render_tokens(&mut out, &retired.tokens, scrape.tokens);
        self.render_reloads(&mut out);
        let pulled = Pulled {
            minted: scrape.pulled.minted + retired.pulled.minted,
            cache_hits: scrape.pulled.cache_hits + retired.pulled.cache_hits,
            token_fetches: scrape.pulled.token_fetches + retired.pulled.token_fetches,
            idle_connections: scrape.pulled.idle_connections,
            shared: scrape.pulled.shared,
        };
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            );
        };
        counter(
            "signet_token_fetches_total",
            "Token requests sent to token endpoints.",
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

    fn render_gauges(&self, out: &mut String) {
        let connections = self.client_connections.load(Ordering::Relaxed).max(0);
        let tunnels = self.tunnels.load(Ordering::Relaxed).max(0);
        let _ = write!(
            out,
            "# HELP signet_client_connections Client connections open.\n\
             # TYPE signet_client_connections gauge\nsignet_client_connections {connections}\n\
             # HELP signet_tunnels CONNECT tunnels open, blind or intercepted.\n\
             # TYPE signet_tunnels gauge\nsignet_tunnels {tunnels}\n"
        );
    }

    fn render_refusals(&self, out: &mut String, schemes: &[&str]) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let plain = [
            (
                "signet_upstream_errors_total",
                "Upstream requests that failed (signet answered 502 or 504).",
                &self.upstream_errors,
            ),
            (
                "signet_egress_refusals_total",
                "Requests and tunnels refused by [proxy] allow/deny.",
                &self.egress_refused,
            ),
            (
                "signet_proxy_auth_required_total",
                "407 answers for missing or wrong [proxy] client_auth credentials.",
                &self.proxy_auth_required,
            ),
        ];
        for (name, text, counter) in plain {
            help(out, name, "counter", text);
            let _ = writeln!(out, "{name} {}", load(counter));
        }
        let name = "signet_tls_handshake_failures_total";
        help(out, name, "counter", "TLS handshakes that failed, by side.");
        for (side, counter) in ["client", "upstream"].iter().zip(&self.tls_failures) {
            let _ = writeln!(out, "{name}{{side=\"{side}\"}} {}", load(counter));
        }
        let name = "signet_challenge_replays_total";
        let text = "Requests signed again and replayed once after the upstream's answer (a \
                    challenge, a rejected token), by auth type.";
        help(out, name, "counter", text);
        for (scheme, counter) in schemes.iter().zip(&self.challenge_replays) {
            let n = load(counter);
            if n > 0 {
                let _ = writeln!(out, "{name}{{auth=\"{scheme}\"}} {n}");
            }
        }
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

/// Token requests by profile, kind and result; each token's expiry.
fn render_tokens(
    out: &mut String,
    retired: &BTreeMap<String, [u64; 4]>,
    current: &[ProfileTokens],
) {
    let mut totals = retired.clone();
    for profile in current {
        let sum = totals.entry(profile.profile.clone()).or_default();
        for (sum, n) in sum.iter_mut().zip(profile.requests) {
            *sum += n;
        }
    }
    out.push_str(
        "# HELP signet_token_requests_total OAuth 2.0 token requests, by profile, kind (fetch, \
         refresh) and result.\n# TYPE signet_token_requests_total counter\n",
    );
    let kinds = [
        ("fetch", "ok"),
        ("fetch", "error"),
        ("refresh", "ok"),
        ("refresh", "error"),
    ];
    for (profile, counts) in &totals {
        for ((kind, result), n) in kinds.iter().zip(counts) {
            let _ = writeln!(
                out,
                "signet_token_requests_total{{profile=\"{}\",kind=\"{kind}\",result=\"{result}\"}} {n}",
                escape(profile)
            );
        }
    }
    out.push_str(
        "# HELP signet_token_expiry_timestamp_seconds When each OAuth 2.0 profile's current \
         token expires.\n# TYPE signet_token_expiry_timestamp_seconds gauge\n",
    );
    for profile in current {
        if let Some(at) = profile.expires_at {
            let _ = writeln!(
                out,
                "signet_token_expiry_timestamp_seconds{{profile=\"{}\"}} {at}",
                escape(&profile.profile)
            );
        }
    }
}

/// The `# HELP` and `# TYPE` lines of a metric.
fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
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
#[path = "metrics_tests.rs"]
mod tests;
