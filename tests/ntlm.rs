//! NTLM through signet, against an in-process origin that plays the server side of MS-NLMP:
//! it checks the NTLMv2 proof, the MIC and the channel bindings with its own arithmetic, and
//! that the three messages travel on one connection.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use md4::{Digest, Md4};
use rc4::{KeyInit, Rc4, StreamCipher, consts::U16};
use rustls::pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};

use support::{Pki, Proxy, tls_request};

const USER: &str = "alice";
const DOMAIN: &str = "CORP";
const PASSWORD: &str = "S3cret!pw";
const SERVER_CHALLENGE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// One request as the NTLM origin saw it.
#[derive(Debug, Clone)]
struct Leg {
    conn: usize,
    kind: &'static str,
    body: Bytes,
}

#[derive(Clone, Copy, PartialEq)]
enum Offers {
    Ntlm,
    NegotiateOnly,
}

struct NtlmOrigin {
    addr: SocketAddr,
    legs: Arc<Mutex<Vec<Leg>>>,
}

struct ConnState {
    id: usize,
    negotiate: Option<Vec<u8>>,
    challenge: Option<Vec<u8>>,
    authed: bool,
}

type HmacMd5 = Hmac<md5::Md5>;

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <HmacMd5 as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn av(id: u16, value: &[u8]) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    v.extend((value.len() as u16).to_le_bytes());
    v.extend(value);
    v
}

/// A CHALLENGE message with a timestamp, so that the client must send a MIC.
fn challenge_message() -> Vec<u8> {
    let name = utf16("SERVER");
    let mut info = av(2, &utf16(DOMAIN));
    info.extend(av(1, &utf16("SERVER")));
    info.extend(av(7, &133_000_000_000_000_000u64.to_le_bytes()));
    info.extend(av(0, &[]));
    let mut m = b"NTLMSSP\0".to_vec();
    m.extend(2u32.to_le_bytes());
    m.extend((name.len() as u16).to_le_bytes());
    m.extend((name.len() as u16).to_le_bytes());
    m.extend(56u32.to_le_bytes());
    m.extend(0xe28a_8233u32.to_le_bytes());
    m.extend(SERVER_CHALLENGE);
    m.extend([0; 8]);
    m.extend((info.len() as u16).to_le_bytes());
    m.extend((info.len() as u16).to_le_bytes());
    m.extend((56 + name.len() as u32).to_le_bytes());
    m.extend([6, 1, 0xb1, 0x1d, 0, 0, 0, 0x0f]);
    m.extend(name);
    m.extend(info);
    m
}

fn field(m: &[u8], at: usize) -> Vec<u8> {
    let len = u16::from_le_bytes([m[at], m[at + 1]]) as usize;
    let off = u32::from_le_bytes(m[at + 4..at + 8].try_into().unwrap()) as usize;
    m[off..off + len].to_vec()
}

/// The server's check of an AUTHENTICATE message: NTProofStr, MIC, and channel bindings when
/// `cert` is given. Returns why it fails.
fn verify(neg: &[u8], chal: &[u8], auth: &[u8], cert: Option<&[u8]>) -> Result<(), String> {
    let nt = field(auth, 20);
    let domain = String::from_utf16_lossy(
        &field(auth, 28)
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect::<Vec<_>>(),
    );
    let user_bytes = field(auth, 36);
    let user = String::from_utf16_lossy(
        &user_bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect::<Vec<_>>(),
    );
    if user != USER || domain != DOMAIN {
        return Err(format!("unknown user {domain}\\{user}"));
    }
    let nt_hash = Md4::digest(utf16(PASSWORD));
    let key = hmac_md5(
        &nt_hash,
        &[&utf16(&format!("{}{domain}", user.to_uppercase()))],
    );
    let (proof, blob) = nt.split_at(16);
    if hmac_md5(&key, &[&SERVER_CHALLENGE, blob]) != proof {
        return Err("wrong NTProofStr".into());
    }
    let base = hmac_md5(&key, &[proof]);
    let flags = u32::from_le_bytes(auth[60..64].try_into().unwrap());
    let mut exported: [u8; 16] = base.clone().try_into().unwrap();
    if flags & 0x4000_0000 != 0 {
        let mut k: [u8; 16] = field(auth, 52).try_into().map_err(|_| "no session key")?;
        let base: [u8; 16] = base.try_into().unwrap();
        Rc4::<U16>::new(&base.into()).apply_keystream(&mut k);
        exported = k;
    }
    // AV pairs after the 28-byte blob header.
    let mut pairs = Vec::new();
    let mut at = 28;
    loop {
        let id = u16::from_le_bytes([blob[at], blob[at + 1]]);
        let len = u16::from_le_bytes([blob[at + 2], blob[at + 3]]) as usize;
        if id == 0 {
            break;
        }
        pairs.push((id, blob[at + 4..at + 4 + len].to_vec()));
        at += 4 + len;
    }
    let av_flags = pairs.iter().find(|(id, _)| *id == 6).map(|(_, v)| v[0]);
    if av_flags.unwrap_or(0) & 2 == 0 {
        return Err("no MIC announced although the challenge had a timestamp".into());
    }
    let mut zeroed = auth.to_vec();
    let mic = zeroed[72..88].to_vec();
    zeroed[72..88].fill(0);
    if hmac_md5(&exported, &[neg, chal, &zeroed]) != mic {
        return Err("wrong MIC".into());
    }
    if let Some(cert) = cert {
        let mut app = b"tls-server-end-point:".to_vec();
        app.extend(sha2::Sha256::digest(cert));
        let mut gss = vec![0u8; 16];
        gss.extend((app.len() as u32).to_le_bytes());
        gss.extend(app);
        let expected = md5::Md5::digest(&gss).to_vec();
        match pairs.iter().find(|(id, _)| *id == 10) {
            Some((_, v)) if *v == expected => {}
            Some(_) => return Err("channel bindings of another certificate".into()),
            None => return Err("no channel bindings".into()),
        }
    }
    Ok(())
}

