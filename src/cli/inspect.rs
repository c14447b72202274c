//! `signet check` and `signet explain`: what the config says, without running the proxy.

use http::Method;

use super::Failure;
use crate::config::Config;
use crate::policy::Policy;
use crate::rules::Destination;

pub(super) fn check(config: &Config) -> Result<(), Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let mut out = String::new();
    out.push_str(&format!("config {} is valid\n", config.file.display()));
    out.push_str(&format!("listen {}\n", config.proxy.listen));
    out.push_str(&format!(
        "ca {} ({})\n",
        config.ca.cert.display(),
        if config.ca.cert.exists() {
            "present"
        } else {
            "created on first run"
        }
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
            crate::rules::RuleLabel::of(Some(rule)),
            host.patterns
        ));
        for (j, (route, compiled)) in host.routes.iter().zip(&rule.routes).enumerate() {
            let auth = match &compiled.auth {
                crate::rules::RouteAuth::Inherit => "inherit".to_owned(),
                crate::rules::RouteAuth::Set(s) => {
                    s.as_ref().map_or("none".to_owned(), |s| s.describe())
                }
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
    print!("{out}");
    Ok(())
}

pub(super) fn explain(config: &Config, method: &str, url: &str) -> Result<(), Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Failure::User(format!("bad method {method:?}")))?;
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Failure::User(format!("bad URL {url:?}: {e}")))?;
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
            println!("rule {}", crate::rules::RuleLabel::of(Some(decision.rule)));
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
