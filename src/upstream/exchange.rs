//! Upstream connections pinned to one client connection, for NTLM (and Negotiate, which runs
//! on the same legs): NTLM authenticates a connection, not a request, so the three messages must travel on one HTTP/1.1 connection and
//! the client's later requests must reuse it. The same applies to plain requests through a
//! parent proxy that wants NTLM (407), and a parent that wants Digest is answered on the way.
//!
//! Each client connection owns a [`ClientConn`]; when it closes, its pinned upstream
//! connections close with it.

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, HeaderName, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION,
    TRANSFER_ENCODING, WWW_AUTHENTICATE,
};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use url::Url;

use super::conn::ClientConn;
use super::{Peer, Upstream, UpstreamError, copy_head, sign_for_parent};
use crate::auth::challenger::{ConnAuth, Handshake};
use crate::cookies::Cookies;
use crate::net::body::{self, Outgoing, ProxyBody};
use crate::net::{Connector, ParentProxy, open_http1, origin_form};
use crate::tls::TlsProfileId;

/// The largest 401/407 body read (and dropped) between handshake legs.
const CHALLENGE_BODY_LIMIT: usize = 1 << 20;

/// Which pinned connection a request needs: the destination (or the parent, for plain
/// requests through it), the TLS profile, and the NTLM credentials it authenticated with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct PinKey {
    target: String,
    https: bool,
    tls: TlsProfileId,
    credentials: Option<u64>,
}

/// One upstream HTTP/1.1 connection and what it has been authenticated for.
pub(super) struct Pinned {
    pub(super) sender: SendRequest<ProxyBody>,
    /// Requests go in absolute form to the parent proxy.
    proxied: bool,
    /// The origin's TLS certificate, for channel binding.
    server_cert: Option<Vec<u8>>,
    origin_authed: bool,
    parent_authed: bool,
}

/// A request that must go over a pinned connection.
pub(super) struct Target<'a> {
    key: PinKey,
    connector: &'a Connector,
    /// The origin's host, which names its Kerberos service.
    host: &'a str,
    origin: Option<ConnAuth<'a>>,
    cookies: Option<&'a Cookies>,
    /// Where the origin's `Set-Cookie` goes in the jar, when the rule captures.
    capture: Option<&'a Url>,
}

impl<'a> Target<'a> {
    /// `Some` when the peer's auth is NTLM, or the request is plain HTTP through a parent that
    /// wants NTLM; `None` lets the bound connection or the pooled clients handle it.
    pub(super) fn choose(
        up: &Upstream,
        conn: &'a ClientConn,
        peer: &Peer<'a>,
    ) -> Option<Target<'a>> {
        let via_ntlm_parent = !peer.dest.https
            && up
                .dialer
                .parent()
                .is_some_and(|p| p.connection_auth().is_some());
        if peer.ntlm.is_none() && !via_ntlm_parent {
            return None;
        }
        let target = match peer.ntlm {
            None => "parent".to_owned(),
            Some(_) => peer.dest.authority(),
        };
        Some(Target {
            key: PinKey {
                target,
                https: peer.dest.https,
                tls: peer.tls,
                credentials: peer.ntlm.map(ConnAuth::id),
            },
            connector: &conn.upstreams(peer.tls).http1_connector,
            host: &peer.dest.host,
            origin: peer.ntlm,
            cookies: peer.cookies,
            capture: peer.capture,
        })
    }
}

