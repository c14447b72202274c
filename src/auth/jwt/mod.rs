//! `jwt`: Postman's "JWT Bearer". A JWS compact token signed with HMAC (HS*), RSASSA-PKCS1-v1_5
//! (RS*), RSASSA-PSS (PS*, salt as long as the hash) or ECDSA (ES*, `r || s`), sent as
//! `Authorization: Bearer <token>` or as a query parameter.
//!
//! The bytes are Postman's (postman-runtime's `jwt.js`, jose's `SignJWT`): the JOSE header is
//! `{...header, alg}`, the configured `header` fields as written with `alg` in its place or
//! else last, no `typ` added; the payload is `JSON.stringify` of the parsed `payload`, which must
//! be an object; both compact JSON in JavaScript's property order, base64url without padding.
//!
//! Beyond Postman, because a proxy signs for hours rather than once: `issued_at`, `expires_in`,
//! `not_before` and `jwt_id` append `iat`, `exp`, `nbf` and `jti` to the payload of each token.
//! A token without them is minted once; one with them is reused while more than half of its
//! life remains (with `iat`/`nbf` but no `exp`: within the same second), and never with `jti`.

use std::fmt;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::HeaderValue;
use http::header::AUTHORIZATION;
use serde::Deserialize;

use super::query::set_query_param;
use super::{AuthError, BuildContext, BuildError, SignContext, Signer};
use crate::context::Entropy;
use crate::secret::Secret;
use json::{Json, json_string};
use keys::{Curve, Key};

mod json;
mod keys;

/// `algorithm`: Postman's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Algorithm {
    /// HMAC with SHA-256 and `secret`.
    #[serde(rename = "HS256")]
    Hs256,
    /// HMAC with SHA-384 and `secret`.
    #[serde(rename = "HS384")]
    Hs384,
    /// HMAC with SHA-512 and `secret`.
    #[serde(rename = "HS512")]
    Hs512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and `private_key`.
    #[serde(rename = "RS256")]
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384 and `private_key`.
    #[serde(rename = "RS384")]
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 and `private_key`.
    #[serde(rename = "RS512")]
    Rs512,
    /// RSASSA-PSS with SHA-256 (MGF1 SHA-256, 32-byte salt) and `private_key`.
    #[serde(rename = "PS256")]
    Ps256,
    /// RSASSA-PSS with SHA-384 (MGF1 SHA-384, 48-byte salt) and `private_key`.
    #[serde(rename = "PS384")]
    Ps384,
    /// RSASSA-PSS with SHA-512 (MGF1 SHA-512, 64-byte salt) and `private_key`.
    #[serde(rename = "PS512")]
    Ps512,
    /// ECDSA on P-256 with SHA-256 and `private_key`.
    #[serde(rename = "ES256")]
    Es256,
    /// ECDSA on P-384 with SHA-384 and `private_key`.
    #[serde(rename = "ES384")]
    Es384,
    /// ECDSA on P-521 with SHA-512 and `private_key`.
    #[serde(rename = "ES512")]
    Es512,
}

impl Algorithm {
    /// The JOSE name (`alg`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
        }
    }

    fn is_hmac(self) -> bool {
        matches!(self, Self::Hs256 | Self::Hs384 | Self::Hs512)
    }

    /// The curve of an ES algorithm.
    fn curve(self) -> Option<Curve> {
        match self {
            Self::Es256 => Some(Curve::P256),
            Self::Es384 => Some(Curve::P384),
            Self::Es512 => Some(Curve::P521),
            _ => None,
        }
    }

    /// The kind of key the algorithm signs with, for messages.
    fn wants(self) -> &'static str {
        match self.curve() {
            Some(Curve::P256) => "an EC P-256 key",
            Some(Curve::P384) => "an EC P-384 key",
            Some(Curve::P521) => "an EC P-521 key",
            None => "an RSA key",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the token goes (Postman's "Add JWT token to").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddTokenTo {
    /// `Authorization: <header_prefix> <token>`.
    #[default]
    Header,
    /// A query parameter named `query_param_key`.
    QueryParam,
}

/// `payload` or `header`: a JSON string, or an inline TOML table.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, expecting = "a JSON string or an inline table")]
pub enum JsonOrTable {
    /// JSON text, parsed and written back compactly as Postman does.
    Json(String),
    /// A table, written as compact JSON (in key order: TOML tables keep no order here).
    Table(toml::Table),
}

/// `type = "jwt"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// HS256 … ES512.
    pub algorithm: Algorithm,
    /// The HMAC key of the HS algorithms.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// `secret` is base64 (standard or URL-safe, padding optional): sign with its bytes.
    #[serde(default)]
    pub is_secret_base64_encoded: bool,
    /// PEM private key of the RS/PS/ES algorithms: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`).
    #[serde(default)]
    pub private_key: Option<Secret>,
    /// The claims (default `{}`).
    #[serde(default)]
    pub payload: Option<JsonOrTable>,
    /// Extra JOSE header fields (`alg` is always the configured algorithm).
    #[serde(default)]
    pub header: Option<JsonOrTable>,
    /// `header` (default) or `query_param`.
    #[serde(default)]
    pub add_token_to: AddTokenTo,
    /// The word before the token in the header (`""`: the token alone).
    #[serde(default = "default_prefix")]
    pub header_prefix: String,
    /// The query parameter of `add_token_to = "query_param"`.
    #[serde(default = "default_query_key")]
    pub query_param_key: String,
    /// signet: add `iat` = now to each token.
    #[serde(default)]
    pub issued_at: bool,
    /// signet: add `iat` = now and `exp` = now + this many seconds to each token.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// signet: add `nbf` = now to each token.
    #[serde(default)]
    pub not_before: bool,
    /// signet: add a fresh random `jti` to each token (so one token per request).
    #[serde(default)]
    pub jwt_id: bool,
}

