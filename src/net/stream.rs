//! A connection to an upstream (plain TCP or TLS over TCP), the hyper connector that opens one
//! for a URI, and a new HTTP/1.1 connection on top.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::body::ProxyBody;
use super::dial::{ConnectError, Dialer, authority, tcp};

/// A connection to an upstream: plain TCP or TLS over TCP.
pub enum Stream {
    /// Plain TCP; `proxied` when it leads to a parent proxy rather than the origin.
    Plain {
        /// The socket.
        tcp: TcpStream,
        /// Requests on it go in absolute form to a parent proxy.
        proxied: bool,
    },
    /// TLS to the origin.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Stream::Plain { proxied, .. } => Connected::new().proxy(*proxied),
            Stream::Tls(tls) => {
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    Connected::new().negotiated_h2()
                } else {
                    Connected::new()
                }
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain { tcp, .. } => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain { tcp, .. } => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain { tcp, .. } => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain { tcp, .. } => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain { tcp, .. } => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain { tcp, .. } => tcp.is_write_vectored(),
            Stream::Tls(tls) => tls.is_write_vectored(),
        }
    }
}

/// The hyper connector: a [`tower::Service`] from URI to connection.
#[derive(Clone)]
pub struct Connector {
    dialer: Dialer,
    tls: TlsConnector,
}

impl Connector {
    /// Connects with `tls` for https URIs, through `dialer`.
    pub fn new(dialer: Dialer, tls: Arc<rustls::ClientConfig>) -> Self {
        Connector {
            dialer,
            tls: TlsConnector::from(tls),
        }
    }

    /// Opens a connection for `uri` (TLS for https), through the parent proxy if any.
    pub async fn connect(self, uri: Uri) -> Result<TokioIo<Stream>, ConnectError> {
        let host = uri.host().ok_or(ConnectError::NoHost)?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });

        if !https {
            // Plain HTTP through a parent goes to the parent itself, in absolute form.
            if let Some(parent) = self.dialer.parent() {
                let tcp = parent.dial(self.dialer.connect_timeout()).await?;
                return Ok(TokioIo::new(Stream::Plain { tcp, proxied: true }));
            }
            let tcp = tcp(&host, port, self.dialer.connect_timeout()).await?;
            return Ok(TokioIo::new(Stream::Plain {
                tcp,
                proxied: false,
            }));
        }

        let tcp = self.dialer.tunnel(&host, port).await?;
        let name = ServerName::try_from(host.clone())
            .map_err(|_| ConnectError::ServerName(host.clone()))?;
        let handshake = self.tls.connect(name, tcp);
        let timeout = self.dialer.tls_handshake_timeout();
        let tls = match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                return Err(ConnectError::Tls {
                    authority: authority(&host, port),
                    reason: crate::tls::describe_handshake_error(&host, &e),
                });
            }
            Err(_) => {
                return Err(ConnectError::Tls {
                    authority: authority(&host, port),
                    reason: format!("no answer within {}s", timeout.as_secs()),
                });
            }
        };
        Ok(TokioIo::new(Stream::Tls(Box::new(tls))))
    }
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

/// A new HTTP/1.1 upstream connection, its task running on the current runtime.
pub struct Http1Conn {
    /// Sends requests on it.
    pub sender: SendRequest<ProxyBody>,
    /// It leads to a parent proxy (requests go in absolute form).
    pub proxied: bool,
    /// The origin's TLS certificate, when over TLS (for NTLM channel binding).
    pub server_cert: Option<Vec<u8>>,
}

/// Opens an HTTP/1.1 connection for `uri` through `connector` (upgrades allowed on it).
pub async fn open_http1(connector: &Connector, uri: &Uri) -> Result<Http1Conn, ConnectError> {
    let io = connector.clone().connect(uri.clone()).await?;
    let (proxied, server_cert) = match io.inner() {
        Stream::Plain { proxied, .. } => (*proxied, None),
        Stream::Tls(tls) => (
            false,
            tls.get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.to_vec()),
        ),
    };
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(io)
        .await
        .map_err(ConnectError::Handshake)?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(Http1Conn {
        sender,
        proxied,
        server_cert,
    })
}
