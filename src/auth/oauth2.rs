//! `oauth2`: a bearer token placed in the `Authorization` header or the `access_token` query
//! parameter. The token comes from a [`TokenProvider`] (built by the token machinery in
//! `crate::oauth2`, which fetches, caches and refreshes it); this file holds Postman's table and
//! where the token goes.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderValue;
use http::header::AUTHORIZATION;
use serde::Deserialize;

use super::query::set_query_param;
use super::{AuthError, BuildContext, BuildError, SignContext, Signer};
use crate::secret::Secret;

/// `type = "oauth2"`: Postman's OAuth 2.0 fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    /// How the token is obtained; absent when `access_token` is fixed.
    pub grant_type: Option<GrantType>,
    /// A fixed access token.
    pub access_token: Option<Secret>,
    /// Token endpoint.
    pub access_token_url: Option<String>,
    /// Authorization endpoint (browser grants).
    pub auth_url: Option<String>,
    /// Refresh endpoint when it differs from the token endpoint.
    pub refresh_token_url: Option<String>,
    /// Redirect URI for browser grants.
    pub callback_url: Option<String>,
    /// Client id.
    pub client_id: Option<String>,
    /// Client secret.
    pub client_secret: Option<Secret>,
    /// `header` (HTTP Basic) or `body`.
    pub client_authentication: Option<ClientAuthentication>,
    /// Requested scope.
    pub scope: Option<String>,
    /// State for browser grants (generated when absent).
    pub state: Option<String>,
    /// Audience parameter.
    pub audience: Option<String>,
    /// Resource parameter.
    pub resource: Option<String>,
    /// Resource-owner user name (password grant).
    pub username: Option<String>,
    /// Resource-owner password (password grant).
    pub password: Option<Secret>,
    /// `S256` or `plain`.
    pub code_challenge_method: Option<String>,
    /// Fixed PKCE verifier.
    pub code_verifier: Option<Secret>,
    /// Word before the token (default Bearer).
    pub header_prefix: Option<String>,
    /// `header` or `query`.
    pub add_to: Option<String>,
    /// `access_token` or `id_token`.
    pub token_type: Option<String>,
    /// Refresh ahead of expiry.
    pub auto_refresh: Option<bool>,
    /// How many seconds before expiry to refresh (default 30).
    pub refresh_skew: Option<u64>,
    /// The token store file (default `tokens/NAME.json` beside the config).
    pub token_store: Option<String>,
    /// Extra parameters for the authorization request.
    #[serde(default)]
    pub auth_request: Vec<ExtraParam>,
    /// Extra parameters for the token request.
    #[serde(default)]
    pub token_request: Vec<ExtraParam>,
    /// Extra parameters for the refresh request.
    #[serde(default)]
    pub refresh_request: Vec<ExtraParam>,
}

/// OAuth 2.0 grant types (Postman's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Client credentials.
    ClientCredentials,
    /// Resource-owner password.
    Password,
    /// Authorization code.
    AuthorizationCode,
    /// Authorization code with PKCE.
    AuthorizationCodePkce,
    /// Implicit.
    Implicit,
}

/// How the client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthentication {
    /// HTTP Basic.
    Header,
    /// In the form body.
    Body,
}

/// One extra parameter (Postman's advanced key/value rows with "Send In").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraParam {
    /// Name.
    pub key: String,
    /// Value.
    pub value: Secret,
    /// `body`, `url` or `header`.
    pub send_in: Option<String>,
}

/// Where the token goes on API requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddTo {
    /// `Authorization: <prefix> <token>`.
    Header,
    /// `?access_token=<token>`.
    Query,
}

