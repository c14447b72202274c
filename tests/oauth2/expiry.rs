//! Token lifetimes from outside (the token endpoint's `expires_in`, the store's `expires_at`,
//! the config's `refresh_skew`) at their extremes: cut to the maximum, or refused as a bad
//! answer, never a panic.

use std::time::SystemTime;

use http::StatusCode;
use signet::auth::Clock;
use signet::config::Config;

use super::server::AuthServer;
use super::{Setup, start, start_in};

/// Ten years, the longest lifetime signet takes, in seconds (written out, not taken from signet).
const TEN_YEARS: u64 = 315_360_000;

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

fn stored(s: &Setup) -> serde_json::Value {
    let bytes = std::fs::read(s.dir.path().join("tokens/api.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn an_absurd_expires_in_is_cut_to_ten_years() {
    for expires_in in [
        serde_json::json!(1e30),
        serde_json::json!(18446744073709551615u64),
    ] {
        let server = AuthServer::start().await;
        server.set(|b| b.expires_in = expires_in.clone());
        let s = start(&server, "").await;
        for _ in 0..3 {
            let answer = s.get(&server.api("/")).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{expires_in}: {}",
                answer.text()
            );
        }
        assert_eq!(server.calls().len(), 1, "{expires_in}");
        assert_eq!(
            stored(&s)["expires_at"],
            serde_json::json!(unix(s.clock.now()) + TEN_YEARS),
            "{expires_in}"
        );
    }
}

#[tokio::test]
async fn an_expires_in_of_zero_or_below_is_a_bad_answer_and_backed_off() {
    for expires_in in [serde_json::json!(-5), serde_json::json!(0)] {
        let server = AuthServer::start().await;
        server.set(|b| b.expires_in = expires_in.clone());
        let s = start(&server, "").await;
        for _ in 0..5 {
            let answer = s.get(&server.api("/")).await;
            assert_eq!(
                answer.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{expires_in}"
            );
            let text = answer.text();
            assert!(
                text.contains("without a usable token: expires_in is below 1 second"),
                "{expires_in}: {text}"
            );
        }
        assert_eq!(server.calls().len(), 1, "{expires_in}: no back-off");
        assert!(server.api_calls().is_empty(), "{expires_in}");

        server.set(|b| b.expires_in = serde_json::json!(3600));
        s.clock.advance(2);
        assert_eq!(s.get(&server.api("/")).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_huge_expires_at_in_the_store_is_read_as_the_year_9999() {
    let server = AuthServer::start().await;
    let s = start(&server, "").await;
    assert_eq!(s.get(&server.api("/")).await.status, StatusCode::OK);
    let mut file = stored(&s);
    file["expires_at"] = serde_json::json!(18446744073709551615u64);
    let Setup { running, dir, .. } = s;
    drop(running);
    let path = dir.path().join("tokens/api.json");
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();

    let s = start_in(&server, "", dir).await;
    let answer = s.get(&server.api("/")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(server.calls().len(), 1, "the stored token was not used");

    // `signet token` shows it (9999-12-31T23:59:59Z) rather than panicking.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .arg("--config")
        .arg(s.dir.path().join("signet.toml"))
        .args(["token", "api"])
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("expires 9999-12-31T23:59:59Z"), "{stdout}");
}

/// Builds the policy of a one-profile config with `refresh_skew = skew`.
fn policy_with_skew(skew: u64) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.toml");
    let toml = format!(
        "[auth.api]\ntype = \"oauth2\"\ngrant_type = \"client_credentials\"\n\
         access_token_url = \"http://127.0.0.1:9/token\"\nclient_id = \"c\"\n\
         refresh_skew = {skew}\n"
    );
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).map_err(|e| e.to_string())?;
    signet::policy::Policy::from_config(&config)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn a_refresh_skew_over_ten_years_is_refused_at_its_key() {
    assert_eq!(policy_with_skew(TEN_YEARS), Ok(()));
    for skew in [TEN_YEARS + 1, i64::MAX as u64] {
        let err = policy_with_skew(skew).unwrap_err();
        assert!(
            err.contains("signet.toml:6:1: auth.api.refresh_skew") && err.contains("10 years"),
            "{skew}: {err}"
        );
    }
}
