//! One request through signet: match the rule, prepare the request for the upstream, sign it,
//! send it, and stream the answer back.

use std::error::Error as _;

use http::header::{CONTENT_LENGTH, HOST, PROXY_AUTHORIZATION};
use http::{HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::Signet;
use super::body::{self, Buffered, ProxyBody};
use super::headers::{is_upgrade, strip_hop_by_hop};
use super::respond;
use super::upstream::ConnectError;
use crate::auth::{AuthError, BodyNeed};
use crate::rules::Destination;

/// Forwards `req` to `dest`, adding the credentials of the rule that names `dest`.
pub(super) async fn forward(
    signet: &Signet,
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
    let label = decision
        .as_ref()
        .map(|d| d.rule.label())
        .unwrap_or_else(|| "no rule".to_owned());
    let scheme = decision.as_ref().and_then(|d| d.auth).cloned();
    let upstream = decision.as_ref().map_or(0, |d| d.rule.upstream);

    if let Err(e) = prepare(&mut parts, &dest, upgrade) {
        return respond::error(StatusCode::BAD_REQUEST, format!("{dest}: {e}"));
    }
    if !dest.https
        && let Some(auth) = signet.dialer.parent().and_then(|p| p.authorization())
    {
        parts.headers.insert(PROXY_AUTHORIZATION, auth.clone());
    }

    let body = match &scheme {
        None => body::stream(incoming),
        Some(scheme) => {
            let need = scheme.body_need(&parts);
            let (mut buffered, streamed) = match need {
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
            if let Err(e) = scheme
                .sign(&mut parts, buffered.as_mut(), &signet.sign_context())
                .await
            {
                let status = match e {
                    AuthError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                    AuthError::Unsignable(_) => StatusCode::BAD_REQUEST,
                    AuthError::BadCredential(_) => StatusCode::BAD_GATEWAY,
                };
                return respond::error(status, format!("{label}: {}: {e}", scheme.type_name()));
            }
            match (buffered, streamed) {
                (Some(bytes), _) => {
                    if !bytes.is_empty() || parts.headers.contains_key(CONTENT_LENGTH) {
                        parts
                            .headers
                            .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                    }
                    body::full(bytes)
                }
                (None, Some(streamed)) => streamed,
                (None, None) => body::empty(),
            }
        }
    };

    tracing::debug!(rule = %label, auth = scheme.as_ref().map(|s| s.type_name()), method = %parts.method, %dest, "forwarding");
    let clients = &signet.upstreams[upstream];
    let client = if upgrade || scheme.as_ref().is_some_and(|s| s.needs_http1()) {
        &clients.http1
    } else {
        &clients.any
    };
    let mut response = match client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(e) => {
            let reason = describe_client_error(&e);
            tracing::info!(rule = %label, %dest, %reason, "upstream request failed");
            return respond::error(
                StatusCode::BAD_GATEWAY,
                format!("{dest} ({label}): {reason}"),
            );
        }
    };

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
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = dest
        .uri(&path_and_query)
        .map_err(|e| format!("bad request target: {e}"))?;
    let host = HeaderValue::try_from(dest.authority()).map_err(|_| "invalid host".to_owned())?;
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
