//! A blind tunnel between two TCP connections that holds no buffer while it is idle.
//!
//! Each direction waits for its source to turn readable with no buffer in hand
//! (`poll_read_ready`), then borrows one from a [`BufferPool`], reads and writes while bytes keep
//! coming, and gives it back as soon as everything read is written and the next read would
//! block. An idle tunnel is then two sockets and a small task; the buffers go to the tunnels
//! that are moving bytes. This is how HAProxy and nginx hold idle connections.
//!
//! An end of input on one side shuts down writing on the other, and the other direction goes on
//! (half-close); the tunnel ends when both directions have, on the first error, or when neither
//! has moved a byte for the idle timeout ([`IdleClock`], one for both directions).
//!
//! A plain copy through a user-space buffer rather than `splice(2)` through a pipe: it works
//! on every platform, needs no descriptors beyond the two sockets (a pipe per moving direction
//! would double them, where the open-file limit is what caps the number of tunnels), and no
//! unsafe code.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use super::idle::{IdleClock, IdleTimeout};

/// The size of a buffer lent to a moving direction. Larger than the 16 KiB of a TLS record: a
/// fast tunnel's cost is nearly all system calls and their wake-ups, and 64 KiB a turn takes a
/// third less CPU per GiB than 16 KiB (bench/tunnel_throughput.py); only moving tunnels pay it.
pub const BUFFER_SIZE: usize = 64 * 1024;

/// Buffers lent to tunnels while their bytes move; returned ones are kept for the next borrower,
/// up to a number, and the rest freed.
pub struct BufferPool {
    free: Mutex<Vec<Box<[u8]>>>,
    keep: usize,
    lent: AtomicUsize,
    lent_ever: AtomicUsize,
}

impl BufferPool {
    /// A pool that keeps at most `keep` returned buffers.
    pub const fn new(keep: usize) -> Self {
        BufferPool {
            free: Mutex::new(Vec::new()),
            keep,
            lent: AtomicUsize::new(0),
            lent_ever: AtomicUsize::new(0),
        }
    }

    /// Buffers out on loan now.
    pub fn lent(&self) -> usize {
        self.lent.load(Ordering::Relaxed)
    }

    /// Loans made so far.
    pub fn lent_ever(&self) -> usize {
        self.lent_ever.load(Ordering::Relaxed)
    }

    fn take(&self) -> Lent<'_> {
        let bytes = self.free_list().pop();
        let bytes = bytes.unwrap_or_else(|| vec![0; BUFFER_SIZE].into_boxed_slice());
        self.lent.fetch_add(1, Ordering::Relaxed);
        self.lent_ever.fetch_add(1, Ordering::Relaxed);
        Lent { bytes, pool: self }
    }

    fn free_list(&self) -> std::sync::MutexGuard<'_, Vec<Box<[u8]>>> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A buffer on loan, back to its pool when dropped.
struct Lent<'p> {
    bytes: Box<[u8]>,
    pool: &'p BufferPool,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.pool.lent.fetch_sub(1, Ordering::Relaxed);
        let mut free = self.pool.free_list();
        if free.len() < self.pool.keep {
            free.push(std::mem::take(&mut self.bytes));
        }
    }
}

/// Bytes a tunnel carried each way, counted as written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Carried {
    /// From the first connection to the second.
    pub a_to_b: u64,
    /// From the second connection to the first.
    pub b_to_a: u64,
}

/// Why a tunnel ended before both sides had closed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Neither side moved a byte for the idle timeout.
    #[error("tunnel {0}")]
    Idle(io::Error),
    /// Reading from one side failed.
    #[error("reading: {0}")]
    Read(io::Error),
    /// Writing to one side failed.
    #[error("writing: {0}")]
    Write(io::Error),
}

