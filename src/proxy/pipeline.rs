//! One request through signet, as named phases:
//! decide → prepare → cookies → plan the body → sign → send → after (replay once) → respond.
//!
//! Every request takes this path: a request under no rule has the scheme that adds nothing.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;

use super::Generation;
use super::access::{Action, Counted, Entry};
use super::admission::Admitted;
use super::respond::{self, ProxyError};
use crate::auth::{AuthError, BodyNeed, BodyRewrite, BodyRewriteError, Scheme};
use crate::metrics::Side;
use crate::net::ConnectError;
use crate::net::body::{self, BodyKeeper, Buffered, Kept, Outgoing, ProxyBody};
use crate::net::headers::{is_upgrade, strip_hop_by_hop};
use crate::rules::{Destination, RuleLabel};
use crate::tls::TlsProfileId;
use crate::upstream::{ClientConn, Peer, UpstreamError, Wire, copy_head};

/// signet's own answer instead of the upstream's: a status and the reason, for the client.
pub struct Refusal {
    status: StatusCode,
    kind: ProxyError,
    reason: String,
}

impl Refusal {
    fn new(status: StatusCode, kind: ProxyError, reason: impl Into<String>) -> Self {
        Refusal {
            status,
            kind,
            reason: reason.into(),
        }
    }
}

/// What the decide phase settles for one request.
struct Job<'a> {
    label: RuleLabel<'a>,
    name: Option<&'a Arc<str>>,
    rule: Option<usize>,
    scheme: &'a Scheme,
    tls: TlsProfileId,
}

/// The body as the plan phase left it: in memory (and kept for a replay), or streaming, maybe
/// with its first bytes for the scheme.
struct Planned {
    buffered: Option<Bytes>,
    head: Option<Bytes>,
    streamed: Option<ProxyBody>,
    /// The head before signing and the body bytes, for a replay that signs again.
    original: Option<(http::request::Parts, Option<Bytes>)>,
}

/// Forwards `req` to `dest`, adding the credentials of the rule that names `dest`; an accepted
/// upgrade holds the client connection's `place` under the caps while it lasts.
pub(super) async fn forward(
    generation: &Generation,
    conn: &ClientConn,
    place: Arc<Admitted>,
    dest: Destination,
    mut req: Request<Incoming>,
    entry: &mut Entry,
) -> Response<ProxyBody> {
    entry.destination(&dest);
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, incoming) = req.into_parts();
    // An HTTP/2 client may still be sending when the answer goes out: what is left of its body
    // is kept until then (see `BodyKeeper`).
    let keeper = (parts.version == Version::HTTP_2).then(BodyKeeper::default);
    // A body-less request (a GET's) needs no counter.
    let read = (!incoming.is_end_stream()).then(|| entry.read_counter());
    let incoming = Kept::new(Counted::new(incoming, read), keeper.clone());
    let mut counted = None;
    let outcome = run(
        generation,
        conn,
        &dest,
        (parts, incoming),
        upgrade,
        entry,
        &mut counted,
    )
    .await;
    let status = match &outcome {
        Ok(response) => response.status(),
        Err(refusal) => refusal.status,
    };
    let (rule, auth) = counted.unwrap_or((None, 0));
    generation.requests.request(rule, auth, status.as_u16());
    let response = match outcome {
        Ok(response) => {
            if client_upgrade.is_some() && response.status() == StatusCode::SWITCHING_PROTOCOLS {
                // The client connection now carries a tunnel (a WebSocket, say).
                conn.idle().set(generation.limits.tunnel_idle);
            }
            respond(response, client_upgrade, place)
        }
        Err(refusal) => {
            entry.refused(&refusal.reason);
            respond::error(refusal.status, refusal.kind, refusal.reason)
        }
    };
    match keeper {
        Some(keeper) => response.map(|body| body::holding(body, keeper)),
        None => response,
    }
}

/// The client's request body as the phases read it.
type ClientBody = Kept<Counted<Incoming>>;

