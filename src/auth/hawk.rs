//! Hawk request authentication (`type = "hawk"`): an `Authorization: Hawk id=…, ts=…, nonce=…,
//! [hash=…,] [ext=…,] mac=…[, app=…[, dlg=…]]` header, MAC'd with HMAC-SHA-256 or HMAC-SHA-1.
//!
//! The MAC covers the method, path and query, host and port of the real destination (so inside an
//! intercepted HTTPS tunnel the port is 443 unless the URI names another), plus the optional
//! payload hash, `ext`, `app` and `dlg`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::Hmac;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::request::Parts;
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::mac::hmac;
use super::{AuthError, BodyNeed, BuildError, SignContext, SyncSigner};
use crate::secret::Secret;

/// The MAC and payload hash function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HawkAlgorithm {
    /// HMAC-SHA-256 / SHA-256.
    #[default]
    Sha256,
    /// HMAC-SHA-1 / SHA-1.
    Sha1,
}

/// The `hawk` auth table (Postman's Hawk fields).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HawkConfig {
    /// Key identifier, sent as `id`.
    pub auth_id: String,
    /// Shared key; its UTF-8 bytes are the HMAC key.
    pub auth_key: Secret,
    /// `sha256` (default) or `sha1`.
    #[serde(default)]
    pub algorithm: HawkAlgorithm,
    /// Postman's "User" field. Accepted for collections that set it; Hawk has no such header
    /// attribute and Postman sends it nowhere, so signet ignores it too.
    #[serde(default)]
    pub user: Option<String>,
    /// Fixed nonce; by default six random letters and digits per request.
    #[serde(default)]
    pub nonce: Option<String>,
    /// Application data, sent as `ext` and covered by the MAC.
    #[serde(default)]
    pub ext: Option<String>,
    /// Oz application id (`app`).
    #[serde(default)]
    pub app: Option<String>,
    /// Oz delegating application id (`dlg`, only sent with `app`).
    #[serde(default)]
    pub dlg: Option<String>,
    /// Fixed timestamp in Unix seconds (integer or numeric string); by default the current time.
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    /// Send `hash`, the hash of the content type and body, which the MAC then covers.
    #[serde(default)]
    pub include_payload_hash: bool,
}

/// A Unix timestamp written as a TOML integer or as a string of digits (as Postman stores it).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Timestamp {
    /// `timestamp = 1353832234`
    Number(u64),
    /// `timestamp = "1353832234"`
    Text(String),
}

/// A ready Hawk signer.
#[derive(Debug)]
pub struct Hawk {
    cfg: HawkConfig,
    timestamp: Option<u64>,
}

/// Inputs of one Hawk MAC besides the key.
pub(crate) struct Artifacts<'a> {
    /// Timestamp, Unix seconds.
    pub ts: u64,
    /// Nonce.
    pub nonce: &'a str,
    /// Request method.
    pub method: &'a str,
    /// Path and query as sent.
    pub resource: &'a str,
    /// Destination host.
    pub host: &'a str,
    /// Destination port (the scheme's default when the URI names none).
    pub port: u16,
    /// Payload hash, when sent.
    pub hash: Option<&'a str>,
    /// Application data.
    pub ext: Option<&'a str>,
    /// Oz application id.
    pub app: Option<&'a str>,
    /// Oz delegating application id.
    pub dlg: Option<&'a str>,
}

impl SyncSigner for Hawk {
    type Config = HawkConfig;

    /// Validates the config.
    fn new(cfg: HawkConfig) -> Result<Self, BuildError> {
        if cfg.auth_key.expose().is_empty() {
            return Err(BuildError::at("auth_key", "`auth_key` is empty"));
        }
        let attributes = [
            ("auth_id", Some(&cfg.auth_id)),
            ("nonce", cfg.nonce.as_ref()),
            ("ext", cfg.ext.as_ref()),
            ("app", cfg.app.as_ref()),
            ("dlg", cfg.dlg.as_ref()),
        ];
        for (key, value) in attributes {
            // Hawk servers parse attribute values as printable ASCII without quotes or backslashes.
            if let Some(v) = value
                && !v
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
            {
                return Err(BuildError::at(
                    key,
                    format!("`{key}` may hold only printable ASCII without `\"` or `\\`"),
                ));
            }
        }
        if cfg.auth_id.is_empty() {
            return Err(BuildError::at("auth_id", "`auth_id` is empty"));
        }
        if cfg.dlg.is_some() && cfg.app.is_none() {
            return Err(BuildError::at("dlg", "`dlg` needs `app`"));
        }
        let timestamp =
            match &cfg.timestamp {
                None => None,
                Some(Timestamp::Number(n)) => Some(*n),
                Some(Timestamp::Text(t)) => Some(t.trim().parse().map_err(|_| {
                    BuildError::at("timestamp", "`timestamp` must be Unix seconds")
                })?),
            };
        Ok(Hawk { cfg, timestamp })
    }

