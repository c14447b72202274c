//! Upstream connections pinned to one client connection, for NTLM: it authenticates a
//! connection, not a request, so the three messages must travel on one HTTP/1.1 connection and
//! the client's later requests must reuse it. The same applies to plain requests through a
//! parent proxy that wants NTLM (407).
//!
//! Each client connection owns a [`ClientConn`]; when it closes, its pinned upstream
//! connections close with it.
//!
//! [`ClientConn`]: super::client_conn::ClientConn

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TRANSFER_ENCODING,
    WWW_AUTHENTICATE,
};
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use url::Url;

use super::Signet;
use super::body::{self, Outgoing, ProxyBody};
use super::client_conn::ClientConn;
use super::upstream::{Connector, open_http1, origin_form};
use crate::auth::ntlm::{Handshake, Ntlm, Offer, Word, offer};
use crate::rules::Destination;

/// The largest 401/407 body read (and dropped) between handshake legs.
const CHALLENGE_BODY_LIMIT: usize = 1 << 20;

/// Which pinned connection a request needs: the destination (or the parent, for plain
/// requests through it), the TLS profile, and the NTLM credentials it authenticated with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct PinKey {
    target: String,
    https: bool,
    upstream: usize,
    credentials: usize,
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
    origin: Option<&'a Ntlm>,
    /// Where the origin's `Set-Cookie` goes in the jar, when the rule captures.
    capture: Option<&'a Url>,
}

impl<'a> Target<'a> {
    /// `Some` when the rule's auth is NTLM, or the request is plain HTTP through a parent that
    /// wants NTLM; `None` lets the pooled clients handle it.
    pub(super) fn choose(
        signet: &'a Signet,
        conn: &'a ClientConn,
        dest: &Destination,
        upstream: usize,
        origin: Option<&'a Ntlm>,
        capture: Option<&'a Url>,
    ) -> Option<Target<'a>> {
        let via_ntlm_parent =
            !dest.https && signet.dialer.parent().is_some_and(|p| p.ntlm().is_some());
        if origin.is_none() && !via_ntlm_parent {
            return None;
        }
        let target = if origin.is_none() {
            "parent".to_owned()
        } else {
            dest.authority()
        };
        Some(Target {
            key: PinKey {
                target,
                https: dest.https,
                upstream,
                credentials: origin.map_or(0, |n| n as *const Ntlm as usize),
            },
            connector: &conn.upstreams(upstream).http1_connector,
            origin,
            capture,
        })
    }
}

