//! What signet keeps per client connection: the HTTP/1.1 upstream connection bound to it (the
//! one its last request went out on), the connections pinned to it by a connection-bound
//! handshake (NTLM), and the pools of the runtime that serves it.
//!
//! An HTTP/1.1 client sends one request at a time on a connection, so one upstream connection
//! per client connection always suffices: the client's next request to the same destination
//! goes out on the same upstream connection, with no pool lookup. When the client connection
//! closes (or moves on to another destination), its upstream connection waits in the runtime's
//! [`IdleConnections`] for the next client connection, for up to the idle timeout, unless it is
//! private to this client. Why not the general pool: its checkout and return (a lock, a SipHash
//! lookup, and a task per request to watch the connection become idle again) were an eighth of
//! the instructions of a plain forwarded request (callgrind).
//!
//! [`IdleConnections`]: super::pool::IdleConnections

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use tokio::time::{Instant, Sleep};

use super::UpstreamError;
use super::exchange::{PinKey, Pinned};
use super::pool::{BoundKey, HttpClient, UpstreamClients};
use crate::net::body::{Outgoing, ProxyBody};
use crate::net::{IdleTimeout, open_http1, origin_form};
use crate::tls::TlsProfileId;

/// Per client connection: its bound HTTP/1.1 upstream connection, its pinned ones, and the
/// pooled clients of the runtime that serves it. Dropped when the client connection closes:
/// the bound connection then goes to the runtime's idle list, pinned ones close.
pub struct ClientConn {
    bound: Mutex<Option<Bound>>,
    pinned: Mutex<HashMap<PinKey, Vec<Pinned>>>,
    upstreams: Arc<[UpstreamClients]>,
    /// How long the client connection may idle; longer once it carries a tunnel.
    idle: IdleTimeout,
    /// The response timer of the last request, kept for the next: moving a registered tokio
    /// timer later is an atomic store, where a new one is a trip into the timer wheel and
    /// back. Requests at once (HTTP/2) beyond the first get timers of their own.
    response_timer: Mutex<Option<Pin<Box<Sleep>>>>,
}

/// The upstream connection the client's last plain HTTP/1.1 request went out on.
struct Bound {
    tls: TlsProfileId,
    key: BoundKey,
    sender: SendRequest<ProxyBody>,
    /// It carried connection-bound credentials: it is closed, never handed to another client.
    private: bool,
}

impl ClientConn {
    /// A fresh context for a new client connection, using `upstreams` (one per TLS profile),
    /// whose idle timeout is `idle`.
    pub fn new(upstreams: Arc<[UpstreamClients]>, idle: IdleTimeout) -> Self {
        ClientConn {
            bound: Mutex::default(),
            pinned: Mutex::default(),
            upstreams,
            idle,
            response_timer: Mutex::default(),
        }
    }

    /// The context for this client connection's next requests under a reloaded config, whose
    /// pools are `upstreams`: the connections pinned to it carry over (their keys name the
    /// credentials that authenticated them); the bound one goes back to its old pool.
    pub fn renewed(&self, upstreams: Arc<[UpstreamClients]>) -> Self {
        if let Some(held) = lock(&self.bound).take() {
            self.release(held);
        }
        let pinned = std::mem::take(&mut *lock(&self.pinned));
        ClientConn {
            bound: Mutex::default(),
            pinned: Mutex::new(pinned),
            upstreams,
            idle: self.idle.clone(),
            response_timer: Mutex::default(),
        }
    }

