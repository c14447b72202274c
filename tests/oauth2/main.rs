//! OAuth 2.0 end to end, in-process: a token endpoint and an API that only accepts the tokens it
//! issued, signet between the client and the API, and a clock the tests move by hand.

mod bad_tokens;
mod expiry;
mod extras;
mod hanging;
mod metrics;
mod parent;
#[path = "../support/parent_proxy.rs"]
mod parent_proxy;
mod reload;
mod server;
mod slow_store;
#[path = "../support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use server::{AuthServer, CLIENT_ID, CLIENT_SECRET};
use signet::auth::{Clock, OsEntropy};
use signet::config::Config;
use signet::proxy::{Running, Signet};
use support::{get, via_proxy};

/// A clock that stands still until a test moves it.
#[derive(Clone)]
struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    fn new() -> Self {
        ManualClock(Arc::new(Mutex::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )))
    }
    fn advance(&self, secs: u64) {
        *self.0.lock().unwrap() += Duration::from_secs(secs);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

struct Setup {
    running: Running,
    dir: tempfile::TempDir,
    clock: ManualClock,
}

/// signet with one oauth2 profile `api` for the server's API; `extra` adds keys to the profile.
async fn start(server: &AuthServer, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    start_in(server, extra, dir).await
}

/// The config of [`start`]: one oauth2 profile `api` for the server's API, with `extra` keys.
fn profile_toml(server: &AuthServer, extra: &str) -> String {
    format!(
        r#"
[auth.api]
type = "oauth2"
grant_type = "client_credentials"
access_token_url = "{}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scope = "read write"
{extra}

[[host]]
match = ["{}"]
auth = "api"
"#,
        server.token_url(),
        server.api_addr
    )
}

async fn start_in(server: &AuthServer, extra: &str, dir: tempfile::TempDir) -> Setup {
    start_toml(&profile_toml(server, extra), dir).await
}

/// signet with the config `toml`, written to `dir`, and a manual clock.
async fn start_toml(toml: &str, dir: tempfile::TempDir) -> Setup {
    let path = dir.path().join("signet.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap();
    let clock = ManualClock::new();
    let signet = Signet::build_with(&config, Arc::new(clock.clone()), Arc::new(OsEntropy)).unwrap();
    let running = Running::start(signet, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Setup {
        running,
        dir,
        clock,
    }
}

impl Setup {
    async fn get(&self, url: &str) -> support::Answer {
        get(self.running.addr, url, &[]).await
    }
}

#[tokio::test]
async fn client_credentials_token_is_fetched_once_and_sent_as_bearer() {
    let server = AuthServer::start().await;
    let s = start(&server, "").await;
    for _ in 0..3 {
        let answer = s.get(&server.api("/items")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    let calls = server.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].param("grant_type"), Some("client_credentials"));
    assert_eq!(calls[0].param("scope"), Some("read write"));
    assert!(
        calls[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(calls[0].param("client_secret"), None);
    let api = server.api_calls();
    assert!(
        api.iter()
            .all(|c| c.authorization.as_deref() == Some("Bearer tok-1"))
    );
}

#[tokio::test]
async fn client_secret_in_the_body_when_configured() {
    let server = AuthServer::start().await;
    let s = start(&server, r#"client_authentication = "body""#).await;
    assert_eq!(s.get(&server.api("/")).await.status, StatusCode::OK);
    let call = &server.calls()[0];
    assert_eq!(call.authorization, None);
    assert_eq!(call.param("client_id"), Some(CLIENT_ID));
    assert_eq!(call.param("client_secret"), Some(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_share_one_token_request() {
    let server = AuthServer::start().await;
    server.set(|b| b.delay = Duration::from_millis(300));
    let s = Arc::new(start(&server, "").await);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        let url = server.api(&format!("/n/{i}"));
        tasks.push(tokio::spawn(async move { s.get(&url).await.status }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(server.calls().len(), 1);
    assert_eq!(server.api_calls().len(), 50);
    let metrics = s.running.signet.metrics_text();
    assert!(
        metrics.contains("signet_token_fetches_total 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn token_is_refreshed_ahead_of_expiry_and_an_expired_one_is_never_sent() {
    let server = AuthServer::start().await;
    server.set(|b| b.expires_in = serde_json::json!(120));
    let s = start(&server, "refresh_skew = 30").await;
    let url = server.api("/");
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    s.clock.advance(80);
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    assert_eq!(server.calls().len(), 1, "still fresh at 80 s of 120");

    s.clock.advance(15); // 95 s: inside the 30 s margin
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].param("grant_type"), Some("refresh_token"));
    assert_eq!(calls[1].param("refresh_token"), Some("rt-1"));
    assert_eq!(
        server.api_calls().last().unwrap().authorization.as_deref(),
        Some("Bearer tok-2")
    );

    // tok-2 expires at 95 + 120 s; past that, with the endpoint down, nothing is sent.
    server.set(|b| b.down = true);
    s.clock.advance(200);
    let before = server.api_calls().len();
    let answer = s.get(&url).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        server.api_calls().len(),
        before,
        "an expired token reached the API"
    );
}

#[tokio::test]
async fn within_the_margin_a_failed_refresh_keeps_the_valid_token() {
    let server = AuthServer::start().await;
    server.set(|b| b.expires_in = serde_json::json!(120));
    let s = start(&server, "").await;
    let url = server.api("/");
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    server.set(|b| b.down = true);
    s.clock.advance(100);
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    assert_eq!(
        server.api_calls().last().unwrap().authorization.as_deref(),
        Some("Bearer tok-1")
    );
}

#[tokio::test]
async fn auto_refresh_off_keeps_the_token_until_it_expires() {
    let server = AuthServer::start().await;
    server.set(|b| b.expires_in = serde_json::json!(120));
    let s = start(&server, "auto_refresh = false").await;
    let url = server.api("/");
    s.get(&url).await;
    s.clock.advance(110);
    s.get(&url).await;
    assert_eq!(server.calls().len(), 1);
    s.clock.advance(20);
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    assert_eq!(server.calls().len(), 2);
}

#[tokio::test]
async fn api_401_triggers_one_refresh_and_a_byte_exact_replay() {
    let server = AuthServer::start().await;
    let s = start(&server, "").await;
    assert_eq!(s.get(&server.api("/")).await.status, StatusCode::OK);
    server.revoke_all();

    let body: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let req = Request::post(server.api("/upload"))
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let answer = via_proxy(s.running.addr, req).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.body, body);

    let calls = server.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].param("grant_type"), Some("refresh_token"));
    let api = server.api_calls();
    let uploads: Vec<_> = api.iter().filter(|c| c.uri.path() == "/upload").collect();
    assert_eq!(uploads.len(), 2);
    assert!(!uploads[0].accepted && uploads[1].accepted);
    assert_eq!(uploads[0].body, body);
    assert_eq!(uploads[1].body, body);
    assert_eq!(uploads[1].authorization.as_deref(), Some("Bearer tok-2"));
}

#[tokio::test]
async fn a_second_401_is_passed_to_the_client_not_retried() {
    let server = AuthServer::start().await;
    let s = start(&server, r#"header_prefix = "Token""#).await;
    // The API only knows "Bearer", so every signed request is refused.
    let answer = s.get(&server.api("/")).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.api_calls().len(), 2, "one request and one replay");
    assert_eq!(
        server.api_calls()[0].authorization.as_deref(),
        Some("Token tok-1")
    );
}

#[tokio::test]
async fn endpoint_down_gives_503_with_the_oauth_error_then_backs_off_and_recovers() {
    let server = AuthServer::start().await;
    server.set(|b| b.down = true);
    let s = start(&server, "").await;
    let url = server.api("/");
    let answer = s.get(&url).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let text = answer.text();
    assert!(text.starts_with("signet: "), "{text}");
    assert!(
        text.contains("temporarily_unavailable") && text.contains("maintenance window"),
        "{text}"
    );

    // Within the back-off nothing reaches the endpoint.
    for _ in 0..5 {
        assert_eq!(s.get(&url).await.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(server.calls().len(), 1);
    assert!(server.api_calls().is_empty());

    server.set(|b| b.down = false);
    s.clock.advance(2);
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    assert_eq!(server.calls().len(), 2);
}

#[tokio::test]
async fn unreachable_endpoint_gives_503_naming_the_cause() {
    let server = AuthServer::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
[[host]]
match = ["{}"]
auth = {{ type = "oauth2", grant_type = "client_credentials", access_token_url = "http://127.0.0.1:{port}/t", client_id = "c", client_secret = "s" }}
"#,
        server.api_addr
    );
    std::fs::write(dir.path().join("signet.toml"), toml).unwrap();
    let config = Config::load(&dir.path().join("signet.toml")).unwrap();
    let running = Running::start(
        Signet::build(&config).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let answer = get(running.addr, &server.api("/"), &[]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.text().contains("unreachable"), "{}", answer.text());
}

#[tokio::test]
async fn lenient_answer_with_string_expiry_and_scope_list() {
    let server = AuthServer::start().await;
    server.set(|b| {
        b.quirky = true;
        b.expires_in = serde_json::json!("120");
    });
    let s = start(&server, "").await;
    let url = server.api("/");
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.dir.path().join("tokens/api.json")).unwrap())
            .unwrap();
    assert_eq!(stored["scopes"], serde_json::json!(["read", "write"]));
    let now = s
        .clock
        .now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(stored["expires_at"], serde_json::json!(now + 120));
    // The string expiry is honoured: 100 s later the token is refreshed (30 s margin).
    s.clock.advance(100);
    assert_eq!(s.get(&url).await.status, StatusCode::OK);
    assert_eq!(server.calls().len(), 2);
}

#[tokio::test]
async fn token_store_survives_a_restart_and_is_private() {
    let server = AuthServer::start().await;
    let s = start(&server, "").await;
    assert_eq!(s.get(&server.api("/")).await.status, StatusCode::OK);
    let Setup { running, dir, .. } = s;
    drop(running);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tokens/api.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let s = start_in(&server, "", dir).await;
    // The manual clock starts at the same instant, so the stored token is still fresh.
    assert_eq!(s.get(&server.api("/")).await.status, StatusCode::OK);
    assert_eq!(server.calls().len(), 1);
}

#[tokio::test]
async fn id_token_and_query_placement() {
    let server = AuthServer::start().await;
    let s = start(&server, "token_type = \"id_token\"\nadd_to = \"query\"").await;
    let answer = s.get(&server.api("/q?a=1&access_token=client")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let call = server.api_calls().pop().unwrap();
    assert_eq!(call.uri.query(), Some("a=1&access_token=id-1"));
    assert_eq!(call.authorization, None);
}

#[tokio::test]
async fn extra_parameters_reach_token_and_refresh_requests() {
    let server = AuthServer::start().await;
    let s = start(
        &server,
        r#"audience = "https://api"
token_request = [{ key = "t", value = "1" }, { key = "x-tenant", value = "acme", send_in = "header" }]
refresh_request = [{ key = "r", value = "2", send_in = "url" }]"#,
    )
    .await;
    s.get(&server.api("/")).await;
    server.revoke_all();
    s.get(&server.api("/")).await;
    let calls = server.calls();
    assert_eq!(calls[0].param("audience"), Some("https://api"));
    assert_eq!(calls[0].param("t"), Some("1"));
    assert_eq!(calls[0].headers["x-tenant"], "acme");
    assert_eq!(calls[1].param("grant_type"), Some("refresh_token"));
    assert_eq!(calls[1].query.as_deref(), Some("r=2"));
    assert_eq!(calls[1].param("t"), None);
}

/// The token source of profile `name` in `toml` (written to `dir`).
fn source_of(dir: &std::path::Path, toml: &str, name: &str) -> Arc<signet::oauth2::TokenSource> {
    let path = dir.join("signet.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap();
    let policy = signet::policy::Policy::from_config(&config).unwrap();
    match policy.token_source(name) {
        Some(source) => source.clone(),
        None => panic!("{name} is not an oauth2 profile"),
    }
}

fn implicit_toml(port: u16) -> String {
    format!(
        r#"
[auth.web]
type = "oauth2"
grant_type = "implicit"
auth_url = "https://as.example/authorize"
client_id = "web"
callback_url = "http://127.0.0.1:{port}/cb"
state = "fixed-state-0123456789"
scope = "read"
"#
    )
}

async fn implicit_login(
    post_body: &'static str,
) -> (
    Result<signet::oauth2::Token, signet::oauth2::LoginError>,
    support::Answer,
    support::Answer,
    tempfile::TempDir,
) {
    use signet::oauth2::{Login, LoginOptions};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = source_of(dir.path(), &implicit_toml(port), "web");
    let login = Login::prepare(source).await.unwrap();
    assert!(login.url().starts_with("https://as.example/authorize?response_type=token&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A"));
    let opts = LoginOptions {
        timeout: Duration::from_secs(10),
        open_browser: false,
    };
    let task = tokio::spawn(async move { login.finish(&opts).await });
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let url = format!("http://127.0.0.1:{port}/cb");
    // The browser arrives without the fragment, gets the page, and the page posts the fragment.
    let page = get(addr, &url, &[]).await;
    let post = Request::post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(post_body.as_bytes())))
        .unwrap();
    let posted = via_proxy(addr, post).await;
    (task.await.unwrap(), page, posted, dir)
}

#[tokio::test]
async fn implicit_login_takes_the_token_from_the_posted_fragment() {
    let (result, page, posted, dir) = implicit_login(
        "access_token=imp-1&token_type=bearer&expires_in=600&state=fixed-state-0123456789",
    )
    .await;
    assert!(page.text().contains("location.hash"), "{}", page.text());
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.text());
    let token = result.unwrap();
    assert_eq!(token.access_token.expose(), "imp-1");
    assert_eq!(token.scopes, ["read"]);
    let stored = std::fs::read_to_string(dir.path().join("tokens/web.json")).unwrap();
    assert!(stored.contains("imp-1"));
}

#[tokio::test]
async fn implicit_login_with_another_state_stores_nothing() {
    let (result, _, posted, dir) =
        implicit_login("access_token=evil&token_type=bearer&state=guessed").await;
    assert_eq!(posted.status, StatusCode::BAD_REQUEST);
    assert!(matches!(
        result,
        Err(signet::oauth2::LoginError::StateMismatch)
    ));
    assert!(!dir.path().join("tokens/web.json").exists());
}

#[tokio::test]
async fn login_refuses_non_browser_grants_and_non_loopback_callbacks() {
    use signet::oauth2::{Login, LoginError};
    let server = AuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
[auth.cc]
type = "oauth2"
grant_type = "client_credentials"
access_token_url = "{}"
client_id = "c"

[auth.code]
type = "oauth2"
grant_type = "authorization_code"
auth_url = "https://as.example/a"
access_token_url = "https://as.example/t"
client_id = "c"
callback_url = "http://192.0.2.1:8080/cb"
"#,
        server.token_url()
    );
    let cc = source_of(dir.path(), &toml, "cc");
    assert!(matches!(
        Login::prepare(cc).await,
        Err(LoginError::NotBrowserGrant(..))
    ));
    let code = source_of(dir.path(), &toml, "code");
    match Login::prepare(code).await {
        Err(LoginError::Callback(m)) => assert!(m.contains("loopback"), "{m}"),
        _ => panic!("a non-loopback callback_url was accepted"),
    }
}

#[tokio::test]
async fn bad_oauth2_config_points_at_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.toml");
    std::fs::write(
        &path,
        r#"
[auth.x]
type = "oauth2"
grant_type = "authorization_code_pkce"
auth_url = "https://as/a"
access_token_url = "https://as/t"
client_id = "c"
code_challenge_method = "S512"
"#,
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    let err = signet::policy::Policy::from_config(&config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("auth.x.code_challenge_method") && err.contains("not S256 or plain"),
        "{err}"
    );
}