fn default_prefix() -> String {
    "Bearer".to_owned()
}

fn default_query_key() -> String {
    "token".to_owned()
}

/// Adds a JWT to each request.
pub struct Jwt {
    alg: Algorithm,
    key: Key,
    /// The first part of every token: the base64url JOSE header.
    header_b64: String,
    payload: Payload,
    claims: Claims,
    add_to: Placement,
    /// The last token minted, while it may be reused.
    cache: Mutex<Option<Minted>>,
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("alg", &self.alg)
            .field("claims", &self.claims)
            .field("add_to", &self.add_to)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Placement {
    Header { prefix: String },
    Query { key: String },
}

/// The claims signet adds to each token.
#[derive(Debug, Clone, Copy, Default)]
struct Claims {
    iat: bool,
    nbf: bool,
    exp: Option<u64>,
    jti: bool,
}

impl Claims {
    fn names(self) -> Vec<&'static str> {
        [
            ("iat", self.iat),
            ("nbf", self.nbf),
            ("exp", self.exp.is_some()),
            ("jti", self.jti),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }

    /// Whether a token minted at `minted` (Unix seconds) may be sent again at `now`.
    fn reusable(self, minted: u64, now: u64) -> bool {
        if self.jti {
            return false;
        }
        match self.exp {
            // More than half of its life remains (and the clock has not gone back).
            Some(life) => now >= minted && (now - minted).saturating_mul(2) < life,
            // Its `iat`/`nbf` must be the time of the request.
            None if self.iat || self.nbf => now == minted,
            None => true,
        }
    }

    /// The added members for a token minted at `now` (`"iat":…,"exp":…`), comma-separated.
    fn json(self, now: u64, jti: Option<&str>) -> String {
        let mut out = Vec::new();
        if self.iat {
            out.push(format!("\"iat\":{now}"));
        }
        if self.nbf {
            out.push(format!("\"nbf\":{now}"));
        }
        if let Some(life) = self.exp {
            out.push(format!("\"exp\":{}", now.saturating_add(life)));
        }
        if let Some(jti) = jti {
            out.push(format!("\"jti\":{}", json_string(jti)));
        }
        out.join(",")
    }
}

struct Minted {
    at: u64,
    value: String,
}

/// The payload object as signed, and where added claims go.
#[derive(Debug)]
struct Payload {
    text: String,
    /// The offset of the closing brace.
    at: usize,
    has_members: bool,
}

impl Payload {
    fn with_claims(&self, claims: &str) -> String {
        if claims.is_empty() {
            return self.text.clone();
        }
        let comma = if self.has_members { "," } else { "" };
        let (members, close) = self.text.split_at(self.at);
        format!("{members}{comma}{claims}{close}")
    }
}

impl Jwt {
    /// Checks the table, parses the key and builds the JOSE header once.
    pub fn new(cfg: JwtConfig) -> Result<Self, BuildError> {
        let alg = cfg.algorithm;
        let key = Key::load(alg, &cfg)?;

        let header = match &cfg.header {
            None => Vec::new(),
            Some(h) => match h.parse().map_err(|e| BuildError::at("header", e))? {
                Json::Object(members) => members,
                Json::Null => Vec::new(),
                _ => return Err(BuildError::at("header", "must be a JSON object")),
            },
        };
        let header = jose_header(alg, header);

        if cfg.expires_in == Some(0) {
            return Err(BuildError::at("expires_in", "must be at least 1 second"));
        }
        let claims = Claims {
            iat: cfg.issued_at || cfg.expires_in.is_some(),
            nbf: cfg.not_before,
            exp: cfg.expires_in,
            jti: cfg.jwt_id,
        };
        let payload = payload(cfg.payload.as_ref(), claims)?;

        let add_to = match cfg.add_token_to {
            AddTokenTo::Header => {
                if HeaderValue::from_str(&cfg.header_prefix).is_err() {
                    return Err(BuildError::at(
                        "header_prefix",
                        "contains characters not allowed in a header",
                    ));
                }
                Placement::Header {
                    prefix: cfg.header_prefix,
                }
            }
            AddTokenTo::QueryParam => {
                if cfg.query_param_key.is_empty() {
                    return Err(BuildError::at("query_param_key", "must not be empty"));
                }
                Placement::Query {
                    key: cfg.query_param_key,
                }
            }
        };
        Ok(Jwt {
            alg,
            key,
            header_b64: URL_SAFE_NO_PAD.encode(header),
            payload,
            claims,
            add_to,
            cache: Mutex::new(None),
        })
    }

