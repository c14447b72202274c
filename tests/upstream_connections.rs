//! How signet uses upstream HTTP/1.1 connections for plain requests, against a raw origin that
//! numbers its connections: a client connection's requests share one upstream connection, the
//! next client connection takes it over, and one the origin closed silently is replaced
//! without the client noticing.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use support::{Proxy, client, request};

/// Answers every request with `<connection number>:<request body>`; with `close_after_each`,
/// hangs up after each answer without saying so (no `Connection: close`), as a server whose
/// keep-alive timeout fires does.
struct RawOrigin {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    /// Connections the proxy closed.
    closed: Arc<AtomicUsize>,
}

impl RawOrigin {
    async fn start(close_after_each: bool) -> RawOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (count, ended) = (connections.clone(), closed.clone());
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let number = count.fetch_add(1, Ordering::SeqCst);
                let ended = ended.clone();
                tokio::spawn(async move {
                    if !serve(socket, number, close_after_each).await {
                        ended.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        RawOrigin {
            addr,
            connections,
            closed,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.addr.port())
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Waits (up to 5 s) until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Serves one connection; `false` when the proxy closed it, `true` when the origin hung up.
async fn serve(socket: tokio::net::TcpStream, number: usize, close_after_each: bool) -> bool {
    let mut socket = BufReader::new(socket);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
            return false;
        }
        // `/challenge` answers 401 offering Negotiate, as an intranet server does.
        let challenge = line.starts_with("GET /challenge ");
        loop {
            line.clear();
            if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                return false;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        socket.read_exact(&mut body).await.unwrap();
        let answer = [format!("{number}:").into_bytes(), body].concat();
        let status = if challenge {
            "401 Unauthorized\r\nwww-authenticate: Negotiate"
        } else {
            "200 OK"
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        let socket = socket.get_mut();
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&answer).await.unwrap();
        if close_after_each {
            return true;
        }
    }
}

const NO_RULES: &str = "[proxy]\n";

#[tokio::test]
async fn a_client_connections_requests_share_one_upstream_connection() {
    let origin = RawOrigin::start(false).await;
    let proxy = Proxy::start(NO_RULES).await;
    let mut c = client(proxy.addr()).await;
    for i in 0..5 {
        let body = Bytes::from(format!("request {i}"));
        let (status, answer) = request(&mut c, "POST", &origin.url(), body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, format!("0:request {i}"));
    }
    assert_eq!(origin.connections(), 1);
}

#[tokio::test]
async fn a_client_switching_destinations_keeps_one_upstream_connection_per_destination() {
    let (a, b) = (RawOrigin::start(false).await, RawOrigin::start(false).await);
    let proxy = Proxy::start(NO_RULES).await;
    let mut c = client(proxy.addr()).await;
    for _ in 0..3 {
        for origin in [&a, &b] {
            let (status, answer) = request(&mut c, "GET", &origin.url(), Bytes::new()).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(answer, "0:");
        }
    }
    assert_eq!((a.connections(), b.connections()), (1, 1));
}

#[tokio::test]
async fn the_next_client_connection_takes_over_the_idle_upstream_connection() {
    let origin = RawOrigin::start(false).await;
    let proxy = Proxy::start(NO_RULES).await;
    for _ in 0..3 {
        let mut c = client(proxy.addr()).await;
        let (status, answer) = request(&mut c, "GET", &origin.url(), Bytes::new()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, "0:");
        drop(c);
        // The proxy lets go of the upstream connection when it sees the client leave.
        eventually("never went idle", || {
            proxy.running.signet.idle_upstream_connections() == 1
        })
        .await;
    }
    assert_eq!(origin.connections(), 1);
}

/// Opens a client connection, sends one GET with `headers`, and closes it.
async fn one_request(proxy: &Proxy, url: &str, headers: &[(&str, &str)]) -> Bytes {
    let mut c = client(proxy.addr()).await;
    c.ready().await.unwrap();
    let mut req = Request::get(url).header("host", url.split('/').nth(2).unwrap());
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let response = c
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    response.into_body().collect().await.unwrap().to_bytes()
}

const NTLM_NEGOTIATE: &str = "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==";

#[tokio::test]
async fn a_connection_that_carried_ntlm_or_negotiate_is_never_handed_to_another_client() {
    let origin = RawOrigin::start(false).await;
    let proxy = Proxy::start(NO_RULES).await;
    let plain = origin.url();
    let challenge = format!("{plain}challenge");
    let cases: [(&str, &[(&str, &str)]); 3] = [
        // The client's own NTLM credential, passed through untouched.
        (&plain, &[("authorization", NTLM_NEGOTIATE)]),
        // A server that offers Negotiate (the client would answer on this connection).
        (&challenge, &[]),
        // Nothing connection-bound: this one goes idle and is reused below.
        (&plain, &[]),
    ];
    for (i, (url, headers)) in cases.into_iter().enumerate() {
        let answer = one_request(&proxy, url, headers).await;
        assert_eq!(
            answer,
            format!("{i}:"),
            "request {i} went out on another connection"
        );
        if i < 2 {
            eventually("a private connection outlived its client", || {
                origin.closed() == i + 1
            })
            .await;
        }
    }
    eventually("never went idle", || {
        proxy.running.signet.idle_upstream_connections() == 1
    })
    .await;
    assert_eq!(one_request(&proxy, &plain, &[]).await, "2:");
    assert_eq!(origin.connections(), 3);
}

#[tokio::test]
async fn an_upstream_connection_closed_silently_is_replaced_and_the_body_arrives_whole() {
    let origin = RawOrigin::start(true).await;
    let proxy = Proxy::start(NO_RULES).await;
    let mut c = client(proxy.addr()).await;
    for i in 0..4 {
        let body = Bytes::from(format!("post {i}: ").repeat(1000));
        let (status, answer) = request(&mut c, "POST", &origin.url(), body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer, [format!("{i}:").as_bytes(), &body[..]].concat());
    }
    assert_eq!(origin.connections(), 4);
}
