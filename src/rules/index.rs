//! Which host rule names a destination, found without walking the rules: one hash lookup for the
//! exact name, one for the IP address, and one per wildcard depth in use.
//!
//! The index answers with the lowest-numbered rule that a scan in config order would have found
//! first, never the most specific one: for each host, port and scheme it keeps only the first
//! rule, and the candidates of the name, address and wildcard suffixes are compared by number.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use super::host::{HostKind, HostPattern, PortSpec, UrlScheme, parse_ip_literal};

/// The first rule, per scheme, among the patterns of one host and port.
#[derive(Debug, Default, Clone, Copy)]
struct FirstRule {
    http: Option<usize>,
    https: Option<usize>,
}

impl FirstRule {
    /// Records `rule` for `scheme` (`None`: both) unless an earlier rule holds the slot; rules
    /// are added in config order, so the slot keeps the lowest number.
    fn add(&mut self, scheme: Option<UrlScheme>, rule: usize) {
        if scheme != Some(UrlScheme::Https) {
            self.http.get_or_insert(rule);
        }
        if scheme != Some(UrlScheme::Http) {
            self.https.get_or_insert(rule);
        }
    }

    fn get(&self, https: bool) -> Option<usize> {
        if https { self.https } else { self.http }
    }
}

/// The port a pattern admits (`None`: every port) and the scheme it requires (`None`: either).
fn port_and_scheme(pattern: &HostPattern) -> (Option<u16>, Option<UrlScheme>) {
    let scheme = pattern.required_scheme();
    let port = match pattern.port() {
        PortSpec::Any => None,
        PortSpec::Exact(port) => Some(port),
        // Without a port a pattern always requires a scheme (HTTPS when none is written), and
        // admits that scheme's port only.
        PortSpec::Default => Some(scheme.unwrap_or(UrlScheme::Https).default_port()),
    };
    (port, scheme)
}

/// The patterns of one host, by the port they admit.
#[derive(Debug, Default)]
struct PortTable {
    /// `host:*`.
    any: FirstRule,
    /// Explicit ports, and a default port as the scheme it requires has it; sorted by port.
    exact: Vec<(u16, FirstRule)>,
}

impl PortTable {
    fn add(&mut self, port: Option<u16>, scheme: Option<UrlScheme>, rule: usize) {
        let Some(port) = port else {
            return self.any.add(scheme, rule);
        };
        let slot = match self.exact.binary_search_by_key(&port, |(p, _)| *p) {
            Ok(at) => at,
            Err(at) => {
                self.exact.insert(at, (port, FirstRule::default()));
                at
            }
        };
        if let Some((_, first)) = self.exact.get_mut(slot) {
            first.add(scheme, rule);
        }
    }

    fn first(&self, port: u16, https: bool) -> Option<usize> {
        let exact = self
            .exact
            .binary_search_by_key(&port, |(p, _)| *p)
            .ok()
            .and_then(|at| self.exact.get(at))
            .and_then(|(_, first)| first.get(https));
        earliest(self.any.get(https), exact)
    }
}

/// The ports that some pattern admits for one scheme, one bit each: a destination on any other
/// port needs no lookup at all.
#[derive(Debug, Default)]
struct PortSet {
    every: bool,
    bits: Vec<u64>,
}

impl PortSet {
    fn insert(&mut self, port: Option<u16>) {
        let Some(port) = port else {
            self.every = true;
            return;
        };
        let word = usize::from(port / 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if let Some(bits) = self.bits.get_mut(word) {
            *bits |= 1 << (port % 64);
        }
    }

    fn contains(&self, port: u16) -> bool {
        self.every
            || self
                .bits
                .get(usize::from(port / 64))
                .is_some_and(|bits| bits >> (port % 64) & 1 == 1)
    }
}

/// A map keyed by host, hashed with [`HostHasher`].
type HostMap<K> = HashMap<K, PortTable, BuildHasherDefault<HostHasher>>;

/// The patterns of a rule table, by host.
#[derive(Default)]
pub(super) struct RuleIndex {
    /// Exact names, lowercase, without a root dot.
    names: HostMap<Box<str>>,
    /// Wildcards by their suffix with its leading dot (`*.example.com` under `.example.com`).
    wildcards: HostMap<Box<str>>,
    /// IP literals.
    ips: HostMap<IpAddr>,
    /// Bit `n` is set when some wildcard suffix has `n` labels: only those suffixes of a host
    /// are looked up, so a host of a hundred labels costs no more than the wildcards in use.
    wildcard_depths: u128,
    /// Ports admitted over plain HTTP and over TLS.
    http_ports: PortSet,
    https_ports: PortSet,
}

impl RuleIndex {
    /// Adds a pattern of the rule at position `rule`; rules must come in config order.
    pub(super) fn add(&mut self, pattern: &HostPattern, rule: usize) {
        let (port, scheme) = port_and_scheme(pattern);
        if scheme != Some(UrlScheme::Https) {
            self.http_ports.insert(port);
        }
        if scheme != Some(UrlScheme::Http) {
            self.https_ports.insert(port);
        }
        match pattern.host_kind() {
            HostKind::Name(name) => self.names.entry(lowercase_key(name)).or_default(),
            HostKind::Ip(ip) => self.ips.entry(*ip).or_default(),
            HostKind::Wildcard(suffix) => {
                let depth = suffix.bytes().filter(|&b| b == b'.').count();
                // A suffix holds at most 127 labels (253 octets); a deeper one would be no
                // valid name, and no host could be longer than it anyway.
                self.wildcard_depths |= 1u128.checked_shl(depth as u32).unwrap_or(0);
                self.wildcards.entry(lowercase_key(suffix)).or_default()
            }
        }
        .add(port, scheme, rule);
    }

