//! How a signed request reaches its origin: one entry, [`Upstream::send`], given a [`Peer`]
//! (where and how) and the client connection it serves.
//!
//! - [`pool`]: per serving runtime and TLS profile, hyper's pooled clients and the idle list.
//! - [`conn`]: what a client connection holds: its bound connection and its pinned ones.
//! - `exchange.rs`: the legs of one request on a pinned connection (NTLM to the origin or the
//!   parent, Digest to the parent), with the keep-alive race handled once.
//!
//! The parent proxy is decided here and in [`crate::net`] only: callers say where a request
//! goes, not how it gets there.

pub mod conn;
mod exchange;
pub mod pool;

use std::error::Error as _;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use http::header::PROXY_AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::Url;

use crate::auth::AuthError;
use crate::auth::challenger::ConnAuth;
use crate::context::{Clock, Entropy, SignContext};
use crate::cookies::Cookies;
use crate::net::body::{self, BoxError, Outgoing};
use crate::net::{ConnectError, Dialer, ParentProxy};
use crate::rules::Destination;
use crate::tls::TlsProfileId;
pub use conn::ClientConn;
pub use pool::{IDLE_TIMEOUT, UpstreamClients};

/// Why a request did not get an answer from upstream; the text goes into the client's 502.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The connection closed before the request could go.
    #[error("upstream connection closed: {0}")]
    Closed(#[source] hyper::Error),
    /// The exchange failed.
    #[error("upstream error: {0}")]
    Http(#[source] hyper::Error),
    /// The pooled client failed: the connector's reason, or the innermost error's.
    #[error("{0}")]
    Pool(String),
    /// The request URI names no host.
    #[error("request has no host")]
    NoHost,
    /// A handshake's credentials could not be made.
    #[error(transparent)]
    Credentials(#[from] AuthError),
    /// Reading a challenge between legs failed.
    #[error("reading the {what} challenge failed: {source}")]
    Challenge {
        /// `NTLM` or `Digest`.
        what: &'static str,
        /// Why.
        source: BoxError,
    },
    /// The upstream closed the connection a handshake needs.
    #[error(
        "upstream closed the connection in the middle of the {0} handshake (it needs a keep-alive connection)"
    )]
    ClosedMidHandshake(&'static str),
    /// The handshake went on for more legs than it has.
    #[error("the NTLM or Negotiate handshake did not finish")]
    Unfinished,
    /// No response head within `[proxy] response_timeout`.
    #[error("no response within {}s ([proxy] response_timeout)", .0.as_secs())]
    Timeout(Duration),
    /// The client's request body broke off or was malformed while it streamed upstream.
    #[error("cannot read the request body: {0}")]
    ClientBody(String),
    /// The parent wants Digest, and the body streamed past the buffer limit.
    #[error(
        "the parent proxy asked for Digest credentials, and the request body was larger than \
         the buffer limit so it cannot be sent again (raise [proxy] buffer_limit, or send the \
         request again: it will be signed before the parent asks)"
    )]
    ParentBodyTooLarge,
}

/// Which HTTP an upstream request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// HTTP/2 if the origin offers it (the client spoke HTTP/2).
    Any,
    /// HTTP/1.1.
    Http1,
    /// HTTP/1.1, and the connection may be taken over (WebSocket and the like).
    Upgrade,
}

/// Where and how one request goes upstream.
#[derive(Clone, Copy)]
pub struct Peer<'a> {
    /// The real destination.
    pub dest: &'a Destination,
    /// The trust roots and client certificate to use.
    pub tls: TlsProfileId,
    /// Which HTTP.
    pub wire: Wire,
    /// The origin's NTLM or Negotiate credentials: the connection is authenticated, and stays
    /// private to the client connection.
    pub ntlm: Option<ConnAuth<'a>>,
    /// The jar, for the cookies a challenge sets; and where they go, when the rule captures.
    pub cookies: Option<&'a Cookies>,
    /// The URL the jar files the origin's cookies under, when the rule captures.
    pub capture: Option<&'a Url>,
}

/// The way out: the dialer (direct or through the parent proxy) and the clock and randomness
/// of the parent's and NTLM's handshakes.
pub struct Upstream {
    dialer: Dialer,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    response_timeout: Duration,
}