async fn run(
    generation: &Generation,
    conn: &ClientConn,
    dest: &Destination,
    (mut parts, incoming): (http::request::Parts, ClientBody),
    upgrade: bool,
    entry: &mut Entry,
    counted: &mut Option<(Option<usize>, usize)>,
) -> Result<Response<Incoming>, Refusal> {
    let job = decide(generation, dest, &parts)?;
    entry.rule(job.name, job.scheme);
    *counted = Some((job.rule, job.scheme.index()));
    let wire = wire(&parts, job.scheme, upgrade);
    prepare(&mut parts, dest, upgrade).map_err(|e| {
        let kind = ProxyError::HttpRequestError;
        Refusal::new(StatusCode::BAD_REQUEST, kind, format!("{dest}: {e}"))
    })?;
    let capture = generation
        .cookies
        .as_ref()
        .and_then(|c| c.before_send(job.rule, dest, &mut parts, generation.clock.now()));
    let peer = Peer {
        dest,
        tls: job.tls,
        wire,
        ntlm: job.scheme.connection_auth(),
        cookies: generation.cookies.as_deref(),
        capture: capture.as_ref(),
    };
    let resend = generation.upstream.may_resend(dest) && !upgrade;
    let planned = plan_body(generation, &job, &parts, incoming, resend).await?;
    tracing::debug!(rule = %job.label, auth = job.scheme.type_name(), method = %parts.method, %dest, "forwarding");
    let body = (planned.buffered, planned.head, planned.streamed);
    let outgoing = sign(generation, &job, &mut parts, body).await?;
    let sent_head = job.scheme.may_replay().then(|| copy_head(&parts));
    let response = send(generation, conn, &peer, &job, parts, outgoing).await?;
    // Boxed: only schemes that may replay get here, and its state would make every
    // request's future larger.
    let response = match sent_head {
        Some(sent) => {
            let original = planned.original;
            Box::pin(after(
                generation,
                conn,
                &peer,
                &job,
                (&sent, original),
                response,
                entry,
            ))
            .await?
        }
        None => response,
    };
    if let Some(cookies) = &generation.cookies {
        cookies.on_response(capture.as_ref(), response.headers());
    }
    Ok(response)
}

/// Decide: the rule, its scheme and its upstream TLS profile.
fn decide<'a>(
    generation: &'a Generation,
    dest: &Destination,
    parts: &http::request::Parts,
) -> Result<Job<'a>, Refusal> {
    let policy = &generation.policy;
    let decision = policy
        .decide(dest, &parts.method, parts.uri.path())
        .map_err(|e| {
            let kind = ProxyError::HttpRequestError;
            Refusal::new(StatusCode::BAD_REQUEST, kind, format!("{dest}: {e}"))
        })?;
    let rule = decision.as_ref().map(|d| d.rule);
    Ok(Job {
        label: RuleLabel::of(rule),
        name: rule.map(|r| &r.name),
        rule: rule.map(|r| r.index),
        scheme: policy.scheme(decision.as_ref()),
        tls: policy.tls_profile(rule),
    })
}

/// Which HTTP goes upstream: the client's version (when the origin offers it), HTTP/2 only
/// for clients that chose it inside an intercepted tunnel, and HTTP/1.1 for schemes that
/// authenticate the connection.
fn wire(parts: &http::request::Parts, scheme: &Scheme, upgrade: bool) -> Wire {
    if upgrade {
        Wire::Upgrade
    } else if parts.version == Version::HTTP_2 && !scheme.needs_http1() {
        Wire::Any
    } else {
        Wire::Http1
    }
}

/// How much of the body to read before signing: what the scheme must hash, or, when the
/// request may have to go again (`resend`, or the scheme may replay it), as much as fits.
pub fn body_plan(scheme: &Scheme, parts: &http::request::Parts, resend: bool) -> BodyNeed {
    match scheme.body_need(parts) {
        BodyNeed::None if resend || scheme.may_replay() => BodyNeed::Preferred,
        need => need,
    }
}

/// What to do with a body longer than what the plan reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Longer {
    /// The scheme must see all of it: 413.
    Refuse,
    /// Sign without it, and stream it.
    Stream,
    /// The scheme gets what was read, and the whole body streams.
    StreamWithHead,
}

/// Plan the body: stream it, or read it (or its first bytes) within the limit, refusing with
/// 413 when the scheme must hash a larger one.
async fn plan_body(
    generation: &Generation,
    job: &Job<'_>,
    parts: &http::request::Parts,
    incoming: ClientBody,
    resend: bool,
) -> Result<Planned, Refusal> {
    let limit = generation.buffer_limit;
    let (read, longer) = match body_plan(job.scheme, parts, resend) {
        BodyNeed::None => {
            let streamed = Some(body::stream(incoming));
            return Ok(Planned::streamed(streamed, None));
        }
        BodyNeed::Required => (limit, Longer::Refuse),
        BodyNeed::Preferred => (limit, Longer::Stream),
        BodyNeed::Prefix(n) if n <= limit => (n, Longer::StreamWithHead),
        BodyNeed::Prefix(_) => (limit, Longer::Refuse),
    };
    let rest = match body::buffer(incoming, read).await {
        Ok(Buffered::Complete(bytes)) => {
            // A replay re-signs the request as it was before signing, with the same bytes.
            let original = job
                .scheme
                .may_replay()
                .then(|| (copy_head(parts), Some(bytes.clone())));
            return Ok(Planned {
                buffered: Some(bytes),
                head: None,
                streamed: None,
                original,
            });
        }
        Ok(Buffered::Overflow(rest)) => rest,
        Err(e) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                ProxyError::HttpRequestError,
                format!("{}: cannot read the request body: {e}", job.label),
            ));
        }
    };
    match longer {
        Longer::Stream => Ok(Planned::streamed(Some(body::stream(rest)), None)),
        Longer::StreamWithHead => {
            let head = rest.head();
            Ok(Planned::streamed(Some(body::stream(rest)), Some(head)))
        }
        Longer::Refuse => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::HttpRequestError,
            format!(
                "{}: the request body is larger than the {limit}-byte buffer limit and {} must \
                 hash it (raise [proxy] buffer_limit)",
                job.label,
                job.scheme.type_name()
            ),
        )),
    }
}

