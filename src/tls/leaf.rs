//! Leaf certificates for intercepted hosts, minted from the CA on first use and cached.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};
use time::{Duration, OffsetDateTime};

use super::{CertificateAuthority, TlsError, provider};

/// How many host names keep a cached leaf. Past this the oldest inserted name is evicted (FIFO);
/// a later request for it simply mints a new leaf.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Resumable TLS sessions kept across all intercepted hosts.
const SHARED_SESSIONS: usize = 4096;

/// Leaves last 397 days; a cached one is replaced after a year so it never expires in use.
const RENEW_AFTER: Duration = Duration::days(365);

/// Server configurations for intercepted hosts, one freshly minted leaf per host name.
pub struct LeafCache {
    ca: Arc<CertificateAuthority>,
    entries: RwLock<Entries>,
    capacity: usize,
    minted: AtomicU64,
    hits: AtomicU64,
    /// One session cache for all leaves: rustls' default per-config cache preallocates room
    /// for 256 sessions, which across thousands of names would cost hundreds of megabytes.
    sessions: Arc<dyn StoresServerSessions>,
}

#[derive(Default)]
struct Entries {
    slots: HashMap<String, Arc<Slot>>,
    /// Insertion order, for FIFO eviction.
    order: VecDeque<String>,
}

/// One name's cell. Its own mutex serialises minting for that name only; callers for other
/// names never wait on it.
#[derive(Default)]
struct Slot {
    issued: Mutex<Option<Issued>>,
}

struct Issued {
    config: Arc<ServerConfig>,
    renew_at: OffsetDateTime,
}

impl std::fmt::Debug for LeafCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafCache")
            .field("ca", &self.ca)
            .field("capacity", &self.capacity)
            .field("minted", &self.minted())
            .finish_non_exhaustive()
    }
}

impl LeafCache {
    /// A cache holding up to [`DEFAULT_CAPACITY`] names.
    pub fn new(ca: Arc<CertificateAuthority>) -> Self {
        Self::with_capacity(ca, DEFAULT_CAPACITY)
    }

    /// A cache holding up to `capacity` names (at least one).
    pub fn with_capacity(ca: Arc<CertificateAuthority>, capacity: usize) -> Self {
        LeafCache {
            ca,
            entries: RwLock::new(Entries::default()),
            capacity: capacity.max(1),
            minted: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            sessions: ServerSessionMemoryCache::new(SHARED_SESSIONS),
        }
    }

    /// The server config for `name` (DNS name or IP address), minting the leaf on first use.
    ///
    /// Concurrent callers for the same name mint once. Minting takes about a millisecond of CPU,
    /// during which callers for that same name block.  ALPN offered: h2, then http/1.1.
    pub fn server_config(&self, name: &str) -> Result<Arc<ServerConfig>, TlsError> {
        let name = normalize(name);
        let slot = self.slot(&name);
        let mut issued = slot.issued.lock().unwrap_or_else(PoisonError::into_inner);
        let now = OffsetDateTime::now_utc();
        if let Some(current) = issued.as_ref().filter(|i| now < i.renew_at) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(current.config.clone());
        }
        let config = self.build(&name)?;
        self.minted.fetch_add(1, Ordering::Relaxed);
        *issued = Some(Issued {
            config: config.clone(),
            renew_at: now + RENEW_AFTER,
        });
        Ok(config)
    }

    /// The CA that signs the leaves.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// How many leaves were minted so far.
    pub fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    /// How many lookups were served from the cache without minting.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn slot(&self, name: &str) -> Arc<Slot> {
        let read = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = read.slots.get(name) {
            return slot.clone();
        }
        drop(read);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = entries.slots.get(name) {
            return slot.clone();
        }
        while entries.slots.len() >= self.capacity {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.slots.remove(&oldest);
        }
        let slot = Arc::new(Slot::default());
        entries.slots.insert(name.to_string(), slot.clone());
        entries.order.push_back(name.to_string());
        slot
    }

    fn build(&self, name: &str) -> Result<Arc<ServerConfig>, TlsError> {
        let (chain, key) = self.ca.mint_leaf(name)?;
        let fail = |reason: String| TlsError::Leaf {
            host: name.to_string(),
            reason,
        };
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| fail(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = self.sessions.clone();
        Ok(Arc::new(config))
    }
}

