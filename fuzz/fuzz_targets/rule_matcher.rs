//! Differential: `HostPattern::parse` / `matches` / `matches_any_port` against a slow, obvious
//! reference written from docs/spec.md ("Matching") and the doc comments of src/rules/host.rs:
//!
//! - a pattern is `[https:// | http://]host[:PORT | :*]`, the scheme in any case; no path,
//!   query or fragment; `[v6]` with an optional port, or a bare IPv6 address without one (and
//!   not after a scheme);
//! - no scheme and no port: HTTPS on 443 only; `http://host`: plain HTTP on 80; `https://host`:
//!   HTTPS on 443; `host:PORT`: that port, either scheme; `host:*`: any port, either scheme; a
//!   scheme with a port pins both;
//! - `*.example.com` matches every name under example.com, at any depth, but not example.com
//!   itself (nor evilexample.com, nor example.com.evil.net); `*` only as the whole first label;
//!   never over an IP address;
//! - names compare case-insensitively on the punycode form (both sides through
//!   `normalize_host`, which has its own target); IP literals compare by address;
//! - egress lists (`matches_any_port`): any port and either scheme, unless a port is written.
//!
//! Input: the pattern on the first line, then destinations, one a line: `host [port] [http]`.
//! Any disagreement is a crash.
#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use signet::rules::{HostPattern, normalize_host};

