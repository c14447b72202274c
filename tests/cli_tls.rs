//! `signet check` refuses what `run` would about `[host.tls]` files, naming file:line:key: files
//! missing or unparsable, a wrong or missing passphrase, a key of another certificate. The
//! files are openssl's (tests/vectors/client-certs).

#[path = "support/cli.rs"]
mod cli;

use cli::{signet, stderr, stdout, vectors};

const PASSPHRASE: &str = "signet test passphrase";

/// A temp dir with the openssl-made files under `certs/`, as a config beside them names them.
fn dir_with_certs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    for entry in std::fs::read_dir(vectors().join("client-certs")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), certs.join(entry.file_name())).unwrap();
    }
    dir
}

/// A config whose one rule has `tls` as its `[host.tls]` table, which starts on line 4.
fn config(tls: &str) -> String {
    format!("[[host]]\nmatch = [\"mtls.test\"]\n\n[host.tls]\n{tls}\n")
}

#[test]
fn check_accepts_every_client_certificate_form() {
    let dir = dir_with_certs();
    let forms = [
        "client_cert = \"certs/client.pem\"\nclient_key = \"certs/client.key\"".to_string(),
        format!(
            "client_cert = \"certs/client.pem\"\nclient_key = \"certs/client-aes256.p8\"\n\
             passphrase = \"{PASSPHRASE}\""
        ),
        format!("pfx = \"certs/client.p12\"\npassphrase = \"{PASSPHRASE}\"\nca = \"certs/ca.pem\""),
        format!("pfx = \"certs/client-legacy.p12\"\npassphrase = \"{PASSPHRASE}\""),
        "pfx = \"certs/client-nopass.p12\"".to_string(),
    ];
    for tls in forms {
        let out = signet(dir.path(), &config(&tls), &["check"]);
        assert!(out.status.success(), "{tls}: {}", stderr(&out));
        assert!(stdout(&out).contains("is valid"), "{tls}: {}", stdout(&out));
    }
}

#[test]
fn check_names_the_tls_key_at_fault_and_exits_1() {
    let dir = dir_with_certs();
    let pem_pair = "client_cert = \"certs/client.pem\"\nclient_key = \"certs/client.key\"";
    let cases: &[(String, &str, &str)] = &[
        (
            "client_cert = \"certs/missing.pem\"\nclient_key = \"certs/client.key\"".into(),
            ":5:1: host[0].tls.client_cert",
            "cannot read",
        ),
        (
            "client_cert = \"certs/client.key\"\nclient_key = \"certs/client.key\"".into(),
            ":5:1: host[0].tls.client_cert",
            "no PEM CERTIFICATE block",
        ),
        (
            "client_cert = \"certs/client.pem\"\nclient_key = \"certs/missing.key\"".into(),
            ":6:1: host[0].tls.client_key",
            "cannot read",
        ),
        (
            "client_cert = \"certs/client.pem\"\nclient_key = \"certs/client.pem\"".into(),
            ":6:1: host[0].tls.client_key",
            "no PEM private key",
        ),
        (
            "client_cert = \"certs/client.pem\"\nclient_key = \"certs/other.key\"".into(),
            ":6:1: host[0].tls.client_key",
            "does not belong to the certificate",
        ),
        (
            format!("{pem_pair}\nca = \"certs/missing-ca.pem\""),
            ":7:1: host[0].tls.ca",
            "cannot read",
        ),
        (
            format!("{pem_pair}\nca = \"certs/client.key\""),
            ":7:1: host[0].tls.ca",
            "no PEM CERTIFICATE block",
        ),
        (
            "client_cert = \"certs/client.pem\"\nclient_key = \"certs/client-aes256.p8\"\n\
             passphrase = \"wrong\""
                .into(),
            ":7:1: host[0].tls.passphrase",
            "the passphrase does not open",
        ),
        (
            "client_cert = \"certs/client.pem\"\nclient_key = \"certs/client-aes256.p8\"".into(),
            ":6:1: host[0].tls.client_key",
            "encrypted; set passphrase",
        ),
        (
            "pfx = \"certs/client.p12\"\npassphrase = \"wrong\"".into(),
            ":6:1: host[0].tls.passphrase",
            "the passphrase does not open",
        ),
        (
            "pfx = \"certs/client-legacy.p12\"\npassphrase = \"wrong\"".into(),
            ":6:1: host[0].tls.passphrase",
            "the passphrase does not open",
        ),
        (
            "pfx = \"certs/client.p12\"".into(),
            ":5:1: host[0].tls.pfx",
            "set passphrase",
        ),
        (
            "pfx = \"certs/missing.p12\"".into(),
            ":5:1: host[0].tls.pfx",
            "cannot read",
        ),
        (
            "pfx = \"certs/client.pem\"".into(),
            ":5:1: host[0].tls.pfx",
            "not a PKCS#12",
        ),
        (
            format!("pfx = \"certs/client.p12\"\n{pem_pair}"),
            ":5:1: host[0].tls.pfx",
            "either pfx or client_cert",
        ),
        (
            "client_cert = \"certs/client.pem\"".into(),
            ":5:1: host[0].tls.client_cert",
            "needs client_key",
        ),
        (
            "passphrase = \"x\"\nca = \"certs/ca.pem\"".into(),
            ":5:1: host[0].tls.passphrase",
            "neither is set",
        ),
        (
            "pfx = \"certs/client.p12\"\npassphrase = \"${SIGNET_TEST_UNSET_PASSPHRASE}\"".into(),
            ":6:1: host[0].tls.passphrase",
            "SIGNET_TEST_UNSET_PASSPHRASE",
        ),
    ];
    for (tls, location, message) in cases {
        let out = signet(dir.path(), &config(tls), &["check"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{tls:?}: {err}");
        assert!(
            err.contains("signet.toml") && err.contains(location),
            "{tls:?}: expected {location:?} in {err}"
        );
        assert!(
            err.contains(message),
            "{tls:?}: expected {message:?} in {err}"
        );
    }
}

#[test]
fn a_passphrase_never_appears_in_errors() {
    let dir = dir_with_certs();
    let tls = "pfx = \"certs/client.p12\"\npassphrase = \"wrong-but-secret\"";
    let out = signet(dir.path(), &config(tls), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("passphrase"), "{all}");
    assert!(!all.contains("wrong-but-secret"), "{all}");
}
