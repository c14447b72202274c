//! The composition root: a loaded [`Config`] becomes a running proxy's parts: the dialer and
//! the parent proxy's credentials, the policy (rules, schemes, token sources), the CA and its
//! leaf cache, the upstream TLS profiles, the cookie jar and the client's credentials.
//!
//! The only module that reads the config to build the wire, the signers and the proxy; every
//! other floor gets plain values.

use std::sync::Arc;

use base64::Engine;

use crate::auth::basic::basic_header;
use crate::auth::digest::Digest;
use crate::auth::negotiate::Negotiate;
use crate::auth::ntlm::Ntlm;
use crate::auth::{AuthSpec, BuildError};
use crate::config::{Config, ConfigError, KeyPath};
use crate::context::{Clock, Entropy, OsEntropy, SystemClock};
use crate::cookies::{Cookies, RuleCookies};
use crate::net::{Dialer, ParentAuth, ParentProxy};
use crate::policy::Policy;
use crate::proxy::{Generation, Parts, Signet, StartError, UpstreamTlsPair};
use crate::tls::{CertificateAuthority, LeafCache, TlsError, TlsProfile, UpstreamTls};
use crate::upstream::Upstream;

impl Signet {
    /// Builds the proxy from a loaded config: rules and auth, the CA (created when absent), and
    /// one upstream client per TLS profile; with the system clock and random source.
    pub fn build(config: &Config) -> Result<Signet, StartError> {
        Self::build_with(config, Arc::new(SystemClock), Arc::new(OsEntropy))
    }