#[derive(Debug, Clone, PartialEq, Eq)]
enum RefHost {
    Name(String),
    /// The normalised domain under the `*.`.
    Under(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefPort {
    Unwritten,
    Exactly(u16),
    Any,
}

#[derive(Debug)]
struct RefPattern {
    /// `Some(true)`: https://, `Some(false)`: http://.
    scheme: Option<bool>,
    host: RefHost,
    port: RefPort,
}

fn ref_port(text: &str) -> Option<RefPort> {
    if text == "*" {
        return Some(RefPort::Any);
    }
    if text.is_empty() || text.len() > 5 || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u32 = text.parse().ok()?;
    (1..=65535).contains(&n).then(|| RefPort::Exactly(n as u16))
}

fn ref_host(text: &str) -> Option<RefHost> {
    if let Some(domain) = text.strip_prefix("*.") {
        if domain.contains('*') {
            return None;
        }
        let domain = normalize_host(domain).ok()?;
        if domain.parse::<IpAddr>().is_ok() {
            return None;
        }
        return Some(RefHost::Under(domain));
    }
    if text.contains('*') {
        return None;
    }
    let name = normalize_host(text).ok()?;
    Some(match name.parse::<IpAddr>() {
        Ok(ip) => RefHost::Ip(ip),
        Err(_) => RefHost::Name(name),
    })
}

fn ref_parse(pattern: &str) -> Option<RefPattern> {
    if pattern.is_empty() {
        return None;
    }
    let (scheme, rest) = match pattern.find("://") {
        Some(at) => {
            let name = pattern[..at].to_ascii_lowercase();
            let scheme = match name.as_str() {
                "https" => true,
                "http" => false,
                _ => return None,
            };
            (Some(scheme), &pattern[at + 3..])
        }
        None => (None, pattern),
    };
    if rest.contains(['/', '?', '#']) {
        return None;
    }
    if let Some(inner) = rest.strip_prefix('[') {
        let close = inner.find(']')?;
        let ip: Ipv6Addr = inner[..close].parse().ok()?;
        let after = &inner[close + 1..];
        let port = if after.is_empty() {
            RefPort::Unwritten
        } else {
            ref_port(after.strip_prefix(':')?)?
        };
        return Some(RefPattern {
            scheme,
            host: RefHost::Ip(IpAddr::V6(ip)),
            port,
        });
    }
    let colons = rest.matches(':').count();
    let (host, port) = match colons {
        0 => (rest, RefPort::Unwritten),
        1 => {
            let (h, p) = rest.split_once(':').unwrap();
            (h, ref_port(p)?)
        }
        // A bare IPv6 address, which never carries a port, and needs brackets after a scheme.
        _ if scheme.is_some() => return None,
        _ => (rest, RefPort::Unwritten),
    };
    Some(RefPattern {
        scheme,
        host: ref_host(host)?,
        port,
    })
}

/// `host` is normalised.
fn ref_host_matches(p: &RefHost, host: &str) -> bool {
    match p {
        RefHost::Name(name) => host == name,
        RefHost::Under(domain) => {
            let labels: Vec<&str> = host.split('.').collect();
            let under: Vec<&str> = domain.split('.').collect();
            labels.len() > under.len()
                && labels[labels.len() - under.len()..] == under[..]
                && labels[..labels.len() - under.len()].iter().all(|l| !l.is_empty())
                && host.parse::<IpAddr>().is_err()
        }
        RefHost::Ip(ip) => host.parse::<IpAddr>().ok() == Some(*ip),
    }
}

fn ref_matches(p: &RefPattern, host: &str, port: u16, https: bool) -> bool {
    let scheme_ok = match (p.scheme, p.port) {
        (Some(s), _) => s == https,
        (None, RefPort::Unwritten) => https,
        (None, _) => true,
    };
    let port_ok = match p.port {
        RefPort::Unwritten => port == if p.scheme == Some(false) { 80 } else { 443 },
        RefPort::Exactly(n) => port == n,
        RefPort::Any => true,
    };
    scheme_ok && port_ok && ref_host_matches(&p.host, host)
}

fn ref_matches_any_port(p: &RefPattern, host: &str, port: u16) -> bool {
    let port_ok = match p.port {
        RefPort::Exactly(n) => port == n,
        RefPort::Unwritten | RefPort::Any => true,
    };
    port_ok && ref_host_matches(&p.host, host)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let pattern = lines.next().unwrap_or("");
    let signet = HostPattern::parse(pattern);
    let reference = ref_parse(pattern);
    let (signet, reference) = match (signet, reference) {
        (Ok(s), Some(r)) => (s, r),
        (Err(_), None) => return,
        (Ok(s), None) => panic!("signet accepts {pattern:?} ({s:?}), the reference does not"),
        (Err(e), Some(r)) => panic!("signet refuses {pattern:?} ({e}), the reference reads {r:?}"),
    };
    assert_eq!(signet.as_str(), pattern);
    assert_eq!(
        signet.admits_plain_http(),
        ref_matches_scheme_at_all(&reference, false)
    );

    for line in lines.take(16) {
        let mut words = line.split(' ');
        let raw_host = words.next().unwrap_or("");
        let mut port = 443u16;
        let mut https = true;
        for w in words {
            if let Ok(p) = w.parse::<u16>() {
                port = p;
            } else if w.eq_ignore_ascii_case("http") {
                https = false;
                if port == 443 {
                    port = 80;
                }
            }
        }
        // Hosts that cannot be normalised never reach the matcher (`Destination::new`).
        let Ok(host) = normalize_host(raw_host) else {
            continue;
        };
        for (port, https) in [(port, https), (port, !https), (443, true), (80, false)] {
            let got = signet.matches(&host, port, https);
            let want = ref_matches(&reference, &host, port, https);
            let want_match = want;
            assert_eq!(
                got, want,
                "{pattern:?} vs {host:?} port {port} https {https}: signet {got}, reference {want}"
            );
            let got = signet.matches_any_port(&host, port);
            let want = ref_matches_any_port(&reference, &host, port);
            assert_eq!(
                got, want,
                "egress {pattern:?} vs {host:?} port {port}: signet {got}, reference {want}"
            );
            // Unnormalised spellings never widen a match, and the ones the matcher tolerates
            // (upper case, a trailing dot, IPv6 brackets) match just as the normal form does.
            if signet.matches(raw_host, port, https) {
                assert!(
                    signet.matches(&host, port, https),
                    "{pattern:?} matches the spelling {raw_host:?} but not {host:?}"
                );
            }
            // (A trailing dot after an IP literal is not tolerated: "127.0.0.1." matches no IP
            // pattern, which narrows rather than widens.)
            let mut spellings = vec![host.to_ascii_uppercase()];
            if host.parse::<IpAddr>().is_err() {
                spellings.push(format!("{host}."));
            }
            if host.contains(':') {
                spellings.push(format!("[{host}]"));
            }
            for spelling in spellings {
                assert_eq!(
                    signet.matches(&spelling, port, https),
                    want_match,
                    "{pattern:?} vs the spelling {spelling:?} of {host:?}"
                );
            }
        }
    }
});

/// Whether some destination over this scheme can match.
fn ref_matches_scheme_at_all(p: &RefPattern, https: bool) -> bool {
    match (p.scheme, p.port) {
        (Some(s), _) => s == https,
        (None, RefPort::Unwritten) => https,
        (None, _) => true,
    }
}
