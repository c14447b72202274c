//! `/metrics` scraped over HTTP from the admin endpoint after known traffic, and parsed as the
//! Prometheus text format.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use http::StatusCode;
use signet::admin::Admin;
use signet::config::Config;
use support::{Origin, Proxy, connect, get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every sample as `name{labels}` → value, and every `# TYPE` as name → type.
fn parse(text: &str) -> (BTreeMap<String, f64>, BTreeMap<String, String>) {
    let (mut samples, mut types) = (BTreeMap::new(), BTreeMap::new());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), kind.to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "{line} twice"
            );
        }
    }
    (samples, types)
}

async fn scrape(admin: std::net::SocketAddr) -> String {
    let mut tcp = tokio::net::TcpStream::connect(admin).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

#[tokio::test]
async fn metrics_count_requests_refusals_latency_and_tunnels() {
    let origin = Origin::plain().await;
    let port = origin.port();
    let proxy = Proxy::start(&format!(
        r#"
[proxy]
deny = ["127.0.0.2"]

[[host]]
name = "billing-api"
match = ["127.0.0.1:{port}"]
auth = {{ type = "bearer", token = "metrics-token" }}
"#
    ))
    .await;
    let config = Config::load(&proxy.dir.path().join("signet.toml")).unwrap();
    let admin = Admin::new(&config, proxy.running.signet.clone(), proxy.addr()).unwrap();
    let listener = admin.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let admin_addr = listener.local_addr().unwrap();
    tokio::spawn(Arc::new(admin).serve(listener));

    for _ in 0..3 {
        let answer = get(proxy.addr(), &format!("http://127.0.0.1:{port}/a"), &[]).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let refused = get(proxy.addr(), "http://127.0.0.2:9/", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // A keep-alive client connection and a tunnel under no rule (to the admin port), held open
    // while scraping, then closed.
    let mut held = support::client(proxy.addr()).await;
    let url = format!("http://127.0.0.1:{port}/b");
    let (status, _) = support::request(&mut held, "GET", &url, bytes::Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    let tunnel = connect(proxy.addr(), &admin_addr.to_string(), &[])
        .await
        .unwrap();
    let open = scrape(admin_addr).await;
    let (samples, types) = parse(&open);
    assert_eq!(samples["signet_tunnels"], 1.0, "{open}");
    // The tunnel's connection counts as a tunnel once it carries one.
    assert_eq!(samples["signet_client_connections"], 1.0, "{open}");
    drop((tunnel, held));

    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(admin_addr).await;
        let (now, _) = parse(&text);
        if now["signet_tunnels"] == 0.0 && now["signet_client_connections"] == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (samples, _) = parse(&text);
    let requests = r#"signet_requests_total{rule="billing-api",auth="bearer",status="2xx"}"#;
    assert_eq!(samples[requests], 4.0, "{text}");
    assert_eq!(samples["signet_client_connections"], 0.0);
    assert_eq!(samples["signet_egress_refusals_total"], 1.0);
    assert_eq!(samples["signet_proxy_auth_required_total"], 0.0);
    assert_eq!(samples["signet_tunnels"], 0.0);
    assert_eq!(samples["signet_upstream_response_seconds_count"], 4.0);
    assert_eq!(
        samples[r#"signet_upstream_response_seconds_bucket{le="+Inf"}"#],
        4.0
    );
    let sum = samples["signet_upstream_response_seconds_sum"];
    assert!(sum > 0.0 && sum < 30.0, "{sum}");
    assert_eq!(
        samples[r#"signet_tls_handshake_failures_total{side="upstream"}"#],
        0.0
    );
    let version = format!(
        "signet_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(samples[&version], 1.0);
    for (name, kind) in [
        ("signet_requests_total", "counter"),
        ("signet_upstream_response_seconds", "histogram"),
        ("signet_client_connections", "gauge"),
        ("signet_tunnels", "gauge"),
        ("signet_egress_refusals_total", "counter"),
        ("signet_proxy_auth_required_total", "counter"),
        ("signet_challenge_replays_total", "counter"),
        ("signet_token_requests_total", "counter"),
        ("signet_token_expiry_timestamp_seconds", "gauge"),
        ("signet_tls_handshake_failures_total", "counter"),
        ("signet_leaf_certs_minted_total", "counter"),
        ("signet_leaf_cache_hits_total", "counter"),
        ("signet_config_reloads_total", "counter"),
        ("signet_build_info", "gauge"),
    ] {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    // Counters end in _total, and every sample belongs to a declared family.
    for (name, kind) in &types {
        assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
    }
    for series in samples.keys() {
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "{series} has no # TYPE");
    }
}
