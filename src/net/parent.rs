//! The parent proxy (`[proxy] upstream_proxy`) and how signet authenticates to it
//! (`[proxy] upstream_proxy_auth`): Basic up front, Digest by answering its 407 and then signing
//! before it asks, NTLM by answering its 407 challenges on the same connection, Negotiate
//! (Kerberos) with a token on every request.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::body::{self, BoxError, ProxyBody};
use super::dial::{ConnectError, authority, tcp};
use crate::auth::AuthError;
use crate::auth::challenger::{ConnAuth, Handshake};
use crate::auth::digest::Digest;
use crate::auth::negotiate::Negotiate;
use crate::auth::ntlm::Ntlm;
use crate::context::{Clock, Entropy, SignContext};

/// The largest 407 body read (and dropped) between authentication legs.
const CHALLENGE_BODY_LIMIT: usize = 1 << 20;

/// What went wrong with the parent proxy, after its name.
#[derive(Debug, thiserror::Error)]
pub enum ParentError {
    /// Reading or writing the connection failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// It answered with a refusal that signet cannot answer.
    #[error("refused {what}: {status}")]
    Refused {
        /// `CONNECT host:port` or `the GET request`.
        what: String,
        /// Its status line.
        status: String,
    },
    /// Its answer to CONNECT is not HTTP.
    #[error("unreadable response to CONNECT")]
    Unreadable,
    /// It closed the connection that an NTLM or Negotiate handshake needs.
    #[error("closed the connection in the middle of the NTLM or Negotiate handshake")]
    ClosedMidHandshake,
    /// It kept asking for credentials.
    #[error("authentication for {0} did not finish")]
    Unfinished(String),
    /// signet could not make its credentials.
    #[error(transparent)]
    Credentials(#[from] AuthError),
    /// The HTTP exchange failed.
    #[error("{0}")]
    Http(#[source] hyper::Error),
    /// Reading its 407's body failed.
    #[error("reading its 407: {0}")]
    Challenge(BoxError),
}

/// How signet authenticates to the parent proxy.
pub enum ParentAuth {
    /// No credentials.
    None,
    /// `Proxy-Authorization: Basic …` on every request.
    Basic(HeaderValue),
    /// Digest: the parent's 407 is answered, later requests are signed up front.
    Digest(Arc<Digest>),
    /// NTLM, answering the parent's 407 on each new connection.
    Ntlm(Arc<Ntlm>),
    /// Negotiate (Kerberos), a token on each request and each new tunnel.
    Negotiate(Arc<Negotiate>),
}

/// A parent HTTP proxy that every upstream connection goes through.
pub struct ParentProxy {
    host: String,
    port: u16,
    auth: ParentAuth,
    /// Time for the NTLMv2 blob.
    clock: Arc<dyn Clock>,
    /// Client challenges, session keys and client nonces.
    entropy: Arc<dyn Entropy>,
}

impl std::fmt::Debug for ParentProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            ParentAuth::None => "none",
            ParentAuth::Basic(_) => "basic",
            ParentAuth::Digest(_) => "digest",
            ParentAuth::Ntlm(_) => "ntlm",
            ParentAuth::Negotiate(_) => "negotiate",
        };
        f.debug_struct("ParentProxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("auth", &auth)
            .finish()
    }
}

