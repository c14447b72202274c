//! Token requests behind a parent proxy: they leave as proxied requests do (absolute form for an
//! http token endpoint, a CONNECT tunnel for https), with the parent's Basic credentials, or
//! answering its Digest or NTLM 407.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use http::StatusCode;
use signet::oauth2::{Login, LoginOptions};

use crate::parent_proxy::{TestParent, Wants};
use crate::server::{AuthServer, CLIENT_ID, CLIENT_SECRET};
use crate::support::{self, Pki};

const BASIC: &str = "type = \"basic\"\nusername = \"corp\"\npassword = \"parent-pw\"";

/// The `Proxy-Authorization` that [`BASIC`] sends.
fn basic_credentials() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode("corp:parent-pw");
    format!("Basic {token}")
}

/// A config chained to `parent`, answered by `[auth.corp]` (`corp`: the table's keys), with an
/// oauth2 profile `api` for `server` (`grant`: its grant keys) and a rule for the API.
fn config(parent: &TestParent, corp: &str, server: &AuthServer, grant: &str) -> String {
    format!(
        r#"
[proxy]
upstream_proxy = "{}"
upstream_proxy_auth = "corp"

[auth.corp]
{corp}

[auth.api]
type = "oauth2"
access_token_url = "{}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
{grant}

[[host]]
match = ["{}"]
auth = "api"
"#,
        parent.url(),
        server.token_url(),
        server.api_addr
    )
}

const CLIENT_CREDENTIALS: &str = "grant_type = \"client_credentials\"";

#[tokio::test]
async fn token_requests_for_proxied_traffic_go_through_the_parent_with_its_credentials() {
    let server = AuthServer::start().await;
    let parent = TestParent::start(Wants::Basic(basic_credentials())).await;
    let proxy = support::Proxy::start(&config(&parent, BASIC, &server, CLIENT_CREDENTIALS)).await;
    let answer = support::get(proxy.addr(), &server.api("/items"), &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(server.calls().len(), 1);
    let asked = parent.asked_for(&format!("POST {} HTTP/1.1", server.token_url()));
    assert_eq!(asked.len(), 1, "{:?}", parent.asked());
    assert_eq!(asked[0].credentials, Some(basic_credentials()));
}

#[tokio::test]
async fn a_refresh_from_the_command_line_answers_a_digest_parent() {
    let server = AuthServer::start().await;
    let parent = TestParent::start(Wants::Digest).await;
    let digest = "type = \"digest\"\nusername = \"corp\"\npassword = \"parent-pw\"";
    let dir = tempfile::tempdir().unwrap();
    let toml = config(&parent, digest, &server, CLIENT_CREDENTIALS);
    // `signet token --refresh` builds its token source this way.
    let source = crate::source_of(dir.path(), &toml, "api");
    source.force_refresh(SystemTime::now()).await.unwrap();
    assert_eq!(server.calls().len(), 1);
    let asked = parent.asked_for(&format!("POST {} HTTP/1.1", server.token_url()));
    assert_eq!(asked.len(), 2, "{:?}", parent.asked());
    assert_eq!(asked[0].credentials, None);
    let answer = asked[1].credentials.as_deref().unwrap();
    assert!(
        answer.starts_with("Digest ")
            && answer.contains("username=\"corp\"")
            && answer.contains("nonce=\"p4r3nt\"")
            && answer.contains(&format!("uri=\"{}\"", server.token_url())),
        "{answer}"
    );
}

#[tokio::test]
async fn the_login_code_exchange_answers_an_ntlm_parent_on_one_connection() {
    let server = AuthServer::start().await;
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/ntlm/ms-nlmp-4.2.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let challenge = vectors["ntlmv2"]["challenge_message"].as_str().unwrap();
    let challenge = (0..challenge.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&challenge[i..i + 2], 16).unwrap())
        .collect();
    let parent = TestParent::start(Wants::Ntlm(challenge)).await;
    let ntlm = "type = \"ntlm\"\nusername = \"user\"\npassword = \"pw\"\ndomain = \"DOM\"";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let grant = format!(
        "grant_type = \"authorization_code\"\nauth_url = \"https://as.example/authorize\"\n\
         callback_url = \"http://127.0.0.1:{port}/cb\"\nstate = \"fixed-state-0123456789\""
    );
    let dir = tempfile::tempdir().unwrap();
    let source = crate::source_of(dir.path(), &config(&parent, ntlm, &server, &grant), "api");
    let login = Login::prepare(source).await.unwrap();
    let opts = LoginOptions {
        timeout: Duration::from_secs(10),
        open_browser: false,
    };
    let task = tokio::spawn(async move { login.finish(&opts).await });
    let callback = format!("http://127.0.0.1:{port}/cb?code=c0de&state=fixed-state-0123456789");
    let page = support::get(format!("127.0.0.1:{port}").parse().unwrap(), &callback, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    task.await.unwrap().unwrap();

    let calls = server.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].param("code"), Some("c0de"));
    let asked = parent.asked_for(&format!("POST {} HTTP/1.1", server.token_url()));
    let messages: Vec<u8> = asked
        .iter()
        .map(|a| {
            let token = a.credentials.as_deref().unwrap().strip_prefix("NTLM ");
            base64::engine::general_purpose::STANDARD
                .decode(token.unwrap())
                .unwrap()[8]
        })
        .collect();
    // NEGOTIATE, then AUTHENTICATE on the connection that got the CHALLENGE.
    assert_eq!(messages, [1, 3], "{asked:?}");
    assert_eq!(asked[0].connection, asked[1].connection);
}

#[tokio::test]
async fn signet_token_refresh_tunnels_to_an_https_token_endpoint_through_the_parent() {
    let pki = Pki::new();
    let (chain, key, _, _) = pki.leaf(&["127.0.0.1", "localhost"], false);
    let tls = rustls::ServerConfig::builder_with_provider(signet::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let server = AuthServer::start_tls(Arc::new(tls)).await;
    let parent = TestParent::start(Wants::Basic(basic_credentials())).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.toml");
    std::fs::write(&path, config(&parent, BASIC, &server, CLIENT_CREDENTIALS)).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .arg("--config")
        .arg(&path)
        .args(["token", "api", "--refresh"])
        // The token endpoint's CA, in place of the system's.
        .env("SSL_CERT_FILE", pki.ca_path())
        .env_remove("SSL_CERT_DIR")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("refreshed"));
    assert_eq!(server.calls().len(), 1);
    let asked = parent.asked_for(&format!("CONNECT {} HTTP/1.1", server.token_addr));
    assert_eq!(asked.len(), 1, "{:?}", parent.asked());
    assert_eq!(asked[0].credentials, Some(basic_credentials()));
}
