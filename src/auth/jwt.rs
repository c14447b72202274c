//! `jwt`: Postman's "JWT Bearer". A JWS compact token signed with HMAC (HS*), RSASSA-PKCS1-v1_5
//! (RS*), RSASSA-PSS (PS*, salt as long as the hash) or ECDSA (ES*, `r || s`), sent as
//! `Authorization: Bearer <token>` or as a query parameter.
//!
//! The bytes are Postman's (its jsonwebtoken `sign` of a string payload): the JOSE header is
//! `{"alg":…}` followed by the configured `header` fields, `typ` and `kid` first, then the rest
//! as written (`Object.assign({alg, typ, kid}, header)`), no `typ` added, compact JSON; the
//! payload is signed as written; both base64url without padding.
//!
//! Beyond Postman, because a proxy signs for hours rather than once: `issued_at`, `expires_in`,
//! `not_before` and `jwt_id` append `iat`, `exp`, `nbf` and `jti` to the payload of each token.
//! A token without them is minted once; one with them is reused while more than half of its
//! life remains (with `iat`/`nbf` but no `exp`: within the same second), and never with `jti`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use http::HeaderValue;
use http::header::AUTHORIZATION;
use pkcs8::{ObjectIdentifier, PrivateKeyInfo, SecretDocument};
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha384, Sha512};

use super::query::set_query_param;
use super::{AuthError, BuildContext, BuildError, SignContext, Signer};
use crate::context::Entropy;
use crate::secret::Secret;

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
    /// JSON text (the payload is signed exactly as written, surrounding whitespace aside).
    Json(String),
    /// A table, serialized as compact JSON (in key order: TOML tables keep no order here).
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

/// The payload as signed, and where added claims go.
#[derive(Debug)]
struct Payload {
    text: String,
    /// For an object: the offset just after its last member (before the closing brace and any
    /// whitespace in front of it), and whether it has members.
    splice: Option<(usize, bool)>,
}

impl Payload {
    fn with_claims(&self, claims: &str) -> String {
        match self.splice {
            Some((at, has_members)) if !claims.is_empty() => {
                let comma = if has_members { "," } else { "" };
                format!("{}{comma}{claims}{}", &self.text[..at], &self.text[at..])
            }
            _ => self.text.clone(),
        }
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
                (Json::Object(members), _) => members,
                (Json::Null, _) => Vec::new(),
                _ => return Err(BuildError::at("header", "must be a JSON object")),
            },
        };
        let header = jose_header(alg, &header)
            .map_err(|e| BuildError::at("header", format!("cannot be serialized: {e}")))?;

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
}

/// The JOSE header as Postman's jsonwebtoken writes it: `Object.assign({alg, typ, kid},
/// header)` without `header`'s own `alg`, so `typ` and `kid` (when given) come right after `alg`
/// and the other fields follow in the order written.
fn jose_header(alg: Algorithm, fields: &[(String, Json)]) -> Result<String, serde_json::Error> {
    let mut out = format!("{{\"alg\":\"{}\"", alg.name());
    let first = ["typ", "kid"];
    let ordered = first
        .iter()
        .filter_map(|name| fields.iter().find(|(k, _)| k == name))
        .chain(
            fields
                .iter()
                .filter(|(k, _)| k != "alg" && !first.contains(&k.as_str())),
        );
    for (name, value) in ordered {
        out.push(',');
        out.push_str(&json_string(name));
        out.push(':');
        out.push_str(&serde_json::to_string(value)?);
    }
    out.push('}');
    Ok(out)
}

/// The payload to sign, checked against the claims signet adds.
fn payload(cfg: Option<&JsonOrTable>, claims: Claims) -> Result<Payload, BuildError> {
    let (value, text) = match cfg {
        None => (Json::Object(Vec::new()), "{}".to_owned()),
        Some(p) => p.parse().map_err(|e| BuildError::at("payload", e))?,
    };
    let added = claims.names();
    let splice = match &value {
        Json::Object(members) => {
            if let Some((name, _)) = members.iter().find(|(k, _)| added.contains(&k.as_str())) {
                return Err(BuildError::at(
                    "payload",
                    format!("has `{name}`, which signet adds itself with the options set"),
                ));
            }
            // `text` is trimmed, so an object's text ends with its closing brace.
            let close = text.len().saturating_sub(1);
            Some((text[..close].trim_end().len(), !members.is_empty()))
        }
        _ if !added.is_empty() => {
            return Err(BuildError::at(
                "payload",
                format!(
                    "must be a JSON object to take the claims signet adds ({})",
                    added.join(", ")
                ),
            ));
        }
        _ => None,
    };
    Ok(Payload { text, splice })
}

