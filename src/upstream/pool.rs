//! The connections a serving runtime keeps per upstream TLS profile: hyper's pooled clients
//! (HTTP/2, upgrades, plain HTTP through a parent proxy), and the idle list of HTTP/1.1
//! connections waiting for a client connection to bind them.
//!
//! An HTTP/1.1 client sends one request at a time on a connection, so one upstream connection
//! per client connection always suffices: the client's next request to the same destination
//! goes out on the same upstream connection, with no pool lookup. When the client connection
//! closes (or moves on to another destination), its upstream connection waits in the runtime's
//! [`IdleConnections`] for the next client connection, for up to the idle timeout.
//!
//! Why not the general pool: its checkout and return (a lock, a SipHash lookup, and a task per
//! request to watch the connection become idle again) were an eighth of the instructions of a
//! plain forwarded request (callgrind). HTTP/2 and upgrades still use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Uri;
use http::uri::{Authority, Scheme};
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::net::body::ProxyBody;
use crate::net::{Connector, Dialer};

/// How long an unused upstream connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Idle connections kept per destination; more are closed.
const MAX_IDLE_PER_DESTINATION: usize = 64;

/// Where a bound connection leads (within one upstream TLS profile).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoundKey {
    pub(super) authority: Authority,
    https: bool,
}

impl BoundKey {
    /// The key for a request's absolute URI (as `prepare` made it); `None` without a host.
    pub(super) fn of(uri: &Uri) -> Option<Self> {
        Some(BoundKey {
            authority: uri.authority()?.clone(),
            https: uri.scheme() == Some(&Scheme::HTTPS),
        })
    }
}

/// Per destination: the connections and when each went idle.
type IdleLists = HashMap<BoundKey, Vec<(SendRequest<ProxyBody>, Instant)>>;

/// Upstream HTTP/1.1 connections no client connection holds, per destination, most recently
/// used last. One list per runtime and TLS profile.
pub struct IdleConnections {
    lists: Mutex<IdleLists>,
    timeout: Duration,
}

impl IdleConnections {
    /// An empty list whose connections close after `timeout` unused.
    pub fn new(timeout: Duration) -> Self {
        IdleConnections {
            lists: Mutex::default(),
            timeout,
        }
    }

    /// The most recently used open connection to `key`, if one is still fresh.
    pub fn take(&self, key: &BoundKey) -> Option<SendRequest<ProxyBody>> {
        let now = Instant::now();
        let mut lists = self.lock();
        let list = lists.get_mut(key)?;
        while let Some((sender, since)) = list.pop() {
            if !sender.is_closed() && now.duration_since(since) < self.timeout {
                return Some(sender);
            }
        }
        None
    }

    /// Keeps an open connection for the next client; stale ones to the same place go first.
    pub fn put(&self, key: BoundKey, sender: SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut lists = self.lock();
        let list = lists.entry(key).or_default();
        list.retain(|(s, since)| !s.is_closed() && now.duration_since(*since) < self.timeout);
        if list.len() < MAX_IDLE_PER_DESTINATION {
            list.push((sender, now));
        }
    }

    /// Closes connections unused for longer than the timeout, or closed by the upstream.
    pub fn prune(&self) {
        let now = Instant::now();
        self.lock().retain(|_, list| {
            list.retain(|(s, since)| !s.is_closed() && now.duration_since(*since) < self.timeout);
            !list.is_empty()
        });
    }

    /// How many connections wait.
    pub fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdleLists> {
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pooled client for one upstream TLS profile.
pub type HttpClient = Client<Connector, ProxyBody>;

/// The clients for one upstream TLS profile: one that may speak HTTP/2 (offered via ALPN) and
/// one that only speaks HTTP/1.1, for upgrades such as WebSocket.
#[derive(Clone)]
pub struct UpstreamClients {
    /// HTTP/2 when the origin offers it, else HTTP/1.1.
    pub any: HttpClient,
    /// HTTP/1.1 only.
    pub http1: HttpClient,
    /// Opens the HTTP/1.1-only connections that are bound or pinned to a client connection.
    pub http1_connector: Connector,
    /// HTTP/1.1 connections waiting for a client connection to bind them.
    pub idle: Arc<IdleConnections>,
}

impl UpstreamClients {
    /// Builds both clients from the rule's trust settings.
    pub fn new(
        dialer: &Dialer,
        h2_and_h1: Arc<rustls::ClientConfig>,
        h1_only: Arc<rustls::ClientConfig>,
    ) -> Self {
        let build = |tls| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(IDLE_TIMEOUT)
                .build(Connector::new(dialer.clone(), tls))
        };
        UpstreamClients {
            any: build(h2_and_h1),
            http1: build(h1_only.clone()),
            http1_connector: Connector::new(dialer.clone(), h1_only),
            idle: Arc::new(IdleConnections::new(IDLE_TIMEOUT)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(authority: &str) -> BoundKey {
        BoundKey {
            authority: authority.parse().unwrap(),
            https: false,
        }
    }

    /// A connection to a listener on 127.0.0.1 that accepts and holds the socket open, or
    /// closes it at once.
    async fn sender(close: bool) -> SendRequest<ProxyBody> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            if close {
                drop(socket);
            } else {
                tokio::time::sleep(Duration::from_secs(30)).await;
                drop(socket);
            }
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        sender
    }

    #[tokio::test]
    async fn idle_connections_are_per_destination_and_expire() {
        let idle = IdleConnections::new(Duration::from_millis(200));
        idle.put(key("a:80"), sender(false).await);
        assert!(idle.take(&key("b:80")).is_none());
        assert!(idle.take(&key("a:80")).is_some());
        assert!(idle.is_empty());

        idle.put(key("a:80"), sender(false).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(idle.len(), 1);
        idle.prune();
        assert!(idle.is_empty(), "an expired connection was kept");
        idle.put(key("a:80"), sender(false).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            idle.take(&key("a:80")).is_none(),
            "an expired connection was handed out"
        );
    }

    #[tokio::test]
    async fn connections_the_upstream_closed_are_dropped() {
        let idle = IdleConnections::new(Duration::from_secs(60));
        idle.put(key("a:80"), sender(true).await);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            idle.prune();
            if idle.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a closed connection stayed in the list"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
