//! aws-chunked uploads through the proxy: a body within the buffer limit is checked before
//! anything is sent, a longer one streams, and a stream that turns out malformed is cut off
//! upstream so that the origin never sees a complete request.

mod support;

use std::time::Duration;

use support::{Origin, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BOUND: Duration = Duration::from_secs(10);

fn config(port: u16) -> String {
    format!(
        "[proxy]\nbuffer_limit = 1024\n\n[[host]]\nmatch = [\"127.0.0.1:{port}\"]\n\
         auth = {{ type = \"awsv4\", access_key = \"AKIDREAL\", secret_key = \"real\", service = \"s3\" }}\n"
    )
}

/// A client's chunk-signed stream of `sizes` chunks of `a`s, with a placeholder signature.
fn signed_stream(sizes: &[usize]) -> Vec<u8> {
    let sig = "0".repeat(64);
    let mut body = Vec::new();
    for &n in sizes.iter().chain([&0]) {
        body.extend_from_slice(format!("{n:x};chunk-signature={sig}\r\n").as_bytes());
        body.extend(std::iter::repeat_n(b'a', n));
        body.extend_from_slice(b"\r\n");
    }
    body
}

/// Sends a PUT through the proxy with `body` framed by `Content-Length`, in pieces, and
/// returns the answer's status line and body.
async fn put(proxy: &Proxy, port: u16, marker: &str, decoded: usize, body: &[u8]) -> String {
    put_pausing(proxy, port, marker, decoded, body, usize::MAX).await
}

/// `put`, pausing after the first `pause_at` bytes of the body so that they stream on first.
async fn put_pausing(
    proxy: &Proxy,
    port: u16,
    marker: &str,
    decoded: usize,
    body: &[u8],
    pause_at: usize,
) -> String {
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let head = format!(
        "PUT http://127.0.0.1:{port}/bucket/key HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Encoding: aws-chunked\r\nx-amz-content-sha256: {marker}\r\n\
         x-amz-decoded-content-length: {decoded}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(pause_at.min(body.len()));
    for piece in first
        .chunks(16 * 1024)
        .chain([&[][..]])
        .chain(rest.chunks(16 * 1024))
    {
        if piece.is_empty() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        } else if client.write_all(piece).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(BOUND, client.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// An origin that reads each connection to its end and keeps the bytes; it never answers.
async fn recording_origin() -> (u16, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut all = Vec::new();
                let _ = tokio::time::timeout(BOUND, socket.read_to_end(&mut all)).await;
                let _ = tx.send(all);
            });
        }
    });
    (port, rx)
}

/// With a Content-Length the origin gets fewer bytes than it says; without one (the trailer
/// form's length cannot be known in advance) the HTTP chunked framing never ends.
#[tokio::test]
async fn a_stream_that_breaks_after_the_buffer_limit_is_cut_off_upstream() {
    for marker in [
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    ] {
        let (port, mut seen) = recording_origin().await;
        let proxy = Proxy::start(&config(port)).await;
        let mut body = signed_stream(&[70_000]);
        body.truncate(body.len() - 90);
        body.extend_from_slice(b"zz;not-a-chunk\r\n\r\n");
        let answer = put_pausing(&proxy, port, marker, 70_000, &body, 69_000).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{marker}: {answer}");
        assert!(answer.contains("aws-chunked"), "{marker}: {answer}");
        let upstream = tokio::time::timeout(BOUND, seen.recv())
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&upstream);
        let (head, sent) = text.split_once("\r\n\r\n").expect("the head went upstream");
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map(|l| l.parse::<usize>().unwrap());
        match length {
            Some(length) => assert!(sent.len() < length, "{marker}: all {length} bytes"),
            None => {
                assert!(
                    head.contains("transfer-encoding: chunked"),
                    "{marker}: {head}"
                );
                assert!(
                    !sent.ends_with("0\r\n\r\n"),
                    "{marker}: the chunked body ended"
                );
            }
        }
        assert!(
            sent.len() > 65536,
            "{marker}: the first chunk did not stream"
        );
    }
}

#[tokio::test]
async fn a_malformed_stream_within_the_buffer_limit_is_refused_before_anything_is_sent() {
    let (port, mut seen) = recording_origin().await;
    let proxy = Proxy::start(&config(port)).await;
    let answer = put(
        &proxy,
        port,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        5,
        b"5\r\nhello\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("aws-chunked: the body ended in the middle"),
        "{answer}"
    );
    let none = tokio::time::timeout(Duration::from_millis(300), seen.recv()).await;
    assert!(none.is_err(), "a connection reached the origin");
}

#[tokio::test]
async fn a_signed_stream_past_the_limit_arrives_whole_with_its_new_length() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start(&config(origin.port())).await;
    // The client's chunks are not signet's: 3 chunks of 30000 become 65536 + 24464.
    let body = signed_stream(&[30_000, 30_000, 30_000]);
    let answer = put(
        &proxy,
        origin.port(),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        90_000,
        &body,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = origin.last();
    let length = seen.headers["content-length"].to_str().unwrap();
    assert_eq!(length, seen.body.len().to_string());
    let text = String::from_utf8_lossy(&seen.body);
    let headers: Vec<&str> = text
        .split("\r\n")
        .filter(|l| l.contains(";chunk-signature="))
        .map(|l| l.split(';').next().unwrap())
        .collect();
    assert_eq!(headers, ["10000", "5f90", "0"]);
    assert!(
        !text.contains(&"0".repeat(64)),
        "a placeholder signature went upstream"
    );
    let authz = seen.headers["authorization"].to_str().unwrap();
    assert!(
        authz.contains("Credential=AKIDREAL/") && authz.contains("content-length"),
        "{authz}"
    );
}

#[tokio::test]
async fn an_unsigned_stream_past_the_limit_arrives_unchanged() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start(&config(origin.port())).await;
    let mut body = Vec::new();
    for _ in 0..3 {
        body.extend_from_slice(b"1000\r\n");
        body.extend(std::iter::repeat_n(b'b', 0x1000));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    let answer = put(
        &proxy,
        origin.port(),
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        3 * 0x1000,
        &body,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = origin.last();
    assert!(seen.body[..] == body[..], "the body changed on the way");
    assert_eq!(
        seen.headers["x-amz-content-sha256"],
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    );
}
