//! Auth tables: `[auth.NAME]` profiles and `auth = "NAME" | { type = … }` on hosts and routes.

use std::collections::BTreeMap;

use super::error::{KeyPath, Locator};
use super::{ConfigError, serde_error};
pub use crate::auth::AuthSpec;
use crate::auth::TYPE_NAMES;

/// Parses one auth table found at `path` by its `type` (the schemes and their names are
/// listed once, in [`crate::auth`]).
pub(crate) fn auth_table(
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
                format!("missing `type` (one of: {})", TYPE_NAMES.join(", ")),
            ));
        }
    };
    if matches!(kind.as_str(), "none" | "noauth")
        && let Some(key) = table.keys().next()
    {
        return Err(locator.error(&path.key(key), "auth type none takes no keys"));
    }
    match AuthSpec::parse(&kind, toml::Value::Table(table)) {
        Some(parsed) => parsed.map_err(|e| serde_error(locator, path, e)),
        None => Err(locator.error(
            &path.key("type"),
            format!(
                "unknown auth type \"{kind}\" (one of: {})",
                TYPE_NAMES.join(", ")
            ),
        )),
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
            Some(toml::Value::Table(table)) => match auth_table(table, path, locator)? {
                AuthSpec::None(_) => Ok(AuthChoice::None),
                spec => Ok(AuthChoice::Inline(Box::new(spec))),
            },
            Some(_) => Err(locator.error(path, "must be a profile name or an inline auth table")),
        }
    }
}