/// Sends a request over the client's pinned connection, opening one and running the NTLM
/// handshakes (with the origin, the parent, or both) when needed.
///
/// A kept connection that the upstream closed just as the request went out (no answer at all)
/// is replaced once by a new connection with a new handshake, when the body can still be sent:
/// the race every keep-alive client meets, which the client cannot see or retry on its own.
pub(super) async fn send(
    up: &Upstream,
    conn: &ClientConn,
    target: Target<'_>,
    parts: http::request::Parts,
    outgoing: Outgoing,
) -> Result<Response<Incoming>, UpstreamError> {
    let mut body = match outgoing {
        Outgoing::Buffered(bytes) => LegBody::Buffered(bytes),
        Outgoing::Streamed(body) => LegBody::Streamed(Some(body)),
    };
    let (pinned, kept) = match conn.take_pinned(&target.key) {
        Some(pinned) => (pinned, true),
        None => (open(target.connector, &parts.uri).await?, false),
    };
    let reason = match exchange(up, conn, &target, &parts, &mut body, pinned, kept).await? {
        Exchange::Answered(response) => return Ok(response),
        Exchange::Closed(reason) => reason,
    };
    tracing::debug!(%reason, "kept upstream connection closed before answering; opening a new one");
    let pinned = open(target.connector, &parts.uri).await?;
    match exchange(up, conn, &target, &parts, &mut body, pinned, false).await? {
        Exchange::Answered(response) => Ok(response),
        Exchange::Closed(reason) => Err(reason),
    }
}

/// The request body as the legs of an exchange use it.
enum LegBody {
    /// Sent whole on every leg.
    Buffered(Bytes),
    /// Sent once, on the leg that will not be challenged; `None` once it went.
    Streamed(Option<ProxyBody>),
}

/// How an exchange on one connection ended, short of an error.
enum Exchange {
    Answered(Response<Incoming>),
    /// A kept connection closed before answering the first leg, and the request can go again.
    Closed(UpstreamError),
}

/// What an answer leads to.
enum Step {
    /// The client gets this answer; the connection stays pinned.
    Done(Response<Incoming>),
    /// A challenge (`NTLM` or `Digest`) to answer with another leg, once its body is read.
    Again(Response<Incoming>, &'static str),
}

/// The handshakes one request still needs on one connection.
struct Legs<'a> {
    up: &'a Upstream,
    target: &'a Target<'a>,
    /// The request as it goes on every leg, with the cookies challenges set.
    parts: http::request::Parts,
    /// `None`: nothing to do for that peer (not NTLM, or the connection is authenticated).
    origin_state: Option<Handshake>,
    parent_ntlm: Option<ConnAuth<'a>>,
    parent_host: &'a str,
    parent_state: Option<Handshake>,
    digest_parent: Option<&'a ParentProxy>,
    digest_answered: bool,
    had_body: bool,
}

