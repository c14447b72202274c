//! `signet explain`: what signet would do with one request, and why.

use std::fmt::Write as _;

use http::Method;

use super::Failure;
use crate::config::{AuthChoice, Config, KeyPath};
use crate::policy::Policy;
use crate::rules::trace::{PatternMiss, RuleVerdict, trace_routes, trace_rules};
use crate::rules::{Decision, Destination, HostPattern, RuleLabel, UrlScheme};

pub(super) fn explain(config: &Config, method: &str, url: &str) -> Result<(), Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Failure::User(format!("bad method {method:?}")))?;
    let mut uri: http::Uri = url
        .parse()
        .map_err(|e| Failure::User(format!("bad URL {url:?}: {e}")))?;
    let mut out = String::new();
    if let Some((line, target)) = through_gateway(config, &uri) {
        out.push_str(&line);
        uri = target
            .parse()
            .map_err(|e| Failure::User(format!("bad URL {target:?}: {e}")))?;
    }
    let dest = Destination::from_uri(&uri).map_err(|e| Failure::User(e.to_string()))?;
    let _ = writeln!(out, "destination {dest}");
    if !policy.egress.permits(&dest.host, dest.port) {
        // Egress is decided before any rule: nothing is signed, forwarded or tunnelled.
        let _ = writeln!(
            out,
            "egress denied: signet answers 403 and sends nothing to {dest} ([proxy] allow/deny)"
        );
        print!("{out}");
        return Ok(());
    }
    out.push_str("egress allowed\n");
    out.push_str(&rule_trace(&policy, &dest));
    let decision = policy
        .table
        .decide(&dest, &method, uri.path())
        .map_err(|e| Failure::User(e.to_string()))?;
    match &decision {
        None if dest.https && !policy.intercepts(&dest) => {
            out.push_str("rule none: the request is tunnelled untouched\n");
        }
        None => out.push_str("rule none: the request is forwarded untouched\n"),
        Some(decision) => {
            let _ = writeln!(out, "rule {}", RuleLabel::of(Some(decision.rule)));
            out.push_str(&route_trace(decision, &method, uri.path())?);
            if let Some(route) = decision.route {
                let _ = writeln!(out, "route host[{}].route[{route}]", decision.rule.index);
            }
            let _ = writeln!(
                out,
                "auth {}",
                decision.auth.map_or("none".to_owned(), |s| s.describe())
            );
            out.push_str(&secret_sources(config, decision));
        }
    }
    if dest.https {
        let _ = writeln!(
            out,
            "intercept {}",
            if policy.intercepts(&dest) {
                "yes (TLS terminated with a signet leaf certificate)"
            } else {
                "no (tunnelled untouched)"
            }
        );
    }
    print!("{out}");
    Ok(())
}

/// One line per rule, in the order they are tried, and one per pattern of a rule that missed.
fn rule_trace(policy: &Policy, dest: &Destination) -> String {
    let mut out = String::new();
    let traced = trace_rules(&policy.table, dest);
    if traced.is_empty() {
        out.push_str("rules: none in the config\n");
    }
    for (rule, verdict) in traced {
        let label = RuleLabel::of(Some(rule));
        match verdict {
            RuleVerdict::Applies => {
                let _ = writeln!(out, "tried {label}: matches, applies");
            }
            RuleVerdict::Shadowed { by } => {
                let _ = writeln!(
                    out,
                    "tried {label}: matches too, but host[{by}] comes first"
                );
            }
            RuleVerdict::Misses(misses) => {
                let _ = writeln!(out, "tried {label}: no match");
                for (pattern, miss) in misses {
                    let _ = writeln!(out, "  {}", pattern_line(pattern, &miss, dest));
                }
            }
        }
    }
    out
}

/// Why `pattern` missed `dest`, with what to write instead when it was a near miss.
fn pattern_line(pattern: &HostPattern, miss: &PatternMiss, dest: &Destination) -> String {
    let p = pattern.as_str();
    match miss {
        PatternMiss::Host => format!("{p:?}: another host"),
        PatternMiss::Apex { apex } => format!(
            "{p:?}: near miss: a wildcard covers the names below {apex}, not {apex} itself; \
             add \"{apex}\" to match = [...] to cover it"
        ),
        PatternMiss::Scheme { wanted } => {
            let hint = match wanted {
                UrlScheme::Https => format!(
                    "request https://{} instead, or add \"http://{}\" to send this rule's \
                     credentials over plain HTTP",
                    dest.authority(),
                    dest.authority()
                ),
                UrlScheme::Http => format!("add \"https://{}\" to cover it", dest.authority()),
            };
            format!(
                "{p:?}: near miss: admits {} only, this request is {}; {hint}",
                wanted.as_str(),
                UrlScheme::of(dest.https).as_str()
            )
        }
        PatternMiss::Port { wanted } => format!(
            "{p:?}: near miss: admits port {wanted} only, this request is to port {}; \
             add \"{}\" to cover it",
            dest.port,
            pattern_for(pattern, dest)
        ),
    }
}

