//! Destination hosts: normalisation and `match` patterns.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use idna::AsciiDenyList;

use super::RuleError;

/// Longest DNS name (without the root dot) and label, in octets.
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// A destination host normalised for matching: lowercase, IDN as punycode (UTS 46 / idna crate),
/// a trailing dot removed, IPv6 without brackets. Errors for invalid names.
///
/// IP literals come out in their canonical text form (`::1`, `127.0.0.1`). Names whose last label
/// is numeric are read the way resolvers and browsers read them (`127.1`, `0x7f.0.0.1`,
/// `2130706433` are all `127.0.0.1`), so that such spellings cannot slip past an IP rule; a name
/// like that which is not a valid IPv4 number is refused. Names may hold `a-z`, `0-9`, `-` and
/// `_` (underscores occur in real service names).
pub fn normalize_host(host: &str) -> Result<String, RuleError> {
    let err = |reason| RuleError::InvalidHost {
        host: host.to_owned(),
        reason,
    };
    if host.is_empty() {
        return Err(err("empty"));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| err("unclosed '['"))?;
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| err("not an IPv6 address inside brackets"))?;
        return Ok(ip.to_string());
    }
    if host.contains(':') {
        return host
            .parse::<Ipv6Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| err("contains ':' but is not an IPv6 address"));
    }
    // Every request goes through here: the two common spellings skip the general path, which
    // gives them back unchanged. std reads only canonical dotted quads (no leading zeros).
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(host.to_owned());
    }
    let ascii = if is_plain_ascii_name(host) {
        std::borrow::Cow::Borrowed(host)
    } else {
        idna::domain_to_ascii_cow(host.as_bytes(), AsciiDenyList::URL)
            .map_err(|_| err("not a valid domain name (UTS 46)"))?
    };
    // Stripped after the mapping so that a full-width trailing dot goes too.
    let name = ascii.strip_suffix('.').unwrap_or(&ascii);
    if name.is_empty() {
        return Err(err("empty"));
    }
    if name.split('.').any(str::is_empty) {
        return Err(err("empty label"));
    }
    if let Some(v4) = numeric_ipv4(name).map_err(err)? {
        return Ok(v4.to_string());
    }
    if !name.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
    }) {
        return Err(err("contains a character not allowed in a host name"));
    }
    if name.len() > MAX_NAME || name.split('.').any(|l| l.len() > MAX_LABEL) {
        return Err(err("longer than DNS allows"));
    }
    Ok(name.to_owned())
}

/// Lowercase letters, digits, `-` and `.`, and no punycode label: UTS 46 maps such a name to
/// itself, so it needs no trip through the idna crate.
fn is_plain_ascii_name(host: &str) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !host.split('.').any(|label| label.starts_with("xn--"))
}

/// Reads a name whose last label is a number as an IPv4 address, the way the WHATWG URL parser
/// and `inet_aton` do: up to four parts, each decimal, octal (leading `0`) or hex (`0x`).
/// `Ok(None)` means the name is an ordinary name.
fn numeric_ipv4(name: &str) -> Result<Option<Ipv4Addr>, &'static str> {
    let last = name.rsplit('.').next().unwrap_or(name);
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !numeric {
        return Ok(None);
    }
    const BAD: &str = "ends in a number but is not a valid IPv4 address";
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 4 {
        return Err(BAD);
    }
    let mut numbers = [0u64; 4];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        *slot = parse_ipv4_part(part).ok_or(BAD)?;
    }
    let (&last, head) = numbers
        .get(..parts.len())
        .and_then(<[u64]>::split_last)
        .ok_or(BAD)?;
    if head.iter().any(|&n| n > 255) {
        return Err(BAD);
    }
    let tail_bits = 8 * (5 - parts.len() as u32);
    if last >= 1u64 << tail_bits {
        return Err(BAD);
    }
    let mut value = last;
    for (i, &n) in head.iter().enumerate() {
        value |= n << (24 - 8 * i as u32);
    }
    Ok(Some(Ipv4Addr::from(value as u32)))
}

