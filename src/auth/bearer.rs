//! `bearer`: a fixed token in `Authorization: <prefix> <token>`.

use http::HeaderValue;
use http::header::AUTHORIZATION;
use serde::Deserialize;

use crate::secret::Secret;
use bytes::Bytes;

use super::{AuthError, BuildError, SignContext, SyncSigner};

/// `type = "bearer"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerConfig {
    /// The token.
    pub token: Secret,
    /// The word before the token (Postman's "Header Prefix").
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_prefix() -> String {
    "Bearer".to_owned()
}

/// Adds `Authorization: Bearer …`.
#[derive(Debug)]
pub struct Bearer {
    prefix: String,
    header: HeaderValue,
}

impl SyncSigner for Bearer {
    type Config = BearerConfig;

    /// Builds the header once.
    fn new(cfg: BearerConfig) -> Result<Self, BuildError> {
        let text = if cfg.prefix.is_empty() {
            cfg.token.expose().to_owned()
        } else {
            format!("{} {}", cfg.prefix, cfg.token.expose())
        };
        let mut header = HeaderValue::try_from(text)
            .map_err(|_| BuildError::at("token", "contains characters not allowed in a header"))?;
        header.set_sensitive(true);
        Ok(Bearer {
            prefix: cfg.prefix,
            header,
        })
    }

    /// Replaces any client `Authorization` header.
    fn sign(
        &self,
        req: &mut http::request::Parts,
        _body: Option<&mut Bytes>,
        _cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        req.headers.insert(AUTHORIZATION, self.header.clone());
        Ok(())
    }

    /// One line for `explain`, without the token.
    fn describe(&self) -> String {
        format!("bearer prefix={:?}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str, prefix: &str) -> Bearer {
        Bearer::new(BearerConfig {
            token: Secret::new(token),
            prefix: prefix.into(),
        })
        .unwrap()
    }

    #[test]
    fn sets_prefixed_token_and_replaces_client_header() {
        let (mut parts, ()) = http::Request::builder()
            .header(AUTHORIZATION, "Basic Zm9vOmJhcg==")
            .body(())
            .unwrap()
            .into_parts();
        bearer("abc.def", "Bearer")
            .sign(&mut parts, None, &SignContext::system())
            .unwrap();
        let values: Vec<_> = parts.headers.get_all(AUTHORIZATION).iter().collect();
        assert_eq!(values, ["Bearer abc.def"]);
    }

    #[test]
    fn custom_and_empty_prefix() {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        bearer("t", "Token")
            .sign(&mut parts, None, &SignContext::system())
            .unwrap();
        assert_eq!(parts.headers[AUTHORIZATION], "Token t");
        bearer("t", "")
            .sign(&mut parts, None, &SignContext::system())
            .unwrap();
        assert_eq!(parts.headers[AUTHORIZATION], "t");
    }

    #[test]
    fn debug_hides_token() {
        let b = bearer("sekrit-token", "Bearer");
        assert!(!format!("{b:?}").contains("sekrit"));
    }

    #[test]
    fn newline_in_token_is_refused() {
        let err = Bearer::new(BearerConfig {
            token: Secret::new("a\nb"),
            prefix: "Bearer".into(),
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("token:"));
        assert!(!err.contains("a\nb"));
    }
}
