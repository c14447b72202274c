//! The proxy: accepts client connections, finds each request's real destination, and hands it
//! to the forwarding pipeline.
//!
//! - [`connect`]: `CONNECT` requests, tunnelled byte for byte or intercepted ([`mitm`]).
//! - [`forward`]: one request, from rule matching through signing to the upstream and back.
//! - [`upstream`]: connections and pooled clients towards origins.

pub mod body;
mod bound;
mod client_conn;
mod connect;
pub mod forward;
mod headers;
mod mitm;
mod parent;
mod pinned;
pub mod respond;
pub mod upstream;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use http::header::PROXY_AUTHORIZATION;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::auth::{Clock, Entropy, OsEntropy, SignContext, SystemClock};
use crate::config::{Config, ConfigError};
use crate::cookies::Cookies;
use crate::metrics::{Metrics, Pulled};
use crate::policy::Policy;
use crate::rules::{Destination, RuleLabel};
use crate::tls::{CertificateAuthority, ClientIdentity, LeafCache, TlsError, UpstreamTls};
use body::ProxyBody;
use bound::IdleConnections;
use client_conn::ClientConn;
use parent::ParentProxy;
use upstream::{Dialer, UpstreamClients};

/// An upstream TLS profile's client configs: HTTP/2 and HTTP/1.1 offered, HTTP/1.1 only.
type UpstreamTlsPair = (Arc<rustls::ClientConfig>, Arc<rustls::ClientConfig>);

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

/// A running proxy's shared state: everything a request needs, built once at start-up.
pub struct Signet {
    policy: Policy,
    leaves: LeafCache,
    /// Per upstream TLS profile: the client configs with and without HTTP/2.
    upstream_tls: Vec<UpstreamTlsPair>,
    /// The idle lists of every serving runtime, for the metrics.
    idle: Mutex<Vec<Arc<IdleConnections>>>,
    dialer: Dialer,
    client_auth: Option<Vec<u8>>,
    buffer_limit: usize,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    cookies: Option<Cookies>,
    metrics: Metrics,
}

impl Signet {
    /// Builds the proxy from a loaded config: rules and auth, the CA (created when absent), and
    /// one upstream client per TLS profile; with the system clock and random source.
    pub fn build(config: &Config) -> Result<Signet, StartError> {
        Self::build_with(config, Arc::new(SystemClock), Arc::new(OsEntropy))
    }

    /// As [`Signet::build`], with the clock and random source that every signer uses, the
    /// parent proxy's included (tests fix them).
    pub fn build_with(
        config: &Config,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Result<Signet, StartError> {
        let dialer = dialer(config, clock.clone(), entropy.clone())?;
        let policy = Policy::with_dialer(config, &dialer)?;
        let (ca, created) = CertificateAuthority::load_or_create(&config.ca.cert, &config.ca.key)?;
        if created {
            tracing::info!(cert = %config.ca.cert.display(), "created a new CA; trust it in your clients");
        }
        let leaves = LeafCache::new(Arc::new(ca));

        let both: &[&[u8]] = &[b"h2", b"http/1.1"];
        let h1: &[&[u8]] = &[b"http/1.1"];
        let mut upstream_tls = vec![(
            UpstreamTls::client_config(None, None, both)?,
            UpstreamTls::client_config(None, None, h1)?,
        )];
        // Same order as `Policy::from_config` numbers the TLS profiles.
        for host in &config.hosts {
            let Some(tls) = &host.tls else { continue };
            let identity = match (&tls.client_cert, &tls.client_key) {
                (Some(cert), Some(key)) => Some(ClientIdentity {
                    cert_chain: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            };
            upstream_tls.push((
                UpstreamTls::client_config(tls.ca.as_deref(), identity.as_ref(), both)?,
                UpstreamTls::client_config(tls.ca.as_deref(), identity.as_ref(), h1)?,
            ));
        }

        let client_auth = config.proxy.client_auth.as_ref().map(|auth| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                auth.username,
                auth.password.expose()
            ));
            format!("Basic {token}").into_bytes()
        });
        let labels = policy.table.rules().iter();
        let metrics = Metrics::new(labels.map(|r| RuleLabel(Some(r)).to_string()).collect());
        Ok(Signet {
            policy,
            leaves,
            upstream_tls,
            idle: Mutex::default(),
            dialer,
            client_auth,
            buffer_limit: config.proxy.buffer_limit,
            clock,
            entropy,
            cookies: Cookies::from_config(config)?,
            metrics,
        })
    }

    /// Upstream HTTP/1.1 connections that no client connection holds, over all runtimes.
    pub fn idle_upstream_connections(&self) -> usize {
        let lists = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        lists.iter().map(|idle| idle.len()).sum()
    }

    /// The rules in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// How many leaf certificates were minted so far.
    pub fn leaves_minted(&self) -> u64 {
        self.leaves.minted()
    }

    /// Whether clients must authenticate (`[proxy] client_auth`).
    pub fn requires_client_auth(&self) -> bool {
        self.client_auth.is_some()
    }

