//! Akamai EdgeGrid (`EG1-HMAC-SHA256`): an HMAC over the method, URL, chosen headers and a hash of
//! the first `max_body` bytes of a POST body, keyed by a key derived from the timestamp.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hmac::Hmac;
use http::header::{AUTHORIZATION, HeaderValue};
use http::request::Parts;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use super::{AuthError, BodyNeed, BuildError, SignContext, SyncSigner};
use crate::secret::Secret;

#[cfg(test)]
#[path = "edgegrid_vectors.rs"]
mod edgegrid_vectors;

/// The `edgegrid` auth table.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeGridConfig {
    /// The access token from the API client's credentials.
    pub access_token: Secret,
    /// The client token from the API client's credentials.
    pub client_token: Secret,
    /// The client secret that keys the signature.
    pub client_secret: Secret,
    /// Header names whose values are signed, in this order (the API says which).
    #[serde(default)]
    pub headers_to_sign: Vec<String>,
    /// How many bytes of a POST body are hashed.
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// A fixed nonce instead of a random UUID.
    pub nonce: Option<String>,
    /// A fixed timestamp (`yyyyMMddTHH:mm:ss+0000`) instead of the current time.
    pub timestamp: Option<String>,
}

fn default_max_body() -> usize {
    131_072
}

/// A ready EdgeGrid signer.
pub struct EdgeGrid {
    cfg: EdgeGridConfig,
    /// `headers_to_sign`, lowercased once.
    headers: Vec<String>,
}

impl fmt::Debug for EdgeGrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeGrid")
            .field("headers_to_sign", &self.headers)
            .field("max_body", &self.cfg.max_body)
            .finish_non_exhaustive()
    }
}

impl EdgeGrid {
    /// The tab-joined fields before the auth prefix: method, scheme, host, path and query,
    /// canonical headers, content hash, and an empty slot the prefix is appended to.
    fn data_to_sign(&self, req: &Parts, content_hash: &str) -> Result<String, AuthError> {
        let scheme = req.uri.scheme_str().unwrap_or("https");
        let host =
            req.uri.authority().map(|a| a.as_str()).ok_or_else(|| {
                AuthError::Unsignable("the request URI has no host".into())
            })?;
        let path = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        Ok([
            req.method.as_str(),
            scheme,
            host,
            path,
            &self.canonical_headers(req),
            content_hash,
            "",
        ]
        .join("\t"))
    }

    /// `name:value` for each header to sign that is present, values trimmed and with runs of
    /// whitespace collapsed to one space; a repeated header is joined with `,` as HTTP allows.
    fn canonical_headers(&self, req: &Parts) -> String {
        let mut out = Vec::new();
        for name in &self.headers {
            let values: Vec<String> = req
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            if values.is_empty() {
                continue;
            }
            let joined = values.join(",");
            let collapsed = joined.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push(format!("{name}:{collapsed}"));
        }
        out.join("\t")
    }
}

impl SyncSigner for EdgeGrid {
    type Config = EdgeGridConfig;

    /// Checks the config and builds the signer.
    fn new(cfg: EdgeGridConfig) -> Result<Self, BuildError> {
        for (key, value) in [
            ("access_token", &cfg.access_token),
            ("client_token", &cfg.client_token),
            ("client_secret", &cfg.client_secret),
        ] {
            if value.expose().is_empty() {
                return Err(BuildError::at(key, format!("`{key}` must not be empty")));
            }
            // Tokens go into the header verbatim; `;` or a control character would corrupt it.
            if key != "client_secret" && value.expose().chars().any(|c| c == ';' || c.is_control())
            {
                return Err(BuildError::at(
                    key,
                    format!("`{key}` contains `;` or a control character"),
                ));
            }
        }
        for (key, value) in [("nonce", &cfg.nonce), ("timestamp", &cfg.timestamp)] {
            if let Some(v) = value
                && (v.is_empty() || v.chars().any(|c| c == ';' || c.is_control()))
            {
                return Err(BuildError::at(
                    key,
                    format!("`{key}` is empty or contains `;` or a control character"),
                ));
            }
        }
        let mut headers = Vec::with_capacity(cfg.headers_to_sign.len());
        for name in &cfg.headers_to_sign {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(BuildError::at(
                    "headers_to_sign",
                    format!("`headers_to_sign` has an invalid header name {name:?}"),
                ));
            }
            headers.push(name.to_ascii_lowercase());
        }
        Ok(EdgeGrid { cfg, headers })
    }

    /// A POST body is hashed, so it must be buffered; nothing else is.
    ///
    /// Only the first `max_body` bytes are hashed, but the header goes out before the body, so even
    /// that prefix must be in hand; a body that cannot be buffered at all cannot be signed (413).
    fn body_need(&self, req: &Parts) -> BodyNeed {
        if req.method == http::Method::POST {
            BodyNeed::Prefix(self.cfg.max_body)
        } else {
            BodyNeed::None
        }
    }

    /// Sets `Authorization: EG1-HMAC-SHA256 …`, replacing the client's.
    fn sign(
        &self,
        req: &mut Parts,
        body: Option<&mut Bytes>,
        cx: &SignContext,
    ) -> Result<(), AuthError> {
        let timestamp = match &self.cfg.timestamp {
            Some(t) => t.clone(),
            None => format_timestamp(cx)?,
        };
        let nonce = match &self.cfg.nonce {
            Some(n) => n.clone(),
            None => uuid_v4(cx),
        };
        let prefix = format!(
            "EG1-HMAC-SHA256 client_token={};access_token={};timestamp={timestamp};nonce={nonce};",
            self.cfg.client_token.expose(),
            self.cfg.access_token.expose(),
        );
        let content_hash = if req.method == http::Method::POST {
            let body = body.ok_or_else(|| {
                AuthError::Unsignable(
                    "a POST body must be hashed but was not buffered".into(),
                )
            })?;
            content_hash(body, self.cfg.max_body)
        } else {
            String::new()
        };
        let data = self.data_to_sign(req, &content_hash)? + &prefix;
        let key = B64.encode(hmac_sha256(
            self.cfg.client_secret.expose().as_bytes(),
            timestamp.as_bytes(),
        ));
        let signature = B64.encode(hmac_sha256(key.as_bytes(), data.as_bytes()));
        let value =
            HeaderValue::try_from(format!("{prefix}signature={signature}")).map_err(|_| {
                AuthError::Unsignable("the Authorization header would be invalid".into())
            })?;
        req.headers.insert(AUTHORIZATION, value);
        super::SignedDetail::record(
            req,
            "data to sign",
            data,
            &[
                self.cfg.client_token.expose(),
                self.cfg.access_token.expose(),
            ],
        );
        Ok(())
    }

    /// One line for `signet explain`/`check`.
    fn describe(&self) -> String {
        format!(
            "edgegrid headers_to_sign=[{}] max_body={}{}{}",
            self.headers.join(","),
            self.cfg.max_body,
            if self.cfg.timestamp.is_some() {
                " timestamp=fixed"
            } else {
                ""
            },
            if self.cfg.nonce.is_some() {
                " nonce=fixed"
            } else {
                ""
            },
        )
    }
}

