//! `[proxy] allow` / `deny`: which destinations signet may connect to.
//!
//! IP entries are compared on the canonical address: an IPv4-mapped IPv6 address
//! (`::ffff:169.254.169.254`) is the IPv4 address it maps, because a dual-stack socket connects
//! to exactly that; otherwise a `deny` of the IPv4 form could be walked around. (Host rules in
//! `match` keep the two apart instead, where not matching only means sending no credentials.)

use std::net::IpAddr;

use super::RuleError;
use super::host::{HostPattern, PortSpec, parse_ip_literal};

/// An IP network; `addr` is canonical and has no bits set past `prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// An address (`192.0.2.7`, `::1`) or a network (`172.17.0.0/16`, `fd00::/8`); the reason
    /// when it is neither.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((addr, prefix)) = text.split_once('/') else {
            let bare = text
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(text);
            let ip: IpAddr = bare
                .parse()
                .map_err(|_| "not an IP address or CIDR network".to_owned())?;
            return Ok(canonical_net(ip, if ip.is_ipv4() { 32 } else { 128 }));
        };
        let bare = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let ip: IpAddr = bare
            .parse()
            .map_err(|_| "the part before '/' is not an IP address".to_owned())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max && !prefix.starts_with('+'))
            .ok_or_else(|| format!("prefix length must be 0-{max}"))?;
        let net = canonical_net(ip, prefix);
        if mask(net.addr, net.prefix) != net.addr {
            return Err(format!(
                "address has bits set past the prefix; the network is {}/{prefix}",
                mask(ip, prefix)
            ));
        }
        Ok(net)
    }

    /// Whether `ip` is in the network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[derive(Debug, Clone)]
enum Entry {
    /// A name or wildcard pattern.
    Host(HostPattern),
    /// An address or CIDR, with the port an `ip:port` entry names.
    Net { net: IpNet, port: Option<u16> },
}

impl Entry {
    fn parse(entry: &str) -> Result<Self, RuleError> {
        let err = |reason: String| RuleError::InvalidEgressEntry {
            entry: entry.to_owned(),
            reason,
        };
        // Egress is about where traffic may go, whatever it carries: an entry covers both
        // schemes. A scheme here would read as a narrower entry than it is (an `allow` of
        // `https://host` letting plain HTTP through too), so it is refused, not ignored.
        if let Some((scheme, rest)) = entry.split_once("://") {
            return Err(err(format!(
                "allow and deny cover every scheme: write {rest:?} without \"{scheme}://\""
            )));
        }
        if entry.contains('/') {
            let net = IpNet::parse(entry).map_err(err)?;
            return Ok(Entry::Net { net, port: None });
        }
        let pattern = HostPattern::parse(entry)
            .map_err(|e| err(format!("not an IP, CIDR or host pattern ({e})")))?;
        Ok(match pattern.ip() {
            Some(ip) => Entry::Net {
                net: canonical_net(ip, if ip.is_ipv4() { 32 } else { 128 }),
                port: match pattern.port() {
                    PortSpec::Exact(p) => Some(p),
                    PortSpec::Default | PortSpec::Any => None,
                },
            },
            None => Entry::Host(pattern),
        })
    }

    fn covers(&self, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
        match (self, ip) {
            (Entry::Host(p), None) => p.matches_any_port(host, port),
            (Entry::Net { net, port: want }, Some(ip)) => {
                net.contains(ip) && want.is_none_or(|w| w == port)
            }
            _ => false,
        }
    }
}

/// A network as written, with IPv4-mapped IPv6 networks turned into the IPv4 ones.
fn canonical_net(ip: IpAddr, prefix: u8) -> IpNet {
    if let IpAddr::V6(v6) = ip
        && prefix >= 96
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        return IpNet {
            addr: IpAddr::V4(v4),
            prefix: prefix - 96,
        };
    }
    IpNet { addr: ip, prefix }
}

/// `ip` with every bit past `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

/// `[proxy] allow` / `deny`: each entry is a host pattern (as above, but without a scheme: an
/// entry covers both; without a port it covers every port) or an IP address or CIDR (v4 and v6).
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allow: Vec<(Entry, String)>,
    deny: Vec<(Entry, String)>,
}

/// Why `[proxy] allow`/`deny` keeps a destination in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressRefusal<'a> {
    /// This `deny` entry, as written, covers it.
    Denied(&'a str),
    /// `allow` is not empty and no entry of it covers it.
    NotAllowed,
}

impl std::fmt::Display for EgressRefusal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EgressRefusal::Denied(entry) => write!(f, "denied by [proxy] deny entry {entry:?}"),
            EgressRefusal::NotAllowed => f.write_str("not in [proxy] allow"),
        }
    }
}

