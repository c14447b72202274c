//! The README's promise, end to end with the real curl binary: export signet's CA, point curl at
//! signet, and reach an HTTPS origin with a header injected.

mod support;

use std::process::Command;

use support::{Origin, Pki, Proxy};

const SIGNET: &str = env!("CARGO_BIN_EXE_signet");

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .expect("curl is installed (tests/run installs it)");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.to_owned(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_reaches_https_origin_through_signet_with_header_injected() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&format!(
        r#"
[[host]]
match = ["localhost:{}"]
auth = {{ type = "bearer", token = "from-signet" }}

  [host.tls]
  ca = "{}"
"#,
        origin.port(),
        pki.ca_path().display()
    ))
    .await;

    let exported = proxy.dir.path().join("signet-ca.pem");
    let config = proxy.dir.path().join("signet.toml");
    let status = Command::new(SIGNET)
        .arg("--config")
        .arg(&config)
        .args(["ca", "export", "--out"])
        .arg(&exported)
        .status()
        .unwrap();
    assert!(status.success());

    let proxy_url = format!("http://{}", proxy.addr());
    let url = format!("https://localhost:{}/hello", origin.port());
    let (status, _) = tokio::task::spawn_blocking(move || {
        curl(&[
            "-x",
            &proxy_url,
            "--cacert",
            exported.to_str().unwrap(),
            "--data",
            "ping",
            &url,
        ])
    })
    .await
    .unwrap();
    assert_eq!(status, "200");
    let seen = origin.last();
    assert_eq!(seen.headers["authorization"], "Bearer from-signet");
    assert_eq!(&seen.body[..], b"ping");
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_with_http_proxy_variable_gets_api_key_in_query() {
    let origin = Origin::plain().await;
    let proxy = Proxy::start(&format!(
        "[[host]]\nmatch = [\"127.0.0.1:{}\"]\nauth = {{ type = \"apikey\", key = \"api_key\", value = \"k\", add_to = \"query\" }}\n",
        origin.port()
    ))
    .await;
    let proxy_url = format!("http://{}", proxy.addr());
    let url = format!("http://127.0.0.1:{}/search?q=x", origin.port());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "--max-time", "20", &url])
            .env("http_proxy", &proxy_url)
            .env_remove("no_proxy")
            .env_remove("NO_PROXY")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(origin.last().uri.query(), Some("q=x&api_key=k"));
}

/// An HTTP/2 client inside an intercepted tunnel gets signet's own answer (here the 413 for a
/// body too large to hash) even while it is still sending a large body: the answer is not
/// cut off by a reset of the stream before its body went out.
#[tokio::test(flavor = "multi_thread")]
async fn curl_over_http2_sees_signets_own_answer_to_a_large_body() {
    let pki = Pki::new();
    let origin = Origin::tls(&pki).await;
    let proxy = Proxy::start(&format!(
        r#"
[proxy]
buffer_limit = 1024

[[host]]
match = ["localhost:{}"]
auth = {{ type = "hawk", auth_id = "id", auth_key = "key", include_payload_hash = true }}

  [host.tls]
  ca = "{}"
"#,
        origin.port(),
        pki.ca_path().display()
    ))
    .await;
    let body = proxy.dir.path().join("body.bin");
    std::fs::write(&body, vec![b'x'; 4 << 20]).unwrap();
    let ca = proxy.ca_path();
    let proxy_url = format!("http://{}", proxy.addr());
    let url = format!("https://localhost:{}/upload", origin.port());
    let (status, text) = tokio::task::spawn_blocking(move || {
        curl(&[
            "--http2",
            "-x",
            &proxy_url,
            "--cacert",
            ca.to_str().unwrap(),
            "--data-binary",
            &format!("@{}", body.display()),
            &url,
        ])
    })
    .await
    .unwrap();
    assert_eq!(status, "413", "{text}");
    assert!(text.contains("buffer limit"), "{text}");
    assert!(
        origin.requests().is_empty(),
        "the request reached the origin"
    );
}
