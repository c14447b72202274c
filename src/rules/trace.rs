//! Why each rule and route did or did not match a request: what `signet explain` prints.
//!
//! Decided by trying every rule in config order with the same tests the table uses, so that a
//! trace never disagrees with [`RuleTable::decide`] (a test holds them to it).

use std::fmt;

use http::Method;

use super::{Destination, HostKind, HostPattern, HostRule, PortSpec, Route, UrlScheme};
use super::{RuleError, RuleTable, normalize_path};

/// Why one pattern does not name a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternMiss {
    /// Another host.
    Host,
    /// `*.example.com` against `example.com`: a wildcard covers names below it only.
    Apex {
        /// The apex name, to add as a pattern of its own.
        apex: String,
    },
    /// The host matches, the scheme does not.
    Scheme {
        /// The scheme the pattern admits.
        wanted: UrlScheme,
    },
    /// The host and scheme match, the port does not.
    Port {
        /// The one port the pattern admits.
        wanted: u16,
    },
}

impl PatternMiss {
    /// Whether the pattern almost names the destination: same host (or its apex), other port or
    /// scheme. `explain` gives a hint for these.
    pub fn is_near(&self) -> bool {
        !matches!(self, PatternMiss::Host)
    }
}

/// Why `pattern` does not name `dest`; `None` when it does.
pub fn pattern_miss(pattern: &HostPattern, dest: &Destination) -> Option<PatternMiss> {
    if pattern.matches(&dest.host, dest.port, dest.https) {
        return None;
    }
    let host_port = match pattern.port() {
        PortSpec::Exact(p) => p,
        PortSpec::Default | PortSpec::Any => dest.port,
    };
    if !pattern.matches_any_port(&dest.host, host_port) {
        if let HostKind::Wildcard(suffix) = pattern.host_kind() {
            let apex = suffix.trim_start_matches('.');
            if dest.host.trim_end_matches('.').eq_ignore_ascii_case(apex) {
                return Some(PatternMiss::Apex {
                    apex: apex.to_owned(),
                });
            }
        }
        return Some(PatternMiss::Host);
    }
    let scheme = UrlScheme::of(dest.https);
    if let Some(wanted) = pattern.required_scheme().filter(|s| *s != scheme) {
        return Some(PatternMiss::Scheme { wanted });
    }
    let wanted = match pattern.port() {
        PortSpec::Exact(p) => p,
        PortSpec::Default | PortSpec::Any => scheme.default_port(),
    };
    Some(PatternMiss::Port { wanted })
}

/// What became of one rule.
#[derive(Debug)]
pub enum RuleVerdict<'p> {
    /// The first rule naming the destination: it applies.
    Applies,
    /// Names the destination, but an earlier rule applies.
    Shadowed {
        /// The config index of the rule that applies.
        by: usize,
    },
    /// No pattern names the destination: each pattern and why.
    Misses(Vec<(&'p HostPattern, PatternMiss)>),
}

/// Every rule of `table` with what became of it, in config order.
pub fn trace_rules<'t, A>(
    table: &'t RuleTable<A>,
    dest: &Destination,
) -> Vec<(&'t HostRule<A>, RuleVerdict<'t>)> {
    let mut applied: Option<usize> = None;
    let mut out = Vec::with_capacity(table.rules().len());
    for rule in table.rules() {
        let misses: Vec<_> = rule
            .patterns
            .iter()
            .filter_map(|p| pattern_miss(p, dest).map(|miss| (p, miss)))
            .collect();
        let verdict = if misses.len() < rule.patterns.len() {
            match applied {
                None => {
                    applied = Some(rule.index);
                    RuleVerdict::Applies
                }
                Some(by) => RuleVerdict::Shadowed { by },
            }
        } else {
            RuleVerdict::Misses(misses)
        };
        out.push((rule, verdict));
    }
    out
}

/// What became of one route of the rule that applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteVerdict {
    /// The first route matching: it applies.
    Applies,
    /// Matches, but an earlier route applies.
    Shadowed,
    /// The method is not one of the route's.
    Method,
    /// The path is not under the route's glob.
    Path,
}

impl fmt::Display for RouteVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteVerdict::Applies => "matches: applies",
            RouteVerdict::Shadowed => "matches, but an earlier route applies",
            RouteVerdict::Method => "no match: the method is not one of its methods",
            RouteVerdict::Path => "no match: the path is not under its glob",
        })
    }
}

/// Each route of a rule with what became of it, in order.
pub type RouteTrace<'r, A> = Vec<(&'r Route<A>, RouteVerdict)>;

