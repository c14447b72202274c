//! What applies to a request, built once from the config: host rules with their auth schemes
//! (and the OAuth 2.0 token sources behind them), the upstream TLS profile of each rule (its
//! files loaded), the egress policy and the interception mode. The proxy, `explain`, `sign` and `check` share it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;

use crate::auth::{BuildContext, BuildError, Scheme};
use crate::aws::{AwsSources, Env};
use crate::config::{
    AuthChoice, AuthSpec, AuthTables, Config, ConfigError, HostTls, Intercept, KeyPath,
    RouteConfig, Segment,
};
use crate::net::Dialer;
use crate::oauth2::{Sources, TokenSource};
use crate::rules::{
    Decision, Destination, EgressPolicy, HostPattern, HostRule, PathGlob, Route, RouteAuth,
    RuleError, RuleTable,
};
use crate::shared::SharedStore;
use crate::tls::{
    ClientIdentity, TlsError, TlsProfile, TlsProfileId, read_certs, read_client_key,
    read_trust_anchors,
};

/// The rules in force.
#[derive(Debug)]
pub struct Policy {
    /// Host rules in config order.
    pub table: RuleTable<Arc<Scheme>>,
    /// `[proxy] allow` / `deny`.
    pub egress: EgressPolicy,
    /// `[proxy] intercept`.
    pub intercept: Intercept,
    /// Named profiles, built (for `check`); `None` for `type = "none"`.
    pub profiles: BTreeMap<String, Option<Arc<Scheme>>>,
    /// Per rule, the upstream TLS profile that serves it.
    tls: Vec<TlsProfileId>,
    /// The `[host.tls]` tables, loaded, in [`TlsProfileId`] order from 1.
    tls_profiles: Vec<TlsProfile>,
    /// The token sources of every `oauth2` table, by profile name or key path.
    sources: NamedSources,
    /// Every scheme, by profile name or key path, and the tables they were built from: what a
    /// reload carries over.
    built: BTreeMap<String, Arc<Scheme>>,
    settings: AuthTables,
    none: Scheme,
    /// `[shared]`: where tokens and cookies are shared with other instances.
    shared: Option<Arc<SharedStore>>,
}

/// One OAuth 2.0 profile's token as a person may see it: when it expires, what it grants and
/// when it was last stored (fetched, refreshed or logged in), never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenState {
    /// The profile name, or the key path of an inline table.
    pub name: String,
    /// The grant type.
    pub grant: &'static str,
    /// Whether a token is held.
    pub has_token: bool,
    /// When it expires, when the server said.
    pub expires_at: Option<std::time::SystemTime>,
    /// The scopes it grants.
    pub scopes: Vec<String>,
    /// Whether a refresh token is held too.
    pub refresh_token: bool,
    /// Whether the API rejected the token.
    pub rejected: bool,
    /// When the token store was last written.
    pub stored_at: Option<std::time::SystemTime>,
    /// Why the store could not be read.
    pub error: Option<String>,
}

/// Token sources by profile name or key path.
type NamedSources = Vec<(String, Arc<TokenSource>)>;

/// The schemes under construction: the token sources they ask for and, on a reload, the
/// policy whose schemes carry over where their settings did not change.
struct Building<'a> {
    sources: Sources,
    aws: AwsSources,
    previous: Option<&'a Policy>,
    built: RefCell<BTreeMap<String, Arc<Scheme>>>,
    /// The names whose scheme (and token source) came from `previous`.
    carried: RefCell<Vec<String>>,
}

impl Policy {
    /// Compiles patterns and globs and builds every auth scheme, with token requests going out
    /// through `dialer`. Rule `N` with a `[host.tls]` table gets its own upstream TLS profile,
    /// numbered from 1 in config order; 0 is the default.
    pub fn with_dialer(config: &Config, dialer: &Dialer) -> Result<Policy, ConfigError> {
        Self::succeeding(config, dialer, None)
    }