/// Sends a request over the client's pinned connection, opening one and running the NTLM
/// handshakes (with the origin, the parent, or both) when needed. Errors are in words.
///
/// A kept connection that the upstream closed just as the request went out (no answer at all)
/// is replaced once by a new connection with a new handshake, when the body can still be sent:
/// the race every keep-alive client meets, which the client cannot see or retry on its own.
pub(super) async fn send(
    signet: &Signet,
    conn: &ClientConn,
    target: Target<'_>,
    parts: http::request::Parts,
    outgoing: Outgoing,
) -> Result<Response<Incoming>, String> {
    let mut body = match outgoing {
        Outgoing::Buffered(bytes) => LegBody::Buffered(bytes),
        Outgoing::Streamed(body) => LegBody::Streamed(Some(body)),
    };
    let (pinned, kept) = match conn.take_pinned(&target.key) {
        Some(pinned) => (pinned, true),
        None => (open(target.connector, &parts.uri).await?, false),
    };
    let reason = match exchange(signet, conn, &target, &parts, &mut body, pinned, kept).await? {
        Exchange::Answered(response) => return Ok(response),
        Exchange::Closed(reason) => reason,
    };
    tracing::debug!(%reason, "kept upstream connection closed before answering; opening a new one");
    let pinned = open(target.connector, &parts.uri).await?;
    match exchange(signet, conn, &target, &parts, &mut body, pinned, false).await? {
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
    Closed(String),
}

/// Runs the legs of one request on `pinned`: the handshakes it still needs, then the request.
async fn exchange(
    signet: &Signet,
    conn: &ClientConn,
    target: &Target<'_>,
    parts: &http::request::Parts,
    body: &mut LegBody,
    mut pinned: Pinned,
    kept: bool,
) -> Result<Exchange, String> {
    let mut parts = super::forward::copy_head(parts);
    let origin = target.origin;
    let parent = signet
        .dialer
        .parent()
        .and_then(|p| p.ntlm())
        .map(|(ntlm, _)| ntlm)
        .filter(|_| pinned.proxied);
    let digest_parent = signet
        .dialer
        .parent()
        .filter(|p| p.uses_digest() && pinned.proxied);
    let mut digest_answered = false;
    // `None`: nothing to do for that peer (not NTLM, or the connection is authenticated).
    let start = |needed: bool| needed.then_some(Handshake::Start(Word::Ntlm));
    let mut origin_state = start(origin.is_some() && !pinned.origin_authed);
    let mut parent_state = start(parent.is_some() && !pinned.parent_authed);
    let had_body =
        parts.headers.contains_key(CONTENT_LENGTH) || parts.headers.contains_key(TRANSFER_ENCODING);

    // NEGOTIATE and AUTHENTICATE per peer, plus a possible switch of word each.
    for leg in 0..8 {
        let mut head = super::forward::copy_head(&parts);
        if !pinned.proxied {
            head.uri = origin_form(&head.uri);
        }
        let cx = signet.sign_context();
        if let Some(ntlm) = origin {
            // Once the connection is authenticated, credentials would restart the handshake.
            head.headers.remove(AUTHORIZATION);
            if let Some(state) = origin_state.as_mut()
                && let Some(value) = state.next_header(ntlm, pinned.server_cert.as_deref(), &cx)?
            {
                head.headers.insert(AUTHORIZATION, value);
            }
        }
        if let (Some(ntlm), Some(state)) = (parent, parent_state.as_mut())
            && let Some(value) = state.next_header(ntlm, None, &cx)?
        {
            head.headers.insert(PROXY_AUTHORIZATION, value);
        }
        let digest_sent = match digest_parent {
            Some(parent) => super::forward::sign_for_parent(parent, &mut head)?,
            None => None,
        };
        // Only the first leg on a kept connection meets the keep-alive race; later legs, and
        // new connections, have shown that the upstream answers.
        let may_retry = kept && leg == 0;
        if let Err(e) = pinned.sender.ready().await {
            let reason = format!("upstream connection closed: {e}");
            // Nothing was sent and the body is still here.
            return if may_retry {
                Ok(Exchange::Closed(reason))
            } else {
                Err(reason)
            };
        }
        let challenged_next = [&origin_state, &parent_state]
            .iter()
            .any(|s| matches!(s, Some(Handshake::Negotiated(..))));
        // A leg that will be challenged carries the body only when it can be sent again.
        let (leg_body, streams) = match (&mut *body, challenged_next) {
            (LegBody::Buffered(bytes), _) => (body::full(bytes.clone()), false),
            (LegBody::Streamed(streamed), false) => match streamed.take() {
                Some(streamed) => (streamed, true),
                None => (body::empty(), false),
            },
            (LegBody::Streamed(_), true) => {
                if had_body {
                    head.headers.remove(TRANSFER_ENCODING);
                    head.headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
                }
                (body::empty(), false)
            }
        };
        let body_spent = matches!(body, LegBody::Streamed(None));

        let response = match pinned
            .sender
            .try_send_request(Request::from_parts(head, leg_body))
            .await
        {
            Ok(response) => response,
            Err(mut e) => {
                let reason = format!("upstream error: {}", e.error());
                // A request that never left gives its body back.
                if let (Some(request), LegBody::Streamed(slot @ None), true) =
                    (e.take_message(), &mut *body, streams)
                {
                    *slot = Some(request.into_body());
                }
                let resendable = !matches!(body, LegBody::Streamed(None));
                return if may_retry && resendable && closed_unanswered(e.error()) {
                    Ok(Exchange::Closed(reason))
                } else {
                    Err(reason)
                };
            }
        };

        let status = response.status();
        if let Some(digest) = digest_parent
            && status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
        {
            // One answer per request: a second 407 means the credentials are wrong.
            if digest_answered
                || body_spent
                || !digest.digest_challenged(digest_sent.as_ref(), response.headers())
            {
                conn.put_pinned(target.key.clone(), pinned);
                return Ok(Exchange::Answered(response));
            }
            digest_answered = true;
            read_challenge_body(response, &pinned)
                .await
                .map_err(|e| e.replace("NTLM handshake", "Digest exchange with the parent"))?;
            continue;
        }
        let (state, header, ntlm) = match (status, origin, parent) {
            (StatusCode::PROXY_AUTHENTICATION_REQUIRED, _, Some(ntlm)) => {
                (&mut parent_state, &PROXY_AUTHENTICATE, ntlm)
            }
            (StatusCode::UNAUTHORIZED, Some(ntlm), _) => {
                (&mut origin_state, &WWW_AUTHENTICATE, ntlm)
            }
            _ => {
                // Not challenged: whatever was answered is now authenticated.
                pinned.origin_authed |= origin_state.is_some();
                pinned.parent_authed |= parent_state.is_some();
                conn.put_pinned(target.key.clone(), pinned);
                return Ok(Exchange::Answered(response));
            }
        };
        let goes_on = !body_spent
            && ntlm.answers_challenges()
            && match state {
                // An authenticated connection challenged again (the server reset it).
                None if offer(response.headers(), header) != Offer::None => {
                    tracing::debug!(%status, "pinned connection challenged again; new handshake");
                    *state = Some(Handshake::Start(Word::Ntlm));
                    true
                }
                None => false,
                Some(state) => state.on_challenge(response.headers(), header),
            };
        if !goes_on {
            // The handshake failed or cannot go on: the client gets the answer as it is, and
            // the connection counts as unauthenticated from now on.
            if status == StatusCode::UNAUTHORIZED {
                pinned.origin_authed = false;
            } else {
                pinned.parent_authed = false;
            }
            conn.put_pinned(target.key.clone(), pinned);
            return Ok(Exchange::Answered(response));
        }
        if status == StatusCode::UNAUTHORIZED {
            // The origin's challenge may set cookies (a load balancer's affinity cookie, that
            // must come back on the next leg): kept as a browser would keep them. A parent
            // proxy's 407 sets none for the origin.
            if let Some(cookies) = &signet.cookies {
                cookies.on_response(target.capture, response.headers());
            }
            crate::cookies::carry_over(&mut parts, response.headers());
        }
        read_challenge_body(response, &pinned).await?;
    }
    Err("the NTLM handshake did not finish".into())
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
async fn read_challenge_body(response: Response<Incoming>, pinned: &Pinned) -> Result<(), String> {
    Limited::new(response.into_body(), CHALLENGE_BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("reading the NTLM challenge failed: {e}"))?;
    if pinned.sender.is_closed() {
        return Err(
            "upstream closed the connection in the middle of the NTLM handshake \
                    (NTLM needs a keep-alive connection)"
                .into(),
        );
    }
    Ok(())
}

/// Opens an HTTP/1.1 connection for `uri` and remembers the origin's certificate.
async fn open(connector: &Connector, uri: &Uri) -> Result<Pinned, String> {
    let opened = open_http1(connector, uri).await?;
    Ok(Pinned {
        sender: opened.sender,
        proxied: opened.proxied,
        server_cert: opened.server_cert,
        origin_authed: false,
        parent_authed: false,
    })
}
