//! Gateway listeners: origin-form requests to a gateway reach its upstream through the same
//! pipeline as proxied ones, under the rule of the upstream's destination.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/digest_origin.rs"]
mod digest_origin;
mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use digest_origin::{DigestOrigin, Spec, params};
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{Origin, Pki, authorization};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use signet::config::Config;
use signet::proxy::{Running, Signet};

/// signet with `toml` as its config, its gateways listening.
async fn start(toml: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap();
    let signet = Signet::build(&config).unwrap();
    let running =
        Running::start_with_gateways(signet, "127.0.0.1:0".parse().unwrap(), &config.gateways)
            .await
            .unwrap();
    (running, dir)
}

/// An HTTP/1.1 origin-form request to `gateway`, as a tool that knows nothing of proxies
/// sends it; the Host header names the gateway's own address.
async fn send(gateway: SocketAddr, req: Request<Full<Bytes>>) -> (StatusCode, Bytes) {
    let tcp = TcpStream::connect(gateway).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let response = sender.send_request(req).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn get(path: &str, host: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn bearer_config(upstream: &str, port: u16) -> String {
    format!(
        r#"
[[host]]
match = ["127.0.0.1:{port}"]
auth = {{ type = "bearer", token = "upstream-token" }}

[[host]]
match = ["client-chosen.example", "http://client-chosen.example"]
auth = {{ type = "bearer", token = "wrong-rule" }}

[[gateway]]
listen = "127.0.0.1:0"
upstream = "{upstream}"
"#
    )
}

#[tokio::test]
async fn the_upstream_rule_signs_and_the_path_joins_the_base_path() {
    let origin = Origin::plain().await;
    let upstream = format!("http://127.0.0.1:{}/base/", origin.port());
    let (running, _dir) = start(&bearer_config(&upstream, origin.port())).await;
    let req = Request::post("/items/7?view=full&x=%20")
        .header("host", "client-chosen.example")
        .header("authorization", "Bearer from-the-client")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let (status, body) = send(running.gateways[0], req).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(body, "payload", "the origin echoes the body");
    let seen = origin.last();
    assert_eq!(seen.uri.to_string(), "/base/items/7?view=full&x=%20");
    assert_eq!(
        seen.headers["host"],
        format!("127.0.0.1:{}", origin.port()).as_str(),
        "Host names the upstream, not what the client wrote"
    );
    assert_eq!(
        authorization(&seen).as_deref(),
        Some("Bearer upstream-token")
    );
}

#[tokio::test]
async fn a_digest_challenge_is_answered_over_the_joined_path() {
    let origin = DigestOrigin::start(Spec::new(&["SHA-256"], "auth")).await;
    let config = format!(
        r#"
[auth.d]
type = "digest"
username = "Mufasa"
password = "Circle of Life"

[[host]]
match = ["127.0.0.1:{port}"]
auth = "d"

[[gateway]]
listen = "127.0.0.1:0"
upstream = "http://127.0.0.1:{port}/dir"
"#,
        port = origin.port()
    );
    let (running, _dir) = start(&config).await;
    let (status, body) = send(running.gateways[0], get("/index.html?a=1", "localhost")).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let hits = origin.hits();
    assert_eq!(hits.len(), 2, "the challenge, then the replay");
    assert_eq!(hits[0].status, StatusCode::UNAUTHORIZED);
    assert_eq!(hits[1].accepted, Some(("SHA-256".into(), 1)));
    let sent = params(hits[1].headers["authorization"].to_str().unwrap());
    assert_eq!(sent["uri"], "/dir/index.html?a=1");
}

#[tokio::test]
async fn an_https_upstream_is_trusted_through_host_tls() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let config = format!(
        r#"
[[host]]
match = ["127.0.0.1:{port}"]
auth = {{ type = "bearer", token = "over-tls" }}
  [host.tls]
  ca = "{ca}"

[[gateway]]
listen = "127.0.0.1:0"
upstream = "https://127.0.0.1:{port}"
"#,
        port = origin.port(),
        ca = pki.ca_path().display()
    );
    let (running, _dir) = start(&config).await;
    let (status, body) = send(running.gateways[0], get("/secure", "localhost:9")).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let seen = origin.last();
    assert_eq!(seen.uri.path(), "/secure");
    assert_eq!(authorization(&seen).as_deref(), Some("Bearer over-tls"));
}

#[tokio::test]
async fn an_https_upstream_without_its_ca_is_a_502() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let upstream = format!("https://127.0.0.1:{}", origin.port());
    let (running, _dir) = start(&bearer_config(&upstream, origin.port())).await;
    let (status, body) = send(running.gateways[0], get("/secure", "localhost")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body:?}");
    assert!(origin.requests().is_empty());
}

