//! HTTP/1.1 upstream connections bound to a client connection.
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
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use super::body::{Outgoing, ProxyBody};
use super::client_conn::ClientConn;
use super::upstream::{open_http1, origin_form};

/// Idle connections kept per destination; more are closed.
const MAX_IDLE_PER_DESTINATION: usize = 64;

/// Where a bound connection leads (within one upstream TLS profile).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoundKey {
    authority: Authority,
    https: bool,
}

impl BoundKey {
    /// The key for a request's absolute URI (as `prepare` made it); `None` without a host.
    fn of(uri: &Uri) -> Option<Self> {
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

/// Sends a request (absolute URI, Host set) over the client connection's bound upstream
/// connection, an idle one, or a new one; binds the connection used for the next request.
///
/// A connection that carried NTLM or Negotiate (the client's own, passed through) stays with
/// this client connection and closes with it.
///
/// A reused connection that the upstream closed before the request left (the keep-alive race)
/// is replaced once by a new one: the request was not sent, so sending it again is safe for
/// every method. Errors are in words, for the client's 502.
pub(super) async fn send(
    conn: &ClientConn,
    upstream: usize,
    parts: http::request::Parts,
    body: Outgoing,
) -> Result<Response<Incoming>, String> {
    let key = BoundKey::of(&parts.uri).ok_or("request has no host")?;
    let clients = conn.upstreams(upstream);
    let (reused, mut private) = match conn.take_bound(upstream, &key) {
        Some(taken) => (Some(taken.sender), taken.private),
        None => (clients.idle.take(&key), false),
    };
    private |= connection_auth(parts.headers.get(AUTHORIZATION));
    let (mut sender, mut fresh) = match reused {
        Some(sender) => (sender, false),
        None => (
            open_http1(&clients.http1_connector, &parts.uri)
                .await?
                .sender,
            true,
        ),
    };
    let mut req = Request::from_parts(parts, body.into_body());
    let origin = origin_form(req.uri());
    let absolute = std::mem::replace(req.uri_mut(), origin);
    loop {
        if let Err(e) = sender.ready().await {
            if fresh {
                return Err(format!("upstream connection closed: {e}"));
            }
        } else {
            match sender.try_send_request(req).await {
                Ok(response) => {
                    private |= response
                        .headers()
                        .get_all(WWW_AUTHENTICATE)
                        .iter()
                        .any(|offer| connection_auth(Some(offer)));
                    conn.bind(upstream, key, sender, private);
                    return Ok(response);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh => req = unsent,
                    _ => return Err(format!("upstream error: {}", e.into_error())),
                },
            }
        }
        // The authority only: the query may carry a credential a rule added.
        tracing::debug!(upstream = %key.authority, "kept upstream connection closed; opening a new one");
        sender = open_http1(&clients.http1_connector, &absolute)
            .await?
            .sender;
        fresh = true;
    }
}

/// Whether a credential (or a challenge) names a scheme that authenticates the connection
/// rather than the request (NTLM, Negotiate): a connection that carried one belongs to this
/// client, as browsers and squid treat it, or the next client would be logged in as this one.
fn connection_auth(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value else { return false };
    let scheme = value
        .as_bytes()
        .split(|b| *b == b' ')
        .next()
        .unwrap_or_default();
    scheme.eq_ignore_ascii_case(b"NTLM") || scheme.eq_ignore_ascii_case(b"Negotiate")
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
