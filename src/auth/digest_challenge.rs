//! Digest challenges: the `WWW-Authenticate` list syntax (RFC 7235 section 4.1), the Digest
//! parameters (RFC 7616 section 3.3), and the choice of the strongest one signet can answer.
//!
//! Hand-written rather than taken from `http-auth`: that crate's parser rejects a whole header
//! when a `token68` challenge (`Negotiate <token>`) comes before the Digest one, its responder
//! hashes the raw body for `auth-int` instead of `H(entity-body)`, and it takes neither a
//! nonce count nor a client nonce from the caller.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::{DigestAlgorithm, DigestQop};

/// The longest `WWW-Authenticate` (or `Proxy-Authenticate`) value a challenge is read from. A
/// larger one is not parsed: it would be remembered and its values sent back with every
/// request, past the header limits of most servers.
pub const MAX_HEADER_VALUE: usize = 4096;
/// The longest realm, nonce or opaque a challenge may carry; each goes into every answer.
/// Servers use tens of bytes; a challenge with a longer one is not answered.
pub const MAX_PARAM: usize = 512;
/// The most `domain` URIs a challenge may list; each is remembered as a URI prefix.
pub const MAX_DOMAIN_URIS: usize = 16;

/// One challenge (or credentials: the syntax is the same) as it appears in a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChallenge {
    /// The auth scheme, as written.
    pub scheme: String,
    /// Parameters in order, names as written and values unquoted.
    pub params: Vec<(String, String)>,
}

impl RawChallenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every well-formed challenge in one header value. Parsing stops at the first syntax error;
/// the challenges before it are kept and the broken one is dropped.
pub fn parse_list(value: &str) -> Vec<RawChallenge> {
    let mut cursor = Cursor {
        s: value.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    while let Some(challenge) = cursor.challenge() {
        out.push(challenge);
    }
    out
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        let token = self.s.get(start..self.i).filter(|t| !t.is_empty())?;
        Some(String::from_utf8_lossy(token).into_owned())
    }

    fn quoted(&mut self) -> Option<String> {
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    out.push(*self.s.get(self.i + 1)?);
                    self.i += 2;
                }
                b if b == b'\t' || b >= 0x20 && b != 0x7f => {
                    out.push(b);
                    self.i += 1;
                }
                _ => return None,
            }
        }
    }

    fn at_list_end(&mut self) -> bool {
        self.skip_ows();
        matches!(self.peek(), None | Some(b','))
    }

    /// `token68` followed by the end of the element; the cursor is restored otherwise.
    fn token68(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_token68) {
            self.i += 1;
        }
        let body_end = self.i;
        while self.peek() == Some(b'=') {
            self.i += 1;
        }
        if body_end > start && self.at_list_end() {
            return true;
        }
        self.i = start;
        false
    }

    /// Whether a `name =` comes next (a parameter rather than the next challenge's scheme).
    fn param_follows(&mut self) -> bool {
        let start = self.i;
        let found = self.token().is_some() && {
            self.skip_ows();
            self.peek() == Some(b'=')
        };
        self.i = start;
        found
    }

    fn param(&mut self) -> Option<(String, String)> {
        let name = self.token()?;
        self.skip_ows();
        if self.peek() != Some(b'=') {
            return None;
        }
        self.i += 1;
        self.skip_ows();
        let value = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            self.token()?
        };
        Some((name, value))
    }

    fn challenge(&mut self) -> Option<RawChallenge> {
        self.skip_separators();
        let scheme = self.token()?;
        let mut challenge = RawChallenge {
            scheme,
            params: Vec::new(),
        };
        if self.at_list_end() || self.token68() {
            return Some(challenge);
        }
        loop {
            challenge.params.push(self.param()?);
            if !self.at_list_end() {
                return None;
            }
            self.skip_separators();
            if !self.param_follows() {
                return Some(challenge);
            }
        }
    }
}

