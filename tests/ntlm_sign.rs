//! `signet sign --challenge` for an ntlm rule: the AUTHENTICATE message of [MS-NLMP] section
//! 4.2.4 (tests/vectors/ntlm), reproduced from the command line.

use base64::Engine;
use std::process::Output;

fn vectors() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/ntlm/ms-nlmp-4.2.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs `signet sign` for the vector's user against `challenge`, with `nonce` and the
/// vector's time (FILETIME 0 = 1601-01-01).
fn sign(dir: &tempfile::TempDir, challenge: &str, nonce: &str) -> Output {
    let v = vectors();
    let c = &v["common"];
    let config = dir.path().join("signet.toml");
    std::fs::write(
        &config,
        format!(
            "[[host]]\nmatch = [\"http://server.test\"]\nauth = {{ type = \"ntlm\", username = {}, password = {}, domain = {}, workstation = {} }}\n",
            c["user"], c["password"], c["user_dom"], c["workstation_name"]
        ),
    )
    .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["sign", "--show-secrets", "--config"])
        .arg(&config)
        .args(["http://server.test/", "--at", "1601-01-01T00:00:00Z"])
        .args(["--nonce", nonce, "--challenge", challenge])
        .output()
        .unwrap()
}

/// The `authorization` line's word and decoded token.
fn authorization(out: &Output) -> (String, Vec<u8>) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("authorization: "))
        .unwrap_or_else(|| panic!("no authorization in {stdout}"));
    let (word, token) = line.split_once(' ').unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    (word.to_owned(), bytes)
}

#[test]
fn ntlm_challenge_gives_the_ms_nlmp_authenticate_message() {
    let v = vectors();
    let (c, v2) = (&v["common"], &v["ntlmv2"]);
    let challenge = hex(v2["challenge_message"].as_str().unwrap());
    let expected = hex(v2["authenticate_message"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    // Client challenge and RandomSessionKey fixed: every byte is the vector's.
    let nonce = format!(
        "{}{}",
        c["client_challenge"].as_str().unwrap(),
        c["random_session_key"].as_str().unwrap()
    );
    let out = sign(&dir, &format!("NTLM {}", b64(&challenge)), &nonce);
    let (word, message) = authorization(&out);
    assert_eq!(word, "NTLM");
    assert_eq!(message, expected);

    // Under `Negotiate` the same token, under the same word.
    let out = sign(&dir, &format!("Negotiate {}", b64(&challenge)), &nonce);
    assert_eq!(
        authorization(&out),
        ("Negotiate".to_owned(), expected.clone())
    );

    // Only the client challenge fixed: the message differs from the vector only in the
    // EncryptedRandomSessionKey, its last 16 bytes.
    let out = sign(
        &dir,
        &format!("NTLM {}", b64(&challenge)),
        c["client_challenge"].as_str().unwrap(),
    );
    let (_, message) = authorization(&out);
    let body = expected.len() - 16;
    assert_eq!(message.len(), expected.len());
    assert_eq!(message[..body], expected[..body]);
    assert_ne!(message[body..], expected[body..]);
}

#[test]
fn ntlm_challenge_that_is_not_a_challenge_message_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    for (challenge, nonce) in [
        ("Basic realm=\"x\"", "aaaaaaaaaaaaaaaa"),
        ("NTLM bm90IG50bG0=", "aaaaaaaaaaaaaaaa"),
        ("NTLM TlRMTVNTUAACAAAA", "not hex"),
    ] {
        let out = sign(&dir, challenge, nonce);
        assert_eq!(out.status.code(), Some(1), "{challenge}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--challenge") || stderr.contains("--nonce"),
            "{stderr}"
        );
    }
}