    /// A timer firing at `deadline`, reusing the one the last request gave back.
    pub(super) fn response_timer(&self, deadline: Instant) -> Pin<Box<Sleep>> {
        match lock(&self.response_timer).take() {
            Some(mut timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Keeps `timer` for the next request.
    pub(super) fn keep_response_timer(&self, timer: Pin<Box<Sleep>>) {
        *lock(&self.response_timer) = Some(timer);
    }

    /// A fresh context for an intercepted tunnel opened on this connection: same pools and
    /// idle timeout, nothing bound or pinned.
    pub fn for_tunnel(&self) -> Self {
        Self::new(self.upstreams.clone(), self.idle.clone())
    }

    /// The client connection's idle timeout.
    pub fn idle(&self) -> &IdleTimeout {
        &self.idle
    }

    /// The clients, connector and idle list of an upstream TLS profile.
    pub(super) fn upstreams(&self, tls: TlsProfileId) -> &UpstreamClients {
        &self.upstreams[tls.0]
    }

    /// The pooled client for a TLS profile; `http1` for upgrades and schemes that need it.
    pub(super) fn client(&self, tls: TlsProfileId, http1: bool) -> &HttpClient {
        let clients = self.upstreams(tls);
        if http1 { &clients.http1 } else { &clients.any }
    }

    /// The bound connection when it leads to `key`, and whether it is private; one that leads
    /// elsewhere is let go.
    fn take_bound(
        &self,
        tls: TlsProfileId,
        key: &BoundKey,
    ) -> Option<(SendRequest<ProxyBody>, bool)> {
        let held = lock(&self.bound).take()?;
        if held.tls == tls && held.key == *key {
            return Some((held.sender, held.private));
        }
        self.release(held);
        None
    }

    /// Binds `sender` for the client's next request; `private` when it carried
    /// connection-bound credentials.
    fn bind(
        &self,
        tls: TlsProfileId,
        key: BoundKey,
        sender: SendRequest<ProxyBody>,
        private: bool,
    ) {
        let previous = lock(&self.bound).replace(Bound {
            tls,
            key,
            sender,
            private,
        });
        if let Some(previous) = previous {
            self.release(previous);
        }
    }

    /// A bound connection this client no longer uses goes idle for the next client, unless it
    /// is private: then dropping the sender closes it.
    fn release(&self, held: Bound) {
        if !held.private {
            self.upstreams(held.tls).idle.put(held.key, held.sender);
        }
    }

    /// A pinned connection for `key` that is still open.
    pub(super) fn take_pinned(&self, key: &PinKey) -> Option<Pinned> {
        let mut pinned = lock(&self.pinned);
        let list = pinned.get_mut(key)?;
        while let Some(conn) = list.pop() {
            if !conn.sender.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps a pinned connection for the client's later requests.
    pub(super) fn put_pinned(&self, key: PinKey, conn: Pinned) {
        lock(&self.pinned).entry(key).or_default().push(conn);
    }

    /// Sends a request (absolute URI, Host set) over the bound upstream connection, an idle
    /// one, or a new one; binds the connection used for the next request.
    ///
    /// A connection that carried NTLM or Negotiate (the client's own, passed through) stays
    /// with this client connection and closes with it.
    ///
    /// A reused connection that the upstream closed before the request left (the keep-alive
    /// race) is replaced once by a new one: the request was not sent, so sending it again is
    /// safe for every method.
    pub(super) async fn send_bound(
        &self,
        tls: TlsProfileId,
        parts: http::request::Parts,
        body: Outgoing,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let key = BoundKey::of(&parts.uri).ok_or(UpstreamError::NoHost)?;
        let clients = self.upstreams(tls);
        let (reused, mut private) = match self.take_bound(tls, &key) {
            Some((sender, private)) => (Some(sender), private),
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
                    return Err(UpstreamError::Closed(e));
                }
            } else {
                match sender.try_send_request(req).await {
                    Ok(response) => {
                        private |= response
                            .headers()
                            .get_all(WWW_AUTHENTICATE)
                            .iter()
                            .any(|offer| connection_auth(Some(offer)));
                        self.bind(tls, key, sender, private);
                        return Ok(response);
                    }
                    Err(mut e) => match e.take_message() {
                        Some(unsent) if !fresh => req = unsent,
                        _ => return Err(UpstreamError::Http(e.into_error())),
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
}

impl Drop for ClientConn {
    fn drop(&mut self) {
        let held = self
            .bound
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(held) = held {
            self.release(held);
        }
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