/// Relays bytes between `a` and `b` until both directions have ended, borrowing buffers from
/// `pool` only while bytes move; closed after `idle` without a byte either way.
pub async fn relay(
    a: TcpStream,
    b: TcpStream,
    idle: IdleTimeout,
    pool: &BufferPool,
) -> Result<Carried, RelayError> {
    let (carried, ended) = relay_counting(a, b, idle, pool).await;
    ended.map(|()| carried)
}

/// As [`relay`], with what was carried each way however the tunnel ended.
pub async fn relay_counting(
    mut a: TcpStream,
    mut b: TcpStream,
    idle: IdleTimeout,
    pool: &BufferPool,
) -> (Carried, Result<(), RelayError>) {
    let mut clock = IdleClock::new(idle);
    let mut a_to_b = Flow::default();
    let mut b_to_a = Flow::default();
    let ended = poll_fn(|cx| {
        let forth = a_to_b.poll(cx, &a, &mut b, pool, &mut clock)?;
        let back = b_to_a.poll(cx, &b, &mut a, pool, &mut clock)?;
        if forth.is_ready() && back.is_ready() {
            return Poll::Ready(Ok(()));
        }
        clock.poll_expired(cx).map_err(RelayError::Idle)?;
        Poll::Pending
    })
    .await;
    let carried = Carried {
        a_to_b: a_to_b.carried,
        b_to_a: b_to_a.carried,
    };
    (carried, ended)
}

/// One direction of a tunnel.
#[derive(Default)]
struct Flow<'p> {
    state: State<'p>,
    carried: u64,
}

#[derive(Default)]
enum State<'p> {
    /// Waiting for the source to turn readable, holding nothing.
    #[default]
    Waiting,
    /// `buf[start..end]` is still to be written.
    Writing {
        buf: Lent<'p>,
        start: usize,
        end: usize,
    },
    /// The source ended: shut down writing on the destination.
    Closing,
    Done,
}

impl<'p> Flow<'p> {
    /// Moves bytes from `from` to `to` until one of them would block (`Pending`, the task woken
    /// when it can go on) or this direction has ended (`Ready`). Every turn goes through a
    /// readiness poll, which spends tokio's cooperative budget: a fast tunnel yields to the
    /// other tasks of its thread.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        from: &TcpStream,
        to: &mut TcpStream,
        pool: &'p BufferPool,
        clock: &mut IdleClock,
    ) -> Poll<Result<(), RelayError>> {
        loop {
            match &mut self.state {
                State::Waiting => {
                    ready!(from.poll_read_ready(cx)).map_err(RelayError::Read)?;
                    self.state = read(from, pool.take())?;
                }
                State::Writing { buf, start, end } => {
                    ready!(to.poll_write_ready(cx)).map_err(RelayError::Write)?;
                    let pending = buf.bytes.get(*start..*end).unwrap_or_default();
                    match to.try_write(pending) {
                        Ok(n) => {
                            *start += n;
                            self.carried += n as u64;
                            clock.moved();
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Poll::Ready(Err(RelayError::Write(e))),
                    }
                    if start < end {
                        continue;
                    }
                    // Keep the buffer for the next read only if the source has more now.
                    let written = std::mem::take(&mut self.state);
                    ready!(from.poll_read_ready(cx)).map_err(RelayError::Read)?;
                    if let State::Writing { buf, .. } = written {
                        self.state = read(from, buf)?;
                    }
                }
                State::Closing => {
                    ready!(Pin::new(&mut *to).poll_shutdown(cx)).map_err(RelayError::Write)?;
                    self.state = State::Done;
                }
                State::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// Reads what `from` has into `buf`: the state that follows. A read that would block gives the
/// buffer back and waits again.
fn read<'p>(from: &TcpStream, mut buf: Lent<'p>) -> Result<State<'p>, RelayError> {
    match from.try_read(&mut buf.bytes) {
        Ok(0) => Ok(State::Closing),
        Ok(end) => Ok(State::Writing { buf, start: 0, end }),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(State::Waiting),
        Err(e) => Err(RelayError::Read(e)),
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
