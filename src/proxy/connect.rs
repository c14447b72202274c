//! `CONNECT host:port`: intercept the tunnel when a rule names the host, else pass it through
//! byte for byte.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::generation::{ConnCell, Generation};
use super::{Signet, mitm, respond};
use crate::net::body::{self, ProxyBody};
use crate::rules::Destination;
use crate::upstream::ClientConn;

/// Answers a CONNECT request, under `generation`.
pub(super) async fn handle(
    signet: Arc<Signet>,
    generation: Arc<Generation>,
    cell: &ConnCell,
    conn: &ClientConn,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let Some((host, port)) = req
        .uri()
        .authority()
        .and_then(|a| Some((a.host(), a.port_u16()?)))
    else {
        return respond::error(StatusCode::BAD_REQUEST, "CONNECT needs a host:port target");
    };
    let dest = match Destination::new(true, host, port) {
        Ok(dest) => dest,
        Err(e) => return respond::error(StatusCode::BAD_REQUEST, e),
    };
    if !generation.policy.egress.permits(&dest.host, dest.port) {
        return respond::error(
            StatusCode::FORBIDDEN,
            format!(
                "{}:{}: destination not allowed by [proxy] allow/deny",
                dest.host, dest.port
            ),
        );
    }

    if generation.policy.intercepts(&dest) {
        let on_upgrade = hyper::upgrade::on(req);
        let cell = cell.for_tunnel(&generation);
        // The tunnel's requests count for a graceful stop as the connection's own did.
        let active = signet.drain().enter();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => mitm::serve(signet, generation, cell, dest, upgraded).await,
                Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
            }
            drop(active);
        });
        return Response::new(body::empty());
    }

    // Connect first, so that an unreachable host is a 502 with the reason, not a dead tunnel.
    let mut upstream = match generation.upstream.tunnel(&dest).await {
        Ok(tcp) => tcp,
        Err(e) => return respond::error(StatusCode::BAD_GATEWAY, e),
    };
    // The client connection now carries the tunnel: its idle timeout becomes the tunnel's.
    conn.idle().set(generation.limits.tunnel_idle);
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut upstream).await;
    });
    Response::new(body::empty())
}
