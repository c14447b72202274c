//! An `oauth2` profile's config, checked once: every key parsed, combinations validated, paths
//! resolved. Errors read `key: reason` so that the config error can point at the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::pkce::{ChallengeMethod, check_verifier};
use super::token::{MAX_LIFETIME, check_sendable};
use crate::auth::BuildError;
use crate::auth::oauth2::{ClientAuthentication, ExtraParam, GrantType, OAuth2Config};
use crate::secret::Secret;

/// The default refresh margin before expiry.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(30);

/// How the token is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `client_credentials`.
    ClientCredentials,
    /// `password`, with the resource owner's credentials.
    Password {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// `authorization_code`, with PKCE when `pkce` is set.
    AuthorizationCode {
        /// The challenge method for `authorization_code_pkce`.
        pkce: Option<ChallengeMethod>,
    },
    /// `implicit`.
    Implicit,
    /// A fixed `access_token` from the config.
    Fixed(Secret),
}

impl Grant {
    /// Whether obtaining a token needs a person at a browser (`signet login`).
    pub fn is_interactive(&self) -> bool {
        matches!(self, Grant::AuthorizationCode { .. } | Grant::Implicit)
    }

    /// The config name.
    pub fn name(&self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password { .. } => "password",
            Grant::AuthorizationCode { pkce: None } => "authorization_code",
            Grant::AuthorizationCode { pkce: Some(_) } => "authorization_code_pkce",
            Grant::Implicit => "implicit",
            Grant::Fixed(_) => "access_token",
        }
    }
}

/// Where an extra parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendIn {
    /// The form body.
    Body,
    /// The URL's query.
    Url,
    /// A request header.
    Header,
}

/// One extra parameter, checked.
#[derive(Debug, Clone)]
pub struct Extra {
    /// Name.
    pub key: String,
    /// Value.
    pub value: Secret,
    /// Placement.
    pub send_in: SendIn,
}

/// A checked `oauth2` profile.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The profile name (for messages and the store file).
    pub name: String,
    /// The grant.
    pub grant: Grant,
    /// Token endpoint.
    pub token_url: Option<String>,
    /// Authorization endpoint.
    pub auth_url: Option<String>,
    /// Refresh endpoint (defaults to the token endpoint).
    pub refresh_url: Option<String>,
    /// Redirect URI.
    pub callback_url: Option<String>,
    /// Client id.
    pub client_id: Option<String>,
    /// Client secret.
    pub client_secret: Option<Secret>,
    /// Client authentication method.
    pub client_auth: ClientAuthentication,
    /// Requested scope.
    pub scope: Option<String>,
    /// Fixed state (else generated per login).
    pub state: Option<String>,
    /// `audience`.
    pub audience: Option<String>,
    /// `resource`.
    pub resource: Option<String>,
    /// Fixed PKCE verifier (else generated per login).
    pub code_verifier: Option<Secret>,
    /// Send the ID token instead of the access token.
    pub send_id_token: bool,
    /// Refresh ahead of expiry.
    pub auto_refresh: bool,
    /// How long before expiry to refresh.
    pub skew: Duration,
    /// Extra parameters for the authorization request.
    pub auth_extra: Vec<Extra>,
    /// Extra parameters for token requests.
    pub token_extra: Vec<Extra>,
    /// Extra parameters for refresh requests.
    pub refresh_extra: Vec<Extra>,
    /// The token store file.
    pub store_path: PathBuf,
}

impl Settings {
    /// Checks `cfg` for profile `name`; relative paths resolve against `base_dir`.
    pub fn new(cfg: &OAuth2Config, name: &str, base_dir: &Path) -> Result<Settings, BuildError> {
        let grant = grant(cfg)?;
        if let Some(v) = &cfg.code_verifier {
            check_verifier(v.expose()).map_err(|e| BuildError::at("code_verifier", e))?;
        }
        check_endpoints(cfg, &grant)?;
        let send_id_token = match cfg.token_type.as_deref() {
            None | Some("access_token") => false,
            Some("id_token") => true,
            Some(other) => {
                return Err(BuildError::at(
                    "token_type",
                    format!("{other:?} is not access_token or id_token"),
                ));
            }
        };
        let store_path = match &cfg.token_store {
            Some(p) => base_dir.join(p),
            None => base_dir
                .join("tokens")
                .join(format!("{}.json", file_stem(name))),
        };
        Ok(Settings {
            name: name.to_owned(),
            grant,
            token_url: cfg.access_token_url.clone(),
            auth_url: cfg.auth_url.clone(),
            refresh_url: cfg.refresh_token_url.clone(),
            callback_url: cfg.callback_url.clone(),
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            client_auth: cfg
                .client_authentication
                .unwrap_or(ClientAuthentication::Header),
            scope: cfg.scope.clone().filter(|s| !s.is_empty()),
            state: cfg.state.clone(),
            audience: cfg.audience.clone(),
            resource: cfg.resource.clone(),
            code_verifier: cfg.code_verifier.clone(),
            send_id_token,
            auto_refresh: cfg.auto_refresh.unwrap_or(true),
            skew: skew(cfg)?,
            auth_extra: extras(&cfg.auth_request, "auth_request", true)?,
            token_extra: extras(&cfg.token_request, "token_request", false)?,
            refresh_extra: extras(&cfg.refresh_request, "refresh_request", false)?,
            store_path,
        })
    }

    /// The endpoint for refresh requests.
    pub fn refresh_endpoint(&self) -> Option<&str> {
        self.refresh_url.as_deref().or(self.token_url.as_deref())
    }
}

