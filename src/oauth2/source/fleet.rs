//! A token source shared by a fleet through `[shared]`: the token state lives sealed in Redis,
//! one instance at a time renews it under a lock, and the others take its result. Redis is only
//! asked when the token in memory needs renewal; when it fails, the source goes on alone.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{RequestTime, SourceError, TokenSource};
use crate::oauth2::settings::{Grant, Settings};
use crate::oauth2::token::{Stored, Token};
use crate::secret::Secret;
use crate::shared::{SharedError, SharedStore};

/// How often a request that waits for another instance's renewal looks again.
const POLL: Duration = Duration::from_millis(50);
/// How long a shared token is kept past its expiry when it has no refresh token.
const KEEP_PAST_EXPIRY: Duration = Duration::from_secs(60);
/// How long a shared token with a refresh token (or without a stated expiry) is kept: the
/// refresh token is what the fleet needs most, and it outlives the access token.
const KEEP_LONG: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How much longer than a token request a lock is held before it counts as abandoned.
const LOCK_MARGIN: Duration = Duration::from_secs(5);

/// Where one profile's token lives in the shared store.
#[derive(Debug)]
pub(crate) struct Fleet {
    store: Arc<SharedStore>,
    token_key: String,
    lock_key: String,
    /// A lock older than this belongs to an instance that died.
    lock_ttl: Duration,
}

impl Fleet {
    /// The names of `settings`'s token and lock: hashes of everything that makes a token
    /// distinct, credentials included (a rotated client secret starts afresh).
    pub(crate) fn new(
        store: Arc<SharedStore>,
        settings: &Settings,
        token_timeout: Duration,
    ) -> Fleet {
        let parts = distinct_parts(settings);
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Fleet {
            token_key: store.name("oauth2-token", &parts),
            lock_key: store.name("oauth2-lock", &parts),
            store,
            lock_ttl: token_timeout + LOCK_MARGIN,
        }
    }
}

