//! `oauth2`: tokens fetched, cached and refreshed by signet. The config is checked now; the
//! token store comes with its own module.

use serde::Deserialize;

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