/// base64 SHA-256 of the first `max_body` bytes; an empty body has no hash at all.
fn content_hash(body: &[u8], max_body: usize) -> String {
    if body.is_empty() {
        return String::new();
    }
    let hashed = body.get(..max_body).unwrap_or(body);
    B64.encode(Sha256::digest(hashed))
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    super::mac::hmac::<Hmac<Sha256>>(key, &[msg]).into()
}

fn format_timestamp(cx: &SignContext) -> Result<String, AuthError> {
    let fmt = format_description!("[year][month][day]T[hour]:[minute]:[second]+0000");
    OffsetDateTime::from(cx.now)
        .format(&fmt)
        .map_err(|e| AuthError::Unsignable(format!("cannot format the timestamp: {e}")))
}

/// The fixed nonce, or a random UUID in version-4 layout, as Akamai's own clients send.
fn uuid_v4(cx: &SignContext) -> String {
    if let Some(fixed) = cx.fixed_nonce {
        return fixed.to_owned();
    }
    let mut b = [0u8; 16];
    cx.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::context::Entropy;
    use std::time::{Duration, UNIX_EPOCH};

    struct Counting;
    impl Entropy for Counting {
        fn fill(&self, buf: &mut [u8]) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = 0xf0 | i as u8;
            }
        }
    }

    fn signer(extra: &str) -> EdgeGrid {
        let toml = format!(
            "access_token = \"akab-a1\"\nclient_token = \"akab-c1\"\nclient_secret = \"sec1\"\n{extra}"
        );
        EdgeGrid::new(toml::from_str(&toml).unwrap()).unwrap()
    }

    fn parts(method: &str, uri: &str) -> Parts {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn timestamp_and_uuid_nonce_come_from_the_context() {
        // 2014-03-21T19:34:21Z, the vectors' timestamp.
        let cx = SignContext {
            now: UNIX_EPOCH + Duration::from_secs(1_395_430_461),
            fixed_nonce: None,
            entropy: &Counting,
        };
        let mut req = parts("GET", "https://h.example/x");
        req.headers
            .insert(AUTHORIZATION, HeaderValue::from_static("client-sent"));
        signer("").sign(&mut req, None, &cx).unwrap();
        let auth = req.headers[AUTHORIZATION].to_str().unwrap();
        assert!(
            auth.contains(";timestamp=20140321T19:34:21+0000;"),
            "{auth}"
        );
        assert!(
            auth.contains(";nonce=f0f1f2f3-f4f5-46f7-b8f9-fafbfcfdfeff;"),
            "{auth}"
        );
        assert_eq!(req.headers.get_all(AUTHORIZATION).iter().count(), 1);
    }

    #[test]
    fn only_post_needs_the_body() {
        let s = signer("");
        assert_eq!(
            s.body_need(&parts("POST", "https://h/")),
            BodyNeed::Prefix(131_072)
        );
        assert_eq!(s.body_need(&parts("PUT", "https://h/")), BodyNeed::None);
        assert_eq!(s.body_need(&parts("GET", "https://h/")), BodyNeed::None);
    }

    #[test]
    fn post_without_a_buffered_body_is_refused() {
        let err = signer("").sign(
            &mut parts("POST", "https://h/"),
            None,
            &SignContext::system(),
        );
        assert!(matches!(err, Err(AuthError::Unsignable(_))));
    }

    #[test]
    fn debug_and_describe_hide_the_credentials() {
        let s = signer("headers_to_sign = [\"X-A\"]");
        for text in [format!("{s:?}"), s.describe()] {
            assert!(!text.contains("akab") && !text.contains("sec1"), "{text}");
        }
        assert_eq!(
            s.describe(),
            "edgegrid headers_to_sign=[x-a] max_body=131072"
        );
    }

    #[test]
    fn bad_config_is_refused_by_key_name() {
        let cfg =
            toml::from_str("access_token = \"a;b\"\nclient_token = \"c\"\nclient_secret = \"s\"")
                .unwrap();
        assert!(
            EdgeGrid::new(cfg)
                .unwrap_err()
                .to_string()
                .contains("access_token")
        );
    }
}
