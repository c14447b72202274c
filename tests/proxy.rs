//! The proxy end to end, in-process: real origins, real signet, real HTTP/1.1 and HTTP/2 clients.

mod support;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use support::{Origin, Pki, Proxy, TlsSession, authorization, get, tls_request, via_proxy};

#[tokio::test]
async fn plain_http_request_is_forwarded_with_bearer_token() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start(&format!(
        r#"
[auth.api]
type = "bearer"
token = "t0ken"

[[host]]
match = ["127.0.0.1:{}"]
auth = "api"
"#,
        origin.port()
    ))
    .await;
    let answer = get(
        proxy.addr(),
        &format!("http://127.0.0.1:{}/v1/items?q=1", origin.port()),
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let seen = origin.last();
    assert_eq!(authorization(&seen).as_deref(), Some("Bearer t0ken"));
    assert_eq!(seen.uri.path_and_query().unwrap().as_str(), "/v1/items?q=1");
    assert_eq!(seen.headers["host"], format!("127.0.0.1:{}", origin.port()));
}

#[tokio::test]
async fn request_without_rule_is_forwarded_untouched() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start("").await;
    let url = format!("http://127.0.0.1:{}/x", origin.port());
    get(
        proxy.addr(),
        &url,
        &[("authorization", "Basic mine"), ("x-custom", "1")],
    )
    .await;
    let seen = origin.last();
    assert_eq!(authorization(&seen).as_deref(), Some("Basic mine"));
    assert_eq!(seen.headers["x-custom"], "1");
}

#[tokio::test]
async fn each_static_auth_type_is_applied() {
    let origin = Origin::plain().await;
    let port = origin.port();
    let proxy = Proxy::start(&format!(
        r#"
[[host]]
match = ["127.0.0.1:{port}"]
auth = "none"

  [[host.route]]
  path = "/basic"
  auth = {{ type = "basic", username = "Aladdin", password = "open sesame" }}

  [[host.route]]
  path = "/header-key"
  auth = {{ type = "apikey", key = "X-Api-Key", value = "k1" }}

  [[host.route]]
  path = "/query-key"
  auth = {{ type = "apikey", key = "api_key", value = "k 2", add_to = "query" }}

  [[host.route]]
  path = "/token"
  auth = {{ type = "bearer", token = "abc", prefix = "Token" }}
"#
    ))
    .await;
    let base = format!("http://127.0.0.1:{port}");
    get(
        proxy.addr(),
        &format!("{base}/basic"),
        &[("authorization", "Bearer client")],
    )
    .await;
    assert_eq!(
        authorization(&origin.last()).as_deref(),
        Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    );
    get(
        proxy.addr(),
        &format!("{base}/header-key"),
        &[("x-api-key", "client")],
    )
    .await;
    let seen = origin.last();
    assert_eq!(
        seen.headers.get_all("x-api-key").iter().collect::<Vec<_>>(),
        ["k1"]
    );
    get(
        proxy.addr(),
        &format!("{base}/query-key?api_key=client&a=1"),
        &[],
    )
    .await;
    assert_eq!(origin.last().uri.query(), Some("a=1&api_key=k%202"));
    get(proxy.addr(), &format!("{base}/token"), &[]).await;
    assert_eq!(authorization(&origin.last()).as_deref(), Some("Token abc"));
    get(proxy.addr(), &format!("{base}/other"), &[]).await;
    assert_eq!(authorization(&origin.last()), None);
}

