//! Who may hold a client connection: at most `max_connections` at once, over every serving
//! runtime (further clients wait in the kernel's accept queue, so signet never spins on
//! accept), and at most `max_connections_per_ip` per client address when signet listens
//! beyond loopback.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The caps, shared by every serving runtime.
#[derive(Debug)]
pub struct Admission {
    total: Arc<Semaphore>,
    per_ip: usize,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A client connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct Admitted {
    _total: OwnedSemaphorePermit,
    /// The address counted against its own cap, when one applies.
    ip: Option<(IpAddr, Arc<Admission>)>,
}

impl Admission {
    /// At most `total` connections, and `per_ip` per client address where that applies.
    pub fn new(total: usize, per_ip: usize) -> Arc<Self> {
        Arc::new(Admission {
            total: Arc::new(Semaphore::new(total.min(Semaphore::MAX_PERMITS))),
            per_ip,
            by_ip: Mutex::default(),
        })
    }

    /// Waits until a connection may be accepted.
    pub async fn place(&self) -> Option<OwnedSemaphorePermit> {
        self.total.clone().acquire_owned().await.ok()
    }

    /// Admits a connection from `ip` holding `place`; `None` when `ip` already holds its cap
    /// (counted only when `per_ip_applies`: listening beyond loopback).
    pub fn admit(
        self: &Arc<Self>,
        place: OwnedSemaphorePermit,
        ip: IpAddr,
        per_ip_applies: bool,
    ) -> Option<Admitted> {
        if !per_ip_applies {
            return Some(Admitted {
                _total: place,
                ip: None,
            });
        }
        let mut by_ip = self.lock();
        let held = by_ip.entry(ip).or_insert(0);
        if *held >= self.per_ip {
            return None;
        }
        *held += 1;
        Some(Admitted {
            _total: place,
            ip: Some((ip, self.clone())),
        })
    }

    /// The cap per client address.
    pub fn per_ip(&self) -> usize {
        self.per_ip
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.by_ip.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some((ip, admission)) = &self.ip {
            let mut by_ip = admission.lock();
            if let Some(held) = by_ip.get_mut(ip) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    by_ip.remove(ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn places_come_back_and_each_address_has_its_own_cap() {
        let admission = Admission::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let first = admission
            .admit(admission.place().await.unwrap(), a, true)
            .unwrap();
        let second = admission
            .admit(admission.place().await.unwrap(), a, true)
            .unwrap();
        assert!(
            admission
                .admit(admission.place().await.unwrap(), a, true)
                .is_none()
        );
        let other = admission
            .admit(admission.place().await.unwrap(), b, true)
            .unwrap();
        // Three held: a fourth waits.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), admission.place());
        assert!(waiting.await.is_err(), "a fourth connection got a place");
        drop(first);
        let again = admission.admit(admission.place().await.unwrap(), a, true);
        assert!(again.is_some(), "a freed place was not given back");
        drop((second, other, again));
        assert!(
            admission.lock().is_empty(),
            "addresses without connections are forgotten"
        );
    }
}