/// One cache entry per host however it was spelled: case, a trailing dot and IPv6 brackets
/// do not make a different certificate.
fn normalize(name: &str) -> String {
    let name = name.trim_end_matches('.');
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ca::tests::{new_ca, verify};
    use rustls::pki_types::{PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use x509_parser::prelude::*;

    #[test]
    fn leaves_verify_for_names_and_addresses() {
        let ca = new_ca("leaf");
        for name in ["example.test", "127.0.0.1", "::1"] {
            let (chain, _key) = ca.mint_leaf(name).unwrap();
            assert_eq!(chain.len(), 2);
            assert_eq!(&chain[1], ca.cert_der());
            verify(ca.cert_der(), &chain, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let (chain, _) = ca.mint_leaf("example.test").unwrap();
        assert!(verify(ca.cert_der(), &chain, "other.test").is_err());
        let (chain, _) = ca.mint_leaf("127.0.0.1").unwrap();
        assert!(verify(ca.cert_der(), &chain, "127.0.0.2").is_err());
        let other = new_ca("leaf-other");
        assert!(verify(other.cert_der(), &chain, "127.0.0.1").is_err());
    }

    #[test]
    fn leaf_fields() {
        let ca = new_ca("leaf-fields");
        let (chain, key) = ca.mint_leaf("::1").unwrap();
        let (_, x509) = X509Certificate::from_der(&chain[0]).unwrap();
        let nb = x509.validity().not_before.timestamp();
        let na = x509.validity().not_after.timestamp();
        assert_eq!(na - nb, 397 * 86_400);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        assert!((now - 86_400 - 60..=now - 86_400 + 60).contains(&nb));
        let serial = x509.raw_serial();
        assert!(serial.len() >= 9 && serial[0] & 0x80 == 0, "{serial:?}");
        let eku = x509.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth);
        let san = x509.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(
            san.general_names,
            vec![GeneralName::IPAddress(
                &std::net::Ipv6Addr::LOCALHOST.octets()
            )]
        );
        assert!(!x509.basic_constraints().unwrap().unwrap().value.ca);
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        let (chain2, _) = ca.mint_leaf("::1").unwrap();
        assert_ne!(chain[0], chain2[0], "fresh key and serial per leaf");
        let long = format!("{}.{}.example.test", "a".repeat(60), "b".repeat(60));
        let (chain, _) = ca.mint_leaf(&long).unwrap();
        verify(ca.cert_der(), &chain, &long).unwrap();
        assert!(ca.mint_leaf("bad name!").is_err());
        assert!(ca.mint_leaf("").is_err());
    }

    #[test]
    fn concurrent_callers_mint_once() {
        let cache = Arc::new(LeafCache::new(Arc::new(new_ca("concurrent"))));
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (cache, barrier) = (cache.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    cache.server_config("same.example.test").unwrap()
                })
            })
            .collect();
        let configs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(cache.minted(), 1);
        assert!(configs.iter().all(|c| Arc::ptr_eq(c, &configs[0])));
        cache.server_config("SAME.example.test.").unwrap();
        assert_eq!(cache.minted(), 1, "case and trailing dot share the entry");
        cache.server_config("other.example.test").unwrap();
        assert_eq!(cache.minted(), 2);
    }

    #[test]
    fn full_cache_evicts_the_oldest_name() {
        let cache = LeafCache::with_capacity(Arc::new(new_ca("evict")), 2);
        for name in ["a.test", "b.test", "c.test", "b.test", "c.test"] {
            cache.server_config(name).unwrap();
        }
        assert_eq!(cache.minted(), 3);
        cache.server_config("a.test").unwrap();
        assert_eq!(cache.minted(), 4, "a.test was evicted and is minted again");
    }

    #[test]
    fn invalid_name_is_an_error_naming_it() {
        let cache = LeafCache::new(Arc::new(new_ca("badname")));
        let err = cache.server_config("no spaces.test").unwrap_err();
        assert!(err.to_string().contains("no spaces.test"), "{err}");
        assert_eq!(cache.minted(), 0);
    }

    #[tokio::test]
    async fn handshake_with_a_client_trusting_the_ca_negotiates_h2() {
        let ca = Arc::new(new_ca("handshake"));
        let cache = LeafCache::new(ca.clone());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        let mut client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));

        for name in ["intercepted.example.test", "127.0.0.1", "::1"] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(cache.server_config(name).unwrap());
            let server = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut tls = acceptor.accept(tcp).await.unwrap();
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                tls.write_all(b"hello").await.unwrap();
                tls.shutdown().await.unwrap();
                alpn
            });
            let tcp = TcpStream::connect(addr).await.unwrap();
            let server_name = ServerName::try_from(name.to_string()).unwrap();
            let mut tls = connector.connect(server_name, tcp).await.unwrap();
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "{name}");
            let mut body = Vec::new();
            tls.read_to_end(&mut body).await.unwrap();
            assert_eq!(body, b"hello");
            assert_eq!(server.await.unwrap().as_deref(), Some(&b"h2"[..]));
        }
        assert_eq!(cache.minted(), 3);
    }
}
