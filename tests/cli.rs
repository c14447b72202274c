//! The `signet` binary: config errors with exit codes, `explain`, and the CA commands
//! (`cli_sign.rs` has `sign` against the published vectors).

#[path = "support/cli.rs"]
mod cli;

use std::process::Command;

use cli::{SIGNET, header, signet, stderr, stdout};

#[test]
fn check_accepts_the_example_config() {
    let out = Command::new(SIGNET)
        .args([
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"),
            "check",
        ])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("host[1] (api.example.com)"),
        "{}",
        stdout(&out)
    );
    // The example is what people copy: it sends none of its secrets in clear text, and it says
    // that each placeholder credential is in use until its variable is set.
    let text = stdout(&out);
    let warned: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("warning: "))
        .map(|l| {
            assert!(l.contains("config.example.toml:"), "{l}");
            let rest = l.split_once(".toml:").unwrap().1;
            let (_line_col, rest) = rest.split_once(": ").unwrap();
            let (key, message) = rest.split_once(": ").unwrap();
            assert!(message.contains("is not set, so the default"), "{l}");
            key
        })
        .collect();
    assert_eq!(
        warned,
        [
            "auth.api-token.token",
            "auth.aws-prod.access_key",
            "auth.aws-prod.secret_key",
            "auth.partner.consumer_key",
            "auth.partner.consumer_secret",
            "host[1].route[1].auth.password",
            "host[3].auth.value",
        ],
        "{text}"
    );
}

#[test]
fn check_warns_where_a_reusable_secret_can_go_out_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[[host]]
match = ["api.test", "api.test:8443", "http://plain.test", "https://pinned.test:9443", "https://anyport.test:*"]
auth = { type = "bearer", token = "t" }

[[host]]
match = ["wild.test:*", "http://*.intra.test:8080"]
auth = { type = "apikey", key = "k", value = "v" }

[[host]]
match = ["localhost:3000", "127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:9000", "http://localhost"]
auth = { type = "basic", username = "u", password = "p" }

[[host]]
match = ["device.test:8080", "http://device.test"]
auth = { type = "digest", username = "u", password = "p" }

[[host]]
match = ["routes.test:8080"]
auth = "none"
  [[host.route]]
  path = "/admin/**"
  auth = { type = "basic", username = "u", password = "p" }
  [[host.route]]
  path = "/token/**"
  auth = { type = "oauth2", access_token = "t" }

[[host]]
match = ["http://open.test"]
"#;
    let out = signet(dir.path(), config, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let warnings: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .map(str::to_owned)
        .collect();
    let hint = "also admits plain http://, so its";
    assert_eq!(
        warnings,
        [
            format!(
                "warning: host[0] (api.test) match \"api.test:8443\" {hint} bearer credentials \
                 can go out in clear text; write \"https://api.test:8443\" to pin it to HTTPS"
            ),
            format!(
                "warning: host[0] (api.test) match \"http://plain.test\" {hint} bearer \
                 credentials can go out in clear text; write \"https://plain.test\" to pin it to \
                 HTTPS"
            ),
            format!(
                "warning: host[1] (wild.test:*) match \"wild.test:*\" {hint} apikey credentials \
                 can go out in clear text; write \"https://wild.test:*\" to pin it to HTTPS"
            ),
            format!(
                "warning: host[1] (wild.test:*) match \"http://*.intra.test:8080\" {hint} apikey \
                 credentials can go out in clear text; write \"https://*.intra.test:8080\" to pin \
                 it to HTTPS"
            ),
            format!(
                "warning: host[4] (routes.test:8080) match \"routes.test:8080\" {hint} basic, \
                 oauth2 credentials can go out in clear text; write \"https://routes.test:8080\" \
                 to pin it to HTTPS"
            ),
        ]
    );
}

