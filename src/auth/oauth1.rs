//! OAuth 1.0a (RFC 5849): HMAC, RSA and PLAINTEXT signatures, sent in the Authorization header or
//! in the query / form body.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::request::Parts;
use http::{Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::{AuthError, BodyNeed, BuildError, SignContext, SyncSigner};
use crate::secret::Secret;

#[cfg(test)]
#[path = "oauth1_vectors.rs"]
mod oauth1_vectors;

/// Everything but RFC 3986's unreserved characters (RFC 5849 §3.6).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes as RFC 5849 §3.6 says: UTF-8 bytes, all but unreserved, uppercase hex.
pub fn encode(bytes: &[u8]) -> String {
    percent_encode(bytes, UNRESERVED).to_string()
}

/// How the signature is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum SignatureMethod {
    /// HMAC-SHA1 keyed with both secrets.
    #[default]
    #[serde(rename = "HMAC-SHA1")]
    HmacSha1,
    /// HMAC-SHA256 keyed with both secrets.
    #[serde(rename = "HMAC-SHA256")]
    HmacSha256,
    /// HMAC-SHA512 keyed with both secrets.
    #[serde(rename = "HMAC-SHA512")]
    HmacSha512,
    /// RSASSA-PKCS1-v1_5 with SHA-1 and `private_key`.
    #[serde(rename = "RSA-SHA1")]
    RsaSha1,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and `private_key`.
    #[serde(rename = "RSA-SHA256")]
    RsaSha256,
    /// RSASSA-PKCS1-v1_5 with SHA-512 and `private_key`.
    #[serde(rename = "RSA-SHA512")]
    RsaSha512,
    /// The two secrets themselves (only over TLS).
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
}

impl SignatureMethod {
    /// The `oauth_signature_method` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha1 => "HMAC-SHA1",
            Self::HmacSha256 => "HMAC-SHA256",
            Self::HmacSha512 => "HMAC-SHA512",
            Self::RsaSha1 => "RSA-SHA1",
            Self::RsaSha256 => "RSA-SHA256",
            Self::RsaSha512 => "RSA-SHA512",
            Self::Plaintext => "PLAINTEXT",
        }
    }

    fn is_rsa(self) -> bool {
        matches!(self, Self::RsaSha1 | Self::RsaSha256 | Self::RsaSha512)
    }

    /// The method's hash over `data`, base64; PLAINTEXT has none.
    fn body_hash(self, data: &[u8]) -> Option<String> {
        Some(match self {
            Self::HmacSha1 | Self::RsaSha1 => B64.encode(Sha1::digest(data)),
            Self::HmacSha256 | Self::RsaSha256 => B64.encode(Sha256::digest(data)),
            Self::HmacSha512 | Self::RsaSha512 => B64.encode(Sha512::digest(data)),
            Self::Plaintext => return None,
        })
    }
}

/// Where the protocol parameters go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddTo {
    /// `Authorization: OAuth …`.
    #[default]
    Header,
    /// The form body of a form POST/PUT, else the query string.
    QueryOrBody,
}

/// The `oauth1` auth table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth1Config {
    /// `oauth_consumer_key`.
    pub consumer_key: Secret,
    /// The signature method (HMAC-SHA1 unless set).
    #[serde(default)]
    pub signature_method: SignatureMethod,
    /// The consumer (client) secret for HMAC and PLAINTEXT.
    #[serde(default)]
    pub consumer_secret: Secret,
    /// `oauth_token`; empty means none.
    #[serde(default)]
    pub token: Secret,
    /// The token secret for HMAC and PLAINTEXT.
    #[serde(default)]
    pub token_secret: Secret,
    /// PEM RSA private key (PKCS#1 or PKCS#8) for the RSA methods.
    pub private_key: Option<Secret>,
    /// Where the parameters go.
    #[serde(default)]
    pub add_to: AddTo,
    /// `oauth_callback`.
    #[serde(default)]
    pub callback: String,
    /// `oauth_verifier`.
    #[serde(default)]
    pub verifier: Secret,
    /// A fixed `oauth_timestamp` instead of the current time.
    #[serde(default, deserialize_with = "string_or_integer")]
    pub timestamp: Option<String>,
    /// A fixed `oauth_nonce` instead of a random one.
    pub nonce: Option<String>,
    /// `oauth_version`; empty leaves it out.
    #[serde(default = "default_version")]
    pub version: String,
    /// The header's `realm`, never signed.
    pub realm: Option<String>,
    /// Send `oauth_body_hash` for bodies that are not forms.
    #[serde(default)]
    pub include_body_hash: bool,
    /// Send and sign parameters whose value is empty (token, callback, verifier, version).
    #[serde(default)]
    pub add_empty_params: bool,
    /// Percent-encode the values inside the Authorization header.
    #[serde(default = "yes")]
    pub encode_header_params: bool,
}

