//! The last requests signet handled, for the admin page: a ring of a fixed size.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use crate::proxy::access::AccessRecord;

/// One handled request, as the access log writes it (the query left out: it may carry a
/// credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentRequest {
    /// When it was answered.
    pub time: SystemTime,
    /// The client's address.
    pub client: String,
    /// The method (`CONNECT` for a tunnel).
    pub method: String,
    /// `host:port`.
    pub host: String,
    /// The path, without its query.
    pub path: String,
    /// The rule's label (`no rule` when none applied).
    pub rule: String,
    /// The status sent to the client.
    pub status: u16,
    /// What signet did: signed, tunnelled, refused and why, ….
    pub action: String,
}

/// The last `capacity` requests, the oldest dropped first.
#[derive(Debug)]
pub struct RecentRequests {
    capacity: usize,
    rows: Mutex<VecDeque<RecentRequest>>,
}

impl RecentRequests {
    /// How many rows the admin page keeps by default.
    pub const DEFAULT_CAPACITY: usize = 100;

    /// An empty ring of `capacity` rows (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        RecentRequests {
            capacity,
            rows: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// Adds a row, dropping the oldest when full.
    pub fn push(&self, row: RecentRequest) {
        let mut rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        if rows.len() == self.capacity {
            rows.pop_front();
        }
        rows.push_back(row);
    }

    /// The rows, newest first.
    pub fn newest_first(&self) -> Vec<RecentRequest> {
        let rows = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
        rows.iter().rev().cloned().collect()
    }
}

impl From<&AccessRecord> for RecentRequest {
    fn from(record: &AccessRecord) -> Self {
        let host = if record.host.contains(':') {
            format!("[{}]:{}", record.host, record.port)
        } else {
            format!("{}:{}", record.host, record.port)
        };
        let path = record.path.split('?').next().unwrap_or_default();
        let action = match &record.reason {
            Some(reason) => format!("{}: {reason}", record.action.as_str()),
            None => record.action.as_str().to_owned(),
        };
        RecentRequest {
            time: record.time,
            client: record.client.map(|c| c.to_string()).unwrap_or_default(),
            method: record.method.to_string(),
            host,
            path: path.to_owned(),
            rule: record.rule.as_deref().unwrap_or("no rule").to_owned(),
            status: record.status,
            action,
        }
    }
}

impl Default for RecentRequests {
    fn default() -> Self {
        RecentRequests::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: u16) -> RecentRequest {
        RecentRequest {
            time: SystemTime::UNIX_EPOCH,
            client: "127.0.0.1:1".into(),
            method: "GET".into(),
            host: "api.test:443".into(),
            path: "/".into(),
            rule: "no rule".into(),
            status,
            action: "forwarded".into(),
        }
    }

    #[test]
    fn the_oldest_row_goes_first_and_rows_read_newest_first() {
        let ring = RecentRequests::new(2);
        ring.push(row(200));
        ring.push(row(401));
        ring.push(row(403));
        let statuses: Vec<u16> = ring.newest_first().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [403, 401]);
    }
}
