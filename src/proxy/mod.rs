//! The proxy: accepts client connections, checks the client's proxy credentials, finds each
//! request's real destination, and hands it to the pipeline. Built by [`crate::app`].
//!
//! - `connect.rs`: `CONNECT` requests, tunnelled byte for byte or intercepted (`mitm.rs`).
//! - [`pipeline`]: one request as named phases, from the rule to the answer.
//! - [`respond`]: the answers signet writes itself.
//! - `gateway.rs`: `[[gateway]]` listeners, whose requests all go to one upstream.

pub mod access;
mod admission;
mod connect;
mod drain;
mod gateway;
mod generation;
mod mitm;
pub mod pipeline;
pub mod respond;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;

use http::header::PROXY_AUTHORIZATION;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::rt::TokioTimer;
use tokio::net::{TcpListener, TcpStream};

use crate::config::ConfigError;
use crate::context::{Clock, Entropy};
use crate::cookies::Cookies;
use crate::metrics::{Gauge, Metrics, Pulled, Scrape};
use crate::net::body::ProxyBody;
use crate::net::{Idle, IdleTimeout, Limits};
use crate::policy::Policy;
use crate::rules::Destination;
use crate::tls::{LeafCache, TlsError};
use crate::upstream::pool::IdleConnections;
use crate::upstream::{IDLE_TIMEOUT, Upstream};
use access::{AccessLog, Entry, Logged};
use admission::{Admission, Admitted};
pub use connect::tunnel_buffers;
pub use drain::Drain;
pub use generation::Generation;
use generation::{ConnCell, RuntimeUpstreams};
use respond::ProxyError;

tokio::task_local! {
    /// The client of the connection a task serves, for the panic log.
    pub static CLIENT: SocketAddr;
}

/// An upstream TLS profile's client configs: HTTP/2 and HTTP/1.1 offered, HTTP/1.1 only.
pub type UpstreamTlsPair = (Arc<rustls::ClientConfig>, Arc<rustls::ClientConfig>);

/// Why signet could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The CA or an upstream TLS setting is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listen address cannot be used.
    #[error("{0}")]
    Listen(String),
    /// The cookie jar file cannot be read.
    #[error("cookie jar: {0}")]
    Cookies(#[from] crate::cookies::CookieError),
}

/// What a proxy is made of; [`crate::app`] builds it from a config.
pub struct Parts {
    /// The rules in force.
    pub policy: Policy,
    /// Leaf certificates for intercepted hosts (a reload keeps the cache while the CA stays).
    pub leaves: Arc<LeafCache>,
    /// Per upstream TLS profile, in [`crate::tls::TlsProfileId`] order.
    pub upstream_tls: Vec<UpstreamTlsPair>,
    /// The way out.
    pub upstream: Upstream,
    /// `Basic …` that clients must present, when `[proxy] client_auth` is set.
    pub client_auth: Option<Vec<u8>>,
    /// `[proxy] buffer_limit`.
    pub buffer_limit: usize,
    /// The clock of every signer.
    pub clock: Arc<dyn Clock>,
    /// The randomness of every signer.
    pub entropy: Arc<dyn Entropy>,
    /// The jar, when some rule uses cookies.
    pub cookies: Option<Cookies>,
    /// `[proxy]`'s timeouts and caps (the connection caps of the first config stay in force).
    pub limits: Limits,
}

/// A running proxy's shared state: the generation in force (everything a config makes of
/// it, swapped whole on reload) and what outlives configs: the connection caps, the drain, the
/// counters.
pub struct Signet {
    current: ArcSwap<Generation>,
    next_id: AtomicU64,
    /// The idle lists of every serving runtime, for the metrics.
    idle: Arc<Mutex<Vec<Weak<IdleConnections>>>>,
    metrics: Arc<Metrics>,
    /// Client connections held at once, over all serving runtimes.
    admission: Arc<Admission>,
    drain: Arc<Drain>,
    access: Arc<AccessLog>,
    /// Hosts whose clients were told, once, that they reject signet's certificate.
    leaf_warned: Mutex<std::collections::HashSet<String>>,
}

