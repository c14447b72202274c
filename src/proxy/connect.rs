//! `CONNECT host:port`: intercept the tunnel when a rule names the host, else pass it through
//! byte for byte.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::generation::{ConnCell, Generation};
use super::{Signet, mitm, respond};
use crate::net::body::{self, ProxyBody};
use crate::net::relay::{self, BufferPool};
use crate::net::{Idle, IdleTimeout};
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
    let upstream = match generation.upstream.tunnel(&dest).await {
        Ok(tcp) => tcp,
        Err(e) => return respond::error(StatusCode::BAD_GATEWAY, e),
    };
    // The client connection now carries the tunnel: its idle timeout becomes the tunnel's.
    conn.idle().set(generation.limits.tunnel_idle);
    let idle = conn.idle().clone();
    let on_upgrade = hyper::upgrade::on(req);
    let place = cell.place();
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            blind_tunnel(upgraded, upstream, idle).await;
        }
        drop(place);
    });
    Response::new(body::empty())
}

/// Buffers for the blind tunnels of the whole process, lent only while bytes move; up to 1 MiB
/// of returned ones is kept for the next.
static TUNNEL_BUFFERS: BufferPool = BufferPool::new(16);

/// The blind tunnels' buffer pool, for a look at how many are on loan.
pub fn tunnel_buffers() -> &'static BufferPool {
    &TUNNEL_BUFFERS
}

/// Passes bytes between the client and `upstream` until both have closed or the tunnel idles.
async fn blind_tunnel(upgraded: Upgraded, mut upstream: TcpStream, idle: IdleTimeout) {
    // The client connection as `serve_client` made it: taken out of hyper, a bare socket
    // relayed by readiness, holding no buffer while the tunnel is idle.
    let parts = match upgraded.downcast::<TokioIo<Idle<TcpStream>>>() {
        Ok(parts) => parts,
        Err(upgraded) => {
            tracing::warn!("a tunnel over an unexpected stream type: relayed with fixed buffers");
            let mut client = TokioIo::new(upgraded);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            return;
        }
    };
    let client = parts.io.into_inner().into_inner();
    // Bytes the client sent right behind its CONNECT, already read with the request head.
    if !parts.read_buf.is_empty() {
        let sent = tokio::time::timeout(idle.get(), upstream.write_all(&parts.read_buf)).await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
    }
    drop(parts.read_buf);
    match relay::relay(client, upstream, idle, &TUNNEL_BUFFERS).await {
        Ok(carried) => tracing::debug!(up = carried.a_to_b, down = carried.b_to_a, "tunnel closed"),
        Err(e) => tracing::debug!(error = %e, "tunnel ended"),
    }
}
