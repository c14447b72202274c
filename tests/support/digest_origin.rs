//! An origin that demands HTTP Digest and checks every answer itself (hashes computed here
//! with md-5 and sha2, not with signet's code): uri equal to the request target, known nonce,
//! strictly rising nc per nonce, the response hash, and H(body) for auth-int.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};
use tokio::net::TcpListener;

/// How the origin challenges.
#[derive(Clone)]
pub struct Spec {
    pub username: String,
    pub password: String,
    pub realm: String,
    /// One challenge per algorithm, each in its own `WWW-Authenticate` header, in this order.
    pub algorithms: Vec<&'static str>,
    /// The `qop` offered; empty for the RFC 2069 form.
    pub qop: &'static str,
    /// A nonce becomes stale after this many accepted requests.
    pub nonce_uses: Option<u32>,
    /// Answer every request with an unparsable challenge.
    pub malformed: bool,
    /// A `Set-Cookie` value sent with every 401.
    pub challenge_cookie: Option<&'static str>,
    /// Bytes added to every nonce (an origin issuing oversized nonces).
    pub nonce_padding: usize,
}

impl Spec {
    pub fn new(algorithms: &[&'static str], qop: &'static str) -> Spec {
        Spec {
            username: "Mufasa".into(),
            password: "Circle of Life".into(),
            realm: "testrealm@host.com".into(),
            algorithms: algorithms.to_vec(),
            qop,
            nonce_uses: None,
            malformed: false,
            challenge_cookie: None,
            nonce_padding: 0,
        }
    }
}

/// One request as the origin saw it, with the verdict.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: Method,
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: StatusCode,
    /// The accepted `(algorithm, nc)`, when the request passed.
    pub accepted: Option<(String, u32)>,
}

#[derive(Default)]
struct State {
    nonces: HashMap<String, (u32, u32)>,
    issued: u32,
    hits: Vec<Hit>,
    /// The status the next request carrying credentials is refused with, whatever they are.
    refuse_next: Option<StatusCode>,
}

pub struct DigestOrigin {
    pub addr: SocketAddr,
    spec: Spec,
    state: Arc<Mutex<State>>,
}

