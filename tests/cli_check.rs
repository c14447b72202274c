//! `signet check` reports what `run` would refuse, with file:line:key, and warns where a
//! placeholder's default is sent as a credential; bad arguments exit 1; the CA commands need
//! only `[ca]`.

#[path = "support/cli.rs"]
mod cli;

use std::process::Command;

use cli::{SIGNET, signet, stderr, stdout};

/// Exit code 1 and an error on stderr naming `location` (a `:line:col: key` part) and `message`.
fn assert_user_error(out: &std::process::Output, location: &str, message: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("signet.toml") && err.contains(location) && err.contains(message),
        "expected {location:?} and {message:?} in {err}"
    );
}

#[test]
fn bad_arguments_exit_1_and_help_and_version_exit_0() {
    for args in [
        &["--no-such-flag"][..],
        &["check", "--bogus"],
        &["frobnicate"],
        &["explain"],
        &["run", "--listen", "not-an-address"],
        &[],
    ] {
        let out = Command::new(SIGNET).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
    for args in [
        &["--help"][..],
        &["--version"],
        &["ca", "--help"],
        &["help"],
    ] {
        let out = Command::new(SIGNET).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!stdout(&out).is_empty(), "{args:?}");
    }
}

#[test]
fn check_refuses_a_non_loopback_listen_without_client_auth() {
    let dir = tempfile::tempdir().unwrap();
    let out = signet(
        dir.path(),
        "[proxy]\nlisten = \"0.0.0.0:8080\"\n",
        &["check"],
    );
    assert_user_error(&out, ":2:1: proxy.listen", "client_auth");
    let out = signet(
        dir.path(),
        "[admin]\nlisten = \"192.0.2.1:9090\"\n",
        &["check"],
    );
    assert_user_error(&out, ":2:1: admin.listen", "client_auth");
    // With client_auth both are fine, as they are on loopback without it.
    let with_auth = "[proxy]\nlisten = \"0.0.0.0:8080\"\nclient_auth = { username = \"u\", password = \"p\" }\n\n[admin]\nlisten = \"[::]:9090\"\n";
    let out = signet(dir.path(), with_auth, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let loopback = "[proxy]\nlisten = \"[::1]:8080\"\n\n[admin]\nlisten = \"127.0.0.2:9090\"\n";
    let out = signet(dir.path(), loopback, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn run_refuses_a_non_loopback_listen_flag_without_client_auth_as_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = signet(dir.path(), "", &["run", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("client_auth"), "{}", stderr(&out));
}

#[test]
fn check_refuses_an_unknown_method_naming_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[[host]]\nmatch = [\"api.test\"]\n\n  [[host.route]]\n  methods = [\"get\", \"GETT\"]\n  auth = \"none\"\n";
    let out = signet(dir.path(), config, &["check"]);
    assert_user_error(
        &out,
        ":5:21: host[0].route[0].methods[1]",
        "\"GETT\" is not an HTTP method",
    );
    let fine = config.replace("GETT", "propfind");
    let out = signet(dir.path(), &fine, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("methods GET,PROPFIND"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_reports_a_bad_deny_entry_under_deny() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[proxy]\nallow = [\"127.0.0.1\"]\ndeny = [\"10.0.0.0/8\", \"10.1.2.3/40\"]\n";
    let out = signet(dir.path(), config, &["check"]);
    assert_user_error(&out, ":3:23: proxy.deny[1]", "prefix length");
    let out = signet(
        dir.path(),
        "[proxy]\nallow = [\"a.test\", \"*\"]\n",
        &["check"],
    );
    assert_user_error(&out, ":2:20: proxy.allow[1]", "\"*\"");
}

#[test]
fn check_warns_where_a_default_is_sent_as_a_credential() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[auth.api]
type = "bearer"
token = "${SIGNET_TEST_UNSET_TOKEN:-replace-me}"

[auth.user]
type = "basic"
username = "${SIGNET_TEST_UNSET_USER:-admin}"
password = "${SIGNET_TEST_SET_PASSWORD:-fallback-pw}"

[[host]]
match = ["https://api.test"]
auth = "api"

  [[host.route]]
  path = "/x/**"
  auth = { type = "apikey", key = "k", value = "pre-${SIGNET_TEST_UNSET_KEY:-demo-key}" }
"#;
    let path = dir.path().join("signet.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(SIGNET)
        .arg("--config")
        .arg(&path)
        .arg("check")
        .env("SIGNET_TEST_SET_PASSWORD", "real-pw")
        .env_remove("SIGNET_TEST_UNSET_TOKEN")
        .env_remove("SIGNET_TEST_UNSET_USER")
        .env_remove("SIGNET_TEST_UNSET_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{text}");
    let file = path.display().to_string();
    assert!(
        warnings[0].starts_with(&format!("warning: {file}:4:1: auth.api.token: "))
            && warnings[0].contains("SIGNET_TEST_UNSET_TOKEN is not set"),
        "{text}"
    );
    assert!(
        warnings[1].starts_with(&format!("warning: {file}:17:"))
            && warnings[1].contains("host[0].route[0].auth.value")
            && warnings[1].contains("SIGNET_TEST_UNSET_KEY"),
        "{text}"
    );
    // The defaults are credentials too: they are named by variable, never shown.
    for value in ["replace-me", "demo-key", "real-pw", "fallback-pw"] {
        assert!(
            !text.contains(value) && !stderr(&out).contains(value),
            "{text}"
        );
    }
}

#[test]
fn check_refuses_half_a_ca_as_run_does() {
    let dir = tempfile::tempdir().unwrap();
    assert!(signet(dir.path(), "", &["ca", "init"]).status.success());
    std::fs::remove_file(dir.path().join("certs/ca.key")).unwrap();
    let out = signet(dir.path(), "", &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("ca.key is missing but"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ca_commands_need_no_credentials_of_the_auth_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[ca]\ncert = \"pki/ca.crt\"\nkey = \"pki/ca.key\"\n\n[auth.a]\ntype = \"bearer\"\ntoken = \"${SIGNET_TEST_UNSET_VAR}\"\n";
    let init = signet(dir.path(), config, &["ca", "init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    assert!(dir.path().join("pki/ca.key").exists());
    let show = signet(dir.path(), config, &["ca", "show"]);
    assert!(show.status.success(), "{}", stderr(&show));
    assert!(stdout(&show).contains("sha256"), "{}", stdout(&show));
    let export = signet(dir.path(), config, &["ca", "export"]);
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(stdout(&export).starts_with("-----BEGIN CERTIFICATE-----"));
    // The commands that need the profiles still say what is missing.
    let check = signet(dir.path(), config, &["check"]);
    assert_user_error(&check, ":7:1: auth.a.token", "SIGNET_TEST_UNSET_VAR");
}

#[test]
fn a_missing_ca_key_gets_advice_that_works() {
    let dir = tempfile::tempdir().unwrap();
    assert!(signet(dir.path(), "", &["ca", "init"]).status.success());
    std::fs::remove_file(dir.path().join("certs/ca.key")).unwrap();
    for command in [&["ca", "show"][..], &["ca", "export"]] {
        let out = signet(dir.path(), "", command);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {err}");
        // `ca init` would refuse here (the certificate exists), so it is not what is advised.
        assert!(!err.contains("ca init"), "{command:?}: {err}");
        assert!(
            err.contains("ca.key is missing") && err.contains("remove"),
            "{command:?}: {err}"
        );
    }
    // Following the advice works: without the certificate, `ca init` makes a new CA.
    std::fs::remove_file(dir.path().join("certs/ca.crt")).unwrap();
    let init = signet(dir.path(), "", &["ca", "init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    assert!(stdout(&init).contains("created a new CA"));
    // With neither file, show says how to create one.
    let dir = tempfile::tempdir().unwrap();
    let out = signet(dir.path(), "", &["ca", "show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("signet ca init"), "{}", stderr(&out));
}

#[test]
fn authorization_request_parameters_that_a_browser_url_cannot_carry_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for place in ["header", "body"] {
        let config = format!(
            r#"[auth.web]
type = "oauth2"
grant_type = "authorization_code"
auth_url = "https://as.test/authorize"
access_token_url = "https://as.test/token"
client_id = "c"
auth_request = [{{ key = "prompt", value = "consent", send_in = "{place}" }}]
"#
        );
        let out = signet(dir.path(), &config, &["check"]);
        assert_user_error(
            &out,
            ":7:1: auth.web.auth_request",
            &format!("entry 0: send_in = \"{place}\" cannot be honoured"),
        );
        let url = config.replace(&format!("send_in = \"{place}\""), "send_in = \"url\"");
        let out = signet(dir.path(), &url, &["check"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

#[test]
fn check_names_the_kerberos_library_a_negotiate_profile_needs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.toml");
    std::fs::write(
        &path,
        "[auth.k]\ntype = \"negotiate\"\n\n[[host]]\nmatch = [\"intranet.test\"]\nauth = \"k\"\n",
    )
    .unwrap();
    let out = Command::new(SIGNET)
        .args(["--config"])
        .arg(&path)
        .arg("check")
        .env(
            "SIGNET_GSSAPI_LIBRARY",
            dir.path().join("libgssapi_krb5.so.2"),
        )
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("auth.k")
            && err.contains("libgssapi_krb5.so.2")
            && err.contains("libgssapi-krb5-2"),
        "{err}"
    );
}

#[test]
fn check_refuses_a_negotiate_password_without_its_principal() {
    let dir = tempfile::tempdir().unwrap();
    let out = signet(
        dir.path(),
        "[auth.k]\ntype = \"negotiate\"\npassword = \"pw\"\n",
        &["check"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auth.k") && err.contains("principal"), "{err}");
    assert!(!err.contains("\"pw\""), "{err}");
}
