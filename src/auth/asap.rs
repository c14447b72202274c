//! `asap`: Postman's "ASAP (Atlassian)", service-to-service auth: a JWT with the JOSE header
//! `{alg, kid}` and the claims `iss`, `sub`, `aud`, `jti`, `iat` and `exp`, a fresh one (new
//! `jti`) per request, sent as `Authorization: Bearer <token>`. Built on the `jwt` scheme,
//! which signs it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Deserialize;

use super::jwt::{AddTokenTo, Algorithm, JsonOrTable, Jwt, JwtConfig};
use super::{AuthError, BuildError, SignContext, SyncSigner};
use crate::secret::Secret;

/// What Atlassian's verifiers accept as a token's lifetime, at the most.
const MAX_LIFETIME: u64 = 3600;

/// `type = "asap"`: Postman's keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsapConfig {
    /// RS/PS/ES 256/384/512 (default RS256).
    #[serde(default = "default_alg")]
    pub alg: Algorithm,
    /// The issuer: the calling service.
    pub iss: String,
    /// The audience: the called service.
    pub aud: String,
    /// The key id, by convention `iss/…`, under which the audience finds the public key.
    pub kid: String,
    /// PKCS#8 PEM, or Postman's `data:application/pkcs8;kid=…;base64,…`.
    pub private_key: Secret,
    /// The subject (default: `iss`).
    pub sub: Option<String>,
    /// More claims, as a JSON string or an inline table; they override `iss`, `sub` and `aud`.
    pub claims: Option<JsonOrTable>,
    /// The token's lifetime in seconds (default 3600).
    #[serde(default = "default_exp")]
    pub exp: u64,
}

fn default_alg() -> Algorithm {
    Algorithm::Rs256
}

fn default_exp() -> u64 {
    MAX_LIFETIME
}

/// The `asap` scheme: a `jwt` scheme with ASAP's header and claims.
#[derive(Debug)]
pub struct Asap {
    jwt: Jwt,
    iss: String,
    kid: String,
    exp: u64,
}

impl SyncSigner for Asap {
    type Config = AsapConfig;

    fn new(cfg: AsapConfig) -> Result<Self, BuildError> {
        if matches!(cfg.alg.name().as_bytes(), [b'H', ..]) {
            return Err(BuildError::at("alg", "ASAP signs with RS, PS or ES keys, not HMAC"));
        }
        let private_key = pem_of(&cfg.private_key, &cfg.kid)?;
        let mut payload = toml::Table::new();
        payload.insert("iss".into(), cfg.iss.clone().into());
        payload.insert("sub".into(), cfg.sub.clone().unwrap_or(cfg.iss.clone()).into());
        payload.insert("aud".into(), cfg.aud.clone().into());
        let payload = match &cfg.claims {
            None => JsonOrTable::Table(payload),
            Some(claims) => JsonOrTable::Json(with_claims(payload, claims)?),
        };
        // `{alg, kid}`: a table's keys come sorted, and the `jwt` scheme puts the algorithm's
        // name in the place of the `alg` it is given.
        let mut header = toml::Table::new();
        header.insert("alg".into(), cfg.alg.name().into());
        header.insert("kid".into(), cfg.kid.clone().into());
        let jwt = Jwt::new(JwtConfig {
            algorithm: cfg.alg,
            secret: None,
            is_secret_base64_encoded: false,
            private_key: Some(private_key),
            payload: Some(payload),
            header: Some(JsonOrTable::Table(header)),
            add_token_to: AddTokenTo::Header,
            header_prefix: "Bearer".into(),
            query_param_key: "token".into(),
            issued_at: true,
            expires_in: Some(cfg.exp),
            not_before: false,
            jwt_id: true,
        })
        .map_err(asap_key)?;
        Ok(Asap {
            jwt,
            iss: cfg.iss,
            kid: cfg.kid,
            exp: cfg.exp,
        })
    }

    fn sign(
        &self,
        req: &mut http::request::Parts,
        _body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        self.jwt.sign(req, cx)
    }

    fn describe(&self) -> String {
        format!("asap iss={} kid={} exp={}s", self.iss, self.kid, self.exp)
    }
}

impl Asap {
    /// Where Atlassian's verifiers will refuse the tokens, for `signet check`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.kid != self.iss && !self.kid.starts_with(&format!("{}/", self.iss)) {
            out.push(format!(
                "kid {:?} neither is iss {:?} nor starts with \"{}/\"; ASAP verifiers look keys up under the issuer and will refuse it",
                self.kid, self.iss, self.iss
            ));
        }
        if self.exp > MAX_LIFETIME {
            out.push(format!(
                "exp = {} is over {MAX_LIFETIME} s, the longest lifetime ASAP verifiers accept",
                self.exp
            ));
        }
        out
    }
}

