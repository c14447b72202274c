//! A graceful stop: the accept loops stop, every client connection finishes the request it is
//! serving and closes, and whoever stops the proxy waits until none is left (within its own
//! bound: the drain timeout).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

/// Whether the proxy is stopping, and how many client connections are still being served.
#[derive(Debug)]
pub struct Drain {
    stopping: watch::Sender<bool>,
    active: AtomicUsize,
    idle: Notify,
}

/// A client connection being served; dropping it counts it out.
#[derive(Debug)]
pub struct Active(Arc<Drain>);

impl Drain {
    /// Nothing served yet, not stopping.
    pub fn new() -> Arc<Self> {
        Arc::new(Drain {
            stopping: watch::Sender::new(false),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
        })
    }

    /// Counts a client connection in until the returned guard drops.
    pub fn enter(self: &Arc<Self>) -> Active {
        self.active.fetch_add(1, Ordering::AcqRel);
        Active(self.clone())
    }

    /// Tells every accept loop and connection to stop.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Resolves once [`Drain::stop`] was called (at once if it was already). A connection
    /// that sees it asks hyper to finish the request under way and close.
    pub async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }

    /// Client connections being served.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Resolves when no client connection is being served.
    pub async fn drained(&self) {
        loop {
            // Registered before the count is read, so that the last drop cannot slip between.
            let idle = self.idle.notified();
            if self.active() == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drained_waits_for_the_last_connection() {
        let drain = Drain::new();
        let first = drain.enter();
        let second = drain.enter();
        drain.stop();
        drain.stopped().await;
        let waiting = tokio::spawn({
            let drain = drain.clone();
            async move { drain.drained().await }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(drain.active(), 1);
        drop(second);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("drained once the last connection is gone")
            .unwrap();
    }
}