impl ParentProxy {
    /// Parses `http://host:port` (the port defaults to 3128, as for squid and most parents).
    pub fn parse(
        url: &str,
        auth: ParentAuth,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Result<Self, ParentUrlError> {
        let uri: Uri = url.parse().map_err(ParentUrlError::NotAUrl)?;
        if uri.scheme_str() != Some("http") {
            return Err(ParentUrlError::NotHttp);
        }
        let host = uri.host().ok_or(ParentUrlError::NoHost)?;
        Ok(ParentProxy {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: uri.port_u16().unwrap_or(3128),
            auth,
            clock,
            entropy,
        })
    }

    /// The Basic credentials to add to plain requests sent through the parent.
    pub fn authorization(&self) -> Option<&HeaderValue> {
        match &self.auth {
            ParentAuth::Basic(value) => Some(value),
            _ => None,
        }
    }

    /// The NTLM or Negotiate credentials, when the parent's challenges are answered on the
    /// connection that carries the request.
    pub fn connection_auth(&self) -> Option<(ConnAuth<'_>, SignContext<'_>)> {
        match &self.auth {
            ParentAuth::Ntlm(ntlm) => Some((ConnAuth::Ntlm(ntlm), self.sign_context())),
            ParentAuth::Negotiate(n) => Some((ConnAuth::Negotiate(n), self.sign_context())),
            _ => None,
        }
    }

    /// The parent's host (which names its Kerberos service).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the parent is answered with Digest (plain requests may then be sent twice).
    pub fn uses_digest(&self) -> bool {
        matches!(self.auth, ParentAuth::Digest(_))
    }

    /// Digest `Proxy-Authorization` for `method uri` as sent to the parent; `None` when the
    /// parent is not answered with Digest or has not challenged yet.
    pub fn digest_authorization(
        &self,
        method: &str,
        uri: &str,
    ) -> Result<Option<HeaderValue>, ConnectError> {
        let ParentAuth::Digest(digest) = &self.auth else {
            return Ok(None);
        };
        digest
            .proxy_authorization(&self.name(), method, uri, &self.sign_context())
            .map_err(|e| self.error(e.into()))
    }

    /// `error`, naming this parent.
    pub fn error(&self, reason: ParentError) -> ConnectError {
        ConnectError::Parent {
            parent: self.name(),
            reason,
        }
    }

    /// Takes in the parent's 407 (its `headers`) to a request that carried `sent`; `true` when
    /// the request should go again with Digest credentials.
    pub fn digest_challenged(&self, sent: Option<&HeaderValue>, headers: &HeaderMap) -> bool {
        match &self.auth {
            ParentAuth::Digest(digest) => digest.proxy_challenged(&self.name(), sent, headers),
            _ => false,
        }
    }

    fn sign_context(&self) -> SignContext<'_> {
        SignContext {
            now: self.clock.now(),
            fixed_nonce: None,
            entropy: self.entropy.as_ref(),
        }
    }

    /// `host:port` of the parent.
    fn name(&self) -> String {
        authority(&self.host, self.port)
    }

    /// A TCP connection to the parent, within `timeout`.
    pub async fn dial(&self, timeout: Duration) -> Result<TcpStream, ConnectError> {
        tcp(&self.host, self.port, timeout).await
    }