#[tokio::test]
async fn jwt_tokens_reach_the_origin_in_the_header_or_the_query() {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/jwt/postman-runtime-vectors.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let case = &vectors["cases"][2];
    assert_eq!(case["name"], "postman-runtime-hs512");
    let token = case["token"].as_str().unwrap();
    let origin = Origin::plain().await;
    let port = origin.port();
    let proxy = Proxy::start(&format!(
        r#"
[auth.jwt]
type = "jwt"
algorithm = "HS512"
secret = "1111111111111111111111111111111a"
payload = '{{"a":"1"}}'

[[host]]
match = ["127.0.0.1:{port}"]
auth = "jwt"

  [[host.route]]
  path = "/query/**"
  auth = {{ type = "jwt", algorithm = "HS512", secret = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMWE=", is_secret_base64_encoded = true, payload = {{ a = "1" }}, add_token_to = "query_param", query_param_key = "access_token" }}
"#
    ))
    .await;
    let base = format!("http://127.0.0.1:{port}");
    get(
        proxy.addr(),
        &format!("{base}/v1?x=1"),
        &[("authorization", "Bearer client")],
    )
    .await;
    let seen = origin.last();
    assert_eq!(
        seen.headers
            .get_all("authorization")
            .iter()
            .collect::<Vec<_>>(),
        [format!("Bearer {token}").as_str()]
    );
    assert_eq!(seen.uri.query(), Some("x=1"));
    get(
        proxy.addr(),
        &format!("{base}/query/items?access_token=client&x=1"),
        &[],
    )
    .await;
    let seen = origin.last();
    assert_eq!(
        seen.uri.query(),
        Some(format!("x=1&access_token={token}").as_str())
    );
    assert_eq!(authorization(&seen), None);
}

#[tokio::test]
async fn routes_inherit_the_host_auth_unless_they_say_none() {
    let origin = Origin::plain().await;
    let port = origin.port();
    let proxy = Proxy::start(&format!(
        r#"
[auth.api]
type = "bearer"
token = "host-token"

[[host]]
match = ["127.0.0.1:{port}"]
auth = "api"

  [[host.route]]
  path = "/public/**"
  auth = "none"

  [[host.route]]
  path = "/admin/**"
  methods = ["POST", "DELETE"]
  auth = {{ type = "basic", username = "admin", password = "pw" }}

  [[host.route]]
  path = "/inherit/*"
"#
    ))
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let cases = [
        (Method::GET, "/public/a/b", None),
        (Method::GET, "/public/../private", Some("Bearer host-token")),
        (Method::POST, "/admin/users", Some("Basic YWRtaW46cHc=")),
        (Method::GET, "/admin/users", Some("Bearer host-token")),
        (Method::GET, "/inherit/x", Some("Bearer host-token")),
        (Method::GET, "/elsewhere", Some("Bearer host-token")),
    ];
    for (method, path, expected) in cases {
        let req = Request::builder()
            .method(method.clone())
            .uri(format!("{base}{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        via_proxy(proxy.addr(), req).await;
        assert_eq!(
            authorization(&origin.last()).as_deref(),
            expected,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn other_ports_names_and_host_headers_are_not_signed() {
    let signed = Origin::plain().await;
    let other = Origin::plain().await;
    let proxy = Proxy::start(&format!(
        r#"
[[host]]
match = ["localhost:{}"]
auth = {{ type = "bearer", token = "secret" }}
"#,
        signed.port()
    ))
    .await;
    // The rule names localhost on one port: the same server under its IP is another host…
    get(
        proxy.addr(),
        &format!("http://127.0.0.1:{}/", signed.port()),
        &[],
    )
    .await;
    assert_eq!(authorization(&signed.last()), None);
    // …another port is another destination, whatever Host header the client writes…
    let host = format!("localhost:{}", signed.port());
    get(
        proxy.addr(),
        &format!("http://localhost:{}/", other.port()),
        &[("host", &host)],
    )
    .await;
    let seen = other.last();
    assert_eq!(authorization(&seen), None);
    assert_eq!(seen.headers["host"], format!("localhost:{}", other.port()));
    // …and the named destination is signed.
    get(
        proxy.addr(),
        &format!("http://localhost:{}/", signed.port()),
        &[],
    )
    .await;
    assert_eq!(
        authorization(&signed.last()).as_deref(),
        Some("Bearer secret")
    );
}

#[tokio::test]
async fn proxy_authorization_is_checked_and_never_forwarded() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start(
        r#"
[proxy]
client_auth = { username = "me", password = "pw" }
"#,
    )
    .await;
    let url = format!("http://127.0.0.1:{}/", origin.port());
    let refused = get(proxy.addr(), &url, &[]).await;
    assert_eq!(refused.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert!(
        refused.headers["proxy-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert!(origin.requests().is_empty());

    let wrong = get(
        proxy.addr(),
        &url,
        &[("proxy-authorization", "Basic bWU6bm8=")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);

    let ok = get(
        proxy.addr(),
        &url,
        &[("proxy-authorization", "Basic bWU6cHc=")],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(!origin.last().headers.contains_key("proxy-authorization"));
}

#[tokio::test]
async fn denied_destination_gets_403_and_no_connection() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start(&format!(
        r#"
[proxy]
deny = ["127.0.0.1:{}"]
"#,
        origin.port()
    ))
    .await;
    let answer = get(
        proxy.addr(),
        &format!("http://127.0.0.1:{}/", origin.port()),
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.text().starts_with("signet: "), "{}", answer.text());
    assert!(origin.requests().is_empty());
    let tunnel = support::connect(proxy.addr(), &format!("127.0.0.1:{}", origin.port()), &[]).await;
    assert_eq!(tunnel.err().map(|a| a.status), Some(StatusCode::FORBIDDEN));
}

#[tokio::test]
async fn allow_list_refuses_everything_else() {
    let allowed = Origin::plain().await;
    let proxy = Proxy::start(&format!(
        "[proxy]\nallow = [\"127.0.0.1:{}\"]\n",
        allowed.port()
    ))
    .await;
    let ok = get(
        proxy.addr(),
        &format!("http://127.0.0.1:{}/", allowed.port()),
        &[],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let refused = get(proxy.addr(), "http://localhost:9/", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unreachable_upstream_gives_502_naming_host_and_reason() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = Proxy::start("").await;
    let answer = get(proxy.addr(), &format!("http://127.0.0.1:{port}/"), &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    let text = answer.text();
    assert!(text.starts_with("signet: "), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[tokio::test]
async fn origin_form_request_is_refused_with_a_hint() {
    let proxy = Proxy::start("").await;
    let req = Request::get("/just-a-path")
        .header("host", "example.test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = via_proxy(proxy.addr(), req).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("forward proxy"), "{}", answer.text());
}

#[tokio::test]
async fn unruled_connect_is_tunnelled_untouched() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start("").await;
    let target = format!("127.0.0.1:{}", origin.port());
    let mut session = TlsSession::open(
        proxy.addr(),
        &target,
        "localhost",
        &pki.ca_pem,
        &[b"http/1.1"],
    )
    .await;
    // The client sees the origin's own certificate: signet did not terminate TLS.
    assert_eq!(Some(&session.peer_cert), origin.cert.as_ref());
    let req = tls_request(&session, Method::GET, &target, "/t", Bytes::new());
    let answer = session.send(req).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(authorization(&origin.last()), None);
    assert_eq!(proxy.running.signet.leaves_minted(), 0);
}

#[tokio::test]
async fn non_loopback_listen_without_client_auth_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.toml");
    std::fs::write(&path, "").unwrap();
    let config = signet::config::Config::load(&path).unwrap();
    let signet = signet::proxy::Signet::build(&config).unwrap();
    let err = signet.bind("0.0.0.0:0".parse().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("open proxy"), "{err}");
}

#[tokio::test]
async fn intercept_none_tunnels_even_ruled_hosts() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&format!(
        "[proxy]\nintercept = \"none\"\n[[host]]\nmatch = [\"localhost:{}\"]\nauth = {{ type = \"bearer\", token = \"t\" }}\n",
        origin.port()
    ))
    .await;
    let target = format!("localhost:{}", origin.port());
    let mut session = TlsSession::open(
        proxy.addr(),
        &target,
        "localhost",
        &pki.ca_pem,
        &[b"http/1.1"],
    )
    .await;
    assert_eq!(Some(&session.peer_cert), origin.cert.as_ref());
    let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
    assert_eq!(session.send(req).await.status, StatusCode::OK);
    assert_eq!(authorization(&origin.last()), None);
}

/// signet chained to a parent proxy (another signet that requires proxy credentials and adds a
/// header of its own, so the test can see the request went through it).
async fn parent_proxy() -> Proxy {
    Proxy::start(
        r#"
[proxy]
client_auth = { username = "corp", password = "parent-pw" }
intercept = "none"

[[host]]
match = ["127.0.0.1:*", "localhost:*"]
auth = { type = "apikey", key = "X-Via-Parent", value = "yes" }
"#,
    )
    .await
}

/// A config that chains to `parent` with its Basic credentials, plus `rules`.
fn child_of(parent: &Proxy, rules: &str) -> String {
    format!(
        "[proxy]\nupstream_proxy = \"http://{}\"\nupstream_proxy_auth = \"corp\"\n\n\
         [auth.corp]\ntype = \"basic\"\nusername = \"corp\"\npassword = \"parent-pw\"\n\n{rules}",
        parent.addr()
    )
}

#[tokio::test]
async fn plain_requests_go_through_the_parent_proxy_with_its_credentials() {
    let origin = Origin::plain().await;
    let parent = parent_proxy().await;
    let proxy = Proxy::start(&child_of(
        &parent,
        &format!(
            "[[host]]\nmatch = [\"127.0.0.1:{}\"]\nauth = {{ type = \"bearer\", token = \"child\" }}\n",
            origin.port()
        ),
    ))
    .await;
    let answer = get(
        proxy.addr(),
        &format!("http://127.0.0.1:{}/chained", origin.port()),
        &[],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let seen = origin.last();
    assert_eq!(seen.headers["x-via-parent"], "yes");
    assert_eq!(authorization(&seen).as_deref(), Some("Bearer child"));
    assert!(!seen.headers.contains_key("proxy-authorization"));
}

#[tokio::test]
async fn https_goes_through_the_parent_proxy_as_a_connect_tunnel() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let parent = parent_proxy().await;
    let config = child_of(
        &parent,
        &format!(
            "[[host]]\nmatch = [\"localhost:{}\"]\nauth = {{ type = \"bearer\", token = \"child\" }}\n[host.tls]\nca = \"{}\"\n",
            origin.port(),
            pki.ca_path().display()
        ),
    );
    let proxy = Proxy::start(&config).await;
    let target = format!("localhost:{}", origin.port());
    // Intercepted by the child, tunnelled by the parent.
    let mut session = proxy.intercepted(&target, &[b"h2"]).await;
    let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
    assert_eq!(session.send(req).await.status, StatusCode::OK);
    assert_eq!(
        authorization(&origin.last()).as_deref(),
        Some("Bearer child")
    );
    // A tunnel the child does not intercept also goes through the parent.
    let other = Origin::tls(&pki).await;
    let target = format!("127.0.0.1:{}", other.port());
    let mut session = TlsSession::open(
        proxy.addr(),
        &target,
        "localhost",
        &pki.ca_pem,
        &[b"http/1.1"],
    )
    .await;
    let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
    assert_eq!(session.send(req).await.status, StatusCode::OK);

    // Without the parent's credentials the tunnel is refused, and the client learns why.
    let wrong = Proxy::start(&config.replace("parent-pw", "wrong")).await;
    let Err(refused) = support::connect(wrong.addr(), &target, &[]).await else {
        panic!("the tunnel should be refused");
    };
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY);
    assert!(refused.text().contains("407"), "{}", refused.text());
}