impl JsonOrTable {
    /// The value, and its text: a JSON string as written (trimmed; empty means `{}`, as in
    /// Postman), a table as compact JSON.
    fn parse(&self) -> Result<(Json, String), String> {
        match self {
            JsonOrTable::Json(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return Ok((Json::Object(Vec::new()), "{}".to_owned()));
                }
                let value: Json =
                    serde_json::from_str(text).map_err(|e| format!("is not valid JSON ({e})"))?;
                Ok((value, text.to_owned()))
            }
            JsonOrTable::Table(table) => {
                let value = Json::from_table(table)?;
                let text = serde_json::to_string(&value)
                    .map_err(|e| format!("cannot be serialized: {e}"))?;
                Ok((value, text))
            }
        }
    }
}

fn json_string(s: &str) -> String {
    // Serializing a string cannot fail; the fallback is never taken.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A JSON value that keeps object members in the order written (a repeated name keeps its first
/// place and takes the last value, as `JSON.parse` does), so that header fields come out in the
/// order Postman writes them.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn from_table(table: &toml::Table) -> Result<Json, String> {
        let members = table
            .iter()
            .map(|(k, v)| Ok((k.clone(), Json::from_toml(v)?)))
            .collect::<Result<_, String>>()?;
        Ok(Json::Object(members))
    }

    fn from_toml(value: &toml::Value) -> Result<Json, String> {
        Ok(match value {
            toml::Value::String(s) => Json::String(s.clone()),
            toml::Value::Integer(i) => Json::Number((*i).into()),
            toml::Value::Float(f) => Json::Number(
                serde_json::Number::from_f64(*f)
                    .ok_or_else(|| format!("has {f}, which JSON cannot express"))?,
            ),
            toml::Value::Boolean(b) => Json::Bool(*b),
            toml::Value::Datetime(d) => Json::String(d.to_string()),
            toml::Value::Array(items) => Json::Array(
                items
                    .iter()
                    .map(Json::from_toml)
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(t) => Json::from_table(t)?,
        })
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct JsonVisitor;

        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }

            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }

            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }

            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(v)
                    .map(Json::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }

            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::String(v.to_owned()))
            }

            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::String(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut members: Vec<(String, Json)> = Vec::new();
                let mut index: HashMap<String, usize> = HashMap::new();
                while let Some((name, value)) = map.next_entry::<String, Json>()? {
                    match index.get(&name) {
                        Some(&at) => members[at].1 = value,
                        None => {
                            index.insert(name.clone(), members.len());
                            members.push((name, value));
                        }
                    }
                }
                Ok(Json::Object(members))
            }
        }

        d.deserialize_any(JsonVisitor)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(v) => s.serialize_str(v),
            Json::Array(items) => items.serialize(s),
            Json::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (name, value) in members {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    const ALL: [(Curve, ObjectIdentifier); 3] = [
        (
            Curve::P256,
            ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
        ),
        (Curve::P384, ObjectIdentifier::new_unwrap("1.3.132.0.34")),
        (Curve::P521, ObjectIdentifier::new_unwrap("1.3.132.0.35")),
    ];

    fn of(oid: ObjectIdentifier) -> Option<Curve> {
        Curve::ALL.iter().find(|(_, o)| *o == oid).map(|(c, _)| *c)
    }

    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
}

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms."
const MIN_RSA_BITS: usize = 2048;

/// Base64 as Node reads it for Postman's `is_secret_base64_encoded`: either alphabet, padding
/// optional.
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The signing key, ready for its algorithm.
enum Key {
    Hmac(Vec<u8>),
    Rs256(rsa::pkcs1v15::SigningKey<Sha256>),
    Rs384(rsa::pkcs1v15::SigningKey<Sha384>),
    Rs512(rsa::pkcs1v15::SigningKey<Sha512>),
    Ps256(rsa::pss::BlindedSigningKey<Sha256>),
    Ps384(rsa::pss::BlindedSigningKey<Sha384>),
    Ps512(rsa::pss::BlindedSigningKey<Sha512>),
    /// P-256 and P-384, through ring.
    Ecdsa(ring::signature::EcdsaKeyPair),
    P521(p521::ecdsa::SigningKey),
}

