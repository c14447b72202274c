//! `[[gateway]]` and `signet run --gateway LISTEN=UPSTREAM`: reverse-proxy listeners whose
//! requests all go to one upstream, for tools that cannot be pointed at a proxy.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;
use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;
use super::error::{KeyPath, Locator};
use crate::rules::{Destination, IpNet};

/// One gateway listener, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// Where every request goes.
    pub upstream: GatewayUpstream,
    /// Who may connect; empty means anyone, which only a loopback `listen` allows.
    pub clients: Vec<IpNet>,
}

/// A gateway's upstream: `scheme://host[:port][/base-path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayUpstream {
    /// The destination the host rules are matched on.
    pub dest: Destination,
    /// The path every request path is appended to, without a trailing `/` (`""` for none).
    pub base_path: String,
    /// `dest` and `base_path` written out once, so that a request's upstream URL is one
    /// concatenation instead of formatting both again for every request.
    prefix: String,
}

impl GatewayConfig {
    /// `LISTEN=UPSTREAM`, as `--gateway` takes it; a gateway given so listens on loopback
    /// (only `[[gateway]]` can list the `clients` another address needs).
    pub fn parse_argument(value: &str) -> Result<Self, String> {
        let (listen, upstream) = value
            .split_once('=')
            .ok_or("give LISTEN=UPSTREAM, e.g. 9000=https://api.example.com")?;
        let listen = parse_listen(listen)?;
        if !listen.ip().is_loopback() {
            return Err(format!(
                "{listen} is not a loopback address: a gateway that serves other machines \
                 needs a [[gateway]] table with `clients` in the config"
            ));
        }
        Ok(GatewayConfig {
            listen,
            upstream: GatewayUpstream::parse(upstream)?,
            clients: Vec::new(),
        })
    }

    /// Whether a client at `peer` may connect.
    pub fn admits(&self, peer: std::net::IpAddr) -> bool {
        self.clients.is_empty() || self.clients.iter().any(|net| net.contains(peer))
    }
}

impl GatewayUpstream {
    /// Parses `scheme://host[:port][/base-path]`; no query, fragment or credentials.
    pub fn parse(text: &str) -> Result<Self, String> {
        let uri: http::Uri = text
            .parse()
            .map_err(|e| format!("{text:?} is not a URL like https://api.example.com: {e}"))?;
        if uri.scheme().is_none() {
            return Err(format!("{text:?} needs a scheme: https://… or http://…"));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(
                "an upstream carries no credentials: put them in a host rule's auth".into(),
            );
        }
        if uri.query().is_some() || text.contains('#') {
            return Err("an upstream is scheme://host[:port][/base-path], without a query".into());
        }
        let dest = Destination::from_uri(&uri).map_err(|e| e.to_string())?;
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let prefix = format!("{dest}{base_path}");
        Ok(GatewayUpstream {
            dest,
            base_path,
            prefix,
        })
    }

    /// The upstream path for a request's `path_and_query`: the base path, then the request's.
    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_path)
    }

    /// The upstream URL for a request's `path_and_query`: scheme, authority, base path, then
    /// the request's path and query.
    pub fn url(&self, path_and_query: &str) -> String {
        let mut url = String::with_capacity(self.prefix.len() + path_and_query.len());
        url.push_str(&self.prefix);
        url.push_str(path_and_query);
        url
    }
}

impl fmt::Display for GatewayUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix)
    }
}

impl fmt::Display for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.listen, self.upstream)?;
        if !self.clients.is_empty() {
            let clients: Vec<String> = self.clients.iter().map(ToString::to_string).collect();
            write!(f, " (clients {})", clients.join(", "))?;
        }
        Ok(())
    }
}

/// A listen address: `host:port`, or a bare port on 127.0.0.1.
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = value.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    value
        .parse()
        .map_err(|e| format!("{e} (give host:port, or a port for 127.0.0.1)"))
}

/// `[[gateway]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    listen: String,
    upstream: String,
    #[serde(default)]
    clients: Vec<String>,
}

