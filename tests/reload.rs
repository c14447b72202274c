//! Reloads in-process: a new config is built as a whole and swapped in; rules change for the
//! next request of an open connection, per-profile state carries over only where the profile
//! stayed the same, a bad config never gets in, and requests racing repeated reloads are each
//! signed wholly under one config or the other.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::StatusCode;
use signet::config::Config;
use support::{Origin, Proxy, authorization, client, request};

/// Loads the config written to the proxy's file as `toml`, and swaps it in.
fn reload(proxy: &Proxy, toml: &str) -> Result<(), String> {
    let path = proxy.dir.path().join("signet.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).map_err(|e| e.to_string())?;
    let parts = proxy
        .running
        .signet
        .renewal(&config)
        .map_err(|e| e.to_string())?;
    proxy.running.signet.swap(parts);
    Ok(())
}

fn bearer_toml(origin: &Origin, token: &str) -> String {
    format!(
        r#"
[auth.api]
type = "bearer"
token = "{token}"

[[host]]
match = ["127.0.0.1:{}"]
auth = "api"
"#,
        origin.port()
    )
}

#[tokio::test]
async fn an_open_connection_uses_the_new_rules_from_its_next_request() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start(&bearer_toml(&origin, "one")).await;
    let url = format!("http://127.0.0.1:{}/x", origin.port());
    let mut conn = client(proxy.addr()).await;
    let (status, _) = request(&mut conn, "GET", &url, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(authorization(&origin.last()).as_deref(), Some("Bearer one"));

    reload(&proxy, &bearer_toml(&origin, "two")).unwrap();
    let (status, _) = request(&mut conn, "GET", &url, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(authorization(&origin.last()).as_deref(), Some("Bearer two"));

    // A rule that goes away takes its auth with it.
    let none = "[proxy]\nintercept = \"none\"\n";
    reload(&proxy, none).unwrap();
    request(&mut conn, "GET", &url, Bytes::new()).await;
    assert_eq!(authorization(&origin.last()), None);
}

#[tokio::test]
async fn a_file_secret_is_read_again_on_reload() {
    let origin = Origin::plain().await;
    let dir_toml = format!(
        r#"
[auth.api]
type = "bearer"
token = "${{file:token.txt}}"

[[host]]
match = ["127.0.0.1:{}"]
auth = "api"
"#,
        origin.port()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.txt"), "before").unwrap();
    let proxy = Proxy::start_in(dir, &dir_toml).await;
    let url = format!("http://127.0.0.1:{}/x", origin.port());
    support::get(proxy.addr(), &url, &[]).await;
    assert_eq!(
        authorization(&origin.last()).as_deref(),
        Some("Bearer before")
    );

    std::fs::write(proxy.dir.path().join("token.txt"), "rotated").unwrap();
    reload(&proxy, &dir_toml).unwrap();
    support::get(proxy.addr(), &url, &[]).await;
    assert_eq!(
        authorization(&origin.last()).as_deref(),
        Some("Bearer rotated")
    );
}

#[tokio::test]
async fn a_bad_config_is_kept_out_and_its_error_names_the_key() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start(&bearer_toml(&origin, "one")).await;
    let url = format!("http://127.0.0.1:{}/x", origin.port());

    let missing_file = bearer_toml(&origin, "${file:no-such-secret}");
    let err = reload(&proxy, &missing_file).unwrap_err();
    assert!(err.contains("signet.toml:4:"), "{err}");
    assert!(err.contains("auth.api.token"), "{err}");

    let unknown_profile = bearer_toml(&origin, "two").replace("auth = \"api\"", "auth = \"nope\"");
    let err = reload(&proxy, &unknown_profile).unwrap_err();
    assert!(err.contains("signet.toml:8:"), "{err}");
    assert!(err.contains("host[0].auth"), "{err}");

    // A client certificate that cannot be read fails the reload too, as it fails `check`.
    let bad_tls = format!(
        "{}\n[host.tls]\nclient_cert = \"nope.pem\"\nclient_key = \"nope.key\"\n",
        bearer_toml(&origin, "two")
    );
    let err = reload(&proxy, &bad_tls).unwrap_err();
    assert!(err.contains("host[0].tls.client_cert"), "{err}");

    support::get(proxy.addr(), &url, &[]).await;
    assert_eq!(authorization(&origin.last()).as_deref(), Some("Bearer one"));
}

fn digest_toml(password: &str, extra_host: &str) -> String {
    format!(
        r#"
[auth.dig]
type = "digest"
username = "u"
password = "{password}"

[auth.other]
type = "bearer"
token = "t"

[[host]]
match = ["127.0.0.1:1"]
auth = "dig"
{extra_host}
"#
    )
}

#[tokio::test]
async fn schemes_carry_over_only_for_profiles_that_stayed_the_same() {
    let proxy = Proxy::start(&digest_toml("p1", "")).await;
    let signet = &proxy.running.signet;
    let before = signet.current();
    let dig = before.policy().profiles["dig"].clone().unwrap();
    let other = before.policy().profiles["other"].clone().unwrap();

    // Another rule is added: both profiles stay as they were, with their state.
    let extra = "[[host]]\nmatch = [\"127.0.0.1:2\"]\nauth = \"other\"";
    reload(&proxy, &digest_toml("p1", extra)).unwrap();
    let after = signet.current();
    assert!(Arc::ptr_eq(
        &dig,
        after.policy().profiles["dig"].as_ref().unwrap()
    ));
    assert!(Arc::ptr_eq(
        &other,
        after.policy().profiles["other"].as_ref().unwrap()
    ));
    assert_eq!(after.policy().carried_from(before.policy()).len(), 2);

    // The Digest password changes: that profile starts fresh, the other carries on.
    reload(&proxy, &digest_toml("p2", extra)).unwrap();
    let changed = signet.current();
    assert!(!Arc::ptr_eq(
        &dig,
        changed.policy().profiles["dig"].as_ref().unwrap()
    ));
    assert!(Arc::ptr_eq(
        &other,
        changed.policy().profiles["other"].as_ref().unwrap()
    ));
}

#[tokio::test]
async fn the_leaf_cache_survives_unless_the_ca_changes() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start(&bearer_toml(&origin, "one")).await;
    let signet = &proxy.running.signet;
    let leaves = signet.current().leaves().clone();

    reload(&proxy, &bearer_toml(&origin, "two")).unwrap();
    assert!(Arc::ptr_eq(&leaves, signet.current().leaves()));

    let other_ca = format!(
        "[ca]\ncert = \"other/ca.crt\"\nkey = \"other/ca.key\"\n{}",
        bearer_toml(&origin, "two")
    );
    reload(&proxy, &other_ca).unwrap();
    assert!(!Arc::ptr_eq(&leaves, signet.current().leaves()));
}

/// Two configs whose rules and profiles are crossed: under A the rule uses `first` (`A1`), under
/// B it uses `second` (`B2`). A request that took the rules of one and the profiles of the
/// other would carry `A2` or `B1`.
fn crossed_toml(origin: &Origin, which: char, profile: &str) -> String {
    format!(
        r#"
[auth.first]
type = "bearer"
token = "{which}1"

[auth.second]
type = "bearer"
token = "{which}2"

[[host]]
match = ["127.0.0.1:{}"]
auth = "{profile}"
"#,
        origin.port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_during_repeated_reloads_all_succeed_under_one_whole_config() {
    let origin = Origin::plain().await;
    let a = crossed_toml(&origin, 'A', "first");
    let b = crossed_toml(&origin, 'B', "second");
    let proxy = Arc::new(Proxy::start(&a).await);
    let url = format!("http://127.0.0.1:{}/x", origin.port());

    let reloading = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    for _ in 0..6 {
        let (addr, url, reloading) = (proxy.addr(), url.clone(), reloading.clone());
        clients.push(tokio::spawn(async move {
            let mut conn = client(addr).await;
            let mut sent = 0;
            // New connections as well as open ones.
            let mut fresh = client(addr).await;
            while sent < 20 || reloading.load(Ordering::Relaxed) {
                let (status, body) = request(&mut conn, "POST", &url, Bytes::from("x")).await;
                assert_eq!(status, StatusCode::OK, "{body:?}");
                if sent % 5 == 0 {
                    fresh = client(addr).await;
                }
                let (status, body) = request(&mut fresh, "GET", &url, Bytes::new()).await;
                assert_eq!(status, StatusCode::OK, "{body:?}");
                sent += 2;
            }
            sent
        }));
    }
    let reloader = {
        let proxy = proxy.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..30 {
                reload(&proxy, if i % 2 == 0 { &b } else { &a }).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    reloader.await.unwrap();
    reloading.store(false, Ordering::Relaxed);
    let mut sent = 0;
    for c in clients {
        sent += c.await.unwrap();
    }

    let seen: HashSet<String> = origin
        .requests()
        .iter()
        .map(|s| authorization(s).unwrap_or_default())
        .collect();
    assert_eq!(origin.requests().len(), sent);
    let whole: HashSet<String> = ["Bearer A1".to_owned(), "Bearer B2".to_owned()].into();
    assert!(seen.is_subset(&whole), "{seen:?}");
    assert_eq!(seen, whole, "both configs served requests");
}
