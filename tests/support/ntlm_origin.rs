//! An NTLM origin that plays the server side of MS-NLMP: it checks the NTLMv2 proof, the MIC
//! and the channel bindings with its own arithmetic (md4, hmac, rc4 here, not signet's code),
//! and records on which connection each message arrived.
#![allow(dead_code)]

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
use tokio::net::TcpListener;

pub const USER: &str = "alice";
pub const DOMAIN: &str = "CORP";
pub const PASSWORD: &str = "S3cret!pw";
const SERVER_CHALLENGE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// One request as the NTLM origin saw it.
#[derive(Debug, Clone)]
pub struct Leg {
    pub conn: usize,
    pub kind: &'static str,
    pub body: Bytes,
    /// The request's Cookie header.
    pub cookie: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Offers {
    Ntlm,
    NegotiateOnly,
}

/// How the origin departs from a plain NTLM server.
#[derive(Clone, Copy, Default)]
pub struct Quirks {
    /// Serves this many requests per connection; on the next one it reads the request and
    /// closes the connection without an answer (a keep-alive limit met just as a request
    /// arrives).
    pub close_after: Option<usize>,
    /// Sets `lb=node-2` on the CHALLENGE answer and rejects an AUTHENTICATE without it, as a
    /// load balancer that routes each request by its affinity cookie would.
    pub affinity_cookie: bool,
}

/// The cookie of [`Quirks::affinity_cookie`].
pub const AFFINITY: &str = "lb=node-2";

pub struct NtlmOrigin {
    pub addr: SocketAddr,
    legs: Arc<Mutex<Vec<Leg>>>,
}

struct ConnState {
    id: usize,
    served: usize,
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
    pub async fn start(
        offers: Offers,
        tls: Option<(Arc<rustls::ServerConfig>, CertificateDer<'static>)>,
    ) -> NtlmOrigin {
        Self::start_with(offers, tls, Quirks::default()).await
    }

    /// As [`NtlmOrigin::start`], with `quirks`.
    pub async fn start_with(
        offers: Offers,
        tls: Option<(Arc<rustls::ServerConfig>, CertificateDer<'static>)>,
        quirks: Quirks,
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
                    served: 0,
                    negotiate: None,
                    challenge: None,
                    authed: false,
                }));
                let tls = tls.clone();
                tokio::spawn(async move {
                    let cert = tls.as_ref().map(|(_, c)| c.to_vec());
                    let service = service_fn(move |req| {
                        serve(
                            req,
                            state.clone(),
                            log.clone(),
                            offers,
                            quirks,
                            cert.clone(),
                        )
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

    pub fn legs(&self) -> Vec<Leg> {
        self.legs.lock().unwrap().clone()
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.legs().iter().map(|l| l.kind).collect()
    }
}

async fn serve(
    req: Request<Incoming>,
    state: Arc<Mutex<ConnState>>,
    log: Arc<Mutex<Vec<Leg>>>,
    offers: Offers,
    quirks: Quirks,
    cert: Option<Vec<u8>>,
) -> Result<Response<Full<Bytes>>, &'static str> {
    let word = match offers {
        Offers::Ntlm => "NTLM",
        Offers::NegotiateOnly => "Negotiate",
    };
    let tok = token(&req);
    let cookie = req
        .headers()
        .get("cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mut st = state.lock().unwrap();
    let conn = st.id;
    let record = |kind| {
        log.lock().unwrap().push(Leg {
            conn,
            kind,
            body: body.clone(),
            cookie: cookie.clone(),
        })
    };
    st.served += 1;
    if quirks.close_after.is_some_and(|n| st.served > n) {
        record("closed");
        // A service error makes hyper close the connection without an answer.
        return Err("closing the connection");
    }
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
            let mut challenge = answer(
                StatusCode::UNAUTHORIZED,
                Some(header),
                Bytes::from_static(b"challenge body"),
            );
            if quirks.affinity_cookie {
                let set = format!("{AFFINITY}; Path=/");
                challenge
                    .headers_mut()
                    .insert("set-cookie", set.parse().unwrap());
            }
            Ok(challenge)
        }
        3 => {
            if quirks.affinity_cookie
                && !cookie
                    .as_deref()
                    .is_some_and(|c| c.split("; ").any(|p| p == AFFINITY))
            {
                record("authenticate without the affinity cookie");
                return Ok(answer(StatusCode::BAD_GATEWAY, None, Bytes::new()));
            }
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
