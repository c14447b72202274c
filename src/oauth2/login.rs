//! `signet login`: the browser half of the authorization-code and implicit grants. A one-shot
//! listener on a loopback port receives the redirect, checks the state, exchanges the code and
//! stores the tokens.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::grant::{Ask, authorization_url};
use super::pkce::{challenge, generate_verifier};
use super::settings::Grant;
use super::source::TokenSource;
use super::token::{Token, TokenError, parse_token_response};
use crate::auth::SignContext;

/// Why a login did not complete.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The profile does not use a browser grant.
    #[error(
        "profile {0} uses the {1} grant; `signet login` is for authorization_code, \
         authorization_code_pkce and implicit (other grants fetch tokens on first use)"
    )]
    NotBrowserGrant(String, &'static str),
    /// `callback_url` cannot be served on this machine.
    #[error("callback_url: {0}")]
    Callback(String),
    /// The loopback listener could not start.
    #[error("cannot listen for the redirect on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        reason: String,
    },
    /// The authorization server (or the user) refused.
    #[error("{}", denied_text(.error, .description))]
    Denied {
        /// The `error` code, e.g. `access_denied`.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// The redirect's state is not the one signet sent: possibly a forged redirect.
    #[error(
        "the redirect carried a different state than the authorization request; the code was \
         not used (a stale browser tab, or a forged redirect)"
    )]
    StateMismatch,
    /// The redirect had neither a code nor an error.
    #[error("the redirect carried no {0}")]
    Incomplete(&'static str),
    /// No redirect arrived in time.
    #[error("no redirect arrived within {0}s; run `signet login` again")]
    Timeout(u64),
    /// The code exchange failed.
    #[error("exchanging the code failed: {0}")]
    Exchange(TokenError),
    /// The token could not be stored.
    #[error("{0}")]
    Store(String),
}

fn denied_text(error: &str, description: &Option<String>) -> String {
    match description {
        Some(d) => format!("the authorization server refused: {error}: {d}"),
        None => format!("the authorization server refused: {error}"),
    }
}

/// How `signet login` behaves.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// How long to wait for the redirect.
    pub timeout: Duration,
    /// Try to open the URL in a browser.
    pub open_browser: bool,
}

/// A prepared login: the listener is bound and the URL is known.
pub struct Login {
    source: Arc<TokenSource>,
    listener: TcpListener,
    url: String,
    redirect_uri: String,
    path: String,
    state: String,
    verifier: Option<String>,
}

impl Login {
    /// Binds the loopback listener and builds the authorization URL.
    pub async fn prepare(source: Arc<TokenSource>) -> Result<Login, LoginError> {
        let s = source.settings();
        let pkce = match &s.grant {
            Grant::AuthorizationCode { pkce } => *pkce,
            Grant::Implicit => None,
            other => return Err(LoginError::NotBrowserGrant(s.name.clone(), other.name())),
        };
        let (bind, fixed) = match &s.callback_url {
            Some(url) => {
                let (addr, path) = loopback(url)?;
                (addr, Some((url.clone(), path)))
            }
            None => (SocketAddr::from(([127, 0, 0, 1], 0)), None),
        };
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|e| LoginError::Listen {
                addr: bind.to_string(),
                reason: e.to_string(),
            })?;
        let (redirect_uri, path) = match fixed {
            Some(f) => f,
            None => {
                let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
                (
                    format!("http://127.0.0.1:{port}/callback"),
                    "/callback".to_owned(),
                )
            }
        };
        let cx = SignContext::system();
        let state = s.state.clone().unwrap_or_else(|| cx.nonce_alphanumeric(32));
        let verifier = pkce.map(|_| match &s.code_verifier {
            Some(v) => v.expose().to_owned(),
            None => generate_verifier(&cx),
        });
        let code_challenge = pkce
            .zip(verifier.as_deref())
            .map(|(m, v)| (challenge(v, m), m.as_str()));
        let url = authorization_url(
            s,
            &redirect_uri,
            &state,
            code_challenge.as_ref().map(|(c, m)| (c.as_str(), *m)),
        )
        .ok_or_else(|| LoginError::Callback("the profile has no auth_url".into()))?;
        Ok(Login {
            source,
            listener,
            url,
            redirect_uri,
            path,
            state,
            verifier,
        })
    }

    /// The URL to open in a browser.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The redirect URI the authorization server must know.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the redirect, finishes the grant and stores the token.
    pub async fn finish(self, opts: &LoginOptions) -> Result<Token, LoginError> {
        if opts.open_browser {
            open_browser(&self.url);
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Token, LoginError>>(1);
        let ctx = Arc::new(Callback {
            source: self.source,
            path: self.path,
            redirect_uri: self.redirect_uri,
            state: self.state,
            verifier: self.verifier,
        });
        let listener = self.listener;
        let server = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let ctx = ctx.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let outcome: Arc<Mutex<Option<Result<Token, LoginError>>>> = Arc::default();
                    let slot = outcome.clone();
                    let service = service_fn(move |req| {
                        let ctx = ctx.clone();
                        let slot = slot.clone();
                        async move { Ok::<_, Infallible>(ctx.handle(req, &slot).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                    // Sent once the browser has its answer, so the page shows before exit.
                    let done = outcome.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(done) = done {
                        let _ = tx.send(done).await;
                    }
                });
            }
        });
        let result = tokio::time::timeout(opts.timeout, rx.recv()).await;
        server.abort();
        match result {
            Ok(Some(outcome)) => outcome,
            Ok(None) | Err(_) => Err(LoginError::Timeout(opts.timeout.as_secs())),
        }
    }
}