fn parse_ipv4_part(part: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        // "0x" alone is zero in the URL standard; "" is not a number.
        return (radix == 16).then_some(0);
    }
    // Long strings of digits would overflow; anything past 32 bits is invalid anyway.
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// The scheme a pattern names, or a destination uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    /// Plain HTTP: whatever is sent can be read on the way.
    Http,
    /// HTTP over TLS.
    Https,
}

impl UrlScheme {
    /// The scheme of a destination that is (`true`) or is not TLS.
    pub fn of(https: bool) -> Self {
        if https {
            UrlScheme::Https
        } else {
            UrlScheme::Http
        }
    }

    /// 443 or 80.
    pub fn default_port(self) -> u16 {
        match self {
            UrlScheme::Http => 80,
            UrlScheme::Https => 443,
        }
    }

    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlScheme::Http => "http",
            UrlScheme::Https => "https",
        }
    }
}

/// The port part of a host pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSpec {
    /// No port written: the default port of the pattern's scheme (443 when no scheme is written
    /// either).
    Default,
    /// `host:8443`: exactly that port.
    Exact(u16),
    /// `host:*`: any port.
    Any,
}

impl PortSpec {
    fn admits(self, port: u16, default_port: u16) -> bool {
        match self {
            PortSpec::Default => port == default_port,
            PortSpec::Exact(p) => port == p,
            PortSpec::Any => true,
        }
    }
}

/// The host part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// A normalised name, compared whole.
    Name(String),
    /// `*.example.com`, stored as `.example.com` so that a suffix test is also a label test.
    Wildcard(String),
    /// An IP literal: matches only the very same address.
    Ip(IpAddr),
}

/// A parsed host pattern as used in `match` and in egress lists.
#[derive(Debug, Clone)]
pub struct HostPattern {
    raw: String,
    scheme: Option<UrlScheme>,
    kind: HostKind,
    port: PortSpec,
}

impl HostPattern {
    /// "api.example.com", "*.example.com", "api.example.com:8443", "host:*", "127.0.0.1",
    /// "[::1]:8443", "::1", "bücher.example" (IDN), each optionally after "https://" or
    /// "http://" ("http://[::1]:8080", "https://*.example.com"). Rejects other schemes, a path
    /// after the host, empty labels, "*" anywhere but as the whole first label, ports out of
    /// range, etc.
    ///
    /// A bare IPv6 address never carries a port (`::1:8443` is the address `::1:8443`): write
    /// `[::1]:8443` for that. After a scheme an IPv6 address needs its brackets, as in a URL.
    pub fn parse(pattern: &str) -> Result<Self, RuleError> {
        let err = |reason: String| RuleError::InvalidHostPattern {
            pattern: pattern.to_owned(),
            reason,
        };
        if pattern.is_empty() {
            return Err(err("empty".into()));
        }
        let (scheme, authority) = split_scheme(pattern).map_err(err)?;
        let (host, port) = split_port(authority, scheme.is_some()).map_err(err)?;
        let kind = match host {
            PatternHost::Ipv6(ip) => HostKind::Ip(IpAddr::V6(ip)),
            PatternHost::Text(host) => parse_host_kind(pattern, host)?,
        };
        Ok(HostPattern {
            raw: pattern.to_owned(),
            scheme,
            kind,
            port,
        })
    }

    /// Whether the pattern names this destination: `host` is already normalised, `https` says
    /// whether the request goes over TLS. A pattern without a scheme or port admits HTTPS on
    /// 443 only, so that a credential meant for TLS never leaves in clear text; `http://host`
    /// plain HTTP on 80; `host:PORT` and `host:*` either scheme, unless a scheme is written too.
    pub fn matches(&self, host: &str, port: u16, https: bool) -> bool {
        let scheme = UrlScheme::of(https);
        self.required_scheme().is_none_or(|s| s == scheme)
            && self.port.admits(port, scheme.default_port())
            && self.matches_host(host)
    }