fn default_version() -> String {
    "1.0".to_owned()
}

fn yes() -> bool {
    true
}

fn string_or_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        I(u64),
    }
    Ok(Option::<Either>::deserialize(d)?.map(|e| match e {
        Either::S(s) => s,
        Either::I(i) => i.to_string(),
    }))
}

/// A parsed RSA key, bound to its digest.
enum RsaKey {
    Sha1(SigningKey<Sha1>),
    Sha256(SigningKey<Sha256>),
    Sha512(SigningKey<Sha512>),
}

/// A ready OAuth 1.0a signer.
pub struct OAuth1 {
    cfg: OAuth1Config,
    rsa: Option<RsaKey>,
}

impl fmt::Debug for OAuth1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth1")
            .field("signature_method", &self.cfg.signature_method)
            .field("add_to", &self.cfg.add_to)
            .field("realm", &self.cfg.realm)
            .finish_non_exhaustive()
    }
}

fn has_bad_char(s: &str) -> bool {
    s.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

impl OAuth1 {
    fn wants_body_hash(&self, req: &Parts) -> bool {
        self.cfg.include_body_hash
            && self.cfg.signature_method != SignatureMethod::Plaintext
            && !is_form(req)
    }

    /// The `oauth_*` parameters other than the signature and body hash, in the order sent.
    fn protocol_params(&self, cx: &SignContext) -> Vec<(&'static str, String)> {
        let c = &self.cfg;
        let timestamp = c
            .timestamp
            .clone()
            .unwrap_or_else(|| cx.unix_seconds().to_string());
        let nonce = c.nonce.clone().unwrap_or_else(|| cx.nonce_alphanumeric(32));
        let mut out = vec![("oauth_consumer_key", c.consumer_key.expose().to_owned())];
        let optional = |name, value: &str, out: &mut Vec<(&'static str, String)>| {
            if !value.is_empty() || c.add_empty_params {
                out.push((name, value.to_owned()));
            }
        };
        optional("oauth_token", c.token.expose(), &mut out);
        out.push((
            "oauth_signature_method",
            c.signature_method.as_str().to_owned(),
        ));
        out.push(("oauth_timestamp", timestamp));
        out.push(("oauth_nonce", nonce));
        optional("oauth_version", &c.version, &mut out);
        optional("oauth_callback", &c.callback, &mut out);
        optional("oauth_verifier", c.verifier.expose(), &mut out);
        out
    }

    /// `oauth_signature` over the signature base string.
    fn signature(&self, base: &str) -> String {
        let c = &self.cfg;
        let key = format!(
            "{}&{}",
            encode(c.consumer_secret.expose().as_bytes()),
            encode(c.token_secret.expose().as_bytes())
        );
        let b = base.as_bytes();
        match (c.signature_method, &self.rsa) {
            (SignatureMethod::HmacSha1, _) => B64.encode(mac::<Hmac<Sha1>>(key.as_bytes(), b)),
            (SignatureMethod::HmacSha256, _) => B64.encode(mac::<Hmac<Sha256>>(key.as_bytes(), b)),
            (SignatureMethod::HmacSha512, _) => B64.encode(mac::<Hmac<Sha512>>(key.as_bytes(), b)),
            (SignatureMethod::Plaintext, _) => key,
            (_, Some(RsaKey::Sha1(k))) => B64.encode(k.sign(b).to_vec()),
            (_, Some(RsaKey::Sha256(k))) => B64.encode(k.sign(b).to_vec()),
            (_, Some(RsaKey::Sha512(k))) => B64.encode(k.sign(b).to_vec()),
            (_, None) => unreachable!("`new` parses the key of every RSA method"),
        }
    }

    /// `OAuth realm="…", oauth_…="…", …`.
    fn header_value(&self, protocol: &[(&str, String)]) -> String {
        let mut parts = Vec::with_capacity(protocol.len() + 1);
        if let Some(realm) = &self.cfg.realm {
            parts.push(format!("realm=\"{realm}\""));
        }
        for (k, v) in protocol {
            if self.cfg.encode_header_params {
                parts.push(format!("{k}=\"{}\"", encode(v.as_bytes())));
            } else {
                parts.push(format!("{k}=\"{v}\""));
            }
        }
        format!("OAuth {}", parts.join(", "))
    }
}

impl SyncSigner for OAuth1 {
    type Config = OAuth1Config;

    /// Checks the config, parses the RSA key, and builds the signer.
    fn new(cfg: OAuth1Config) -> Result<Self, BuildError> {
        if cfg.consumer_key.expose().is_empty() {
            return Err(BuildError::at(
                "consumer_key",
                "`consumer_key` must not be empty",
            ));
        }
        let rsa = if cfg.signature_method.is_rsa() {
            let pem = cfg.private_key.as_ref().ok_or_else(|| {
                BuildError::at(
                    "private_key",
                    format!("{} needs `private_key`", cfg.signature_method.as_str()),
                )
            })?;
            let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem.expose().trim())
                .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem.expose().trim()))
                .map_err(|_| {
                    BuildError::at(
                        "private_key",
                        "`private_key` is not a PEM RSA private key (PKCS#1 or PKCS#8)",
                    )
                })?;
            Some(match cfg.signature_method {
                SignatureMethod::RsaSha1 => RsaKey::Sha1(SigningKey::new(key)),
                SignatureMethod::RsaSha256 => RsaKey::Sha256(SigningKey::new(key)),
                _ => RsaKey::Sha512(SigningKey::new(key)),
            })
        } else {
            None
        };
        if cfg.realm.as_deref().is_some_and(has_bad_char) {
            return Err(BuildError::at(
                "realm",
                "`realm` must not contain `\"`, `\\` or control characters",
            ));
        }
        let fixed = [
            ("consumer_key", cfg.consumer_key.expose()),
            ("token", cfg.token.expose()),
            ("callback", &cfg.callback),
            ("verifier", cfg.verifier.expose()),
            ("version", &cfg.version),
            ("timestamp", cfg.timestamp.as_deref().unwrap_or("")),
            ("nonce", cfg.nonce.as_deref().unwrap_or("")),
        ];
        for (key, value) in fixed {
            // Unencoded header values are quoted strings; these characters would break them.
            if !cfg.encode_header_params && cfg.add_to == AddTo::Header && has_bad_char(value) {
                return Err(BuildError::at(
                    key,
                    format!(
                        "`{key}` has `\"`, `\\` or a control character, so it needs encode_header_params = true"
                    ),
                ));
            }
        }
        Ok(OAuth1 { cfg, rsa })
    }

    /// Form bodies are signed and may receive the parameters, and `include_body_hash` hashes the
    /// body: both need it buffered; otherwise the body streams.
    fn body_need(&self, req: &Parts) -> BodyNeed {
        if is_form(req) || self.wants_body_hash(req) {
            BodyNeed::Required
        } else {
            BodyNeed::None
        }
    }

    /// Signs the request and adds the parameters where `add_to` says, replacing any the client sent.
    fn sign(
        &self,
        req: &mut Parts,
        body: Option<&mut Bytes>,
        cx: &SignContext,
    ) -> Result<(), AuthError> {
        let form = is_form(req);
        let mut body = body;
        if body.is_none() && (form || self.wants_body_hash(req)) {
            return Err(AuthError::Unsignable(
                "the request body is needed but was not buffered".into(),
            ));
        }

        // The client's own OAuth parameters would otherwise be signed alongside signet's.
        let query = strip_oauth(req.uri.query().unwrap_or("").as_bytes());
        let form_body = match body.as_deref_mut() {
            Some(b) if form => {
                let stripped = strip_oauth(b);
                *b = Bytes::from(stripped.clone());
                Some(stripped)
            }
            _ => None,
        };

        let mut protocol = self.protocol_params(cx);
        if self.wants_body_hash(req) {
            let data: &[u8] = body.as_deref().map(|b| &b[..]).unwrap_or_default();
            if let Some(hash) = self.cfg.signature_method.body_hash(data) {
                protocol.push(("oauth_body_hash", hash));
            }
        }

        let mut all: Vec<(String, String)> = Vec::new();
        for (k, v) in parse_form(&query)
            .into_iter()
            .chain(form_body.as_deref().map(parse_form).unwrap_or_default())
        {
            all.push((encode(&k), encode(&v)));
        }
        for (k, v) in &protocol {
            all.push((encode(k.as_bytes()), encode(v.as_bytes())));
        }
        let base = base_string(&req.method, &req.uri, all)?;
        let signature = self.signature(&base);
        // The base string holds the consumer key and token, which every request sends in the
        // clear; the two secrets only key the signature.
        super::SignedDetail::record(req, "signature base string", base, &[]);
        protocol.push(("oauth_signature", signature));

        match self.cfg.add_to {
            AddTo::Header => {
                let value = self.header_value(&protocol);
                let value = HeaderValue::try_from(value).map_err(|_| {
                    AuthError::Unsignable(
                        "the Authorization header would be invalid".into(),
                    )
                })?;
                req.headers.insert(AUTHORIZATION, value);
                set_query(req, query)?;
            }
            AddTo::QueryOrBody => {
                if let Some(v) = req.headers.get(AUTHORIZATION)
                    && v
                        .as_bytes()
                        .get(..6)
                        .is_some_and(|word| word.eq_ignore_ascii_case(b"oauth "))
                {
                    req.headers.remove(AUTHORIZATION);
                }
                let pairs = protocol
                    .iter()
                    .map(|(k, v)| format!("{k}={}", encode(v.as_bytes())))
                    .collect::<Vec<_>>()
                    .join("&");
                let to_body = form && (req.method == Method::POST || req.method == Method::PUT);
                match (to_body, body) {
                    (true, Some(b)) => *b = Bytes::from(append(b.to_vec(), &pairs)),
                    _ => return set_query(req, append(query, &pairs)),
                }
                set_query(req, query)?;
            }
        }
        Ok(())
    }

    /// One line for `signet explain`/`check`.
    fn describe(&self) -> String {
        let c = &self.cfg;
        format!(
            "oauth1 signature_method={} add_to={} realm={} token={} body_hash={}",
            c.signature_method.as_str(),
            match c.add_to {
                AddTo::Header => "header",
                AddTo::QueryOrBody => "query_or_body",
            },
            c.realm.as_deref().unwrap_or("-"),
            if c.token.expose().is_empty() {
                "no"
            } else {
                "yes"
            },
            c.include_body_hash,
        )
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> Vec<u8> {
    super::mac::hmac::<M>(key, &[msg]).to_vec()
}

/// Whether the body is `application/x-www-form-urlencoded` (whose parameters are signed).
fn is_form(req: &Parts) -> bool {
    req.headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Splits a query or form body into decoded name/value pairs (`+` is a space), keeping
/// duplicates and order; empty pieces are skipped.
fn parse_form(s: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let decode = |part: &[u8]| -> Vec<u8> {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_decode(&spaced).collect()
    };
    s.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut halves = p.splitn(2, |&b| b == b'=');
            let name = halves.next().unwrap_or_default();
            let value = halves.next().unwrap_or_default();
            (decode(name), decode(value))
        })
        .collect()
}