/// A private key as found in `private_key`: its DER and what it is.
enum Pem {
    Pkcs8(SecretDocument),
    Pkcs1(SecretDocument),
    Sec1(SecretDocument),
}

impl Key {
    fn load(alg: Algorithm, cfg: &JwtConfig) -> Result<Key, BuildError> {
        if alg.is_hmac() {
            return Key::hmac(alg, cfg);
        }
        let pem = cfg
            .private_key
            .as_ref()
            .filter(|k| !k.expose().trim().is_empty())
            .ok_or_else(|| {
                BuildError::at(
                    "private_key",
                    format!("is required for {alg} (a PEM private key: {})", alg.wants()),
                )
            })?;
        let pem = Pem::read(pem.expose())?;
        match alg.curve() {
            None => Key::rsa(alg, pem),
            Some(Curve::P521) => Key::p521(alg, pem),
            Some(curve) => Key::ecdsa(alg, curve, pem),
        }
    }

    fn hmac(alg: Algorithm, cfg: &JwtConfig) -> Result<Key, BuildError> {
        let secret = cfg
            .secret
            .as_ref()
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| BuildError::at("secret", format!("is required for {alg}")))?;
        if !cfg.is_secret_base64_encoded {
            return Ok(Key::Hmac(secret.expose().as_bytes().to_vec()));
        }
        let text: String = secret
            .expose()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = BASE64_STANDARD
            .decode(&text)
            .or_else(|_| BASE64_URL.decode(&text))
            .map_err(|_| {
                BuildError::at(
                    "secret",
                    "is not base64, but is_secret_base64_encoded = true says it is",
                )
            })?;
        if bytes.is_empty() {
            return Err(BuildError::at("secret", "decodes to no bytes"));
        }
        Ok(Key::Hmac(bytes))
    }

    fn rsa(alg: Algorithm, pem: Pem) -> Result<Key, BuildError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;

        let key = match &pem {
            Pem::Pkcs8(der) => {
                pem.expect_pkcs8_family(alg)?;
                rsa::RsaPrivateKey::from_pkcs8_der(der.as_bytes()).map_err(|e| e.to_string())
            }
            Pem::Pkcs1(der) => {
                rsa::RsaPrivateKey::from_pkcs1_der(der.as_bytes()).map_err(|e| e.to_string())
            }
            Pem::Sec1(_) => return Err(wrong_key(alg, "an EC key")),
        }
        .map_err(|e| BuildError::at("private_key", format!("is not a usable RSA key ({e})")))?;
        let bits = key.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(BuildError::at(
                "private_key",
                format!("is a {bits}-bit RSA key; JWS needs at least {MIN_RSA_BITS} bits"),
            ));
        }
        Ok(match alg {
            Algorithm::Rs256 => Key::Rs256(rsa::pkcs1v15::SigningKey::new(key)),
            Algorithm::Rs384 => Key::Rs384(rsa::pkcs1v15::SigningKey::new(key)),
            Algorithm::Rs512 => Key::Rs512(rsa::pkcs1v15::SigningKey::new(key)),
            // `new` sets the salt length to the hash length, as RFC 7518 §3.5 requires.
            Algorithm::Ps256 => Key::Ps256(rsa::pss::BlindedSigningKey::new(key)),
            Algorithm::Ps384 => Key::Ps384(rsa::pss::BlindedSigningKey::new(key)),
            _ => Key::Ps512(rsa::pss::BlindedSigningKey::new(key)),
        })
    }

    fn ecdsa(alg: Algorithm, curve: Curve, pem: Pem) -> Result<Key, BuildError> {
        use ring::signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        };

        let signing = if curve == Curve::P256 {
            &ECDSA_P256_SHA256_FIXED_SIGNING
        } else {
            &ECDSA_P384_SHA384_FIXED_SIGNING
        };
        let rng = ring::rand::SystemRandom::new();
        let unusable = |e: ring::error::KeyRejected| {
            BuildError::at(
                "private_key",
                format!("is not a usable {} key ({e})", curve.name()),
            )
        };
        let pair = match &pem {
            Pem::Pkcs8(der) => {
                pem.expect_pkcs8_family(alg)?;
                EcdsaKeyPair::from_pkcs8(signing, der.as_bytes(), &rng).map_err(unusable)?
            }
            Pem::Sec1(der) => {
                let key = sec1_key(alg, der)?;
                let public = key.public_key.ok_or_else(|| {
                    BuildError::at(
                        "private_key",
                        "is a SEC1 key without its public key; convert it to PKCS#8 with \
                         `openssl pkcs8 -topk8 -nocrypt`",
                    )
                })?;
                EcdsaKeyPair::from_private_key_and_public_key(
                    signing,
                    key.private_key,
                    public,
                    &rng,
                )
                .map_err(unusable)?
            }
            Pem::Pkcs1(_) => return Err(wrong_key(alg, "an RSA key")),
        };
        Ok(Key::Ecdsa(pair))
    }

    fn p521(alg: Algorithm, pem: Pem) -> Result<Key, BuildError> {
        use p521::pkcs8::DecodePrivateKey;

        let secret = match &pem {
            Pem::Pkcs8(der) => {
                pem.expect_pkcs8_family(alg)?;
                p521::SecretKey::from_pkcs8_der(der.as_bytes()).map_err(|e| e.to_string())
            }
            Pem::Sec1(der) => {
                sec1_key(alg, der)?;
                p521::SecretKey::from_sec1_der(der.as_bytes()).map_err(|e| e.to_string())
            }
            Pem::Pkcs1(_) => return Err(wrong_key(alg, "an RSA key")),
        }
        .map_err(|e| BuildError::at("private_key", format!("is not a usable P-521 key ({e})")))?;
        let key = p521::ecdsa::SigningKey::from_bytes(&secret.to_bytes()).map_err(|e| {
            BuildError::at("private_key", format!("is not a usable P-521 key ({e})"))
        })?;
        Ok(Key::P521(key))
    }

    fn sign(
        &self,
        alg: Algorithm,
        input: &[u8],
        entropy: &dyn Entropy,
    ) -> Result<Vec<u8>, AuthError> {
        let failed =
            |e: &dyn fmt::Display| AuthError::BadCredential(format!("{alg} signing failed: {e}"));
        let mut rng = EntropyRng(entropy);
        match self {
            Key::Hmac(key) => match alg {
                Algorithm::Hs256 => mac::<Hmac<Sha256>>(key, input),
                Algorithm::Hs384 => mac::<Hmac<Sha384>>(key, input),
                _ => mac::<Hmac<Sha512>>(key, input),
            }
            .map_err(|e| failed(&e)),
            Key::Rs256(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Rs384(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Rs512(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Ps256(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Ps384(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Ps512(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            // ring draws the nonce itself: its random source cannot be replaced.
            Key::Ecdsa(k) => k
                .sign(&ring::rand::SystemRandom::new(), input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| failed(&e)),
            // The nonce comes from the injected randomness (p521 0.13 has no RFC 6979 signer).
            Key::P521(k) => {
                randomized::<_, p521::ecdsa::Signature>(k, &mut rng, input).map_err(|e| failed(&e))
            }
        }
    }
}

impl Pem {
    fn read(text: &str) -> Result<Pem, BuildError> {
        let text = text.trim();
        let label = pkcs8::der::pem::decode_label(text.as_bytes()).map_err(|_| {
            BuildError::at(
                "private_key",
                "is not a PEM private key (-----BEGIN PRIVATE KEY----- …)",
            )
        })?;
        let kind: fn(SecretDocument) -> Pem = match label {
            "PRIVATE KEY" => Pem::Pkcs8,
            "RSA PRIVATE KEY" => Pem::Pkcs1,
            "EC PRIVATE KEY" => Pem::Sec1,
            "ENCRYPTED PRIVATE KEY" => {
                return Err(BuildError::at(
                    "private_key",
                    "is encrypted; give the key unencrypted (`openssl pkcs8 -topk8 -nocrypt`)",
                ));
            }
            other => {
                return Err(BuildError::at(
                    "private_key",
                    format!("is a PEM {other}, not a private key"),
                ));
            }
        };
        let (_, der) = SecretDocument::from_pem(text).map_err(|e| {
            BuildError::at("private_key", format!("is not a valid PEM {label} ({e})"))
        })?;
        Ok(kind(der))
    }

    /// For PKCS#8: that its algorithm (and curve) is the one `alg` signs with.
    fn expect_pkcs8_family(&self, alg: Algorithm) -> Result<(), BuildError> {
        let Pem::Pkcs8(der) = self else {
            return Ok(());
        };
        let info = PrivateKeyInfo::try_from(der.as_bytes()).map_err(|e| {
            BuildError::at("private_key", format!("is not a PKCS#8 private key ({e})"))
        })?;
        let oid = info.algorithm.oid;
        let is = if oid == RSA_ENCRYPTION {
            None
        } else if oid == EC_PUBLIC_KEY {
            let curve = info.algorithm.parameters_oid().ok().and_then(Curve::of);
            match (curve, alg.curve()) {
                (Some(have), Some(want)) if have == want => return Ok(()),
                (Some(have), _) => Some(format!("an EC {} key", have.name())),
                (None, _) => Some("an EC key on a curve JWS has no algorithm for".to_owned()),
            }
        } else if oid == RSASSA_PSS {
            Some("an RSASSA-PSS-only key (export it as a plain RSA key)".to_owned())
        } else if oid == ED25519 {
            Some("an Ed25519 key".to_owned())
        } else {
            Some(format!("a key of algorithm {oid}"))
        };
        match (is, alg.curve()) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(wrong_key(alg, "an RSA key")),
            (Some(is), _) => Err(wrong_key(alg, &is)),
        }
    }
}

fn wrong_key(alg: Algorithm, is: &str) -> BuildError {
    BuildError::at(
        "private_key",
        format!("is {is}; {alg} needs {}", alg.wants()),
    )
}

/// A SEC1 `ECPrivateKey`, checked to be on `alg`'s curve when it names one.
fn sec1_key(alg: Algorithm, der: &SecretDocument) -> Result<sec1::EcPrivateKey<'_>, BuildError> {
    let key = sec1::EcPrivateKey::try_from(der.as_bytes()).map_err(|e| {
        BuildError::at("private_key", format!("is not a SEC1 EC private key ({e})"))
    })?;
    if let Some(oid) = key.parameters.and_then(|p| p.named_curve()) {
        let have = Curve::of(oid);
        if have != alg.curve() {
            let is = match have {
                Some(curve) => format!("an EC {} key", curve.name()),
                None => "an EC key on a curve JWS has no algorithm for".to_owned(),
            };
            return Err(wrong_key(alg, &is));
        }
    }
    Ok(key)
}

fn mac<M: Mac + KeyInit>(key: &[u8], input: &[u8]) -> Result<Vec<u8>, hmac::digest::InvalidLength> {
    let mut mac = <M as Mac>::new_from_slice(key)?;
    mac.update(input);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn randomized<K, S>(
    key: &K,
    rng: &mut EntropyRng<'_>,
    input: &[u8],
) -> Result<Vec<u8>, rsa::signature::Error>
where
    K: RandomizedSigner<S>,
    S: SignatureEncoding,
{
    Ok(key.try_sign_with_rng(rng, input)?.to_vec())
}

/// The injected randomness as the RNG the `rsa` crate takes (PSS salts, blinding).
struct EntropyRng<'a>(&'a dyn Entropy);

impl rsa::rand_core::RngCore for EntropyRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for EntropyRng<'_> {}

#[cfg(test)]
#[path = "jwt_vectors.rs"]
mod jwt_vectors;

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
    use http::header::AUTHORIZATION;

    use super::*;
    use crate::context::OsEntropy;

    const SECRET: &str = "1111111111111111111111111111111a";

    fn config(toml: &str) -> JwtConfig {
        toml::from_str(toml).unwrap_or_else(|e| panic!("{toml}: {e}"))
    }

    fn jwt(extra: &str) -> Jwt {
        Jwt::new(config(&format!(
            "algorithm = \"HS256\"\nsecret = \"{SECRET}\"\n{extra}"
        )))
        .unwrap()
    }

    fn build_error(toml: &str) -> BuildError {
        Jwt::new(config(toml)).unwrap_err()
    }

    fn at(secs: u64, nonce: Option<&'static str>) -> SignContext<'static> {
        SignContext {
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            fixed_nonce: nonce,
            entropy: &OsEntropy,
        }
    }

    fn token_at(jwt: &Jwt, cx: &SignContext<'_>) -> String {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        jwt.sign(&mut parts, cx).unwrap();
        let value = parts.headers[AUTHORIZATION].to_str().unwrap().to_owned();
        value.strip_prefix("Bearer ").unwrap().to_owned()
    }

    fn part(token: &str, i: usize) -> String {
        let segment = token.split('.').nth(i).unwrap();
        String::from_utf8(B64U.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn header_fields_follow_alg_in_jsonwebtokens_order() {
        // Object.assign({alg, typ, kid}, header): typ and kid take the places the base object
        // gave them; everything else follows as written; header's own alg loses.
        let j = jwt(
            r#"header = '{"x5t":"a","kid":"k","typ":"JWT","alg":"none","n":[1,{"z":null,"b":2}]}'"#,
        );
        assert_eq!(
            part(&token_at(&j, &at(0, None)), 0),
            r#"{"alg":"HS256","typ":"JWT","kid":"k","x5t":"a","n":[1,{"z":null,"b":2}]}"#
        );
        // A repeated name keeps its first place and takes the last value, as JSON.parse does.
        let j = jwt(r#"header = '{"kid":"a","cty":"x","kid":"b"}'"#);
        assert_eq!(
            part(&token_at(&j, &at(0, None)), 0),
            r#"{"alg":"HS256","kid":"b","cty":"x"}"#
        );
        // No header, an empty one, `null`: `{"alg":…}` alone, no typ.
        for h in ["", "header = ''", "header = 'null'", "header = {}"] {
            assert_eq!(
                part(&token_at(&jwt(h), &at(0, None)), 0),
                r#"{"alg":"HS256"}"#
            );
        }
    }

    #[test]
    fn payload_string_is_signed_as_written_and_tables_compactly() {
        let j = jwt("payload = '''\n{ \"b\" : 1,\n  \"a\": [true] }\n'''");
        assert_eq!(
            part(&token_at(&j, &at(0, None)), 1),
            "{ \"b\" : 1,\n  \"a\": [true] }"
        );
        let j = jwt("payload = '\"just a string\"'");
        assert_eq!(part(&token_at(&j, &at(0, None)), 1), "\"just a string\"");
        let j = jwt("payload = { sub = \"me\", n = 1, nested = { b = true, f = 1.5 } }");
        assert_eq!(
            part(&token_at(&j, &at(0, None)), 1),
            r#"{"n":1,"nested":{"b":true,"f":1.5},"sub":"me"}"#
        );
        for p in ["", "payload = ''", "payload = {}"] {
            assert_eq!(part(&token_at(&jwt(p), &at(0, None)), 1), "{}");
        }
    }

    #[test]
    fn added_claims_go_at_the_end_of_the_object() {
        let all = "issued_at = true\nnot_before = true\nexpires_in = 600\njwt_id = true\n";
        let j = jwt(&format!("payload = '{{\"sub\":\"me\"}}'\n{all}"));
        assert_eq!(
            part(&token_at(&j, &at(1000, Some("n-1"))), 1),
            r#"{"sub":"me","iat":1000,"nbf":1000,"exp":1600,"jti":"n-1"}"#
        );
        let j = jwt("issued_at = true");
        assert_eq!(part(&token_at(&j, &at(5, None)), 1), r#"{"iat":5}"#);
        let j = jwt("payload = '''{\"a\":1\n}'''\nexpires_in = 60");
        assert_eq!(
            part(&token_at(&j, &at(5, None)), 1),
            "{\"a\":1,\"iat\":5,\"exp\":65\n}"
        );
        let j = jwt("payload = { a = 1 }\nnot_before = true");
        assert_eq!(part(&token_at(&j, &at(7, None)), 1), r#"{"a":1,"nbf":7}"#);
        // A random jti: 32 hex digits, fresh each time.
        let j = jwt("jwt_id = true");
        let one = part(&token_at(&j, &at(0, None)), 1);
        let two = part(&token_at(&j, &at(0, None)), 1);
        assert_ne!(one, two);
        let jti: serde_json::Value = serde_json::from_str(&one).unwrap();
        let jti = jti["jti"].as_str().unwrap();
        assert!(jti.len() == 32 && jti.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn tokens_are_reused_while_more_than_half_their_life_remains() {
        let fixed = jwt("");
        assert_eq!(
            token_at(&fixed, &at(0, None)),
            token_at(&fixed, &at(99_999, None))
        );

        let j = jwt("expires_in = 600");
        let first = token_at(&j, &at(1000, None));
        assert_eq!(token_at(&j, &at(1299, None)), first);
        let second = token_at(&j, &at(1300, None));
        assert_ne!(second, first);
        assert!(part(&second, 1).contains("\"iat\":1300"));
        // A clock that went back gets a token it can use.
        let back = token_at(&j, &at(900, None));
        assert!(part(&back, 1).contains("\"iat\":900"));

        // iat or nbf without exp: the time of the request, to the second.
        let j = jwt("issued_at = true");
        let t = token_at(&j, &at(50, None));
        assert_eq!(token_at(&j, &at(50, None)), t);
        assert_ne!(token_at(&j, &at(51, None)), t);

        // jti: never twice, even with the nonce fixed (the same claims, signed again).
        let j = jwt("jwt_id = true\nexpires_in = 600");
        assert_ne!(
            part(&token_at(&j, &at(1, None)), 1),
            part(&token_at(&j, &at(1, None)), 1)
        );
        assert!(j.cache.lock().unwrap().is_none());
    }

    #[test]
    fn config_errors_name_the_key() {
        let hs = format!("algorithm = \"HS256\"\nsecret = \"{SECRET}\"\n");
        let cases: &[(String, &str, &str)] = &[
            ("algorithm = \"HS256\"".into(), "secret", "required for HS256"),
            ("algorithm = \"HS384\"\nsecret = \"\"".into(), "secret", "required"),
            (
                "algorithm = \"HS256\"\nsecret = \"not base64!\"\nis_secret_base64_encoded = true"
                    .into(),
                "secret",
                "not base64",
            ),
            ("algorithm = \"RS256\"".into(), "private_key", "required for RS256"),
            (
                "algorithm = \"RS256\"\nprivate_key = \"MIIEvQIBADANBg\"".into(),
                "private_key",
                "not a PEM private key",
            ),
            (
                "algorithm = \"RS256\"\nprivate_key = \"-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\"".into(),
                "private_key",
                "not a valid PEM PRIVATE KEY",
            ),
            (
                "algorithm = \"RS256\"\nprivate_key = \"-----BEGIN PUBLIC KEY-----\\nMIIB\\n-----END PUBLIC KEY-----\"".into(),
                "private_key",
                "is a PEM PUBLIC KEY, not a private key",
            ),
            (
                "algorithm = \"ES256\"\nprivate_key = \"-----BEGIN ENCRYPTED PRIVATE KEY-----\\nMIIB\\n-----END ENCRYPTED PRIVATE KEY-----\"".into(),
                "private_key",
                "encrypted",
            ),
            (format!("{hs}payload = '{{\"a\":'"), "payload", "not valid JSON"),
            (format!("{hs}payload = 'sub=me'"), "payload", "not valid JSON"),
            (
                format!("{hs}payload = '[1]'\nissued_at = true"),
                "payload",
                "must be a JSON object",
            ),
            (
                format!("{hs}payload = '{{\"exp\":1}}'\nexpires_in = 60"),
                "payload",
                "has `exp`",
            ),
            (format!("{hs}header = '[]'"), "header", "must be a JSON object"),
            (format!("{hs}header = '{{'"), "header", "not valid JSON"),
            (format!("{hs}expires_in = 0"), "expires_in", "at least 1"),
            (
                format!("{hs}add_token_to = \"query_param\"\nquery_param_key = \"\""),
                "query_param_key",
                "empty",
            ),
            (format!("{hs}header_prefix = \"a\\nb\""), "header_prefix", "not allowed"),
        ];
        for (toml, key, reason) in cases {
            let err = build_error(toml);
            assert_eq!(err.key, Some(*key), "{toml}: {err}");
            assert!(err.reason.contains(reason), "{toml}: {err}");
            assert!(!err.to_string().contains(SECRET));
        }
        // Unknown algorithms and keys are refused by the table's own parse.
        let err = toml::from_str::<JwtConfig>("algorithm = \"HS257\"").unwrap_err();
        assert!(err.to_string().contains("unknown variant `HS257`"), "{err}");
        let err = toml::from_str::<JwtConfig>("algorithm = \"HS256\"\npayload = 5").unwrap_err();
        assert!(
            err.to_string().contains("a JSON string or an inline table"),
            "{err}"
        );
    }

    #[test]
    fn keys_of_the_wrong_kind_or_size_are_refused_at_private_key() {
        use rsa::pkcs8::EncodePrivateKey;

        let rng = ring::rand::SystemRandom::new();
        let p384 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let p384 =
            pkcs8::der::pem::encode_string("PRIVATE KEY", pkcs8::LineEnding::LF, p384.as_ref())
                .unwrap();
        let p256 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let p256_sec1 = PrivateKeyInfo::try_from(p256.as_ref()).unwrap().private_key;
        let p256_sec1 = sec1::EcPrivateKey::try_from(p256_sec1).unwrap();
        // With the curve named inside, as `openssl ec` writes it.
        let p256_sec1 = sec1::EcPrivateKey {
            parameters: Some(sec1::EcParameters::NamedCurve(Curve::ALL[0].1)),
            ..p256_sec1
        };
        let p256_sec1 = pkcs8::der::Encode::to_der(&p256_sec1).unwrap();
        let p256_sec1 =
            pkcs8::der::pem::encode_string("EC PRIVATE KEY", pkcs8::LineEnding::LF, &p256_sec1)
                .unwrap();
        let small = rsa::RsaPrivateKey::new(&mut EntropyRng(&OsEntropy), 1024).unwrap();
        let small_pkcs1 =
            rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_pem(&small, pkcs8::LineEnding::LF).unwrap();
        let small = small.to_pkcs8_pem(pkcs8::LineEnding::LF).unwrap();
        let cases = [
            (
                "ES384",
                p256_sec1.as_str(),
                "is an EC P-256 key; ES384 needs an EC P-384 key",
            ),
            (
                "RS256",
                p256_sec1.as_str(),
                "is an EC key; RS256 needs an RSA key",
            ),
            (
                "ES256",
                small_pkcs1.as_str(),
                "is an RSA key; ES256 needs an EC P-256 key",
            ),
            ("RS256", small_pkcs1.as_str(), "1024-bit RSA key"),
            (
                "ES256",
                p384.as_str(),
                "is an EC P-384 key; ES256 needs an EC P-256 key",
            ),
            (
                "RS256",
                p384.as_str(),
                "is an EC P-384 key; RS256 needs an RSA key",
            ),
            (
                "ES512",
                small.as_str(),
                "is an RSA key; ES512 needs an EC P-521 key",
            ),
            ("PS256", small.as_str(), "1024-bit RSA key"),
        ];
        for (alg, pem, reason) in cases {
            let cfg = JwtConfig {
                private_key: Some(Secret::new(pem)),
                ..config(&format!("algorithm = \"{alg}\""))
            };
            let err = Jwt::new(cfg).unwrap_err();
            assert_eq!(err.key, Some("private_key"), "{alg}: {err}");
            assert!(err.reason.contains(reason), "{alg}: {err}");
            assert!(!err.to_string().contains("BEGIN"), "{err}");
        }
    }

    #[test]
    fn describe_and_debug_hide_the_secret() {
        let j = jwt("expires_in = 60\njwt_id = true");
        assert_eq!(
            j.describe(),
            "jwt HS256 header prefix=\"Bearer\", adds iat exp jti (expires_in 60s)"
        );
        let _ = token_at(&j, &at(0, None));
        let debug = format!("{j:?}");
        assert!(!debug.contains(SECRET) && !debug.contains("eyJ"), "{debug}");
        let cfg = format!(
            "{:?}",
            config(&format!("algorithm = \"HS256\"\nsecret = \"{SECRET}\""))
        );
        assert!(!cfg.contains(SECRET), "{cfg}");
        let q = jwt("add_token_to = \"query_param\"");
        assert_eq!(q.describe(), "jwt HS256 query parameter token");
    }
}