    /// The position of the first rule with a pattern naming `host` on `port` over TLS or not.
    /// `host` is compared as [`HostPattern::matches`] compares it: IPv6 brackets, upper case
    /// and a root dot make no difference.
    pub(super) fn first(&self, host: &str, port: u16, https: bool) -> Option<usize> {
        let ports = if https {
            &self.https_ports
        } else {
            &self.http_ports
        };
        if !ports.contains(port) {
            return None;
        }
        // An IP literal can match an IP pattern only: a name pattern is never an address (one
        // that reads as an address is parsed as one), and no wildcard suffix ends in a numeric
        // label or holds a ':'. Parsing costs more than a lookup, so it is skipped for what
        // cannot be an address: IPv4 text ends in a digit, IPv6 text holds ':'.
        let may_be_ip = host.starts_with('[')
            || host.ends_with(|c: char| c.is_ascii_digit())
            || host.contains(':');
        if may_be_ip && let Some(ip) = parse_ip_literal(host) {
            return self.ips.get(&ip).and_then(|ports| ports.first(port, https));
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        let exact = self
            .names
            .get(name.as_ref())
            .and_then(|ports| ports.first(port, https));
        earliest(exact, self.first_wildcard(&name, port, https))
    }

    /// The first wildcard rule covering `name`: each suffix that starts at a dot, has a label
    /// before it (`a..example.com` is not under `*.example.com`) and is as deep as some wildcard.
    fn first_wildcard(&self, name: &str, port: u16, https: bool) -> Option<usize> {
        // A host with ':' is no name, and no suffix holds one.
        if self.wildcard_depths == 0 || name.contains(':') {
            return None;
        }
        let bytes = name.as_bytes();
        let mut best = None;
        let mut depth = 0u32;
        for (at, &b) in bytes.iter().enumerate().rev() {
            if b != b'.' {
                continue;
            }
            depth += 1;
            if self.wildcard_depths.checked_shr(depth).unwrap_or(0) == 0 {
                break;
            }
            let label_before = at
                .checked_sub(1)
                .and_then(|before| bytes.get(before))
                .is_some_and(|&b| b != b'.');
            if self.wildcard_depths & (1 << depth) == 0 || !label_before {
                continue;
            }
            let found = name
                .get(at..)
                .and_then(|suffix| self.wildcards.get(suffix))
                .and_then(|ports| ports.first(port, https));
            best = earliest(best, found);
        }
        best
    }
}

impl fmt::Debug for RuleIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleIndex")
            .field("names", &self.names.len())
            .field("wildcards", &self.wildcards.len())
            .field("ips", &self.ips.len())
            .finish()
    }
}

/// The multiply-rotate hash of rustc's `FxHasher` (rustc-hash 2), a word at a time: with it
/// instead of std's SipHash a lookup that finds no rule took 32 ns instead of 57. SipHash's
/// defence against chosen collisions is not needed here: the keys come from the config, and a
/// request's host is only looked up, so it cannot lengthen any probe sequence.
#[derive(Default, Clone, Copy)]
struct HostHasher(u64);

impl HostHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, word: u64) {
        self.0 = self.0.wrapping_add(word).wrapping_mul(Self::K);
    }
}

impl Hasher for HostHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut tail = [0u8; 8];
        for (slot, &b) in tail.iter_mut().zip(chunks.remainder()) {
            *slot = b;
        }
        self.add(u64::from_le_bytes(tail) ^ bytes.len() as u64);
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The product's high bits are its best mixed; the table indexes by the low ones.
        self.0.rotate_left(26)
    }
}

fn lowercase_key(host: &str) -> Box<str> {
    host.to_ascii_lowercase().into_boxed_str()
}

/// The lower of two rule positions.
fn earliest(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
