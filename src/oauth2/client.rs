//! The HTTP client for token endpoints: signet's own upstream connector and TLS settings (system
//! roots), built on first use so that `check` and `explain` never load the trust store. Token
//! endpoints are reached as proxied upstreams are: through the parent proxy when there is one.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::grant::TokenRequest;
use super::token::TokenError;
use crate::net::body::ProxyBody;
use crate::net::{Connector, Dialer, SendError};
use crate::tls::{TlsProfile, UpstreamTls};

/// A token answer larger than this is not a token answer.
const MAX_ANSWER: usize = 1024 * 1024;

/// The raw answer of a token endpoint.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, when sent.
    pub content_type: Option<String>,
    /// The body.
    pub body: bytes::Bytes,
}

/// Posts forms to token endpoints.
#[derive(Clone)]
pub struct TokenClient {
    dialer: Dialer,
    /// How long one token request may take, connection included (`[proxy] token_timeout`).
    timeout: Duration,
    client: Arc<OnceLock<Result<Client<Connector, ProxyBody>, String>>>,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenClient")
    }
}

impl TokenClient {
    /// A client that opens its connections with `dialer` (direct, or through the parent proxy)
    /// and gives up on a token request after `timeout`.
    pub fn new(dialer: Dialer, timeout: Duration) -> Self {
        TokenClient {
            dialer,
            timeout,
            client: Arc::default(),
        }
    }

    /// How long one token request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn client(&self) -> Result<&Client<Connector, ProxyBody>, TokenError> {
        self.client
            .get_or_init(|| {
                let tls = UpstreamTls::client_config(&TlsProfile::default(), &[b"http/1.1"])
                    .map_err(|e| e.to_string())?;
                Ok(Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(Connector::new(self.dialer.clone(), tls)))
            })
            .as_ref()
            .map_err(|e| TokenError::Unreachable(e.clone()))
    }

    /// Sends `req` and reads the whole answer.
    pub async fn post(&self, req: &TokenRequest) -> Result<Answer, TokenError> {
        let mut builder = Request::post(&req.url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json");
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| TokenError::Unreachable(format!("bad header name {k:?}")))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| TokenError::Unreachable(format!("bad value for header {k}")))?;
            value.set_sensitive(true);
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Bytes::from(req.body()))
            .map_err(|e| TokenError::Unreachable(format!("bad token endpoint URL: {e}")))?;
        let exchange = async {
            let response = self.send(request).await?;
            let (parts, incoming) = response.into_parts();
            let limited = http_body_util::Limited::new(incoming, MAX_ANSWER);
            let body = limited
                .collect()
                .await
                .map_err(|e| TokenError::Unreachable(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok(Answer {
                status: parts.status.as_u16(),
                content_type: parts
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(TokenError::Unreachable(format!(
                    "no answer within {}s",
                    self.timeout.as_secs()
                )))
            })
    }

    async fn send(&self, request: Request<Bytes>) -> Result<Response<Incoming>, TokenError> {
        self.dialer
            .send_buffered(self.client()?, request)
            .await
            .map_err(|e| match e {
                SendError::Parent(e) => TokenError::Unreachable(e.to_string()),
                SendError::Client(e) => TokenError::Unreachable(describe(&e)),
            })
    }
}

/// The innermost cause of a client error: hyper's outer message says little.
fn describe(err: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut innermost: &dyn std::error::Error = err;
    let mut source = err.source();
    while let Some(e) = source {
        innermost = e;
        source = e.source();
    }
    innermost.to_string()
}
