//! What one loaded config makes of the proxy: the rules, schemes, upstream TLS profiles, the way
//! out, the cookie modes and the counters of its rules. [`super::Signet`] holds the one in
//! force and swaps it whole on a reload: a request takes the generation in force when it
//! starts and keeps it to its end, so nothing is ever half old and half new.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::admission::Admitted;
use super::{Parts, UpstreamTlsPair};
use crate::auth::{SCHEME_NAMES, SignContext};
use crate::context::{Clock, Entropy};
use crate::cookies::Cookies;
use crate::metrics::{Metrics, ProfileTokens, Pulled, RequestCounters};
use crate::net::{IdleTimeout, Limits};
use crate::policy::Policy;
use crate::tls::LeafCache;
use crate::upstream::pool::IdleConnections;
use crate::upstream::{ClientConn, Upstream, UpstreamClients};

/// One config's share of the proxy.
pub struct Generation {
    /// Tells generations apart (connections built for one are renewed for the next).
    pub(super) id: u64,
    pub(super) policy: Policy,
    pub(super) leaves: Arc<LeafCache>,
    /// Per upstream TLS profile: the client configs with and without HTTP/2.
    pub(super) upstream_tls: Vec<UpstreamTlsPair>,
    pub(super) upstream: Upstream,
    pub(super) client_auth: Option<Vec<u8>>,
    pub(super) buffer_limit: usize,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) entropy: Arc<dyn Entropy>,
    pub(super) cookies: Option<Arc<Cookies>>,
    pub(super) limits: Limits,
    /// Requests by rule and auth type under this config.
    pub(super) requests: RequestCounters,
    /// The proxy's counters, over every generation.
    pub(super) metrics: Arc<Metrics>,
}

impl Generation {
    pub(super) fn new(id: u64, parts: Parts, metrics: Arc<Metrics>) -> Self {
        let labels = parts.policy.table.rules().iter();
        let labels = labels.map(|r| r.name.to_string()).collect();
        Generation {
            id,
            requests: RequestCounters::new(labels, SCHEME_NAMES),
            policy: parts.policy,
            leaves: parts.leaves,
            upstream_tls: parts.upstream_tls,
            upstream: parts.upstream,
            client_auth: parts.client_auth,
            buffer_limit: parts.buffer_limit,
            clock: parts.clock,
            entropy: parts.entropy,
            cookies: parts.cookies.map(Arc::new),
            limits: parts.limits,
            metrics,
        }
    }

    /// The rules in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The leaf certificates of intercepted hosts (shared with the next generation when the CA
    /// stays the same).
    pub fn leaves(&self) -> &Arc<LeafCache> {
        &self.leaves
    }

    /// The clock of every signer.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The randomness of every signer.
    pub fn entropy(&self) -> &Arc<dyn Entropy> {
        &self.entropy
    }

    /// The cookie jar, when some rule uses cookies.
    pub fn cookies(&self) -> Option<&Arc<Cookies>> {
        self.cookies.as_ref()
    }

    /// What the metrics read from this generation's parts.
    pub(super) fn pulled(&self) -> Pulled {
        Pulled {
            minted: self.leaves.minted(),
            cache_hits: self.leaves.hits(),
            token_fetches: self.policy.token_requests_sent(),
            idle_connections: 0,
            shared: self.policy.shared().map(|s| (s.errors(), s.up())),
        }
    }

    pub(super) fn sign_context(&self) -> SignContext<'_> {
        SignContext {
            now: self.clock.now(),
            fixed_nonce: None,
            entropy: self.entropy.as_ref(),
        }
    }
}

impl Generation {
    /// The token sources' requests and expiries.
    pub(super) fn tokens(&self) -> Vec<ProfileTokens> {
        to_profiles(self.policy.token_metrics())
    }

    /// What this generation's parts counted that `next` does not take over: the leaf cache
    /// when the CA changed, the token sources of profiles that did not carry over.
    pub(super) fn replaced_by(&self, next: &Generation) -> (Pulled, Vec<ProfileTokens>) {
        let tokens = to_profiles(self.policy.token_metrics_not_in(&next.policy));
        (self.pulled_not_in(next), tokens)
    }

    fn pulled_not_in(&self, next: &Generation) -> Pulled {
        let leaves_replaced = !Arc::ptr_eq(&self.leaves, &next.leaves);
        Pulled {
            minted: if leaves_replaced {
                self.leaves.minted()
            } else {
                0
            },
            cache_hits: if leaves_replaced {
                self.leaves.hits()
            } else {
                0
            },
            token_fetches: self.policy.token_requests_not_in(&next.policy),
            idle_connections: 0,
            shared: None,
        }
    }
}