impl<'a> Legs<'a> {
    fn new(
        up: &'a Upstream,
        target: &'a Target<'a>,
        parts: &http::request::Parts,
        pinned: &Pinned,
    ) -> Self {
        let parent = up.dialer.parent().filter(|_| pinned.proxied);
        let parent_ntlm = parent
            .and_then(|p| p.connection_auth())
            .map(|(auth, _)| auth);
        let start = |auth: Option<ConnAuth<'_>>, authed: bool| {
            auth.filter(|a| a.per_request() || !authed)
                .map(ConnAuth::start)
        };
        Legs {
            up,
            target,
            parts: copy_head(parts),
            origin_state: start(target.origin, pinned.origin_authed),
            parent_ntlm,
            parent_host: parent.map_or("", |p| p.host()),
            parent_state: start(parent_ntlm, pinned.parent_authed),
            digest_parent: parent.filter(|p| p.uses_digest()),
            digest_answered: false,
            had_body: parts.headers.contains_key(CONTENT_LENGTH)
                || parts.headers.contains_key(TRANSFER_ENCODING),
        }
    }

    /// The next leg's head with the handshakes' credentials, and the parent's Digest answer.
    async fn head(
        &mut self,
        pinned: &Pinned,
    ) -> Result<(http::request::Parts, Option<HeaderValue>), UpstreamError> {
        let mut head = copy_head(&self.parts);
        if !pinned.proxied {
            head.uri = origin_form(&head.uri);
        }
        let cx = self.up.sign_context();
        if let Some(ntlm) = self.target.origin {
            // Once the connection is authenticated, credentials would restart the handshake.
            head.headers.remove(AUTHORIZATION);
            if let Some(state) = self.origin_state.as_mut()
                && let Some(value) = state
                    .next_header(ntlm, self.target.host, pinned.server_cert.as_deref(), &cx)
                    .await?
            {
                head.headers.insert(AUTHORIZATION, value);
            }
        }
        if let (Some(ntlm), Some(state)) = (self.parent_ntlm, self.parent_state.as_mut())
            && let Some(value) = state.next_header(ntlm, self.parent_host, None, &cx).await?
        {
            head.headers.insert(PROXY_AUTHORIZATION, value);
        }
        let digest_sent = match self.digest_parent {
            Some(parent) => sign_for_parent(parent, &mut head)?,
            None => None,
        };
        Ok((head, digest_sent))
    }

    /// The body for the next leg, and whether it is the streamed body itself. A leg that will
    /// be challenged carries the body only when it can be sent again.
    fn body(&self, head: &mut http::request::Parts, body: &mut LegBody) -> (ProxyBody, bool) {
        let challenged_next = [&self.origin_state, &self.parent_state]
            .iter()
            .any(|s| s.as_ref().is_some_and(Handshake::awaits_challenge));
        match (body, challenged_next) {
            (LegBody::Buffered(bytes), _) => (body::full(bytes.clone()), false),
            (LegBody::Streamed(streamed), false) => match streamed.take() {
                Some(streamed) => (streamed, true),
                None => (body::empty(), false),
            },
            (LegBody::Streamed(_), true) => {
                if self.had_body {
                    head.headers.remove(TRANSFER_ENCODING);
                    head.headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
                }
                (body::empty(), false)
            }
        }
    }

    /// Takes in an answer: the client's, or a challenge to answer on the next leg.
    fn on_answer(
        &mut self,
        pinned: &mut Pinned,
        response: Response<Incoming>,
        digest_sent: Option<&HeaderValue>,
        body_spent: bool,
    ) -> Result<Step, UpstreamError> {
        let status = response.status();
        if let Some(digest) = self.digest_parent
            && status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
        {
            // One answer per request: a second 407 means the credentials are wrong.
            if self.digest_answered
                || body_spent
                || !digest.digest_challenged(digest_sent, response.headers())
            {
                return Ok(Step::Done(response));
            }
            self.digest_answered = true;
            return Ok(Step::Again(response, "Digest"));
        }
        let (state, header, ntlm) = match (status, self.target.origin, self.parent_ntlm) {
            (StatusCode::PROXY_AUTHENTICATION_REQUIRED, _, Some(ntlm)) => {
                (&mut self.parent_state, &PROXY_AUTHENTICATE, ntlm)
            }
            (StatusCode::UNAUTHORIZED, Some(ntlm), _) => {
                (&mut self.origin_state, &WWW_AUTHENTICATE, ntlm)
            }
            _ => {
                // Not challenged: whatever was answered is now authenticated, once the
                // servers' proofs (Negotiate's mutual authentication) check out.
                if let Some(state) = self.origin_state.as_mut() {
                    state.finish(response.headers(), &WWW_AUTHENTICATE)?;
                }
                if let Some(state) = self.parent_state.as_mut() {
                    state.finish(response.headers(), &PROXY_AUTHENTICATE)?;
                }
                pinned.origin_authed |= self.origin_state.is_some();
                pinned.parent_authed |= self.parent_state.is_some();
                return Ok(Step::Done(response));
            }
        };
        if body_spent || !ntlm.answers_challenges() || !goes_on(state, ntlm, &response, header) {
            // The handshake failed or cannot go on: the client gets the answer as it is, and
            // the connection counts as unauthenticated from now on.
            if status == StatusCode::UNAUTHORIZED {
                pinned.origin_authed = false;
            } else {
                pinned.parent_authed = false;
            }
            return Ok(Step::Done(response));
        }
        if status == StatusCode::UNAUTHORIZED {
            // The origin's challenge may set cookies (a load balancer's affinity cookie, that
            // must come back on the next leg): kept as a browser would keep them. A parent
            // proxy's 407 sets none for the origin.
            if let Some(cookies) = self.target.cookies {
                cookies.on_response(self.target.capture, response.headers());
            }
            crate::cookies::carry_over(&mut self.parts, response.headers());
        }
        Ok(Step::Again(response, ntlm.name()))
    }
}

