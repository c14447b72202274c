//! `[[host]] name`: its default, its checks, and where it shows (explain, check, errors).

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

use cli::{signet, stderr, stdout};
use signet::config::Config;

fn parse(toml: &str) -> Result<Config, String> {
    Config::parse(
        Path::new("/etc/signet/signet.toml"),
        toml.to_owned(),
        &|_| None,
    )
    .map_err(|e| e.to_string())
}

#[test]
fn a_rule_is_named_by_its_name_or_else_its_first_pattern() {
    let config = parse(
        "[[host]]\nname = \"billing-api\"\nmatch = [\"billing.test\"]\n\n\
         [[host]]\nmatch = [\"https://api.test:8443\", \"api2.test\"]\n",
    )
    .unwrap();
    assert_eq!(config.hosts[0].name, "billing-api");
    assert_eq!(config.hosts[1].name, "https://api.test:8443");
}

#[test]
fn a_name_given_twice_is_an_error_at_the_second() {
    let err = parse(
        "[[host]]\nname = \"api\"\nmatch = [\"a.test\"]\n\n\
         [[host]]\nname = \"api\"\nmatch = [\"b.test\"]\n",
    )
    .unwrap_err();
    assert!(err.contains("/etc/signet/signet.toml:6"), "{err}");
    assert!(err.contains("host[1].name"), "{err}");
    assert!(err.contains("\"api\" is also host[0]'s"), "{err}");
    // A name that is another rule's default name (its first pattern) is refused too.
    let err = parse(
        "[[host]]\nmatch = [\"a.test\"]\n\n[[host]]\nname = \"a.test\"\nmatch = [\"b.test\"]\n",
    )
    .unwrap_err();
    assert!(err.contains("host[1].name"), "{err}");
    // Two rules that share a first pattern (and no name) stay allowed, as before names.
    assert!(parse("[[host]]\nmatch = [\"a.test\"]\n\n[[host]]\nmatch = [\"a.test\"]\n").is_ok());
}

#[test]
fn a_name_must_be_short_and_printable() {
    for (name, why) in [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("tab\\there", "control characters"),
        ("quote\\\"d", "quotes"),
    ] {
        let err = parse(&format!(
            "[[host]]\nname = \"{name}\"\nmatch = [\"a.test\"]\n"
        ))
        .unwrap_err();
        assert!(err.contains(":2"), "{name}: {err}");
        assert!(err.contains("host[0].name"), "{name}: {err}");
        assert!(err.contains(why), "{name}: {err}");
    }
    let long = "n".repeat(65);
    let err = parse(&format!(
        "[[host]]\nname = \"{long}\"\nmatch = [\"a.test\"]\n"
    ))
    .unwrap_err();
    assert!(err.contains("longer than 64"), "{err}");
}

#[test]
fn explain_and_check_print_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[[host]]\nname = \"billing-api\"\nmatch = [\"billing.test\"]\nauth = { type = \"bearer\", token = \"t\" }\n";
    let out = signet(dir.path(), config, &["explain", "https://billing.test/v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("rule host[0] (billing-api)"),
        "{}",
        stdout(&out)
    );
    let out = signet(dir.path(), config, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("billing-api"), "{}", stdout(&out));
}
