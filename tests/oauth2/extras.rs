//! Extra parameters of token and refresh requests arrive where `send_in` puts them, and only
//! there, as the token endpoint sees them.

use crate::server::{AuthServer, TokenCall};
use crate::start;

/// Where `key` arrived: "body", "url" and/or "header", read from the request as received.
fn places(call: &TokenCall, key: &str, value: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    if call.param(key) == Some(value) {
        found.push("body");
    }
    let query = crate::server::url_form(call.query.as_deref().unwrap_or_default().as_bytes());
    if query.iter().any(|(k, v)| k == key && v == value) {
        found.push("url");
    }
    if call.headers.get(key).is_some_and(|v| v == value) {
        found.push("header");
    }
    found
}

#[tokio::test]
async fn each_extra_parameter_arrives_where_send_in_puts_it() {
    let server = AuthServer::start().await;
    let s = start(
        &server,
        r#"token_request = [
  { key = "t-default", value = "1" },
  { key = "t-body", value = "2", send_in = "body" },
  { key = "t-url", value = "3 &=", send_in = "url" },
  { key = "x-t-header", value = "4", send_in = "header" },
]
refresh_request = [
  { key = "r-default", value = "5" },
  { key = "r-body", value = "6", send_in = "body" },
  { key = "r-url", value = "7/+", send_in = "url" },
  { key = "x-r-header", value = "8", send_in = "header" },
]"#,
    )
    .await;
    assert_eq!(s.get(&server.api("/")).await.status, http::StatusCode::OK);
    server.revoke_all();
    assert_eq!(s.get(&server.api("/")).await.status, http::StatusCode::OK);
    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    let (grant, refresh) = (&calls[0], &calls[1]);
    assert_eq!(grant.param("grant_type"), Some("client_credentials"));
    assert_eq!(refresh.param("grant_type"), Some("refresh_token"));

    assert_eq!(places(grant, "t-default", "1"), ["body"]);
    assert_eq!(places(grant, "t-body", "2"), ["body"]);
    assert_eq!(places(grant, "t-url", "3 &="), ["url"]);
    assert_eq!(places(grant, "x-t-header", "4"), ["header"]);
    assert_eq!(places(refresh, "r-default", "5"), ["body"]);
    assert_eq!(places(refresh, "r-body", "6"), ["body"]);
    assert_eq!(places(refresh, "r-url", "7/+"), ["url"]);
    assert_eq!(places(refresh, "x-r-header", "8"), ["header"]);
    // Each kind carries its own parameters only.
    for (key, value) in [("t-default", "1"), ("t-url", "3 &="), ("x-t-header", "4")] {
        assert!(
            places(refresh, key, value).is_empty(),
            "{key} in the refresh"
        );
    }
    for (key, value) in [("r-default", "5"), ("r-url", "7/+"), ("x-r-header", "8")] {
        assert!(places(grant, key, value).is_empty(), "{key} in the grant");
    }
}
