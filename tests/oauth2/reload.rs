//! OAuth 2.0 tokens across reloads: a profile that stayed the same keeps its token (no second
//! grant), one that changed starts fresh (the stored token was got under other settings), and
//! one that went away is dropped.

use std::sync::Arc;

use http::StatusCode;
use signet::config::Config;

use super::server::AuthServer;
use super::{Setup, profile_toml, start};

/// Writes `toml` as the proxy's config, loads it and swaps it in.
fn reload(s: &Setup, toml: &str) {
    let path = s.dir.path().join("signet.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap();
    let parts = s.running.signet.renewal(&config).unwrap();
    s.running.signet.swap(parts);
}

#[tokio::test]
async fn an_unchanged_profile_keeps_its_token_across_a_reload() {
    let server = AuthServer::start().await;
    let s = start(&server, "").await;
    assert_eq!(s.get(&server.api("/a")).await.status, StatusCode::OK);

    // Without the store, only the token in memory can spare a second grant.
    let store = s.dir.path().join("tokens/api.json");
    for _ in 0..100 {
        if store.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    std::fs::remove_file(&store).unwrap();
    // Another rule, the profile as it was.
    let toml = format!(
        "{}\n[[host]]\nmatch = [\"127.0.0.1:1\"]\n",
        profile_toml(&server, "")
    );
    reload(&s, &toml);
    assert_eq!(s.get(&server.api("/b")).await.status, StatusCode::OK);

    assert_eq!(server.calls().len(), 1, "no second grant");
    let sent: Vec<_> = server
        .api_calls()
        .into_iter()
        .map(|c| c.authorization)
        .collect();
    assert_eq!(
        sent,
        [Some("Bearer tok-1".into()), Some("Bearer tok-1".into())]
    );
}

#[tokio::test]
async fn a_changed_profile_starts_fresh_and_a_removed_one_is_dropped() {
    let server = AuthServer::start().await;
    let s = start(&server, "").await;
    assert_eq!(s.get(&server.api("/a")).await.status, StatusCode::OK);

    // The scope changes: the token in memory and in the store was granted for the old one.
    let narrower = profile_toml(&server, "").replace("\"read write\"", "\"read\"");
    reload(&s, &narrower);
    assert_eq!(s.get(&server.api("/b")).await.status, StatusCode::OK);
    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].param("scope"), Some("read"));
    let last = server.api_calls().pop().unwrap();
    assert_eq!(last.authorization.as_deref(), Some("Bearer tok-2"));

    let current = s.running.signet.current();
    let source = Arc::downgrade(current.policy().token_source("api").unwrap());
    drop(current);
    reload(&s, "[proxy]\n");
    assert!(
        s.running
            .signet
            .current()
            .policy()
            .token_source("api")
            .is_none()
    );
    assert!(
        source.upgrade().is_none(),
        "the removed profile's tokens are gone"
    );
}
