//! `signet check` and `signet explain`: what the config says, without running the proxy.

use std::sync::Arc;

use http::Method;

use super::Failure;
use crate::auth::Scheme;
use crate::config::{Config, GatewayConfig};
use crate::policy::Policy;
use crate::rules::{Destination, HostRule, RouteAuth, RuleLabel};
use crate::tls::{CertificateAuthority, TlsError};

pub(super) fn check(config: &Config) -> Result<(), Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let mut out = String::new();
    out.push_str(&format!("config {} is valid\n", config.file.display()));
    out.push_str(&format!("listen {}\n", config.proxy.listen));
    for (i, gateway) in config.gateways.iter().enumerate() {
        out.push_str(&format!(
            "gateway[{i}] {gateway} {}\n",
            gateway_rule(&policy, gateway)?
        ));
    }
    out.push_str(&format!(
        "ca {} ({})\n",
        config.ca.cert.display(),
        ca_state(config)?
    ));
    out.push_str(&format!("intercept {:?}\n", config.proxy.intercept).to_lowercase());
    if !config.proxy.allow.is_empty() || !config.proxy.deny.is_empty() {
        out.push_str(&format!(
            "egress allow {:?} deny {:?}\n",
            config.proxy.allow, config.proxy.deny
        ));
    }
    for (name, scheme) in &policy.profiles {
        let what = scheme.as_ref().map_or("none".to_owned(), |s| s.describe());
        out.push_str(&format!("auth.{name}: {what}\n"));
    }
    for (host, rule) in config.hosts.iter().zip(policy.table.rules()) {
        let auth = rule
            .auth
            .as_ref()
            .map_or("none".to_owned(), |s| s.describe());
        out.push_str(&format!(
            "{} match {:?} -> {auth}\n",
            RuleLabel::of(Some(rule)),
            host.patterns
        ));
        for (j, (route, compiled)) in host.routes.iter().zip(&rule.routes).enumerate() {
            let auth = match &compiled.auth {
                RouteAuth::Inherit => "inherit".to_owned(),
                RouteAuth::Set(s) => s.as_ref().map_or("none".to_owned(), |s| s.describe()),
            };
            out.push_str(&format!(
                "  route[{j}] path {} methods {} -> {auth}\n",
                route.path.as_deref().unwrap_or("**"),
                route
                    .methods
                    .as_ref()
                    .map_or("any".to_owned(), |m| m.join(","))
            ));
        }
    }
    for warning in &config.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    for warning in clear_text_warnings(&policy) {
        out.push_str(&warning);
        out.push('\n');
    }
    for scheme in policy.schemes() {
        if let Scheme::Asap(asap) = scheme.as_ref() {
            for warning in asap.warnings() {
                out.push_str(&format!("warning: {}: {warning}\n", scheme.describe()));
            }
        }
    }
    print!("{out}");
    Ok(())
}

/// What `run` will do with the CA: use it (it loads), or create it; an error where `run` would
/// refuse to start (half of a CA, an unreadable or mismatched file).
fn ca_state(config: &Config) -> Result<&'static str, Failure> {
    let (cert, key) = (&config.ca.cert, &config.ca.key);
    match (cert.exists(), key.exists()) {
        (false, false) => Ok("created on first run"),
        (true, true) => CertificateAuthority::load(cert, key)
            .map(|_| "present")
            .map_err(|e| Failure::User(format!("[ca]: {e}"))),
        (true, false) | (false, true) => {
            let (present, missing) = if cert.exists() {
                (cert, key)
            } else {
                (key, cert)
            };
            Err(Failure::User(format!(
                "[ca]: {}",
                TlsError::CaHalfMissing {
                    present: present.clone(),
                    missing: missing.clone(),
                }
            )))
        }
    }
}

/// Auth types whose credential is a reusable secret: whoever reads it once on the wire can send
/// it again (a `jwt` until it expires). Signatures over each request (oauth1, hawk, awsv4,
/// edgegrid) and challenge answers (digest, ntlm) are not.
const REUSABLE_SECRET_TYPES: &[&str] = &["apikey", "bearer", "basic", "oauth2", "jwt", "asap"];

