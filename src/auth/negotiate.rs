//! `negotiate`: SPNEGO / Kerberos over HTTP (RFC 4559), for origins (`401` /
//! `WWW-Authenticate`) and parent proxies (`407` / `Proxy-Authenticate`), through the system's
//! GSSAPI (see [`crate::gss`]).
//!
//! A Kerberos token needs no challenge, so the first leg carries it; the server's answer may
//! carry its mutual-authentication token, which is checked. Each request gets a token of its
//! own on the pinned connection: servers that authenticate connections accept it, those that
//! authenticate requests need it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::{AuthError, BuildContext, BuildError, SignContext, Signer};
use crate::gss::{self, Context, ContextSpec, Credentials, GssError, Mech, NameKind};
use crate::secret::Secret;

/// `type = "negotiate"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegotiateConfig {
    /// `alice@EXAMPLE.COM`: with `password` or `keytab`; alone, picks it from the ticket cache.
    pub principal: Option<String>,
    /// Get a ticket with this password.
    pub password: Option<Secret>,
    /// Get tickets from this keytab.
    pub keytab: Option<PathBuf>,
    /// The ticket cache (`FILE:/tmp/krb5cc_1000`); default: `KRB5CCNAME` or the system's.
    pub ccache: Option<String>,
    /// The server's name: `HTTP@host` (default: `HTTP@` the destination host).
    pub spn: Option<String>,
    /// Canonicalise the host as krb5.conf says; `false` takes it as written.
    #[serde(default = "yes")]
    pub canonicalize: bool,
    /// Forward the TGT to the server.
    #[serde(default)]
    pub delegate: bool,
    /// `spnego` (the default) or `kerberos` (a bare Kerberos token).
    #[serde(default)]
    pub mech: MechName,
}

fn yes() -> bool {
    true
}

/// The `mech` key.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MechName {
    /// SPNEGO.
    #[default]
    Spnego,
    /// Kerberos 5.
    Kerberos,
}

/// Where the credentials come from.
#[derive(Debug)]
enum Source {
    /// A ticket cache: the default one, or this one.
    Cache(Option<String>, Option<String>),
    Password(String, Secret),
    Keytab(Option<String>, PathBuf),
}

/// How long a failure to get credentials is remembered: a wrong password is tried once in
/// this time, not once a request (KDCs lock accounts after a few failures).
const FAILURE_HOLD: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Held {
    credentials: Option<Arc<Credentials>>,
    renew_at: Option<Instant>,
    failed: Option<(Instant, GssError)>,
}

struct Inner {
    source: Source,
    spn: Option<String>,
    canonicalize: bool,
    delegate: bool,
    mech: Mech,
    id: u64,
    /// Counts the keytab's caches.
    generation: AtomicU64,
    held: Mutex<Held>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1 << 32);

/// Kerberos credentials, ready to make tokens.
#[derive(Clone)]
pub struct Negotiate {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Negotiate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Negotiate {
    /// Checks the config and that the system's GSSAPI library is there.
    pub fn new(cfg: NegotiateConfig) -> Result<Self, BuildError> {
        let source = match (cfg.principal, cfg.password, cfg.keytab) {
            (_, Some(_), Some(_)) => {
                return Err(BuildError::at("keytab", "give password or keytab, not both"));
            }
            (Some(principal), Some(password), None) => Source::Password(principal, password),
            (None, Some(_), None) => {
                return Err(BuildError::at("principal", "a password needs its principal"));
            }
            (principal, None, Some(keytab)) => Source::Keytab(principal, keytab),
            (principal, None, None) => Source::Cache(principal, cfg.ccache.clone()),
        };
        if cfg.ccache.is_some() && !matches!(source, Source::Cache(..)) {
            return Err(BuildError::at(
                "ccache",
                "only for credentials from a ticket cache (no password or keytab)",
            ));
        }
        if let Some(spn) = &cfg.spn
            && (spn.is_empty() || spn.contains(char::is_whitespace))
        {
            return Err(BuildError::at("spn", "not a service name (HTTP@host)"));
        }
        gss::available().map_err(|e| BuildError {
            key: None,
            reason: e.to_string(),
        })?;
        Ok(Negotiate {
            inner: Arc::new(Inner {
                source,
                spn: cfg.spn,
                canonicalize: cfg.canonicalize,
                delegate: cfg.delegate,
                mech: match cfg.mech {
                    MechName::Spnego => Mech::Spnego,
                    MechName::Kerberos => Mech::Kerberos,
                },
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                generation: AtomicU64::new(0),
                held: Mutex::new(Held::default()),
            }),
        })
    }

    /// Tells these credentials apart from other profiles' (see `Ntlm::id`).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// One line for `explain`, without the password.
    pub fn describe(&self) -> String {
        let from = match &self.inner.source {
            Source::Cache(None, None) => "the default ticket cache".to_owned(),
            Source::Cache(principal, ccache) => format!(
                "ticket cache {}{}",
                ccache.as_deref().unwrap_or("(default)"),
                principal
                    .as_deref()
                    .map(|p| format!(" principal={p}"))
                    .unwrap_or_default()
            ),
            Source::Password(principal, _) => format!("principal={principal} with a password"),
            Source::Keytab(principal, keytab) => format!(
                "keytab {}{}",
                keytab.display(),
                principal
                    .as_deref()
                    .map(|p| format!(" principal={p}"))
                    .unwrap_or_default()
            ),
        };
        let spn = self.inner.spn.as_deref().unwrap_or("HTTP@<host>");
        format!("negotiate (Kerberos) {from} spn={spn}")
    }