#[test]
fn check_warns_where_a_jwt_can_go_out_over_plain_http() {
    // A JWT is good to anyone who reads it until it expires: a reusable secret.
    let dir = tempfile::tempdir().unwrap();
    let config = "[[host]]\nmatch = [\"https://api.test\", \"http://plain.test\"]\nauth = { type = \"jwt\", algorithm = \"HS256\", secret = \"s\", expires_in = 60 }\n";
    let out = signet(dir.path(), config, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(
        warnings,
        [
            "warning: host[0] (https://api.test) match \"http://plain.test\" also admits plain \
             http://, so its jwt credentials can go out in clear text; write \
             \"https://plain.test\" to pin it to HTTPS"
        ]
    );
}

#[test]
fn jwt_config_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let table = "[auth.j]\ntype = \"jwt\"\n";
    let cases: &[(String, &str, &str)] = &[
        (
            format!("{table}algorithm = \"HS257\"\n"),
            ":3:1: auth.j.algorithm",
            "unknown variant `HS257`",
        ),
        (
            format!("{table}algorithm = \"HS256\"\n"),
            ": auth.j.secret",
            "is required for HS256",
        ),
        (
            format!("{table}algorithm = \"RS256\"\n"),
            ": auth.j.private_key",
            "is required for RS256",
        ),
        (
            format!("{table}algorithm = \"RS256\"\nprivate_key = \"MIIEvQ\"\n"),
            ":4:1: auth.j.private_key",
            "is not a PEM private key",
        ),
        (
            format!("{table}algorithm = \"HS256\"\nsecret = \"s\"\npayload = \"{{sub: me}}\"\n"),
            ":5:1: auth.j.payload",
            "is not valid JSON",
        ),
        (
            format!("{table}algorithm = \"HS256\"\nsecret = \"s\"\nheader = 5\n"),
            ":5:1: auth.j.header",
            "a JSON string or an inline table",
        ),
    ];
    for (config, location, message) in cases {
        let out = signet(dir.path(), config, &["check"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{config:?}: {err}");
        assert!(
            err.contains("signet.toml") && err.contains(location) && err.contains(message),
            "{config:?}: expected {location:?} and {message:?} in {err}"
        );
    }
}

#[test]
fn check_does_not_warn_when_every_secret_stays_on_tls() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[[host]]\nmatch = [\"api.test\", \"https://api.test:8443\", \"*.api.test\"]\nauth = { type = \"bearer\", token = \"t\" }\n";
    let out = signet(dir.path(), config, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("warning"), "{}", stdout(&out));
}

#[test]
fn a_bare_host_rule_signs_https_only() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        "[[host]]\nmatch = [\"api.test\"]\nauth = { type = \"bearer\", token = \"tok\" }\n";
    let tls = signet(
        dir.path(),
        config,
        &["sign", "--show-secrets", "https://api.test/v1/me"],
    );
    assert!(tls.status.success(), "{}", stderr(&tls));
    assert_eq!(
        header(&stdout(&tls), "authorization").as_deref(),
        Some("Bearer tok")
    );
    // The same host over plain HTTP, on its default port or on 443: no rule, no token.
    for url in ["http://api.test/v1/me", "http://api.test:443/v1/me"] {
        let plain = signet(dir.path(), config, &["sign", "--show-secrets", url]);
        assert!(plain.status.success(), "{url}: {}", stderr(&plain));
        assert_eq!(header(&stdout(&plain), "authorization"), None, "{url}");
        let explained = signet(dir.path(), config, &["explain", url]);
        assert!(
            stdout(&explained).contains("rule none"),
            "{url}: {}",
            stdout(&explained)
        );
    }
}

#[test]
fn an_http_pattern_signs_plain_http_only() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        "[[host]]\nmatch = [\"http://127.0.0.1\"]\nauth = { type = \"bearer\", token = \"tok\" }\n";
    let plain = signet(
        dir.path(),
        config,
        &["sign", "--show-secrets", "http://127.0.0.1/x"],
    );
    assert_eq!(
        header(&stdout(&plain), "authorization").as_deref(),
        Some("Bearer tok"),
        "{}",
        stderr(&plain)
    );
    let tls = signet(
        dir.path(),
        config,
        &["sign", "--show-secrets", "https://127.0.0.1/x"],
    );
    assert_eq!(header(&stdout(&tls), "authorization"), None);
}