impl EgressPolicy {
    /// Parses both lists; the first bad entry is the error.
    pub fn new(allow: &[String], deny: &[String]) -> Result<Self, RuleError> {
        let parse = |list: &[String]| {
            list.iter()
                .map(|e| Ok((Entry::parse(e)?, e.clone())))
                .collect::<Result<Vec<_>, RuleError>>()
        };
        Ok(EgressPolicy {
            allow: parse(allow)?,
            deny: parse(deny)?,
        })
    }

    /// Default when both are empty: everything allowed. Deny wins over allow. When `allow` is
    /// non-empty, only what it lists is allowed. `host` is normalised (name or IP literal).
    /// Decided on the name as given, before any DNS lookup.
    pub fn permits(&self, host: &str, port: u16) -> bool {
        self.check(host, port).is_ok()
    }

    /// As [`EgressPolicy::permits`], saying which entry (or the lack of one) refused.
    pub fn check(&self, host: &str, port: u16) -> Result<(), EgressRefusal<'_>> {
        // No lists (the default): every request asks, and nothing need be parsed to answer.
        if self.deny.is_empty() && self.allow.is_empty() {
            return Ok(());
        }
        let ip = parse_ip_literal(host).map(|ip| ip.to_canonical());
        if let Some((_, text)) = self.deny.iter().find(|(e, _)| e.covers(host, ip, port)) {
            return Err(EgressRefusal::Denied(text));
        }
        if self.allow.is_empty() || self.allow.iter().any(|(e, _)| e.covers(host, ip, port)) {
            Ok(())
        } else {
            Err(EgressRefusal::NotAllowed)
        }
    }

    /// Whether an IP or CIDR `deny` entry covers an address a name resolved to. Optional second
    /// check after DNS, for callers that also want to stop names pointing at denied addresses.
    pub fn denies_address(&self, ip: IpAddr, port: u16) -> bool {
        let ip = ip.to_canonical();
        self.deny
            .iter()
            .any(|(e, _)| matches!(e, Entry::Net { .. }) && e.covers("", Some(ip), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str], deny: &[&str]) -> EgressPolicy {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        EgressPolicy::new(&own(allow), &own(deny)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn entry_err(entry: &str) -> String {
        EgressPolicy::new(&[entry.to_string()], &[])
            .expect_err(entry)
            .to_string()
    }

    #[test]
    fn a_refusal_names_the_deny_entry_as_written_or_the_allow_list() {
        let p = policy(
            &["*.example.com", "10.0.0.0/8"],
            &["10.1.0.0/16", "secret.example.com"],
        );
        assert_eq!(
            p.check("10.1.2.3", 80),
            Err(EgressRefusal::Denied("10.1.0.0/16"))
        );
        assert_eq!(
            p.check("secret.example.com", 443),
            Err(EgressRefusal::Denied("secret.example.com"))
        );
        assert_eq!(p.check("evil.net", 443), Err(EgressRefusal::NotAllowed));
        assert_eq!(p.check("a.example.com", 443), Ok(()));
        assert_eq!(
            EgressRefusal::Denied("10.1.0.0/16").to_string(),
            "denied by [proxy] deny entry \"10.1.0.0/16\""
        );
    }

    #[test]
    fn empty_lists_allow_everything() {
        let p = policy(&[], &[]);
        assert!(p.permits("example.com", 443));
        assert!(p.permits("169.254.169.254", 80));
        assert!(p.permits("::1", 1));
    }

    #[test]
    fn allow_list_admits_only_what_it_lists() {
        let p = policy(&["127.0.0.1", "::1", "localhost", "*.example.com"], &[]);
        assert!(p.permits("127.0.0.1", 8080));
        assert!(p.permits("::1", 443));
        assert!(p.permits("localhost", 3000));
        assert!(p.permits("a.b.example.com", 443));
        assert!(!p.permits("example.com", 443));
        assert!(!p.permits("127.0.0.2", 80));
        assert!(!p.permits("evil.net", 443));
    }

    #[test]
    fn pattern_without_port_covers_every_port() {
        let p = policy(&["api.example.com"], &[]);
        for port in [1, 80, 443, 8443, 65535] {
            assert!(p.permits("api.example.com", port), "{port}");
        }
    }

    #[test]
    fn pattern_with_port_covers_only_that_port() {
        let p = policy(
            &["api.example.com:8443", "[::1]:9000", "127.0.0.1:8080"],
            &[],
        );
        assert!(p.permits("api.example.com", 8443));
        assert!(!p.permits("api.example.com", 443));
        assert!(p.permits("::1", 9000));
        assert!(!p.permits("::1", 9001));
        assert!(p.permits("127.0.0.1", 8080));
        assert!(!p.permits("127.0.0.1", 22));
    }

    #[test]
    fn deny_wins_over_allow() {
        let p = policy(&["*.example.com"], &["secret.example.com"]);
        assert!(p.permits("public.example.com", 443));
        assert!(!p.permits("secret.example.com", 443));
        let p = policy(&["10.0.0.0/8"], &["10.1.0.0/16"]);
        assert!(p.permits("10.2.3.4", 80));
        assert!(!p.permits("10.1.3.4", 80));
    }

    #[test]
    fn deny_alone_leaves_the_rest_allowed() {
        let p = policy(&[], &["169.254.169.254"]);
        assert!(p.permits("example.com", 443));
        assert!(!p.permits("169.254.169.254", 80));
    }

    #[test]
    fn cidr_deny_covers_metadata_address() {
        let p = policy(&[], &["169.254.0.0/16", "fd00::/8"]);
        assert!(!p.permits("169.254.169.254", 80));
        assert!(!p.permits("169.254.0.1", 443));
        assert!(p.permits("169.255.0.1", 443));
        assert!(!p.permits("fd00:ec2::254", 80));
        assert!(!p.permits("[fdff::1]", 80));
        assert!(p.permits("fe80::1", 80));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_covered_by_ipv4_deny() {
        let p = policy(&[], &["169.254.169.254", "127.0.0.0/8"]);
        assert!(!p.permits("::ffff:169.254.169.254", 80));
        assert!(!p.permits("[::ffff:a9fe:a9fe]", 80));
        assert!(!p.permits("::ffff:127.0.0.5", 80));
        let mapped = policy(&[], &["::ffff:10.0.0.0/104"]);
        assert!(!mapped.permits("10.9.9.9", 80));
        assert!(mapped.permits("11.0.0.1", 80));
    }

    #[test]
    fn zero_prefix_covers_the_whole_family() {
        let p = policy(&[], &["0.0.0.0/0"]);
        assert!(!p.permits("8.8.8.8", 53));
        assert!(p.permits("::1", 53));
        assert!(p.permits("example.com", 443));
        let p6 = policy(&[], &["::/0"]);
        assert!(!p6.permits("2001:db8::1", 443));
        assert!(p6.permits("1.2.3.4", 443));
    }

    #[test]
    fn names_and_addresses_are_separate_until_dns() {
        let p = policy(&[], &["127.0.0.1"]);
        assert!(p.permits("localhost", 80));
        let p = policy(&["localhost"], &[]);
        assert!(!p.permits("127.0.0.1", 80));
    }

    #[test]
    fn denies_address_checks_resolved_ips_against_ip_entries() {
        let p = policy(
            &["*.example.com"],
            &["10.0.0.0/8", "bad.example.com", "192.0.2.1:25"],
        );
        assert!(p.denies_address("10.1.2.3".parse().unwrap(), 443));
        assert!(p.denies_address("::ffff:10.1.2.3".parse().unwrap(), 443));
        assert!(!p.denies_address("93.184.216.34".parse().unwrap(), 443));
        assert!(p.denies_address("192.0.2.1".parse().unwrap(), 25));
        assert!(!p.denies_address("192.0.2.1".parse().unwrap(), 443));
    }

    #[test]
    fn rejects_bad_entries_naming_them() {
        for e in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "nope/8",
            "10.0.0.0/",
            "a..b",
            "*",
            "",
        ] {
            let msg = entry_err(e);
            assert!(msg.contains(&format!("{e:?}")), "{msg}");
        }
    }

    #[test]
    fn refuses_a_scheme_and_says_to_drop_it() {
        for (entry, bare) in [
            ("https://api.example.com", "api.example.com"),
            ("http://api.example.com:8080", "api.example.com:8080"),
            ("https://*.example.com", "*.example.com"),
            ("http://[::1]:8080", "[::1]:8080"),
            ("http://10.0.0.0/8", "10.0.0.0/8"),
        ] {
            let msg = entry_err(entry);
            assert!(msg.contains(&format!("{entry:?}")), "{msg}");
            assert!(msg.contains(&format!("write {bare:?} without")), "{msg}");
            assert!(
                EgressPolicy::new(&[], &[entry.to_string()]).is_err(),
                "{entry}"
            );
        }
    }

    #[test]
    fn rejects_cidr_with_host_bits_and_says_which_network() {
        let msg = entry_err("10.1.2.3/8");
        assert!(msg.contains("10.0.0.0/8"), "{msg}");
        assert!(EgressPolicy::new(&["2001:db8::1/32".into()], &[]).is_err());
        assert!(EgressPolicy::new(&["[2001:db8::]/32".into()], &[]).is_ok());
    }
}
