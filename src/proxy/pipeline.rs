//! One request through signet: match the rule, prepare the request for the upstream, sign it,
//! send it, and stream the answer back.

use std::error::Error as _;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, PROXY_AUTHORIZATION};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use url::Url;

use super::Signet;
use super::body::{self, Buffered, Outgoing, ProxyBody};
use super::bound;
use super::client_conn::ClientConn;
use super::headers::{is_upgrade, strip_hop_by_hop};
use super::pinned;
use super::respond;
use super::upstream::{ConnectError, HttpClient, ParentProxy};
use crate::auth::ntlm::Ntlm;
use crate::auth::{AuthError, BodyNeed, Scheme};
use crate::rules::{Destination, RuleLabel};

/// Forwards `req` to `dest`, adding the credentials of the rule that names `dest`.
pub(super) async fn forward(
    signet: &Signet,
    conn: &ClientConn,
    dest: Destination,
    mut req: Request<Incoming>,
) -> Response<ProxyBody> {
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, incoming) = req.into_parts();

    let decision = match signet
        .policy
        .table
        .decide(&dest, &parts.method, parts.uri.path())
    {
        Ok(decision) => decision,
        Err(e) => return respond::error(StatusCode::BAD_REQUEST, format!("{dest}: {e}")),
    };
    let label = RuleLabel(decision.as_ref().map(|d| d.rule));
    let scheme = decision.as_ref().and_then(|d| d.auth).cloned();
    let upstream = decision.as_ref().map_or(0, |d| d.rule.upstream);

    // Upstream, signet speaks the client's HTTP version (when the origin offers it): HTTP/2
    // only for clients that chose it inside an intercepted tunnel.
    let wire = if upgrade {
        Wire::Upgrade
    } else if parts.version == Version::HTTP_2 {
        Wire::Any
    } else {
        Wire::Http1
    };
    if let Err(e) = prepare(&mut parts, &dest, upgrade) {
        return respond::error(StatusCode::BAD_REQUEST, format!("{dest}: {e}"));
    }
    signet.metrics.request(
        label.0.map(|r| r.index),
        scheme.as_ref().map_or("none", |s| s.type_name()),
    );
    let capture_url = signet.cookies.as_ref().and_then(|c| {
        let rule = decision.as_ref().map(|d| d.rule.index);
        c.before_send(rule, &dest, &mut parts, signet.clock.now())
    });
    if !dest.https
        && let Some(auth) = signet.dialer.parent().and_then(|p| p.authorization())
    {
        parts.headers.insert(PROXY_AUTHORIZATION, auth.clone());
    }

    // A plain request through a parent that wants Digest may have to go twice.
    let parent_replays = !dest.https && signet.dialer.parent().is_some_and(|p| p.uses_digest());

    let Some(scheme) = scheme else {
        tracing::debug!(rule = %label, method = %parts.method, %dest, "forwarding untouched");
        let capture = capture_url.as_ref();
        let route = Route::choose(signet, conn, &dest, upstream, wire, None, capture);
        let body = if parent_replays && !upgrade {
            match body::buffer(incoming, signet.buffer_limit).await {
                Ok(Buffered::Complete(bytes)) => Outgoing::Buffered(bytes),
                Ok(Buffered::Overflow(rest)) => Outgoing::Streamed(body::stream(rest)),
                Err(e) => {
                    return respond::error(
                        StatusCode::BAD_REQUEST,
                        format!("{label}: cannot read the request body: {e}"),
                    );
                }
            }
        } else {
            Outgoing::Streamed(body::stream(incoming))
        };
        let response = match send(signet, route, parts, body, &dest, label).await {
            Ok(response) => response,
            Err(answer) => return answer,
        };
        if let Some(cookies) = &signet.cookies {
            cookies.on_response(capture_url.as_ref(), response.headers());
        }
        return finish(response, client_upgrade);
    };

    // The body is buffered when the scheme hashes it, or may replay the request.
    let replayable = scheme.may_replay();
    let need = match scheme.body_need(&parts) {
        BodyNeed::None if replayable || (parent_replays && !upgrade) => BodyNeed::Preferred,
        need => need,
    };
    let (buffered, streamed) = match need {
        BodyNeed::None => (None, Some(body::stream(incoming))),
        BodyNeed::Required | BodyNeed::Preferred => {
            match body::buffer(incoming, signet.buffer_limit).await {
                Ok(Buffered::Complete(bytes)) => (Some(bytes), None),
                Ok(Buffered::Overflow(rest)) if need == BodyNeed::Preferred => {
                    (None, Some(body::stream(rest)))
                }
                Ok(Buffered::Overflow(_)) => {
                    return respond::error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "{label}: the request body is larger than the {}-byte buffer limit and {} must hash it \
                             (raise [proxy] buffer_limit)",
                            signet.buffer_limit,
                            scheme.type_name()
                        ),
                    );
                }
                Err(e) => {
                    return respond::error(
                        StatusCode::BAD_REQUEST,
                        format!("{label}: cannot read the request body: {e}"),
                    );
                }
            }
        }
    };
    // A replay re-signs the request as it was before signing, with the same body bytes.
    let original =
        (replayable && streamed.is_none()).then(|| (copy_head(&parts), buffered.clone()));

    let route = || {
        let wire = match wire {
            Wire::Any if scheme.needs_http1() => Wire::Http1,
            wire => wire,
        };
        let capture = capture_url.as_ref();
        Route::choose(signet, conn, &dest, upstream, wire, scheme.ntlm(), capture)
    };
    tracing::debug!(rule = %label, auth = scheme.type_name(), method = %parts.method, %dest, "forwarding");
    let (sent, outgoing) = match sign(signet, &scheme, parts, buffered, streamed, label).await {
        Ok(signed) => signed,
        Err(answer) => return answer,
    };
    let sent_head = replayable.then(|| copy_head(&sent));
    let mut response = match send(signet, route(), sent, outgoing, &dest, label).await {
        Ok(response) => response,
        Err(answer) => return answer,
    };

    if let Some(sent_head) = sent_head {
        let (response_head, response_body) = response.into_parts();
        if scheme.wants_replay(&sent_head, &response_head).await {
            drop(response_body);
            // The challenge's cookies count as a browser's would: kept when the rule captures.
            if let Some(cookies) = &signet.cookies {
                cookies.on_response(capture_url.as_ref(), &response_head.headers);
            }
            // The body streamed past the buffer limit, so there is nothing identical to replay.
            let Some((mut head, body)) = original else {
                return respond::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "{label}: the upstream answered {} with a challenge, and the request body \
                         was larger than the {}-byte buffer limit so it cannot be replayed \
                         (raise [proxy] buffer_limit, or send the request again: it will be \
                         signed before the upstream asks)",
                        response_head.status, signet.buffer_limit,
                    ),
                );
            };
            crate::cookies::carry_over(&mut head, &response_head.headers);
            tracing::debug!(rule = %label, auth = scheme.type_name(), %dest, "replaying with fresh credentials");
            signet.metrics.challenge_replay();
            let (sent, outgoing) = match sign(signet, &scheme, head, body, None, label).await {
                Ok(signed) => signed,
                Err(answer) => return answer,
            };
            response = match send(signet, route(), sent, outgoing, &dest, label).await {
                Ok(response) => response,
                Err(answer) => return answer,
            };
        } else {
            response = Response::from_parts(response_head, response_body);
        }
    }
    if let Some(cookies) = &signet.cookies {
        cookies.on_response(capture_url.as_ref(), response.headers());
    }
    finish(response, client_upgrade)
}