#[test]
fn check_refuses_bad_schemes_and_paths_in_patterns() {
    let dir = tempfile::tempdir().unwrap();
    for (pattern, reason) in [
        ("ftp://a.test", "scheme \"ftp\""),
        ("https://a.test/v1", "remove \"/v1\""),
    ] {
        let config = format!("[[host]]\nmatch = [\"a.test\", \"{pattern}\"]\n");
        let out = signet(dir.path(), &config, &["check"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{pattern}: {err}");
        assert!(
            err.contains(":2:") && err.contains("host[0].match[1]"),
            "{err}"
        );
        assert!(err.contains(pattern) && err.contains(reason), "{err}");
    }
    let out = signet(
        dir.path(),
        "[proxy]\nallow = [\"https://a.test\"]\n",
        &["check"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("write \"a.test\" without \"https://\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_errors_name_file_line_column_and_key_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "[proxy]\nlisten = \"127.0.0.1:1\"\n\n[auth.a]\ntype = \"bearer\"\ntokn = \"x\"\n",
            ":6:1: auth.a.tokn",
            "unknown field",
        ),
        (
            "[auth.a]\ntype = \"bearer\"\ntoken = \"${SIGNET_TEST_UNSET_VAR}\"\n",
            ":3:1: auth.a.token",
            "SIGNET_TEST_UNSET_VAR",
        ),
        (
            "[auth.a]\ntype = \"kerberos\"\n",
            ":2:1: auth.a.type",
            "unknown auth type",
        ),
        (
            "[[host]]\nmatch = [\"a.test\"]\nauth = \"nope\"\n",
            ":3:1: host[0].auth",
            "no [auth.nope] profile",
        ),
        (
            "[[host]]\nmatch = [\"a.test\", \"*\"]\n",
            ":2:",
            "invalid host pattern",
        ),
        (
            "[proxy]\nlisen = \"127.0.0.1:1\"\n",
            ":2:1: proxy.lisen",
            "unknown field",
        ),
        (
            "[[host]]\nmatch = [\"a.test\"]\nauth = { type = \"basic\", username = \"u\" }\n",
            ":3:",
            "missing field `password`",
        ),
        ("[proxy\n", ":1:", ""),
        (
            "[proxy]\nupstream_proxy = \"ftp://x\"\n",
            ":2:1: proxy.upstream_proxy",
            "only http:// parent proxies",
        ),
        (
            "[proxy]\nupstream_proxy = \"not a url\"\n",
            ":2:1: proxy.upstream_proxy",
            "not a URL",
        ),
    ];
    for (config, location, message) in cases {
        let out = signet(dir.path(), config, &["check"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{config:?}: {err}");
        assert!(
            err.contains("signet.toml") && err.contains(location),
            "{config:?}: expected {location:?} in {err}"
        );
        assert!(
            err.contains(message),
            "{config:?}: expected {message:?} in {err}"
        );
    }
}

#[test]
fn secrets_never_appear_in_check_output() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[auth.a]\ntype = \"basic\"\nusername = \"u\"\npassword = \"hunter2-secret\"\n\n[[host]]\nmatch = [\"a.test\"]\nauth = { type = \"bearer\", token = \"tok-secret\" }\n";
    let out = signet(dir.path(), config, &["check"]);
    assert!(out.status.success());
    let all = stdout(&out) + &stderr(&out);
    assert!(
        !all.contains("hunter2-secret") && !all.contains("tok-secret"),
        "{all}"
    );
}

#[test]
fn explain_names_rule_route_auth_and_interception() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[[host]]\nmatch = [\"api.test\"]\nauth = { type = \"bearer\", token = \"t\" }\n[[host.route]]\npath = \"/public/**\"\nauth = \"none\"\n";
    let out = signet(
        dir.path(),
        config,
        &["explain", "https://api.test/public/x"],
    );
    let text = stdout(&out);
    assert!(text.contains("rule host[0] (api.test)"), "{text}");
    assert!(text.contains("route host[0].route[0]"), "{text}");
    assert!(text.contains("auth none"), "{text}");
    assert!(text.contains("intercept yes"), "{text}");
    let out = signet(dir.path(), config, &["explain", "https://evilapi.test/"]);
    assert!(stdout(&out).contains("rule none"), "{}", stdout(&out));
    assert!(stdout(&out).contains("intercept no"), "{}", stdout(&out));
}

#[test]
fn ca_init_show_and_export() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let out = signet(dir.path(), "", &["ca", "init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = dir.path().join("certs/ca.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let pem = std::fs::read_to_string(dir.path().join("certs/ca.crt")).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    let expected: Vec<String> = Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let show = signet(dir.path(), "", &["ca", "show"]);
    assert!(
        stdout(&show).contains(&expected.join(":")),
        "{}",
        stdout(&show)
    );

    let exported = dir.path().join("exported.pem");
    let out = signet(
        dir.path(),
        "",
        &["ca", "export", "--out", exported.to_str().unwrap()],
    );
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(exported).unwrap(), pem);
    // A second init keeps the CA.
    signet(dir.path(), "", &["ca", "init"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("certs/ca.crt")).unwrap(),
        pem
    );
}

#[test]
fn ca_show_without_a_ca_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = signet(dir.path(), "", &["ca", "show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("signet ca init"), "{}", stderr(&out));
}

#[test]
fn check_warns_where_asap_verifiers_will_refuse_the_tokens() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let der = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let config = format!(
        r#"
[[host]]
match = ["https://api.test"]
auth = {{ type = "asap", alg = "ES256", iss = "svc", aud = "api", kid = "other/key-1", exp = 7200, private_key = "data:application/pkcs8;kid=other%2Fkey-1;base64,{der}" }}
"#
    );
    let out = signet(dir.path(), &config, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{text}");
    assert!(warnings[0].contains("kid \"other/key-1\"") && warnings[0].contains("\"svc/\""));
    assert!(warnings[1].contains("exp = 7200"));
}
