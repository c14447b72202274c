//! A small client for signet's own requests (token endpoints, STS): the upstream connector with
//! system roots, built on first use so that `check` and `explain` never load the trust store, a
//! whole-exchange timeout, and a cap on the answer it reads. It dials as proxied upstreams do:
//! through the parent proxy when there is one.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::response::Parts;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::body::ProxyBody;
use super::{Connector, Dialer, SendError};
use crate::tls::{TlsProfile, UpstreamTls};

/// Why a buffered exchange gave no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BufferedError {
    /// The TLS client settings could not be built (the system roots, say).
    #[error("{0}")]
    Setup(String),
    /// Connecting or sending failed; the innermost cause.
    #[error("{0}")]
    Send(String),
    /// The answer broke off or exceeded the cap.
    #[error("reading the answer: {0}")]
    Read(String),
    /// Nothing complete within the timeout.
    #[error("no answer within {}s", .0.as_secs())]
    Timeout(Duration),
}

/// Sends whole requests and reads whole answers.
#[derive(Clone)]
pub struct BufferedClient {
    dialer: Dialer,
    /// How long one exchange may take, connection included.
    timeout: Duration,
    client: Arc<OnceLock<Result<Client<Connector, ProxyBody>, BufferedError>>>,
}

impl std::fmt::Debug for BufferedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BufferedClient")
    }
}

impl BufferedClient {
    /// A client that opens its connections with `dialer` (direct, or through the parent proxy)
    /// and gives up on an exchange after `timeout`.
    pub fn new(dialer: Dialer, timeout: Duration) -> Self {
        BufferedClient {
            dialer,
            timeout,
            client: Arc::default(),
        }
    }

    /// The timeout of one exchange.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn client(&self) -> Result<&Client<Connector, ProxyBody>, BufferedError> {
        self.client
            .get_or_init(|| {
                let tls = UpstreamTls::client_config(&TlsProfile::default(), &[b"http/1.1"])
                    .map_err(|e| BufferedError::Setup(e.to_string()))?;
                Ok(Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(30))
                    .build(Connector::new(self.dialer.clone(), tls)))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Sends `request` and reads an answer of at most `max_answer` bytes.
    pub async fn exchange(
        &self,
        request: Request<Bytes>,
        max_answer: usize,
    ) -> Result<(Parts, Bytes), BufferedError> {
        let exchange = async {
            let response = self.send(request).await?;
            let (parts, incoming) = response.into_parts();
            let body = http_body_util::Limited::new(incoming, max_answer)
                .collect()
                .await
                .map_err(|e| BufferedError::Read(e.to_string()))?
                .to_bytes();
            Ok((parts, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(BufferedError::Timeout(self.timeout)))
    }

    async fn send(&self, request: Request<Bytes>) -> Result<Response<Incoming>, BufferedError> {
        self.dialer
            .send_buffered(self.client()?, request)
            .await
            .map_err(|e| match e {
                SendError::Parent(e) => BufferedError::Send(e.to_string()),
                SendError::Client(e) => BufferedError::Send(innermost(&e)),
            })
    }
}

/// The innermost cause of a client error: hyper's outer message says little.
fn innermost(err: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut innermost: &dyn std::error::Error = err;
    let mut source = err.source();
    while let Some(e) = source {
        innermost = e;
        source = e.source();
    }
    innermost.to_string()
}
