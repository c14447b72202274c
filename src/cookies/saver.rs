//! The jar file's writer: a thread of its own, so that a slow disk never stalls the
//! single-threaded runtimes that serve requests. Saves coalesce: however many changes arrive
//! while a write is under way, they cost one more write, of the state at that moment.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use time::OffsetDateTime;

use super::{Jar, save};

/// Counts rather than a flag, so that `flush` can wait for the saves asked for before it.
#[derive(Default)]
struct State {
    /// Saves asked for so far.
    asked: u64,
    /// Saves covered by a finished write (a write covers every save asked for before it began).
    written: u64,
    /// Writes begun, for the log (and the coalescing test).
    saves: u64,
    /// The owner is gone: write what is pending, then stop.
    closing: bool,
    /// The writer has stopped (also after a panic): nobody is left to wait for.
    stopped: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer (a save asked for, or closing) and `flush` callers (a write finished).
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self, jar: &Jar, file: &Path, write: &WriteJar) {
        let _stopped = Stopped(self);
        let mut state = self.lock();
        loop {
            if state.written < state.asked {
                // Changes made after this point ask for another save, so the last state is
                // always written.
                let covers = state.asked;
                state.saves += 1;
                let saves = state.saves;
                drop(state);
                match write(jar, file) {
                    Ok(()) => tracing::debug!(saves, "saved the cookie jar"),
                    Err(e) => tracing::warn!(error = %e, "cannot save the cookie jar"),
                }
                state = self.lock();
                state.written = covers;
                self.changed.notify_all();
            } else if state.closing {
                return;
            } else {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }
}

/// Marks the writer stopped however it ends, so that `flush` never waits on a dead thread.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
        self.0.changed.notify_all();
    }
}

/// Writes the jar to its file.
pub(super) type WriteJar = dyn Fn(&Jar, &Path) -> Result<(), super::CookieError> + Send;

/// Saves a jar to its file from a background thread; dropping it writes what is pending.
pub(super) struct Saver {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Saver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saver").finish_non_exhaustive()
    }
}

impl Saver {
    /// Starts the writer thread for `jar` and its `file`.
    pub(super) fn start(jar: Arc<Jar>, file: PathBuf) -> std::io::Result<Saver> {
        Self::start_with(
            jar,
            file,
            Box::new(|jar, file| save(jar, file, OffsetDateTime::now_utc())),
        )
    }

    /// As [`Saver::start`], writing with `write` (tests stall it).
    pub(super) fn start_with(
        jar: Arc<Jar>,
        file: PathBuf,
        write: Box<WriteJar>,
    ) -> std::io::Result<Saver> {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("signet-cookies".into())
            .spawn(move || writer.run(&jar, &file, &write))?;
        Ok(Saver {
            shared,
            thread: Some(thread),
        })
    }

    /// Asks for a save of the jar as it is now (or later); returns at once.
    pub(super) fn schedule(&self) {
        self.shared.lock().asked += 1;
        self.shared.changed.notify_all();
    }

    /// Blocks until every save asked for so far has been written (or has failed and been
    /// logged).
    pub(super) fn flush(&self) {
        let mut state = self.shared.lock();
        let asked = state.asked;
        while state.written < asked && !state.stopped {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
impl Saver {
    /// Writes begun so far.
    pub(super) fn saves(&self) -> u64 {
        self.shared.lock().saves
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