impl AddTo {
    /// `add_to` of the table (default `header`).
    pub fn of(cfg: &OAuth2Config) -> Result<AddTo, BuildError> {
        match cfg.add_to.as_deref() {
            None | Some("header") => Ok(AddTo::Header),
            Some("query") => Ok(AddTo::Query),
            Some(other) => Err(BuildError::at(
                "add_to",
                format!("{other:?} is not header or query"),
            )),
        }
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenFailure {
    /// The token store is unusable.
    #[error("{0}")]
    Store(String),
    /// The token endpoint gave none (the message carries the OAuth error).
    #[error("{0}")]
    Endpoint(String),
}

/// The future of a token.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Secret, TokenFailure>> + Send + 'a>>;

/// Hands out a profile's current token, fetching or refreshing it when needed.
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// The token to send for a request signed at `now`, valid when it is handed out (after any
    /// wait for a token request, which `now` does not include).
    fn token(&self, now: SystemTime) -> TokenFuture<'_>;
    /// The upstream refused `sent` (a 401): it must not be handed out again.
    fn reject(&self, sent: &str);
    /// Whether a new token can be had without a person (a grant or a refresh token).
    fn can_renew(&self) -> bool;
    /// Whether tokens change at all (not a fixed `access_token`).
    fn renews(&self) -> bool;
    /// The grant, endpoint, scope and store, for `explain` and `check`, without secrets.
    fn describe(&self) -> String;
}

/// Builds the token provider of an `oauth2` table named `name` (a profile, or the key path of
/// an inline table), whose relative paths resolve against `base_dir`.
pub trait TokenProviders {
    /// The provider for `cfg`.
    fn provider(
        &self,
        cfg: &OAuth2Config,
        name: &str,
        base_dir: &Path,
    ) -> Result<Arc<dyn TokenProvider>, BuildError>;
}

/// The `oauth2` scheme.
#[derive(Debug)]
pub struct OAuth2 {
    tokens: Arc<dyn TokenProvider>,
    add_to: AddTo,
    /// The word before the token in the header (`""`: the token alone).
    header_prefix: String,
}

impl Signer for OAuth2 {
    type Config = OAuth2Config;

    fn build(cfg: OAuth2Config, bx: &BuildContext<'_>) -> Result<Self, BuildError> {
        let add_to = AddTo::of(&cfg)?;
        let header_prefix = cfg.header_prefix.clone().unwrap_or_else(|| "Bearer".into());
        if add_to == AddTo::Header && HeaderValue::from_str(&header_prefix).is_err() {
            return Err(BuildError::at(
                "header_prefix",
                "contains characters not allowed in a header",
            ));
        }
        Ok(OAuth2 {
            tokens: bx.tokens.provider(&cfg, bx.name, bx.base_dir)?,
            add_to,
            header_prefix,
        })
    }

    /// Adds the current token, fetching or refreshing it first when needed.
    async fn sign(
        &self,
        req: &mut http::request::Parts,
        _body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        let token = self.tokens.token(cx.now).await.map_err(|e| match e {
            TokenFailure::Store(m) => AuthError::BadCredential(m),
            TokenFailure::Endpoint(m) => AuthError::TokenEndpoint(m),
        })?;
        match self.add_to {
            AddTo::Header => {
                let text = if self.header_prefix.is_empty() {
                    token.expose().to_owned()
                } else {
                    format!("{} {}", self.header_prefix, token.expose())
                };
                let mut value = HeaderValue::try_from(text).map_err(|_| {
                    AuthError::BadCredential(
                        "the token endpoint issued a token that cannot go in a header".into(),
                    )
                })?;
                value.set_sensitive(true);
                req.headers.insert(AUTHORIZATION, value);
            }
            AddTo::Query => set_query_param(&mut req.uri, "access_token", token.expose())
                .map_err(|e| AuthError::Unsignable(format!("cannot add the token: {e}")))?,
        }
        Ok(())
    }

    /// A 401 can lead to a replay with a new token.
    fn may_replay(&self) -> bool {
        self.tokens.renews()
    }

    /// On a 401, drops the token that was sent; `true` when a new one can be had for the replay.
    fn wants_replay(&self, sent: &http::request::Parts, answer: &http::response::Parts) -> bool {
        if answer.status != http::StatusCode::UNAUTHORIZED {
            return false;
        }
        let Some(token) = self.sent_token(sent) else {
            return false;
        };
        self.tokens.reject(&token);
        self.tokens.can_renew()
    }

    fn describe(&self) -> String {
        let mut out = format!("oauth2 {}", self.tokens.describe());
        match self.add_to {
            AddTo::Header => out.push_str(&format!(" header_prefix={:?}", self.header_prefix)),
            AddTo::Query => out.push_str(" add_to=query"),
        }
        out
    }

    fn credential_in_query(&self) -> bool {
        self.add_to == AddTo::Query
    }
}

impl OAuth2 {
    fn sent_token(&self, sent: &http::request::Parts) -> Option<String> {
        match self.add_to {
            AddTo::Header => {
                let value = sent.headers.get(AUTHORIZATION)?.to_str().ok()?;
                let token = if self.header_prefix.is_empty() {
                    value
                } else {
                    value
                        .strip_prefix(self.header_prefix.as_str())?
                        .strip_prefix(' ')?
                };
                Some(token.to_owned())
            }
            AddTo::Query => form_urlencoded::parse(sent.uri.query()?.as_bytes())
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned()),
        }
    }
}
