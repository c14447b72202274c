//! Timeouts and caps of `[proxy]`: a client or an upstream that stalls is cut off after its
//! timeout with a clear answer, extra connections wait for a place, and malformed input is
//! answered as the client's fault. Timeouts are set to a second so that each test is short;
//! every wait in a test is bounded.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use support::{Origin, Pki, Proxy, connect, get, tls_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Long enough for any timeout under test to have fired, short enough to fail fast.
const BOUND: Duration = Duration::from_secs(10);

/// Reads until the peer closes; `Err` if it is still open after `BOUND`.
async fn read_to_close(stream: &mut (impl AsyncReadExt + Unpin)) -> Result<String, &'static str> {
    let mut all = Vec::new();
    match tokio::time::timeout(BOUND, stream.read_to_end(&mut all)).await {
        Ok(_) => Ok(String::from_utf8_lossy(&all).into_owned()),
        Err(_) => Err("still open"),
    }
}

/// A listener that accepts connections and never says a word.
async fn silent_upstream() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

#[tokio::test]
async fn an_incomplete_request_head_is_dropped_after_header_read_timeout() {
    let proxy = Proxy::start("[proxy]\nheader_read_timeout = 1\n").await;
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client
        .write_all(b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
        .await
        .unwrap();
    read_to_close(&mut client)
        .await
        .expect("a client that never finished its head was kept");
}

#[tokio::test]
async fn a_stalled_request_body_is_dropped_after_idle_timeout() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start("[proxy]\nidle_timeout = 1\nresponse_timeout = 60\n").await;
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let head = format!(
        "POST http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 100\r\n\r\n0123456789",
        port = origin.port()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    read_to_close(&mut client)
        .await
        .expect("a client whose body stalled was kept");
}

#[tokio::test]
async fn a_silent_client_in_an_intercepted_tunnel_is_dropped_after_tls_handshake_timeout() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&format!(
        "[proxy]\ntls_handshake_timeout = 1\n\n[[host]]\nmatch = [\"localhost:{}\"]\n\
         auth = {{ type = \"bearer\", token = \"t\" }}\n",
        origin.port()
    ))
    .await;
    let mut tunnel = connect(proxy.addr(), &format!("localhost:{}", origin.port()), &[])
        .await
        .expect("CONNECT refused");
    read_to_close(&mut tunnel)
        .await
        .expect("a tunnel without a ClientHello was kept");
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_for_a_place() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start("[proxy]\nmax_connections = 2\n").await;
    let first = TcpStream::connect(proxy.addr()).await.unwrap();
    let _second = TcpStream::connect(proxy.addr()).await.unwrap();
    let url = format!("http://127.0.0.1:{}/third", origin.port());
    let third = tokio::spawn(async move { get(proxy.addr(), &url, &[]).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served while two were held"
    );
    drop(first);
    let answer = tokio::time::timeout(BOUND, third)
        .await
        .expect("the third connection never got the freed place")
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn open_tunnels_hold_their_places_under_max_connections() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start("[proxy]\nmax_connections = 2\n").await;
    let target = format!("127.0.0.1:{}", origin.port());
    let first = connect(proxy.addr(), &target, &[])
        .await
        .expect("CONNECT refused");
    let _second = connect(proxy.addr(), &target, &[])
        .await
        .expect("CONNECT refused");
    let url = format!("http://127.0.0.1:{}/third", origin.port());
    let third = tokio::spawn(async move { get(proxy.addr(), &url, &[]).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served while two tunnels were open"
    );
    drop(first);
    let answer = tokio::time::timeout(BOUND, third)
        .await
        .expect("the third connection never got the place a closed tunnel freed")
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn an_upstream_that_never_answers_gets_a_504_naming_it() {
    let (port, _upstream) = silent_upstream().await;
    let proxy = Proxy::start("[proxy]\nresponse_timeout = 1\n").await;
    let url = format!("http://127.0.0.1:{port}/");
    let answer = tokio::time::timeout(BOUND, get(proxy.addr(), &url, &[]))
        .await
        .expect("no answer: the upstream's silence held the client");
    assert_eq!(
        answer.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        answer.text()
    );
    let text = answer.text();
    assert!(text.starts_with("signet: "), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("response_timeout"), "{text}");
}

#[tokio::test]
async fn an_upload_that_takes_longer_than_response_timeout_is_not_cut_off() {
    // Eight pieces, a quarter of a second apart: two seconds of steady upload against a
    // response timeout of one. The timeout counts from the end of the body, not its start.
    let origin = Origin::plain().await;
    let proxy = Proxy::start("[proxy]\nresponse_timeout = 1\nidle_timeout = 5\n").await;
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let piece = [b'u'; 1000];
    let head = format!(
        "PUT http://127.0.0.1:{port}/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n",
        port = origin.port(),
        len = 8 * piece.len()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        // A proxy that gave up early has closed: the answer below says what it sent.
        let _ = client.write_all(&piece).await;
    }
    let answer = read_to_close(&mut client)
        .await
        .expect("no answer to the upload");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = origin.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body.len(), 8 * piece.len());
}

#[tokio::test]
async fn an_upstream_silent_after_a_request_body_gets_a_504() {
    let (port, _upstream) = silent_upstream().await;
    let proxy = Proxy::start("[proxy]\nresponse_timeout = 1\n").await;
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let head = format!(
        "POST http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 10\r\nConnection: close\r\n\r\n0123456789"
    );
    client.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut client)
        .await
        .expect("no answer from signet");
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("response_timeout"), "{answer}");
}

