//! signet behind a parent proxy that wants NTLM: the handshake for a CONNECT tunnel uses the
//! clock and random source signet was built with, so the AUTHENTICATE message is exactly the
//! one of [MS-NLMP] section 4.2.4 (tests/vectors/ntlm).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use signet::auth::{Clock, Entropy};
use signet::config::Config;
use signet::proxy::{Running, Signet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn vectors() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/ntlm/ms-nlmp-4.2.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(s: &serde_json::Value) -> Vec<u8> {
    let s = s.as_str().unwrap();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// FILETIME 0: 1601-01-01.
struct Year1601;

impl Clock for Year1601 {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH - Duration::from_secs(11_644_473_600)
    }
}

/// Hands out the script again and again.
struct Scripted(Vec<u8>, Mutex<usize>);

impl Entropy for Scripted {
    fn fill(&self, buf: &mut [u8]) {
        let mut at = self.1.lock().unwrap();
        for b in buf {
            *b = self.0[*at % self.0.len()];
            *at += 1;
        }
    }
}

async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    String::from_utf8(head).unwrap()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A parent that answers the NEGOTIATE with the vector's CHALLENGE, records the AUTHENTICATE,
/// then opens the tunnel and echoes.
async fn ntlm_parent(challenge: Vec<u8>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let token = base64::engine::general_purpose::STANDARD.encode(&challenge);
        loop {
            let head = read_head(&mut stream).await;
            let auth = header(&head, "proxy-authorization")
                .unwrap_or("")
                .to_owned();
            record.lock().unwrap().push(auth.clone());
            let decoded = auth
                .strip_prefix("NTLM ")
                .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
                .unwrap_or_default();
            if decoded.get(8) == Some(&1) {
                let answer = format!(
                    "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM {token}\r\nContent-Length: 0\r\n\r\n"
                );
                stream.write_all(answer.as_bytes()).await.unwrap();
                continue;
            }
            if decoded.get(8) == Some(&3) {
                stream
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let mut buf = [0u8; 64];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                return;
            }
            let answer = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n";
            stream.write_all(answer.as_bytes()).await.unwrap();
        }
    });
    (port, seen)
}

#[tokio::test]
async fn parent_ntlm_handshake_uses_the_injected_clock_and_entropy() {
    let v = vectors();
    let (c, v2) = (&v["common"], &v["ntlmv2"]);
    let (parent_port, seen) = ntlm_parent(hex(&v2["challenge_message"])).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[proxy]
upstream_proxy = "http://127.0.0.1:{parent_port}"
upstream_proxy_auth = "corp"

[auth.corp]
type = "ntlm"
username = {}
password = {}
domain = {}
workstation = {}
"#,
            c["user"], c["password"], c["user_dom"], c["workstation_name"]
        ),
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    let mut script = hex(&c["client_challenge"]);
    script.extend(hex(&c["random_session_key"]));
    let signet = Signet::build_with(
        &config,
        Arc::new(Year1601),
        Arc::new(Scripted(script, Mutex::new(0))),
    )
    .unwrap();
    let running = Running::start(signet, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    // A tunnel without a rule goes byte for byte through the parent.
    let mut tunnel = support::connect(running.addr, "127.0.0.1:9", &[])
        .await
        .unwrap_or_else(|a| panic!("tunnel refused: {}", a.text()));
    tunnel.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tunnel.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let authenticate = base64::engine::general_purpose::STANDARD
        .decode(seen[1].strip_prefix("NTLM ").unwrap())
        .unwrap();
    assert_eq!(authenticate, hex(&v2["authenticate_message"]));
}

/// `signet check` with `config`: exit code and stderr.
fn check(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.toml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .arg("--config")
        .arg(&path)
        .arg("check")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_validates_upstream_proxy_auth() {
    let proxy =
        "[proxy]\nupstream_proxy = \"http://127.0.0.1:3128\"\nupstream_proxy_auth = \"corp\"\n\n";
    let (code, err) = check(proxy);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("signet.toml:3:1: proxy.upstream_proxy_auth")
            && err.contains("no [auth.corp]"),
        "{err}"
    );

    let bearer = format!("{proxy}[auth.corp]\ntype = \"bearer\"\ntoken = \"t\"\n");
    let (code, err) = check(&bearer);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("signet.toml:3:1: proxy.upstream_proxy_auth")
            && err.contains("bearer profile")
            && err.contains("basic, digest, ntlm and negotiate"),
        "{err}"
    );

    for kind in ["basic", "digest", "ntlm"] {
        let ok =
            format!("{proxy}[auth.corp]\ntype = \"{kind}\"\nusername = \"u\"\npassword = \"p\"\n");
        let (code, err) = check(&ok);
        assert_eq!(code, Some(0), "{kind}: {err}");
    }
}