    /// The body is read only to hash it.
    fn body_need(&self, _req: &Parts) -> BodyNeed {
        if self.cfg.include_payload_hash {
            BodyNeed::Required
        } else {
            BodyNeed::None
        }
    }

    /// Sets the `Authorization: Hawk …` header, replacing the client's.
    fn sign(
        &self,
        req: &mut Parts,
        body: Option<&mut bytes::Bytes>,
        cx: &SignContext,
    ) -> Result<(), AuthError> {
        let host = req
            .uri
            .host()
            .ok_or_else(|| AuthError::Unsignable("the request URI has no host".into()))?
            .to_ascii_lowercase();
        let port = req.uri.port_u16().unwrap_or(match req.uri.scheme_str() {
            Some("https") | Some("wss") => 443,
            _ => 80,
        });
        let resource = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let resource = if resource.is_empty() { "/" } else { resource };
        let hash = if self.cfg.include_payload_hash {
            let body = body.ok_or_else(|| {
                AuthError::Unsignable(
                    "include_payload_hash needs the whole body, which is streamed or \
                     larger than the buffer limit"
                        .into(),
                )
            })?;
            let content_type = req
                .headers
                .get(CONTENT_TYPE)
                .map(|v| v.as_bytes())
                .unwrap_or(b"");
            Some(payload_hash(self.cfg.algorithm, content_type, body))
        } else {
            None
        };
        let nonce = match &self.cfg.nonce {
            Some(n) => n.clone(),
            None => cx.nonce_alphanumeric(6),
        };
        let artifacts = Artifacts {
            ts: self.timestamp.unwrap_or_else(|| cx.unix_seconds()),
            nonce: &nonce,
            method: req.method.as_str(),
            resource,
            host: &host,
            port,
            hash: hash.as_deref(),
            ext: self.cfg.ext.as_deref(),
            app: self.cfg.app.as_deref(),
            dlg: self.cfg.dlg.as_deref(),
        };
        let value = header(
            &self.cfg.auth_id,
            self.cfg.auth_key.expose().as_bytes(),
            self.cfg.algorithm,
            &artifacts,
        );
        let normalized =
            super::SignedDetail::wanted(req).then(|| normalized_string(&artifacts));
        let value = HeaderValue::from_str(&value).map_err(|_| {
            AuthError::Unsignable("the nonce is not a valid header value".into())
        })?;
        req.headers.insert(AUTHORIZATION, value);
        if let Some(normalized) = normalized {
            super::SignedDetail::record(req, "normalized string", normalized, &[]);
        }
        Ok(())
    }

    /// One line for `signet explain`/`check`.
    fn describe(&self) -> String {
        let alg = match self.cfg.algorithm {
            HawkAlgorithm::Sha256 => "sha256",
            HawkAlgorithm::Sha1 => "sha1",
        };
        format!(
            "hawk id={} algorithm={alg} payload_hash={}",
            self.cfg.auth_id, self.cfg.include_payload_hash
        )
    }
}