    /// As [`Policy::with_dialer`], for a reload: every scheme is built (so that the new config
    /// is checked as a whole), and then, where its settings are those it had in `previous`,
    /// the previous one is kept, with its tokens, Digest state and NTLM connections.
    pub fn succeeding(
        config: &Config,
        dialer: &Dialer,
        previous: Option<&Policy>,
    ) -> Result<Policy, ConfigError> {
        let shared = shared_store(config, previous)?;
        let sources = Sources::new(dialer.clone(), config.proxy.limits().token_request)
            .sharing(shared.clone());
        let aws = AwsSources::new(
            dialer.clone(),
            config.proxy.limits().token_request,
            Env::process(),
        );
        // A token source keeps the shared store it was built with: when `[shared]` changed, no
        // scheme carries over.
        let same_shared =
            |p: &&Policy| p.shared.as_ref().map(|s| s.settings()) == config.shared.as_ref();
        let building = Building::new(sources, aws, previous.filter(same_shared));
        let mut profiles = BTreeMap::new();
        for (name, spec) in &config.profiles {
            let path = KeyPath::default().key("auth").key(name);
            profiles.insert(name.clone(), build_scheme(config, spec, &path, &building)?);
        }

        let mut rules = Vec::with_capacity(config.hosts.len());
        let (mut tls, mut tls_profiles) = (Vec::new(), Vec::new());
        for (index, host) in config.hosts.iter().enumerate() {
            let mut patterns = Vec::with_capacity(host.patterns.len());
            for (i, p) in host.patterns.iter().enumerate() {
                let pattern = HostPattern::parse(p)
                    .map_err(|e| config.error(&host.path.key("match").index(i), e.to_string()))?;
                patterns.push(pattern);
            }
            let auth = resolve(
                config,
                &profiles,
                &host.auth,
                &host.path.key("auth"),
                &building,
            )?
            .unwrap_or(None);
            let routes = build_routes(config, &profiles, &host.routes, &building)?;
            tls.push(match &host.tls {
                Some(table) => {
                    tls_profiles.push(load_tls(config, table, &host.path.key("tls"))?);
                    TlsProfileId(tls_profiles.len())
                }
                None => TlsProfileId::DEFAULT,
            });
            rules.push(HostRule {
                index,
                name: host.name.as_str().into(),
                patterns,
                auth,
                routes,
            });
        }

        let egress = egress(config)?;
        let (sources, built) = building.finish();
        Ok(Policy {
            table: RuleTable::new(rules),
            egress,
            intercept: config.proxy.intercept,
            profiles,
            tls,
            tls_profiles,
            sources,
            built,
            settings: config.auth_tables.clone(),
            none: Scheme::none(),
            shared,
        })
    }

    /// The shared store of `[shared]`, if any.
    pub fn shared(&self) -> Option<&Arc<SharedStore>> {
        self.shared.as_ref()
    }

    /// The profiles (by name or key path) whose scheme is the same object in `previous`: those
    /// a reload carried over.
    pub fn carried_from(&self, previous: &Policy) -> Vec<&str> {
        let carried = self.built.iter().filter(|(name, scheme)| {
            previous
                .built
                .get(*name)
                .is_some_and(|old| Arc::ptr_eq(old, scheme))
        });
        carried.map(|(name, _)| name.as_str()).collect()
    }

