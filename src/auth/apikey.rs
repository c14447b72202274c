//! `apikey`: a fixed key/value pair in a header or in the query string.

use http::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::query::set_query_param;
use crate::secret::Secret;
use bytes::Bytes;

use super::{AuthError, BuildError, SignContext, SyncSigner};

/// Where an API key goes (Postman's "Add to").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyPlacement {
    /// A request header named `key`.
    #[default]
    Header,
    /// A query parameter named `key`.
    Query,
}

/// `type = "apikey"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Header or parameter name.
    pub key: String,
    /// The key itself.
    pub value: Secret,
    /// `header` (default) or `query`.
    #[serde(default)]
    pub add_to: ApiKeyPlacement,
}

/// Adds the configured key, replacing a client-sent one of the same name.
#[derive(Debug)]
pub struct ApiKey {
    placement: Placement,
}

#[derive(Debug)]
enum Placement {
    Header(HeaderName, HeaderValue),
    Query(String, Secret),
}

impl SyncSigner for ApiKey {
    type Config = ApiKeyConfig;

    /// Checks the name and value once.
    fn new(cfg: ApiKeyConfig) -> Result<Self, BuildError> {
        if cfg.key.is_empty() {
            return Err(BuildError::at("key", "must not be empty"));
        }
        let placement = match cfg.add_to {
            ApiKeyPlacement::Header => {
                let name = HeaderName::try_from(cfg.key.as_str()).map_err(|_| {
                    BuildError::at("key", format!("{:?} is not a valid header name", cfg.key))
                })?;
                let mut value = HeaderValue::try_from(cfg.value.expose()).map_err(|_| {
                    BuildError::at("value", "contains characters not allowed in a header")
                })?;
                value.set_sensitive(true);
                Placement::Header(name, value)
            }
            ApiKeyPlacement::Query => Placement::Query(cfg.key, cfg.value),
        };
        Ok(ApiKey { placement })
    }

    /// Adds the key to the request.
    fn sign(
        &self,
        req: &mut http::request::Parts,
        _body: Option<&mut Bytes>,
        _cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        match &self.placement {
            Placement::Header(name, value) => {
                req.headers.insert(name.clone(), value.clone());
            }
            Placement::Query(key, value) => set_query_param(&mut req.uri, key, value.expose())
                .map_err(|e| {
                    AuthError::Unsignable(format!("cannot add the key to the query: {e}"))
                })?,
        }
        Ok(())
    }

    /// One line for `explain`, without the value.
    fn describe(&self) -> String {
        match &self.placement {
            Placement::Header(name, _) => format!("apikey header {name}"),
            Placement::Query(key, _) => format!("apikey query parameter {key}"),
        }
    }

    fn credential_in_query(&self) -> bool {
        matches!(self.placement, Placement::Query(..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_key(key: &str, add_to: ApiKeyPlacement) -> ApiKey {
        ApiKey::new(ApiKeyConfig {
            key: key.into(),
            value: Secret::new("k3y"),
            add_to,
        })
        .unwrap()
    }

    #[test]
    fn header_placement_replaces_client_value() {
        let (mut parts, ()) = http::Request::builder()
            .header("x-api-key", "client")
            .body(())
            .unwrap()
            .into_parts();
        api_key("X-Api-Key", ApiKeyPlacement::Header)
            .sign(&mut parts, None, &SignContext::system())
            .unwrap();
        let values: Vec<_> = parts.headers.get_all("x-api-key").iter().collect();
        assert_eq!(values, ["k3y"]);
    }

    #[test]
    fn query_placement_replaces_client_value() {
        let (mut parts, ()) = http::Request::builder()
            .uri("http://api.test/v1?api_key=client&q=1")
            .body(())
            .unwrap()
            .into_parts();
        api_key("api_key", ApiKeyPlacement::Query)
            .sign(&mut parts, None, &SignContext::system())
            .unwrap();
        assert_eq!(parts.uri.to_string(), "http://api.test/v1?q=1&api_key=k3y");
    }

    #[test]
    fn invalid_header_name_names_the_key() {
        let err = ApiKey::new(ApiKeyConfig {
            key: "bad key".into(),
            value: Secret::new("v"),
            add_to: ApiKeyPlacement::Header,
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("key:"));
    }
}
