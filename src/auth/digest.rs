//! `digest`: HTTP Digest (RFC 7616). The config is checked now; signing comes with the
//! challenge-response pipeline.

use serde::Deserialize;

use crate::secret::Secret;

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
