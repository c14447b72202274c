//! Warnings for credentials that come from a `${VAR:-default}` default: the example config
//! falls back to placeholders so that it starts as it is, and a proxy that then sends
//! `Bearer replace-me` without a word is hard to debug.

use std::fmt;

use super::error::{KeyPath, Locator, Segment};

/// Keys of an auth table whose value is a credential (those read into a `Secret`).
const CREDENTIAL_KEYS: &[&str] = &[
    "access_key",
    "access_token",
    "auth_key",
    "client_secret",
    "client_token",
    "code_verifier",
    "consumer_key",
    "consumer_secret",
    "password",
    "private_key",
    "secret",
    "secret_key",
    "session_token",
    "token",
    "token_secret",
    "value",
    "verifier",
];

/// Something the config allows but its author probably did not mean; `check` prints it and
/// `run` logs it. Displays as `file:line:col: key: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The key it is about, e.g. `auth.api.token`.
    pub key: String,
    text: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One warning per credential key whose value used a default because its variable is unset.
/// The default itself is never repeated: it is a credential too.
pub(super) fn credential_defaults(
    defaulted: &[(KeyPath, String)],
    locator: &Locator<'_>,
) -> Vec<ConfigWarning> {
    defaulted
        .iter()
        .filter(|(path, _)| is_credential(path))
        .map(|(path, var)| ConfigWarning {
            key: path.to_string(),
            text: locator
                .error(
                    path,
                    format!(
                        "{var} is not set, so the default of ${{{var}:-…}} is sent as this \
                         credential; set {var} to send the real one"
                    ),
                )
                .to_string(),
        })
        .collect()
}

/// Whether the value at `path` is a credential: a credential key of an auth table (a profile,
/// a host's or a route's inline table), the value of an OAuth 2.0 extra parameter, the proxy's
/// own password or a key passphrase.
pub(super) fn is_credential(path: &KeyPath) -> bool {
    use Segment::{Index, Key};
    let key = |s: &Segment, want: &str| matches!(s, Key(k) if k == want);
    let inside = match path.0.as_slice() {
        [proxy, client_auth, password] if key(proxy, "proxy") => {
            return key(client_auth, "client_auth") && key(password, "password");
        }
        [host, Index(_), tls, passphrase] if key(tls, "tls") => {
            return key(host, "host") && key(passphrase, "passphrase");
        }
        [auth, Key(_), rest @ ..] if key(auth, "auth") => rest,
        [host, Index(_), auth, rest @ ..] if key(host, "host") && key(auth, "auth") => rest,
        [host, Index(_), route, Index(_), auth, rest @ ..]
            if key(host, "host") && key(route, "route") && key(auth, "auth") =>
        {
            rest
        }
        _ => return false,
    };
    match inside {
        [Key(k)] => CREDENTIAL_KEYS.contains(&k.as_str()),
        [Key(list), Index(_), value] => list.ends_with("_request") && key(value, "value"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(segments: &[&str]) -> KeyPath {
        let mut p = KeyPath::default();
        for s in segments {
            p = match s.parse::<usize>() {
                Ok(i) => p.index(i),
                Err(_) => p.key(s),
            };
        }
        p
    }

    #[test]
    fn credential_keys_of_auth_tables_wherever_they_are() {
        for p in [
            &["auth", "api", "token"][..],
            &["auth", "aws", "secret_key"],
            &["host", "2", "auth", "password"],
            &["host", "0", "route", "1", "auth", "value"],
            &["auth", "o", "token_request", "0", "value"],
            &["proxy", "client_auth", "password"],
            &["host", "0", "tls", "passphrase"],
        ] {
            assert!(is_credential(&path(p)), "{p:?}");
        }
    }

    #[test]
    fn other_keys_are_not_credentials() {
        for p in [
            &["auth", "api", "username"][..],
            &["auth", "aws", "region"],
            &["auth", "api", "type"],
            &["auth", "o", "token_request", "0", "key"],
            &["auth", "j", "payload", "token"],
            &["host", "0", "match", "0"],
            &["proxy", "listen"],
            &["proxy", "client_auth", "username"],
            &["ca", "key"],
        ] {
            assert!(!is_credential(&path(p)), "{p:?}");
        }
    }
}