/// Signs `parts`, returning the head and body to send, or signet's error answer.
async fn sign(
    signet: &Signet,
    scheme: &Scheme,
    mut parts: http::request::Parts,
    mut buffered: Option<Bytes>,
    streamed: Option<ProxyBody>,
    label: RuleLabel<'_>,
) -> Result<(http::request::Parts, Outgoing), Response<ProxyBody>> {
    if let Err(e) = scheme
        .sign(&mut parts, buffered.as_mut(), &signet.sign_context())
        .await
    {
        let status = match e {
            AuthError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AuthError::Unsignable(_) => StatusCode::BAD_REQUEST,
            AuthError::BadCredential(_) => StatusCode::BAD_GATEWAY,
            AuthError::TokenEndpoint(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        return Err(respond::error(
            status,
            format!("{label}: {}: {e}", scheme.type_name()),
        ));
    }
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
    Ok((parts, body))
}

/// Where a request goes: the HTTP/1.1 connection bound to the client's, a pooled client
/// (HTTP/2, upgrades, plain HTTP through a parent proxy), or a connection pinned to the
/// client's (NTLM).
enum Route<'a> {
    Bound(&'a ClientConn, usize),
    Pooled(&'a HttpClient),
    Pinned(&'a Signet, &'a ClientConn, pinned::Target<'a>),
}

/// Which HTTP an upstream request needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// HTTP/2 if the origin offers it (the client spoke HTTP/2).
    Any,
    /// HTTP/1.1.
    Http1,
    /// HTTP/1.1, and the connection may be taken over (WebSocket and the like).
    Upgrade,
}

impl<'a> Route<'a> {
    fn choose(
        signet: &'a Signet,
        conn: &'a ClientConn,
        dest: &Destination,
        upstream: usize,
        wire: Wire,
        ntlm: Option<&'a Ntlm>,
        capture: Option<&'a Url>,
    ) -> Route<'a> {
        if let Some(target) = pinned::Target::choose(signet, conn, dest, upstream, ntlm, capture) {
            return Route::Pinned(signet, conn, target);
        }
        // Plain requests through a parent go to the parent in absolute form: pooled.
        if wire == Wire::Http1 && (dest.https || signet.dialer.parent().is_none()) {
            return Route::Bound(conn, upstream);
        }
        Route::Pooled(conn.client(upstream, wire != Wire::Any))
    }
}

/// Sends the request upstream; a failure becomes signet's 502 naming the host and the reason.
async fn send(
    signet: &Signet,
    route: Route<'_>,
    parts: http::request::Parts,
    body: Outgoing,
    dest: &Destination,
    label: RuleLabel<'_>,
) -> Result<Response<Incoming>, Response<ProxyBody>> {
    let result = match route {
        Route::Bound(conn, upstream) => bound::send(conn, upstream, parts, body).await,
        Route::Pooled(client) => match signet
            .dialer
            .parent()
            .filter(|p| p.uses_digest() && parts.uri.scheme_str() == Some("http"))
        {
            Some(parent) => via_digest_parent(client, parent, parts, body).await,
            None => client
                .request(Request::from_parts(parts, body.into_body()))
                .await
                .map_err(|e| describe_client_error(&e)),
        },
        Route::Pinned(signet, conn, target) => {
            pinned::send(signet, conn, target, parts, body).await
        }
    };
    result.map_err(|reason| {
        signet.metrics.upstream_error();
        tracing::info!(rule = %label, %dest, %reason, "upstream request failed");
        respond::error(
            StatusCode::BAD_GATEWAY,
            format!("{dest} ({label}): {reason}"),
        )
    })
}

/// Sends a plain request to a parent proxy that wants Digest: signed up front once the parent
/// has challenged, and sent once more when it answers 407 with a new (or stale) nonce.
async fn via_digest_parent(
    client: &HttpClient,
    parent: &ParentProxy,
    mut parts: http::request::Parts,
    body: Outgoing,
) -> Result<Response<Incoming>, String> {
    let again = match &body {
        Outgoing::Buffered(bytes) => Some((copy_head(&parts), bytes.clone())),
        Outgoing::Streamed(_) => None,
    };
    let sent = sign_for_parent(parent, &mut parts)?;
    let response = client
        .request(Request::from_parts(parts, body.into_body()))
        .await
        .map_err(|e| describe_client_error(&e))?;
    if response.status() != StatusCode::PROXY_AUTHENTICATION_REQUIRED
        || !parent.digest_challenged(sent.as_ref(), response.headers())
    {
        return Ok(response);
    }
    let Some((mut head, bytes)) = again else {
        return Err(
            "the parent proxy asked for Digest credentials, and the request body was larger \
             than the buffer limit so it cannot be sent again (raise [proxy] buffer_limit, or \
             send the request again: it will be signed before the parent asks)"
                .into(),
        );
    };
    drop(response);
    sign_for_parent(parent, &mut head)?;
    client
        .request(Request::from_parts(head, body::full(bytes)))
        .await
        .map_err(|e| describe_client_error(&e))
}

/// Adds the parent's Digest `Proxy-Authorization` for the request as it will be sent (absolute
/// form), returning what was added.
pub(super) fn sign_for_parent(
    parent: &ParentProxy,
    parts: &mut http::request::Parts,
) -> Result<Option<HeaderValue>, String> {
    let value = parent.digest_authorization(parts.method.as_str(), &parts.uri.to_string())?;
    match &value {
        Some(value) => parts.headers.insert(PROXY_AUTHORIZATION, value.clone()),
        None => parts.headers.remove(PROXY_AUTHORIZATION),
    };
    Ok(value)
}

/// A copy of a request head (extensions are not copied: they belong to the client connection).
pub(super) fn copy_head(parts: &http::request::Parts) -> http::request::Parts {
    let mut builder = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone())
        .version(parts.version);
    if let Some(headers) = builder.headers_mut() {
        *headers = parts.headers.clone();
    }
    builder
        .body(())
        .expect("a copied head is valid")
        .into_parts()
        .0
}

/// Streams the upstream's answer back, or joins the two sides of an accepted upgrade.
fn finish(
    mut response: Response<Incoming>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response<ProxyBody> {
    if let Some(client_upgrade) = client_upgrade
        && response.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
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

/// Readies a client's request head for the upstream: hop-by-hop headers removed, the URI made
/// absolute for `dest`, and a Host header naming `dest` (the destination signet matched on, not
/// one the client wrote). `signet sign` uses this too, so it prints what the proxy would send.
pub fn prepare(
    parts: &mut http::request::Parts,
    dest: &Destination,
    upgrade: bool,
) -> Result<(), String> {
    strip_hop_by_hop(&mut parts.headers, upgrade);
    // The URI and the Host header share one copy of the authority; the path is not copied.
    let authority = Bytes::from(dest.authority());
    let host =
        HeaderValue::from_maybe_shared(authority.clone()).map_err(|_| "invalid host".to_owned())?;
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(if dest.https {
        http::uri::Scheme::HTTPS
    } else {
        http::uri::Scheme::HTTP
    });
    uri.authority = Some(
        http::uri::Authority::from_maybe_shared(authority)
            .map_err(|e| format!("bad request target: {e}"))?,
    );
    uri.path_and_query = Some(match parts.uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => pq.clone(),
        _ => http::uri::PathAndQuery::from_static("/"),
    });
    parts.uri = Uri::from_parts(uri).map_err(|e| format!("bad request target: {e}"))?;
    parts.headers.insert(HOST, host);
    parts.version = Version::HTTP_11;
    Ok(())
}

/// The reason an upstream request failed, in words: the connector's own message when it has
/// one, else the innermost error.
fn describe_client_error(err: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    let mut innermost = None;
    while let Some(e) = source {
        if let Some(connect) = e.downcast_ref::<ConnectError>() {
            return connect.to_string();
        }
        innermost = Some(e);
        source = e.source();
    }
    match innermost {
        Some(e) => format!("upstream error: {e}"),
        None => format!("upstream error: {err}"),
    }
}