impl Planned {
    /// A body that streams, the scheme seeing `head` of it, if anything.
    fn streamed(streamed: Option<ProxyBody>, head: Option<Bytes>) -> Self {
        Planned {
            buffered: None,
            head,
            streamed,
            original: None,
        }
    }
}

/// Sign: the scheme adds its credentials to `parts`; the body to send comes back.
async fn sign(
    generation: &Generation,
    job: &Job<'_>,
    parts: &mut http::request::Parts,
    (mut buffered, mut head, streamed): (Option<Bytes>, Option<Bytes>, Option<ProxyBody>),
) -> Result<Outgoing, Refusal> {
    let seen = buffered.as_mut().or(head.as_mut());
    if let Err(e) = job
        .scheme
        .sign(parts, seen, &generation.sign_context())
        .await
    {
        let (status, kind) = match e {
            AuthError::BodyTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, ProxyError::HttpRequestError)
            }
            AuthError::Unsignable(_) => (StatusCode::BAD_REQUEST, ProxyError::HttpRequestError),
            AuthError::BadCredential(_) => {
                (StatusCode::BAD_GATEWAY, ProxyError::ProxyConfigurationError)
            }
            AuthError::TokenEndpoint(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ProxyError::ProxyInternalError,
            ),
        };
        let scheme = job.scheme.type_name();
        return Err(Refusal::new(
            status,
            kind,
            format!("{}: {scheme}: {e}", job.label),
        ));
    }
    let (buffered, streamed) = rewrite_body(job, parts, buffered, streamed)?;
    let body = match (buffered, streamed) {
        (Some(bytes), _) => {
            if !bytes.is_empty() || parts.headers.contains_key(CONTENT_LENGTH) {
                parts
                    .headers
                    .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            }
            Outgoing::Buffered(bytes)
        }
        (None, Some(streamed)) => Outgoing::Streamed(streamed),
        (None, None) => Outgoing::Buffered(Bytes::new()),
    };
    Ok(body)
}

/// The body through the rewrite the scheme handed back, if any: a buffered body at once (so a
/// malformed one is refused before anything is sent), a streaming one as it goes.
fn rewrite_body(
    job: &Job<'_>,
    parts: &mut http::request::Parts,
    buffered: Option<Bytes>,
    streamed: Option<ProxyBody>,
) -> Result<(Option<Bytes>, Option<ProxyBody>), Refusal> {
    let Some(rewrite) = BodyRewrite::take(parts) else {
        return Ok((buffered, streamed));
    };
    match buffered {
        Some(bytes) => {
            let rewritten = rewrite.apply(&bytes).map_err(|e| {
                let kind = ProxyError::HttpRequestError;
                Refusal::new(StatusCode::BAD_REQUEST, kind, format!("{}: {e}", job.label))
            })?;
            Ok((Some(rewritten), None))
        }
        None => Ok((None, streamed.map(|s| body::rewritten(s, rewrite)))),
    }
}

/// A signer's body rewrite, run over a streaming body by the net layer.
impl body::Rewrite for BodyRewrite {
    type Error = BodyRewriteError;

    fn feed(&mut self, input: &[u8], out: &mut bytes::BytesMut) -> Result<(), Self::Error> {
        BodyRewrite::feed(self, input, out)
    }

    fn finish(&mut self, out: &mut bytes::BytesMut) -> Result<(), Self::Error> {
        BodyRewrite::finish(self, out)
    }
}

