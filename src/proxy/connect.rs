//! `CONNECT host:port`: intercept the tunnel when a rule names the host, else pass it through
//! byte for byte.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::access::{Action, Entry, refuse, refuse_egress};
use super::generation::{ConnCell, Generation};
use super::respond::ProxyError;
use super::{Signet, mitm};
use crate::metrics::Gauge;
use crate::net::body::{self, ProxyBody};
use crate::net::relay::{self, BufferPool, Carried};
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
    entry: &mut Entry,
) -> Response<ProxyBody> {
    let Some((host, port)) = req
        .uri()
        .authority()
        .and_then(|a| Some((a.host(), a.port_u16()?)))
    else {
        return refuse(
            entry,
            StatusCode::BAD_REQUEST,
            ProxyError::HttpRequestError,
            "CONNECT needs a host:port target",
        );
    };
    let dest = match Destination::new(true, host, port) {
        Ok(dest) => dest,
        Err(e) => {
            return refuse(
                entry,
                StatusCode::BAD_REQUEST,
                ProxyError::HttpRequestError,
                e.to_string(),
            );
        }
    };
    entry.destination(&dest);
    if let Err(why) = generation.policy.egress.check(&dest.host, dest.port) {
        let target = format_args!("{}:{}", dest.host, dest.port);
        return refuse_egress(entry, &generation.metrics, target, why);
    }

    if generation.policy.intercepts(&dest) {
        let rule = generation.policy.table.find(&dest).map(|r| r.name.clone());
        entry.rule_name(rule.as_ref());
        let mut tunnel = entry.tunnel(Action::Intercepted);
        let on_upgrade = hyper::upgrade::on(req);
        let cell = cell.for_tunnel(&generation);
        // The tunnel's requests count for a graceful stop as the connection's own did.
        let active = signet.drain().enter();
        let open = signet.metrics.open(Gauge::Tunnels);
        tokio::spawn(async move {
            let access = signet.access_log().clone();
            match on_upgrade.await {
                Ok(upgraded) => {
                    if let Err(reason) = mitm::serve(signet, generation, cell, dest, upgraded).await
                    {
                        tunnel.reason(reason);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
            }
            drop((active, open));
            access.finish(tunnel.finished(200, Some(0), 0));
        });
        return Response::new(body::empty());
    }

    // Connect first, so that an unreachable host is a 502 with the reason, not a dead tunnel.
    let upstream = match generation.upstream.tunnel(&dest).await {
        Ok(tcp) => tcp,
        Err(e) => {
            let kind = ProxyError::of_connect(&e);
            return refuse(entry, StatusCode::BAD_GATEWAY, kind, e.to_string());
        }
    };
    // The client connection now carries the tunnel: its idle timeout becomes the tunnel's.
    conn.idle().set(generation.limits.tunnel_idle);
    let idle = conn.idle().clone();
    let on_upgrade = hyper::upgrade::on(req);
    let place = cell.place();
    let tunnel = entry.tunnel(Action::Tunnelled);
    let access = signet.access_log().clone();
    let open = signet.metrics.open(Gauge::Tunnels);
    tokio::spawn(async move {
        let carried = match on_upgrade.await {
            Ok(upgraded) => blind_tunnel(upgraded, upstream, idle).await,
            Err(_) => Carried::default(),
        };
        drop((place, open));
        access.finish(tunnel.finished(200, Some(carried.a_to_b), carried.b_to_a));
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

/// Passes bytes between the client and `upstream` until both have closed or the tunnel idles;
/// what went each way.
async fn blind_tunnel(upgraded: Upgraded, mut upstream: TcpStream, idle: IdleTimeout) -> Carried {
    // The client connection as `serve_client` made it: taken out of hyper, a bare socket
    // relayed by readiness, holding no buffer while the tunnel is idle.
    let parts = match upgraded.downcast::<TokioIo<Idle<TcpStream>>>() {
        Ok(parts) => parts,
        Err(upgraded) => {
            tracing::warn!("a tunnel over an unexpected stream type: relayed with fixed buffers");
            let mut client = TokioIo::new(upgraded);
            let (up, down) = tokio::io::copy_bidirectional(&mut client, &mut upstream)
                .await
                .unwrap_or_default();
            return Carried {
                a_to_b: up,
                b_to_a: down,
            };
        }
    };
    let client = parts.io.into_inner().into_inner();
    // Bytes the client sent right behind its CONNECT, already read with the request head.
    let early = parts.read_buf.len() as u64;
    if !parts.read_buf.is_empty() {
        let sent = tokio::time::timeout(idle.get(), upstream.write_all(&parts.read_buf)).await;
        if !matches!(sent, Ok(Ok(()))) {
            return Carried {
                a_to_b: 0,
                b_to_a: 0,
            };
        }
    }
    drop(parts.read_buf);
    let (carried, ended) = relay::relay_counting(client, upstream, idle, &TUNNEL_BUFFERS).await;
    match ended {
        Ok(()) => tracing::debug!(up = carried.a_to_b, down = carried.b_to_a, "tunnel closed"),
        Err(e) => {
            tracing::debug!(error = %e, up = carried.a_to_b, down = carried.b_to_a, "tunnel ended")
        }
    }
    Carried {
        a_to_b: carried.a_to_b + early,
        b_to_a: carried.b_to_a,
    }
}
