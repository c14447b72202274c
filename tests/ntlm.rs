//! NTLM through signet, against the in-process origin of `support/ntlm_origin.rs`: it checks
//! the NTLMv2 proof, the MIC and the channel bindings with its own arithmetic, and that the
//! three messages travel on one connection.

#[path = "support/ntlm_origin.rs"]
mod ntlm_origin;
mod support;

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

use ntlm_origin::{AFFINITY, DOMAIN, NtlmOrigin, Offers, PASSWORD, Quirks, USER};
use support::{Pki, Proxy, client, request, tls_request};

fn config(origin_port: u16, password: &str, extra: &str) -> String {
    format!(
        r#"
[proxy]
{extra}

[auth.corp]
type = "ntlm"
username = "{USER}"
password = "{password}"
domain = "{DOMAIN}"
workstation = "WS1"

[[host]]
match = ["127.0.0.1:{origin_port}"]
auth = "corp"
"#
    )
}

#[tokio::test]
async fn get_runs_the_three_messages_on_one_connection() {
    let origin = NtlmOrigin::start(Offers::Ntlm, None).await;
    let proxy = Proxy::start(&config(origin.addr.port(), PASSWORD, "")).await;
    let mut c = client(proxy.addr()).await;
    let url = format!("http://127.0.0.1:{}/doc", origin.addr.port());
    let (status, body) = request(&mut c, "GET", &url, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let legs = origin.legs();
    assert_eq!(origin.kinds(), ["negotiate", "authenticate"]);
    assert_eq!(legs[0].conn, legs[1].conn);
}

#[tokio::test]
async fn several_requests_on_one_client_connection_share_one_handshake() {
    let origin = NtlmOrigin::start(Offers::Ntlm, None).await;
    let proxy = Proxy::start(&config(origin.addr.port(), PASSWORD, "")).await;
    let mut c = client(proxy.addr()).await;
    let url = format!("http://127.0.0.1:{}/doc", origin.addr.port());
    for i in 0..3 {
        let body = Bytes::from(format!("request {i}"));
        let (status, echoed) = request(&mut c, "POST", &url, body.clone()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(echoed, body);
    }
    let legs = origin.legs();
    assert_eq!(
        origin.kinds(),
        [
            "negotiate",
            "authenticate",
            "authenticated",
            "authenticated"
        ]
    );
    assert!(legs.iter().all(|l| l.conn == legs[0].conn));

    // Another client connection gets its own upstream connection and handshake.
    let mut other = client(proxy.addr()).await;
    let (status, _) = request(&mut other, "GET", &url, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    let legs = origin.legs();
    assert_eq!(legs[4].kind, "negotiate");
    assert_ne!(legs[4].conn, legs[0].conn);
}

#[tokio::test]
async fn buffered_body_is_replayed_byte_exact_on_the_final_leg() {
    let origin = NtlmOrigin::start(Offers::Ntlm, None).await;
    let proxy = Proxy::start(&config(origin.addr.port(), PASSWORD, "")).await;
    let body: Bytes = (0..200_000u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let mut c = client(proxy.addr()).await;
    let url = format!("http://127.0.0.1:{}/upload", origin.addr.port());
    let (status, echoed) = request(&mut c, "PUT", &url, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed, body);
    let legs = origin.legs();
    assert_eq!(origin.kinds(), ["negotiate", "authenticate"]);
    assert_eq!(legs[0].body, body);
    assert_eq!(legs[1].body, body);
}

#[tokio::test]
async fn body_above_the_buffer_limit_is_sent_once_after_the_handshake() {
    let origin = NtlmOrigin::start(Offers::Ntlm, None).await;
    let proxy = Proxy::start(&config(origin.addr.port(), PASSWORD, "buffer_limit = 1024")).await;
    let body: Bytes = (0..100_000u32)
        .map(|i| (i % 253) as u8)
        .collect::<Vec<_>>()
        .into();
    let mut c = client(proxy.addr()).await;
    let url = format!("http://127.0.0.1:{}/upload", origin.addr.port());
    let (status, echoed) = request(&mut c, "POST", &url, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed, body);
    let legs = origin.legs();
    assert_eq!(origin.kinds(), ["negotiate", "authenticate"]);
    assert!(legs[0].body.is_empty());
    assert_eq!(legs[1].body, body);
}

#[tokio::test]
async fn negotiate_only_server_gets_the_raw_ntlm_token_under_negotiate() {
    let origin = NtlmOrigin::start(Offers::NegotiateOnly, None).await;
    let proxy = Proxy::start(&config(origin.addr.port(), PASSWORD, "")).await;
    let mut c = client(proxy.addr()).await;
    let url = format!("http://127.0.0.1:{}/doc", origin.addr.port());
    let (status, _) = request(&mut c, "GET", &url, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        origin.kinds(),
        ["other scheme", "negotiate", "authenticate"]
    );
}

#[tokio::test]
async fn wrong_password_passes_the_servers_401_back() {
    let origin = NtlmOrigin::start(Offers::Ntlm, None).await;
    let proxy = Proxy::start(&config(origin.addr.port(), "not-it", "")).await;
    let mut c = client(proxy.addr()).await;
    let url = format!("http://127.0.0.1:{}/doc", origin.addr.port());
    let (status, body) = request(&mut c, "GET", &url, Bytes::new()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "wrong NTProofStr");
    assert_eq!(origin.kinds(), ["negotiate", "rejected"]);
}

#[tokio::test]
async fn https_origin_receives_channel_bindings_of_its_own_certificate() {
    let pki = Pki::new();
    let (chain, key, _, _) = pki.leaf(&["127.0.0.1", "localhost"], false);
    let cert = chain[0].clone();
    let mut server = rustls::ServerConfig::builder_with_provider(signet::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let origin = NtlmOrigin::start(Offers::Ntlm, Some((Arc::new(server), cert))).await;
    let port = origin.addr.port();
    let toml = format!(
        "{}\n  [host.tls]\n  ca = \"{}\"\n",
        config(port, PASSWORD, "").replace(
            &format!("127.0.0.1:{port}\"]"),
            &format!("localhost:{port}\"]")
        ),
        pki.ca_path().display()
    );
    let proxy = Proxy::start(&toml).await;
    let authority = format!("localhost:{port}");
    let mut session = proxy.intercepted(&authority, &[b"http/1.1"]).await;
    for _ in 0..2 {
        let req = tls_request(
            &session,
            http::Method::GET,
            &authority,
            "/secure",
            Bytes::new(),
        );
        let answer = session.send(req).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    assert_eq!(
        origin.kinds(),
        ["negotiate", "authenticate", "authenticated"]
    );
}

#[tokio::test]
async fn kept_connection_closed_by_the_origin_is_replaced_with_a_new_handshake() {
    let quirks = Quirks {
        close_after: Some(2),
        ..Quirks::default()
    };
    let origin = NtlmOrigin::start_with(Offers::Ntlm, None, quirks).await;
    let proxy = Proxy::start(&config(origin.addr.port(), PASSWORD, "")).await;
    let mut c = client(proxy.addr()).await;
    let url = format!("http://127.0.0.1:{}/doc", origin.addr.port());
    let (status, _) = request(&mut c, "GET", &url, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);

    // The kept connection has served its two requests: the origin hangs up on the next one.
    let body = Bytes::from_static(b"sent again on a new connection");
    let (status, echoed) = request(&mut c, "POST", &url, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{echoed:?}");
    assert_eq!(echoed, body);
    let legs = origin.legs();
    assert_eq!(
        origin.kinds(),
        [
            "negotiate",
            "authenticate",
            "closed",
            "negotiate",
            "authenticate"
        ]
    );
    let conns: Vec<usize> = legs.iter().map(|l| l.conn).collect();
    assert_eq!(conns, [0, 0, 0, 1, 1]);
    assert_eq!(legs[4].body, body);
}

#[tokio::test]
async fn cookie_set_with_the_challenge_goes_on_the_authenticate_leg_and_into_the_jar() {
    let quirks = Quirks {
        affinity_cookie: true,
        ..Quirks::default()
    };
    let origin = NtlmOrigin::start_with(Offers::Ntlm, None, quirks).await;
    let toml = format!(
        "{}cookies = \"capture\"\n",
        config(origin.addr.port(), PASSWORD, "")
    );
    let proxy = Proxy::start(&toml).await;
    let mut c = client(proxy.addr()).await;
    let url = format!("http://127.0.0.1:{}/doc", origin.addr.port());
    let (status, body) = request(&mut c, "GET", &url, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(origin.kinds(), ["negotiate", "authenticate"]);
    assert_eq!(origin.legs()[1].cookie.as_deref(), Some(AFFINITY));

    let cookies = proxy.running.signet.cookies().unwrap();
    cookies.flush();
    let saved = std::fs::read_to_string(proxy.dir.path().join("cookies.json")).unwrap();
    assert!(saved.contains("\"name\": \"lb\""), "{saved}");
}