/// The pieces of a query or form body whose names do not start with `oauth_`, as sent.
fn strip_oauth(s: &[u8]) -> Vec<u8> {
    let kept: Vec<&[u8]> = s
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split(|&b| b == b'=').next().unwrap_or_default();
            !parse_form(name)
                .first()
                .is_some_and(|(n, _)| n.starts_with(b"oauth_"))
        })
        .collect();
    kept.join(&b'&')
}

fn append(mut s: Vec<u8>, pairs: &str) -> Vec<u8> {
    if !s.is_empty() {
        s.push(b'&');
    }
    s.extend_from_slice(pairs.as_bytes());
    s
}

/// Replaces the URI's query (empty drops the `?`).
fn set_query(req: &mut Parts, query: Vec<u8>) -> Result<(), AuthError> {
    if req.uri.query().unwrap_or("").as_bytes() == query.as_slice() {
        return Ok(());
    }
    let mut pq = req.uri.path().to_owned();
    if !query.is_empty() {
        pq.push('?');
        pq.push_str(&String::from_utf8_lossy(&query));
    }
    let mut parts = req.uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().map_err(|_| {
        AuthError::Unsignable("the signed query is not a valid URI".into())
    })?);
    req.uri = Uri::from_parts(parts)
        .map_err(|_| AuthError::Unsignable("the signed query is not a valid URI".into()))?;
    Ok(())
}

/// RFC 5849 §3.4.1.2: lowercase scheme and host, the port only when not the default, no query.
fn base_string_uri(uri: &Uri) -> Result<String, AuthError> {
    let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
    let host = uri
        .host()
        .ok_or_else(|| AuthError::Unsignable("the request URI has no host".into()))?
        .to_ascii_lowercase();
    let port = match (uri.port_u16(), scheme.as_str()) {
        (Some(80), "http") | (Some(443), "https") | (None, _) => String::new(),
        (Some(p), _) => format!(":{p}"),
    };
    let path = if uri.path().is_empty() {
        "/"
    } else {
        uri.path()
    };
    Ok(format!("{scheme}://{host}{port}{path}"))
}

/// RFC 5849 §3.4.1: method, base URI and the sorted, encoded parameters, each encoded again.
fn base_string(
    method: &Method,
    uri: &Uri,
    mut params: Vec<(String, String)>,
) -> Result<String, AuthError> {
    params.sort();
    let normalized = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!(
        "{}&{}&{}",
        method.as_str().to_ascii_uppercase(),
        encode(base_string_uri(uri)?.as_bytes()),
        encode(normalized.as_bytes())
    ))
}
