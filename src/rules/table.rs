//! The host rules in force: which rule and route a request's real destination falls under.

use std::fmt;

use http::{Method, Uri};

use super::index::RuleIndex;
use super::{HostPattern, PathGlob, RuleError, normalize_host, normalize_path};

/// Where a request really goes: the absolute URI's authority or the CONNECT target, never a
/// Host header the client wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// TLS to the origin.
    pub https: bool,
    /// Normalised host: lowercase, punycode, IPv6 without brackets.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Destination {
    /// A destination from a host (any spelling) and port.
    pub fn new(https: bool, host: &str, port: u16) -> Result<Self, RuleError> {
        Ok(Destination {
            https,
            host: normalize_host(host)?,
            port,
        })
    }

    /// The destination of an absolute-form URI (`http://…` or `https://…`).
    pub fn from_uri(uri: &Uri) -> Result<Self, RuleError> {
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(RuleError::NotAbsolute(format!(
                    "unsupported scheme {other}"
                )));
            }
            None => {
                return Err(RuleError::NotAbsolute(
                    "the request target is not an absolute URI".into(),
                ));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| RuleError::NotAbsolute("the URI has no host".into()))?;
        let (host, port) = host_and_port(authority.as_str());
        Destination::new(https, host, port.unwrap_or(if https { 443 } else { 80 }))
    }

    /// The scheme's default port.
    pub fn default_port(&self) -> u16 {
        if self.https { 443 } else { 80 }
    }

    /// `host[:port]` as it goes in a URI and Host header: the port only when not the default.
    pub fn authority(&self) -> String {
        let v6 = self.host.contains(':');
        let port = self.port != self.default_port();
        let digits = match self.port {
            0..10 => 1,
            10..100 => 2,
            100..1000 => 3,
            1000..10000 => 4,
            _ => 5,
        };
        // Exactly as long as it will be: a `Bytes` made of it then takes the buffer over as it
        // is, without allocating again.
        let mut out = String::with_capacity(
            self.host.len() + 2 * usize::from(v6) + usize::from(port) * (1 + digits),
        );
        if v6 {
            out.push('[');
            out.push_str(&self.host);
            out.push(']');
        } else {
            out.push_str(&self.host);
        }
        if port {
            // Every forwarded request makes its authority: the digits without `fmt`.
            out.push(':');
            let mut digits = [0u8; 5];
            let mut at = digits.len();
            let mut port = self.port;
            while at > 0 {
                at -= 1;
                digits[at] = b'0' + (port % 10) as u8;
                port /= 10;
                if port == 0 {
                    break;
                }
            }
            out.extend(digits[at..].iter().map(|&d| char::from(d)));
        }
        out
    }
}

/// The host and port of a URI authority as `http` reads them (`Authority::host`, `port_u16`),
/// in one pass over the bytes: every plain request's target goes through here, and the two
/// calls each search the text again.
fn host_and_port(authority: &str) -> (&str, Option<u16>) {
    // After the last '@' (userinfo), the first ':' after it, and the last ':' of all.
    let (mut host_at, mut first_colon, mut last_colon) = (0, None, None);
    for (i, b) in authority.bytes().enumerate() {
        match b {
            b'@' => (host_at, first_colon) = (i + 1, None),
            b':' => {
                first_colon.get_or_insert(i);
                last_colon = Some(i);
            }
            _ => {}
        }
    }
    let host_port = authority.get(host_at..).unwrap_or_default();
    let host = match host_port.starts_with('[') {
        true => host_port
            .find(']')
            .and_then(|i| host_port.get(..=i))
            .unwrap_or(host_port),
        false => first_colon
            .and_then(|i| authority.get(host_at..i))
            .unwrap_or(host_port),
    };
    let port = last_colon
        .and_then(|i| authority.get(i + 1..))
        .and_then(|p| p.parse().ok());
    (host, port)
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

/// The auth a route gives; `A` is whatever the rules carry as auth.
#[derive(Debug, Clone)]
pub enum RouteAuth<A> {
    /// The host rule's auth.
    Inherit,
    /// This auth (`None`: send untouched).
    Set(Option<A>),
}

/// One `[[host.route]]`.
#[derive(Debug)]
pub struct Route<A> {
    /// Path glob; `None` matches every path.
    pub path: Option<PathGlob>,
    /// Methods; `None` matches every method.
    pub methods: Option<Vec<Method>>,
    /// The route's auth.
    pub auth: RouteAuth<A>,
}

impl<A> Route<A> {
    fn matches(&self, method: &Method, path: &str) -> bool {
        self.methods.as_ref().is_none_or(|ms| ms.contains(method))
            && self.path.as_ref().is_none_or(|glob| glob.matches(path))
    }
}

/// One `[[host]]` rule, ready to match.
#[derive(Debug)]
pub struct HostRule<A> {
    /// Its position in the config (`host[N]`).
    pub index: usize,
    /// `name`, or its first pattern: what logs, metrics and errors call it.
    pub name: std::sync::Arc<str>,
    /// The `match` patterns.
    pub patterns: Vec<HostPattern>,
    /// The host's auth (`None`: untouched).
    pub auth: Option<A>,
    /// Routes, checked in order.
    pub routes: Vec<Route<A>>,
}

impl<A> HostRule<A> {
    /// Whether this rule names `dest`, its scheme included: a pattern meant for HTTPS does not
    /// name the same host over plain HTTP.
    pub fn matches(&self, dest: &Destination) -> bool {
        self.patterns
            .iter()
            .any(|p| p.matches(&dest.host, dest.port, dest.https))
    }
}

/// A request's rule in logs and error bodies: `host[0] (billing-api)` (the rule's index and name),
/// or `no rule`. Formatted only when printed, so the request path does not allocate for it.
#[derive(Debug, Clone, Copy)]
pub struct RuleLabel<'a>(Option<(usize, &'a str)>);

