//! The access log, `Proxy-Status` on signet's own answers, and the leaf-rejection warning,
//! in-process. Every log line of this binary, at every level of every crate, is captured as text
//! and as JSON, so that the secrets test can look through all of it.

#[path = "support/digest_origin.rs"]
mod digest_origin;
mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::layer::SubscriberExt;

use signet::proxy::access::{AccessRecord, Action};
use support::{Origin, Pki, Proxy, connect, get, via_proxy};

/// What every test of this binary logged: (text, JSON).
fn captured() -> &'static (Buffer, Buffer) {
    static LOGS: OnceLock<(Buffer, Buffer)> = OnceLock::new();
    LOGS.get_or_init(|| {
        let (text, json) = (Buffer::default(), Buffer::default());
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(text.clone()),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(json.clone()),
            )
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        tracing::subscriber::set_global_default(subscriber).unwrap();
        (text, json)
    })
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

/// signet with `toml`, its finished records collected through the access log's listener.
async fn start(toml: &str) -> (Proxy, Arc<Mutex<Vec<AccessRecord>>>) {
    captured();
    let proxy = Proxy::start(toml).await;
    let records = Arc::new(Mutex::new(Vec::new()));
    let into = records.clone();
    assert!(
        proxy
            .running
            .signet
            .access_log()
            .listen(move |r| into.lock().unwrap().push(r.clone()))
    );
    (proxy, records)
}

/// Waits for `n` records (one is written when the response body has gone out).
async fn wait_for(records: &Mutex<Vec<AccessRecord>>, n: usize) -> Vec<AccessRecord> {
    for _ in 0..200 {
        let got = records.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} records: {:?}", records.lock().unwrap());
}

/// The JSON access lines that name `port`.
fn json_lines(port: u16) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let text = captured().1.text();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.as_object().cloned())
        .filter(|o| o.get("target").and_then(|t| t.as_str()) == Some("signet::access"))
        .filter(|o| {
            o.get("host")
                .and_then(|h| h.as_str())
                .is_some_and(|h| h.ends_with(&format!(":{port}")))
        })
        .collect()
}

#[tokio::test]
async fn requests_are_logged_with_rule_name_action_status_and_bytes() {
    let origin = Origin::plain().await;
    let port = origin.port();
    let (proxy, records) = start(&format!(
        r#"
[[host]]
name = "echo-api"
match = ["127.0.0.1:{port}"]
auth = {{ type = "bearer", token = "log-test-token" }}

  [[host.route]]
  path = "/q/**"
  auth = {{ type = "apikey", key = "api_key", value = "log-test-key", add_to = "query" }}
"#
    ))
    .await;
    let post = Request::post(format!("http://127.0.0.1:{port}/upload?x=1"))
        .body(Full::new(Bytes::from_static(b"hello world")))
        .unwrap();
    let answer = via_proxy(proxy.addr(), post).await;
    assert_eq!(answer.status, StatusCode::OK);
    let url = format!("http://127.0.0.1:{port}/q/items?api_key=client&a=1");
    assert_eq!(get(proxy.addr(), &url, &[]).await.status, StatusCode::OK);
    let got = wait_for(&records, 2).await;

    let upload = got.iter().find(|r| r.path.starts_with("/upload")).unwrap();
    assert_eq!(upload.method, http::Method::POST);
    assert_eq!(
        (upload.scheme, upload.host.as_str(), upload.port),
        ("http", "127.0.0.1", port)
    );
    assert_eq!(upload.path, "/upload?x=1");
    assert_eq!(upload.rule.as_deref(), Some("echo-api"));
    assert_eq!((upload.auth, upload.action), ("bearer", Action::Signed));
    assert_eq!(upload.status, 200);
    // The origin echoes the body back.
    assert_eq!((upload.bytes_in, upload.bytes_out), (11, 11));
    assert!(upload.client.is_some_and(|c| c.ip().is_loopback()));

    let query = got.iter().find(|r| r.path.starts_with("/q/")).unwrap();
    assert_eq!(query.auth, "apikey");
    assert_eq!(query.path, "/q/items?[redacted]");

    let lines = json_lines(port);
    let line = lines
        .iter()
        .find(|l| l["path"] == "/upload?x=1")
        .unwrap_or_else(|| panic!("no JSON access line: {lines:?}"));
    for (key, want) in [
        ("method", "POST"),
        ("scheme", "http"),
        ("rule", "echo-api"),
        ("auth", "bearer"),
        ("action", "signed"),
        ("level", "INFO"),
    ] {
        assert_eq!(line[key], want, "{key} in {line:?}");
    }
    assert_eq!(line["host"], format!("127.0.0.1:{port}"));
    assert_eq!(line["status"], 200);
    assert_eq!(line["bytes_in"], 11);
    assert_eq!(line["bytes_out"], 11);
    assert!(line["duration_us"].as_u64().is_some());
    assert!(
        line["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:"))
    );
    assert!(line["timestamp"].is_string());
    let text = captured().0.text();
    let text_line = text
        .lines()
        .find(|l| l.contains("signet::access") && l.contains("path=\"/q/items?[redacted]\""))
        .unwrap_or_else(|| panic!("no text access line for the query request"));
    assert!(text_line.contains(" INFO "), "{text_line}");
    // (`signet run` writes its text access lines itself: tests/access_log_binary.rs.)
    assert!(text_line.contains("rule=\"echo-api\""), "{text_line}");
    assert!(text_line.contains("action=\"signed\""), "{text_line}");
}