/// A pattern naming `pattern`'s host on `dest`'s scheme and port: the port only when it is
/// not the default, the scheme only for plain HTTP.
fn pattern_for(pattern: &HostPattern, dest: &Destination) -> String {
    let host = pattern.without_scheme();
    let host = match host.rsplit_once(':') {
        Some((name, port))
            if (name.ends_with(']') || !name.contains(':'))
                && (port == "*" || port.parse::<u16>().is_ok()) =>
        {
            name.to_owned()
        }
        // A bare IPv6 address carries no port; with one it needs its brackets.
        _ if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
        _ => host.to_owned(),
    };
    let scheme = if dest.https { "" } else { "http://" };
    if dest.port == dest.default_port() {
        format!("{scheme}{host}")
    } else {
        format!("{scheme}{host}:{}", dest.port)
    }
}

/// One line per route of the rule that applies, when it has routes.
fn route_trace<A>(
    decision: &Decision<'_, A>,
    method: &Method,
    path: &str,
) -> Result<String, Failure> {
    let rule = decision.rule;
    if rule.routes.is_empty() {
        return Ok(String::new());
    }
    let (path, routes) =
        trace_routes(rule, method, path).map_err(|e| Failure::User(e.to_string()))?;
    let mut out = format!("routes of host[{}] for {method} {path}:\n", rule.index);
    for (j, (route, verdict)) in routes.into_iter().enumerate() {
        let methods = route.methods.as_ref().map_or("any".to_owned(), |ms| {
            ms.iter().map(Method::as_str).collect::<Vec<_>>().join(",")
        });
        let glob = route.path.as_ref().map_or("**", |g| g.as_str());
        let _ = writeln!(out, "  route[{j}] path {glob} methods {methods}: {verdict}");
    }
    if decision.route.is_none() {
        out.push_str("  no route matches: the host's own auth applies\n");
    }
    Ok(out)
}

/// Where each secret of the auth that applies came from: `secret KEY: env VAR`, `file PATH`,
/// `default used …` or `written in the config`. Never the value.
fn secret_sources<A>(config: &Config, decision: &Decision<'_, A>) -> String {
    let Some(table) = auth_table_path(config, decision) else {
        return String::new();
    };
    let mut out = String::new();
    for (key, source) in &config.value_sources {
        if key.0.starts_with(&table.0) {
            let _ = writeln!(out, "secret {key}: {source}");
        }
    }
    out
}

/// The key path of the auth table that applies: `auth.NAME` for a profile, or the host's or
/// route's inline `auth`.
fn auth_table_path<A>(config: &Config, decision: &Decision<'_, A>) -> Option<KeyPath> {
    let host = config.hosts.get(decision.rule.index)?;
    let route = decision.route.and_then(|j| host.routes.get(j));
    let (choice, at) = match route {
        Some(route) if !matches!(route.auth, AuthChoice::Inherit) => {
            (&route.auth, route.key_path.key("auth"))
        }
        _ => (&host.auth, host.path.key("auth")),
    };
    match choice {
        AuthChoice::Profile(name) => Some(KeyPath::default().key("auth").key(name)),
        AuthChoice::Inline(_) => Some(at),
        AuthChoice::Inherit | AuthChoice::None => None,
    }
}

/// The line naming the gateway and the upstream URL of a request to a gateway's own address,
/// when `uri` is one.
fn through_gateway(config: &Config, uri: &http::Uri) -> Option<(String, String)> {
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let ip: std::net::IpAddr = uri.host()?.trim_matches(['[', ']']).parse().ok()?;
    let port = uri.port_u16().unwrap_or(80);
    let gateway = config
        .gateways
        .iter()
        .find(|g| g.listen.port() == port && g.listen.ip() == ip)?;
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let upstream = &gateway.upstream;
    let target = upstream.url(path);
    Some((format!("gateway {} -> {target}\n", gateway.listen), target))
}