    /// The first token for `host`, and the context that waits for the server's answer. Runs
    /// on the blocking pool: it may talk to the KDC.
    pub async fn first_token(
        &self,
        host: &str,
        bindings: Option<Vec<u8>>,
    ) -> Result<(Context, Vec<u8>), AuthError> {
        let inner = self.inner.clone();
        let host = host.to_owned();
        tokio::task::spawn_blocking(move || inner.first_token(&host, bindings))
            .await
            .map_err(|e| AuthError::Unsignable(format!("Kerberos: {e}")))?
            .map_err(|e| AuthError::BadCredential(format!("Kerberos: {e}")))
    }
}

impl Inner {
    fn target(&self, host: &str) -> (String, NameKind) {
        let hostbased = self.spn.clone().unwrap_or_else(|| format!("HTTP@{host}"));
        if self.canonicalize || hostbased.contains('/') {
            let kind = if hostbased.contains('/') {
                NameKind::Principal
            } else {
                NameKind::HostBased
            };
            (hostbased, kind)
        } else {
            // `HTTP@host` as the principal `HTTP/host`, with no lookup of the host.
            (hostbased.replacen('@', "/", 1), NameKind::Principal)
        }
    }

    fn first_token(
        &self,
        host: &str,
        bindings: Option<Vec<u8>>,
    ) -> Result<(Context, Vec<u8>), GssError> {
        let (target, kind) = self.target(host);
        let attempt = |credentials| {
            let mut context = Context::new(
                credentials,
                ContextSpec {
                    target: &target,
                    kind,
                    mech: self.mech,
                    delegate: self.delegate,
                    bindings: bindings.clone(),
                },
            )?;
            let step = context.step(None)?;
            Ok((context, step.token))
        };
        match attempt(self.credentials()?) {
            // Tickets ran out before signet renewed them: new ones, once.
            Err(GssError::Failed { expired: true, .. }) if self.renews() => {
                self.forget();
                attempt(self.credentials()?)
            }
            other => other,
        }
    }

    fn renews(&self) -> bool {
        !matches!(self.source, Source::Cache(None, None))
    }

    fn forget(&self) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .credentials = None;
    }

    /// The credentials to use (`None`: the default ticket cache, read on every use).
    fn credentials(&self) -> Result<Option<Arc<Credentials>>, GssError> {
        if !self.renews() {
            return Ok(None);
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some((at, error)) = &held.failed
            && now.duration_since(*at) < FAILURE_HOLD
        {
            return Err(error.clone());
        }
        if let Some(credentials) = &held.credentials
            && held.renew_at.is_none_or(|at| now < at)
        {
            return Ok(Some(credentials.clone()));
        }
        match self.acquire() {
            Ok((credentials, lifetime)) => {
                let credentials = Arc::new(credentials);
                held.renew_at = lifetime.map(|l| now + renew_after(l));
                held.credentials = Some(credentials.clone());
                held.failed = None;
                Ok(Some(credentials))
            }
            Err(error) => {
                tracing::warn!(%error, "Kerberos credentials");
                // Only signet's own requests to the KDC are held back; a ticket cache is read
                // again at once (the user may just have run kinit).
                if matches!(self.source, Source::Password(..) | Source::Keytab(..)) {
                    held.failed = Some((now, error.clone()));
                }
                Err(error)
            }
        }
    }

    fn acquire(&self) -> Result<(Credentials, Option<Duration>), GssError> {
        match &self.source {
            Source::Password(principal, password) => {
                Credentials::with_password(principal, password.expose(), self.mech)
            }
            Source::Keytab(principal, keytab) => {
                let keytab = keytab.to_string_lossy();
                // MIT gets the tickets from the keytab by itself, in a cache of this
                // profile's own; a new one each time, so that expired tickets are not found.
                let generation = self.generation.fetch_add(1, Ordering::Relaxed);
                let ccache = format!("MEMORY:signet-negotiate-{}-{generation}", self.id);
                Credentials::from_store(
                    principal.as_deref(),
                    &[("client_keytab", &keytab), ("ccache", &ccache)],
                    self.mech,
                )
                .map(|(credentials, _)| (credentials, None))
            }
            Source::Cache(principal, ccache) => {
                let store: Vec<(&str, &str)> =
                    ccache.as_deref().map(|c| ("ccache", c)).into_iter().collect();
                // The cache is the user's: kinit renews it, signet reads it again each time.
                Credentials::from_store(principal.as_deref(), &store, self.mech)
                    .map(|(credentials, lifetime)| (credentials, lifetime.map(|_| Duration::ZERO)))
            }
        }
    }
}

/// When to get new tickets: before a quarter of their life (at most five minutes) is left.
fn renew_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub((lifetime / 4).min(Duration::from_secs(300)))
}

