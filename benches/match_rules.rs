//! Cost of finding the rule, route and auth for one request among 10 to 10,000 host rules.
//!
//! Each table is built from a generated config the way `signet run` builds it: exact hosts,
//! wildcards, explicit ports and a few routes, with the interesting hosts placed last so that
//! a scan would walk the whole list. The same case at every size shows whether the cost grows
//! with the number of rules.

use std::path::Path;
use std::sync::OnceLock;

use http::Method;
use signet::config::Config;
use signet::policy::Policy;
use signet::rules::Destination;

fn main() {
    divan::main();
}

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// `rules` rules: mostly exact hosts and wildcards, every tenth with an explicit port, every
/// fiftieth with routes; the last one is a wildcard with routes.
fn config_text(rules: usize) -> String {
    let mut toml = String::from(
        "[auth.token]\ntype = \"bearer\"\ntoken = \"t0ken\"\n\n\
         [auth.admin]\ntype = \"basic\"\nusername = \"admin\"\npassword = \"pw\"\n\n",
    );
    for i in 0..rules - 1 {
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

/// The policy of `rules` rules, built once per size.
fn policy(rules: usize) -> &'static Policy {
    static POLICIES: [OnceLock<Policy>; SIZES.len()] = [const { OnceLock::new() }; SIZES.len()];
    let slot = SIZES
        .iter()
        .position(|&n| n == rules)
        .expect("a size from SIZES");
    POLICIES[slot].get_or_init(|| {
        let config = Config::parse(Path::new("bench.toml"), config_text(rules), &|_| None)
            .expect("the generated config is valid");
        let policy = Policy::from_config(&config).expect("the generated rules compile");
        assert_eq!(policy.table.rules().len(), rules);
        policy
    })
}

fn decide(policy: &Policy, dest: &Destination, method: &Method, path: &str) -> Option<usize> {
    policy
        .table
        .decide(dest, method, path)
        .expect("a plain path")
        .map(|d| d.rule.index)
}

/// The first rule matches (an exact host with an explicit port).
#[divan::bench(args = SIZES)]
fn first_rule(b: divan::Bencher, rules: usize) {
    let policy = policy(rules);
    let dest = Destination::new(true, "api0.example.com", 8443).unwrap();
    assert_eq!(decide(policy, &dest, &Method::GET, "/x"), Some(0));
    b.bench(|| decide(policy, divan::black_box(&dest), &Method::GET, "/x"));
}

/// The next-to-last rule matches, by an exact host (its second pattern).
#[divan::bench(args = SIZES)]
fn last_exact_host(b: divan::Bencher, rules: usize) {
    let policy = policy(rules);
    let host = format!("alt{}.example.org", rules - 2);
    let dest = Destination::new(true, &host, 443).unwrap();
    assert_eq!(decide(policy, &dest, &Method::GET, "/x"), Some(rules - 2));
    b.bench(|| decide(policy, divan::black_box(&dest), &Method::GET, "/x"));
}

/// The last rule matches, a wildcard, through its route with a glob and a method list.
#[divan::bench(args = SIZES)]
fn last_wildcard_with_route(b: divan::Bencher, rules: usize) {
    let policy = policy(rules);
    let dest = Destination::new(true, "eu.last.example.com", 443).unwrap();
    assert_eq!(
        decide(policy, &dest, &Method::PUT, "/v1/abc/items/1/2"),
        Some(rules - 1)
    );
    b.bench(|| {
        decide(
            policy,
            divan::black_box(&dest),
            &Method::PUT,
            "/v1/abc/items/1/2",
        )
    });
}

/// The last rule's wildcard matches a host six labels deeper than its suffix.
#[divan::bench(args = SIZES)]
fn deep_wildcard(b: divan::Bencher, rules: usize) {
    let policy = policy(rules);
    let dest = Destination::new(true, "a.b.c.d.e.eu.last.example.com", 443).unwrap();
    assert_eq!(decide(policy, &dest, &Method::GET, "/"), Some(rules - 1));
    b.bench(|| decide(policy, divan::black_box(&dest), &Method::GET, "/"));
}

/// No rule matches (a tunnelled or untouched destination).
#[divan::bench(args = SIZES)]
fn no_rule(b: divan::Bencher, rules: usize) {
    let policy = policy(rules);
    let dest = Destination::new(true, "www.unrelated.test", 443).unwrap();
    assert_eq!(decide(policy, &dest, &Method::GET, "/"), None);
    b.bench(|| decide(policy, divan::black_box(&dest), &Method::GET, "/"));
}

/// Normalising the destination host as the proxy does per request, then matching the last rule.
#[divan::bench(args = SIZES)]
fn normalize_and_match(b: divan::Bencher, rules: usize) {
    let policy = policy(rules);
    b.bench(|| {
        let dest = Destination::new(true, divan::black_box("EU.Last.Example.COM."), 443).unwrap();
        decide(policy, &dest, &Method::GET, "/v1/abc/items/1")
    });
}