    /// Whether the pattern matches `host` on any port and either scheme (used by egress lists,
    /// which decide where traffic may go, not what it carries: "a pattern without a port covers
    /// every port here"); a pattern with an explicit port still needs that port.
    pub fn matches_any_port(&self, host: &str, port: u16) -> bool {
        let port_ok = match self.port {
            PortSpec::Default | PortSpec::Any => true,
            PortSpec::Exact(p) => p == port,
        };
        port_ok && self.matches_host(host)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The pattern as written, without its `https://` or `http://`.
    pub fn without_scheme(&self) -> &str {
        self.raw
            .split_once("://")
            .map_or(self.raw.as_str(), |(_, rest)| rest)
    }

    /// The scheme as written, if any.
    pub fn scheme(&self) -> Option<UrlScheme> {
        self.scheme
    }

    /// The scheme a destination must use to match: the one written, HTTPS for a pattern with
    /// neither scheme nor port, and `None` (either) for `host:PORT` and `host:*`.
    pub fn required_scheme(&self) -> Option<UrlScheme> {
        match (self.scheme, self.port) {
            (Some(scheme), _) => Some(scheme),
            (None, PortSpec::Default) => Some(UrlScheme::Https),
            (None, PortSpec::Exact(_) | PortSpec::Any) => None,
        }
    }

    /// Whether a plain-HTTP destination can match.
    pub fn admits_plain_http(&self) -> bool {
        self.required_scheme() != Some(UrlScheme::Https)
    }

    /// Whether the pattern names only this machine: `localhost`, an address in 127.0.0.0/8 or
    /// `::1` (also IPv4-mapped, which a dual-stack socket reaches as the IPv4 address).
    pub fn is_loopback(&self) -> bool {
        match &self.kind {
            HostKind::Name(name) => name == "localhost",
            HostKind::Wildcard(_) => false,
            HostKind::Ip(ip) => ip.to_canonical().is_loopback(),
        }
    }

    /// The host part.
    pub fn host_kind(&self) -> &HostKind {
        &self.kind
    }

    /// The port part of the pattern.
    pub fn port(&self) -> PortSpec {
        self.port
    }

    /// The address, when the pattern is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.kind {
            HostKind::Ip(ip) => Some(ip),
            _ => None,
        }
    }

    /// Host part only. Tolerates brackets, upper case and a trailing dot at no cost, so that a
    /// caller that skipped normalisation still cannot widen a match.
    fn matches_host(&self, host: &str) -> bool {
        match &self.kind {
            HostKind::Ip(ip) => parse_ip_literal(host) == Some(*ip),
            HostKind::Name(name) => strip_root_dot(host).eq_ignore_ascii_case(name),
            HostKind::Wildcard(suffix) => {
                let host = strip_root_dot(host).as_bytes();
                // IPv6 literals hold ':', which no name suffix does; IPv4 literals end in a
                // numeric label, which normalisation never leaves in a name.
                if host.len() <= suffix.len() || host.contains(&b':') {
                    return false;
                }
                let (prefix, tail) = host.split_at(host.len() - suffix.len());
                tail.eq_ignore_ascii_case(suffix.as_bytes()) && !prefix.ends_with(b".")
            }
        }
    }
}