    /// As [`Signet::build`], with the clock and random source that every signer uses, the
    /// parent proxy's included (tests fix them).
    pub fn build_with(
        config: &Config,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Result<Signet, StartError> {
        Ok(Signet::new(parts(config, clock, entropy, None)?))
    }

    /// The parts of `config` for a reload of this proxy, built and checked as a whole (every
    /// secret resolved, every file read, every key loaded), keeping what did not change: the
    /// schemes whose settings are the same (with their tokens, Digest state and NTLM
    /// connections), the leaf cache while the CA is the same, the cookie jar.
    pub fn renewal(&self, config: &Config) -> Result<Parts, StartError> {
        let current = self.current();
        let (clock, entropy) = (current.clock().clone(), current.entropy().clone());
        parts(config, clock, entropy, Some(&current))
    }
}

/// What `config` makes of a proxy; on a reload, `previous` is the generation it replaces.
fn parts(
    config: &Config,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    previous: Option<&Generation>,
) -> Result<Parts, StartError> {
    let dialer = dialer(config, clock.clone(), entropy.clone())?;
    let policy = Policy::succeeding(config, &dialer, previous.map(Generation::policy))?;
    let (ca, created) = CertificateAuthority::load_or_create(&config.ca.cert, &config.ca.key)?;
    if created {
        tracing::info!(cert = %config.ca.cert.display(), "created a new CA; trust it in your clients");
    }
    let leaves = match previous.map(Generation::leaves) {
        Some(leaves) if leaves.ca().cert_der() == ca.cert_der() => leaves.clone(),
        _ => Arc::new(LeafCache::new(Arc::new(ca))),
    };
    let upstream_tls = upstream_tls(&policy)?;
    let limits = config.proxy.limits();
    let cookies = match previous.and_then(Generation::cookies) {
        Some(jar) => Some(jar.with_rules(rule_cookies(config))),
        None => Cookies::open(&config.cookies.jar, rule_cookies(config))?
            .map(|jar| jar.sharing(policy.shared().cloned())),
    };
    Ok(Parts {
        policy,
        leaves,
        upstream_tls,
        upstream: Upstream::new(dialer, clock.clone(), entropy.clone(), limits.response),
        limits,
        client_auth: client_auth(config),
        buffer_limit: config.proxy.buffer_limit,
        clock,
        entropy,
        cookies,
    })
}

impl Policy {
    /// Compiles the rules and builds every auth scheme; token requests go out as the proxy's
    /// would (through `[proxy] upstream_proxy`, whose settings are checked here), with the
    /// system clock and random source.
    pub fn from_config(config: &Config) -> Result<Policy, ConfigError> {
        let dialer = dialer(config, Arc::new(SystemClock), Arc::new(OsEntropy))?;
        Policy::with_dialer(config, &dialer)
    }
}

/// How upstream connections are opened: directly, or through `[proxy] upstream_proxy` answered
/// with `upstream_proxy_auth`, whose handshakes use `clock` and `entropy`. Proxied requests and
/// token requests share it. Errors name the key, for `check` and `run` alike.
pub fn dialer(
    config: &Config,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
) -> Result<Dialer, ConfigError> {
    let limits = config.proxy.limits();
    let Some(url) = &config.proxy.upstream_proxy else {
        return Ok(Dialer::new(None, &limits));
    };
    let auth = parent_auth(config)?;
    let path = KeyPath::default().key("proxy").key("upstream_proxy");
    let parent = ParentProxy::parse(url, auth, clock, entropy)
        .map_err(|e| config.error(&path, e.to_string()))?;
    Ok(Dialer::new(Some(Arc::new(parent)), &limits))
}

/// How to authenticate to the parent proxy, from `[proxy] upstream_proxy_auth` (its name and
/// type were checked when the config was loaded).
fn parent_auth(config: &Config) -> Result<ParentAuth, ConfigError> {
    let Some(name) = &config.proxy.upstream_proxy_auth else {
        return Ok(ParentAuth::None);
    };
    let path = KeyPath::default().key("proxy").key("upstream_proxy_auth");
    let built = |e: BuildError| config.error(&path, format!("[auth.{name}]: {e}"));
    match config.profiles.get(name) {
        Some(AuthSpec::Basic(basic)) => Ok(ParentAuth::Basic(basic_header(
            &basic.username,
            basic.password.expose(),
        ))),
        Some(AuthSpec::Digest(cfg)) => Ok(ParentAuth::Digest(Arc::new(
            Digest::new((**cfg).clone()).map_err(built)?,
        ))),
        Some(AuthSpec::Ntlm(cfg)) => Ok(ParentAuth::Ntlm(Arc::new(
            Ntlm::new((**cfg).clone()).map_err(built)?,
        ))),
        Some(AuthSpec::Negotiate(cfg)) => Ok(ParentAuth::Negotiate(Arc::new(
            Negotiate::new((**cfg).clone()).map_err(built)?,
        ))),
        Some(other) => Err(config.error(
            &path,
            format!(
                "a {} profile cannot answer a parent proxy (basic, digest, ntlm and negotiate can)",
                other.type_name()
            ),
        )),
        None => Err(config.error(&path, format!("no [auth.{name}] profile"))),
    }
}

/// The client configs of every upstream TLS profile, in [`crate::tls::TlsProfileId`] order:
/// the default first, then one per `[host.tls]` table.
fn upstream_tls(policy: &Policy) -> Result<Vec<UpstreamTlsPair>, TlsError> {
    let both: &[&[u8]] = &[b"h2", b"http/1.1"];
    let h1: &[&[u8]] = &[b"http/1.1"];
    let default = TlsProfile::default();
    let profiles = std::iter::once(&default).chain(policy.tls_profiles());
    profiles
        .map(|profile| {
            Ok((
                UpstreamTls::client_config(profile, both)?,
                UpstreamTls::client_config(profile, h1)?,
            ))
        })
        .collect()
}

/// Per host rule, in order, what it does with cookies.
pub fn rule_cookies(config: &Config) -> Vec<Option<RuleCookies>> {
    let rules = config.hosts.iter();
    rules
        .map(|h| {
            h.cookies.map(|mode| RuleCookies {
                mode,
                from: h.cookies_from.clone(),
            })
        })
        .collect()
}

/// `Basic …` of `[proxy] client_auth`, as clients must send it.
fn client_auth(config: &Config) -> Option<Vec<u8>> {
    config.proxy.client_auth.as_ref().map(|auth| {
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            auth.username,
            auth.password.expose()
        ));
        format!("Basic {token}").into_bytes()
    })
}
