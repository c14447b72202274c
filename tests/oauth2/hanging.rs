//! A token endpoint that hangs: the request waiting for it gets `[proxy] token_timeout`, not a
//! token that expired while it waited, and the requests queued behind it share its failure
//! instead of each waiting out a token request of their own.

use std::time::Duration;

use http::StatusCode;

use super::server::AuthServer;
use super::{Setup, profile_toml, start_toml};

/// Waits (at most 10 s) until the token endpoint has received `n` token requests.
async fn token_requests_reach(server: &AuthServer, n: usize) {
    let reached = tokio::time::timeout(Duration::from_secs(10), async {
        while server.calls().len() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "the token endpoint never got request {n}");
}

fn spawn_get(
    s: &std::sync::Arc<Setup>,
    url: &str,
) -> tokio::task::JoinHandle<super::support::Answer> {
    let (s, url) = (s.clone(), url.to_owned());
    tokio::spawn(async move { s.get(&url).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_while_the_endpoint_hangs_is_not_sent_and_waiters_share_the_failure() {
    let server = AuthServer::start().await;
    server.set(|b| b.expires_in = serde_json::json!(60));
    let toml = format!("[proxy]\ntoken_timeout = 2\n{}", profile_toml(&server, ""));
    let s = std::sync::Arc::new(start_toml(&toml, tempfile::tempdir().unwrap()).await);
    let url = server.api("/");
    assert_eq!(s.get(&url).await.status, StatusCode::OK);

    // From here on the token endpoint takes longer than token_timeout to answer.
    server.set(|b| b.delay = Duration::from_secs(3600));
    // 1 s of validity left, inside the 30 s margin: the request renews first, and its renewal
    // outlasts the token.
    s.clock.advance(59);
    let renewing = spawn_get(&s, &url);
    token_requests_reach(&server, 2).await;
    // These arrive while the renewal is under way (and the token has expired): they wait for it.
    s.clock.advance(2);
    let waiting = [spawn_get(&s, &url), spawn_get(&s, &url)];

    for task in std::iter::once(renewing).chain(waiting) {
        let answer = tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("a request waited past the token timeout")
            .unwrap();
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.text()
        );
        assert!(
            answer.text().contains("no answer within 2s"),
            "{}",
            answer.text()
        );
    }
    assert_eq!(
        server.api_calls().len(),
        1,
        "a token that expired while its renewal hung reached the API"
    );
    assert_eq!(
        server.calls().len(),
        2,
        "requests queued behind the hung token request each sent their own"
    );
}

#[tokio::test]
async fn a_token_that_expires_before_its_answer_arrives_is_not_sent() {
    let server = AuthServer::start().await;
    server.set(|b| {
        b.expires_in = serde_json::json!(1);
        b.delay = Duration::from_millis(1500);
    });
    let s = super::start(&server, "").await;
    let answer = s.get(&server.api("/")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        answer.text().contains("expired before its answer arrived"),
        "{}",
        answer.text()
    );
    assert!(server.api_calls().is_empty(), "an expired token was sent");
}
