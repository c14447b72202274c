//! An in-process authorization server and API for the OAuth 2.0 tests: the token endpoint
//! issues numbered tokens and checks client credentials; the API accepts only tokens the
//! endpoint issued and has not revoked, and echoes the body.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request the token endpoint received.
#[derive(Debug, Clone)]
pub struct TokenCall {
    pub form: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
}

impl TokenCall {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One request the API received.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub authorization: Option<String>,
    pub uri: http::Uri,
    pub body: Bytes,
    pub accepted: bool,
}

pub struct Behaviour {
    /// The endpoint answers 503 `temporarily_unavailable`.
    pub down: bool,
    /// `expires_in` as sent.
    pub expires_in: serde_json::Value,
    /// Send `scope` as a JSON list and leave out `token_type`.
    pub quirky: bool,
    /// How long each token request takes.
    pub delay: Duration,
    /// The access token issued, as is, instead of the numbered one.
    pub access_token: Option<String>,
}

#[derive(Default)]
struct State {
    calls: Vec<TokenCall>,
    api: Vec<ApiCall>,
    valid: HashSet<String>,
    refresh: HashSet<String>,
    issued: u32,
}

pub struct AuthServer {
    pub token_addr: SocketAddr,
    pub api_addr: SocketAddr,
    pub behaviour: Arc<Mutex<Behaviour>>,
    state: Arc<Mutex<State>>,
    /// The token endpoint speaks HTTPS.
    tls: bool,
}

pub const CLIENT_ID: &str = "my client";
pub const CLIENT_SECRET: &str = "s3cr:t";

impl AuthServer {
    pub async fn start() -> AuthServer {
        Self::start_with(None).await
    }

    /// With the token endpoint on HTTPS, with `tls`.
    pub async fn start_tls(tls: Arc<rustls::ServerConfig>) -> AuthServer {
        Self::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> AuthServer {
        let behaviour = Arc::new(Mutex::new(Behaviour {
            down: false,
            expires_in: serde_json::json!(3600),
            quirky: false,
            delay: Duration::ZERO,
            access_token: None,
        }));
        let state = Arc::new(Mutex::new(State::default()));
        let https = tls.is_some();
        let token_addr = serve(true, tls, state.clone(), behaviour.clone()).await;
        let api_addr = serve(false, None, state.clone(), behaviour.clone()).await;
        AuthServer {
            token_addr,
            api_addr,
            behaviour,
            state,
            tls: https,
        }
    }

    pub fn token_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/token", self.token_addr)
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://{}{path}", self.api_addr)
    }

    pub fn calls(&self) -> Vec<TokenCall> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn api_calls(&self) -> Vec<ApiCall> {
        self.state.lock().unwrap().api.clone()
    }

    /// The API stops accepting every token issued so far.
    pub fn revoke_all(&self) {
        self.state.lock().unwrap().valid.clear();
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.behaviour.lock().unwrap());
    }
}

async fn serve(
    token: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Arc<Mutex<State>>,
    b: Arc<Mutex<Behaviour>>,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (state, b, tls) = (state.clone(), b.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => connection(tcp, token, state, b).await,
                    Some(config) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(config);
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            connection(stream, token, state, b).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn connection<I>(io: I, token: bool, state: Arc<Mutex<State>>, b: Arc<Mutex<Behaviour>>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let (state, b) = (state.clone(), b.clone());
        async move {
            Ok::<_, Infallible>(if token {
                token_endpoint(req, state, b).await
            } else {
                api(req, state).await
            })
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap()
}

async fn token_endpoint(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    b: Arc<Mutex<Behaviour>>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let form: Vec<(String, String)> = url_form(&body);
    let call = TokenCall {
        form,
        authorization: parts
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
    };
    state.lock().unwrap().calls.push(call.clone());
    let (down, expires_in, quirky, delay, fixed_token) = {
        let b = b.lock().unwrap();
        (
            b.down,
            b.expires_in.clone(),
            b.quirky,
            b.delay,
            b.access_token.clone(),
        )
    };
    tokio::time::sleep(delay).await;
    if down {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "temporarily_unavailable", "error_description": "maintenance window"}),
        );
    }
    // Client authentication, decoded here independently of signet (RFC 6749 §2.3.1).
    let (id, secret) = match &call.authorization {
        Some(h) => {
            let raw = h.strip_prefix("Basic ").unwrap_or_default();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap_or_default();
            let text = String::from_utf8(decoded).unwrap_or_default();
            let (i, s) = text.split_once(':').unwrap_or_default();
            (decode_form(i), decode_form(s))
        }
        None => (
            call.param("client_id").unwrap_or_default().to_owned(),
            call.param("client_secret").unwrap_or_default().to_owned(),
        ),
    };
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "invalid_client"}),
        );
    }
    let mut st = state.lock().unwrap();
    match call.param("grant_type") {
        Some("client_credentials") | Some("password") | Some("authorization_code") => {}
        Some("refresh_token") => {
            let rt = call.param("refresh_token").unwrap_or_default();
            if !st.refresh.remove(rt) {
                return json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": "invalid_grant", "error_description": "unknown refresh token"}),
                );
            }
        }
        _ => {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "unsupported_grant_type"}),
            );
        }
    }
    st.issued += 1;
    let n = st.issued;
    st.valid.insert(format!("tok-{n}"));
    st.valid.insert(format!("id-{n}"));
    st.refresh.insert(format!("rt-{n}"));
    let mut answer = serde_json::json!({
        "access_token": fixed_token.unwrap_or_else(|| format!("tok-{n}")),
        "refresh_token": format!("rt-{n}"),
        "id_token": format!("id-{n}"),
        "expires_in": expires_in,
    });
    if quirky {
        answer["scope"] = serde_json::json!(["read", "write"]);
    } else {
        answer["token_type"] = serde_json::json!("Bearer");
        answer["scope"] = serde_json::json!("read write");
    }
    json(StatusCode::OK, answer)
}

async fn api(req: Request<Incoming>, state: Arc<Mutex<State>>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let authorization = parts
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    let from_query = parts.uri.query().and_then(|q| {
        url_form(q.as_bytes())
            .into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
    });
    let token = authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_owned))
        .or(from_query);
    let mut st = state.lock().unwrap();
    let accepted = token.is_some_and(|t| st.valid.contains(&t));
    st.api.push(ApiCall {
        authorization,
        uri: parts.uri.clone(),
        body: body.clone(),
        accepted,
    });
    let status = if accepted {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    Response::builder()
        .status(status)
        .body(Full::new(body))
        .unwrap()
}

/// `application/x-www-form-urlencoded` decoding, written here so the test does not rely on the
/// encoder it checks.
pub fn url_form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_form(k), decode_form(v))
        })
        .collect()
}

fn decode_form(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}
