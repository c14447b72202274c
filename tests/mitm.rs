//! Intercepted HTTPS end to end, in-process: signet's leaf certificates, HTTP/1.1 and HTTP/2
//! inside the tunnel, misdirected requests, large bodies, WebSocket, client certificates and
//! upstream trust.

mod support;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use support::{Origin, Pki, Proxy, TlsSession, authorization, tls_request, via_proxy};

fn mitm_config(origin: &Origin, pki: &Pki, auth: &str) -> String {
    format!(
        r#"
[[host]]
match = ["localhost:{}"]
auth = {auth}

  [host.tls]
  ca = "{}"
"#,
        origin.port(),
        pki.ca_path().display()
    )
}

async fn mitm_round_trip(alpn: &[&[u8]], expect_h2: bool) {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&mitm_config(
        &origin,
        &pki,
        r#"{ type = "bearer", token = "mitm-token" }"#,
    ))
    .await;
    let target = format!("localhost:{}", origin.port());
    // The client trusts only signet's CA.
    let mut session =
        TlsSession::open(proxy.addr(), &target, "localhost", &proxy.ca_pem(), alpn).await;
    assert_eq!(session.alpn_h2, expect_h2);
    assert_ne!(Some(&session.peer_cert), origin.cert.as_ref());
    for i in 0..3 {
        let req = tls_request(
            &session,
            Method::GET,
            &target,
            &format!("/r/{i}"),
            Bytes::new(),
        );
        let answer = session.send(req).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        let seen = origin.last();
        assert_eq!(authorization(&seen).as_deref(), Some("Bearer mitm-token"));
        assert_eq!(seen.uri.path(), format!("/r/{i}"));
    }
    assert_eq!(proxy.running.signet.leaves_minted(), 1);
}

#[tokio::test]
async fn intercepted_https_over_http1_is_signed() {
    mitm_round_trip(&[b"http/1.1"], false).await;
}

#[tokio::test]
async fn intercepted_https_over_http2_is_signed() {
    mitm_round_trip(&[b"h2", b"http/1.1"], true).await;
}

#[tokio::test]
async fn upstream_speaks_the_clients_http_version_when_the_origin_offers_both() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&mitm_config(&origin, &pki, r#""none""#)).await;
    let target = format!("localhost:{}", origin.port());
    for (alpn, version) in [
        (&b"http/1.1"[..], http::Version::HTTP_11),
        (&b"h2"[..], http::Version::HTTP_2),
    ] {
        let mut session = proxy.intercepted(&target, &[alpn]).await;
        let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
        assert_eq!(session.send(req).await.status, StatusCode::OK);
        assert_eq!(origin.last().version, version);
    }
}

#[tokio::test]
async fn host_header_naming_another_host_gets_421_and_nothing_is_sent() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&mitm_config(
        &origin,
        &pki,
        r#"{ type = "bearer", token = "t" }"#,
    ))
    .await;
    let target = format!("localhost:{}", origin.port());
    let mut session = proxy.intercepted(&target, &[b"http/1.1"]).await;
    let req = tls_request(&session, Method::GET, "evil.test", "/", Bytes::new());
    let answer = session.send(req).await;
    assert_eq!(answer.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(answer.text().starts_with("signet: "));
    let other_port = format!("localhost:{}", origin.port() + 1);
    let req = tls_request(&session, Method::GET, &other_port, "/", Bytes::new());
    assert_eq!(
        session.send(req).await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
    assert!(origin.requests().is_empty());
}

#[tokio::test]
async fn sni_naming_another_host_gets_421() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&format!(
        "[proxy]\nintercept = \"all\"\n[[host]]\nmatch = [\"localhost:{}\"]\n[host.tls]\nca = \"{}\"\n",
        origin.port(),
        pki.ca_path().display()
    ))
    .await;
    let target = format!("localhost:{}", origin.port());
    // The certificate is minted for the CONNECT host, so the client must expect that name…
    let mut session = proxy.intercepted(&target, &[b"http/1.1"]).await;
    let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
    assert_eq!(session.send(req).await.status, StatusCode::OK);
    // …while a ClientHello for another name is answered 421, even with a matching Host header.
    let mut session =
        TlsSession::open_accepting_any_cert(proxy.addr(), &target, "other.test").await;
    let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
    let answer = session.send(req).await;
    assert_eq!(
        answer.status,
        StatusCode::MISDIRECTED_REQUEST,
        "{}",
        answer.text()
    );
    assert_eq!(origin.requests().len(), 1);
}