    /// The rule, route and auth for a request (see [`RuleTable::decide`]).
    pub fn decide(
        &self,
        dest: &Destination,
        method: &Method,
        path: &str,
    ) -> Result<Option<Decision<'_, Arc<Scheme>>>, RuleError> {
        self.table.decide(dest, method, path)
    }

    /// The scheme a decision applies: the rule's, or the one that adds nothing.
    pub fn scheme<'a>(&'a self, decision: Option<&Decision<'a, Arc<Scheme>>>) -> &'a Scheme {
        decision.and_then(|d| d.auth).map_or(&self.none, |s| s)
    }

    /// The upstream TLS profile serving `rule` (the default without a rule).
    pub fn tls_profile(&self, rule: Option<&HostRule<Arc<Scheme>>>) -> TlsProfileId {
        rule.and_then(|r| self.tls.get(r.index))
            .copied()
            .unwrap_or_default()
    }

    /// The `[host.tls]` tables, loaded, the first being [`TlsProfileId`] 1.
    pub fn tls_profiles(&self) -> &[TlsProfile] {
        &self.tls_profiles
    }

    /// The token source of the `oauth2` profile `name`.
    pub fn token_source(&self, name: &str) -> Option<&Arc<TokenSource>> {
        self.sources
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, source)| source)
    }

    /// Each OAuth 2.0 profile's token state, by name, for the admin page: never a token.
    pub fn token_states(&self) -> Vec<TokenState> {
        self.sources
            .iter()
            .map(|(name, source)| {
                let stored_at = std::fs::metadata(source.store().path())
                    .and_then(|m| m.modified())
                    .ok();
                let (token, rejected, error) = match source.status() {
                    Ok(status) => (status.token, status.rejected, None),
                    Err(e) => (None, false, Some(e.to_string())),
                };
                TokenState {
                    name: name.clone(),
                    grant: source.settings().grant.name(),
                    has_token: token.is_some(),
                    expires_at: token.as_ref().and_then(|t| t.expires_at),
                    scopes: token.as_ref().map(|t| t.scopes.clone()).unwrap_or_default(),
                    refresh_token: token.as_ref().is_some_and(|t| t.refresh_token.is_some()),
                    rejected,
                    stored_at,
                    error,
                }
            })
            .collect()
    }

    /// Every auth scheme in force, each once (profiles, and inline tables of hosts and routes).
    pub fn schemes(&self) -> Vec<&Arc<Scheme>> {
        let profiles = self.profiles.values().flatten();
        let rules = self.table.rules().iter().flat_map(|rule| {
            let routes = rule.routes.iter().filter_map(|route| match &route.auth {
                RouteAuth::Set(auth) => auth.as_ref(),
                RouteAuth::Inherit => None,
            });
            rule.auth.iter().chain(routes)
        });
        let mut seen: Vec<&Arc<Scheme>> = Vec::new();
        for scheme in profiles.chain(rules) {
            if !seen.iter().any(|s| Arc::ptr_eq(s, scheme)) {
                seen.push(scheme);
            }
        }
        seen
    }

    /// Each OAuth 2.0 token source's name, requests by outcome (`[fetch ok, fetch error,
    /// refresh ok, refresh error]`) and token expiry (Unix seconds), for `/metrics`.
    pub fn token_metrics(&self) -> Vec<TokenMetrics> {
        self.sources
            .iter()
            .map(|(name, source)| profile_tokens(name, source))
            .collect()
    }

    /// As [`Policy::token_metrics`], for the sources that `next` does not share.
    pub fn token_metrics_not_in(&self, next: &Policy) -> Vec<TokenMetrics> {
        self.sources
            .iter()
            .filter(|(_, source)| !next.sources.iter().any(|(_, s)| Arc::ptr_eq(s, source)))
            .map(|(name, source)| profile_tokens(name, source))
            .collect()
    }

    /// Token requests sent by every OAuth 2.0 scheme so far.
    pub fn token_requests_sent(&self) -> u64 {
        self.sources.iter().map(|(_, s)| s.requests_sent()).sum()
    }

    /// Waits, for at most `within` in all, until every token store has what was saved to it.
    /// For a stop: not for a runtime thread.
    pub fn flush_token_stores(&self, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        for (name, source) in &self.sources {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if !source.store().flush(left) {
                tracing::warn!(profile = %name, "a token save did not finish before the stop");
            }
        }
    }

    /// Token requests sent by the token sources that `next` does not share.
    pub fn token_requests_not_in(&self, next: &Policy) -> u64 {
        let gone = self
            .sources
            .iter()
            .filter(|(_, source)| !next.sources.iter().any(|(_, s)| Arc::ptr_eq(s, source)));
        gone.map(|(_, s)| s.requests_sent()).sum()
    }

    /// Whether a CONNECT to `host:port` is intercepted (TLS terminated) rather than tunnelled.
    pub fn intercepts(&self, dest: &Destination) -> bool {
        match self.intercept {
            Intercept::All => true,
            Intercept::None => false,
            Intercept::Rules => self.table.find(dest).is_some(),
        }
    }
}

