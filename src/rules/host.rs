//! Destination hosts: normalisation and `match` patterns.

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
    let (head, tail) = numbers[..parts.len()].split_at(parts.len() - 1);
    if head.iter().any(|&n| n > 255) {
        return Err(BAD);
    }
    let tail_bits = 8 * (5 - parts.len() as u32);
    if tail[0] >= 1u64 << tail_bits {
        return Err(BAD);
    }
    let mut value = tail[0];
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

/// The port part of a host pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSpec {
    /// No port written: the scheme's default port.
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

#[derive(Debug, Clone)]
enum HostKind {
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
    kind: HostKind,
    port: PortSpec,
}

impl HostPattern {
    /// "api.example.com", "*.example.com", "api.example.com:8443", "host:*", "127.0.0.1",
    /// "[::1]:8443", "::1", "bücher.example" (IDN). Rejects empty labels, "*" anywhere but as the whole
    /// first label, ports out of range, etc.
    ///
    /// A bare IPv6 address never carries a port (`::1:8443` is the address `::1:8443`): write
    /// `[::1]:8443` for that.
    pub fn parse(pattern: &str) -> Result<Self, RuleError> {
        let err = |reason: &str| RuleError::InvalidHostPattern {
            pattern: pattern.to_owned(),
            reason: reason.to_owned(),
        };
        if pattern.is_empty() {
            return Err(err("empty"));
        }
        let (host, port) = if let Some(rest) = pattern.strip_prefix('[') {
            let (inner, after) = rest.split_once(']').ok_or_else(|| err("unclosed '['"))?;
            let ip: Ipv6Addr = inner
                .parse()
                .map_err(|_| err("not an IPv6 address inside brackets"))?;
            let port = match after {
                "" => PortSpec::Default,
                _ => {
                    let p = after
                        .strip_prefix(':')
                        .ok_or_else(|| err("only ':PORT' may follow ']'"))?;
                    parse_port(p).ok_or_else(|| err("port must be 1-65535 or '*'"))?
                }
            };
            return Ok(HostPattern {
                raw: pattern.to_owned(),
                kind: HostKind::Ip(IpAddr::V6(ip)),
                port,
            });
        } else {
            match pattern.bytes().filter(|&b| b == b':').count() {
                0 => (pattern, PortSpec::Default),
                1 => {
                    let (h, p) = pattern.split_once(':').unwrap_or((pattern, ""));
                    let port = parse_port(p).ok_or_else(|| err("port must be 1-65535 or '*'"))?;
                    (h, port)
                }
                _ => (pattern, PortSpec::Default),
            }
        };
        let kind = if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.contains('*') {
                return Err(err("'*' is only allowed as the whole first label"));
            }
            let suffix = normalize_host(suffix).map_err(|e| host_err(pattern, e))?;
            if suffix.parse::<IpAddr>().is_ok() {
                return Err(err("a wildcard cannot cover an IP address"));
            }
            HostKind::Wildcard(format!(".{suffix}"))
        } else if host == "*" {
            return Err(err(
                "a lone '*' matches nothing; write a domain after it, as in \"*.example.com\"",
            ));
        } else if host.contains('*') {
            return Err(err("'*' is only allowed as the whole first label"));
        } else {
            let name = normalize_host(host).map_err(|e| host_err(pattern, e))?;
            match name.parse::<IpAddr>() {
                Ok(ip) => HostKind::Ip(ip),
                Err(_) => HostKind::Name(name),
            }
        };
        Ok(HostPattern {
            raw: pattern.to_owned(),
            kind,
            port,
        })
    }

    /// `host` is already normalised; `default_port` is the scheme's (443 https, 80 http).
    pub fn matches(&self, host: &str, port: u16, default_port: u16) -> bool {
        self.port.admits(port, default_port) && self.matches_host(host)
    }

    /// Whether the pattern matches `host` on any port (used by egress lists: "a pattern without a
    /// port covers every port here"); a pattern with an explicit port still needs that port.
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