/// Where the redirect arrives.
struct Callback {
    source: Arc<TokenSource>,
    path: String,
    redirect_uri: String,
    state: String,
    verifier: Option<String>,
}

type Slot = Mutex<Option<Result<Token, LoginError>>>;

impl Callback {
    async fn handle(&self, req: Request<Incoming>, slot: &Slot) -> Response<Full<Bytes>> {
        if req.uri().path() != self.path {
            return page(StatusCode::NOT_FOUND, "signet: not the login callback");
        }
        let implicit = self.source.settings().grant == Grant::Implicit;
        let query: Vec<(String, String)> = req
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let params = if implicit && req.method() == Method::POST {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return page(StatusCode::BAD_REQUEST, "signet: unreadable body"),
            };
            form_urlencoded::parse(&body).into_owned().collect()
        } else if implicit && !query.iter().any(|(k, _)| k == "error") {
            // The token is in the fragment, which browsers never send: a page posts it back.
            return fragment_page();
        } else {
            query
        };
        let outcome = self.complete(&params).await;
        let (status, text) = match &outcome {
            Ok(_) => (
                StatusCode::OK,
                "signet: login complete; you can close this tab.".to_owned(),
            ),
            Err(e) => (
                StatusCode::BAD_REQUEST,
                format!("signet: login failed: {e}"),
            ),
        };
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        let mut response = page(status, &text);
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        response
    }

    async fn complete(&self, params: &[(String, String)]) -> Result<Token, LoginError> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        if let Some(error) = get("error") {
            return Err(LoginError::Denied {
                error: error.to_owned(),
                description: get("error_description").map(str::to_owned),
            });
        }
        if get("state") != Some(self.state.as_str()) {
            return Err(LoginError::StateMismatch);
        }
        let now = SystemTime::now();
        let token = if self.source.settings().grant == Grant::Implicit {
            let fragment = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            parse_token_response(
                200,
                Some("application/x-www-form-urlencoded"),
                fragment.as_bytes(),
                now,
                self.source.settings().scope.as_deref(),
            )
            .map_err(|_| LoginError::Incomplete("access_token"))?
        } else {
            let code = get("code").ok_or(LoginError::Incomplete("code"))?;
            self.source
                .request(
                    Ask::Code {
                        code,
                        redirect_uri: &self.redirect_uri,
                        verifier: self.verifier.as_deref(),
                    },
                    now,
                )
                .await
                .map_err(LoginError::Exchange)?
        };
        self.source
            .store_login(token.clone())
            .await
            .map_err(|e| LoginError::Store(e.to_string()))?;
        Ok(token)
    }
}

/// The address to bind for `callback_url`, which must be plain HTTP on a loopback address.
fn loopback(url: &str) -> Result<(SocketAddr, String), LoginError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| LoginError::Callback(format!("not a URL: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(LoginError::Callback(
            "signet receives the redirect itself, so it must be http://127.0.0.1:PORT/… \
             (or localhost / [::1])"
                .into(),
        ));
    }
    let host = uri.host().unwrap_or_default();
    let ip: std::net::IpAddr = match host {
        "localhost" => [127, 0, 0, 1].into(),
        h => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| LoginError::Callback(format!("{h} is not a loopback address")))?,
    };
    if !ip.is_loopback() {
        return Err(LoginError::Callback(format!(
            "{ip} is not a loopback address; signet only listens on loopback for the redirect"
        )));
    }
    let port = uri.port_u16().unwrap_or(80);
    Ok((SocketAddr::new(ip, port), uri.path().to_owned()))
}

fn page(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn fragment_page() -> Response<Full<Bytes>> {
    const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>signet login</title>
<p id="m">signet: completing the login…</p>
<script>
fetch(location.pathname, {
  method: "POST",
  headers: {"Content-Type": "application/x-www-form-urlencoded"},
  body: location.hash.slice(1)
}).then(function (r) { return r.text(); })
  .then(function (t) { document.getElementById("m").textContent = t; });
</script>
"#;
    let mut response = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Opens `url` with `$BROWSER`, or `xdg-open`/`open` when a desktop session is there.
fn open_browser(url: &str) {
    let program = match std::env::var("BROWSER") {
        Ok(b) if !b.is_empty() => b,
        _ if cfg!(target_os = "macos") => "open".to_owned(),
        _ if std::env::var_os("DISPLAY").is_some()
            || std::env::var_os("WAYLAND_DISPLAY").is_some() =>
        {
            "xdg-open".to_owned()
        }
        _ => return,
    };
    let _ = std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