/// Reads and checks the files of the `[host.tls]` table at `path`, so that `check` refuses what
/// the proxy would; each error names the key whose file (or passphrase) is at fault.
fn load_tls(config: &Config, table: &HostTls, path: &KeyPath) -> Result<TlsProfile, ConfigError> {
    let at = |key: &str, e: TlsError| {
        let key = match e {
            TlsError::WrongPassphrase { .. } => "passphrase",
            _ => key,
        };
        config.error(&path.key(key), e.to_string())
    };
    let passphrase = table.passphrase.as_ref().map(|p| p.expose());
    let extra_roots = match &table.ca {
        Some(ca) => read_trust_anchors(ca).map_err(|e| at("ca", e))?,
        None => Vec::new(),
    };
    let identity = match (&table.pfx, &table.client_cert, &table.client_key) {
        (Some(pfx), _, _) => {
            Some(ClientIdentity::from_pfx(pfx, passphrase).map_err(|e| at("pfx", e))?)
        }
        (None, Some(cert), Some(key)) => {
            let chain = read_certs(cert).map_err(|e| at("client_cert", e))?;
            let key_der = read_client_key(key, passphrase).map_err(|e| at("client_key", e))?;
            let identity = ClientIdentity::new(chain, key_der, cert, key).map_err(|e| match e {
                TlsError::Certificate { .. } => at("client_cert", e),
                e => at("client_key", e),
            })?;
            Some(identity)
        }
        _ => None,
    };
    Ok(TlsProfile {
        extra_roots,
        identity,
    })
}

/// `[proxy] allow` and `deny`; a bad entry is reported at its own key and index.
fn egress(config: &Config) -> Result<EgressPolicy, ConfigError> {
    let (allow, deny) = (&config.proxy.allow, &config.proxy.deny);
    for (key, list) in [("allow", allow), ("deny", deny)] {
        for (i, entry) in list.iter().enumerate() {
            if let Err(e) = EgressPolicy::new(std::slice::from_ref(entry), &[]) {
                let path = KeyPath::default().key("proxy").key(key).index(i);
                return Err(config.error(&path, e.to_string()));
            }
        }
    }
    EgressPolicy::new(allow, deny)
        .map_err(|e| config.error(&KeyPath::default().key("proxy"), e.to_string()))
}

impl<'a> Building<'a> {
    fn new(sources: Sources, aws: AwsSources, previous: Option<&'a Policy>) -> Self {
        Building {
            sources,
            aws,
            previous,
            built: RefCell::default(),
            carried: RefCell::default(),
        }
    }

    /// The scheme `name` of `previous`, when `config` builds it from the same settings.
    fn carry(&self, config: &Config, name: &str) -> Option<Arc<Scheme>> {
        let previous = self.previous?;
        if !config.auth_tables.unchanged(&previous.settings, name) {
            return None;
        }
        let scheme = previous.built.get(name)?.clone();
        self.carried.borrow_mut().push(name.to_owned());
        Some(scheme)
    }

    /// The token sources (the previous ones for carried schemes) and the schemes by name.
    fn finish(self) -> (NamedSources, BTreeMap<String, Arc<Scheme>>) {
        let carried = self.carried.into_inner();
        let mut sources = self.sources.into_built();
        if let Some(previous) = self.previous {
            for (name, source) in &mut sources {
                match previous.token_source(name) {
                    Some(old) if carried.contains(name) => *source = old.clone(),
                    // A profile that changed: the store holds what the old settings got.
                    Some(_) => source.disown_stored(),
                    // A new one starts as at start-up.
                    None => {}
                }
            }
        }
        (sources, self.built.into_inner())
    }
}

