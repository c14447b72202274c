//! Reaching upstream servers: TCP (directly or through a parent proxy), TLS with the rule's
//! client config, and pooled hyper clients on top.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::body::ProxyBody;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an upstream connection could not be made, in words for the client's 502 body.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

/// A parent HTTP proxy that every upstream connection goes through.
#[derive(Debug)]
pub struct ParentProxy {
    host: String,
    port: u16,
    /// Sent to the parent as `Proxy-Authorization`.
    authorization: Option<HeaderValue>,
}

impl ParentProxy {
    /// Parses `http://host:port` (the port defaults to 3128, as for squid and most parents).
    pub fn parse(url: &str, authorization: Option<HeaderValue>) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err("only http:// parent proxies are supported".into());
        }
        let host = uri.host().ok_or("no host in the URL")?;
        Ok(ParentProxy {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: uri.port_u16().unwrap_or(3128),
            authorization,
        })
    }

    /// The credentials to add to plain requests sent through the parent.
    pub fn authorization(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }
}

/// Opens TCP connections to upstreams, through the parent proxy when there is one.
#[derive(Debug, Clone)]
pub struct Dialer {
    parent: Option<Arc<ParentProxy>>,
}

impl Dialer {
    /// A dialer going direct, or through `parent`.
    pub fn new(parent: Option<Arc<ParentProxy>>) -> Self {
        Dialer { parent }
    }

    /// Whether plain requests go to a parent proxy (and must be sent in absolute form).
    pub fn parent(&self) -> Option<&ParentProxy> {
        self.parent.as_deref()
    }

    /// A TCP stream to `host:port`: direct, or a CONNECT tunnel through the parent.
    pub async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
        match &self.parent {
            None => tcp(host, port).await,
            Some(parent) => {
                let mut stream = tcp(&parent.host, parent.port).await?;
                connect_through(&mut stream, parent, host, port).await?;
                Ok(stream)
            }
        }
    }
}

async fn tcp(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let connect = TcpStream::connect((host, port));
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return Err(ConnectError(format!(
                "cannot connect to {}: {e}",
                authority(host, port)
            )));
        }
        Err(_) => {
            return Err(ConnectError(format!(
                "cannot connect to {}: timed out after {}s",
                authority(host, port),
                CONNECT_TIMEOUT.as_secs()
            )));
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

/// Asks the parent proxy for a tunnel to `host:port` on `stream`.
async fn connect_through(
    stream: &mut TcpStream,
    parent: &ParentProxy,
    host: &str,
    port: u16,
) -> Result<(), ConnectError> {
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = &parent.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(auth.to_str().unwrap_or_default());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let parent_name = authority(&parent.host, parent.port);
    let io_err = |e: io::Error| ConnectError(format!("parent proxy {parent_name}: {e}"));
    stream.write_all(request.as_bytes()).await.map_err(io_err)?;

    // Read the response head byte by byte so that nothing of the tunnel is consumed.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(ConnectError(format!(
                "parent proxy {parent_name}: response head too large"
            )));
        }
        let byte = stream.read_u8().await.map_err(io_err)?;
        head.push(byte);
    }
    let status_line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status.starts_with('2') {
        Ok(())
    } else {
        Err(ConnectError(format!(
            "parent proxy {parent_name} refused CONNECT {target}: {status_line}"
        )))
    }
}

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

    async fn connect(self, uri: Uri) -> Result<TokioIo<Stream>, ConnectError> {
        let host = uri
            .host()
            .ok_or_else(|| ConnectError("request has no host".into()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });

        if !https {
            // Plain HTTP through a parent goes to the parent itself, in absolute form.
            if let Some(parent) = self.dialer.parent() {
                let tcp = tcp(&parent.host, parent.port).await?;
                return Ok(TokioIo::new(Stream::Plain { tcp, proxied: true }));
            }
            let tcp = tcp(&host, port).await?;
            return Ok(TokioIo::new(Stream::Plain {
                tcp,
                proxied: false,
            }));
        }

        let tcp = self.dialer.tunnel(&host, port).await?;
        let name = ServerName::try_from(host.clone())
            .map_err(|_| ConnectError(format!("{host} is not a valid TLS server name")))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| {
            ConnectError(format!(
                "TLS handshake with {} failed: {}",
                authority(&host, port),
                crate::tls::describe_handshake_error(&host, &e)
            ))
        })?;
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

/// A pooled client for one upstream TLS profile.
pub type HttpClient = Client<Connector, ProxyBody>;

/// The clients for one upstream TLS profile: one that may speak HTTP/2 (offered via ALPN) and
/// one that only speaks HTTP/1.1, for upgrades such as WebSocket.
#[derive(Clone)]
pub struct UpstreamClients {
    /// HTTP/2 when the origin offers it, else HTTP/1.1.
    pub any: HttpClient,
    /// HTTP/1.1 only.
    pub http1: HttpClient,
}

impl UpstreamClients {
    /// Builds both clients from the rule's trust settings.
    pub fn new(
        dialer: &Dialer,
        h2_and_h1: Arc<rustls::ClientConfig>,
        h1_only: Arc<rustls::ClientConfig>,
    ) -> Self {
        let build = |tls| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(Connector::new(dialer.clone(), tls))
        };
        UpstreamClients {
            any: build(h2_and_h1),
            http1: build(h1_only),
        }
    }
}
