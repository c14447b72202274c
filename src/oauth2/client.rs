//! The HTTP client for token endpoints: forms posted with [`BufferedClient`], which reaches
//! them as proxied upstreams are reached (through the parent proxy when there is one).

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Request};

use super::grant::TokenRequest;
use super::token::TokenError;
use crate::net::Dialer;
use crate::net::buffered::BufferedClient;

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
#[derive(Clone, Debug)]
pub struct TokenClient {
    /// Times out after `[proxy] token_timeout`, connection included.
    inner: BufferedClient,
}

impl TokenClient {
    /// A client that opens its connections with `dialer` (direct, or through the parent proxy)
    /// and gives up on a token request after `timeout`.
    pub fn new(dialer: Dialer, timeout: Duration) -> Self {
        TokenClient {
            inner: BufferedClient::new(dialer, timeout),
        }
    }

    /// How long one token request may take.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout()
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
        let (parts, body) = self
            .inner
            .exchange(request, MAX_ANSWER)
            .await
            .map_err(|e| TokenError::Unreachable(e.to_string()))?;
        Ok(Answer {
            status: parts.status.as_u16(),
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
        })
    }
}