/// Splits off `https://` or `http://` (any case, as URL schemes are). What remains must be a
/// host and port alone: a path, query or fragment would suggest a narrower rule than the
/// pattern is, so it is refused rather than dropped.
fn split_scheme(pattern: &str) -> Result<(Option<UrlScheme>, &str), String> {
    let (scheme, authority) = match pattern.split_once("://") {
        None => (None, pattern),
        Some((name, rest)) if name.eq_ignore_ascii_case("https") => (Some(UrlScheme::Https), rest),
        Some((name, rest)) if name.eq_ignore_ascii_case("http") => (Some(UrlScheme::Http), rest),
        Some((name, _)) => {
            return Err(format!(
                "scheme {name:?} is not one signet serves; write \"https://\", \"http://\" or no \
                 scheme (HTTPS on 443)"
            ));
        }
    };
    if let Some(at) = authority.find(['/', '?', '#']) {
        return Err(format!(
            "a pattern names a host and port, not a URL: remove {:?} (routes match paths)",
            &authority[at..]
        ));
    }
    Ok((scheme, authority))
}

/// The host of a pattern before it is read as a name or address.
enum PatternHost<'a> {
    /// `[…]`, already parsed.
    Ipv6(Ipv6Addr),
    /// Anything else, still to be read.
    Text(&'a str),
}

/// Splits the port off a pattern's host (its scheme already gone).
fn split_port(authority: &str, has_scheme: bool) -> Result<(PatternHost<'_>, PortSpec), String> {
    const BAD_PORT: &str = "port must be 1-65535 or '*'";
    if let Some(rest) = authority.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or("unclosed '['")?;
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| "not an IPv6 address inside brackets")?;
        let port = match after {
            "" => PortSpec::Default,
            _ => {
                let p = after
                    .strip_prefix(':')
                    .ok_or("only ':PORT' may follow ']'")?;
                parse_port(p).ok_or(BAD_PORT)?
            }
        };
        return Ok((PatternHost::Ipv6(ip), port));
    }
    match authority.split_once(':') {
        None => Ok((PatternHost::Text(authority), PortSpec::Default)),
        Some((host, port)) if !port.contains(':') => {
            Ok((PatternHost::Text(host), parse_port(port).ok_or(BAD_PORT)?))
        }
        // More than one ':': a bare IPv6 address, which never carries a port.
        Some(_) if has_scheme => Err(
            "after a scheme an IPv6 address goes in brackets, as in a URL: \"http://[::1]:8080\""
                .into(),
        ),
        Some(_) => Ok((PatternHost::Text(authority), PortSpec::Default)),
    }
}

/// A pattern's host without brackets: a wildcard, a name or an IP literal.
fn parse_host_kind(pattern: &str, host: &str) -> Result<HostKind, RuleError> {
    let err = |reason: &str| RuleError::InvalidHostPattern {
        pattern: pattern.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(suffix) = host.strip_prefix("*.") {
        if suffix.contains('*') {
            return Err(err("'*' is only allowed as the whole first label"));
        }
        let suffix = normalize_host(suffix).map_err(|e| host_err(pattern, e))?;
        if suffix.parse::<IpAddr>().is_ok() {
            return Err(err("a wildcard cannot cover an IP address"));
        }
        return Ok(HostKind::Wildcard(format!(".{suffix}")));
    }
    if host == "*" {
        return Err(err(
            "a lone '*' matches nothing; write a domain after it, as in \"*.example.com\"",
        ));
    }
    if host.contains('*') {
        return Err(err("'*' is only allowed as the whole first label"));
    }
    let name = normalize_host(host).map_err(|e| host_err(pattern, e))?;
    Ok(match name.parse::<IpAddr>() {
        Ok(ip) => HostKind::Ip(ip),
        Err(_) => HostKind::Name(name),
    })
}

fn host_err(pattern: &str, e: RuleError) -> RuleError {
    let reason = match e {
        RuleError::InvalidHost { reason, .. } => format!("host {reason}"),
        other => other.to_string(),
    };
    RuleError::InvalidHostPattern {
        pattern: pattern.to_owned(),
        reason,
    }
}

fn parse_port(p: &str) -> Option<PortSpec> {
    if p == "*" {
        return Some(PortSpec::Any);
    }
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(PortSpec::Exact(n)),
    }
}

fn strip_root_dot(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// An IP literal with or without IPv6 brackets; allocation-free.
pub(crate) fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