/// The `Authorization` header value, attributes in the order Hawk's reference client writes them.
pub(crate) fn header(id: &str, key: &[u8], alg: HawkAlgorithm, a: &Artifacts) -> String {
    let mac = mac(key, alg, &normalized_string(a));
    let mut h = format!("Hawk id=\"{id}\", ts=\"{}\", nonce=\"{}\"", a.ts, a.nonce);
    if let Some(hash) = a.hash {
        h.push_str(&format!(", hash=\"{hash}\""));
    }
    if let Some(ext) = a.ext.filter(|e| !e.is_empty()) {
        h.push_str(&format!(
            ", ext=\"{}\"",
            ext.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    h.push_str(&format!(", mac=\"{mac}\""));
    if let Some(app) = a.app {
        h.push_str(&format!(", app=\"{app}\""));
        if let Some(dlg) = a.dlg {
            h.push_str(&format!(", dlg=\"{dlg}\""));
        }
    }
    h
}

/// `hawk.1.header` normalized string; every line ends in `\n`.
pub(crate) fn normalized_string(a: &Artifacts) -> String {
    let ext = a
        .ext
        .unwrap_or("")
        .replace('\\', "\\\\")
        .replace('\n', "\\n");
    let mut s = format!(
        "hawk.1.header\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{ext}\n",
        a.ts,
        a.nonce,
        a.method.to_ascii_uppercase(),
        a.resource,
        a.host.to_ascii_lowercase(),
        a.port,
        a.hash.unwrap_or("")
    );
    if let Some(app) = a.app {
        s.push_str(app);
        s.push('\n');
        s.push_str(a.dlg.unwrap_or(""));
        s.push('\n');
    }
    s
}

/// base64(H("hawk.1.payload\n" + media type + "\n" + body + "\n")); the media type is the
/// lowercased content type without parameters.
pub(crate) fn payload_hash(alg: HawkAlgorithm, content_type: &[u8], body: &[u8]) -> String {
    let media = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    let parts: [&[u8]; 5] = [
        b"hawk.1.payload\n",
        &media.to_ascii_lowercase(),
        b"\n",
        body,
        b"\n",
    ];
    match alg {
        HawkAlgorithm::Sha256 => {
            let mut h = Sha256::new();
            parts.iter().for_each(|p| h.update(p));
            B64.encode(h.finalize())
        }
        HawkAlgorithm::Sha1 => {
            let mut h = Sha1::new();
            parts.iter().for_each(|p| h.update(p));
            B64.encode(h.finalize())
        }
    }
}

/// base64(HMAC-H(key, normalized)).
pub(crate) fn mac(key: &[u8], alg: HawkAlgorithm, normalized: &str) -> String {
    match alg {
        HawkAlgorithm::Sha256 => {
            B64.encode(hmac::<Hmac<Sha256>>(key, &[normalized.as_bytes()]))
        }
        HawkAlgorithm::Sha1 => {
            B64.encode(hmac::<Hmac<Sha1>>(key, &[normalized.as_bytes()]))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::auth::context::Entropy;

    struct Counting;
    impl Entropy for Counting {
        fn fill(&self, buf: &mut [u8]) {
            buf.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        }
    }

    fn vectors() -> serde_json::Value {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/hawk/hawk-vectors.json"
        );
        serde_json::from_str(&std::fs::read_to_string(p).expect("hawk vectors")).unwrap()
    }

    fn cfg(toml_text: &str) -> HawkConfig {
        toml::from_str(toml_text).expect("config")
    }

    /// Every `header_cases` entry through the public signer. `response_cases` (Server-Authorization)
    /// and `bewit_cases` are not run: signet only signs requests and never issues bewits.
    #[test]
    fn header_vectors() {
        let v = vectors();
        let cases = v["header_cases"].as_array().unwrap();
        assert_eq!(cases.len(), 6);
        for c in cases {
            let name = c["name"].as_str().unwrap();
            let cr = &c["credentials"];
            let mut config = HawkConfig {
                auth_id: cr["id"].as_str().unwrap().into(),
                auth_key: cr["key"].as_str().unwrap().into(),
                algorithm: if cr["algorithm"] == "sha1" {
                    HawkAlgorithm::Sha1
                } else {
                    HawkAlgorithm::Sha256
                },
                user: None,
                nonce: Some(c["nonce"].as_str().unwrap().into()),
                ext: c["ext"].as_str().map(str::to_owned),
                app: None,
                dlg: None,
                timestamp: Some(Timestamp::Number(c["ts"].as_u64().unwrap())),
                include_payload_hash: !c["payload"].is_null(),
            };
            config.user = Some("ignored".into());
            let signer = Hawk::new(config).unwrap();
            let mut b = http::Request::builder()
                .method(c["method"].as_str().unwrap())
                .uri(c["url"].as_str().unwrap());
            if let Some(ct) = c["content_type"].as_str() {
                b = b.header("content-type", ct);
            }
            let mut parts = b.body(()).unwrap().into_parts().0;
            let mut body = bytes::Bytes::from(c["payload"].as_str().unwrap_or("").to_owned());
            let body = (signer.body_need(&parts) == BodyNeed::Required).then_some(&mut body);
            let cx = SignContext {
                now: SystemTime::UNIX_EPOCH,
                fixed_nonce: None,
                entropy: &Counting,
            };
            signer.sign(&mut parts, body, &cx).unwrap();
            assert_eq!(
                parts.headers["authorization"],
                c["authorization"].as_str().unwrap(),
                "{name}"
            );
            if let Some(p) = c["payload"].as_str() {
                let ct = c["content_type"].as_str().unwrap_or("").as_bytes();
                let alg = signer.cfg.algorithm;
                assert_eq!(
                    payload_hash(alg, ct, p.as_bytes()),
                    c["payload_hash"].as_str().unwrap(),
                    "{name}: hash"
                );
            }
        }
    }

    fn artifacts(c: &serde_json::Value) -> Artifacts<'_> {
        Artifacts {
            ts: c["ts"].as_u64().unwrap(),
            nonce: c["nonce"].as_str().unwrap(),
            method: c["method"].as_str().unwrap(),
            resource: c["resource"].as_str().unwrap(),
            host: c["host"].as_str().unwrap(),
            port: c["port"].as_u64().unwrap() as u16,
            hash: c["hash"].as_str(),
            ext: c["ext"].as_str(),
            app: None,
            dlg: None,
        }
    }

    #[test]
    fn normalized_string_and_raw_key_vectors() {
        let v = vectors();
        let ns = v["normalized_string_cases"].as_array().unwrap();
        assert_eq!(ns.len(), 3);
        for c in ns {
            assert_eq!(
                normalized_string(&artifacts(c)),
                c["normalized_string"].as_str().unwrap(),
                "{}",
                c["name"]
            );
        }
        let raw = v["raw_key_mac_cases"].as_array().unwrap();
        assert_eq!(raw.len(), 3);
        for c in raw {
            let hex = c["key_hex"].as_str().unwrap();
            let key: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let normalized = normalized_string(&artifacts(c));
            assert_eq!(
                normalized,
                c["normalized_string"].as_str().unwrap(),
                "{}",
                c["name"]
            );
            assert_eq!(
                mac(&key, HawkAlgorithm::Sha256, &normalized),
                c["mac"].as_str().unwrap(),
                "{}",
                c["name"]
            );
        }
    }

    #[test]
    fn time_nonce_and_port_come_from_the_context_and_uri() {
        let signer = Hawk::new(cfg("auth_id = \"id\"\nauth_key = \"k\"\nuser = \"u\"")).unwrap();
        let mut parts = http::Request::get("https://Example.NET/a?b=1")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        parts.headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Hawk id=\"client\""),
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cx = SignContext {
            now,
            fixed_nonce: Some("n0nce"),
            entropy: &Counting,
        };
        signer.sign(&mut parts, None, &cx).unwrap();
        let got = parts.headers["authorization"].to_str().unwrap();
        assert!(
            got.starts_with("Hawk id=\"id\", ts=\"1700000000\", nonce=\"n0nce\", mac=\""),
            "{got}"
        );
        // The MAC recomputed by hand over host example.net and port 443, with the string built here.
        let normalized = "hawk.1.header\n1700000000\nn0nce\nGET\n/a?b=1\nexample.net\n443\n\n\n";
        assert!(got.ends_with(&format!(
            "mac=\"{}\"",
            mac(b"k", HawkAlgorithm::Sha256, normalized)
        )));
        assert_eq!(parts.headers.get_all(AUTHORIZATION).iter().count(), 1);
    }

    #[test]
    fn config_errors_name_the_key_not_the_secret() {
        let e = Hawk::new(cfg(
            "auth_id = \"i\"\nauth_key = \"topsecret\"\ndlg = \"d\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("dlg") && !e.contains("topsecret"), "{e}");
        let e = Hawk::new(cfg(
            "auth_id = \"i\"\nauth_key = \"topsecret\"\next = \"a\\\"b\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("ext"), "{e}");
        let e = Hawk::new(cfg("auth_id = \"i\"\nauth_key = \"k\"\ntimestamp = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("timestamp"), "{e}");
        assert!(Hawk::new(cfg("auth_id = \"i\"\nauth_key = \"k\"\ntimestamp = \"12\"")).is_ok());
        let s = Hawk::new(cfg("auth_id = \"i\"\nauth_key = \"topsecret\"")).unwrap();
        assert!(!format!("{s:?}").contains("topsecret"));
        assert!(!s.describe().contains("topsecret"));
    }
}
