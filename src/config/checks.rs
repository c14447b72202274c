//! Checks of values that `signet run` would otherwise refuse only later (at bind time) or never
//! notice (a misspelt method that no request carries), so that `signet check` reports them with
//! file, line and key; and the checks of keys that depend on each other.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::error::{KeyPath, Locator};
use super::{AdminConfig, AuthSpec, ConfigError, CookieMode, ProxyConfig};

/// The methods of the IANA HTTP Method Registry that a request can carry (RFC 9110 and the
/// WebDAV, versioning and calendaring extensions), plus QUERY; `PRI` and `*` are left out.
const KNOWN_METHODS: &[&str] = &[
    "ACL",
    "BASELINE-CONTROL",
    "BIND",
    "CHECKIN",
    "CHECKOUT",
    "CONNECT",
    "COPY",
    "DELETE",
    "GET",
    "HEAD",
    "LABEL",
    "LINK",
    "LOCK",
    "MERGE",
    "MKACTIVITY",
    "MKCALENDAR",
    "MKCOL",
    "MKREDIRECTREF",
    "MKWORKSPACE",
    "MOVE",
    "OPTIONS",
    "ORDERPATCH",
    "PATCH",
    "POST",
    "PROPFIND",
    "PROPPATCH",
    "PUT",
    "QUERY",
    "REBIND",
    "REPORT",
    "SEARCH",
    "TRACE",
    "UNBIND",
    "UNCHECKOUT",
    "UNLINK",
    "UNLOCK",
    "UPDATE",
    "UPDATEREDIRECTREF",
    "VERSION-CONTROL",
];

/// Whether a route may name `method` (any case).
pub fn is_known_method(method: &str) -> bool {
    KNOWN_METHODS.contains(&method.to_ascii_uppercase().as_str())
}

/// A route's `methods`, uppercased; a name outside the registry is an error at its index, since
/// a route that names a misspelt method silently never applies.
pub(super) fn route_methods(
    methods: Vec<String>,
    path: &KeyPath,
    locator: &Locator<'_>,
) -> Result<Vec<String>, ConfigError> {
    let mut known = Vec::with_capacity(methods.len());
    for (i, method) in methods.into_iter().enumerate() {
        let upper = method.to_ascii_uppercase();
        if !is_known_method(&upper) {
            return Err(locator.error(
                &path.index(i),
                format!(
                    "{method:?} is not an HTTP method (GET, HEAD, POST, PUT, DELETE, PATCH, \
                     OPTIONS, TRACE, CONNECT, or another of the IANA method registry)"
                ),
            ));
        }
        known.push(upper);
    }
    Ok(known)
}

/// `[proxy] listen` and `[admin] listen` are addresses, and beyond loopback they need
/// `[proxy] client_auth` (the proxy and the admin endpoint refuse to bind otherwise).
pub(super) fn listeners(
    proxy: &ProxyConfig,
    admin: Option<&AdminConfig>,
    locator: &Locator<'_>,
) -> Result<(), ConfigError> {
    let proxy_listen = KeyPath::default().key("proxy").key("listen");
    let admin_listen = KeyPath::default().key("admin").key("listen");
    let listens = [
        Some((&proxy.listen, proxy_listen, "127.0.0.1:8080", "signet")),
        admin.map(|a| (&a.listen, admin_listen, "127.0.0.1:9090", "[admin]")),
    ];
    for (listen, path, example, what) in listens.into_iter().flatten() {
        let addr: SocketAddr = listen
            .parse()
            .map_err(|e| locator.error(&path, format!("not an address like {example}: {e}")))?;
        if !addr.ip().is_loopback() && proxy.client_auth.is_none() {
            return Err(locator.error(
                &path,
                format!(
                    "{addr} is not a loopback address, so {what} would serve anyone who can \
                     reach it: set [proxy] client_auth, or listen on 127.0.0.1 or [::1]"
                ),
            ));
        }
    }
    Ok(())
}