    /// The token for a request at `cx.now`: the cached one while it may be reused, else a new one.
    fn token(&self, cx: &SignContext<'_>) -> Result<String, AuthError> {
        let now = cx.unix_seconds();
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(minted) = cache.as_ref()
                && self.claims.reusable(minted.at, now)
            {
                return Ok(minted.value.clone());
            }
        }
        // Signed outside the lock: two requests racing for a new token both sign, harmlessly.
        let jti = self.claims.jti.then(|| cx.nonce_hex(16));
        let payload = self
            .payload
            .with_claims(&self.claims.json(now, jti.as_deref()));
        let token = self.mint(payload.as_bytes(), cx.entropy)?;
        if !self.claims.jti {
            *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(Minted {
                at: now,
                value: token.clone(),
            });
        }
        Ok(token)
    }

    /// `header.payload.signature` for these payload bytes.
    fn mint(&self, payload: &[u8], entropy: &dyn Entropy) -> Result<String, AuthError> {
        let input = format!("{}.{}", self.header_b64, URL_SAFE_NO_PAD.encode(payload));
        let signature = self.key.sign(self.alg, input.as_bytes(), entropy)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Puts the token in the `Authorization` header (replacing the client's) or the query
    /// (replacing any parameter of that name).
    pub fn sign(
        &self,
        req: &mut http::request::Parts,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        let token = self.token(cx)?;
        match &self.add_to {
            Placement::Header { prefix } => {
                let text = if prefix.is_empty() {
                    token
                } else {
                    format!("{prefix} {token}")
                };
                let mut value = HeaderValue::try_from(text).map_err(|_| {
                    AuthError::Unsignable("the token does not fit in a header".into())
                })?;
                value.set_sensitive(true);
                req.headers.insert(AUTHORIZATION, value);
            }
            Placement::Query { key } => {
                set_query_param(&mut req.uri, key, &token).map_err(|e| {
                    AuthError::Unsignable(format!("cannot add the token to the query: {e}"))
                })?
            }
        }
        Ok(())
    }

    /// One line for `explain`, without the key.
    pub fn describe(&self) -> String {
        let to = match &self.add_to {
            Placement::Header { prefix } => format!("header prefix={prefix:?}"),
            Placement::Query { key } => format!("query parameter {key}"),
        };
        let names = self.claims.names();
        let claims = if names.is_empty() {
            String::new()
        } else {
            let life = self
                .claims
                .exp
                .map(|s| format!(" (expires_in {s}s)"))
                .unwrap_or_default();
            format!(", adds {}{life}", names.join(" "))
        };
        format!("jwt {} {to}{claims}", self.alg)
    }
}

impl Signer for Jwt {
    type Config = JwtConfig;

    fn build(cfg: JwtConfig, _bx: &BuildContext<'_>) -> Result<Self, BuildError> {
        Jwt::new(cfg)
    }

    async fn sign(
        &self,
        req: &mut http::request::Parts,
        _body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        Jwt::sign(self, req, cx)
    }

    fn describe(&self) -> String {
        Jwt::describe(self)
    }

    fn credential_in_query(&self) -> bool {
        matches!(self.add_to, Placement::Query { .. })
    }
}

/// The JOSE header as Postman writes it: `{...header, alg: algorithm}`, so a configured `alg`
/// keeps its place and takes the algorithm's name, and without one `alg` comes last.
fn jose_header(alg: Algorithm, mut fields: Vec<(String, Json)>) -> String {
    let name = Json::String(alg.name().to_owned());
    match fields.iter_mut().find(|(k, _)| k == "alg") {
        Some((_, value)) => *value = name,
        None => fields.push(("alg".to_owned(), name)),
    }
    Json::Object(fields).to_js()
}

/// The payload to sign, checked against the claims signet adds.
fn payload(cfg: Option<&JsonOrTable>, claims: Claims) -> Result<Payload, BuildError> {
    let value = match cfg {
        None => Json::Object(Vec::new()),
        Some(p) => p.parse().map_err(|e| BuildError::at("payload", e))?,
    };
    let Json::Object(members) = &value else {
        return Err(BuildError::at(
            "payload",
            "must be a JSON object (the claims set; Postman signs nothing else)",
        ));
    };
    let added = claims.names();
    if let Some((name, _)) = members.iter().find(|(k, _)| added.contains(&k.as_str())) {
        return Err(BuildError::at(
            "payload",
            format!("has `{name}`, which signet adds itself with the options set"),
        ));
    }
    let text = value.to_js();
    // The added claims go just before the closing brace: names that are not array indices come
    // last in JavaScript's order too.
    let at = text.len().saturating_sub(1);
    Ok(Payload {
        text,
        at,
        has_members: !members.is_empty(),
    })
}

#[cfg(test)]
mod vectors;

#[cfg(test)]
mod tests;