fn distinct_parts(s: &Settings) -> Vec<Vec<u8>> {
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").as_bytes().to_vec();
    let secret = |v: &Option<Secret>| {
        v.as_ref()
            .map_or(b"".to_vec(), |s| s.expose().as_bytes().to_vec())
    };
    let (username, password) = match &s.grant {
        Grant::Password { username, password } => (
            username.as_bytes().to_vec(),
            password.expose().as_bytes().to_vec(),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let mut parts = vec![
        s.grant.name().as_bytes().to_vec(),
        text(&s.token_url),
        text(&s.refresh_url),
        text(&s.client_id),
        secret(&s.client_secret),
        text(&s.scope),
        text(&s.audience),
        text(&s.resource),
        username,
        password,
    ];
    for extra in &s.token_extra {
        parts.push(extra.key.as_bytes().to_vec());
        parts.push(extra.value.expose().as_bytes().to_vec());
    }
    parts
}

impl TokenSource {
    /// The answer through the fleet, for a request that holds this source's turn and whose
    /// token needs renewal; `None` when the shared store cannot be used (then the caller goes
    /// on alone).
    pub(super) async fn through_fleet(
        &self,
        fleet: &Fleet,
        clock: RequestTime,
        failed_before: u64,
    ) -> Option<Result<Secret, SourceError>> {
        let owner = lock_owner();
        let give_up = tokio::time::Instant::now() + fleet.lock_ttl + Duration::from_secs(1);
        loop {
            self.adopt_shared(fleet).await.ok()?;
            match self.fresh(clock.now()) {
                Ok(None) => {}
                answer => return answer.transpose(),
            }
            if let Some(answer) = self.without_asking(failed_before, clock.now()) {
                return Some(answer);
            }
            if fleet
                .store
                .lock(&fleet.lock_key, &owner, fleet.lock_ttl)
                .await
                .ok()?
            {
                let answer = self.renew_holding_lock(fleet, clock).await;
                if let Err(e) = fleet
                    .store
                    .delete_if(&fleet.lock_key, owner.as_bytes())
                    .await
                {
                    tracing::debug!(profile = %self.settings.name, error = %e, "the token lock is left to expire");
                }
                return answer;
            }
            if tokio::time::Instant::now() >= give_up {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// With the fleet's lock: looks again (another instance may have renewed between the
    /// read and the lock), renews only if still needed, and shares the result.
    async fn renew_holding_lock(
        &self,
        fleet: &Fleet,
        clock: RequestTime,
    ) -> Option<Result<Secret, SourceError>> {
        self.adopt_shared(fleet).await.ok()?;
        match self.fresh(clock.now()) {
            Ok(None) => {}
            answer => return answer.transpose(),
        }
        let answer = self.renew(clock).await;
        if answer.is_ok() {
            self.publish(fleet).await;
        }
        Some(answer)
    }

    /// Takes the shared token when it is another than the one in memory. A value that does
    /// not open (another key, tampered with) counts as no token.
    pub(super) async fn adopt_shared(&self, fleet: &Fleet) -> Result<(), SharedError> {
        let Some(sealed) = fleet.store.get(&fleet.token_key).await? else {
            return Ok(());
        };
        if self.lock().shared_sealed.as_deref() == Some(sealed.as_slice()) {
            return Ok(());
        }
        let opened = fleet.store.sealer().open(&fleet.token_key, &sealed);
        let token = opened
            .ok()
            .and_then(|plain| serde_json::from_slice::<SharedToken>(&plain).ok())
            .map(SharedToken::into_token);
        let Some(token) = token else {
            tracing::warn!(profile = %self.settings.name, "the shared token does not open with the configured keys; ignoring it");
            return Ok(());
        };
        let save = {
            let mut st = self.lock();
            st.shared_sealed = Some(sealed);
            let same = st
                .token
                .as_ref()
                .is_some_and(|t| t.access_token == token.access_token);
            if same {
                return Ok(());
            }
            st.rejected = false;
            st.failures = 0;
            st.retry_at = None;
            st.last_error = None;
            st.loaded = true;
            st.token = Some(token.clone());
            self.store.save(token)
        };
        tracing::debug!(profile = %self.settings.name, "took the fleet's token");
        if let Err(e) = save.await {
            tracing::warn!(profile = %self.settings.name, error = %e, "cannot write the token store; the token is kept in memory");
        }
        Ok(())
    }

    /// Writes the token in memory to the shared store, sealed under its name.
    pub(super) async fn publish(&self, fleet: &Fleet) {
        let Some(token) = self.lock().token.clone() else {
            return;
        };
        let Ok(plain) = serde_json::to_vec(&SharedToken::from(&token)) else {
            return;
        };
        let Some(sealed) = fleet.store.sealer().seal(&fleet.token_key, &plain) else {
            return;
        };
        let keep = keep_for(&token, SystemTime::now());
        match fleet.store.set(&fleet.token_key, &sealed, keep).await {
            Ok(()) => self.lock().shared_sealed = Some(sealed),
            Err(e) => {
                tracing::debug!(profile = %self.settings.name, error = %e, "the token is not shared")
            }
        }
    }

    /// After a 401 to the current token: drops the shared one too, but only while it is still
    /// the one that failed (another instance may have renewed it already).
    pub(super) fn drop_shared(&self, fleet: &Fleet, sealed: Vec<u8>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = fleet.store.clone();
        let key = fleet.token_key.clone();
        runtime.spawn(async move {
            let _ = store.delete_if(&key, &sealed).await;
        });
    }
}

/// A token as the fleet shares it: as in the store file, with the expiry to the millisecond (a
/// lifetime of seconds cut to whole seconds would look due for renewal too early).
#[derive(serde::Serialize, serde::Deserialize)]
struct SharedToken {
    #[serde(flatten)]
    stored: Stored,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<u64>,
}

impl From<&Token> for SharedToken {
    fn from(token: &Token) -> Self {
        let ms = token
            .expires_at
            .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok());
        SharedToken {
            stored: Stored::from(token),
            expires_at_ms: ms.and_then(|d| u64::try_from(d.as_millis()).ok()),
        }
    }
}

impl SharedToken {
    fn into_token(self) -> Token {
        let ms = self.expires_at_ms;
        let mut token = Token::from(self.stored);
        if let (Some(ms), Some(secs)) = (ms, token.expires_at) {
            let precise = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
            // Only a refinement within the stored second counts.
            if precise >= secs && precise < secs + Duration::from_secs(1) {
                token.expires_at = Some(precise);
            }
        }
        token
    }
}

fn keep_for(token: &Token, now: SystemTime) -> Duration {
    match token.expires_at {
        _ if token.refresh_token.is_some() => KEEP_LONG,
        None => KEEP_LONG,
        Some(at) => at.duration_since(now).unwrap_or_default() + KEEP_PAST_EXPIRY,
    }
}

/// A random owner for one lock, so that only its taker releases it.
fn lock_owner() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Unique enough within a fleet: the process and the time.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{}-{nanos}", std::process::id());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "fleet_tests.rs"]
mod tests;
