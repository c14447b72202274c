//! `/metrics` for OAuth 2.0: token requests by kind and result, and the token's expiry.

use std::time::SystemTime;

use http::StatusCode;
use signet::auth::Clock;

use super::server::AuthServer;
use super::start;

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

/// The value of the sample `series` in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn token_requests_are_counted_by_kind_and_result_and_the_expiry_is_a_gauge() {
    let server = AuthServer::start().await;
    server.set(|b| b.expires_in = serde_json::json!(120));
    let s = start(&server, "refresh_skew = 30").await;
    let url = server.api("/");
    let fetched_at = unix(s.clock.now());
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    let series = |kind: &str, result: &str| {
        format!(
            "signet_token_requests_total{{profile=\"api\",kind=\"{kind}\",result=\"{result}\"}}"
        )
    };
    let text = s.running.signet.metrics_text();
    assert_eq!(sample(&text, &series("fetch", "ok")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &series("refresh", "ok")), Some(0.0), "{text}");
    let expiry = "signet_token_expiry_timestamp_seconds{profile=\"api\"}";
    let at = sample(&text, expiry).unwrap_or_else(|| panic!("{text}")) as u64;
    assert!(
        at.abs_diff(fetched_at + 120) <= 1,
        "{at} vs {fetched_at} + 120"
    );

    s.clock.advance(95); // inside the 30 s margin: refreshed with the refresh token
    let refreshed_at = unix(s.clock.now());
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    let text = s.running.signet.metrics_text();
    assert_eq!(sample(&text, &series("refresh", "ok")), Some(1.0), "{text}");
    let at = sample(&text, expiry).unwrap() as u64;
    assert!(
        at.abs_diff(refreshed_at + 120) <= 1,
        "{at} vs {refreshed_at} + 120"
    );

    server.set(|b| b.down = true);
    s.clock.advance(200);
    assert_eq!(s.get(&url).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let text = s.running.signet.metrics_text();
    let errors = sample(&text, &series("refresh", "error")).unwrap()
        + sample(&text, &series("fetch", "error")).unwrap();
    assert!(errors >= 1.0, "{text}");
    assert_eq!(sample(&text, &series("fetch", "ok")), Some(1.0), "{text}");
}