impl<'a> RuleLabel<'a> {
    /// The label of `rule` (`None`: no rule).
    pub fn of<A>(rule: Option<&'a HostRule<A>>) -> Self {
        RuleLabel(rule.map(|rule| (rule.index, &*rule.name)))
    }

    /// The rule's name alone (`None`: no rule), as metrics and the access log carry it.
    pub fn name(&self) -> Option<&'a str> {
        self.0.map(|(_, name)| name)
    }
}

impl fmt::Display for RuleLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((index, name)) => write!(f, "host[{index}] ({name})"),
            None => f.write_str("no rule"),
        }
    }
}

/// What applies to one request.
#[derive(Debug)]
pub struct Decision<'a, A> {
    /// The host rule.
    pub rule: &'a HostRule<A>,
    /// The index of the route that matched, if any.
    pub route: Option<usize>,
    /// The auth to apply (`None`: send untouched).
    pub auth: Option<&'a A>,
}

/// All host rules, in config order: the first that matches applies. Generic over what a rule
/// carries as auth, so that matching knows nothing of signing.
///
/// Rules are found through an index by host, so that the cost of a lookup does not grow with
/// the number of rules; it finds the same rule a scan in config order would.
#[derive(Debug)]
pub struct RuleTable<A> {
    rules: Vec<HostRule<A>>,
    index: RuleIndex,
}

impl<A> Default for RuleTable<A> {
    fn default() -> Self {
        RuleTable::new(Vec::new())
    }
}

impl<A> RuleTable<A> {
    /// A table of `rules`, in the order given.
    pub fn new(rules: Vec<HostRule<A>>) -> Self {
        let mut index = RuleIndex::default();
        for (at, rule) in rules.iter().enumerate() {
            for pattern in &rule.patterns {
                index.add(pattern, at);
            }
        }
        RuleTable { rules, index }
    }

    /// The rules.
    pub fn rules(&self) -> &[HostRule<A>] {
        &self.rules
    }

    /// The first rule naming `dest`.
    pub fn find(&self, dest: &Destination) -> Option<&HostRule<A>> {
        self.index
            .first(&dest.host, dest.port, dest.https)
            .and_then(|at| self.rules.get(at))
    }

    /// The first rule naming `dest`, by trying every rule in order: what the index must agree
    /// with.
    #[cfg(test)]
    pub(crate) fn find_linear(&self, dest: &Destination) -> Option<&HostRule<A>> {
        self.rules.iter().find(|r| r.matches(dest))
    }

    /// The rule, route and auth for a request. The path is normalised first (dot-segments), so
    /// `/public/../admin` is judged as `/admin`, as the origin will see it.
    pub fn decide(
        &self,
        dest: &Destination,
        method: &Method,
        path: &str,
    ) -> Result<Option<Decision<'_, A>>, RuleError> {
        let Some(rule) = self.find(dest) else {
            return Ok(None);
        };
        let path = normalize_path(path)?;
        for (i, route) in rule.routes.iter().enumerate() {
            if route.matches(method, &path) {
                let auth = match &route.auth {
                    RouteAuth::Inherit => rule.auth.as_ref(),
                    RouteAuth::Set(auth) => auth.as_ref(),
                };
                return Ok(Some(Decision {
                    rule,
                    route: Some(i),
                    auth,
                }));
            }
        }
        Ok(Some(Decision {
            rule,
            route: None,
            auth: rule.auth.as_ref(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authority_is_read_as_http_reads_it() {
        let cases = [
            ("example.test", "example.test", None),
            ("example.test:8080", "example.test", Some(8080)),
            ("127.0.0.1:80", "127.0.0.1", Some(80)),
            ("[::1]:443", "[::1]", Some(443)),
            ("[::1]", "[::1]", None),
            ("user:pw@example.test", "example.test", None),
            ("user:pw@example.test:81", "example.test", Some(81)),
            ("a@b@c.test:9", "c.test", Some(9)),
            ("example.test:", "example.test", None),
        ];
        for (authority, host, port) in cases {
            assert_eq!(host_and_port(authority), (host, port), "{authority}");
            let uri: Uri = format!("http://{authority}/").parse().unwrap();
            assert_eq!(
                (uri.host().unwrap(), uri.port_u16()),
                (host, port),
                "{authority}"
            );
        }
    }

    #[test]
    fn an_authority_names_the_port_only_when_not_the_default() {
        let at = |https, port| Destination::new(https, "a.test", port).unwrap().authority();
        assert_eq!(at(false, 80), "a.test");
        assert_eq!(at(true, 443), "a.test");
        assert_eq!(at(false, 8080), "a.test:8080");
        assert_eq!(at(true, 1), "a.test:1");
        assert_eq!(at(false, 65535), "a.test:65535");
        let v6 = Destination::new(false, "[::1]", 9).unwrap().authority();
        assert_eq!(v6, "[::1]:9");
    }
}