#[tokio::test]
async fn an_origin_that_never_finishes_the_tls_handshake_gets_a_502_saying_so() {
    let (port, _upstream) = silent_upstream().await;
    let proxy = Proxy::start(&format!(
        "[proxy]\ntls_handshake_timeout = 1\n\n[[host]]\nmatch = [\"localhost:{port}\"]\n\
         auth = {{ type = \"bearer\", token = \"t\" }}\n"
    ))
    .await;
    let target = format!("localhost:{port}");
    let answer = tokio::time::timeout(BOUND, async {
        let mut session = proxy.intercepted(&target, &[b"http/1.1"]).await;
        let req = tls_request(&session, Method::GET, &target, "/", Bytes::new());
        session.send(req).await
    })
    .await
    .expect("no answer: the origin's silence held the client");
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{}", answer.text());
    let text = answer.text();
    assert!(
        text.contains("TLS handshake") && text.contains("within 1s"),
        "{text}"
    );
}

#[tokio::test]
async fn a_malformed_chunked_body_is_answered_as_the_clients_fault() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start("").await;
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let request = format!(
        "POST http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
        port = origin.port()
    );
    client.write_all(request.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut client).await.expect("no answer");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("cannot read the request body"), "{answer}");
}

#[tokio::test]
async fn an_http2_preface_on_the_proxy_port_gets_a_400_with_a_hint() {
    let proxy = Proxy::start("").await;
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut client).await.expect("no answer");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("HTTP/1.1 proxy"), "{answer}");
}

#[tokio::test]
async fn two_host_headers_inside_a_tunnel_are_refused() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&format!(
        "[[host]]\nmatch = [\"localhost:{port}\"]\nauth = {{ type = \"bearer\", token = \"t\" }}\n\n\
         [host.tls]\nca = \"{ca}\"\n",
        port = origin.port(),
        ca = pki.ca_path().display()
    ))
    .await;
    let target = format!("localhost:{}", origin.port());
    let mut session = proxy.intercepted(&target, &[b"http/1.1"]).await;
    let req = Request::builder()
        .uri("/")
        .header("host", &target)
        .header("host", "other.test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = session.send(req).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    assert!(
        origin.requests().is_empty(),
        "the request reached the origin"
    );
}
