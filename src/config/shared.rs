//! `[shared]`: the Redis that several signet instances share tokens and cookies through, and the
//! keys that seal what goes there.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde::Deserialize;

use super::error::{ConfigError, KeyPath, Locator};
use crate::secret::Secret;
use crate::shared::{Key, Settings};

/// The default prefix of every key signet writes.
pub const DEFAULT_PREFIX: &str = "signet:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShared {
    redis: Option<String>,
    key: Option<Keys>,
    prefix: Option<String>,
}

/// One key or a list of them (the first seals, all open).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Keys {
    One(Secret),
    Many(Vec<Secret>),
}

/// `[shared]`, checked: a URL the Redis client takes, at least one 32-byte key.
pub(super) fn shared(raw: RawShared, locator: &Locator<'_>) -> Result<Settings, ConfigError> {
    let path = KeyPath::default().key("shared");
    let redis = raw
        .redis
        .ok_or_else(|| locator.error(&path, "needs `redis` (redis://, rediss:// or unix://)"))?;
    check_url(&redis).map_err(|why| locator.error(&path.key("redis"), why))?;
    let keys = match raw.key {
        None => {
            return Err(locator.error(
                &path,
                "needs `key`: 32 random bytes in base64 or hex (a list to rotate keys)",
            ));
        }
        Some(Keys::One(k)) => vec![k],
        Some(Keys::Many(ks)) => ks,
    };
    if keys.is_empty() {
        return Err(locator.error(&path.key("key"), "needs at least one key"));
    }
    let mut parsed = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let at = if keys.len() == 1 {
            path.key("key")
        } else {
            path.key("key").index(i)
        };
        parsed.push(Key::parse(k.expose()).map_err(|why| locator.error(&at, why))?);
    }
    let prefix = raw.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(locator.error(&path.key("prefix"), "must not contain whitespace"));
    }
    Ok(Settings {
        redis,
        keys: parsed,
        prefix,
    })
}

fn check_url(url: &str) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(s, _)| s);
    match scheme {
        Some("redis" | "rediss" | "unix" | "redis+unix") => {}
        _ => return Err("must start with redis://, rediss:// or unix://".into()),
    }
    redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| format!("is not a Redis URL: {e}"))
}

#[cfg(test)]
#[path = "shared_tests.rs"]
mod tests;