fn to_profiles(tokens: Vec<crate::policy::TokenMetrics>) -> Vec<ProfileTokens> {
    tokens
        .into_iter()
        .map(|(profile, requests, expires_at)| ProfileTokens {
            profile,
            requests,
            expires_at,
        })
        .collect()
}

impl Drop for Generation {
    /// Its requests stay counted in the metrics.
    fn drop(&mut self) {
        self.metrics.retire_requests(&self.requests);
    }
}

/// One serving runtime's upstream clients, built for the generation in force, and the idle
/// lists of every runtime (for the metrics).
pub(super) struct RuntimeUpstreams {
    built: Mutex<Option<(u64, Arc<[UpstreamClients]>)>>,
    registry: Arc<Mutex<Vec<Weak<IdleConnections>>>>,
}

impl RuntimeUpstreams {
    pub(super) fn new(registry: Arc<Mutex<Vec<Weak<IdleConnections>>>>) -> Self {
        RuntimeUpstreams {
            built: Mutex::default(),
            registry,
        }
    }

    /// The clients of `generation`, built on first use; the previous generation's go once no
    /// client connection holds them.
    pub(super) fn of(&self, generation: &Generation) -> Arc<[UpstreamClients]> {
        let mut built = lock(&self.built);
        if let Some((id, clients)) = built.as_ref()
            && *id == generation.id
        {
            return clients.clone();
        }
        let dialer = generation.upstream.dialer();
        let clients: Arc<[UpstreamClients]> = generation
            .upstream_tls
            .iter()
            .map(|(both, h1)| UpstreamClients::new(dialer, both.clone(), h1.clone()))
            .collect();
        let mut registry = lock(&self.registry);
        registry.retain(|idle| idle.strong_count() > 0);
        registry.extend(clients.iter().map(|u| Arc::downgrade(&u.idle)));
        *built = Some((generation.id, clients.clone()));
        clients
    }

    /// The clients last built, for pruning their idle connections.
    pub(super) fn current(&self) -> Option<Arc<[UpstreamClients]>> {
        lock(&self.built)
            .as_ref()
            .map(|(_, clients)| clients.clone())
    }
}

/// A client connection's upstream state, renewed when a request finds a newer generation in
/// force: the new one has its own TLS profiles and pools, while connections pinned by NTLM
/// carry over (they serve only schemes that carried over too).
pub(super) struct ConnCell {
    runtime: Arc<RuntimeUpstreams>,
    conn: Mutex<(u64, Arc<ClientConn>)>,
    /// The connection's place under the connection caps, held by whatever outlives the
    /// connection's HTTP exchange: its tunnels and upgrades.
    place: Arc<Admitted>,
    /// The client's address, for the access log.
    client: Option<SocketAddr>,
}

impl ConnCell {
    pub(super) fn new(
        runtime: Arc<RuntimeUpstreams>,
        generation: &Generation,
        idle: IdleTimeout,
        place: Arc<Admitted>,
        client: Option<SocketAddr>,
    ) -> Self {
        let conn = ClientConn::new(runtime.of(generation), idle);
        ConnCell {
            runtime,
            conn: Mutex::new((generation.id, Arc::new(conn))),
            place,
            client,
        }
    }

    /// The client's address.
    pub(super) fn client(&self) -> Option<SocketAddr> {
        self.client
    }

    /// The connection's place under the caps, for a tunnel or upgrade to hold while it lasts.
    pub(super) fn place(&self) -> Arc<Admitted> {
        self.place.clone()
    }

    /// The connection state for a request under `generation`.
    pub(super) fn conn(&self, generation: &Generation) -> Arc<ClientConn> {
        let mut held = lock(&self.conn);
        if held.0 != generation.id {
            let renewed = held.1.renewed(self.runtime.of(generation));
            *held = (generation.id, Arc::new(renewed));
        }
        held.1.clone()
    }

    /// A fresh cell for an intercepted tunnel opened on this connection: same runtime and idle
    /// timeout, nothing bound or pinned.
    pub(super) fn for_tunnel(&self, generation: &Generation) -> ConnCell {
        let idle = lock(&self.conn).1.idle().clone();
        ConnCell::new(
            self.runtime.clone(),
            generation,
            idle,
            self.place(),
            self.client,
        )
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
