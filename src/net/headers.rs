//! Hop-by-hop headers: they describe one connection and must not be forwarded (RFC 9110 §7.6.1).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use http::HeaderMap;
use http::header::{
    CONNECTION, HeaderName, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removed from every message; `Upgrade` (last) only when the message is not an upgrade.
const HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Whether `name` is one of [`HOP_BY_HOP`]: by its text, which for the standard names is a
/// table lookup, so that no array of names is built and dropped per header.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Whether the request asks to switch protocols (e.g. WebSocket).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes hop-by-hop headers, including those the `Connection` header names, and never
/// forwards `Proxy-Authorization`. With `upgrade`, keeps `Connection: upgrade` and `Upgrade`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none of these: one look at each name present is cheaper than a hashed
    // removal of every hop-by-hop name. Headers that `Connection` names need it to be present.
    if !upgrade && !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // `te: trailers` says the sender accepts trailers, which gRPC requires of every call
    // (servers refuse a call without it); it is the one TE value that goes on.
    let trailers = headers
        .get_all(TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("trailers"));
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        if !(upgrade && name == UPGRADE) {
            headers.remove(name);
        }
    }
    // Every one but the last, `Upgrade`, which is dealt with below.
    for name in HOP_BY_HOP.iter().take(HOP_BY_HOP.len() - 1) {
        headers.remove(name);
    }
    if trailers {
        headers.insert(TE, http::HeaderValue::from_static("trailers"));
    }
    if upgrade {
        headers.insert(CONNECTION, http::HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(UPGRADE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_connection_named_and_proxy_headers() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, "keep-alive, x-trace".parse().unwrap());
        h.insert("x-trace", "1".parse().unwrap());
        h.insert(PROXY_AUTHORIZATION, "Basic Zm9v".parse().unwrap());
        h.insert("proxy-connection", "keep-alive".parse().unwrap());
        h.insert("x-keep", "yes".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-keep"], "yes");
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_removed() {
        for name in HOP_BY_HOP {
            let mut h = HeaderMap::new();
            h.insert("x-keep", "yes".parse().unwrap());
            h.insert(name.clone(), "x".parse().unwrap());
            strip_hop_by_hop(&mut h, false);
            assert_eq!(h.len(), 1, "{name} was kept");
            assert_eq!(h["x-keep"], "yes");
        }
    }

    #[test]
    fn te_trailers_goes_on_and_other_te_values_do_not() {
        let mut h = HeaderMap::new();
        h.insert(TE, "gzip, Trailers".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h[TE], "trailers");
        let mut h = HeaderMap::new();
        h.insert(TE, "gzip".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert!(!h.contains_key(TE));
    }

    #[test]
    fn upgrade_keeps_upgrade_headers() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, "Upgrade".parse().unwrap());
        h.insert(UPGRADE, "websocket".parse().unwrap());
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h[UPGRADE], "websocket");
        assert_eq!(h[CONNECTION], "upgrade");
    }
}