/// Every `[[gateway]]`, checked: addresses parse, a non-loopback `listen` lists `clients`, and
/// no two listeners (the proxy's included) share an address.
pub(super) fn gateways(
    raw: Vec<RawGateway>,
    proxy_listen: &str,
    locator: &Locator<'_>,
) -> Result<Vec<GatewayConfig>, ConfigError> {
    let mut out: Vec<GatewayConfig> = Vec::with_capacity(raw.len());
    for (i, gateway) in raw.into_iter().enumerate() {
        let path = KeyPath::default().key("gateway").index(i);
        let at = |key: &str, message: String| locator.error(&path.key(key), message);
        let listen = parse_listen(&gateway.listen).map_err(|e| at("listen", e))?;
        let upstream = GatewayUpstream::parse(&gateway.upstream).map_err(|e| at("upstream", e))?;
        let mut clients = Vec::with_capacity(gateway.clients.len());
        for (j, client) in gateway.clients.iter().enumerate() {
            let net = IpNet::parse(client).map_err(|e| {
                locator.error(&path.key("clients").index(j), format!("{client:?}: {e}"))
            })?;
            clients.push(net);
        }
        if !listen.ip().is_loopback() && clients.is_empty() {
            return Err(at(
                "listen",
                format!(
                    "{listen} is not a loopback address, so the gateway would send anyone's \
                     requests with these credentials: list who may connect in `clients` \
                     (IPs or CIDRs), or listen on 127.0.0.1 or [::1]"
                ),
            ));
        }
        let taken = proxy_listen.parse::<SocketAddr>().ok() == Some(listen)
            || out.iter().any(|g| g.listen == listen);
        if taken && listen.port() != 0 {
            return Err(at(
                "listen",
                format!("{listen} is already a listen address of this config"),
            ));
        }
        out.push(GatewayConfig {
            listen,
            upstream,
            clients,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn upstream_keeps_the_base_path_without_its_last_slash() {
        let up = GatewayUpstream::parse("https://API.example.com:8443/v1/").unwrap();
        assert_eq!(up.dest.host, "api.example.com");
        assert_eq!(up.dest.port, 8443);
        assert!(up.dest.https);
        assert_eq!(up.join("/users?id=7"), "/v1/users?id=7");
        assert_eq!(
            up.url("/users?id=7"),
            "https://api.example.com:8443/v1/users?id=7"
        );
        let bare = GatewayUpstream::parse("http://127.0.0.1").unwrap();
        assert_eq!((bare.dest.port, bare.base_path.as_str()), (80, ""));
        assert_eq!(bare.url("/"), "http://127.0.0.1/");
        assert_eq!(bare.to_string(), "http://127.0.0.1");
    }

    #[test]
    fn upstream_refuses_what_it_cannot_mean() {
        for bad in [
            "api.example.com",
            "ftp://api.example.com",
            "https://u:p@api.example.com",
            "https://api.example.com/v1?x=1",
            "https://api.example.com/#top",
        ] {
            assert!(GatewayUpstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn argument_is_listen_then_upstream_and_stays_on_loopback() {
        let g = GatewayConfig::parse_argument("9000=https://api.example.com/x").unwrap();
        assert_eq!(g.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(g.upstream.to_string(), "https://api.example.com/x");
        assert!(GatewayConfig::parse_argument("9000").is_err());
        assert!(GatewayConfig::parse_argument("0.0.0.0:9000=https://a.example").is_err());
        assert!(GatewayConfig::parse_argument("nine=https://a.example").is_err());
    }

    #[test]
    fn clients_admit_their_networks_only() {
        let g = GatewayConfig {
            listen: "0.0.0.0:9000".parse().unwrap(),
            upstream: GatewayUpstream::parse("https://a.example").unwrap(),
            clients: vec![IpNet::parse("172.17.0.0/16").unwrap()],
        };
        assert!(g.admits("172.17.3.4".parse().unwrap()));
        assert!(g.admits("::ffff:172.17.3.4".parse().unwrap()));
        assert!(!g.admits("172.18.0.1".parse().unwrap()));
        assert!(!g.admits("127.0.0.1".parse().unwrap()));
    }
}