impl DigestOrigin {
    pub async fn start(spec: Spec) -> DigestOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let (shared, shared_spec) = (state.clone(), spec.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (state, spec) = (shared.clone(), shared_spec.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(spec.clone(), state.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        DigestOrigin { addr, spec, state }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.lock().unwrap().hits.clone()
    }

    /// Refuses the next request that carries an `Authorization` with `status` (as a server
    /// does whose header limit the credentials exceed), then goes back to checking answers.
    pub fn refuse_next(&self, status: StatusCode) {
        self.state.lock().unwrap().refuse_next = Some(status);
    }

    pub fn challenges_sent(&self) -> usize {
        self.hits()
            .iter()
            .filter(|h| h.status == StatusCode::UNAUTHORIZED)
            .count()
    }
}

pub fn hash(algorithm: &str, data: &[u8]) -> String {
    let bytes: Vec<u8> = match algorithm.trim_end_matches("-sess") {
        "MD5" => Md5::digest(data).to_vec(),
        "SHA-256" => Sha256::digest(data).to_vec(),
        "SHA-512-256" => Sha512_256::digest(data).to_vec(),
        other => panic!("the test origin does not know {other}"),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `key=value` pairs of a Digest `Authorization`, values unquoted (no escapes expected).
pub fn params(header: &str) -> HashMap<String, String> {
    let rest = header.strip_prefix("Digest ").unwrap_or("");
    let mut out = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            value = chars.by_ref().take_while(|c| *c != '"').collect();
            chars.by_ref().take_while(|c| *c != ',').for_each(drop);
        } else {
            value.extend(chars.by_ref().take_while(|c| *c != ','));
        }
        out.insert(key, value.trim().to_owned());
    }
}

async fn handle(
    spec: Spec,
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let target = parts.uri.to_string();
    let mut state = state.lock().unwrap();
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(params);
    if authorization.is_some()
        && let Some(status) = state.refuse_next.take()
    {
        let mut response = Response::new(Full::new(Bytes::from_static(b"origin: refused")));
        *response.status_mut() = status;
        state.hits.push(Hit {
            method: parts.method,
            target,
            headers: parts.headers,
            body,
            status,
            accepted: None,
        });
        return Ok(response);
    }
    let verdict = match (&authorization, spec.malformed) {
        (_, true) => Err(false),
        (None, _) => Err(false),
        (Some(p), _) => check(&spec, &mut state, p, parts.method.as_str(), &target, &body),
    };
    let mut response = Response::new(Full::new(body.clone()));
    let accepted = match verdict {
        Ok(accepted) => Some(accepted),
        Err(stale) => {
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            *response.body_mut() = Full::new(Bytes::from_static(b"origin: unauthorized"));
            state.issued += 1;
            let padding = "x".repeat(spec.nonce_padding);
            let nonce = format!("nonce-{}-{}{padding}", state.issued, spec.realm.len());
            state.nonces.insert(nonce.clone(), (0, 0));
            for value in challenges(&spec, &nonce, stale) {
                response
                    .headers_mut()
                    .append(http::header::WWW_AUTHENTICATE, value.parse().unwrap());
            }
            if let Some(cookie) = spec.challenge_cookie {
                response
                    .headers_mut()
                    .append(http::header::SET_COOKIE, cookie.parse().unwrap());
            }
            None
        }
    };
    state.hits.push(Hit {
        method: parts.method,
        target,
        headers: parts.headers,
        body,
        status: response.status(),
        accepted,
    });
    Ok(response)
}

fn challenges(spec: &Spec, nonce: &str, stale: bool) -> Vec<String> {
    if spec.malformed {
        return vec![format!(r#"Digest realm="{}", nonce="{nonce}"#, spec.realm)];
    }
    let mut out = vec![r#"Basic realm="fallback""#.to_owned()];
    for algorithm in &spec.algorithms {
        let mut value = format!(
            r#"Digest realm="{}", nonce="{nonce}", algorithm={algorithm}, opaque="op-{nonce}""#,
            spec.realm
        );
        if !spec.qop.is_empty() {
            value.push_str(&format!(r#", qop="{}""#, spec.qop));
        }
        if stale {
            value.push_str(", stale=true");
        }
        out.push(value);
    }
    out
}

/// `Ok((algorithm, nc))` when the answer is right; `Err(stale)` otherwise.
fn check(
    spec: &Spec,
    state: &mut State,
    p: &HashMap<String, String>,
    method: &str,
    target: &str,
    body: &[u8],
) -> Result<(String, u32), bool> {
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let algorithm = p.get("algorithm").cloned().unwrap_or_else(|| "MD5".into());
    if !spec.algorithms.contains(&algorithm.as_str())
        || get("username") != spec.username
        || get("realm") != spec.realm
        || get("uri") != target
        || get("opaque") != format!("op-{}", get("nonce"))
    {
        return Err(false);
    }
    let nonce = get("nonce");
    let Some((uses, last_nc)) = state.nonces.get(&nonce).copied() else {
        return Err(false);
    };
    if spec.nonce_uses.is_some_and(|max| uses >= max) {
        return Err(true);
    }
    let ha1 = hash(
        &algorithm,
        format!("{}:{}:{}", spec.username, spec.realm, spec.password).as_bytes(),
    );
    let (nc_hex, cnonce, qop) = (get("nc"), get("cnonce"), get("qop"));
    let ha1 = if algorithm.ends_with("-sess") {
        hash(&algorithm, format!("{ha1}:{nonce}:{cnonce}").as_bytes())
    } else {
        ha1
    };
    let ha2 = match qop.as_str() {
        "auth-int" => hash(
            &algorithm,
            format!("{method}:{target}:{}", hash(&algorithm, body)).as_bytes(),
        ),
        _ => hash(&algorithm, format!("{method}:{target}").as_bytes()),
    };
    let (expected, nc) = if spec.qop.is_empty() {
        (
            hash(&algorithm, format!("{ha1}:{nonce}:{ha2}").as_bytes()),
            last_nc + 1,
        )
    } else {
        if !spec.qop.split(',').any(|q| q.trim() == qop) {
            return Err(false);
        }
        let nc = u32::from_str_radix(&nc_hex, 16).map_err(|_| false)?;
        if nc <= last_nc || nc_hex.len() != 8 {
            return Err(false);
        }
        let line = format!("{ha1}:{nonce}:{nc_hex}:{cnonce}:{qop}:{ha2}");
        (hash(&algorithm, line.as_bytes()), nc)
    };
    if get("response") != expected {
        return Err(false);
    }
    state.nonces.insert(nonce, (uses + 1, nc));
    Ok((algorithm, nc))
}
