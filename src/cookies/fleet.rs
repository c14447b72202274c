//! The jar shared by a fleet through `[shared]`: a background task pushes this instance's
//! changes to Redis and takes the others' (one sealed value for the whole jar and a version
//! beside it), so that no request waits for Redis. The jar file stays the fallback.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use time::OffsetDateTime;

use super::saver::Saver;
use super::{Entry, Jar, JarFile};
use crate::shared::{SharedError, SharedStore};

/// How often the jar is compared with the fleet's.
const SYNC_INTERVAL: Duration = Duration::from_millis(200);
/// How long the shared jar is kept without a write.
const KEEP: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Where the fleet's jar lives, and what this instance last saw of it.
#[derive(Debug)]
pub(super) struct CookieFleet {
    store: Arc<SharedStore>,
    jar_key: String,
    version_key: String,
    /// Changes captured here and not yet pushed.
    pending: AtomicU64,
    /// The fleet's version this jar holds.
    seen: Mutex<Option<Vec<u8>>>,
    started: OnceLock<()>,
}

impl CookieFleet {
    pub(super) fn new(store: Arc<SharedStore>) -> CookieFleet {
        CookieFleet {
            jar_key: store.name("cookie-jar", &[b"jar"]),
            version_key: store.name("cookie-jar-version", &[b"jar"]),
            store,
            pending: AtomicU64::new(0),
            seen: Mutex::new(None),
            started: OnceLock::new(),
        }
    }

    /// The jar changed here.
    pub(super) fn changed(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts the sync task on first use (from a request, so on the runtime); it ends when the
    /// jar is dropped.
    pub(super) fn start(self: &Arc<Self>, jar: &Arc<Jar>, saver: &Arc<Saver>) {
        if self.started.get().is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.started.set(()).is_err() {
            return;
        }
        let (fleet, jar, saver) = (self.clone(), Arc::downgrade(jar), Arc::downgrade(saver));
        runtime.spawn(async move { fleet.run(jar, saver).await });
    }

    async fn run(&self, jar: Weak<Jar>, saver: Weak<Saver>) {
        loop {
            let (Some(jar), Some(saver)) = (jar.upgrade(), saver.upgrade()) else {
                return;
            };
            let pending = self.pending.swap(0, Ordering::Relaxed);
            let synced = if pending > 0 {
                self.push(&jar).await
            } else {
                self.pull(&jar, &saver).await
            };
            if synced.is_err() && pending > 0 {
                self.pending.fetch_add(pending, Ordering::Relaxed);
            }
            drop((jar, saver));
            tokio::time::sleep(SYNC_INTERVAL).await;
        }
    }

    /// Writes this jar to the fleet; when another instance wrote since this one last looked,
    /// its cookies that are not here are kept (a cookie both changed goes as it is here).
    async fn push(&self, jar: &Jar) -> Result<(), SharedError> {
        let version = self.store.get(&self.version_key).await?;
        if version != *self.seen()
            && let Some(theirs) = self.fetch().await?
        {
            let now = OffsetDateTime::now_utc();
            let ours: HashSet<_> = jar.entries(now).into_iter().map(|e| key(&e)).collect();
            for entry in theirs.iter().filter(|e| !ours.contains(&key(e))) {
                jar.insert(entry, None);
            }
        }
        let file = JarFile {
            signet_cookie_jar: 1,
            cookies: jar.entries(OffsetDateTime::now_utc()),
        };
        let Ok(plain) = serde_json::to_vec(&file) else {
            return Ok(());
        };
        let Some(sealed) = self.store.sealer().seal(&self.jar_key, &plain) else {
            return Ok(());
        };
        let mut version = [0u8; 16];
        let _ = getrandom::fill(&mut version);
        self.store.set(&self.jar_key, &sealed, KEEP).await?;
        self.store.set(&self.version_key, &version, KEEP).await?;
        *self.seen() = Some(version.to_vec());
        Ok(())
    }

    /// Takes the fleet's jar when its version is not the one held here.
    async fn pull(&self, jar: &Jar, saver: &Saver) -> Result<(), SharedError> {
        let version = self.store.get(&self.version_key).await?;
        if version.is_none() || version == *self.seen() {
            return Ok(());
        }
        if let Some(theirs) = self.fetch().await? {
            jar.replace_all(&theirs);
            saver.schedule();
            tracing::debug!(cookies = theirs.len(), "took the fleet's cookie jar");
        }
        *self.seen() = version;
        Ok(())
    }

    /// The fleet's cookies; `None` when there are none or they do not open.
    async fn fetch(&self) -> Result<Option<Vec<Entry>>, SharedError> {
        let Some(sealed) = self.store.get(&self.jar_key).await? else {
            return Ok(None);
        };
        let opened = self.store.sealer().open(&self.jar_key, &sealed).ok();
        let file = opened.and_then(|plain| serde_json::from_slice::<JarFile>(&plain).ok());
        if file.is_none() {
            tracing::warn!(
                "the shared cookie jar does not open with the configured keys; ignoring it"
            );
        }
        Ok(file.map(|f| f.cookies))
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Option<Vec<u8>>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn key(e: &Entry) -> (String, String, String) {
    (e.domain.clone(), e.path.clone(), e.name.clone())
}
