//! Auth tables: `[auth.NAME]` profiles and `auth = "NAME" | { type = … }` on hosts and routes.

use std::collections::BTreeMap;

use super::error::{KeyPath, Locator};
use super::{ConfigError, serde_error};
use crate::auth::{apikey, awsv4, basic, bearer, digest, edgegrid, hawk, ntlm, oauth1, oauth2};

/// One auth table, by `type`. Type names are Postman's.
#[derive(Debug, Clone)]
pub enum AuthSpec {
    /// `none` / `noauth`: send the request untouched.
    None,
    /// `apikey`.
    ApiKey(apikey::ApiKeyConfig),
    /// `bearer`.
    Bearer(bearer::BearerConfig),
    /// `basic`.
    Basic(basic::BasicConfig),
    /// `digest`.
    Digest(digest::DigestConfig),
    /// `ntlm`.
    Ntlm(ntlm::NtlmConfig),
    /// `oauth2`.
    OAuth2(Box<oauth2::OAuth2Config>),
    /// `oauth1`.
    OAuth1(Box<oauth1::OAuth1Config>),
    /// `edgegrid`.
    EdgeGrid(edgegrid::EdgeGridConfig),
    /// `awsv4`.
    AwsV4(awsv4::AwsV4Config),
    /// `hawk`.
    Hawk(hawk::HawkConfig),
}

/// Every type name the config accepts.
pub const AUTH_TYPES: &[&str] = &[
    "none", "noauth", "apikey", "bearer", "basic", "digest", "oauth1", "oauth2", "hawk", "awsv4",
    "ntlm", "edgegrid",
];

impl AuthSpec {
    /// The type name as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            AuthSpec::None => "none",
            AuthSpec::ApiKey(_) => "apikey",
            AuthSpec::Bearer(_) => "bearer",
            AuthSpec::Basic(_) => "basic",
            AuthSpec::Digest(_) => "digest",
            AuthSpec::Ntlm(_) => "ntlm",
            AuthSpec::OAuth2(_) => "oauth2",
            AuthSpec::OAuth1(_) => "oauth1",
            AuthSpec::EdgeGrid(_) => "edgegrid",
            AuthSpec::AwsV4(_) => "awsv4",
            AuthSpec::Hawk(_) => "hawk",
        }
    }

    /// Parses one auth table found at `path`.
    pub(crate) fn from_table(
        mut table: toml::Table,
        path: &KeyPath,
        locator: &Locator<'_>,
    ) -> Result<AuthSpec, ConfigError> {
        let kind = match table.remove("type") {
            Some(toml::Value::String(kind)) => kind,
            Some(_) => return Err(locator.error(&path.key("type"), "must be a string")),
            None => {
                return Err(locator.error(
                    path,
                    format!("missing `type` (one of: {})", AUTH_TYPES.join(", ")),
                ));
            }
        };
        let value = toml::Value::Table(table);
        fn typed<T: serde::de::DeserializeOwned>(
            value: toml::Value,
            path: &KeyPath,
            locator: &Locator<'_>,
        ) -> Result<T, ConfigError> {
            serde_path_to_error::deserialize(value).map_err(|e| serde_error(locator, path, e))
        }
        Ok(match kind.as_str() {
            "none" | "noauth" => {
                let toml::Value::Table(t) = &value else {
                    unreachable!()
                };
                if let Some(key) = t.keys().next() {
                    return Err(locator.error(&path.key(key), "auth type none takes no keys"));
                }
                AuthSpec::None
            }
            "apikey" => AuthSpec::ApiKey(typed(value, path, locator)?),
            "bearer" => AuthSpec::Bearer(typed(value, path, locator)?),
            "basic" => AuthSpec::Basic(typed(value, path, locator)?),
            "digest" => AuthSpec::Digest(typed(value, path, locator)?),
            "ntlm" => AuthSpec::Ntlm(typed(value, path, locator)?),
            "oauth2" => AuthSpec::OAuth2(Box::new(typed(value, path, locator)?)),
            "oauth1" => AuthSpec::OAuth1(Box::new(typed(value, path, locator)?)),
            "edgegrid" => AuthSpec::EdgeGrid(typed(value, path, locator)?),
            "awsv4" => AuthSpec::AwsV4(typed(value, path, locator)?),
            "hawk" => AuthSpec::Hawk(typed(value, path, locator)?),
            other => {
                return Err(locator.error(
                    &path.key("type"),
                    format!(
                        "unknown auth type \"{other}\" (one of: {})",
                        AUTH_TYPES.join(", ")
                    ),
                ));
            }
        })
    }
}

/// A profile name as referenced by a rule.
pub type ProfileRef = String;

/// What a host or route says about auth.
#[derive(Debug, Clone)]
pub enum AuthChoice {
    /// No `auth` key: a route takes its host's auth; a host has none.
    Inherit,
    /// `auth = "none"` (or `"noauth"`): the request goes untouched.
    None,
    /// `auth = "NAME"`: a profile from `[auth.NAME]`.
    Profile(ProfileRef),
    /// `auth = { type = … }`: an inline table.
    Inline(Box<AuthSpec>),
}

impl AuthChoice {
    /// `none` and `noauth` mean "no auth", so they cannot name a profile.
    pub fn is_reserved_name(name: &str) -> bool {
        matches!(name, "none" | "noauth")
    }

    pub(crate) fn from_value(
        value: Option<toml::Value>,
        path: &KeyPath,
        locator: &Locator<'_>,
        profiles: &BTreeMap<String, AuthSpec>,
    ) -> Result<AuthChoice, ConfigError> {
        match value {
            None => Ok(AuthChoice::Inherit),
            Some(toml::Value::String(name)) if Self::is_reserved_name(&name) => {
                Ok(AuthChoice::None)
            }
            Some(toml::Value::String(name)) => {
                if profiles.contains_key(&name) {
                    Ok(AuthChoice::Profile(name))
                } else {
                    let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
                    Err(locator.error(
                        path,
                        format!(
                            "no [auth.{name}] profile (defined: {})",
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ))
                }
            }
            Some(toml::Value::Table(table)) => match AuthSpec::from_table(table, path, locator)? {
                AuthSpec::None => Ok(AuthChoice::None),
                spec => Ok(AuthChoice::Inline(Box::new(spec))),
            },
            Some(_) => Err(locator.error(path, "must be a profile name or an inline auth table")),
        }
    }
}