/// `refresh_skew`, at most the longest token lifetime signet takes ([`MAX_LIFETIME`]).
fn skew(cfg: &OAuth2Config) -> Result<Duration, BuildError> {
    match cfg.refresh_skew.map(Duration::from_secs) {
        None => Ok(DEFAULT_SKEW),
        Some(skew) if skew <= MAX_LIFETIME => Ok(skew),
        Some(_) => Err(BuildError::at(
            "refresh_skew",
            format!(
                "at most {} seconds (10 years, the longest token lifetime signet takes)",
                MAX_LIFETIME.as_secs()
            ),
        )),
    }
}

/// The grant of `grant_type` (or a fixed `access_token`), with what it needs.
fn grant(cfg: &OAuth2Config) -> Result<Grant, BuildError> {
    let required = |key: &'static str| BuildError::at(key, "required for the password grant");
    Ok(match (cfg.grant_type, &cfg.access_token) {
        (Some(_), Some(_)) => {
            return Err(BuildError::at(
                "access_token",
                "a fixed access_token and a grant_type exclude each other",
            ));
        }
        (None, Some(token)) => {
            check_sendable(token.expose()).map_err(|why| {
                BuildError::at("access_token", format!("cannot be sent: it {why}"))
            })?;
            Grant::Fixed(token.clone())
        }
        (None, None) => {
            return Err(BuildError::at(
                "grant_type",
                "missing (client_credentials, password, authorization_code, \
                 authorization_code_pkce, implicit), or set a fixed access_token",
            ));
        }
        (Some(GrantType::ClientCredentials), None) => Grant::ClientCredentials,
        (Some(GrantType::Password), None) => Grant::Password {
            username: cfg.username.clone().ok_or_else(|| required("username"))?,
            password: cfg.password.clone().ok_or_else(|| required("password"))?,
        },
        (Some(GrantType::AuthorizationCode), None) => Grant::AuthorizationCode { pkce: None },
        (Some(GrantType::AuthorizationCodePkce), None) => {
            let method = match &cfg.code_challenge_method {
                None => ChallengeMethod::S256,
                Some(m) => ChallengeMethod::parse(m)
                    .map_err(|e| BuildError::at("code_challenge_method", e))?,
            };
            Grant::AuthorizationCode { pkce: Some(method) }
        }
        (Some(GrantType::Implicit), None) => Grant::Implicit,
    })
}

/// The endpoints and client id that `grant` needs are there, and every URL is absolute.
fn check_endpoints(cfg: &OAuth2Config, grant: &Grant) -> Result<(), BuildError> {
    let needs_token_url = matches!(
        grant,
        Grant::ClientCredentials | Grant::Password { .. } | Grant::AuthorizationCode { .. }
    );
    let required = |key| BuildError::at(key, format!("required for the {} grant", grant.name()));
    if needs_token_url && cfg.access_token_url.is_none() {
        return Err(required("access_token_url"));
    }
    if grant.is_interactive() && cfg.auth_url.is_none() {
        return Err(required("auth_url"));
    }
    if !matches!(grant, Grant::Fixed(_)) && cfg.client_id.is_none() {
        return Err(required("client_id"));
    }
    for (key, url) in [
        ("access_token_url", &cfg.access_token_url),
        ("auth_url", &cfg.auth_url),
        ("refresh_token_url", &cfg.refresh_token_url),
        ("callback_url", &cfg.callback_url),
    ] {
        if let Some(url) = url {
            check_url(url).map_err(|e| BuildError::at(key, e))?;
        }
    }
    Ok(())
}

fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err("must be an absolute http:// or https:// URL".into()),
    }
}

/// A file name from a profile name; inline tables get names like `host[0].auth`.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The extra parameters of one request kind. Token and refresh requests are POSTs that carry
/// each placement; the authorization request is the URL the browser opens, with no header and
/// no body of signet's, so a parameter asked for there is an error rather than moved to the URL.
fn extras(
    list: &[ExtraParam],
    key: &'static str,
    browser_url: bool,
) -> Result<Vec<Extra>, BuildError> {
    let bad = |reason: String| BuildError::at(key, reason);
    list.iter()
        .enumerate()
        .map(|(i, p)| {
            let send_in = match (p.send_in.as_deref(), browser_url) {
                (None, true) | (Some("url"), _) => SendIn::Url,
                (None | Some("body"), false) => SendIn::Body,
                (Some("header"), false) => SendIn::Header,
                (Some(place @ ("body" | "header")), true) => {
                    return Err(bad(format!(
                        "entry {i}: send_in = {place:?} cannot be honoured: the authorization \
                         request is the URL the browser opens, which carries no {place} from \
                         signet; write send_in = \"url\" (or leave it out), or move the \
                         parameter to token_request"
                    )));
                }
                (Some(other), _) => {
                    return Err(bad(format!(
                        "entry {i}: send_in {other:?} is not body, url or header"
                    )));
                }
            };
            if p.key.is_empty() {
                return Err(bad(format!("entry {i}: empty key")));
            }
            if send_in == SendIn::Header
                && (http::HeaderName::from_bytes(p.key.as_bytes()).is_err()
                    || http::HeaderValue::from_str(p.value.expose()).is_err())
            {
                return Err(bad(format!(
                    "entry {i}: {:?} is not usable as a header",
                    p.key
                )));
            }
            Ok(Extra {
                key: p.key.clone(),
                value: p.value.clone(),
                send_in,
            })
        })
        .collect()
}