/// The token in a `Negotiate` challenge or answer in `header`, if any: `Some(None)` for a bare
/// `Negotiate`, `None` when the scheme is not offered.
pub fn token(headers: &HeaderMap, header: &HeaderName) -> Option<Option<Vec<u8>>> {
    let mut bare = false;
    for value in headers.get_all(header) {
        let Ok(value) = value.to_str() else { continue };
        // Base64 holds no comma, so challenges split on commas.
        for item in value.split(',') {
            let mut words = item.trim().splitn(2, ' ');
            if !words
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("Negotiate"))
            {
                continue;
            }
            match words.next().map(str::trim).filter(|t| !t.is_empty()) {
                Some(token) => {
                    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(token) {
                        return Some(Some(bytes));
                    }
                }
                None => bare = true,
            }
        }
    }
    bare.then_some(None)
}

/// Where a Negotiate exchange with one peer stands.
#[derive(Debug)]
pub enum Handshake {
    /// Nothing sent yet.
    Start,
    /// The first token went out.
    Sent(Context),
    /// The server answered with a token and wants another.
    Continued(Context, Vec<u8>),
    /// Nothing more to send.
    Finished,
}

impl Handshake {
    /// The header value to send next, moving the handshake on.
    pub async fn next_header(
        &mut self,
        negotiate: &Negotiate,
        host: &str,
        server_cert: Option<&[u8]>,
    ) -> Result<Option<HeaderValue>, AuthError> {
        match std::mem::replace(self, Handshake::Finished) {
            Handshake::Start => {
                let bindings = server_cert.map(super::ntlm::tls_server_end_point);
                let (context, token) = negotiate.first_token(host, bindings).await?;
                *self = Handshake::Sent(context);
                Ok(Some(super::mac::base64_header("Negotiate", &token)))
            }
            Handshake::Continued(mut context, input) => {
                let step = context.step(Some(&input)).map_err(rejected)?;
                *self = Handshake::Sent(context);
                Ok((!step.token.is_empty())
                    .then(|| super::mac::base64_header("Negotiate", &step.token)))
            }
            other => {
                *self = other;
                Ok(None)
            }
        }
    }

    /// Takes in a 401/407; `true` when the server sent a token that asks for another leg.
    /// A bare `Negotiate` after a token means the server refused it: no new attempt.
    pub fn on_challenge(&mut self, headers: &HeaderMap, header: &HeaderName) -> bool {
        match (std::mem::replace(self, Handshake::Finished), token(headers, header)) {
            (Handshake::Sent(context), Some(Some(input))) => {
                *self = Handshake::Continued(context, input);
                true
            }
            (other, _) => {
                *self = other;
                false
            }
        }
    }

    /// Checks the server's mutual-authentication token on its final answer, when it sent one.
    pub fn finish(&mut self, headers: &HeaderMap, header: &HeaderName) -> Result<(), AuthError> {
        let Handshake::Sent(mut context) = std::mem::replace(self, Handshake::Finished) else {
            return Ok(());
        };
        match token(headers, header) {
            Some(Some(input)) => {
                let step = context.step(Some(&input)).map_err(rejected)?;
                if step.complete {
                    tracing::debug!("Kerberos: the server's mutual authentication verified");
                    Ok(())
                } else {
                    Err(AuthError::Unsignable(
                        "Kerberos: the server's mutual-authentication token did not complete \
                         the exchange"
                            .into(),
                    ))
                }
            }
            // RFC 4559 lets the server leave its token out.
            _ => Ok(()),
        }
    }
}

fn rejected(error: GssError) -> AuthError {
    AuthError::Unsignable(format!(
        "Kerberos: the server's token does not verify ({error})"
    ))
}

impl Signer for Negotiate {
    type Config = NegotiateConfig;

    fn build(cfg: NegotiateConfig, _bx: &BuildContext<'_>) -> Result<Self, BuildError> {
        Negotiate::new(cfg)
    }

    /// Outside the proxy (`signet sign`), the first token for the request's host; the proxy
    /// sends it on a pinned connection (see [`Signer::connection_auth`]).
    async fn sign(
        &self,
        req: &mut http::request::Parts,
        _body: Option<&mut bytes::Bytes>,
        _cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        let host = req
            .uri
            .host()
            .ok_or_else(|| AuthError::Unsignable("the URL has no host".into()))?
            .to_owned();
        let (_, token) = self.first_token(&host, None).await?;
        req.headers.insert(
            http::header::AUTHORIZATION,
            super::mac::base64_header("Negotiate", &token),
        );
        Ok(())
    }

    fn may_replay(&self) -> bool {
        true
    }

    fn connection_auth(&self) -> Option<super::challenger::ConnAuth<'_>> {
        Some(super::challenger::ConnAuth::Negotiate(self))
    }

    fn describe(&self) -> String {
        Negotiate::describe(self)
    }
}

#[cfg(test)]
#[path = "negotiate_tests.rs"]
mod tests;