    /// A tunnel to `host:port` through the parent, answering its NTLM or Digest challenges.
    pub async fn tunnel(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<TcpStream, ConnectError> {
        let target = authority(host, port);
        let fail = |reason: ParentError| self.error(reason);
        let mut stream = self.dial(timeout).await?;
        let mut legs = Legs::new(self);
        // NEGOTIATE, maybe a switch of word, AUTHENTICATE: four legs are plenty.
        for _ in 0..4 {
            let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
            let credentials = legs.credentials("CONNECT", &target).await?;
            if let Some(value) = &credentials {
                request.push_str("Proxy-Authorization: ");
                request.push_str(value.to_str().unwrap_or_default());
                request.push_str("\r\n");
            }
            request.push_str("\r\n");
            let io = |e: io::Error| fail(e.into());
            stream.write_all(request.as_bytes()).await.map_err(io)?;
            let head = read_head(&mut stream).await.map_err(io)?;
            let answer = parse_head(&head).ok_or_else(|| fail(ParentError::Unreadable))?;
            if (200..300).contains(&answer.status) {
                legs.finish(&answer.headers)?;
                return Ok(stream);
            }
            if answer.status != 407 || !legs.answerable(credentials.as_ref(), &answer.headers) {
                return Err(fail(ParentError::Refused {
                    what: format!("CONNECT {target}"),
                    status: format!("{} {}", answer.status, answer.reason),
                }));
            }
            if self.connection_auth().is_some() {
                if answer.close {
                    return Err(fail(ParentError::ClosedMidHandshake));
                }
                skip_body(&mut stream, &answer).await.map_err(io)?;
            } else if answer.close || skip_body(&mut stream, &answer).await.is_err() {
                // Digest does not need the same connection: a new one if this one is done.
                stream = self.dial(timeout).await?;
            }
        }
        Err(fail(ParentError::Unfinished(format!("CONNECT {target}"))))
    }

    /// Sends a plain `http://` request (absolute-form URI, body in memory) through the parent on
    /// a connection of its own, answering the parent's 407: Basic up front, Digest once, NTLM
    /// with the handshake on that connection. For callers without a pinned connection of their
    /// own (token requests); a 407 that cannot be answered is an error, as for a tunnel. Errors
    /// name the parent, never the URL (its query may carry credentials).
    pub async fn send_plain(
        &self,
        head: http::request::Parts,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Response<Incoming>, ConnectError> {
        let fail = |reason: ParentError| self.error(reason);
        let target = head.uri.to_string();
        let mut sender = self.open_plain(timeout).await?;
        let mut legs = Legs::new(self);
        // NEGOTIATE, maybe a switch of word, AUTHENTICATE: four legs are plenty.
        for _ in 0..4 {
            let mut request = Request::new(body::full(body.clone()));
            *request.method_mut() = head.method.clone();
            *request.uri_mut() = head.uri.clone();
            *request.headers_mut() = head.headers.clone();
            let headers = request.headers_mut();
            if !headers.contains_key(HOST)
                && let Some(host) = head.uri.authority()
                && let Ok(value) = HeaderValue::from_str(host.as_str())
            {
                headers.insert(HOST, value);
            }
            let credentials = legs.credentials(head.method.as_str(), &target).await?;
            if let Some(value) = &credentials {
                headers.insert(PROXY_AUTHORIZATION, value.clone());
            }
            sender
                .ready()
                .await
                .map_err(|e| fail(ParentError::Http(e)))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| fail(ParentError::Http(e)))?;
            if response.status() != StatusCode::PROXY_AUTHENTICATION_REQUIRED {
                legs.finish(response.headers())?;
                return Ok(response);
            }
            if !legs.answerable(credentials.as_ref(), response.headers()) {
                return Err(fail(ParentError::Refused {
                    what: format!("the {} request", head.method),
                    status: response.status().to_string(),
                }));
            }
            Limited::new(response.into_body(), CHALLENGE_BODY_LIMIT)
                .collect()
                .await
                .map_err(|e| fail(ParentError::Challenge(e)))?;
            if sender.ready().await.is_err() {
                if self.connection_auth().is_some() {
                    return Err(fail(ParentError::ClosedMidHandshake));
                }
                // Digest does not need the same connection.
                sender = self.open_plain(timeout).await?;
            }
        }
        Err(fail(ParentError::Unfinished(format!(
            "the {} request",
            head.method
        ))))
    }

    /// An HTTP/1.1 connection to the parent, for requests in absolute form.
    async fn open_plain(&self, timeout: Duration) -> Result<SendRequest<ProxyBody>, ConnectError> {
        let tcp = self.dial(timeout).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| self.error(ParentError::Http(e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection to the parent proxy ended with an error");
            }
        });
        Ok(sender)
    }
}

/// One request's exchange with the parent's 407s, whatever carries it (a CONNECT, a plain
/// request): the credentials for each leg, and whether a 407 can be answered.
struct Legs<'a> {
    parent: &'a ParentProxy,
    /// NTLM's or Negotiate's.
    handshake: Option<Handshake>,
    digest_answered: bool,
}

impl<'a> Legs<'a> {
    fn new(parent: &'a ParentProxy) -> Self {
        Legs {
            parent,
            handshake: parent.connection_auth().map(|(auth, _)| auth.start()),
            digest_answered: false,
        }
    }

    /// The `Proxy-Authorization` for the next leg of `method` on `target`, if any.
    async fn credentials(
        &mut self,
        method: &str,
        target: &str,
    ) -> Result<Option<HeaderValue>, ConnectError> {
        let parent = self.parent;
        match (
            &parent.auth,
            parent.connection_auth(),
            self.handshake.as_mut(),
        ) {
            (ParentAuth::Basic(value), _, _) => Ok(Some(value.clone())),
            (ParentAuth::Digest(_), _, _) => parent.digest_authorization(method, target),
            (_, Some((auth, cx)), Some(handshake)) => {
                let header = handshake.next_header(auth, &parent.host, None, &cx).await;
                header.map_err(|e| {
                    tracing::warn!(parent = %parent.name(), error = %e, "credentials for the parent proxy");
                    parent.error(e.into())
                })
            }
            _ => Ok(None),
        }
    }