impl Signet {
    /// A proxy of `parts`.
    pub fn new(parts: Parts) -> Signet {
        let metrics = Arc::new(Metrics::default());
        let admission = Admission::new(
            parts.limits.max_connections,
            parts.limits.max_connections_per_ip,
        );
        Signet {
            current: ArcSwap::from_pointee(Generation::new(0, parts, metrics.clone())),
            next_id: AtomicU64::new(1),
            idle: Arc::default(),
            metrics,
            admission,
            drain: Drain::new(),
            access: Arc::default(),
            leaf_warned: Mutex::default(),
        }
    }

    /// Whether this is the first time a client rejected the leaf for `host` (so that the
    /// warning is logged once per host, for at most a few thousand hosts).
    fn first_leaf_rejection(&self, host: &str) -> bool {
        let mut warned = self.leaf_warned.lock().unwrap_or_else(|e| e.into_inner());
        warned.len() < 4096 && warned.insert(host.to_owned())
    }

    /// Where every finished request, tunnel and refusal goes (see [`AccessLog::listen`]).
    pub fn access_log(&self) -> &Arc<AccessLog> {
        &self.access
    }

    /// The generation in force.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Puts `parts` in force: requests that start from now on use them, those in flight finish
    /// under the generation they started with.
    pub fn swap(&self, parts: Parts) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let next = Arc::new(Generation::new(id, parts, self.metrics.clone()));
        let previous = self.current.swap(next.clone());
        let (pulled, tokens) = previous.replaced_by(&next);
        self.metrics.retire_pulled(pulled, &tokens);
    }

    /// The counters (reloads are counted here too).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The graceful stop of this proxy.
    pub fn drain(&self) -> &Arc<Drain> {
        &self.drain
    }

    /// Upstream HTTP/1.1 connections that no client connection holds, over all runtimes.
    pub fn idle_upstream_connections(&self) -> usize {
        let lists = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        lists
            .iter()
            .filter_map(Weak::upgrade)
            .map(|idle| idle.len())
            .sum()
    }

    /// How many leaf certificates were minted so far (by the leaf cache in force).
    pub fn leaves_minted(&self) -> u64 {
        self.current().leaves.minted()
    }

    /// Whether clients must authenticate (`[proxy] client_auth`).
    pub fn requires_client_auth(&self) -> bool {
        self.current().client_auth.is_some()
    }

    /// Whether `value` (an `Authorization` or `Proxy-Authorization` value) carries the
    /// `[proxy] client_auth` credentials.
    pub fn client_credentials_match(&self, value: &[u8]) -> bool {
        self.current()
            .client_auth
            .as_ref()
            .is_some_and(|expected| constant_time_eq(value, expected))
    }

    /// The cookie jar, when some rule uses cookies.
    pub fn cookies(&self) -> Option<Arc<Cookies>> {
        self.current().cookies.clone()
    }

    /// The counters in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let current = self.current();
        let pulled = Pulled {
            idle_connections: self.idle_upstream_connections() as u64,
            ..current.pulled()
        };
        let tokens = current.tokens();
        self.metrics.render(&Scrape {
            requests: &current.requests,
            pulled,
            tokens: &tokens,
            schemes: crate::auth::SCHEME_NAMES,
        })
    }

    /// Binds `addr`, refusing a non-loopback address unless clients must authenticate.
    pub async fn bind(&self, addr: SocketAddr) -> Result<TcpListener, StartError> {
        if !addr.ip().is_loopback() && !self.requires_client_auth() {
            return Err(StartError::Listen(format!(
                "refusing to listen on {addr}: a non-loopback address needs [proxy] client_auth, \
                 or signet would be an open proxy"
            )));
        }
        TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Listen(format!("cannot listen on {addr}: {e}")))
    }

    /// Serves clients on `listener` until the task is dropped, or until the proxy stops and
    /// the connections it accepted are done; with upstream connection pools of its own: a
    /// client connection and the upstream connections it uses then stay on the runtime that
    /// accepted it (`signet run` serves one listening socket from one single-threaded runtime
    /// per CPU).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let runtime = Arc::new(RuntimeUpstreams::new(self.idle.clone()));
        tokio::spawn(close_idle_connections(runtime.clone()));
        // Beyond loopback, one address must not take every place.
        let per_ip = listener
            .local_addr()
            .is_ok_and(|addr| !addr.ip().is_loopback());
        let mut last_warning: Option<tokio::time::Instant> = None;
        loop {
            let accepted = tokio::select! {
                biased;
                () = self.drain.stopped() => break,
                accepted = self.accept(&listener) => accepted,
            };
            let Some((place, accepted)) = accepted else {
                break;
            };
            match accepted {
                Ok((tcp, peer)) => match self.admission.admit(place, peer.ip(), per_ip) {
                    Some(admitted) => {
                        let active = (
                            self.drain.enter(),
                            self.metrics.open(Gauge::ClientConnections),
                        );
                        let served =
                            self.clone()
                                .serve_client((tcp, peer), runtime.clone(), admitted);
                        tokio::spawn(CLIENT.scope(peer, async move {
                            served.await;
                            drop(active);
                        }));
                    }
                    None => refuse_busy_address(tcp, peer, self.admission.per_ip()),
                },
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning, and
                    // say so once a second rather than at every attempt.
                    if last_warning.is_none_or(|at| at.elapsed().as_secs() >= 1) {
                        tracing::warn!(error = %e, "accept failed");
                        last_warning = Some(tokio::time::Instant::now());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        // This runtime's connections end with it: it stays up until they are done.
        drop(listener);
        self.drain.drained().await;
    }

    /// A place for one more connection, and the connection.
    async fn accept(
        &self,
        listener: &TcpListener,
    ) -> Option<(
        tokio::sync::OwnedSemaphorePermit,
        std::io::Result<(TcpStream, SocketAddr)>,
    )> {
        let place = self.admission.place().await?;
        Some((place, listener.accept().await))
    }

    async fn serve_client(
        self: Arc<Self>,
        (tcp, peer): (TcpStream, SocketAddr),
        runtime: Arc<RuntimeUpstreams>,
        admitted: Admitted,
    ) {
        let _ = tcp.set_nodelay(true);
        let generation = self.current();
        let header_read = generation.limits.header_read;
        if opens_with_h2_preface(&tcp, header_read).await {
            tracing::debug!("an HTTP/2 client (prior knowledge) on the HTTP/1.1 proxy port");
            refuse_h2_prior_knowledge(tcp).await;
            return;
        }
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
            let signet = signet.clone();
            let cell = cell.clone();
            async move { Ok::<_, Infallible>(signet.handle(&cell, req).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read)
            .serve_connection(TokioIo::new(Idle::new(tcp, idle)), service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = self.drain.stopped() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "client connection ended with an error");
        }
    }

    /// One request from a client that uses signet as its proxy, under the generation in force.
    async fn handle(self: Arc<Self>, cell: &ConnCell, req: Request<Incoming>) -> Response<Logged> {
        let mut entry = Entry::begin(cell.client(), &req);
        let access = self.access.clone();
        let response = self.route(cell, req, &mut entry).await;
        match entry.deferred() {
            // A tunnel's record is written when it closes.
            true => response.map(Logged::unrecorded),
            false => entry.respond(access, response),
        }
    }

    async fn route(
        self: Arc<Self>,
        cell: &ConnCell,
        req: Request<Incoming>,
        entry: &mut Entry,
    ) -> Response<ProxyBody> {
        let generation = self.current();
        let conn = cell.conn(&generation);
        if !client_authorized(&generation, &req) {
            entry.refused(respond::PROXY_AUTH_MESSAGE);
            generation.metrics.proxy_auth_required();
            return respond::proxy_auth_required();
        }
        if req.method() == Method::CONNECT {
            return connect::handle(self, generation, cell, &conn, req, entry).await;
        }
        let dest = match Destination::from_uri(req.uri()) {
            Ok(dest) => dest,
            Err(reason) => {
                return access::refuse(
                    entry,
                    StatusCode::BAD_REQUEST,
                    ProxyError::HttpRequestError,
                    format!(
                        "{reason}; signet is a forward proxy: send absolute-form requests (use it as HTTP_PROXY)"
                    ),
                );
            }
        };
        if let Err(why) = generation.policy.egress.check(&dest.host, dest.port) {
            return access::refuse_egress(entry, &generation.metrics, &dest, why);
        }
        pipeline::forward(&generation, &conn, cell.place(), dest, req, entry).await
    }
}

/// Whether the request carries the `[proxy] client_auth` credentials, when they are required.
fn client_authorized(generation: &Generation, req: &Request<Incoming>) -> bool {
    let Some(expected) = &generation.client_auth else {
        return true;
    };
    req.headers()
        .get_all(PROXY_AUTHORIZATION)
        .iter()
        .any(|v| constant_time_eq(v.as_bytes(), expected))
}

/// Closes this runtime's idle upstream connections once they outlive the idle timeout, even
/// when no client comes to look at them.
async fn close_idle_connections(runtime: Arc<RuntimeUpstreams>) {
    let mut every = tokio::time::interval(IDLE_TIMEOUT / 3);
    loop {
        every.tick().await;
        for clients in runtime.current().iter().flat_map(|c| c.iter()) {
            clients.idle.prune();
        }
    }
}

/// Whether the client opened with HTTP/2's connection preface (`PRI * HTTP/2.0`, h2c with
/// prior knowledge). Looks without reading, so that hyper still gets every byte.
async fn opens_with_h2_preface(tcp: &TcpStream, within: std::time::Duration) -> bool {
    let mut first = [0u8; 4];
    match tokio::time::timeout(within, tcp.peek(&mut first)).await {
        Ok(Ok(n)) if n >= 3 => first[..n] == b"PRI "[..n],
        _ => false,
    }
}

/// Answers an HTTP/2 preface with a 400 that says what to do instead, as an HTTP/1.1 server
/// does, and closes.
async fn refuse_h2_prior_knowledge(mut tcp: TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = "signet: this port is an HTTP/1.1 proxy; HTTP/2 with prior knowledge (h2c) is not \
                served here. Talk HTTP/1.1 to the proxy: HTTPS through a CONNECT tunnel can \
                still use HTTP/2.\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         proxy-status: signet; error=http_protocol_error\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(answer.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// Tells a client over its address's cap why it is turned away, best effort, and closes.
fn refuse_busy_address(tcp: TcpStream, peer: SocketAddr, cap: usize) {
    tracing::warn!(%peer, cap, "refused a connection: the address holds max_connections_per_ip");
    let body = format!(
        "signet: {} already holds {cap} connections ([proxy] max_connections_per_ip)\n",
        peer.ip()
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         proxy-status: signet; error=connection_limit_reached\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.try_write(answer.as_bytes());
}

/// Compares without an early exit, so timing does not reveal how much of a password matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A proxy started in the background, for tests and embedding.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The addresses of its gateways, in the order they were given.
    pub gateways: Vec<SocketAddr>,
    /// The shared state.
    pub signet: Arc<Signet>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Builds, binds and serves in a background task.
    pub async fn start(signet: Signet, addr: SocketAddr) -> Result<Running, StartError> {
        Self::start_with_gateways(signet, addr, &[]).await
    }

    /// As [`Running::start`], with `gateways` listening too.
    pub async fn start_with_gateways(
        signet: Signet,
        addr: SocketAddr,
        gateways: &[crate::config::GatewayConfig],
    ) -> Result<Running, StartError> {
        let listener = signet.bind(addr).await?;
        let local = |l: &TcpListener| {
            l.local_addr()
                .map_err(|e| StartError::Listen(e.to_string()))
        };
        let addr = local(&listener)?;
        let mut bound = Vec::with_capacity(gateways.len());
        for gateway in gateways {
            bound.push(signet.bind_gateway(gateway).await?);
        }
        let signet = Arc::new(signet);
        let mut tasks = vec![tokio::spawn(signet.clone().serve(listener))];
        let mut addrs = Vec::with_capacity(bound.len());
        for (gateway, listener) in gateways.iter().zip(bound) {
            addrs.push(local(&listener)?);
            let gateway = Arc::new(gateway.clone());
            tasks.push(tokio::spawn(
                signet.clone().serve_gateway(gateway, listener),
            ));
        }
        Ok(Running {
            addr,
            gateways: addrs,
            signet,
            tasks,
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