/// Send: upstream; a failure becomes signet's 502 naming the host and the reason.
async fn send(
    generation: &Generation,
    conn: &ClientConn,
    peer: &Peer<'_>,
    job: &Job<'_>,
    parts: http::request::Parts,
    body: Outgoing,
) -> Result<Response<Incoming>, Refusal> {
    let started = std::time::Instant::now();
    let sent = generation.upstream.send(conn, peer, parts, body).await;
    if sent.is_ok() {
        generation.metrics.upstream_latency(started.elapsed());
    }
    sent.map_err(|reason| {
        generation.metrics.upstream_error();
        if let UpstreamError::Connect(ConnectError::Tls { .. }) = reason {
            generation.metrics.tls_handshake_failed(Side::Upstream);
        }
        let (dest, label) = (peer.dest, job.label);
        tracing::info!(rule = %label, %dest, %reason, "upstream request failed");
        let status = match reason {
            UpstreamError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::ClientBody(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        };
        let kind = ProxyError::of_upstream(&reason);
        Refusal::new(status, kind, format!("{dest} ({label}): {reason}"))
    })
}

/// After: when the scheme asks (a challenge, a refused token), the original request is
/// signed again and sent once more, with the identical body bytes.
async fn after(
    generation: &Generation,
    conn: &ClientConn,
    peer: &Peer<'_>,
    job: &Job<'_>,
    (sent, original): (
        &http::request::Parts,
        Option<(http::request::Parts, Option<Bytes>)>,
    ),
    response: Response<Incoming>,
    entry: &mut Entry,
) -> Result<Response<Incoming>, Refusal> {
    let (answer, answer_body) = response.into_parts();
    if !job.scheme.wants_replay(sent, &answer) {
        return Ok(Response::from_parts(answer, answer_body));
    }
    drop(answer_body);
    // The challenge's cookies count as a browser's would: kept when the rule captures.
    if let Some(cookies) = &generation.cookies {
        cookies.on_response(peer.capture, &answer.headers);
    }
    // The body streamed past the buffer limit, so there is nothing identical to replay.
    let Some((mut head, body)) = original else {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::HttpRequestError,
            format!(
                "{}: the upstream answered {} with a challenge, and the request body \
                 was larger than the {}-byte buffer limit so it cannot be replayed \
                 (raise [proxy] buffer_limit, or send the request again: it will be \
                 signed before the upstream asks)",
                job.label, answer.status, generation.buffer_limit,
            ),
        ));
    };
    crate::cookies::carry_over(&mut head, &answer.headers);
    tracing::debug!(rule = %job.label, auth = job.scheme.type_name(), dest = %peer.dest, "replaying with fresh credentials");
    generation.metrics.challenge_replay(job.scheme.index());
    entry.action(Action::replay_by(job.scheme));
    let outgoing = sign(generation, job, &mut head, (body, None, None)).await?;
    send(generation, conn, peer, job, head, outgoing).await
}

/// Respond: stream the upstream's answer back, or join the two sides of an accepted upgrade.
fn respond(
    mut response: Response<Incoming>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    place: Arc<Admitted>,
) -> Response<ProxyBody> {
    if let Some(client_upgrade) = client_upgrade
        && response.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let _place = place;
            let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await) else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(
                &mut TokioIo::new(client),
                &mut TokioIo::new(upstream),
            )
            .await;
        });
        return response.map(|_| body::empty());
    }
    strip_hop_by_hop(response.headers_mut(), false);
    response.map(body::stream)
}

/// Prepare: readies a client's request head for the upstream: hop-by-hop headers removed,
/// the URI made absolute for `dest`, and a Host header naming `dest` (the destination signet
/// matched on, not one the client wrote). `signet sign` uses this too, so it prints what the
/// proxy would send.
pub fn prepare(
    parts: &mut http::request::Parts,
    dest: &Destination,
    upgrade: bool,
) -> Result<(), PrepareError> {
    strip_hop_by_hop(&mut parts.headers, upgrade);
    // The URI and the Host header share one copy of the authority; the path is not copied.
    let authority = dest.authority();
    let scheme = if dest.https {
        http::uri::Scheme::HTTPS
    } else {
        http::uri::Scheme::HTTP
    };
    // A client's absolute-form target is often already what goes upstream: kept, not parsed
    // again.
    let written = parts.uri.scheme() == Some(&scheme)
        && parts.uri.authority().map(|a| a.as_str()) == Some(authority.as_str())
        && parts
            .uri
            .path_and_query()
            .is_some_and(|pq| !pq.as_str().is_empty());
    let authority = Bytes::from(authority);
    let host = HeaderValue::from_maybe_shared(if written {
        authority
    } else {
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(scheme);
        uri.authority = Some(http::uri::Authority::from_maybe_shared(authority.clone())?);
        uri.path_and_query = Some(match parts.uri.path_and_query() {
            Some(pq) if !pq.as_str().is_empty() => pq.clone(),
            _ => http::uri::PathAndQuery::from_static("/"),
        });
        parts.uri = Uri::from_parts(uri)?;
        authority
    })
    .map_err(|_| PrepareError::Host)?;
    parts.headers.insert(HOST, host);
    parts.version = Version::HTTP_11;
    Ok(())
}

/// The request target cannot be made absolute.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The destination cannot be a Host header.
    #[error("invalid host")]
    Host,
    /// The destination cannot be a URI authority.
    #[error("bad request target: {0}")]
    Target(#[from] http::uri::InvalidUri),
    /// The parts do not make a URI.
    #[error("bad request target: {0}")]
    Parts(#[from] http::uri::InvalidUriParts),
}