/// A Digest challenge signet can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space name.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Echoed back unchanged.
    pub opaque: Option<String>,
    /// Hash algorithm (MD5 when the challenge names none).
    pub algorithm: DigestAlgorithm,
    /// Whether the challenge named the algorithm (RFC 2617 servers that don't get none back).
    pub algorithm_named: bool,
    /// Offered qop values; empty means RFC 2069 (no qop, no cnonce, no nc).
    pub qop: Vec<DigestQop>,
    /// The previous nonce was merely too old.
    pub stale: bool,
    /// Send `H(username:realm)` instead of the user name.
    pub userhash: bool,
    /// URIs of the protection space, as written (`domain`).
    pub domain: Vec<String>,
}

impl Challenge {
    /// Reads a Digest challenge; `None` when it is not Digest, lacks realm or nonce, asks
    /// for an algorithm or qop signet does not implement, or is larger than signet keeps.
    pub fn from_raw(raw: &RawChallenge) -> Option<Challenge> {
        if !raw.scheme.eq_ignore_ascii_case("Digest") || has_duplicates(raw) || oversized(raw) {
            return None;
        }
        let (algorithm, algorithm_named) = match raw.param("algorithm") {
            Some(name) => (DigestAlgorithm::from_name(name)?, true),
            None => (DigestAlgorithm::Md5, false),
        };
        let qop = match raw.param("qop") {
            None => Vec::new(),
            Some(list) => {
                let offered: Vec<DigestQop> = list
                    .split(',')
                    .filter_map(|q| match q.trim() {
                        q if q.eq_ignore_ascii_case("auth") => Some(DigestQop::Auth),
                        q if q.eq_ignore_ascii_case("auth-int") => Some(DigestQop::AuthInt),
                        _ => None,
                    })
                    .collect();
                if offered.is_empty() {
                    return None;
                }
                offered
            }
        };
        // A session algorithm needs the cnonce that only exists together with qop.
        if qop.is_empty() && algorithm.is_session() {
            return None;
        }
        let flag = |name| {
            raw.param(name)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        };
        Some(Challenge {
            realm: raw.param("realm")?.to_owned(),
            nonce: raw.param("nonce")?.to_owned(),
            opaque: raw.param("opaque").map(str::to_owned),
            algorithm,
            algorithm_named,
            qop,
            stale: flag("stale"),
            userhash: flag("userhash"),
            domain: raw
                .param("domain")
                .map(|d| d.split_ascii_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
}

fn oversized(raw: &RawChallenge) -> bool {
    let long = |name| raw.param(name).is_some_and(|v| v.len() > MAX_PARAM);
    let domains = raw
        .param("domain")
        .map_or(0, |d| d.split_ascii_whitespace().count());
    long("realm") || long("nonce") || long("opaque") || domains > MAX_DOMAIN_URIS
}

fn has_duplicates(raw: &RawChallenge) -> bool {
    raw.params.iter().enumerate().any(|(i, (k, _))| {
        raw.params
            .iter()
            .take(i)
            .any(|(earlier, _)| earlier.eq_ignore_ascii_case(k))
    })
}

/// The strongest Digest challenge among all `WWW-Authenticate` values: SHA-512-256 over
/// SHA-256 over MD5, then one with qop over one without; the first wins a tie. Values longer
/// than [`MAX_HEADER_VALUE`] are skipped.
pub fn strongest<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    let mut best: Option<Challenge> = None;
    let within_limit = values.into_iter().filter(|v| v.len() <= MAX_HEADER_VALUE);
    for raw in within_limit.flat_map(parse_list) {
        let Some(candidate) = Challenge::from_raw(&raw) else {
            continue;
        };
        let rank = |c: &Challenge| (c.algorithm.strength(), !c.qop.is_empty());
        if best.as_ref().is_none_or(|b| rank(&candidate) > rank(b)) {
            best = Some(candidate);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(value: &str) -> Vec<String> {
        parse_list(value).into_iter().map(|c| c.scheme).collect()
    }

    #[test]
    fn several_challenges_in_one_header() {
        let list = parse_list(
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
        );
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].param("title"), Some(r#"Login to "apps""#));
        assert_eq!(list[1].scheme, "Basic");
    }

    #[test]
    fn token68_and_bare_schemes_do_not_hide_digest() {
        assert_eq!(
            names(r#"Negotiate YIIB/w==, NTLM, Digest realm="r", nonce="n", Basic realm="b""#),
            ["Negotiate", "NTLM", "Digest", "Basic"]
        );
    }

    #[test]
    fn broken_challenge_is_dropped_and_parsing_stops() {
        assert_eq!(
            names(r#"Basic realm="a", Digest realm="unterminated"#),
            ["Basic"]
        );
        assert_eq!(names(r#"Digest realm="a" nonce="b""#), Vec::<String>::new());
        assert_eq!(names(""), Vec::<String>::new());
        assert_eq!(names(", ,"), Vec::<String>::new());
    }

    #[test]
    fn strongest_prefers_sha512_256_then_sha256_then_md5() {
        let headers = [
            r#"Digest realm="r", nonce="1", algorithm=MD5, qop="auth""#,
            r#"Basic realm="r", Digest realm="r", nonce="2", algorithm=SHA-512-256-sess, qop="auth", Digest realm="r", nonce="3", algorithm=SHA-256, qop="auth""#,
        ];
        let best = strongest(headers).unwrap();
        assert_eq!(best.nonce, "2");
        assert_eq!(best.algorithm, DigestAlgorithm::Sha512_256Sess);
        let best = strongest([
            headers[0],
            r#"Digest realm="r", nonce="4", algorithm=sha-256"#,
        ]);
        assert_eq!(best.unwrap().nonce, "4");
    }

    #[test]
    fn unusable_challenges_are_skipped() {
        for bad in [
            r#"Digest nonce="n""#,
            r#"Digest realm="r""#,
            r#"Digest realm="r", nonce="n", algorithm=SHA-512"#,
            r#"Digest realm="r", nonce="n", qop="auth-conf""#,
            r#"Digest realm="r", nonce="n", algorithm=MD5-sess"#,
            r#"Digest realm="r", nonce="n", realm="s""#,
        ] {
            assert_eq!(strongest([bad]), None, "{bad}");
        }
    }

    #[test]
    fn oversized_challenges_are_skipped() {
        let long = "x".repeat(513);
        let many_domains = vec!["/d"; 17].join(" ");
        for bad in [
            format!(r#"Digest realm="{long}", nonce="n""#),
            format!(r#"Digest realm="r", nonce="{long}""#),
            format!(r#"Digest realm="r", nonce="n", opaque="{long}""#),
            format!(r#"Digest realm="r", nonce="n", domain="{many_domains}""#),
            format!(
                r#"Digest realm="r", nonce="n", title="{}""#,
                "x".repeat(4096)
            ),
        ] {
            assert_eq!(strongest([bad.as_str()]), None, "{}", &bad[..40]);
        }
        let at_the_limits = format!(
            r#"Digest realm="r", nonce="{}", domain="{}""#,
            "x".repeat(512),
            vec!["/d"; 16].join(" ")
        );
        assert!(strongest([at_the_limits.as_str()]).is_some());
        let oversized_then_usable = [
            format!(r#"Digest realm="r", nonce="{long}", algorithm=SHA-256"#),
            r#"Digest realm="r", nonce="n""#.to_owned(),
        ];
        let best = strongest(oversized_then_usable.iter().map(String::as_str)).unwrap();
        assert_eq!(best.nonce, "n");
    }

    #[test]
    fn reads_every_parameter() {
        let c = strongest([
            r#"DIGEST realm="r", nonce="n", opaque="o", stale=TRUE, userhash=true, charset=UTF-8, domain="/a http://h/b", qop="auth-int,auth""#,
        ])
        .unwrap();
        assert_eq!(c.opaque.as_deref(), Some("o"));
        assert!(c.stale && c.userhash && !c.algorithm_named);
        assert_eq!(c.domain, ["/a", "http://h/b"]);
        assert_eq!(c.qop, [DigestQop::AuthInt, DigestQop::Auth]);
    }
}
