//! `digest`: HTTP Digest (RFC 7616, RFC 2617, RFC 2069). The first 401 is answered and the
//! request replayed once; the challenge is remembered per origin and realm so that later
//! requests are signed before the server asks, with a rising nonce count.

use std::sync::Mutex;

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;

use bytes::Bytes;

use super::{AuthError, BodyNeed, BuildContext, BuildError, SignContext, Signer};
use crate::secret::Secret;
use http::request::Parts;

/// The challenge parser, public only for the fuzz targets in `fuzz/`.
#[doc(hidden)]
#[path = "digest_challenge.rs"]
pub mod challenge;
#[path = "digest_response.rs"]
mod response;

#[path = "digest_proxy.rs"]
mod proxy;

#[path = "digest_spaces.rs"]
mod spaces;

impl Signer for Digest {
    type Config = DigestConfig;

    fn build(cfg: DigestConfig, _bx: &BuildContext<'_>) -> Result<Self, BuildError> {
        Digest::new(cfg)
    }

    fn body_need(&self, req: &Parts) -> BodyNeed {
        Digest::body_need(self, req)
    }

    async fn sign(
        &self,
        req: &mut http::request::Parts,
        body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        Digest::sign(self, req, body, cx)
    }

    fn may_replay(&self) -> bool {
        Digest::may_replay(self)
    }

    fn wants_replay(&self, sent: &Parts, answer: &http::response::Parts) -> bool {
        Digest::wants_replay(self, sent, answer)
    }

    fn accept_challenge(&self, sent: &Parts, challenge: &str) -> Option<Result<(), AuthError>> {
        Some(Digest::accept_challenge(self, sent, challenge).map_err(AuthError::Unsignable))
    }

    fn describe(&self) -> String {
        Digest::describe(self)
    }
}

#[cfg(test)]
#[path = "digest_vectors.rs"]
mod vectors;

use challenge::{Challenge, MAX_DOMAIN_URIS, MAX_HEADER_VALUE, MAX_PARAM, parse_list, strongest};
use response::{Inputs, body_hash};
use spaces::Spaces;

/// `type = "digest"`: Postman's Digest fields, including the advanced ones used before the first
/// challenge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// User name.
    pub username: String,
    /// Password.
    pub password: Secret,
    /// Answer a 401 challenge and replay the request (Postman's "disable retrying" inverted).
    #[serde(default = "yes")]
    pub retry: bool,
    /// Realm to use before a challenge arrives.
    pub realm: Option<String>,
    /// Nonce to use before a challenge arrives.
    pub nonce: Option<String>,
    /// Algorithm to use before a challenge arrives.
    pub algorithm: Option<DigestAlgorithm>,
    /// `auth` or `auth-int`.
    pub qop: Option<DigestQop>,
    /// Starting nonce count (hex, as Postman writes it, e.g. "00000001").
    pub nonce_count: Option<String>,
    /// Fixed client nonce.
    pub client_nonce: Option<String>,
    /// Opaque value to echo.
    pub opaque: Option<String>,
}

impl DigestConfig {
    /// User name and password, every other key at its default.
    pub fn with_credentials(username: impl Into<String>, password: Secret) -> Self {
        DigestConfig {
            username: username.into(),
            password,
            retry: true,
            realm: None,
            nonce: None,
            algorithm: None,
            qop: None,
            nonce_count: None,
            client_nonce: None,
            opaque: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// Digest algorithms (RFC 7616 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DigestAlgorithm {
    /// MD5.
    #[serde(rename = "MD5")]
    Md5,
    /// MD5-sess.
    #[serde(rename = "MD5-sess")]
    Md5Sess,
    /// SHA-256.
    #[serde(rename = "SHA-256")]
    Sha256,
    /// SHA-256-sess.
    #[serde(rename = "SHA-256-sess")]
    Sha256Sess,
    /// SHA-512-256.
    #[serde(rename = "SHA-512-256")]
    Sha512_256,
    /// SHA-512-256-sess.
    #[serde(rename = "SHA-512-256-sess")]
    Sha512_256Sess,
}

/// Quality of protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DigestQop {
    /// Authentication only.
    #[serde(rename = "auth")]
    Auth,
    /// Authentication with a hash of the body.
    #[serde(rename = "auth-int")]
    AuthInt,
}

/// Answers Digest challenges and signs later requests in the same protection space before the
/// server asks.
pub struct Digest {
    cfg: DigestConfig,
    /// The `nc` of the first request signed with the configured realm and nonce.
    first_nc: u32,
    spaces: Mutex<Spaces>,
}

/// What one signing uses: a challenge and the nonce count to send with it.
struct Use {
    challenge: Challenge,
    nc: u32,
    session_cnonce: Option<String>,
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digest")
            .field("username", &self.cfg.username)
            .field("password", &self.cfg.password)
            .field("retry", &self.cfg.retry)
            .finish_non_exhaustive()
    }
}

