//! Every case in the shared HTTP Digest vectors (RFC 7616 3.9.1 and 3.9.2, RFC 2617 3.5, and
//! the SIP examples for MD5-sess and auth-int).

use super::challenge::{Challenge, parse_list, strongest};
use super::response::Inputs;
use super::*;
use crate::auth::OsEntropy;

fn cases() -> Vec<serde_json::Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/http-digest/digest-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("vectors present");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut all = doc["cases"].as_array().unwrap().clone();
    all.extend(doc["sess_and_auth_int_cases"].as_array().unwrap().clone());
    all
}

fn s<'a>(case: &'a serde_json::Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {}", case["name"]))
}

fn challenge_lines(case: &serde_json::Value) -> Vec<String> {
    match &case["www_authenticate"] {
        serde_json::Value::Array(lines) => lines
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect(),
        line => vec![line.as_str().unwrap().to_owned()],
    }
}

/// The challenge the case answers: the one whose algorithm the case names, else the only one.
fn case_challenge(case: &serde_json::Value) -> (String, Challenge) {
    let wanted = s(case, "algorithm").split(' ').next().unwrap();
    challenge_lines(case)
        .into_iter()
        .find_map(|line| {
            let raw = parse_list(&line).into_iter().next()?;
            let challenge = Challenge::from_raw(&raw)?;
            (challenge.algorithm.name() == wanted || !challenge.algorithm_named)
                .then_some((line, challenge))
        })
        .unwrap_or_else(|| panic!("no challenge for {}", case["name"]))
}

fn inputs<'a>(case: &'a serde_json::Value, challenge: &'a Challenge) -> Inputs<'a> {
    let qop = case["qop"].as_str().map(|q| match q {
        "auth" => DigestQop::Auth,
        "auth-int" => DigestQop::AuthInt,
        other => panic!("qop {other}"),
    });
    Inputs {
        algorithm: challenge.algorithm,
        algorithm_named: challenge.algorithm_named,
        qop,
        username: s(case, "username"),
        password: s(case, "password"),
        realm: &challenge.realm,
        nonce: &challenge.nonce,
        nc: case["nc"]
            .as_str()
            .map_or(0, |nc| u32::from_str_radix(nc, 16).unwrap()),
        cnonce: case["cnonce"].as_str().unwrap_or(""),
        method: s(case, "method"),
        uri: s(case, "uri"),
        body_hash: case["entity_body_md5"].as_str(),
        opaque: challenge.opaque.as_deref(),
        userhash: challenge.userhash,
    }
}

fn digest(username: &str, password: &str) -> Digest {
    Digest::new(DigestConfig::with_credentials(
        username,
        Secret::new(password),
    ))
    .unwrap()
}

/// Signs `GET http://www.example.org{uri}` after `challenge`, with the cnonce fixed.
fn answer(digest: &Digest, uri: &str, challenge: &str, cnonce: &str) -> String {
    let (mut parts, ()) = http::Request::get(format!("http://www.example.org{uri}"))
        .body(())
        .unwrap()
        .into_parts();
    digest.accept_challenge(&parts, challenge).unwrap();
    let cx = SignContext {
        now: std::time::SystemTime::UNIX_EPOCH,
        fixed_nonce: Some(cnonce),
        entropy: &OsEntropy,
    };
    digest.sign(&mut parts, None, &cx).unwrap();
    parts.headers[AUTHORIZATION].to_str().unwrap().to_owned()
}

#[test]
fn every_vector_gives_its_ha1_ha2_and_response() {
    let mut checked = 0;
    for case in cases() {
        let name = s(&case, "name");
        let (_, challenge) = case_challenge(&case);
        let inputs = inputs(&case, &challenge);
        if name.ends_with("-as-printed") {
            // The RFC's printed SHA-512-256 values come from truncated SHA-512; real
            // SHA-512/256 must not reproduce them.
            assert_ne!(inputs.ha1(), s(&case, "ha1"), "{name}");
            assert_ne!(inputs.response(), s(&case, "response"), "{name}");
        } else {
            assert_eq!(inputs.ha1(), s(&case, "ha1"), "{name} ha1");
            assert_eq!(inputs.ha2(), s(&case, "ha2"), "{name} ha2");
            assert_eq!(inputs.response(), s(&case, "response"), "{name} response");
        }
        checked += 1;
    }
    assert_eq!(checked, 11, "every case in the vectors");
}

#[test]
fn http_vectors_give_the_printed_authorization() {
    let mut checked = 0;
    for case in cases() {
        let name = s(&case, "name");
        let Some(expected) = case["authorization"].as_str() else {
            continue;
        };
        if name.ends_with("-as-printed") {
            continue;
        }
        let (line, _) = case_challenge(&case);
        let got = answer(
            &digest(s(&case, "username"), s(&case, "password")),
            s(&case, "uri"),
            &line,
            s(&case, "cnonce"),
        );
        if name.starts_with("rfc2617") {
            // RFC 2617 prints the fields in another order; compare them as a set.
            let mut got = parse_list(&got).remove(0).params;
            let mut want = parse_list(expected).remove(0).params;
            got.sort();
            want.sort();
            assert_eq!(got, want, "{name}");
        } else {
            assert_eq!(got, expected, "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn rfc7616_two_challenges_pick_sha256() {
    let case = &cases()[0];
    let lines = challenge_lines(case);
    let best = strongest(lines.iter().map(String::as_str)).unwrap();
    assert_eq!(best.algorithm, DigestAlgorithm::Sha256);
    let header = lines.join(", ");
    let got = answer(
        &digest("Mufasa", "Circle of Life"),
        "/dir/index.html",
        &header,
        s(case, "cnonce"),
    );
    assert_eq!(got, s(case, "authorization"));
}

#[test]
fn non_ascii_user_without_userhash_uses_username_star_with_the_same_response() {
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "rfc7616-3.9.2-sha512-256-userhash-corrected")
        .unwrap();
    let line = challenge_lines(&case)[0].replace(", userhash=true", "");
    let got = answer(
        &digest(s(&case, "username"), s(&case, "password")),
        "/doe.json",
        &line,
        s(&case, "cnonce"),
    );
    assert!(
        got.starts_with("Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, "),
        "{got}"
    );
    assert!(
        got.contains(&format!("response=\"{}\"", s(&case, "response"))),
        "{got}"
    );
}
