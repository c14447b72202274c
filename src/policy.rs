//! What applies to a request, built once from the config: host rules with their auth schemes,
//! the egress policy and the interception mode. The proxy, `explain`, `sign` and `check` share it.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;

use crate::auth::{BuildContext, OsEntropy, Scheme, SystemClock};
use crate::config::{AuthChoice, AuthSpec, Config, ConfigError, Intercept, KeyPath, Segment};
use crate::proxy::upstream::Dialer;
use crate::rules::{
    Destination, EgressPolicy, HostPattern, HostRule, PathGlob, Route, RouteAuth, RuleTable,
};

/// The rules in force.
#[derive(Debug)]
pub struct Policy {
    /// Host rules in config order.
    pub table: RuleTable,
    /// `[proxy] allow` / `deny`.
    pub egress: EgressPolicy,
    /// `[proxy] intercept`.
    pub intercept: Intercept,
    /// Named profiles, built (for `check`).
    pub profiles: BTreeMap<String, Option<Arc<Scheme>>>,
}

impl Policy {
    /// Compiles patterns and globs and builds every auth scheme. Rule `N` with a `[host.tls]`
    /// table gets its own upstream profile, numbered from 1 in config order; 0 is the default.
    /// Token requests go out as the proxy's would (through `[proxy] upstream_proxy`, whose
    /// settings are checked here), with the system clock and random source.
    pub fn from_config(config: &Config) -> Result<Policy, ConfigError> {
        let dialer = crate::proxy::dialer(config, Arc::new(SystemClock), Arc::new(OsEntropy))?;
        Self::with_dialer(config, &dialer)
    }

    /// As [`Policy::from_config`], with token requests going out through `dialer`.
    pub fn with_dialer(config: &Config, dialer: &Dialer) -> Result<Policy, ConfigError> {
        let mut profiles = BTreeMap::new();
        for (name, spec) in &config.profiles {
            let path = KeyPath::default().key("auth").key(name);
            profiles.insert(name.clone(), build_scheme(config, spec, &path, dialer)?);
        }

        let mut rules = Vec::with_capacity(config.hosts.len());
        let mut tls_profiles = 0;
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
                dialer,
            )?
            .unwrap_or(None);
            let mut routes = Vec::with_capacity(host.routes.len());
            for route in &host.routes {
                let path =
                    match &route.path {
                        Some(glob) => Some(PathGlob::parse(glob).map_err(|e| {
                            config.error(&route.key_path.key("path"), e.to_string())
                        })?),
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
                let auth = match resolve(config, &profiles, &route.auth, &at, dialer)? {
                    None => RouteAuth::Inherit,
                    Some(auth) => RouteAuth::Set(auth),
                };
                routes.push(Route {
                    path,
                    methods,
                    auth,
                });
            }
            let upstream = if host.tls.is_some() {
                tls_profiles += 1;
                tls_profiles
            } else {
                0
            };
            rules.push(HostRule {
                index,
                patterns,
                auth,
                routes,
                upstream,
            });
        }

        let egress = EgressPolicy::new(&config.proxy.allow, &config.proxy.deny).map_err(|e| {
            config.error(&KeyPath::default().key("proxy").key("allow"), e.to_string())
        })?;
        Ok(Policy {
            table: RuleTable::new(rules),
            egress,
            intercept: config.proxy.intercept,
            profiles,
        })
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

    /// Token requests sent by every OAuth 2.0 scheme so far.
    pub fn token_requests_sent(&self) -> u64 {
        self.schemes()
            .into_iter()
            .filter_map(|s| match s.as_ref() {
                Scheme::OAuth2(o) => Some(o.source().requests_sent()),
                _ => None,
            })
            .sum()
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

fn build_scheme(
    config: &Config,
    spec: &AuthSpec,
    path: &KeyPath,
    dialer: &Dialer,
) -> Result<Option<Arc<Scheme>>, ConfigError> {
    let name = match path.0.as_slice() {
        [Segment::Key(auth), Segment::Key(name)] if auth == "auth" => name.clone(),
        _ => path.to_string(),
    };
    let bx = BuildContext {
        name: &name,
        base_dir: &config.base_dir,
        dialer,
    };
    Scheme::build(spec, bx)
        .map(|s| s.map(Arc::new))
        .map_err(|message| {
            let message = message
                .strip_prefix(&format!("{}: ", spec.type_name()))
                .unwrap_or(&message)
                .to_owned();
            let at = match offending_key(&message) {
                Some(key) => path.key(&key),
                None => path.clone(),
            };
            config.error(&at, message)
        })
}

/// The key a scheme's error names: "key: reason" or a backticked `key` in the text.
fn offending_key(message: &str) -> Option<String> {
    if let Some((key, _)) = message.split_once(": ")
        && !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return Some(key.to_owned());
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// `Ok(None)` for "inherit"; `Ok(Some(None))` for no auth.
fn resolve(
    config: &Config,
    profiles: &BTreeMap<String, Option<Arc<Scheme>>>,
    choice: &AuthChoice,
    path: &KeyPath,
    dialer: &Dialer,
) -> Result<Option<Option<Arc<Scheme>>>, ConfigError> {
    Ok(match choice {
        AuthChoice::Inherit => None,
        AuthChoice::None => Some(None),
        AuthChoice::Profile(name) => Some(profiles.get(name).cloned().flatten()),
        AuthChoice::Inline(spec) => Some(build_scheme(config, spec, path, dialer)?),
    })
}

#[cfg(test)]
mod tests {
    use super::offending_key;

    #[test]
    fn finds_the_key_a_scheme_error_names() {
        assert_eq!(
            offending_key("token: has a newline").as_deref(),
            Some("token")
        );
        assert_eq!(
            offending_key("`access_key` is empty").as_deref(),
            Some("access_key")
        );
        assert_eq!(offending_key("a Basic user name cannot contain ':'"), None);
    }
}