/// One `warning:` line per pattern that lets a rule's reusable secret go out over plain HTTP to
/// a host other than this machine, with the pattern that keeps it on TLS.
fn clear_text_warnings(policy: &Policy) -> Vec<String> {
    let mut warnings = Vec::new();
    for rule in policy.table.rules() {
        let types = reusable_secret_types(rule);
        if types.is_empty() {
            continue;
        }
        let exposed = rule
            .patterns
            .iter()
            .filter(|p| p.admits_plain_http() && !p.is_loopback());
        for pattern in exposed {
            warnings.push(format!(
                "warning: {} match {:?} also admits plain http://, so its {} credentials can go \
                 out in clear text; write {:?} to pin it to HTTPS",
                RuleLabel::of(Some(rule)),
                pattern.as_str(),
                types.join(", "),
                format!("https://{}", pattern.without_scheme()),
            ));
        }
    }
    warnings
}

/// The reusable-secret auth types a rule can send: its own and its routes', each once.
fn reusable_secret_types(rule: &HostRule<Arc<Scheme>>) -> Vec<&'static str> {
    let routes = rule.routes.iter().filter_map(|route| match &route.auth {
        RouteAuth::Set(auth) => auth.as_ref(),
        RouteAuth::Inherit => None,
    });
    let mut types = Vec::new();
    for scheme in rule.auth.iter().chain(routes) {
        let name = scheme.type_name();
        if REUSABLE_SECRET_TYPES.contains(&name) && !types.contains(&name) {
            types.push(name);
        }
    }
    types
}

/// Which rule a gateway's requests fall under (at its base path; routes may refine it).
fn gateway_rule(policy: &Policy, gateway: &GatewayConfig) -> Result<String, Failure> {
    let upstream = &gateway.upstream;
    let path = if upstream.base_path.is_empty() {
        "/"
    } else {
        &upstream.base_path
    };
    let decision = policy
        .table
        .decide(&upstream.dest, &Method::GET, path)
        .map_err(|e| Failure::User(e.to_string()))?;
    Ok(match decision {
        None => "rule none: requests go untouched".to_owned(),
        Some(decision) => format!("rule {}", RuleLabel::of(Some(decision.rule))),
    })
}

/// The upstream URL of a request to a gateway's own address, when `uri` is one.
fn through_gateway(config: &Config, uri: &http::Uri) -> Option<String> {
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
    println!("gateway {} -> {target}", gateway.listen);
    Some(target)
}

pub(super) fn explain(config: &Config, method: &str, url: &str) -> Result<(), Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Failure::User(format!("bad method {method:?}")))?;
    let mut uri: http::Uri = url
        .parse()
        .map_err(|e| Failure::User(format!("bad URL {url:?}: {e}")))?;
    if let Some(target) = through_gateway(config, &uri) {
        uri = target
            .parse()
            .map_err(|e| Failure::User(format!("bad URL {target:?}: {e}")))?;
    }
    let dest = Destination::from_uri(&uri).map_err(|e| Failure::User(e.to_string()))?;
    let path = uri.path();
    println!("destination {dest}");
    println!(
        "egress {}",
        if policy.egress.permits(&dest.host, dest.port) {
            "allowed"
        } else {
            "denied (403)"
        }
    );
    match policy
        .table
        .decide(&dest, &method, path)
        .map_err(|e| Failure::User(e.to_string()))?
    {
        None => println!("rule none: the request is forwarded untouched"),
        Some(decision) => {
            println!("rule {}", RuleLabel::of(Some(decision.rule)));
            if let Some(route) = decision.route {
                println!("route host[{}].route[{route}]", decision.rule.index);
            }
            println!(
                "auth {}",
                decision.auth.map_or("none".to_owned(), |s| s.describe())
            );
        }
    }
    if dest.https {
        println!(
            "intercept {}",
            if policy.intercepts(&dest) {
                "yes (TLS terminated with a signet leaf certificate)"
            } else {
                "no (tunnelled untouched)"
            }
        );
    }
    Ok(())
}