/// The PEM of `private_key`: as given, or from Postman's
/// `data:application/pkcs8;kid=KID;base64,DER`, whose kid must be the rule's.
fn pem_of(key: &Secret, kid: &str) -> Result<Secret, BuildError> {
    let text = key.expose().trim();
    let Some(data) = text.strip_prefix("data:application/pkcs8;") else {
        return Ok(key.clone());
    };
    let bad = |why: &str| BuildError::at("private_key", why.to_owned());
    let (params, der) = data
        .split_once(";base64,")
        .ok_or_else(|| bad("a data: key needs ;base64, before the key"))?;
    let in_key = params
        .split(';')
        .find_map(|p| p.strip_prefix("kid="))
        .map(|k| percent_encoding::percent_decode_str(k).decode_utf8_lossy().into_owned());
    if in_key.as_deref().is_some_and(|k| k != kid) {
        return Err(bad("the data: key names another kid than `kid`"));
    }
    let der = STANDARD
        .decode(der.trim())
        .map_err(|_| bad("the data: key is not base64"))?;
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|line| std::str::from_utf8(line).ok())
        .collect();
    Ok(Secret::new(format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )))
}

/// `iss`, `sub` and `aud`, overridden by `claims`, as one JSON object.
fn with_claims(payload: toml::Table, claims: &JsonOrTable) -> Result<String, BuildError> {
    let bad = |why: String| BuildError::at("claims", why);
    let extra: serde_json::Map<String, serde_json::Value> = match claims {
        JsonOrTable::Json(text) => serde_json::from_str(text)
            .map_err(|e| bad(format!("not a JSON object: {e}")))?,
        JsonOrTable::Table(table) => serde_json::to_value(table)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .ok_or_else(|| bad("not an object".into()))?,
    };
    let mut out = serde_json::to_value(&payload)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    out.extend(extra);
    serde_json::to_string(&out).map_err(|e| bad(e.to_string()))
}

/// A `jwt` error, named by the key it is under in an `asap` table.
fn asap_key(e: BuildError) -> BuildError {
    let key = match e.key {
        Some("algorithm") => Some("alg"),
        Some("payload") => Some("claims"),
        Some("expires_in") => Some("exp"),
        Some("header") => Some("kid"),
        other => other,
    };
    BuildError {
        key,
        reason: e.reason,
    }
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, KeyPair};

    use super::*;
    use crate::context::OsEntropy;

    fn es256_key() -> (String, Vec<u8>) {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let data = format!(
            "data:application/pkcs8;kid=svc%2Fkey-1;base64,{}",
            STANDARD.encode(pkcs8.as_ref())
        );
        (data, pair.public_key().as_ref().to_vec())
    }

    fn config(key: &str, extra: &str) -> AsapConfig {
        toml::from_str(&format!(
            "alg = \"ES256\"\niss = \"svc\"\naud = \"api\"\nkid = \"svc/key-1\"\n\
             private_key = \"{key}\"\n{extra}"
        ))
        .unwrap()
    }

    fn b64u(part: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap()
    }

    #[test]
    fn tokens_carry_asaps_header_and_claims_and_verify_with_the_public_key() {
        let (key, public) = es256_key();
        let asap = Asap::new(config(&key, "claims = { scope = \"read\" }")).unwrap();
        let mut parts = http::Request::get("https://api.test/").body(()).unwrap().into_parts().0;
        let cx = SignContext::system();
        asap.sign(&mut parts, None, &cx).unwrap();
        let value = parts.headers["authorization"].to_str().unwrap().to_owned();
        let token = value.strip_prefix("Bearer ").unwrap();
        let pieces: Vec<&str> = token.split('.').collect();
        assert_eq!(pieces.len(), 3);
        assert_eq!(b64u(pieces[0]), br#"{"alg":"ES256","kid":"svc/key-1"}"#);
        let claims: serde_json::Value = serde_json::from_slice(&b64u(pieces[1])).unwrap();
        assert_eq!(claims["iss"], "svc");
        assert_eq!(claims["sub"], "svc");
        assert_eq!(claims["aud"], "api");
        assert_eq!(claims["scope"], "read");
        let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
        assert_eq!(exp - iat, 3600);
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
        let signed = format!("{}.{}", pieces[0], pieces[1]);
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &public)
            .verify(signed.as_bytes(), &b64u(pieces[2]))
            .expect("the signature verifies with the public key");

        // A fresh jti on every request.
        let mut again = http::Request::get("https://api.test/").body(()).unwrap().into_parts().0;
        asap.sign(&mut again, None, &SignContext { entropy: &OsEntropy, ..cx }).unwrap();
        assert_ne!(again.headers["authorization"], parts.headers["authorization"]);
    }

    #[test]
    fn a_data_key_for_another_kid_and_hmac_are_refused_at_their_keys() {
        let (key, _) = es256_key();
        let mut cfg = config(&key, "");
        cfg.kid = "svc/other".into();
        let err = Asap::new(cfg).unwrap_err();
        assert_eq!(err.key, Some("private_key"), "{err}");
        let err = Asap::new(config(&key, "").with_alg(Algorithm::Hs256)).unwrap_err();
        assert_eq!(err.key, Some("alg"), "{err}");
    }

    #[test]
    fn check_warns_where_verifiers_will_refuse() {
        let (key, _) = es256_key();
        assert!(Asap::new(config(&key, "")).unwrap().warnings().is_empty());
        let mut cfg = config(&key, "exp = 7200");
        cfg.kid = "elsewhere/key-1".into();
        cfg.private_key = Secret::new(key.replace("kid=svc%2Fkey-1", "kid=elsewhere%2Fkey-1"));
        let warnings = Asap::new(cfg).unwrap().warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    impl AsapConfig {
        fn with_alg(mut self, alg: Algorithm) -> Self {
            self.alg = alg;
            self
        }
    }
}
