//! The token store file: one JSON file per profile, mode 0600, replaced atomically so that a
//! crash or a concurrent `signet login` never leaves half a file behind. Writes run on tokio's
//! blocking threads, in the order they were asked for.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use super::token::{Stored, Token};

/// Why the token file could not be read or written. Never includes the file's content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("token store {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a token store signet wrote.
    #[error("token store {path} is not valid (delete it to start over): {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error, without content.
        reason: String,
    },
}

/// Tells one version of the store file from another without reading it: a save replaces the
/// file (a new inode), and an edit in place changes its size or modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

/// Where one profile's tokens are kept.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
    order: Arc<SaveOrder>,
}

/// Keeps the saves of one store in order, although each runs on whichever blocking thread is
/// free: a save asked for earlier must not replace the token of one asked for later.
#[derive(Debug, Default)]
struct SaveOrder {
    /// The last ticket handed out; a save's ticket is taken when it is asked for.
    issued: AtomicU64,
    /// The ticket of the token in the file, held while the file is written.
    written: Mutex<u64>,
    /// Saves that have ended, written, skipped or failed.
    settled: AtomicU64,
}

impl TokenFile {
    /// A store at `path` (not touched until read or written).
    pub fn new(path: PathBuf) -> Self {
        TokenFile {
            path,
            order: Arc::default(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's stamp; `None` when there is no file (or it cannot be looked at, which the read
    /// that follows reports).
    pub fn stamp(&self) -> Option<Stamp> {
        let meta = std::fs::metadata(&self.path).ok()?;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&meta),
        })
    }

    /// The stored token; `Ok(None)` when there is no file yet.
    pub fn load(&self) -> Result<Option<Token>, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            // serde_json's message names a line and column, never the text there.
            reason: format!("line {} column {}", e.line(), e.column()),
        })?;
        Ok(Some(stored.into()))
    }

    /// Writes `token` on a blocking thread, so that a slow disk stalls no connection; the write
    /// starts now, and the future tells how it ended. Saves take effect in the order they were
    /// asked for: one overtaken by a later save is skipped.
    pub fn save(&self, token: Token) -> impl Future<Output = Result<(), StoreError>> + use<> {
        let ticket = self.order.issued.fetch_add(1, Ordering::Relaxed) + 1;
        let file = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let written = file.write_in_order(ticket, &token);
            file.order.settled.fetch_add(1, Ordering::AcqRel);
            written
        });
        let path = self.path.clone();
        async move {
            task.await.unwrap_or_else(|e| {
                Err(StoreError::Io {
                    path,
                    source: std::io::Error::other(e),
                })
            })
        }
    }

    /// Waits until every save asked for so far has ended, for at most `within`; whether they
    /// all did. For a stop: not for a runtime thread.
    pub fn flush(&self, within: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        loop {
            let asked = self.order.issued.load(Ordering::Acquire);
            if self.order.settled.load(Ordering::Acquire) >= asked {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Writes `token` unless the file already holds the token of a later ticket.
    fn write_in_order(&self, ticket: u64, token: &Token) -> Result<(), StoreError> {
        let mut written = self
            .order
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *written > ticket {
            return Ok(());
        }
        self.write(token)?;
        *written = ticket;
        Ok(())
    }

    /// Writes `token` atomically, mode 0600 (its directory 0700 when created).
    fn write(&self, token: &Token) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(&Stored::from(token))
            .expect("a token always serializes to JSON");
        crate::fsutil::write_atomic(&self.path, &json, 0o600, 0o700).map_err(|source| {
            StoreError::Io {
                path: self.path.clone(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::secret::Secret;

    fn token() -> Token {
        Token {
            access_token: Secret::new("at"),
            refresh_token: Some(Secret::new("rt")),
            id_token: None,
            token_type: Some("Bearer".into()),
            expires_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            scopes: vec!["read".into()],
        }
    }

    #[test]
    fn round_trip_survives_a_new_store_object() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens/p.json");
        TokenFile::new(path.clone()).write(&token()).unwrap();
        assert_eq!(TokenFile::new(path).load().unwrap(), Some(token()));
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private_and_no_temp_file_remains() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let store = TokenFile::new(path.clone());
        store.write(&token()).unwrap();
        store.write(&token()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn missing_file_is_no_token_and_garbage_is_an_error_without_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        assert_eq!(TokenFile::new(path.clone()).load().unwrap(), None);
        std::fs::write(&path, "secretvalue{").unwrap();
        let e = TokenFile::new(path).load().unwrap_err().to_string();
        assert!(e.contains("not valid") && !e.contains("secretvalue"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_save_changes_the_stamp_and_a_missing_file_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenFile::new(dir.path().join("p.json"));
        assert_eq!(store.stamp(), None);
        store.write(&token()).unwrap();
        let first = store.stamp().unwrap();
        assert_eq!(store.stamp(), Some(first));
        // The same content again: still another file.
        store.write(&token()).unwrap();
        assert_ne!(store.stamp(), Some(first));
    }

    fn token_numbered(n: u64) -> Token {
        Token {
            access_token: Secret::new(format!("at-{n}")),
            ..token()
        }
    }

    #[test]
    fn a_save_overtaken_by_a_later_one_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenFile::new(dir.path().join("p.json"));
        let first = store.order.issued.fetch_add(1, Ordering::Relaxed) + 1;
        let second = store.order.issued.fetch_add(1, Ordering::Relaxed) + 1;
        // The blocking threads ran the second save before the first.
        store.write_in_order(second, &token_numbered(2)).unwrap();
        store.write_in_order(first, &token_numbered(1)).unwrap();
        assert_eq!(store.load().unwrap(), Some(token_numbered(2)));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn saves_are_written_in_the_background_and_the_last_asked_for_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenFile::new(dir.path().join("p.json"));
        // With the write lock held by this (the runtime's) thread, a save written in place would
        // never return; queued on blocking threads, the saves wait for it in any order.
        let held = store.order.written.lock().unwrap();
        let saves: Vec<_> = (1..=5).map(|n| store.save(token_numbered(n))).collect();
        drop(held);
        for save in saves {
            save.await.unwrap();
        }
        assert_eq!(store.load().unwrap(), Some(token_numbered(5)));
    }
}