#[tokio::test]
async fn egress_refusals_name_the_entry_and_carry_proxy_status() {
    let (proxy, records) = start("[proxy]\ndeny = [\"127.0.0.2\", \"10.0.0.0/8\"]\n").await;
    let answer = get(proxy.addr(), "http://127.0.0.2:9/x", &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.headers["proxy-status"],
        "signet; error=http_request_denied"
    );
    assert_eq!(
        answer.text(),
        "signet: http://127.0.0.2:9: destination denied by [proxy] deny entry \"127.0.0.2\"\n"
    );
    let refused = connect(proxy.addr(), "10.1.2.3:443", &[])
        .await
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.headers["proxy-status"],
        "signet; error=http_request_denied"
    );
    assert!(
        refused.text().contains("deny entry \"10.0.0.0/8\""),
        "{}",
        refused.text()
    );
    let got = wait_for(&records, 2).await;
    let tunnel = got
        .iter()
        .find(|r| r.method == http::Method::CONNECT)
        .unwrap();
    assert_eq!((tunnel.action, tunnel.status), (Action::Refused, 403));
    assert_eq!((tunnel.host.as_str(), tunnel.port), ("10.1.2.3", 443));
    assert!(tunnel.reason.as_deref().unwrap().contains("10.0.0.0/8"));

    let (allowing, _) = start("[proxy]\nallow = [\"127.0.0.1\"]\n").await;
    let answer = get(allowing.addr(), "http://localhost:9/", &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.text().contains("not in [proxy] allow"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn signets_own_errors_say_which_rule_and_what_failed() {
    // A port nothing listens on: bind, note it, close.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (proxy, records) = start(&format!(
        "[[host]]\nname = \"gone-api\"\nmatch = [\"127.0.0.1:{port}\"]\nauth = {{ type = \"bearer\", token = \"t\" }}\n"
    ))
    .await;
    let answer = get(proxy.addr(), &format!("http://127.0.0.1:{port}/"), &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        answer.headers["proxy-status"],
        "signet; error=connection_refused"
    );
    assert!(
        answer.text().contains("(host[0] (gone-api))"),
        "{}",
        answer.text()
    );
    let got = wait_for(&records, 1).await;
    assert_eq!((got[0].action, got[0].status), (Action::Refused, 502));
    assert_eq!(got[0].rule.as_deref(), Some("gone-api"));

    let (guarded, records) =
        start("[proxy]\nclient_auth = { username = \"me\", password = \"pw-not-logged\" }\n").await;
    let answer = get(guarded.addr(), "http://127.0.0.1:9/", &[]).await;
    assert_eq!(answer.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(
        answer.headers["proxy-status"],
        "signet; error=http_request_denied"
    );
    let got = wait_for(&records, 1).await;
    assert_eq!((got[0].action, got[0].status), (Action::Refused, 407));
}

#[tokio::test]
async fn a_tunnel_is_logged_when_it_closes_with_the_bytes_each_way() {
    let origin = Origin::plain().await;
    let port = origin.port();
    let (proxy, records) = start("").await;
    let mut tunnel = connect(proxy.addr(), &format!("127.0.0.1:{port}"), &[])
        .await
        .unwrap();
    let request = format!("GET /t HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n");
    tunnel.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tunnel.read_to_end(&mut answer).await.unwrap();
    drop(tunnel);
    let got = wait_for(&records, 1).await;
    let record = &got[0];
    assert_eq!(record.method, http::Method::CONNECT);
    assert_eq!((record.action, record.status), (Action::Tunnelled, 200));
    assert_eq!((record.host.as_str(), record.port), ("127.0.0.1", port));
    assert_eq!(record.bytes_in, request.len() as u64);
    assert_eq!(record.bytes_out, answer.len() as u64);
}

#[tokio::test]
async fn a_client_rejecting_the_leaf_is_warned_about_once_per_host() {
    let origin = Origin::plain().await;
    let port = origin.port();
    let (proxy, records) = start(&format!(
        "[[host]]\nmatch = [\"localhost:{port}\"]\nauth = {{ type = \"bearer\", token = \"t\" }}\n"
    ))
    .await;
    // A client that trusts another CA than signet's.
    let other = Pki::new();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(other.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(signet::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    for _ in 0..2 {
        let tunnel = connect(proxy.addr(), &format!("localhost:{port}"), &[])
            .await
            .unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        assert!(connector.connect(name, tunnel).await.is_err());
    }
    let warning = "the client rejected signet's certificate for localhost";
    let mut found = 0;
    for _ in 0..200 {
        found = captured()
            .0
            .text()
            .lines()
            .filter(|l| l.contains(warning))
            .count();
        let failures = proxy.running.signet.metrics_text();
        if found >= 1
            && failures.contains("signet_tls_handshake_failures_total{side=\"client\"} 2\n")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(found, 1, "{}", captured().0.text());
    let line = captured()
        .0
        .text()
        .lines()
        .find(|l| l.contains(warning))
        .unwrap()
        .to_owned();
    assert!(line.contains(" WARN "), "{line}");
    assert!(line.contains("signet ca export"), "{line}");
    // Each tunnel has its line: intercepted, and why it ended.
    for record in wait_for(&records, 2).await {
        assert_eq!(record.action, Action::Intercepted);
        assert_eq!(
            record.rule.as_deref(),
            Some(format!("localhost:{port}").as_str())
        );
        assert_eq!(
            record.reason.as_deref(),
            Some("client TLS handshake failed")
        );
    }
}

/// The credential values in what the origin saw: header values and their `key=value` parts, and
/// the query's values (each at least 8 characters, so that no common word is taken for one).
fn credentials_seen(seen: &support::Seen) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["authorization", "x-api-key", "x-amz-security-token"] {
        for value in seen.headers.get_all(name) {
            let value = value.to_str().unwrap();
            out.push(value.to_owned());
            for part in value.split([' ', ',', ';']) {
                let part = part
                    .split_once('=')
                    .map_or(part, |(_, v)| v)
                    .trim_matches('"');
                out.push(part.to_owned());
            }
        }
    }
    if let Some(query) = seen.uri.query() {
        for (_, value) in form_urlencoded::parse(query.as_bytes()) {
            out.push(value.into_owned());
        }
    }
    out.retain(|s| s.len() >= 8);
    out
}

#[tokio::test]
async fn no_secret_of_any_scheme_is_logged_at_any_level() {
    let origin = Origin::plain().await;
    let port = origin.port();
    // The secrets as the other tests configure them, made unique so that a hit means a leak.
    let secrets = [
        "open-sesame-9d2f",
        "k1-header-key-77a1",
        "k2-query-key-61b0",
        "token-abc-5e3c",
        "1111111111111111111111111111111a",
        "oauth2-static-token-0f4d",
        "hawk-key-werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "oauth1-consumer-secret-11",
        "oauth1-token-secret-22",
        "oauth1-token-33aa",
        "edgegrid-client-secret-44",
        "edgegrid-access-token-55",
        "edgegrid-client-token-66",
    ];
    let (proxy, records) = start(&format!(
        r#"
[[host]]
name = "every-scheme"
match = ["127.0.0.1:{port}"]
auth = "none"

  [[host.route]]
  path = "/basic"
  auth = {{ type = "basic", username = "Aladdin", password = "{}" }}
  [[host.route]]
  path = "/header-key"
  auth = {{ type = "apikey", key = "X-Api-Key", value = "{}" }}
  [[host.route]]
  path = "/query-key"
  auth = {{ type = "apikey", key = "api_key", value = "{}", add_to = "query" }}
  [[host.route]]
  path = "/bearer"
  auth = {{ type = "bearer", token = "{}" }}
  [[host.route]]
  path = "/jwt"
  auth = {{ type = "jwt", algorithm = "HS512", secret = "{}", payload = '{{"a":"1"}}' }}
  [[host.route]]
  path = "/oauth2"
  auth = {{ type = "oauth2", access_token = "{}", add_to = "query" }}
  [[host.route]]
  path = "/hawk"
  auth = {{ type = "hawk", auth_id = "dh37fgj492je", auth_key = "{}", include_payload_hash = true }}
  [[host.route]]
  path = "/aws"
  auth = {{ type = "awsv4", access_key = "AKIDEXAMPLE", secret_key = "{}", region = "us-east-1", service = "s3" }}
  [[host.route]]
  path = "/oauth1"
  auth = {{ type = "oauth1", consumer_key = "ck-oauth1", consumer_secret = "{}", token_secret = "{}", token = "{}", signature_method = "HMAC-SHA1" }}
  [[host.route]]
  path = "/edgegrid"
  auth = {{ type = "edgegrid", client_secret = "{}", access_token = "{}", client_token = "{}" }}
"#,
        secrets[0], secrets[1], secrets[2], secrets[3], secrets[4], secrets[5], secrets[6],
        secrets[7], secrets[8], secrets[9], secrets[10], secrets[11], secrets[12], secrets[13]
    ))
    .await;
    let paths = [
        "/basic",
        "/header-key",
        "/query-key",
        "/bearer",
        "/jwt",
        "/oauth2",
        "/hawk",
        "/aws",
        "/oauth1",
        "/edgegrid",
    ];
    let mut leaked_if_logged: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
    leaked_if_logged.push(base64_basic("Aladdin", secrets[0]));
    for path in paths {
        let url = format!("http://127.0.0.1:{port}{path}?page=2");
        let answer = get(proxy.addr(), &url, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
        let post = Request::post(&url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{\"n\":1}")))
            .unwrap();
        assert_eq!(via_proxy(proxy.addr(), post).await.status, StatusCode::OK);
        let seen = credentials_seen(&origin.last());
        assert!(!seen.is_empty(), "{path}: the origin saw no credential");
        leaked_if_logged.extend(seen);
    }
    // The digest scheme's answer to a challenge, from an origin that checks it.
    let digest =
        digest_origin::DigestOrigin::start(digest_origin::Spec::new(&["MD5"], "auth")).await;
    let (digest_proxy, digest_records) = start(&format!(
        "[[host]]\nmatch = [\"127.0.0.1:{}\"]\nauth = {{ type = \"digest\", username = \"Mufasa\", password = \"Circle of Life\" }}\n",
        digest.port()
    ))
    .await;
    let url = format!("http://127.0.0.1:{}/dir/index.html", digest.port());
    assert_eq!(
        get(digest_proxy.addr(), &url, &[]).await.status,
        StatusCode::OK
    );
    leaked_if_logged.push("Circle of Life".into());
    // The challenge was answered: so says the record, and the replay is counted by scheme.
    let answered = wait_for(&digest_records, 1).await;
    assert_eq!(answered[0].action, Action::ChallengeAnswered);
    let metrics = digest_proxy.running.signet.metrics_text();
    assert!(
        metrics.contains("signet_challenge_replays_total{auth=\"digest\"} 1\n"),
        "{metrics}"
    );
    for hit in digest.hits() {
        if let Some(value) = hit.headers.get("authorization") {
            let response = digest_origin::params(value.to_str().unwrap())["response"].clone();
            leaked_if_logged.push(response);
        }
    }

    wait_for(&records, 2 * paths.len()).await;
    let (text, json) = (captured().0.text(), captured().1.text());
    // The capture takes every level (TRACE included): the requests above left DEBUG lines
    // (signet's "forwarding") as well as the access log's at INFO.
    assert!(text.contains(" DEBUG "), "no DEBUG line captured");
    assert!(text.contains("every-scheme"));
    for secret in &leaked_if_logged {
        assert!(
            !text.contains(secret.as_str()),
            "{secret:?} is in the text log"
        );
        assert!(
            !json.contains(secret.as_str()),
            "{secret:?} is in the JSON log"
        );
    }
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}
