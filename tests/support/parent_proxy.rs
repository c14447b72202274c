//! A parent proxy for tests: records every request head it is sent, asks for credentials with a
//! 407 (Basic, Digest or NTLM) until it gets them, then tunnels `CONNECT` and forwards
//! absolute-form requests, byte for byte either way.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the parent asks for.
pub enum Wants {
    /// Exactly this `Proxy-Authorization` value (`Basic …`).
    Basic(String),
    /// Any `Digest …` answer to its challenge (the hashes are checked elsewhere).
    Digest,
    /// An NTLM handshake on one connection: the NEGOTIATE gets this CHALLENGE message, any
    /// AUTHENTICATE message passes.
    Ntlm(Vec<u8>),
}

/// One request head the parent was sent.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The request line, e.g. `CONNECT 127.0.0.1:443 HTTP/1.1`.
    pub line: String,
    /// Its `Proxy-Authorization`, if any.
    pub credentials: Option<String>,
    /// Which client connection it came on (numbered from 0).
    pub connection: usize,
}

pub struct TestParent {
    pub addr: SocketAddr,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl TestParent {
    pub async fn start(wants: Wants) -> TestParent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let record = asked.clone();
        let wants = Arc::new(wants);
        let connections = AtomicUsize::new(0);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, n, wants.clone(), record.clone()));
            }
        });
        TestParent { addr, asked }
    }

    /// `http://127.0.0.1:PORT`, for `[proxy] upstream_proxy`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }

    /// The heads whose request line starts with `prefix`.
    pub fn asked_for(&self, prefix: &str) -> Vec<Asked> {
        self.asked()
            .into_iter()
            .filter(|a| a.line.starts_with(prefix))
            .collect()
    }
}

async fn serve(
    mut client: TcpStream,
    connection: usize,
    wants: Arc<Wants>,
    asked: Arc<Mutex<Vec<Asked>>>,
) {
    loop {
        let Some(head) = read_head(&mut client).await else {
            return;
        };
        let line = head.lines().next().unwrap_or_default().to_owned();
        let credentials = header(&head, "proxy-authorization").map(str::to_owned);
        asked.lock().unwrap().push(Asked {
            line: line.clone(),
            credentials: credentials.clone(),
            connection,
        });
        if let Some(challenge) = challenge(&wants, credentials.as_deref()) {
            let length = header(&head, "content-length").map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0u8; length];
            if client.read_exact(&mut body).await.is_err() {
                return;
            }
            let answer = format!(
                "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: {challenge}\r\n\
                 Content-Length: 0\r\n\r\n"
            );
            if client.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let mut words = line.split(' ');
        let (method, target) = (words.next().unwrap(), words.next().unwrap());
        if method == "CONNECT" {
            let Ok(mut upstream) = TcpStream::connect(target).await else {
                let _ = client
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    .await;
                return;
            };
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .unwrap();
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            return;
        }
        // Absolute form: on to the origin as it came (origins accept absolute form too), less
        // the credentials meant for this proxy.
        let uri: http::Uri = target.parse().unwrap();
        let authority = uri.authority().unwrap();
        let port = authority.port_u16().unwrap_or(80);
        let mut upstream = TcpStream::connect((authority.host(), port)).await.unwrap();
        let forwarded: String = head
            .split_inclusive("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("proxy-authorization:"))
            .collect();
        upstream.write_all(forwarded.as_bytes()).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
}

/// The `Proxy-Authenticate` value to answer with, or `None` when `credentials` pass.
fn challenge(wants: &Wants, credentials: Option<&str>) -> Option<String> {
    match wants {
        Wants::Basic(expected) if credentials == Some(expected.as_str()) => None,
        Wants::Basic(_) => Some("Basic realm=\"parent\"".into()),
        Wants::Digest if credentials.is_some_and(|c| c.starts_with("Digest ")) => None,
        Wants::Digest => Some("Digest realm=\"parent\", nonce=\"p4r3nt\", qop=\"auth\"".into()),
        Wants::Ntlm(challenge) => {
            let message = credentials
                .and_then(|c| c.strip_prefix("NTLM "))
                .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
                .unwrap_or_default();
            match message.get(8) {
                Some(1) => Some(format!(
                    "NTLM {}",
                    base64::engine::general_purpose::STANDARD.encode(challenge)
                )),
                Some(3) => None,
                _ => Some("NTLM".into()),
            }
        }
    }
}

async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.ok()?);
    }
    Some(String::from_utf8(head).unwrap())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
