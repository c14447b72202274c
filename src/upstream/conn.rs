//! What signet keeps per client connection: the upstream connections bound or pinned to it,
//! and the pools of the runtime that serves it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::client::conn::http1::SendRequest;

use super::body::ProxyBody;
use super::bound::BoundKey;
use super::pinned::{PinKey, Pinned};
use super::upstream::{HttpClient, UpstreamClients};

/// Per client connection: its bound HTTP/1.1 upstream connection, its NTLM-pinned ones, and
/// the pooled clients of the runtime that serves it. Dropped when the client connection
/// closes: the bound connection then goes to the runtime's idle list, pinned ones close.
pub struct ClientConn {
    bound: Mutex<Option<Bound>>,
    pinned: Mutex<HashMap<PinKey, Vec<Pinned>>>,
    upstreams: Arc<[UpstreamClients]>,
}

/// The upstream connection the client's last plain HTTP/1.1 request went out on.
struct Bound {
    upstream: usize,
    key: BoundKey,
    sender: SendRequest<ProxyBody>,
    /// It carried connection-bound credentials: it is closed, never handed to another client.
    private: bool,
}

/// A bound connection taken for a request, and whether it is private to this client.
pub(super) struct Taken {
    pub(super) sender: SendRequest<ProxyBody>,
    pub(super) private: bool,
}

impl ClientConn {
    /// A fresh context for a new client connection, using `upstreams` (one per TLS profile).
    pub fn new(upstreams: Arc<[UpstreamClients]>) -> Self {
        ClientConn {
            bound: Mutex::default(),
            pinned: Mutex::default(),
            upstreams,
        }
    }

    /// A fresh context for an intercepted tunnel opened on this connection: same pools, nothing
    /// bound or pinned.
    pub fn for_tunnel(&self) -> Self {
        Self::new(self.upstreams.clone())
    }

    /// The clients, connector and idle list of an upstream TLS profile.
    pub(super) fn upstreams(&self, upstream: usize) -> &UpstreamClients {
        &self.upstreams[upstream]
    }

    /// The pooled client for an upstream profile; `http1` for upgrades and schemes that need it.
    pub(super) fn client(&self, upstream: usize, http1: bool) -> &HttpClient {
        let clients = &self.upstreams[upstream];
        if http1 { &clients.http1 } else { &clients.any }
    }

    /// The bound connection when it leads to `key`; one that leads elsewhere is let go.
    pub(super) fn take_bound(&self, upstream: usize, key: &BoundKey) -> Option<Taken> {
        let held = lock(&self.bound).take()?;
        if held.upstream == upstream && held.key == *key {
            return Some(Taken {
                sender: held.sender,
                private: held.private,
            });
        }
        self.release(held);
        None
    }

    /// Binds `sender` for the client's next request; `private` when it carried
    /// connection-bound credentials.
    pub(super) fn bind(
        &self,
        upstream: usize,
        key: BoundKey,
        sender: SendRequest<ProxyBody>,
        private: bool,
    ) {
        let previous = lock(&self.bound).replace(Bound {
            upstream,
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
            self.upstreams[held.upstream]
                .idle
                .put(held.key, held.sender);
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
