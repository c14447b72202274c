//! Gateway listeners: every request a gateway receives goes to its one upstream, as if the
//! client had asked signet, as its proxy, for the upstream URL: the same pipeline, the rule of
//! the upstream's destination. The client's Host header decides nothing.
//!
//! Clients speak HTTP/1.1 or h2c (prior knowledge); who may connect is settled at accept, from
//! the peer address alone, before a byte is read.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};

use super::access::{Entry, Logged, refuse, refuse_egress};
use super::admission::Admitted;
use super::generation::{ConnCell, RuntimeUpstreams};
use super::respond::ProxyError;
use super::{CLIENT, Signet, StartError, pipeline};
use crate::config::GatewayConfig;
use crate::metrics::Gauge;
use crate::net::body::ProxyBody;
use crate::net::{Idle, IdleTimeout};

impl Signet {
    /// Binds `gateway`'s address, refusing one beyond loopback that lists no `clients`.
    pub async fn bind_gateway(&self, gateway: &GatewayConfig) -> Result<TcpListener, StartError> {
        let addr = gateway.listen;
        if !addr.ip().is_loopback() && gateway.clients.is_empty() {
            return Err(StartError::Listen(format!(
                "refusing to listen on {addr}: a non-loopback gateway needs `clients`, or it \
                 would send anyone's requests with the upstream's credentials"
            )));
        }
        TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Listen(format!("gateway: cannot listen on {addr}: {e}")))
    }

    /// Serves `gateway` on `listener` until the proxy stops and the connections it accepted
    /// are done; under the same connection caps and graceful stop as the proxy port.
    pub async fn serve_gateway(
        self: Arc<Self>,
        gateway: Arc<GatewayConfig>,
        listener: TcpListener,
    ) {
        let runtime = Arc::new(RuntimeUpstreams::new(self.idle.clone()));
        let per_ip = !gateway.listen.ip().is_loopback();
        loop {
            let accepted = tokio::select! {
                biased;
                () = self.drain.stopped() => break,
                accepted = self.accept(&listener) => accepted,
            };
            let Some((place, accepted)) = accepted else {
                break;
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(gateway = %gateway.listen, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            if !gateway.admits(peer.ip()) {
                tracing::warn!(gateway = %gateway.listen, %peer, "refused a connection: the address is not in the gateway's clients");
                drop(tcp);
                continue;
            }
            let Some(admitted) = self.admission.admit(place, peer.ip(), per_ip) else {
                tracing::warn!(gateway = %gateway.listen, %peer, "refused a connection: the address holds max_connections_per_ip");
                continue;
            };
            let active = (
                self.drain.enter(),
                self.metrics.open(Gauge::ClientConnections),
            );
            let served = self.clone().serve_gateway_client(
                gateway.clone(),
                (tcp, peer),
                runtime.clone(),
                admitted,
            );
            tokio::spawn(CLIENT.scope(peer, async move {
                served.await;
                drop(active);
            }));
        }
        drop(listener);
        self.drain.drained().await;
    }

    async fn serve_gateway_client(
        self: Arc<Self>,
        gateway: Arc<GatewayConfig>,
        (tcp, peer): (TcpStream, SocketAddr),
        runtime: Arc<RuntimeUpstreams>,
        admitted: Admitted,
    ) {
        let _ = tcp.set_nodelay(true);
        let generation = self.current();
        let header_read = generation.limits.header_read;
        let idle = IdleTimeout::new(generation.limits.client_idle);
        let cell = Arc::new(ConnCell::new(
            runtime,
            &generation,
            idle.clone(),
            Arc::new(admitted),
            Some(peer),
        ));
        drop(generation);
        let signet = self.clone();
        let service = service_fn(move |req| {
            let (signet, gateway, cell) = (signet.clone(), gateway.clone(), cell.clone());
            async move { Ok::<_, Infallible>(signet.handle_gateway(&gateway, &cell, req).await) }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read);
        builder.http2().timer(TokioTimer::new());
        let io = TokioIo::new(Idle::new(tcp, idle));
        let connection = builder.serve_connection_with_upgrades(io, service);
        let mut connection = std::pin::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = self.drain.stopped() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "gateway client connection ended with an error");
        }
    }

    /// One request to `gateway`: made the absolute-form request for its upstream, then
    /// handled as a proxied one.
    async fn handle_gateway(
        self: Arc<Self>,
        gateway: &GatewayConfig,
        cell: &ConnCell,
        req: Request<Incoming>,
    ) -> Response<Logged> {
        let mut entry = Entry::begin(cell.client(), &req);
        entry.destination(&gateway.upstream.dest);
        let response = self.gateway_request(gateway, cell, req, &mut entry).await;
        entry.respond(self.access.clone(), response)
    }

    async fn gateway_request(
        &self,
        gateway: &GatewayConfig,
        cell: &ConnCell,
        mut req: Request<Incoming>,
        entry: &mut Entry,
    ) -> Response<ProxyBody> {
        let generation = self.current();
        let conn = cell.conn(&generation);
        let upstream = &gateway.upstream;
        if req.method() == Method::CONNECT {
            return refuse(
                entry,
                StatusCode::METHOD_NOT_ALLOWED,
                ProxyError::HttpRequestError,
                format!(
                    "this port is a gateway to {upstream}: send requests, not CONNECT (the \
                     proxy port tunnels)"
                ),
            );
        }
        let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        if !path.starts_with('/') {
            return refuse(
                entry,
                StatusCode::BAD_REQUEST,
                ProxyError::HttpRequestError,
                format!("this port is a gateway to {upstream}: send origin-form requests (/path)"),
            );
        }
        let target = upstream.url(path);
        match target.parse() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(e) => {
                return refuse(
                    entry,
                    StatusCode::BAD_REQUEST,
                    ProxyError::HttpRequestError,
                    format!("bad request target: {e}"),
                );
            }
        }
        let dest = upstream.dest.clone();
        if let Err(why) = generation.policy.egress.check(&dest.host, dest.port) {
            return refuse_egress(entry, &generation.metrics, &dest, why);
        }
        pipeline::forward(&generation, &conn, cell.place(), dest, req, entry).await
    }
}
