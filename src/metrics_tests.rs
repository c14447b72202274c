use super::*;

const TYPES: &[&str] = &["none", "bearer"];

fn scrape<'a>(
    requests: &'a RequestCounters,
    pulled: Pulled,
    tokens: &'a [ProfileTokens],
) -> Scrape<'a> {
    Scrape {
        requests,
        pulled,
        tokens,
        schemes: TYPES,
    }
}

#[test]
fn renders_requests_by_rule_auth_and_status_class() {
    let m = Metrics::default();
    let requests = RequestCounters::new(vec!["billing-api".into()], TYPES);
    requests.request(Some(0), 1, 200);
    requests.request(Some(0), 1, 204);
    requests.request(Some(0), 1, 401);
    requests.request(None, 0, 502);
    m.upstream_error();
    let pulled = Pulled {
        minted: 2,
        cache_hits: 5,
        token_fetches: 3,
        idle_connections: 4,
        shared: Some((7, Some(false))),
    };
    let text = m.render(&scrape(&requests, pulled, &[]));
    assert!(text.contains(
        "# TYPE signet_shared_store_errors_total counter\nsignet_shared_store_errors_total 7\n"
    ));
    assert!(text.contains("# TYPE signet_shared_store_up gauge\nsignet_shared_store_up 0\n"));
    assert!(text.contains(
        "signet_requests_total{rule=\"billing-api\",auth=\"bearer\",status=\"2xx\"} 2\n"
    ));
    assert!(text.contains(
        "signet_requests_total{rule=\"billing-api\",auth=\"bearer\",status=\"4xx\"} 1\n"
    ));
    assert!(
        text.contains("signet_requests_total{rule=\"no rule\",auth=\"none\",status=\"5xx\"} 1\n")
    );
    assert!(text.contains("signet_upstream_errors_total 1\n"));
    assert!(text.contains("signet_leaf_certs_minted_total 2\n"));
    assert!(text.contains("signet_leaf_cache_hits_total 5\n"));
    assert!(text.contains("signet_token_fetches_total 3\n"));
    assert!(text.contains("# TYPE signet_upstream_idle_connections gauge\n"));
    assert!(text.contains("signet_upstream_idle_connections 4\n"));
    assert!(text.contains("signet_build_info{version=\"0.1.0\"} 1\n"));
}

#[test]
fn latency_histogram_is_cumulative_in_seconds() {
    let m = Metrics::default();
    m.upstream_latency(Duration::from_micros(800));
    m.upstream_latency(Duration::from_millis(30));
    m.upstream_latency(Duration::from_secs(20));
    let requests = RequestCounters::new(Vec::new(), TYPES);
    let text = m.render(&scrape(&requests, Pulled::default(), &[]));
    assert!(
        text.contains("signet_upstream_response_seconds_bucket{le=\"0.001\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("signet_upstream_response_seconds_bucket{le=\"0.025\"} 1\n"));
    assert!(text.contains("signet_upstream_response_seconds_bucket{le=\"0.05\"} 2\n"));
    assert!(text.contains("signet_upstream_response_seconds_bucket{le=\"10\"} 2\n"));
    assert!(text.contains("signet_upstream_response_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert!(text.contains("signet_upstream_response_seconds_count 3\n"));
    assert!(
        text.contains("signet_upstream_response_seconds_sum 20.0308\n"),
        "{text}"
    );
}

#[test]
fn gauges_follow_their_guards_and_refusals_count() {
    let m = Arc::new(Metrics::default());
    let a = m.open(Gauge::ClientConnections);
    let _b = m.open(Gauge::ClientConnections);
    let _t = m.open(Gauge::Tunnels);
    drop(a);
    m.egress_refused();
    m.proxy_auth_required();
    m.proxy_auth_required();
    m.tls_handshake_failed(Side::Client);
    m.challenge_replay(1);
    let requests = RequestCounters::new(Vec::new(), TYPES);
    let text = m.render(&scrape(&requests, Pulled::default(), &[]));
    assert!(text.contains("signet_client_connections 1\n"), "{text}");
    assert!(text.contains("signet_tunnels 1\n"));
    assert!(text.contains("signet_egress_refusals_total 1\n"));
    assert!(text.contains("signet_proxy_auth_required_total 2\n"));
    assert!(text.contains("signet_tls_handshake_failures_total{side=\"client\"} 1\n"));
    assert!(text.contains("signet_tls_handshake_failures_total{side=\"upstream\"} 0\n"));
    assert!(text.contains("signet_challenge_replays_total{auth=\"bearer\"} 1\n"));
}

#[test]
fn counts_of_a_retired_config_are_kept_by_rule_name() {
    let m = Metrics::default();
    let old = RequestCounters::new(vec!["a.test".into()], TYPES);
    old.request(Some(0), 1, 200);
    old.request(Some(0), 1, 200);
    let retired = Pulled {
        minted: 1,
        cache_hits: 2,
        token_fetches: 3,
        idle_connections: 9,
        shared: None,
    };
    let gone = ProfileTokens {
        profile: "idp".into(),
        requests: [2, 1, 0, 0],
        expires_at: Some(5),
    };
    m.retire_requests(&old);
    m.retire_pulled(retired, &[gone]);
    let new = RequestCounters::new(vec!["b.test".into(), "a.test".into()], TYPES);
    new.request(Some(0), 1, 200);
    new.request(Some(1), 1, 200);
    m.reload(true);
    m.reload(false);
    m.reload(false);
    m.loaded(
        "ab12".into(),
        UNIX_EPOCH + std::time::Duration::from_secs(1700000000),
    );
    let now = Pulled {
        minted: 10,
        cache_hits: 20,
        token_fetches: 30,
        idle_connections: 4,
        shared: None,
    };
    let tokens = [ProfileTokens {
        profile: "idp".into(),
        requests: [1, 0, 4, 1],
        expires_at: Some(1700003600),
    }];
    let text = m.render(&scrape(&new, now, &tokens));
    let line = |rule: &str, n: u64| {
        format!("signet_requests_total{{rule=\"{rule}\",auth=\"bearer\",status=\"2xx\"}} {n}\n")
    };
    assert!(text.contains(&line("a.test", 3)), "{text}");
    assert!(text.contains(&line("b.test", 1)));
    assert!(text.contains("signet_leaf_certs_minted_total 11\n"));
    assert!(text.contains("signet_leaf_cache_hits_total 22\n"));
    assert!(text.contains("signet_token_fetches_total 33\n"));
    assert!(text.contains("signet_upstream_idle_connections 4\n"));
    assert!(text.contains("signet_config_reloads_total{result=\"ok\"} 1\n"));
    assert!(text.contains("signet_config_reloads_total{result=\"error\"} 2\n"));
    assert!(text.contains("signet_config_info{sha256=\"ab12\"} 1\n"));
    assert!(text.contains("signet_config_loaded_timestamp_seconds 1700000000\n"));
    let token = |kind: &str, result: &str, n: u64| {
        format!(
            "signet_token_requests_total{{profile=\"idp\",kind=\"{kind}\",result=\"{result}\"}} {n}\n"
        )
    };
    assert!(text.contains(&token("fetch", "ok", 3)), "{text}");
    assert!(text.contains(&token("fetch", "error", 1)));
    assert!(text.contains(&token("refresh", "ok", 4)));
    assert!(text.contains(&token("refresh", "error", 1)));
    // Only the token in use has an expiry.
    assert!(text.contains("signet_token_expiry_timestamp_seconds{profile=\"idp\"} 1700003600\n"));
    assert!(!text.contains("signet_token_expiry_timestamp_seconds{profile=\"idp\"} 5\n"));
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}