/// What carries a request: the HTTP/1.1 connection bound to the client's, a pooled client
/// (HTTP/2, upgrades, plain HTTP through a parent proxy), or a connection pinned to the
/// client's (NTLM).
enum Carrier<'a> {
    Bound,
    Pooled(&'a pool::HttpClient),
    Pinned(exchange::Target<'a>),
}

impl Upstream {
    /// Goes out through `dialer`; handshakes use `clock` and `entropy`; a response head must
    /// come within `response_timeout` of the request going out.
    pub fn new(
        dialer: Dialer,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
        response_timeout: Duration,
    ) -> Self {
        Upstream {
            dialer,
            clock,
            entropy,
            response_timeout,
        }
    }

    /// How connections are opened.
    pub fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// A TCP stream to `dest` for a blind tunnel.
    pub async fn tunnel(&self, dest: &Destination) -> Result<TcpStream, ConnectError> {
        self.dialer.tunnel(&dest.host, dest.port).await
    }

    /// Whether a request to `dest` may have to be sent twice on signet's own account (a parent
    /// proxy answered with Digest), so that its body is worth keeping within the buffer limit.
    pub fn may_resend(&self, dest: &Destination) -> bool {
        !dest.https && self.dialer.parent().is_some_and(ParentProxy::uses_digest)
    }

    /// Sends the request (absolute URI, Host set, signed) to `peer`: its response head, within
    /// the response timeout. The timeout counts from the end of the request body: an upload
    /// that takes longer than `response_timeout` is not cut off while it streams (a client
    /// whose body stalls is `idle_timeout`'s to close).
    pub async fn send(
        &self,
        conn: &ClientConn,
        peer: &Peer<'_>,
        parts: http::request::Parts,
        body: Outgoing,
    ) -> Result<Response<Incoming>, UpstreamError> {
        // A streamed body is watched: the timer starts over when its last byte has gone.
        let (body, mut body_sending) = match body {
            Outgoing::Streamed(streamed) => {
                let (watched, ended) = body::watch_end(streamed);
                (Outgoing::Streamed(watched), ended)
            }
            buffered @ Outgoing::Buffered(_) => (buffered, None),
        };
        let mut timer = conn.response_timer(Instant::now() + self.response_timeout);
        let sent = self.send_untimed(conn, peer, parts, body);
        let mut sent = std::pin::pin!(sent);
        let outcome = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = sent.as_mut().poll(cx) {
                return Poll::Ready(Some(result));
            }
            if let Some(ended) = body_sending.as_mut() {
                if Pin::new(ended).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                body_sending = None;
                timer.as_mut().reset(Instant::now() + self.response_timeout);
            }
            timer.as_mut().poll(cx).map(|()| None)
        })
        .await;
        conn.keep_response_timer(timer);
        match outcome {
            Some(result) => result.map_err(blame_client_body),
            None => Err(UpstreamError::Timeout(self.response_timeout)),
        }
    }

    async fn send_untimed(
        &self,
        conn: &ClientConn,
        peer: &Peer<'_>,
        mut parts: http::request::Parts,
        body: Outgoing,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let parent = self.dialer.parent();
        if !peer.dest.https
            && let Some(auth) = parent.and_then(|p| p.authorization())
        {
            parts.headers.insert(PROXY_AUTHORIZATION, auth.clone());
        }
        match self.carrier(conn, peer) {
            Carrier::Bound => conn.send_bound(peer.tls, parts, body).await,
            Carrier::Pinned(target) => exchange::send(self, conn, target, parts, body).await,
            Carrier::Pooled(client) => match parent.filter(|p| p.uses_digest() && !peer.dest.https)
            {
                Some(parent) => via_digest_parent(client, parent, parts, body).await,
                None => client
                    .request(Request::from_parts(parts, body.into_body()))
                    .await
                    .map_err(|e| pool_error(&e)),
            },
        }
    }

    fn carrier<'a>(&self, conn: &'a ClientConn, peer: &Peer<'a>) -> Carrier<'a> {
        if let Some(target) = exchange::Target::choose(self, conn, peer) {
            return Carrier::Pinned(target);
        }
        // Plain requests through a parent go to the parent in absolute form: pooled.
        if peer.wire == Wire::Http1 && (peer.dest.https || self.dialer.parent().is_none()) {
            return Carrier::Bound;
        }
        Carrier::Pooled(conn.client(peer.tls, peer.wire != Wire::Any))
    }

    fn sign_context(&self) -> SignContext<'_> {
        SignContext {
            now: self.clock.now(),
            fixed_nonce: None,
            entropy: self.entropy.as_ref(),
        }
    }
}

