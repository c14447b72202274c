//! `oauth2`: a bearer token obtained, cached and refreshed by [`crate::oauth2`], placed in the
//! `Authorization` header or the `access_token` query parameter.

use std::path::Path;
use std::sync::Arc;

use http::HeaderValue;
use http::header::AUTHORIZATION;
use serde::Deserialize;

use super::context::{AuthError, SignContext};
use super::query::set_query_param;
use crate::oauth2::client::TokenClient;
use crate::oauth2::settings::{AddTo, Grant, Settings};
use crate::oauth2::{SourceError, TokenSource};
use crate::proxy::upstream::Dialer;
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

/// The `oauth2` scheme: a thin layer over the profile's [`TokenSource`].
#[derive(Debug)]
pub struct OAuth2 {
    source: Arc<TokenSource>,
}

impl OAuth2 {
    /// Checks the config; `name` names the store file, relative paths resolve against `base_dir`;
    /// token endpoints are reached through `dialer`.
    pub fn new(
        cfg: &OAuth2Config,
        name: &str,
        base_dir: &Path,
        dialer: &Dialer,
    ) -> Result<Self, String> {
        let settings = Settings::new(cfg, name, base_dir)?;
        if settings.add_to == AddTo::Header
            && HeaderValue::from_str(&settings.header_prefix).is_err()
        {
            return Err("header_prefix: contains characters not allowed in a header".into());
        }
        Ok(OAuth2 {
            source: Arc::new(TokenSource::new(settings, TokenClient::new(dialer.clone()))),
        })
    }

    /// The profile's tokens (for `signet login` and `signet token`).
    pub fn source(&self) -> &Arc<TokenSource> {
        &self.source
    }

    /// Adds the current token, fetching or refreshing it first when needed.
    pub async fn sign(
        &self,
        req: &mut http::request::Parts,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        let token = self.source.credential(cx.now).await.map_err(|e| match e {
            SourceError::Store(m) => AuthError::BadCredential(m),
            other => AuthError::TokenEndpoint(other.to_string()),
        })?;
        let s = self.source.settings();
        match s.add_to {
            AddTo::Header => {
                let text = if s.header_prefix.is_empty() {
                    token.expose().to_owned()
                } else {
                    format!("{} {}", s.header_prefix, token.expose())
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

    /// Whether a 401 can lead to a replay with a new token.
    pub fn may_replay(&self) -> bool {
        !matches!(self.source.settings().grant, Grant::Fixed(_))
    }

    /// On a 401, drops the token that was sent; `true` when a new one can be had for the replay.
    pub fn wants_replay(
        &self,
        sent: &http::request::Parts,
        response: &http::response::Parts,
    ) -> bool {
        if response.status != http::StatusCode::UNAUTHORIZED {
            return false;
        }
        let Some(token) = self.sent_token(sent) else {
            return false;
        };
        self.source.reject(&token);
        self.source.can_renew()
    }

    fn sent_token(&self, sent: &http::request::Parts) -> Option<String> {
        let s = self.source.settings();
        match s.add_to {
            AddTo::Header => {
                let value = sent.headers.get(AUTHORIZATION)?.to_str().ok()?;
                let token = if s.header_prefix.is_empty() {
                    value
                } else {
                    value
                        .strip_prefix(s.header_prefix.as_str())?
                        .strip_prefix(' ')?
                };
                Some(token.to_owned())
            }
            AddTo::Query => form_urlencoded::parse(sent.uri.query()?.as_bytes())
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned()),
        }
    }

    /// One line for `explain` and `check`, without secrets.
    pub fn describe(&self) -> String {
        let s = self.source.settings();
        let mut out = format!("oauth2 grant={}", s.grant.name());
        if let Some(url) = &s.token_url {
            out.push_str(&format!(" token_url={url}"));
        }
        if let Some(scope) = &s.scope {
            out.push_str(&format!(" scope={scope:?}"));
        }
        match s.add_to {
            AddTo::Header => out.push_str(&format!(" header_prefix={:?}", s.header_prefix)),
            AddTo::Query => out.push_str(" add_to=query"),
        }
        if s.send_id_token {
            out.push_str(" token_type=id_token");
        }
        if !matches!(s.grant, Grant::Fixed(_)) {
            out.push_str(&format!(" store={}", s.store_path.display()));
        }
        out
    }
}