/// `cookies` and `cookies_from` of the host rule at `path`; `cookies_from` alone means "inject
/// the other host's cookies".
pub(super) fn host_cookies(
    mode: Option<CookieMode>,
    from: Option<String>,
    path: &KeyPath,
    locator: &Locator<'_>,
) -> Result<(Option<CookieMode>, Option<String>), ConfigError> {
    let Some(from) = from else {
        return Ok((mode, None));
    };
    let key = path.key("cookies_from");
    let name =
        crate::rules::normalize_host(&from).map_err(|e| locator.error(&key, e.to_string()))?;
    if mode == Some(CookieMode::Capture) {
        return Err(locator.error(
            &key,
            "cookies_from sends cookies, which cookies = \"capture\" never does; use \"inject\" or \"sync\"",
        ));
    }
    Ok((Some(mode.unwrap_or(CookieMode::Inject)), Some(name)))
}

/// `[proxy] upstream_proxy_auth` names a profile that can answer a parent proxy.
pub(super) fn parent_auth(
    proxy: &ProxyConfig,
    profiles: &BTreeMap<String, AuthSpec>,
    locator: &Locator<'_>,
) -> Result<(), ConfigError> {
    let Some(name) = &proxy.upstream_proxy_auth else {
        return Ok(());
    };
    let path = KeyPath::default().key("proxy").key("upstream_proxy_auth");
    match profiles.get(name) {
        None => Err(locator.error(&path, format!("no [auth.{name}] profile"))),
        Some(
            AuthSpec::Basic(_) | AuthSpec::Digest(_) | AuthSpec::Ntlm(_) | AuthSpec::Negotiate(_),
        ) => Ok(()),
        Some(other) => Err(locator.error(
            &path,
            format!(
                "[auth.{name}] is a {} profile, which cannot answer a parent proxy \
                 (basic, digest, ntlm and negotiate can)",
                other.type_name()
            ),
        )),
    }
}

/// The longest `[[host]] name`: it goes in every log line and metric label of its requests.
const MAX_NAME_LEN: usize = 64;

/// `[[host]] name`, or the first `match` pattern when the rule has none. A name is what logs,
/// metrics and error bodies print, so it is short and printable.
pub(super) fn host_name(
    name: Option<String>,
    patterns: &[String],
    path: &KeyPath,
    locator: &Locator<'_>,
) -> Result<String, ConfigError> {
    let Some(name) = name else {
        return Ok(patterns.first().cloned().unwrap_or_default());
    };
    let bad = if name.trim().is_empty() {
        Some("must not be empty".to_owned())
    } else if name.chars().count() > MAX_NAME_LEN {
        Some(format!("is longer than {MAX_NAME_LEN} characters"))
    } else if name.chars().any(|c| c.is_control() || c == '"') {
        Some("must not hold control characters or quotes".to_owned())
    } else {
        None
    };
    match bad {
        Some(reason) => Err(locator.error(&path.key("name"), format!("{name:?} {reason}"))),
        None => Ok(name),
    }
}

/// No two rules share a name that one of them sets with `name` (two rules defaulting to the same
/// first pattern are allowed: the first one wins every request either names).
pub(super) fn distinct_names(
    hosts: &[super::HostConfig],
    locator: &Locator<'_>,
) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, host) in hosts.iter().enumerate() {
        let explicit = |at: &super::HostConfig| at.patterns.first() != Some(&at.name);
        if let Some(&first) = seen.get(host.name.as_str())
            && let Some(earlier) = hosts.get(first)
            && (explicit(host) || explicit(earlier))
        {
            // Point at the `name` that was written (the other may be a default).
            let (at, other) = if explicit(host) {
                (&host.path, format!("host[{first}]"))
            } else {
                (&earlier.path, format!("host[{i}]"))
            };
            return Err(locator.error(
                &at.key("name"),
                format!(
                    "the name \"{}\" is also {other}'s; rule names must differ",
                    host.name
                ),
            ));
        }
        seen.entry(host.name.as_str()).or_insert(i);
    }
    Ok(())
}
