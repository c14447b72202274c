//! Cost of finding the rule, route and auth for one request among 1,000 host rules.
//!
//! The table is built from a generated config the way `signet run` builds it: exact hosts,
//! wildcards, explicit ports and a few routes, with the interesting hosts placed last so that
//! a lookup walks the whole list.

use std::path::Path;
use std::sync::LazyLock;

use http::Method;
use signet::config::Config;
use signet::policy::Policy;
use signet::rules::Destination;

fn main() {
    divan::main();
}

const RULES: usize = 1_000;

/// 1,000 rules: mostly exact hosts and wildcards, every tenth with an explicit port, every
/// fiftieth with routes; the last one is a wildcard with routes.
fn config_text() -> String {
    let mut toml = String::from(
        "[auth.token]\ntype = \"bearer\"\ntoken = \"t0ken\"\n\n\
         [auth.admin]\ntype = \"basic\"\nusername = \"admin\"\npassword = \"pw\"\n\n",
    );
    for i in 0..RULES - 1 {
        let pattern = match i % 10 {
            0 => format!("api{i}.example.com:8443"),
            1..=4 => format!("*.svc{i}.example.net"),
            _ => format!("host{i}.example.org"),
        };
        toml.push_str(&format!(
            "[[host]]\nmatch = [\"{pattern}\", \"alt{i}.example.org\"]\nauth = \"token\"\n"
        ));
        if i % 50 == 0 {
            toml.push_str(
                "  [[host.route]]\n  path = \"/public/**\"\n  auth = \"none\"\n\
                 \x20 [[host.route]]\n  path = \"/admin/*/users\"\n  methods = [\"POST\", \"DELETE\"]\n  auth = \"admin\"\n",
            );
        }
        toml.push('\n');
    }
    toml.push_str(
        "[[host]]\nmatch = [\"*.last.example.com\"]\nauth = \"token\"\n\
         \x20 [[host.route]]\n  path = \"/public/**\"\n  auth = \"none\"\n\
         \x20 [[host.route]]\n  path = \"/v1/*/items/**\"\n  methods = [\"GET\", \"PUT\"]\n  auth = \"admin\"\n",
    );
    toml
}

static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    let config = Config::parse(Path::new("bench.toml"), config_text(), &|_| None)
        .expect("the generated config is valid");
    let policy = Policy::from_config(&config).expect("the generated rules compile");
    assert_eq!(policy.table.rules().len(), RULES);
    policy
});

fn decide(dest: &Destination, method: &Method, path: &str) -> Option<usize> {
    POLICY
        .table
        .decide(dest, method, path)
        .expect("a plain path")
        .map(|d| d.rule.index)
}

/// The first rule matches.
#[divan::bench]
fn first_rule(b: divan::Bencher) {
    let dest = Destination::new(true, "api0.example.com", 8443).unwrap();
    assert_eq!(decide(&dest, &Method::GET, "/x"), Some(0));
    b.bench(|| decide(divan::black_box(&dest), &Method::GET, "/x"));
}

/// The last rule matches, through its route with a glob and a method list.
#[divan::bench]
fn last_rule_with_route(b: divan::Bencher) {
    let dest = Destination::new(true, "eu.last.example.com", 443).unwrap();
    assert_eq!(
        decide(&dest, &Method::PUT, "/v1/abc/items/1/2"),
        Some(RULES - 1)
    );
    b.bench(|| decide(divan::black_box(&dest), &Method::PUT, "/v1/abc/items/1/2"));
}

/// No rule matches: every pattern is tried (a tunnelled or untouched destination).
#[divan::bench]
fn no_rule(b: divan::Bencher) {
    let dest = Destination::new(true, "www.unrelated.test", 443).unwrap();
    assert_eq!(decide(&dest, &Method::GET, "/"), None);
    b.bench(|| decide(divan::black_box(&dest), &Method::GET, "/"));
}

/// Normalising the destination host as the proxy does per request, then matching the last rule.
#[divan::bench]
fn normalize_and_match(b: divan::Bencher) {
    b.bench(|| {
        let dest = Destination::new(true, divan::black_box("EU.Last.Example.COM."), 443).unwrap();
        decide(&dest, &Method::GET, "/v1/abc/items/1")
    });
}
