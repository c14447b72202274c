//! The scheme's memory: protection spaces, nonce counts, replay decisions, the advanced keys.

use super::*;

fn config() -> DigestConfig {
    DigestConfig::with_credentials("u", Secret::new("p"))
}

fn request(url: &str) -> http::request::Parts {
    http::Request::get(url).body(()).unwrap().into_parts().0
}

fn unauthorized(challenge: &str) -> http::response::Parts {
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = StatusCode::UNAUTHORIZED;
    parts
        .headers
        .insert(WWW_AUTHENTICATE, HeaderValue::from_str(challenge).unwrap());
    parts
}

fn signed(digest: &Digest, url: &str) -> Option<String> {
    let mut parts = request(url);
    let cx = SignContext::system();
    digest.sign(&mut parts, None, &cx).unwrap();
    parts
        .headers
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[test]
fn unknown_space_is_sent_without_credentials() {
    let digest = Digest::new(config()).unwrap();
    assert_eq!(signed(&digest, "http://h.test/"), None);
}

#[test]
fn same_nonce_rejected_twice_is_not_replayed_but_stale_is() {
    let digest = Digest::new(config()).unwrap();
    let first = request("http://h.test/a");
    assert!(digest.wants_replay(
        &first,
        &unauthorized(r#"Digest realm="r", nonce="n1", qop="auth""#)
    ));
    let mut again = request("http://h.test/a");
    digest
        .sign(&mut again, None, &SignContext::system())
        .unwrap();
    assert!(!digest.wants_replay(
        &again,
        &unauthorized(r#"Digest realm="r", nonce="n1", qop="auth""#)
    ));
    assert!(digest.wants_replay(
        &again,
        &unauthorized(r#"Digest realm="r", nonce="n1", qop="auth", stale=true"#)
    ));
}

#[test]
fn retry_false_never_replays() {
    let digest = Digest::new(DigestConfig {
        retry: false,
        ..config()
    })
    .unwrap();
    assert!(!digest.may_replay());
    assert!(!digest.wants_replay(
        &request("http://h.test/"),
        &unauthorized(r#"Digest realm="r", nonce="n""#)
    ));
}

#[test]
fn domain_limits_the_protection_space() {
    let digest = Digest::new(config()).unwrap();
    digest
        .accept_challenge(
            &request("http://h.test/api/x"),
            r#"Digest realm="r", nonce="n", qop="auth", domain="/api/ http://other.test:8080/v1""#,
        )
        .unwrap();
    assert!(signed(&digest, "http://h.test/api/y?q=1").is_some());
    assert!(signed(&digest, "http://other.test:8080/v1/z").is_some());
    assert!(signed(&digest, "http://h.test/public").is_none());
    assert!(signed(&digest, "https://h.test/api/y").is_none());
}

#[test]
fn advanced_keys_sign_before_any_challenge_with_a_rising_nc() {
    let digest = Digest::new(DigestConfig {
        realm: Some("r".into()),
        nonce: Some("n".into()),
        qop: Some(DigestQop::Auth),
        nonce_count: Some("0000000a".into()),
        client_nonce: Some("c".into()),
        opaque: Some("o".into()),
        ..config()
    })
    .unwrap();
    let first = signed(&digest, "http://h.test/").unwrap();
    let second = signed(&digest, "http://h.test/").unwrap();
    assert!(
        first.contains("nc=0000000a") && first.contains(r#"cnonce="c""#),
        "{first}"
    );
    assert!(first.contains(r#"opaque="o""#), "{first}");
    assert!(second.contains("nc=0000000b"), "{second}");
}

#[test]
fn bad_nonce_count_is_a_config_error() {
    let err = Digest::new(DigestConfig {
        nonce_count: Some("xyz".into()),
        ..config()
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("nonce_count"), "{err}");
}

#[test]
fn debug_hides_the_password() {
    let debug = format!("{:?}", Digest::new(config()).unwrap());
    assert!(debug.contains("***") && !debug.contains("\"p\""), "{debug}");
}

/// How many challenges the scheme remembers, over every origin.
fn remembered(digest: &Digest) -> usize {
    digest.lock().len()
}

fn challenge_at(digest: &Digest, url: &str, challenge: &str) {
    assert!(digest.wants_replay(&request(url), &unauthorized(challenge)));
}

#[test]
fn realms_remembered_per_origin_are_capped_and_the_least_recently_used_goes() {
    let digest = Digest::new(config()).unwrap();
    challenge_at(
        &digest,
        "http://h.test/kept/a",
        r#"Digest realm="kept", nonce="k", qop="auth", domain="/kept/""#,
    );
    for i in 0..10_000 {
        let realm_challenge = format!(r#"Digest realm="r{i}", nonce="n{i}", qop="auth""#);
        challenge_at(&digest, "http://h.test/", &realm_challenge);
        if i % 4 == 0 {
            assert!(signed(&digest, "http://h.test/kept/b").is_some());
        }
    }
    assert_eq!(remembered(&digest), 8);
    let newest = signed(&digest, "http://h.test/x").unwrap();
    assert!(newest.contains(r#"realm="r9999""#), "{newest}");
    let kept = signed(&digest, "http://h.test/kept/c").unwrap();
    assert!(kept.contains(r#"realm="kept""#), "{kept}");
}

#[test]
fn origins_remembered_are_capped_and_the_least_recently_used_goes() {
    let digest = Digest::new(config()).unwrap();
    let challenge = r#"Digest realm="r", nonce="n", qop="auth""#;
    challenge_at(&digest, "http://kept.test/", challenge);
    for i in 0..5_000 {
        challenge_at(&digest, &format!("http://h{i}.test/"), challenge);
        if i % 256 == 0 {
            assert!(signed(&digest, "http://kept.test/").is_some());
        }
    }
    assert_eq!(remembered(&digest), 1024);
    assert!(signed(&digest, "http://h4999.test/").is_some());
    assert!(signed(&digest, "http://kept.test/").is_some());
    assert!(signed(&digest, "http://h0.test/").is_none(), "evicted");
}

fn answered(status: StatusCode) -> http::response::Parts {
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = status;
    parts
}

/// A request signed with the remembered challenge, as the proxy sent it.
fn pre_signed(digest: &Digest, url: &str) -> http::request::Parts {
    let mut parts = request(url);
    digest
        .sign(&mut parts, None, &SignContext::system())
        .unwrap();
    assert!(parts.headers.contains_key(AUTHORIZATION), "pre-signed");
    parts
}

#[test]
fn turned_away_pre_signed_request_drops_its_challenge() {
    let challenge = r#"Digest realm="r", nonce="n1", qop="auth""#;
    let oversized = format!(r#"Digest realm="r", nonce="{}""#, "x".repeat(100 * 1024));
    for (refusal, then_signed) in [
        (answered(StatusCode::BAD_REQUEST), false),
        (answered(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE), false),
        (unauthorized(&oversized), false),
        (unauthorized(r#"Basic realm="r""#), false),
        (answered(StatusCode::NOT_FOUND), true),
        (answered(StatusCode::FORBIDDEN), true),
    ] {
        let digest = Digest::new(config()).unwrap();
        challenge_at(&digest, "http://h.test/", challenge);
        let sent = pre_signed(&digest, "http://h.test/a");
        assert!(!digest.wants_replay(&sent, &refusal));
        let next = signed(&digest, "http://h.test/b");
        assert_eq!(next.is_some(), then_signed, "after {}", refusal.status);
    }
}

#[test]
fn challenge_for_another_realm_replaces_the_refused_one() {
    let digest = Digest::new(config()).unwrap();
    challenge_at(
        &digest,
        "http://h.test/",
        r#"Digest realm="old", nonce="n1", qop="auth""#,
    );
    let sent = pre_signed(&digest, "http://h.test/a");
    assert!(digest.wants_replay(
        &sent,
        &unauthorized(r#"Digest realm="new", nonce="n2", qop="auth""#)
    ));
    assert_eq!(remembered(&digest), 1);
    let next = signed(&digest, "http://h.test/b").unwrap();
    assert!(next.contains(r#"realm="new""#), "{next}");
}

#[test]
fn same_nonce_refused_again_keeps_its_nonce_count() {
    // A server checking `nc` refuses a request another one overtook; the count must go on.
    let digest = Digest::new(config()).unwrap();
    let challenge = r#"Digest realm="r", nonce="n1", qop="auth""#;
    challenge_at(&digest, "http://h.test/", challenge);
    let first = pre_signed(&digest, "http://h.test/a");
    assert!(!digest.wants_replay(&first, &unauthorized(challenge)));
    let next = signed(&digest, "http://h.test/b").unwrap();
    assert!(next.contains("nc=00000002"), "{next}");
}