/// The `[[host.route]]` entries of one rule: path globs, methods and auth.
fn build_routes(
    config: &Config,
    profiles: &BTreeMap<String, Option<Arc<Scheme>>>,
    entries: &[RouteConfig],
    building: &Building<'_>,
) -> Result<Vec<Route<Arc<Scheme>>>, ConfigError> {
    let mut routes = Vec::with_capacity(entries.len());
    for route in entries {
        let path = match &route.path {
            Some(glob) => Some(
                PathGlob::parse(glob)
                    .map_err(|e| config.error(&route.key_path.key("path"), e.to_string()))?,
            ),
            None => None,
        };
        let methods = match &route.methods {
            Some(ms) => {
                let mut parsed = Vec::with_capacity(ms.len());
                for (i, m) in ms.iter().enumerate() {
                    let method = Method::from_bytes(m.as_bytes()).map_err(|_| {
                        config.error(
                            &route.key_path.key("methods").index(i),
                            format!("{m:?} is not an HTTP method"),
                        )
                    })?;
                    parsed.push(method);
                }
                Some(parsed)
            }
            None => None,
        };
        let at = route.key_path.key("auth");
        let auth = match resolve(config, profiles, &route.auth, &at, building)? {
            None => RouteAuth::Inherit,
            Some(auth) => RouteAuth::Set(auth),
        };
        routes.push(Route {
            path,
            methods,
            auth,
        });
    }
    Ok(routes)
}

fn build_scheme(
    config: &Config,
    spec: &AuthSpec,
    path: &KeyPath,
    building: &Building<'_>,
) -> Result<Option<Arc<Scheme>>, ConfigError> {
    if matches!(spec, AuthSpec::None(_)) {
        return Ok(None);
    }
    let name = match path.0.as_slice() {
        [Segment::Key(auth), Segment::Key(name)] if auth == "auth" => name.clone(),
        _ => path.to_string(),
    };
    let bx = BuildContext {
        name: &name,
        base_dir: &config.base_dir,
        tokens: &building.sources,
        aws: &building.aws,
    };
    // Built even when it carries over: the new config is checked as a whole.
    let fresh = Scheme::build(spec, &bx).map_err(|BuildError { key, reason }| {
        let at = match key {
            Some(key) => path.key(key),
            None => path.clone(),
        };
        config.error(&at, reason)
    })?;
    let scheme = building
        .carry(config, &name)
        .unwrap_or_else(|| Arc::new(fresh));
    building.built.borrow_mut().insert(name, scheme.clone());
    Ok(Some(scheme))
}

/// `Ok(None)` for "inherit"; `Ok(Some(None))` for no auth.
fn resolve(
    config: &Config,
    profiles: &BTreeMap<String, Option<Arc<Scheme>>>,
    choice: &AuthChoice,
    path: &KeyPath,
    building: &Building<'_>,
) -> Result<Option<Option<Arc<Scheme>>>, ConfigError> {
    Ok(match choice {
        AuthChoice::Inherit => None,
        AuthChoice::None => Some(None),
        AuthChoice::Profile(name) => Some(profiles.get(name).cloned().flatten()),
        AuthChoice::Inline(spec) => Some(build_scheme(config, spec, path, building)?),
    })
}

/// A token source's name, requests by outcome and token expiry (see [`Policy::token_metrics`]).
pub type TokenMetrics = (String, [u64; 4], Option<u64>);

fn profile_tokens(name: &str, source: &TokenSource) -> TokenMetrics {
    let expires_at = source
        .expires_at()
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    (name.to_owned(), source.outcomes(), expires_at)
}

/// The store of `[shared]`: the previous one while its settings are the same (its connection
/// and counters go on), else a new one.
fn shared_store(
    config: &Config,
    previous: Option<&Policy>,
) -> Result<Option<Arc<SharedStore>>, ConfigError> {
    let Some(settings) = &config.shared else {
        return Ok(None);
    };
    if let Some(kept) = previous.and_then(|p| p.shared.as_ref())
        && kept.settings() == settings
    {
        return Ok(Some(kept.clone()));
    }
    let path = KeyPath::default().key("shared").key("redis");
    let store =
        SharedStore::new(settings.clone()).map_err(|e| config.error(&path, e.to_string()))?;
    Ok(Some(Arc::new(store)))
}
