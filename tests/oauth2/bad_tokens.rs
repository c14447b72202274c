//! Tokens that cannot go in a header are refused where they come from (the token endpoint, the
//! store file, the config) instead of breaking every request, and a token another process put
//! in the store (`signet token --refresh`, `signet login`) reaches the running proxy.

use std::time::Duration;

use http::StatusCode;
use signet::auth::Clock;
use signet::config::Config;

use super::server::AuthServer;
use super::{Setup, profile_toml, source_of, start, start_in};

fn store_path(s: &Setup) -> std::path::PathBuf {
    s.dir.path().join("tokens/api.json")
}

#[tokio::test]
async fn a_token_with_a_line_break_gives_503_then_a_good_one_once_the_endpoint_is_fixed() {
    let server = AuthServer::start().await;
    server.set(|b| b.access_token = Some("abc\r\ndef".into()));
    let s = start(&server, "").await;
    let url = server.api("/");
    let answer = s.get(&url).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text()
    );
    assert!(
        answer
            .text()
            .contains("without a usable token: the access_token contains a control character"),
        "{}",
        answer.text()
    );
    assert!(!store_path(&s).exists(), "the refused token was stored");
    assert!(server.api_calls().is_empty());

    server.set(|b| b.access_token = None);
    s.clock.advance(2); // past the back-off
    let answer = s.get(&url).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        server.api_calls()[0].authorization.as_deref(),
        Some("Bearer tok-2")
    );
}

#[tokio::test]
async fn a_stored_token_that_cannot_be_sent_is_renewed_with_its_refresh_token() {
    let server = AuthServer::start().await;
    let s = start(&server, "").await;
    assert_eq!(s.get(&server.api("/")).await.status, StatusCode::OK);
    let path = store_path(&s);
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    file["access_token"] = serde_json::json!("abc\r\ndef");
    let Setup { running, dir, .. } = s;
    drop(running);
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();

    let s = start_in(&server, "", dir).await;
    let answer = s.get(&server.api("/")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].param("grant_type"), Some("refresh_token"));
    assert_eq!(calls[1].param("refresh_token"), Some("rt-1"));
    assert_eq!(
        server.api_calls().last().unwrap().authorization.as_deref(),
        Some("Bearer tok-2")
    );
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(
        stored.contains("tok-2") && !stored.contains("abc"),
        "{stored}"
    );
}

#[tokio::test]
async fn a_store_rewritten_by_another_process_reaches_the_running_proxy() {
    let server = AuthServer::start().await;
    let s = start(&server, "").await;
    let url = server.api("/");
    assert_eq!(s.get(&url).await.status, StatusCode::OK);

    // What `signet token --refresh` does: its own source on the same config and store.
    let other = source_of(s.dir.path(), &profile_toml(&server, ""), "api");
    tokio::time::timeout(Duration::from_secs(10), other.force_refresh(s.clock.now()))
        .await
        .expect("the refresh never finished")
        .unwrap();
    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].param("refresh_token"), Some("rt-1"));

    s.clock.advance(2);
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    assert_eq!(
        server.api_calls().last().unwrap().authorization.as_deref(),
        Some("Bearer tok-2"),
        "the running proxy kept its own token"
    );
    assert_eq!(
        server.calls().len(),
        2,
        "the running proxy asked for a token"
    );
}

#[test]
fn a_fixed_access_token_that_cannot_be_sent_is_refused_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.toml");
    std::fs::write(
        &path,
        "[auth.fixed]\ntype = \"oauth2\"\naccess_token = \"abc def\"\n",
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    let err = signet::policy::Policy::from_config(&config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("signet.toml:3:1: auth.fixed.access_token")
            && err.contains("contains whitespace"),
        "{err}"
    );
}