#[tokio::test]
async fn one_mebibyte_bodies_pass_byte_exact_both_ways() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&mitm_config(
        &origin,
        &pki,
        r#"{ type = "bearer", token = "t" }"#,
    ))
    .await;
    let target = format!("localhost:{}", origin.port());
    let body: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let body = Bytes::from(body);
    for alpn in [&[b"http/1.1".as_slice()][..], &[b"h2".as_slice()][..]] {
        let mut session =
            TlsSession::open(proxy.addr(), &target, "localhost", &proxy.ca_pem(), alpn).await;
        let req = tls_request(&session, Method::PUT, &target, "/upload", body.clone());
        let answer = session.send(req).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            origin.last().body,
            body,
            "request body reached the origin intact"
        );
        assert_eq!(answer.body, body, "response body reached the client intact");
    }
    // And over plain HTTP.
    let plain = Origin::plain().await;
    let req = Request::put(format!("http://127.0.0.1:{}/up", plain.port()))
        .body(Full::new(body.clone()))
        .unwrap();
    let answer = via_proxy(proxy.addr(), req).await;
    assert_eq!(plain.last().body, body);
    assert_eq!(answer.body, body);
}

#[tokio::test]
async fn websocket_upgrade_is_authorized_and_echoes_through_mitm() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&mitm_config(
        &origin,
        &pki,
        r#"{ type = "bearer", token = "ws-token" }"#,
    ))
    .await;
    let target = format!("localhost:{}", origin.port());
    let mut session = proxy.intercepted(&target, &[b"http/1.1"]).await;
    let req = Request::get("/ws")
        .header("host", &target)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = session.send_raw(req).await;
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        authorization(&origin.last()).as_deref(),
        Some("Bearer ws-token")
    );
    let mut io = hyper_util::rt::TokioIo::new(hyper::upgrade::on(response).await.unwrap());
    // A masked WebSocket text frame "hello".
    let frame = [
        0x81u8,
        0x85,
        1,
        2,
        3,
        4,
        b'h' ^ 1,
        b'e' ^ 2,
        b'l' ^ 3,
        b'l' ^ 4,
        b'o' ^ 1,
    ];
    io.write_all(&frame).await.unwrap();
    let mut echoed = [0u8; 11];
    io.read_exact(&mut echoed).await.unwrap();
    assert_eq!(echoed, frame);
}

#[tokio::test]
async fn client_certificate_is_presented_to_an_origin_that_requires_it() {
    let pki = Pki::new();
    let origin = Origin::mtls(&pki).await;
    let (cert, key) = pki.client_identity();
    let with_identity = format!(
        "[[host]]\nmatch = [\"localhost:{}\"]\n[host.tls]\nca = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        origin.port(),
        pki.ca_path().display(),
        cert.display(),
        key.display()
    );
    let proxy = Proxy::start(&with_identity).await;
    let target = format!("localhost:{}", origin.port());
    let mut session = proxy.intercepted(&target, &[b"http/1.1"]).await;
    let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
    assert_eq!(session.send(req).await.status, StatusCode::OK);

    // Without the identity the origin refuses the handshake and the client gets a 502 that says so.
    let without = Proxy::start(&mitm_config(&origin, &pki, r#""none""#)).await;
    let mut session = without.intercepted(&target, &[b"http/1.1"]).await;
    let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
    let answer = session.send(req).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(answer.text().contains("localhost"), "{}", answer.text());
}

#[tokio::test]
async fn untrusted_upstream_certificate_gives_502_with_reason() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    // The rule does not add the origin's CA, so the system roots alone must refuse it.
    let proxy = Proxy::start(&format!(
        "[[host]]\nmatch = [\"localhost:{}\"]\n",
        origin.port()
    ))
    .await;
    let target = format!("localhost:{}", origin.port());
    let mut session = proxy.intercepted(&target, &[b"http/1.1"]).await;
    let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
    let answer = session.send(req).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(answer.text().contains("not trusted"), "{}", answer.text());
    assert!(origin.requests().is_empty());
}