/// Every route of `rule` with what became of it, judged on the normalised path as
/// [`RuleTable::decide`] judges it; the normalised path comes back too.
pub fn trace_routes<'r, A>(
    rule: &'r HostRule<A>,
    method: &Method,
    path: &str,
) -> Result<(String, RouteTrace<'r, A>), RuleError> {
    let path = normalize_path(path)?;
    let mut applied = false;
    let mut out = Vec::with_capacity(rule.routes.len());
    for route in &rule.routes {
        let verdict = if !route.methods.as_ref().is_none_or(|ms| ms.contains(method)) {
            RouteVerdict::Method
        } else if !route.path.as_ref().is_none_or(|g| g.matches(&path)) {
            RouteVerdict::Path
        } else if applied {
            RouteVerdict::Shadowed
        } else {
            applied = true;
            RouteVerdict::Applies
        };
        out.push((route, verdict));
    }
    Ok((path.into_owned(), out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{PathGlob, RouteAuth};

    fn rule(index: usize, patterns: &[&str], routes: Vec<Route<()>>) -> HostRule<()> {
        HostRule {
            index,
            name: patterns.first().copied().unwrap_or_default().into(),
            patterns: patterns
                .iter()
                .map(|p| HostPattern::parse(p).unwrap())
                .collect(),
            auth: Some(()),
            routes,
        }
    }

    fn dest(url: &str) -> Destination {
        Destination::from_uri(&url.parse().unwrap()).unwrap()
    }

    fn miss(pattern: &str, url: &str) -> Option<PatternMiss> {
        pattern_miss(&HostPattern::parse(pattern).unwrap(), &dest(url))
    }

    #[test]
    fn a_rule_for_443_is_a_port_near_miss_for_8443() {
        assert_eq!(
            miss("api.example.com", "https://api.example.com:8443/"),
            Some(PatternMiss::Port { wanted: 443 })
        );
        assert_eq!(
            miss("api.example.com:8443", "https://api.example.com/"),
            Some(PatternMiss::Port { wanted: 8443 })
        );
    }

    #[test]
    fn a_wildcard_misses_its_apex_by_name() {
        assert_eq!(
            miss("*.example.com", "https://example.com/"),
            Some(PatternMiss::Apex {
                apex: "example.com".into()
            })
        );
        assert_eq!(miss("*.example.com", "https://a.b.example.com/"), None);
        assert_eq!(
            miss("*.example.com", "https://example.org/"),
            Some(PatternMiss::Host)
        );
    }

    #[test]
    fn plain_http_to_an_https_pattern_is_a_scheme_near_miss() {
        assert_eq!(
            miss("api.example.com", "http://api.example.com/"),
            Some(PatternMiss::Scheme {
                wanted: UrlScheme::Https
            })
        );
        assert_eq!(
            miss("http://api.example.com", "https://api.example.com/"),
            Some(PatternMiss::Scheme {
                wanted: UrlScheme::Http
            })
        );
        assert_eq!(
            miss("api.example.com:*", "http://api.example.com:81/"),
            None
        );
    }

    #[test]
    fn the_trace_agrees_with_the_table_on_the_rule_that_applies() {
        let table = RuleTable::new(vec![
            rule(0, &["other.example.com"], vec![]),
            rule(1, &["*.example.com", "example.com"], vec![]),
            rule(2, &["api.example.com"], vec![]),
        ]);
        for url in [
            "https://api.example.com/",
            "https://example.com/",
            "https://other.example.com/",
            "https://api.example.com:8443/",
        ] {
            let d = dest(url);
            let traced = trace_rules(&table, &d);
            let applies = traced
                .iter()
                .find(|(_, v)| matches!(v, RuleVerdict::Applies))
                .map(|(r, _)| r.index);
            assert_eq!(applies, table.find(&d).map(|r| r.index), "{url}");
        }
        let traced = trace_rules(&table, &dest("https://api.example.com/"));
        assert!(matches!(traced[0].1, RuleVerdict::Misses(_)));
        assert!(matches!(traced[1].1, RuleVerdict::Applies));
        assert!(matches!(traced[2].1, RuleVerdict::Shadowed { by: 1 }));
    }

    #[test]
    fn routes_say_whether_method_or_path_kept_them_out() {
        let route = |path: &str, methods: Option<Vec<Method>>| Route {
            path: Some(PathGlob::parse(path).unwrap()),
            methods,
            auth: RouteAuth::Inherit,
        };
        let r = rule(
            0,
            &["api.example.com"],
            vec![
                route("/admin/**", None),
                route("/v1/**", Some(vec![Method::POST])),
                route("/v1/**", None),
                route("/**", None),
            ],
        );
        let (path, routes) = trace_routes(&r, &Method::GET, "/v1/x/../items").unwrap();
        assert_eq!(path, "/v1/items");
        let verdicts: Vec<_> = routes.into_iter().map(|(_, v)| v).collect();
        assert_eq!(
            verdicts,
            [
                RouteVerdict::Path,
                RouteVerdict::Method,
                RouteVerdict::Applies,
                RouteVerdict::Shadowed
            ]
        );
    }
}
