//! Temporary credentials' life cycle: obtained on first use by one request while the others
//! wait, renewed ahead of expiry (one renewal at a time, its failure shared by the requests that
//! waited for it), backed off when the source fails, and never handed out once expired.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::auth::AwsCredentials;

/// Renew when less than this is left, or half the lifetime for shorter-lived credentials.
pub const RENEW_AHEAD: Duration = Duration::from_secs(300);
/// Credentials this close to their expiry are not sent: they could expire on the way.
pub const SEND_MARGIN: Duration = Duration::from_secs(5);
/// The longest pause between attempts at a failing source.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The future of freshly obtained credentials.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AwsCredentials, String>> + Send + 'a>>;

/// Obtains a new set of credentials (runs the process, asks STS).
pub trait Fetch: Send + Sync + fmt::Debug {
    /// New credentials for a request at `now`; the error names the source, never a secret.
    fn fetch(&self, now: SystemTime) -> FetchFuture<'_>;
}

#[derive(Debug, Default)]
struct State {
    current: Option<Arc<AwsCredentials>>,
    /// When `current` was asked for (its lifetime runs from here).
    obtained_at: Option<SystemTime>,
    /// Fetches failed in a row.
    failures: u32,
    /// Fetches failed in all; a request that saw it change while it waited shares that failure.
    failed_fetches: u64,
    retry_at: Option<SystemTime>,
    last_error: Option<String>,
}

/// A request's time as it waits: the time it was signed at, moved on by the monotonic clock
/// (tokio's, so that a test's paused time moves it too).
#[derive(Debug, Clone, Copy)]
struct RequestTime {
    signed: SystemTime,
    since: tokio::time::Instant,
}

impl RequestTime {
    fn new(signed: SystemTime) -> Self {
        RequestTime {
            signed,
            since: tokio::time::Instant::now(),
        }
    }

    fn now(&self) -> SystemTime {
        let waited = self.since.elapsed();
        self.signed.checked_add(waited).unwrap_or(self.signed)
    }
}

/// One source's credentials, shared by every request that uses them.
#[derive(Debug)]
pub struct Renewing {
    /// What the credentials are, for the log (`AWS profile dev: credential_process`).
    label: String,
    fetch: Box<dyn Fetch>,
    state: Mutex<State>,
    /// Held while a fetch is under way, so that concurrent requests share it.
    turn: tokio::sync::Mutex<()>,
    /// Fetches started (tests and logs).
    fetches: std::sync::atomic::AtomicU64,
}

impl Renewing {
    /// Credentials from `fetch`, none obtained yet; `label` names them in the log.
    pub fn new(label: String, fetch: Box<dyn Fetch>) -> Self {
        Renewing {
            label,
            fetch,
            state: Mutex::default(),
            turn: tokio::sync::Mutex::new(()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many fetches were started.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Credentials valid for a request signed at `now`.
    pub async fn get(&self, now: SystemTime) -> Result<Arc<AwsCredentials>, String> {
        let clock = RequestTime::new(now);
        if let Some(c) = self.fresh(clock.now()) {
            return Ok(c);
        }
        let failed_before = self.lock().failed_fetches;
        let _turn = self.turn.lock().await;
        if let Some(c) = self.fresh(clock.now()) {
            return Ok(c);
        }
        if let Some(answer) = self.without_fetching(failed_before, clock.now()) {
            return answer;
        }
        self.renew(clock).await
    }

    /// The current credentials when they need no renewal at `now`.
    pub fn fresh(&self, now: SystemTime) -> Option<Arc<AwsCredentials>> {
        let st = self.lock();
        let current = st.current.as_ref()?;
        let Some(expires_at) = current.expires_at else {
            return Some(current.clone());
        };
        let lifetime = st
            .obtained_at
            .and_then(|at| expires_at.duration_since(at).ok())
            .unwrap_or_default();
        let ahead = RENEW_AHEAD.min(lifetime / 2).max(SEND_MARGIN);
        let left = expires_at.duration_since(now).unwrap_or_default();
        (left > ahead).then(|| current.clone())
    }

    /// The current credentials when they have not expired at `now`, even if due for renewal.
    fn still_valid(st: &State, now: SystemTime) -> Option<Arc<AwsCredentials>> {
        let current = st.current.as_ref()?;
        match current.expires_at {
            None => Some(current.clone()),
            Some(at) => {
                (at.duration_since(now).unwrap_or_default() > SEND_MARGIN).then(|| current.clone())
            }
        }
    }

    /// The answer of a request that does not fetch: in the back-off after a failure, or when
    /// the fetch it waited for failed. `None` when the request should fetch.
    fn without_fetching(
        &self,
        failed_before: u64,
        now: SystemTime,
    ) -> Option<Result<Arc<AwsCredentials>, String>> {
        let st = self.lock();
        let failed_meanwhile = st.failed_fetches != failed_before;
        let backing_off = st.retry_at.is_some_and(|at| now < at);
        if !failed_meanwhile && !backing_off {
            return None;
        }
        if let Some(c) = Self::still_valid(&st, now) {
            return Some(Ok(c));
        }
        let wait = st
            .retry_at
            .and_then(|at| at.duration_since(now).ok())
            .unwrap_or_default();
        Some(Err(format!(
            "{} (next attempt in {}s)",
            st.last_error
                .as_deref()
                .unwrap_or("the credential source failed"),
            wait.as_secs().max(1)
        )))
    }

    /// Fetches new credentials (the caller holds the turn). On failure, backs off and keeps
    /// handing out the current ones while they are valid.
    async fn renew(&self, clock: RequestTime) -> Result<Arc<AwsCredentials>, String> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let asked_at = clock.now();
        let obtained = self.fetch.fetch(asked_at).await.and_then(|c| {
            let now = clock.now();
            match c.expires_at {
                Some(at) if at.duration_since(now).unwrap_or_default() <= SEND_MARGIN => Err(
                    "the credential source handed out credentials that are already expired"
                        .to_owned(),
                ),
                _ => Ok(c),
            }
        });
        let now = clock.now();
        let mut st = self.lock();
        match obtained {
            Ok(credentials) => {
                let credentials = Arc::new(credentials);
                st.current = Some(credentials.clone());
                st.obtained_at = Some(asked_at);
                st.failures = 0;
                st.retry_at = None;
                st.last_error = None;
                let expires_in_s = credentials
                    .expires_at
                    .and_then(|at| at.duration_since(now).ok())
                    .map(|d| d.as_secs());
                tracing::info!(source = %self.label, expires_in_s, "obtained AWS credentials");
                Ok(credentials)
            }
            Err(e) => {
                st.failures = st.failures.saturating_add(1);
                st.failed_fetches = st.failed_fetches.wrapping_add(1);
                let backoff = Duration::from_secs(1u64 << st.failures.saturating_sub(1).min(6))
                    .min(MAX_BACKOFF);
                st.retry_at = now.checked_add(backoff);
                st.last_error = Some(e.clone());
                tracing::warn!(source = %self.label, error = %e, retry_in_s = backoff.as_secs(), "AWS credentials: renewal failed");
                match Self::still_valid(&st, now) {
                    Some(c) => Ok(c),
                    None => Err(e),
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