    /// Whether `value` (an `Authorization` or `Proxy-Authorization` value) carries the
    /// `[proxy] client_auth` credentials.
    pub fn client_credentials_match(&self, value: &[u8]) -> bool {
        self.client_auth
            .as_ref()
            .is_some_and(|expected| constant_time_eq(value, expected))
    }

    /// The cookie jar, when some rule uses cookies.
    pub fn cookies(&self) -> Option<&Cookies> {
        self.cookies.as_ref()
    }

    /// The counters in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.metrics.render(Pulled {
            minted: self.leaves.minted(),
            cache_hits: self.leaves.hits(),
            token_fetches: self.policy.token_requests_sent(),
            idle_connections: self.idle_upstream_connections() as u64,
        })
    }

    /// Binds `addr`, refusing a non-loopback address unless clients must authenticate.
    pub async fn bind(&self, addr: SocketAddr) -> Result<TcpListener, StartError> {
        if !addr.ip().is_loopback() && self.client_auth.is_none() {
            return Err(StartError::Listen(format!(
                "refusing to listen on {addr}: a non-loopback address needs [proxy] client_auth, \
                 or signet would be an open proxy"
            )));
        }
        TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Listen(format!("cannot listen on {addr}: {e}")))
    }

    /// Serves clients on `listener` until the task is dropped, with upstream connection pools
    /// of its own: a client connection and the upstream connections it uses then stay on the
    /// runtime that accepted it (`signet run` serves one listening socket from one
    /// single-threaded runtime per CPU).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let upstreams: Arc<[UpstreamClients]> = self
            .upstream_tls
            .iter()
            .map(|(both, h1)| UpstreamClients::new(&self.dialer, both.clone(), h1.clone()))
            .collect();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(upstreams.iter().map(|u| u.idle.clone()));
        tokio::spawn(close_idle_connections(upstreams.clone()));
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    let conn = ClientConn::new(upstreams.clone());
                    tokio::spawn(self.clone().serve_client(tcp, peer, conn));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn serve_client(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr, conn: ClientConn) {
        let _ = tcp.set_nodelay(true);
        let conn = Arc::new(conn);
        let service = service_fn(move |req| {
            let signet = self.clone();
            let conn = conn.clone();
            async move { Ok::<_, Infallible>(signet.handle(&conn, req).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        if let Err(e) = connection.await {
            tracing::debug!(%peer, error = %e, "client connection ended with an error");
        }
    }

    /// One request from a client that uses signet as its proxy.
    async fn handle(
        self: Arc<Self>,
        conn: &ClientConn,
        req: Request<Incoming>,
    ) -> Response<ProxyBody> {
        if !self.client_authorized(&req) {
            return respond::proxy_auth_required();
        }
        if req.method() == Method::CONNECT {
            return connect::handle(self, conn, req).await;
        }
        let dest = match Destination::from_uri(req.uri()) {
            Ok(dest) => dest,
            Err(reason) => {
                return respond::error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "{reason}; signet is a forward proxy: send absolute-form requests (use it as HTTP_PROXY)"
                    ),
                );
            }
        };
        if !self.policy.egress.permits(&dest.host, dest.port) {
            return respond::error(
                StatusCode::FORBIDDEN,
                format!("{dest}: destination not allowed by [proxy] allow/deny"),
            );
        }
        forward::forward(&self, conn, dest, req).await
    }

    fn client_authorized(&self, req: &Request<Incoming>) -> bool {
        let Some(expected) = &self.client_auth else {
            return true;
        };
        req.headers()
            .get_all(PROXY_AUTHORIZATION)
            .iter()
            .any(|v| constant_time_eq(v.as_bytes(), expected))
    }

    fn sign_context(&self) -> SignContext<'_> {
        SignContext {
            now: self.clock.now(),
            fixed_nonce: None,
            entropy: self.entropy.as_ref(),
        }
    }
}

/// Closes this runtime's idle upstream connections once they outlive the idle timeout, even
/// when no client comes to look at them.
async fn close_idle_connections(upstreams: Arc<[UpstreamClients]>) {
    let mut every = tokio::time::interval(upstream::IDLE_TIMEOUT / 3);
    loop {
        every.tick().await;
        for clients in upstreams.iter() {
            clients.idle.prune();
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a password matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How upstream connections are opened: directly, or through `[proxy] upstream_proxy` answered
/// with `upstream_proxy_auth`, whose handshakes use `clock` and `entropy`. Proxied requests and
/// token requests share it.
pub fn dialer(
    config: &Config,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
) -> Result<Dialer, ConfigError> {
    let parent = ParentProxy::from_config(config, clock, entropy)?;
    Ok(Dialer::new(parent.map(Arc::new)))
}

/// A proxy started in the background, for tests and embedding.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The shared state.
    pub signet: Arc<Signet>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Builds, binds and serves in a background task.
    pub async fn start(signet: Signet, addr: SocketAddr) -> Result<Running, StartError> {
        let listener = signet.bind(addr).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Listen(e.to_string()))?;
        let signet = Arc::new(signet);
        let task = tokio::spawn(signet.clone().serve(listener));
        Ok(Running { addr, signet, task })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}