fn token(req: &Request<Incoming>) -> Option<(String, Vec<u8>)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (word, b64) = value.split_once(' ')?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some((word.to_owned(), bytes))
}

fn answer(status: StatusCode, challenge: Option<String>, body: Bytes) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    if let Some(c) = challenge {
        b = b.header("www-authenticate", c);
    }
    b.body(Full::new(body)).unwrap()
}

impl NtlmOrigin {
    /// Plain HTTP, or TLS with `tls` (then channel bindings of `cert` are required).
    async fn start(
        offers: Offers,
        tls: Option<(Arc<rustls::ServerConfig>, CertificateDer<'static>)>,
    ) -> NtlmOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let legs = Arc::new(Mutex::new(Vec::new()));
        let ids = Arc::new(AtomicUsize::new(0));
        let log = legs.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let log = log.clone();
                let state = Arc::new(Mutex::new(ConnState {
                    id: ids.fetch_add(1, Ordering::SeqCst),
                    negotiate: None,
                    challenge: None,
                    authed: false,
                }));
                let tls = tls.clone();
                tokio::spawn(async move {
                    let cert = tls.as_ref().map(|(_, c)| c.to_vec());
                    let service = service_fn(move |req| {
                        serve(req, state.clone(), log.clone(), offers, cert.clone())
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                        }
                        Some((config, _)) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                            }
                        }
                    }
                });
            }
        });
        NtlmOrigin { addr, legs }
    }

    fn legs(&self) -> Vec<Leg> {
        self.legs.lock().unwrap().clone()
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.legs().iter().map(|l| l.kind).collect()
    }
}

async fn serve(
    req: Request<Incoming>,
    state: Arc<Mutex<ConnState>>,
    log: Arc<Mutex<Vec<Leg>>>,
    offers: Offers,
    cert: Option<Vec<u8>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let word = match offers {
        Offers::Ntlm => "NTLM",
        Offers::NegotiateOnly => "Negotiate",
    };
    let tok = token(&req);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut st = state.lock().unwrap();
    let conn = st.id;
    let record = |kind| {
        log.lock().unwrap().push(Leg {
            conn,
            kind,
            body: body.clone(),
        })
    };
    let Some((got_word, msg)) = tok else {
        if st.authed {
            record("authenticated");
            return Ok(answer(StatusCode::OK, None, body.clone()));
        }
        record("anonymous");
        return Ok(answer(
            StatusCode::UNAUTHORIZED,
            Some(word.into()),
            Bytes::new(),
        ));
    };
    if got_word != word || msg.len() < 12 || &msg[..8] != b"NTLMSSP\0" {
        record("other scheme");
        return Ok(answer(
            StatusCode::UNAUTHORIZED,
            Some(word.into()),
            Bytes::new(),
        ));
    }
    match msg[8] {
        1 => {
            record("negotiate");
            let chal = challenge_message();
            let header = format!(
                "{word} {}",
                base64::engine::general_purpose::STANDARD.encode(&chal)
            );
            st.negotiate = Some(msg);
            st.challenge = Some(chal);
            st.authed = false;
            Ok(answer(
                StatusCode::UNAUTHORIZED,
                Some(header),
                Bytes::from_static(b"challenge body"),
            ))
        }
        3 => {
            let (Some(neg), Some(chal)) = (st.negotiate.take(), st.challenge.take()) else {
                record("authenticate without negotiate on this connection");
                return Ok(answer(
                    StatusCode::UNAUTHORIZED,
                    Some(word.into()),
                    Bytes::new(),
                ));
            };
            match verify(&neg, &chal, &msg, cert.as_deref()) {
                Ok(()) => {
                    st.authed = true;
                    record("authenticate");
                    Ok(answer(StatusCode::OK, None, body.clone()))
                }
                Err(why) => {
                    record("rejected");
                    Ok(answer(StatusCode::UNAUTHORIZED, None, Bytes::from(why)))
                }
            }
        }
        _ => {
            record("bad message");
            Ok(answer(StatusCode::BAD_REQUEST, None, Bytes::new()))
        }
    }
}

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

/// A client connection to signet on which several requests can be sent.
async fn client(proxy: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn request(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    method: &str,
    url: &str,
    body: Bytes,
) -> (StatusCode, Bytes) {
    sender.ready().await.unwrap();
    let req = Request::builder()
        .method(method)
        .uri(url)
        .header("host", url.split('/').nth(2).unwrap())
        .body(Full::new(body))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
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