/// Whether a challenge moves the handshake `state` on.
fn goes_on(
    state: &mut Option<Handshake>,
    auth: ConnAuth<'_>,
    response: &Response<Incoming>,
    header: &HeaderName,
) -> bool {
    match state {
        // An authenticated connection challenged again (the server reset it).
        None if auth.offered(response.headers(), header) => {
            tracing::debug!(status = %response.status(), "pinned connection challenged again; new handshake");
            *state = Some(auth.start());
            true
        }
        None => false,
        Some(state) => state.on_challenge(response.headers(), header),
    }
}

/// Runs the legs of one request on `pinned`: the handshakes it still needs, then the request.
async fn exchange(
    up: &Upstream,
    conn: &ClientConn,
    target: &Target<'_>,
    parts: &http::request::Parts,
    body: &mut LegBody,
    mut pinned: Pinned,
    kept: bool,
) -> Result<Exchange, UpstreamError> {
    let mut legs = Legs::new(up, target, parts, &pinned);
    // NEGOTIATE and AUTHENTICATE per peer, plus a possible switch of word each.
    for leg in 0..8 {
        let (mut head, digest_sent) = legs.head(&pinned).await?;
        // Only the first leg on a kept connection meets the keep-alive race; later legs, and
        // new connections, have shown that the upstream answers.
        let may_retry = kept && leg == 0;
        if let Err(e) = pinned.sender.ready().await {
            // Nothing was sent and the body is still here.
            return if may_retry {
                Ok(Exchange::Closed(UpstreamError::Closed(e)))
            } else {
                Err(UpstreamError::Closed(e))
            };
        }
        let (leg_body, streams) = legs.body(&mut head, body);
        let body_spent = matches!(body, LegBody::Streamed(None));
        let response = match pinned
            .sender
            .try_send_request(Request::from_parts(head, leg_body))
            .await
        {
            Ok(response) => response,
            Err(mut e) => {
                // A request that never left gives its body back.
                if let (Some(request), LegBody::Streamed(slot @ None), true) =
                    (e.take_message(), &mut *body, streams)
                {
                    *slot = Some(request.into_body());
                }
                let resendable = !matches!(body, LegBody::Streamed(None));
                let retry = may_retry && resendable && closed_unanswered(e.error());
                let error = UpstreamError::Http(e.into_error());
                return if retry {
                    Ok(Exchange::Closed(error))
                } else {
                    Err(error)
                };
            }
        };
        match legs.on_answer(&mut pinned, response, digest_sent.as_ref(), body_spent)? {
            Step::Done(response) => {
                conn.put_pinned(target.key.clone(), pinned);
                return Ok(Exchange::Answered(response));
            }
            Step::Again(response, what) => read_challenge_body(response, &pinned, what).await?,
        }
    }
    Err(UpstreamError::Unfinished)
}

/// Whether a send failed because the connection closed before any answer: the request was
/// not sent, or the upstream hung up (or reset) without a response.
fn closed_unanswered(e: &hyper::Error) -> bool {
    if e.is_canceled() || e.is_closed() || e.is_incomplete_message() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        source = inner.source();
    }
    false
}

/// Reads a challenge's body so that the connection is ready for the next leg.
async fn read_challenge_body(
    response: Response<Incoming>,
    pinned: &Pinned,
    what: &'static str,
) -> Result<(), UpstreamError> {
    Limited::new(response.into_body(), CHALLENGE_BODY_LIMIT)
        .collect()
        .await
        .map_err(|source| UpstreamError::Challenge { what, source })?;
    if pinned.sender.is_closed() {
        return Err(UpstreamError::ClosedMidHandshake(what));
    }
    Ok(())
}

/// Opens an HTTP/1.1 connection for `uri` and remembers the origin's certificate.
async fn open(connector: &Connector, uri: &Uri) -> Result<Pinned, UpstreamError> {
    let opened = open_http1(connector, uri).await?;
    Ok(Pinned {
        sender: opened.sender,
        proxied: opened.proxied,
        server_cert: opened.server_cert,
        origin_authed: false,
        parent_authed: false,
    })
}