    /// Takes in the parent's final answer: checks its Negotiate mutual-authentication token
    /// when it sent one.
    fn finish(&mut self, headers: &HeaderMap) -> Result<(), ConnectError> {
        match self.handshake.as_mut() {
            Some(handshake) => handshake
                .finish(headers, &PROXY_AUTHENTICATE)
                .map_err(|e| self.parent.error(e.into())),
            None => Ok(()),
        }
    }

    /// Whether the parent's 407 (its `headers`, after `sent` went) asks for a leg signet can
    /// send: the next NTLM message, or one Digest answer (a second 407 means the credentials
    /// are wrong).
    fn answerable(&mut self, sent: Option<&HeaderValue>, headers: &HeaderMap) -> bool {
        match &self.parent.auth {
            ParentAuth::Ntlm(_) | ParentAuth::Negotiate(_) => self
                .handshake
                .as_mut()
                .is_some_and(|h| h.on_challenge(headers, &PROXY_AUTHENTICATE)),
            ParentAuth::Digest(_) => {
                let first = !self.digest_answered;
                self.digest_answered = true;
                first && self.parent.digest_challenged(sent, headers)
            }
            ParentAuth::None | ParentAuth::Basic(_) => false,
        }
    }
}

/// Why `[proxy] upstream_proxy` is not a usable parent.
#[derive(Debug, thiserror::Error)]
pub enum ParentUrlError {
    /// It does not parse.
    #[error("not a URL: {0}")]
    NotAUrl(http::uri::InvalidUri),
    /// Another scheme than `http`.
    #[error("only http:// parent proxies are supported")]
    NotHttp,
    /// No host.
    #[error("no host in the URL")]
    NoHost,
}

/// A parsed response head.
struct Head {
    status: u16,
    reason: String,
    headers: HeaderMap,
    close: bool,
    content_length: Option<u64>,
    chunked: bool,
}

/// Reads a response head byte by byte, so that nothing of the tunnel is consumed.
async fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("response head too large"));
        }
        head.push(stream.read_u8().await?);
    }
    Ok(head)
}

fn parse_head(bytes: &[u8]) -> Option<Head> {
    let mut raw = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut raw);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    let mut headers = HeaderMap::new();
    for h in response.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            headers.append(name, value);
        }
    }
    let has_token = |name: &str, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let close = has_token("connection", "close") || has_token("proxy-connection", "close");
    let chunked = has_token("transfer-encoding", "chunked");
    let content_length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    Some(Head {
        status: response.code.unwrap_or(0),
        reason: response.reason.unwrap_or("").to_owned(),
        close,
        content_length,
        chunked,
        headers,
    })
}

/// Reads and drops a 407's body so that the next CONNECT starts on a clean connection.
async fn skip_body(stream: &mut TcpStream, head: &Head) -> io::Result<()> {
    if head.chunked {
        loop {
            let line = read_line(stream).await?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::other("bad chunk size in the 407 body"))?;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                while !read_line(stream).await?.is_empty() {}
                return Ok(());
            }
            discard(stream, size).await?;
            read_line(stream).await?;
        }
    }
    match head.content_length {
        Some(len) => discard(stream, len).await,
        None => Err(io::Error::other(
            "407 without a length cannot be followed on the same connection",
        )),
    }
}

async fn discard(stream: &mut TcpStream, len: u64) -> io::Result<()> {
    let copied = tokio::io::copy(&mut (&mut *stream).take(len), &mut tokio::io::sink()).await?;
    if copied < len {
        return Err(io::Error::other("the connection closed inside a 407 body"));
    }
    Ok(())
}

async fn read_line(stream: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        if line.len() > 4096 {
            return Err(io::Error::other("chunk line too long"));
        }
        line.push(stream.read_u8().await?);
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}