#[tokio::test]
async fn an_h2c_client_is_served() {
    let origin = Origin::plain().await;
    let upstream = format!("http://127.0.0.1:{}/v2", origin.port());
    let (running, _dir) = start(&bearer_config(&upstream, origin.port())).await;
    let tcp = TcpStream::connect(running.gateways[0]).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("http://client-chosen.example/status")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let seen = origin.last();
    assert_eq!(seen.uri.path(), "/v2/status");
    assert_eq!(
        authorization(&seen).as_deref(),
        Some("Bearer upstream-token")
    );
}

#[tokio::test]
async fn a_client_outside_clients_is_closed_before_anything_is_read() {
    let origin = Origin::plain().await;
    let config = format!(
        "{}clients = [\"192.0.2.0/24\"]\n",
        bearer_config(
            &format!("http://127.0.0.1:{}", origin.port()),
            origin.port()
        )
    );
    let (running, _dir) = start(&config).await;
    let mut tcp = TcpStream::connect(running.gateways[0]).await.unwrap();
    let _ = tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tcp.read_to_end(&mut answer),
    )
    .await
    .expect("the gateway kept the connection open");
    assert!(read.is_err() || answer.is_empty(), "answered: {answer:?}");
    assert!(origin.requests().is_empty());
}

#[tokio::test]
async fn egress_deny_applies_to_the_upstream() {
    let origin = Origin::plain().await;
    let config = format!(
        "[proxy]\ndeny = [\"127.0.0.1:{}\"]\n{}",
        origin.port(),
        bearer_config(
            &format!("http://127.0.0.1:{}", origin.port()),
            origin.port()
        )
    );
    let (running, _dir) = start(&config).await;
    let (status, _) = send(running.gateways[0], get("/", "localhost")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(origin.requests().is_empty());
}

const API_RULE: &str =
    "[[host]]\nmatch = [\"api.example.com\"]\nauth = { type = \"bearer\", token = \"t\" }\n";

#[test]
fn check_refuses_a_non_loopback_gateway_without_clients() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{API_RULE}\n[[gateway]]\nlisten = \"0.0.0.0:9000\"\nupstream = \"https://api.example.com\"\n"
    );
    let out = cli::signet(dir.path(), &config, &["check"]);
    let err = cli::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("signet.toml:6:1: gateway[0].listen:") && err.contains("clients"),
        "{err}"
    );
    let bad_client = format!("{config}clients = [\"172.17.0.0/33\"]\n");
    let out = cli::signet(dir.path(), &bad_client, &["check"]);
    let err = cli::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gateway[0].clients[0]"), "{err}");
}

#[test]
fn check_and_explain_show_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{API_RULE}\n[[gateway]]\nlisten = \"[::]:9000\"\nupstream = \"https://api.example.com/v1/\"\nclients = [\"172.17.0.0/16\"]\n\n[[gateway]]\nlisten = \"9001\"\nupstream = \"http://other.example\"\n"
    );
    let out = cli::signet(dir.path(), &config, &["check"]);
    let text = cli::stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", cli::stderr(&out));
    assert!(
        text.contains(
            "gateway[0] [::]:9000 -> https://api.example.com/v1 (clients 172.17.0.0/16) rule host[0] (api.example.com)"
        ),
        "{text}"
    );
    assert!(
        text.contains("gateway[1] 127.0.0.1:9001 -> http://other.example rule none"),
        "{text}"
    );
    let out = cli::signet(
        dir.path(),
        &config,
        &["explain", "http://127.0.0.1:9001/a?b=c"],
    );
    let text = cli::stdout(&out);
    assert!(
        text.contains("gateway 127.0.0.1:9001 -> http://other.example/a?b=c"),
        "{text}"
    );
    assert!(text.contains("rule none"), "{text}");
}

#[test]
fn bad_gateway_arguments_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    for (arg, says) in [
        ("9000", "LISTEN=UPSTREAM"),
        ("9000=api.example.com", "needs a scheme"),
        ("nowhere=https://api.example.com", "host:port"),
        ("0.0.0.0:9000=https://api.example.com", "clients"),
        ("9000=https://api.example.com/v1?x=1", "without a query"),
    ] {
        let out = cli::signet(dir.path(), "", &["run", "--gateway", arg]);
        let err = cli::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{arg}: {err}");
        assert!(
            err.contains("--gateway") && err.contains(says),
            "{arg}: {err}"
        );
    }
}
