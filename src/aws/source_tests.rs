use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;
use crate::secret::Secret;

/// Hands out credentials numbered by fetch (`KEY1`, `KEY2`…) that live `lifetime` from the
/// time asked, after `delay`; fails while `failing` is set.
#[derive(Debug)]
struct Counting {
    lifetime: Option<Duration>,
    delay: Duration,
    failing: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
}

impl Fetch for Counting {
    fn fetch(&self, now: SystemTime) -> FetchFuture<'_> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(self.delay).await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(format!("source down (call {n})"));
            }
            Ok(AwsCredentials {
                access_key: Secret::new(format!("KEY{n}")),
                secret_key: Secret::new("s"),
                session_token: None,
                expires_at: self.lifetime.map(|l| now + l),
            })
        })
    }
}

struct Fixture {
    source: Arc<Renewing>,
    failing: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
}

fn fixture(lifetime: Option<Duration>, delay: Duration) -> Fixture {
    let failing = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let fetch = Counting {
        lifetime,
        delay,
        failing: failing.clone(),
        calls: calls.clone(),
    };
    Fixture {
        source: Arc::new(Renewing::new("test".into(), Box::new(fetch))),
        failing,
        calls,
    }
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn key(f: &Fixture, at: SystemTime) -> Result<String, String> {
    f.source
        .get(at)
        .await
        .map(|c| c.access_key.expose().to_owned())
}

#[tokio::test(start_paused = true)]
async fn credentials_are_reused_until_five_minutes_before_expiry() {
    let f = fixture(Some(secs(3600)), Duration::ZERO);
    assert_eq!(key(&f, t0()).await.unwrap(), "KEY1");
    assert_eq!(key(&f, t0() + secs(3600 - 301)).await.unwrap(), "KEY1");
    assert_eq!(key(&f, t0() + secs(3600 - 299)).await.unwrap(), "KEY2");
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn short_lived_credentials_are_renewed_at_half_their_lifetime() {
    let f = fixture(Some(secs(60)), Duration::ZERO);
    assert_eq!(key(&f, t0()).await.unwrap(), "KEY1");
    assert_eq!(key(&f, t0() + secs(29)).await.unwrap(), "KEY1");
    assert_eq!(key(&f, t0() + secs(31)).await.unwrap(), "KEY2");
}

#[tokio::test(start_paused = true)]
async fn credentials_without_expiration_are_fetched_once() {
    let f = fixture(None, Duration::ZERO);
    key(&f, t0()).await.unwrap();
    assert_eq!(key(&f, t0() + secs(10 * 24 * 3600)).await.unwrap(), "KEY1");
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_fetch() {
    let f = fixture(Some(secs(3600)), secs(2));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = f.source.clone();
            tokio::spawn(async move { s.get(t0()).await.map(|c| c.access_key.expose().to_owned()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "KEY1");
    }
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_failure_then_back_off() {
    let f = fixture(Some(secs(3600)), secs(2));
    f.failing.store(true, Ordering::SeqCst);
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let s = f.source.clone();
            tokio::spawn(async move { s.get(t0()).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(err.contains("source down (call 1)"), "{err}");
    }
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
    // Within the back-off (1 s after the failure at t0 + 2 s) nobody asks again.
    let err = key(&f, t0() + secs(2)).await.unwrap_err();
    assert!(err.contains("next attempt in"), "{err}");
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
    // After it, the source is asked again; the second failure doubles the back-off.
    key(&f, t0() + secs(4)).await.unwrap_err();
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    key(&f, t0() + secs(7)).await.unwrap_err();
    assert_eq!(f.calls.load(Ordering::SeqCst), 2);
    f.failing.store(false, Ordering::SeqCst);
    assert_eq!(key(&f, t0() + secs(9)).await.unwrap(), "KEY3");
}

#[tokio::test(start_paused = true)]
async fn a_failed_renewal_keeps_valid_credentials_but_never_sends_expired_ones() {
    let f = fixture(Some(secs(3600)), Duration::ZERO);
    key(&f, t0()).await.unwrap();
    f.failing.store(true, Ordering::SeqCst);
    // Due for renewal, renewal fails: the current credentials are still good.
    assert_eq!(key(&f, t0() + secs(3500)).await.unwrap(), "KEY1");
    // Expired (past the send margin): refused, with the reason.
    let err = key(&f, t0() + secs(3597)).await.unwrap_err();
    assert!(err.contains("source down"), "{err}");
    let err = key(&f, t0() + secs(4000)).await.unwrap_err();
    assert!(err.contains("source down"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn credentials_that_arrive_expired_are_refused() {
    let f = fixture(Some(secs(3)), Duration::ZERO);
    let err = key(&f, t0()).await.unwrap_err();
    assert!(err.contains("already expired"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_wait_for_a_fetch_counts_against_the_lifetime() {
    // The fetch takes 40 s and its credentials live 60 s from when it was asked: a request
    // that waited for it sees them with 20 s left, past half their lifetime, so the next
    // request renews them.
    let f = fixture(Some(secs(60)), secs(40));
    assert_eq!(key(&f, t0()).await.unwrap(), "KEY1");
    assert!(f.source.fresh(t0() + secs(40)).is_none());
}
