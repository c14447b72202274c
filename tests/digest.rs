//! Digest through the proxy, against an origin that checks every answer with its own hashing.

#[path = "support/digest_origin.rs"]
mod digest_origin;
mod support;

use bytes::Bytes;
use digest_origin::{DigestOrigin, Spec, params};
use http::{Request, StatusCode};
use http_body_util::Full;
use support::{Proxy, get, via_proxy};

fn config(origin: &DigestOrigin, password: &str, extra: &str) -> String {
    format!(
        r#"
{extra}

[auth.d]
type = "digest"
username = "Mufasa"
password = "{password}"

[[host]]
match = ["127.0.0.1:{}"]
auth = "d"
"#,
        origin.port()
    )
}

async fn start(spec: Spec) -> (DigestOrigin, Proxy) {
    let origin = DigestOrigin::start(spec).await;
    let proxy = Proxy::start(&config(&origin, "Circle of Life", "")).await;
    (origin, proxy)
}

fn post(origin: &DigestOrigin, path: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::post(format!("http://127.0.0.1:{}{path}", origin.port()))
        .header("content-type", "application/octet-stream")
        .header("x-trace", "kept")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

#[tokio::test]
async fn challenge_is_answered_and_the_request_replayed_once() {
    let (origin, proxy) = start(Spec::new(&["MD5"], "auth")).await;
    let url = format!(
        "http://127.0.0.1:{}/dir/index.html?a=1&b=%20",
        origin.port()
    );
    let answer = get(proxy.addr(), &url, &[("authorization", "Basic client")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let hits = origin.hits();
    assert_eq!(hits.len(), 2);
    assert!(
        !hits[0].headers.contains_key("authorization"),
        "client credentials dropped"
    );
    assert_eq!(hits[1].accepted, Some(("MD5".into(), 1)));
    let sent = params(hits[1].headers["authorization"].to_str().unwrap());
    assert_eq!(sent["uri"], "/dir/index.html?a=1&b=%20");
}

#[tokio::test]
async fn later_requests_are_signed_before_the_server_asks() {
    let (origin, proxy) = start(Spec::new(&["SHA-256"], "auth")).await;
    for i in 0..6 {
        let url = format!("http://127.0.0.1:{}/item/{i}", origin.port());
        assert_eq!(get(proxy.addr(), &url, &[]).await.status, StatusCode::OK);
    }
    assert_eq!(origin.challenges_sent(), 1, "one 401 for six requests");
    let ncs: Vec<u32> = origin
        .hits()
        .iter()
        .filter_map(|h| h.accepted.as_ref().map(|a| a.1))
        .collect();
    assert_eq!(ncs, [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn stale_nonce_is_replayed_with_the_new_one() {
    let mut spec = Spec::new(&["MD5"], "auth");
    spec.nonce_uses = Some(2);
    let (origin, proxy) = start(spec).await;
    let url = format!("http://127.0.0.1:{}/", origin.port());
    for _ in 0..5 {
        assert_eq!(get(proxy.addr(), &url, &[]).await.status, StatusCode::OK);
    }
    // The first 401, then one stale 401 after every second accepted request.
    assert_eq!(origin.challenges_sent(), 3);
    assert_eq!(origin.hits().len(), 8, "five requests, three replays");
}

#[tokio::test]
async fn replay_is_identical_but_for_authorization() {
    let (origin, proxy) = start(Spec::new(&["MD5"], "auth")).await;
    let answer = via_proxy(proxy.addr(), post(&origin, "/upload?x=1", b"the body")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(&answer.body[..], b"the body");
    let hits = origin.hits();
    assert_eq!(hits.len(), 2);
    let (first, replay) = (&hits[0], &hits[1]);
    assert_eq!(first.body, replay.body);
    assert_eq!(
        (&first.method, &first.target),
        (&replay.method, &replay.target)
    );
    let mut first_headers = first.headers.clone();
    let mut replay_headers = replay.headers.clone();
    assert!(replay_headers.remove("authorization").is_some());
    first_headers.remove("authorization");
    assert_eq!(first_headers, replay_headers);
}

#[tokio::test]
async fn auth_int_hashes_the_body() {
    let (origin, proxy) = start(Spec::new(&["SHA-256"], "auth-int")).await;
    for body in [&b"first"[..], b"second"] {
        let answer = via_proxy(proxy.addr(), post(&origin, "/p", body)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    assert_eq!(origin.challenges_sent(), 1);
    let last = origin.hits().pop().unwrap();
    assert_eq!(
        params(last.headers["authorization"].to_str().unwrap())["qop"],
        "auth-int"
    );
}

#[tokio::test]
async fn strongest_of_several_challenges_is_answered() {
    let (origin, proxy) = start(Spec::new(&["MD5", "SHA-512-256", "SHA-256"], "auth")).await;
    let url = format!("http://127.0.0.1:{}/", origin.port());
    assert_eq!(get(proxy.addr(), &url, &[]).await.status, StatusCode::OK);
    assert_eq!(origin.hits()[1].accepted, Some(("SHA-512-256".into(), 1)));
}

#[tokio::test]
async fn md5_sess_and_rfc2069_are_answered() {
    for (algorithms, qop) in [(&["MD5-sess"][..], "auth"), (&["MD5"][..], "")] {
        let (origin, proxy) = start(Spec::new(algorithms, qop)).await;
        let url = format!("http://127.0.0.1:{}/", origin.port());
        for _ in 0..3 {
            assert_eq!(get(proxy.addr(), &url, &[]).await.status, StatusCode::OK);
        }
        assert_eq!(origin.challenges_sent(), 1, "{algorithms:?} {qop:?}");
    }
}

#[tokio::test]
async fn second_401_goes_back_to_the_client() {
    let origin = DigestOrigin::start(Spec::new(&["MD5"], "auth")).await;
    let proxy = Proxy::start(&config(&origin, "wrong", "")).await;
    let url = format!("http://127.0.0.1:{}/", origin.port());
    let answer = get(proxy.addr(), &url, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.text(), "origin: unauthorized");
    assert!(answer.headers.get_all("www-authenticate").iter().count() >= 2);
    assert_eq!(origin.hits().len(), 2, "one replay, never more");
}

#[tokio::test]
async fn malformed_challenge_is_passed_back_untouched() {
    let mut spec = Spec::new(&["MD5"], "auth");
    spec.malformed = true;
    let (origin, proxy) = start(spec).await;
    let url = format!("http://127.0.0.1:{}/", origin.port());
    let answer = get(proxy.addr(), &url, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let challenge = answer.headers["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        r#"Digest realm="testrealm@host.com", nonce="nonce-1-18"#
    );
    assert_eq!(origin.hits().len(), 1);
}

#[tokio::test]
async fn body_past_the_limit_that_needs_a_replay_gets_413_then_is_signed_up_front() {
    let origin = DigestOrigin::start(Spec::new(&["MD5"], "auth")).await;
    let proxy = Proxy::start(&config(
        &origin,
        "Circle of Life",
        "[proxy]\nbuffer_limit = 8",
    ))
    .await;
    let body = b"more than eight bytes";
    let answer = via_proxy(proxy.addr(), post(&origin, "/big", body)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.text().starts_with("signet:"), "{}", answer.text());
    assert!(answer.text().contains("buffer limit"), "{}", answer.text());
    let answer = via_proxy(proxy.addr(), post(&origin, "/big", body)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(origin.hits().len(), 2);
}

/// Waits at most ten seconds for `answer`, so that a proxy that stops answering fails the
/// test instead of hanging it.
async fn bounded<T>(answer: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(10), answer)
        .await
        .expect("the proxy answered within ten seconds")
}

#[tokio::test]
async fn oversized_nonce_is_neither_answered_nor_remembered() {
    let mut spec = Spec::new(&["MD5"], "auth");
    spec.nonce_padding = 100 * 1024;
    let (origin, proxy) = start(spec).await;
    let url = format!("http://127.0.0.1:{}/", origin.port());
    for _ in 0..2 {
        let answer = bounded(get(proxy.addr(), &url, &[])).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "passed back as it is"
        );
    }
    let hits = origin.hits();
    assert_eq!(hits.len(), 2, "no replay with the oversized nonce");
    assert!(
        !hits[1].headers.contains_key("authorization"),
        "the next request is not signed with it"
    );
}

#[tokio::test]
async fn challenge_refused_with_431_is_forgotten() {
    let (origin, proxy) = start(Spec::new(&["MD5"], "auth")).await;
    let url = format!("http://127.0.0.1:{}/", origin.port());
    assert_eq!(
        bounded(get(proxy.addr(), &url, &[])).await.status,
        StatusCode::OK
    );
    origin.refuse_next(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let refused = bounded(get(proxy.addr(), &url, &[])).await;
    assert_eq!(refused.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(
        origin.hits()[2].headers.contains_key("authorization"),
        "the refused request was signed before the server asked"
    );
    assert_eq!(
        bounded(get(proxy.addr(), &url, &[])).await.status,
        StatusCode::OK
    );
    let hits = origin.hits();
    assert_eq!(
        hits.len(),
        5,
        "the request after the refusal is challenged again"
    );
    assert!(
        !hits[3].headers.contains_key("authorization"),
        "the refused challenge is not used again"
    );
    assert_eq!(hits[4].accepted, Some(("MD5".into(), 1)));
}

fn cookie(hit: &digest_origin::Hit) -> Option<&str> {
    hit.headers.get("cookie").map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn cookie_set_by_the_challenge_goes_on_the_replay_and_into_the_jar() {
    let mut spec = Spec::new(&["MD5"], "auth");
    spec.challenge_cookie = Some("lb=node-7; Path=/");
    let origin = DigestOrigin::start(spec).await;
    let toml = format!(
        "{}cookies = \"sync\"\n",
        config(&origin, "Circle of Life", "")
    );
    let proxy = Proxy::start(&toml).await;
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", origin.port());
    let answer = get(proxy.addr(), &url("/a"), &[("cookie", "own=1")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let hits = origin.hits();
    assert_eq!(cookie(&hits[0]), Some("own=1"));
    assert_eq!(cookie(&hits[1]), Some("own=1; lb=node-7"), "the replay");

    // A later request is signed before the server asks; the jar adds the cookie.
    let answer = get(proxy.addr(), &url("/b"), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let hits = origin.hits();
    assert_eq!(hits.len(), 3);
    assert_eq!(cookie(&hits[2]), Some("lb=node-7"));

    proxy.running.signet.cookies().unwrap().flush();
    let saved = std::fs::read_to_string(proxy.dir.path().join("cookies.json")).unwrap();
    assert!(saved.contains("\"value\": \"node-7\""), "{saved}");
}

#[tokio::test]
async fn without_a_cookie_rule_the_challenges_cookie_goes_on_the_replay_only() {
    let mut spec = Spec::new(&["MD5"], "auth");
    spec.challenge_cookie = Some("lb=node-7; Path=/");
    let (origin, proxy) = start(spec).await;
    for path in ["/a", "/b"] {
        let url = format!("http://127.0.0.1:{}{path}", origin.port());
        assert_eq!(get(proxy.addr(), &url, &[]).await.status, StatusCode::OK);
    }
    let hits = origin.hits();
    let cookies: Vec<Option<&str>> = hits.iter().map(cookie).collect();
    assert_eq!(cookies, [None, Some("lb=node-7"), None]);
    assert!(proxy.running.signet.cookies().is_none());
}

/// `signet sign --challenge` prints the RFC 7616 / RFC 2617 answers from the shared vectors.
#[test]
fn sign_challenge_prints_the_vector_authorization() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/http-digest/digest-vectors.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if name.ends_with("-as-printed") {
            continue;
        }
        let s = |k: &str| case[k].as_str().unwrap().to_owned();
        let lines: Vec<&str> = case["www_authenticate"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        // The MD5 case answers the server's MD5 challenge on its own.
        let challenge = if name.ends_with("-md5") {
            lines[1].to_owned()
        } else {
            lines.join(", ")
        };
        let config = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[[host]]\nmatch = [\"http://www.example.org\"]\nauth = {{ type = \"digest\", username = {:?}, password = {:?} }}\n",
                s("username"),
                s("password")
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
            .args(["sign", "--show-secrets", "--config"])
            .arg(&config)
            .arg(format!("http://www.example.org{}", s("uri")))
            .args(["--nonce", &s("cnonce"), "--challenge", &challenge])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("authorization: "))
            .unwrap_or_else(|| panic!("{name}: no authorization in {stdout}"));
        let (mut got, mut want): (Vec<_>, Vec<_>) = (
            params(line).into_iter().collect(),
            params(&s("authorization")).into_iter().collect(),
        );
        got.sort();
        want.sort();
        assert_eq!(got, want, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn sign_challenge_without_a_digest_challenge_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("signet.toml");
    std::fs::write(
        &config,
        "[[host]]\nmatch = [\"http://h.test\"]\nauth = { type = \"digest\", username = \"u\", password = \"p\" }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["sign", "--show-secrets", "--config"])
        .arg(&config)
        .args([
            "http://h.test/",
            "--challenge",
            r#"Digest realm="r", nonce="unterminated"#,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--challenge"));
}
