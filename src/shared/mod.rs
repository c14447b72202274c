//! State that several signet instances share through Redis (`[shared]`): sealed values under
//! hashed names, a fleet-wide lock, and the store's health. Every call is bounded by
//! [`CALL_TIMEOUT`]; while Redis is unreachable calls fail at once for [`RETRY_AFTER`], and the
//! callers carry on with their own state.

pub mod seal;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use seal::{Key, OpenError, Sealer, key_name};

/// The longest one Redis call may take, connecting included: well under a request's budget.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed call, how long calls fail without trying, so that an outage costs requests
/// nothing but a look at the clock.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Deletes KEYS[1] only while it holds ARGV[1]: a lock released by its owner alone, a token
/// dropped only while it is still the one that failed.
const DELETE_IF_EQUAL: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// `[shared]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `redis://…`, `rediss://…` or `unix://…`.
    pub redis: String,
    /// The first seals, all open.
    pub keys: Vec<Key>,
    /// Put before every key name.
    pub prefix: String,
}

/// Why a shared call did not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SharedError {
    /// The URL is not one the client can use.
    #[error("{0}")]
    Url(String),
    /// Redis failed or was too slow (the message never holds a value).
    #[error("the shared store failed: {0}")]
    Call(String),
    /// A recent call failed; no call was tried.
    #[error("the shared store is unreachable")]
    Down,
}

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// One connection to the shared Redis, opened on first use and reopened by the client after a
/// failure.
pub struct SharedStore {
    settings: Settings,
    sealer: Sealer,
    client: redis::Client,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    health: AtomicU8,
    calls: AtomicU64,
    errors: AtomicU64,
    retry_at: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("prefix", &self.settings.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedStore {
    /// A store for `settings` (nothing is connected yet).
    pub fn new(settings: Settings) -> Result<SharedStore, SharedError> {
        let sealer =
            Sealer::new(&settings.keys).ok_or_else(|| SharedError::Url("no key".into()))?;
        let client = redis::Client::open(settings.redis.as_str())
            .map_err(|e| SharedError::Url(e.to_string()))?;
        Ok(SharedStore {
            settings,
            sealer,
            client,
            connection: tokio::sync::OnceCell::new(),
            health: AtomicU8::new(UNKNOWN),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            retry_at: Mutex::new(None),
        })
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The name of a value of `kind` told apart by `parts`, under the prefix.
    pub fn name(&self, kind: &str, parts: &[&[u8]]) -> String {
        key_name(&self.settings.prefix, kind, parts)
    }

    /// The sealer of every value.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Calls sent to Redis so far (not those skipped while it is unreachable).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls that failed so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Whether the last call answered; `None` before the first.
    pub fn up(&self) -> Option<bool> {
        match self.health.load(Ordering::Relaxed) {
            UP => Some(true),
            DOWN => Some(false),
            _ => None,
        }
    }

    /// The raw value at `name`.
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, SharedError> {
        self.call(redis::cmd("GET").arg(name)).await
    }

    /// Sets `name` to `value`, expiring after `ttl`.
    pub async fn set(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), SharedError> {
        let ms = ttl.as_millis().clamp(1, u64::MAX.into()) as u64;
        let mut cmd = redis::cmd("SET");
        cmd.arg(name).arg(value).arg("PX").arg(ms);
        self.call::<()>(&cmd).await
    }

    /// Takes the lock `name` for `owner` unless someone holds it; whether it was taken.
    pub async fn lock(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, SharedError> {
        let ms = ttl.as_millis().clamp(1, u64::MAX.into()) as u64;
        let mut cmd = redis::cmd("SET");
        cmd.arg(name).arg(owner).arg("NX").arg("PX").arg(ms);
        let answer: Option<String> = self.call(&cmd).await?;
        Ok(answer.is_some())
    }

    /// Deletes `name` if it holds `expected`; whether it did.
    pub async fn delete_if(&self, name: &str, expected: &[u8]) -> Result<bool, SharedError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(DELETE_IF_EQUAL).arg(1).arg(name).arg(expected);
        let deleted: i64 = self.call(&cmd).await?;
        Ok(deleted == 1)
    }

    async fn call<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, SharedError> {
        if self.waiting_out_failure() {
            return Err(SharedError::Down);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(CALL_TIMEOUT, async {
            let mut connection = self.connection().await?.clone();
            match cmd.query_async::<T>(&mut connection).await {
                // A connection that Redis dropped (a restart) is reopened by the client: the
                // call is tried once more on the new one.
                Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                    cmd.query_async::<T>(&mut connection).await
                }
                answer => answer,
            }
        })
        .await;
        match answer {
            Ok(Ok(value)) => {
                self.answered();
                Ok(value)
            }
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(self.failed(format!("no answer within {} ms", CALL_TIMEOUT.as_millis()))),
        }
    }

    async fn connection(&self) -> redis::RedisResult<&ConnectionManager> {
        self.connection
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CALL_TIMEOUT))
                    .set_response_timeout(Some(CALL_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(RETRY_AFTER);
                self.client.get_connection_manager_with_config(config)
            })
            .await
    }

    fn waiting_out_failure(&self) -> bool {
        let retry_at = self.retry_at.lock().unwrap_or_else(|p| p.into_inner());
        retry_at.is_some_and(|at| Instant::now() < at)
    }

    fn answered(&self) {
        if self.health.swap(UP, Ordering::Relaxed) == DOWN {
            tracing::info!("the shared store answers again; sharing tokens and cookies");
        }
        *self.retry_at.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn failed(&self, why: String) -> SharedError {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.retry_at.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + RETRY_AFTER);
        if self.health.swap(DOWN, Ordering::Relaxed) != DOWN {
            tracing::warn!(error = %why, "the shared store is unreachable; each instance carries on with its own state");
        }
        SharedError::Call(why)
    }
}
