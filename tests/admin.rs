//! The admin listener's address rule, in-process.

mod support;

use signet::admin::Admin;
use signet::config::Config;
use support::Proxy;

#[tokio::test]
async fn admin_refuses_a_non_loopback_address_without_client_auth() {
    let proxy = Proxy::start("").await;
    let config = Config::load(&proxy.dir.path().join("signet.toml")).unwrap();
    let admin = Admin::new(&config, proxy.running.signet.clone(), proxy.addr()).unwrap();
    let err = admin.bind("0.0.0.0:0".parse().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("client_auth"), "{err}");
    assert!(admin.bind("127.0.0.1:0".parse().unwrap()).await.is_ok());
}

#[tokio::test]
async fn admin_may_listen_widely_when_clients_must_authenticate() {
    let proxy =
        Proxy::start("[proxy]\nclient_auth = { username = \"me\", password = \"pw\" }\n").await;
    let config = Config::load(&proxy.dir.path().join("signet.toml")).unwrap();
    let admin = Admin::new(&config, proxy.running.signet.clone(), proxy.addr()).unwrap();
    assert!(admin.bind("0.0.0.0:0".parse().unwrap()).await.is_ok());
}

/// The status line and body of `GET /` on the admin endpoint at `addr`.
async fn get_page(addr: std::net::SocketAddr, authorization: Option<&str>) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    tcp.write_all(
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[tokio::test]
async fn the_page_needs_the_client_credentials_as_metrics_does() {
    let proxy =
        Proxy::start("[proxy]\nclient_auth = { username = \"me\", password = \"pw\" }\n").await;
    let config = Config::load(&proxy.dir.path().join("signet.toml")).unwrap();
    let admin = std::sync::Arc::new(
        Admin::new(&config, proxy.running.signet.clone(), proxy.addr()).unwrap(),
    );
    let listener = admin.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(admin.clone().serve(listener));
    let (status, body) = get_page(addr, None).await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    assert!(
        body.contains("/ needs the [proxy] client_auth credentials"),
        "{body}"
    );
    // "me:pw" in Basic.
    let (status, body) = get_page(addr, Some("Basic bWU6cHc=")).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("<h2>Rules</h2>"), "{body}");
    assert!(body.contains("<p>None yet.</p>"), "{body}");
}
