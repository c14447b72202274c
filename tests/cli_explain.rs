//! `signet explain`: every rule tried and why, near-miss hints, where secrets came from, and one
//! verdict on egress.

#[path = "support/cli.rs"]
mod cli;

use std::process::{Command, Output};

use cli::{SIGNET, stderr, stdout};

const RULES: &str = r#"
[auth.api]
type = "bearer"
token = "${EXPLAIN_API_TOKEN}"

[[host]]
match = ["api.example.com", "*.example.org"]
auth = "api"
[[host.route]]
path = "/public/**"
auth = "none"
[[host.route]]
path = "/v1/**"
methods = ["POST"]
auth = { type = "basic", username = "u", password = "${file:pw.txt}" }

[[host]]
match = ["other.test:8443"]
auth = { type = "apikey", key = "X-Key", value = "${EXPLAIN_UNSET_KEY:-dflt-key-value}" }

[[host]]
match = ["written.test"]
auth = { type = "bearer", token = "written-token-value" }
"#;

fn explain(dir: &std::path::Path, config: &str, args: &[&str]) -> String {
    std::fs::write(dir.join("signet.toml"), config).unwrap();
    std::fs::write(dir.join("pw.txt"), "file-password-value\n").unwrap();
    let out: Output = Command::new(SIGNET)
        .arg("--config")
        .arg(dir.join("signet.toml"))
        .arg("explain")
        .args(args)
        .env("EXPLAIN_API_TOKEN", "env-token-value")
        .env_remove("EXPLAIN_UNSET_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for secret in [
        "env-token-value",
        "file-password-value",
        "dflt-key-value",
        "written-token-value",
    ] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    text
}

#[test]
fn a_port_near_miss_names_the_port_and_the_pattern_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let text = explain(dir.path(), RULES, &["https://api.example.com:8443/v1/a"]);
    assert!(
        text.contains("tried host[0] (api.example.com): no match\n  \"api.example.com\": near miss: admits port 443 only, this request is to port 8443; add \"api.example.com:8443\" to cover it\n  \"*.example.org\": another host\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "tried host[1] (other.test:8443): no match\n  \"other.test:8443\": another host\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("rule none: the request is tunnelled untouched"),
        "{text}"
    );
    let text = explain(dir.path(), RULES, &["https://other.test/"]);
    assert!(
        text.contains("\"other.test:8443\": near miss: admits port 8443 only, this request is to port 443; add \"other.test\" to cover it"),
        "{text}"
    );
}

#[test]
fn a_wildcard_apex_and_a_scheme_are_near_misses() {
    let dir = tempfile::tempdir().unwrap();
    let text = explain(dir.path(), RULES, &["https://example.org/"]);
    assert!(
        text.contains("\"*.example.org\": near miss: a wildcard covers the names below example.org, not example.org itself; add \"example.org\" to match = [...] to cover it"),
        "{text}"
    );
    let text = explain(dir.path(), RULES, &["http://api.example.com/"]);
    assert!(
        text.contains("\"api.example.com\": near miss: admits https only, this request is http; request https://api.example.com instead, or add \"http://api.example.com\""),
        "{text}"
    );
    assert!(
        text.contains("rule none: the request is forwarded untouched"),
        "{text}"
    );
}

#[test]
fn a_later_rule_naming_the_host_is_shown_as_shadowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{RULES}\n[[host]]\nmatch = [\"api.example.com\"]\n");
    let text = explain(dir.path(), &config, &["https://api.example.com/x"]);
    assert!(
        text.contains("tried host[0] (api.example.com): matches, applies\n"),
        "{text}"
    );
    assert!(
        text.contains("tried host[3] (api.example.com): matches too, but host[0] comes first\n"),
        "{text}"
    );
}

#[test]
fn routes_say_whether_the_method_or_the_path_kept_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let text = explain(
        dir.path(),
        RULES,
        &["-X", "GET", "https://api.example.com/v1/x/../items"],
    );
    assert!(
        text.contains(
            "routes of host[0] for GET /v1/items:\n  route[0] path /public/** methods any: no match: the path is not under its glob\n  route[1] path /v1/** methods POST: no match: the method is not one of its methods\n  no route matches: the host's own auth applies\n"
        ),
        "{text}"
    );
    assert!(text.contains("auth bearer"), "{text}");
    let text = explain(
        dir.path(),
        RULES,
        &["-X", "POST", "https://api.example.com/v1/x"],
    );
    assert!(
        text.contains("  route[1] path /v1/** methods POST: matches: applies\n"),
        "{text}"
    );
    assert!(text.contains("route host[0].route[1]\n"), "{text}");
}

#[test]
fn each_secret_says_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let text = explain(dir.path(), RULES, &["https://api.example.com/x"]);
    assert!(
        text.contains("secret auth.api.token: env EXPLAIN_API_TOKEN\n"),
        "{text}"
    );
    let text = explain(
        dir.path(),
        RULES,
        &["-X", "POST", "https://api.example.com/v1/x"],
    );
    let pw = dir.path().join("pw.txt");
    assert!(
        text.contains(&format!(
            "secret host[0].route[1].auth.password: file {}\n",
            pw.display()
        )),
        "{text}"
    );
    let text = explain(dir.path(), RULES, &["https://other.test:8443/"]);
    assert!(
        text.contains(
            "secret host[1].auth.value: default used (env EXPLAIN_UNSET_KEY is not set)\n"
        ),
        "{text}"
    );
    let text = explain(dir.path(), RULES, &["https://written.test/"]);
    assert!(
        text.contains("secret host[2].auth.token: written in the config\n"),
        "{text}"
    );
}

#[test]
fn denied_egress_is_the_only_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[proxy]\ndeny = [\"api.example.com\"]\n{RULES}");
    let text = explain(dir.path(), &config, &["https://api.example.com/x"]);
    assert_eq!(
        text,
        "destination https://api.example.com\negress denied: signet answers 403 and sends nothing to https://api.example.com ([proxy] allow/deny)\n"
    );
}