impl Digest {
    /// Checks the config; `nonce_count` must be hexadecimal.
    pub fn new(cfg: DigestConfig) -> Result<Self, BuildError> {
        if cfg.username.chars().any(char::is_control) {
            return Err(BuildError::at(
                "username",
                "a Digest user name cannot contain control characters",
            ));
        }
        let first_nc = match &cfg.nonce_count {
            None => 1,
            Some(hex) => u32::from_str_radix(hex.trim(), 16)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    BuildError::at(
                        "nonce_count",
                        format!("{hex:?} is not a positive hexadecimal number (e.g. \"00000001\")"),
                    )
                })?,
        };
        for (key, value) in [
            ("realm", &cfg.realm),
            ("nonce", &cfg.nonce),
            ("client_nonce", &cfg.client_nonce),
            ("opaque", &cfg.opaque),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.chars().any(char::is_control))
            {
                return Err(BuildError::at(key, "cannot contain control characters"));
            }
        }
        Ok(Digest {
            cfg,
            first_nc,
            spaces: Mutex::new(Spaces::default()),
        })
    }

    /// Whether a 401 is answered by replaying the request (`retry`).
    pub fn may_replay(&self) -> bool {
        self.cfg.retry
    }

    /// The body is required only when the challenge that will sign this request asks for
    /// `auth-int`; otherwise it streams (the proxy still keeps it for a replay if it fits).
    pub fn body_need(&self, req: &http::request::Parts) -> super::BodyNeed {
        let offered = match absolute(&req.uri) {
            Some(abs) => self
                .lock()
                .best(&abs)
                .map(|e| e.challenge.qop.clone())
                .or_else(|| self.preset().map(|c| c.qop)),
            None => None,
        };
        match offered {
            Some(qop) if self.choose_qop(&qop, true) == Some(DigestQop::AuthInt) => {
                super::BodyNeed::Required
            }
            _ => super::BodyNeed::None,
        }
    }

    /// Adds `Authorization: Digest …` when a challenge covers this request (or the advanced
    /// keys give realm and nonce); otherwise sends it without credentials to get one.
    pub fn sign(
        &self,
        req: &mut http::request::Parts,
        body: Option<&mut bytes::Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        req.headers.remove(AUTHORIZATION);
        let Some(abs) = absolute(&req.uri) else {
            return Ok(());
        };
        let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
        if let Some(value) = self.answer(&abs, req.method.as_str(), target, body, cx)? {
            req.headers.insert(AUTHORIZATION, value);
        }
        Ok(())
    }

    /// The Digest credentials for a request in the space of `abs`, sent as `method uri`;
    /// `None` when no challenge covers it yet.
    fn answer(
        &self,
        abs: &str,
        method: &str,
        uri: &str,
        body: Option<&mut bytes::Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<Option<HeaderValue>, AuthError> {
        let Some(chosen) = self.take(abs, cx) else {
            return Ok(None);
        };
        let challenge = &chosen.challenge;
        let qop = if challenge.qop.is_empty() {
            None
        } else {
            Some(
                self.choose_qop(&challenge.qop, body.is_some())
                    .ok_or_else(|| {
                        AuthError::Unsignable(
                            "the server accepts only qop=auth-int, which needs the request body, \
                             and the body was not buffered"
                                .into(),
                        )
                    })?,
            )
        };
        let body_hash = match (qop, body) {
            (Some(DigestQop::AuthInt), Some(body)) => Some(body_hash(challenge.algorithm, body)),
            _ => None,
        };
        let cnonce = match (
            cx.fixed_nonce,
            &self.cfg.client_nonce,
            &chosen.session_cnonce,
        ) {
            (Some(fixed), _, _) => fixed.to_owned(),
            (None, Some(configured), _) => configured.clone(),
            (None, None, Some(session)) => session.clone(),
            (None, None, None) => cx.nonce_hex(16),
        };
        let inputs = Inputs {
            algorithm: challenge.algorithm,
            algorithm_named: challenge.algorithm_named,
            qop,
            username: &self.cfg.username,
            password: self.cfg.password.expose(),
            realm: &challenge.realm,
            nonce: &challenge.nonce,
            nc: chosen.nc,
            cnonce: &cnonce,
            method,
            uri,
            body_hash: body_hash.as_deref(),
            opaque: challenge.opaque.as_deref(),
            userhash: challenge.userhash,
        };
        let mut value = HeaderValue::try_from(inputs.authorization()).map_err(|_| {
            AuthError::BadCredential(
                "the Digest answer is not a valid header value (realm, nonce or opaque from the \
                 server or the config holds bytes a header cannot carry)"
                    .into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// Reads the upstream's answer to a request this scheme signed: a 401 with a Digest
    /// challenge is remembered and asks for one replay, unless the request already carried
    /// that very nonce and the server did not call it stale (the credentials are wrong). A
    /// request signed before the server asked that is turned away drops the challenge it was
    /// signed with, so that one bad challenge does not spoil every later request.
    pub fn wants_replay(
        &self,
        sent: &http::request::Parts,
        response: &http::response::Parts,
    ) -> bool {
        if response.status != StatusCode::UNAUTHORIZED {
            if refuses_headers(response.status) {
                self.forget_refused(sent, None);
            } else {
                self.next_nonce(sent, response);
            }
            return false;
        }
        let values = response
            .headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let challenge = strongest(values);
        self.forget_refused(sent, challenge.as_ref());
        let Some(challenge) = challenge else {
            return false;
        };
        let rejected = rejects(sent.headers.get(AUTHORIZATION), &challenge);
        self.remember(sent, challenge);
        self.cfg.retry && !rejected
    }

    /// Takes `challenge` (a `WWW-Authenticate` value) as the server's answer to `sent`, for
    /// `signet sign --challenge`.
    pub fn accept_challenge(
        &self,
        sent: &http::request::Parts,
        challenge: &str,
    ) -> Result<(), String> {
        let challenge = strongest([challenge]).ok_or_else(|| {
            format!(
                "the challenge holds no Digest challenge signet can answer (it needs realm and \
                 nonce; algorithm MD5, SHA-256 or SHA-512-256, with or without -sess; qop auth \
                 or auth-int; at most {MAX_HEADER_VALUE} bytes, with realm, nonce and opaque of \
                 at most {MAX_PARAM} bytes each and at most {MAX_DOMAIN_URIS} domain URIs)"
            )
        })?;
        self.remember(sent, challenge);
        Ok(())
    }

    /// One line for `explain`, without the password.
    pub fn describe(&self) -> String {
        let mut out = format!("digest username={}", self.cfg.username);
        if let Some(realm) = &self.cfg.realm {
            out.push_str(&format!(" realm={realm}"));
        }
        if !self.cfg.retry {
            out.push_str(" retry=false");
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Spaces> {
        // A panic elsewhere while holding the lock leaves the map consistent enough to reuse.
        self.spaces.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `auth-int` when configured (or the only offer) and the body is at hand; else `auth`.
    fn choose_qop(&self, offered: &[DigestQop], have_body: bool) -> Option<DigestQop> {
        let usable = |q: DigestQop| offered.contains(&q) && (q == DigestQop::Auth || have_body);
        [
            self.cfg.qop,
            Some(DigestQop::Auth),
            Some(DigestQop::AuthInt),
        ]
        .into_iter()
        .flatten()
        .find(|q| usable(*q))
    }

    /// The challenge the advanced keys describe, when they give both realm and nonce.
    fn preset(&self) -> Option<Challenge> {
        Some(Challenge {
            realm: self.cfg.realm.clone()?,
            nonce: self.cfg.nonce.clone()?,
            opaque: self.cfg.opaque.clone(),
            algorithm: self.cfg.algorithm.unwrap_or(DigestAlgorithm::Md5),
            algorithm_named: self.cfg.algorithm.is_some(),
            qop: self.cfg.qop.into_iter().collect(),
            stale: false,
            userhash: false,
            domain: Vec::new(),
        })
    }

    /// Picks the challenge for `abs` and counts one more use of its nonce.
    fn take(&self, abs: &str, cx: &SignContext<'_>) -> Option<Use> {
        let mut spaces = self.lock();
        if let Some(entry) = spaces.best_for_use(abs) {
            entry.nc = entry.nc.checked_add(1)?;
            if entry.challenge.algorithm.is_session() && entry.session_cnonce.is_none() {
                entry.session_cnonce = Some(cx.nonce_hex(16));
            }
            return Some(Use {
                challenge: entry.challenge.clone(),
                nc: entry.nc,
                session_cnonce: entry.session_cnonce.clone(),
            });
        }
        let challenge = self.preset()?;
        let nc = self.first_nc.checked_add(spaces.preset_uses)?;
        spaces.preset_uses += 1;
        Some(Use {
            challenge,
            nc,
            session_cnonce: None,
        })
    }

    /// Stores `challenge` for the origin of `sent`. A new nonce starts counting from 1 again.
    fn remember(&self, sent: &http::request::Parts, challenge: Challenge) {
        let Some(origin) = origin(&sent.uri) else {
            return;
        };
        self.remember_at(origin, sent.uri.path(), challenge);
    }

    /// Stores `challenge` for `origin`, covering its `domain` and the challenged `path`.
    fn remember_at(&self, origin: String, path: &str, challenge: Challenge) {
        let mut prefixes: Vec<String> = challenge
            .domain
            .iter()
            .filter_map(|d| {
                if d.starts_with('/') {
                    return Some(format!("{origin}{d}"));
                }
                let uri: http::Uri = d.parse().ok()?;
                Some(format!("{}{}", self::origin(&uri)?, uri.path()))
            })
            .collect();
        if challenge.domain.is_empty() {
            prefixes.push(format!("{origin}/"));
        }
        // The challenged URI is in the space whatever `domain` says.
        prefixes.push(format!("{origin}{path}"));
        self.lock().store(origin, challenge, prefixes);
    }

    /// Drops the remembered challenge `sent` was signed with, unless `replacement` (the
    /// server's new challenge) takes its place under the same realm: that keeps the nonce
    /// count when the nonce is the same, which a server checking `nc` needs.
    fn forget_refused(&self, sent: &http::request::Parts, replacement: Option<&Challenge>) {
        let (Some(abs), Some(realm), Some(nonce)) = (
            absolute(&sent.uri),
            sent_param(sent, "realm"),
            sent_param(sent, "nonce"),
        ) else {
            return;
        };
        if replacement.is_some_and(|c| c.realm == realm) {
            return;
        }
        self.lock().forget(&abs, &realm, &nonce);
    }

    /// `Authentication-Info: nextnonce=…` (RFC 7616 section 3.5) replaces the nonce in use.
    fn next_nonce(&self, sent: &http::request::Parts, response: &http::response::Parts) {
        let Some(info) = response
            .headers
            .get("authentication-info")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let params = parse_list(&format!("Info {info}"));
        let Some(next) = params.first().and_then(|p| p.param("nextnonce")) else {
            return;
        };
        let (Some(origin), Some(realm)) = (origin(&sent.uri), sent_param(sent, "realm")) else {
            return;
        };
        if let Some(entry) = self.lock().get_mut(&origin, &realm) {
            entry.challenge.nonce = next.to_owned();
            entry.nc = 0;
            entry.session_cnonce = None;
        }
    }
}

/// `scheme://host:port` with the port always written, host in lowercase.
fn origin(uri: &http::Uri) -> Option<String> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!("{scheme}://{host}:{port}"))
}

/// The request's absolute URI without its query, in the form protection spaces are kept in.
fn absolute(uri: &http::Uri) -> Option<String> {
    Some(format!("{}{}", origin(uri)?, uri.path()))
}

/// A parameter of the Digest `Authorization` a request carried.
fn sent_param(sent: &http::request::Parts, name: &str) -> Option<String> {
    digest_param(sent.headers.get(AUTHORIZATION)?, name)
}

/// Statuses that turn a request away for its header fields, the credentials among them: 400
/// (what most servers answer for a malformed or oversized header) and 431 (RFC 6585). Other
/// 4xx speak about the resource, not the credentials, and leave the challenge remembered.
fn refuses_headers(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_REQUEST | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    )
}

/// Whether the server turned down credentials that already answered this very nonce (the
/// password is wrong), rather than merely calling the nonce stale or issuing a new one.
fn rejects(sent: Option<&HeaderValue>, challenge: &Challenge) -> bool {
    let sent_nonce = sent.and_then(|v| digest_param(v, "nonce"));
    sent_nonce.as_deref() == Some(challenge.nonce.as_str()) && !challenge.stale
}

/// A parameter of a Digest credentials header value.
fn digest_param(value: &HeaderValue, name: &str) -> Option<String> {
    let value = value.to_str().ok()?;
    parse_list(value)
        .into_iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("Digest"))?
        .param(name)
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;
