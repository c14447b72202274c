//! Opening TCP connections to upstreams: directly, or through the parent proxy, with a connect
//! timeout and errors that say which host and why.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use tokio::net::TcpStream;

use super::Limits;
use super::body::{self, ProxyBody};
use super::parent::{ParentError, ParentProxy};
use super::stream::Connector;

/// Why an upstream connection could not be made; the text goes into the client's 502 body.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TCP connection failed.
    #[error("cannot connect to {authority}: {source}")]
    Tcp {
        /// `host:port`.
        authority: String,
        /// What the system said.
        source: io::Error,
    },
    /// The TCP connection did not complete in time.
    #[error("cannot connect to {authority}: timed out after {}s", after.as_secs())]
    Timeout {
        /// `host:port`.
        authority: String,
        /// How long signet waited.
        after: Duration,
    },
    /// The request URI names no host.
    #[error("request has no host")]
    NoHost,
    /// The host cannot be a TLS server name.
    #[error("{0} is not a valid TLS server name")]
    ServerName(String),
    /// The TLS handshake with the origin failed.
    #[error("TLS handshake with {authority} failed: {reason}")]
    Tls {
        /// `host:port`.
        authority: String,
        /// What went wrong, in words (see `tls::describe_handshake_error`).
        reason: String,
    },
    /// The parent proxy refused or failed.
    #[error("parent proxy {parent}: {reason}")]
    Parent {
        /// The parent's `host:port`.
        parent: String,
        /// What it did.
        reason: ParentError,
    },
    /// The HTTP/1.1 handshake on a new connection failed.
    #[error("upstream HTTP/1.1 handshake failed: {0}")]
    Handshake(#[source] hyper::Error),
}

/// Why [`Dialer::send_buffered`] got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Through the parent proxy.
    #[error(transparent)]
    Parent(ConnectError),
    /// On the pooled client.
    #[error(transparent)]
    Client(hyper_util::client::legacy::Error),
}

/// Opens TCP connections to upstreams, through the parent proxy when there is one.
#[derive(Debug, Clone)]
pub struct Dialer {
    parent: Option<Arc<ParentProxy>>,
    connect_timeout: Duration,
    tls_handshake_timeout: Duration,
}

impl Default for Dialer {
    fn default() -> Self {
        Dialer::new(None, &Limits::DEFAULT)
    }
}

impl Dialer {
    /// A dialer going direct, or through `parent`, within the connect and TLS handshake
    /// timeouts of `limits`.
    pub fn new(parent: Option<Arc<ParentProxy>>, limits: &Limits) -> Self {
        Dialer {
            parent,
            connect_timeout: limits.connect,
            tls_handshake_timeout: limits.tls_handshake,
        }
    }

    /// How long a TCP connection may take to open.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long a TLS handshake with an origin may take.
    pub fn tls_handshake_timeout(&self) -> Duration {
        self.tls_handshake_timeout
    }

    /// The parent proxy, when there is one.
    pub fn parent(&self) -> Option<&ParentProxy> {
        self.parent.as_deref()
    }

    /// Sends a request whose body is in memory: plain `http://` through the parent on a
    /// connection of its own, where the parent's 407 can be answered (NTLM authenticates that
    /// connection); everything else on `client`, whose connector is this dialer's.
    pub async fn send_buffered(
        &self,
        client: &Client<Connector, ProxyBody>,
        request: Request<Bytes>,
    ) -> Result<Response<Incoming>, SendError> {
        let (head, bytes) = request.into_parts();
        if head.uri.scheme_str() == Some("http")
            && let Some(parent) = &self.parent
        {
            return parent
                .send_plain(head, bytes, self.connect_timeout)
                .await
                .map_err(SendError::Parent);
        }
        client
            .request(Request::from_parts(head, body::full(bytes)))
            .await
            .map_err(SendError::Client)
    }

    /// A TCP stream to `host:port`: direct, or a CONNECT tunnel through the parent.
    pub async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
        match &self.parent {
            None => tcp(host, port, self.connect_timeout).await,
            Some(parent) => parent.tunnel(host, port, self.connect_timeout).await,
        }
    }
}

/// A direct TCP connection to `host:port` within `timeout`, with Nagle off.
pub async fn tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let connect = TcpStream::connect((host, port));
    let stream = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => {
            return Err(ConnectError::Tcp {
                authority: authority(host, port),
                source,
            });
        }
        Err(_) => {
            return Err(ConnectError::Timeout {
                authority: authority(host, port),
                after: timeout,
            });
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// `host:port`, with brackets around IPv6 addresses.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