/// Sends a plain request to a parent proxy that wants Digest: signed up front once the parent
/// has challenged, and sent once more when it answers 407 with a new (or stale) nonce.
async fn via_digest_parent(
    client: &pool::HttpClient,
    parent: &ParentProxy,
    mut parts: http::request::Parts,
    body: Outgoing,
) -> Result<Response<Incoming>, UpstreamError> {
    let again = match &body {
        Outgoing::Buffered(bytes) => Some((copy_head(&parts), bytes.clone())),
        Outgoing::Streamed(_) => None,
    };
    let sent = sign_for_parent(parent, &mut parts)?;
    let response = client
        .request(Request::from_parts(parts, body.into_body()))
        .await
        .map_err(|e| pool_error(&e))?;
    if response.status() != StatusCode::PROXY_AUTHENTICATION_REQUIRED
        || !parent.digest_challenged(sent.as_ref(), response.headers())
    {
        return Ok(response);
    }
    let Some((mut head, bytes)) = again else {
        return Err(UpstreamError::ParentBodyTooLarge);
    };
    drop(response);
    sign_for_parent(parent, &mut head)?;
    client
        .request(Request::from_parts(head, body::full(bytes)))
        .await
        .map_err(|e| pool_error(&e))
}

/// Adds the parent's Digest `Proxy-Authorization` for the request as it will be sent (absolute
/// form), returning what was added.
fn sign_for_parent(
    parent: &ParentProxy,
    parts: &mut http::request::Parts,
) -> Result<Option<HeaderValue>, ConnectError> {
    let value = parent.digest_authorization(parts.method.as_str(), &parts.uri.to_string())?;
    match &value {
        Some(value) => parts.headers.insert(PROXY_AUTHORIZATION, value.clone()),
        None => parts.headers.remove(PROXY_AUTHORIZATION),
    };
    Ok(value)
}

/// A failure that came from the client's request body as it streamed (a malformed chunk, a
/// client that went away) is the client's, not the upstream's: hyper reports it as a user
/// body error whose cause is hyper's own error reading the client's request.
fn blame_client_body(error: UpstreamError) -> UpstreamError {
    let cause = match &error {
        UpstreamError::Http(e) | UpstreamError::Closed(e) if e.is_user() => client_cause(e),
        _ => None,
    };
    match cause {
        Some(cause) => UpstreamError::ClientBody(cause),
        None => error,
    }
}

fn client_cause(e: &hyper::Error) -> Option<String> {
    let mut source = e.source();
    while let Some(inner) = source {
        if let Some(rewrite) = inner.downcast_ref::<body::RewriteError>() {
            return Some(rewrite.to_string());
        }
        if let Some(client) = inner.downcast_ref::<hyper::Error>() {
            return Some(client.to_string());
        }
        source = inner.source();
    }
    None
}

/// A copy of a request head (extensions are not copied: they belong to the client connection).
pub fn copy_head(parts: &http::request::Parts) -> http::request::Parts {
    let mut head = Request::new(()).into_parts().0;
    head.method = parts.method.clone();
    head.uri = parts.uri.clone();
    head.version = parts.version;
    head.headers = parts.headers.clone();
    head
}

/// The reason the pooled client failed: the connector's own error when it has one, else the
/// innermost error.
fn pool_error(err: &hyper_util::client::legacy::Error) -> UpstreamError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    let mut innermost = None;
    while let Some(e) = source {
        if let Some(connect) = e.downcast_ref::<ConnectError>() {
            return UpstreamError::Pool(connect.to_string());
        }
        if let Some(cause) = e
            .downcast_ref::<hyper::Error>()
            .filter(|e| e.is_user())
            .and_then(client_cause)
        {
            return UpstreamError::ClientBody(cause);
        }
        innermost = Some(e);
        source = e.source();
    }
    UpstreamError::Pool(match innermost {
        Some(e) => format!("upstream error: {e}"),
        None => format!("upstream error: {err}"),
    })
}
