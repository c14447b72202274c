//! Closing connections that carry nothing: an I/O wrapper that fails once neither side has
//! moved a byte for its idle timeout.
//!
//! The clock is read only when the timer fires, never per read or write: progress just sets a
//! flag, and the timer ticks every half timeout, so an idle connection is closed after between
//! one and one and a half timeouts. The timeout sits behind a shared [`IdleTimeout`] handle so
//! that a connection which turns into a tunnel (CONNECT, WebSocket) can be given the longer
//! tunnel timeout without reaching into the layers above it. [`IdleClock`] is the same clock on
//! its own, for a tunnel relayed by readiness rather than through a wrapper.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The idle timeout of one connection, shared with whoever may change it.
#[derive(Debug, Clone)]
pub struct IdleTimeout(Arc<AtomicU64>);

impl IdleTimeout {
    /// A timeout of `after`.
    pub fn new(after: Duration) -> Self {
        IdleTimeout(Arc::new(AtomicU64::new(millis(after))))
    }

    /// From now on, the connection may idle for `after`.
    pub fn set(&self, after: Duration) {
        self.0.store(millis(after), Ordering::Relaxed);
    }

    /// The timeout now.
    pub fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(2)
}

/// Whether a connection has moved a byte within its timeout; [`Idle`] keeps one for the stream
/// it wraps, [`crate::net::relay`] one for both sides of a tunnel.
pub struct IdleClock {
    timeout: IdleTimeout,
    /// Fires every half timeout.
    tick: Pin<Box<Sleep>>,
    /// Bytes moved since the last tick.
    active: bool,
    /// Ticks in a row without a byte moved.
    idle_ticks: u8,
    /// The timeout the ticks are counted against; a new one starts the count again.
    counting: Duration,
}

impl IdleClock {
    /// A clock starting now, against `timeout`.
    pub fn new(timeout: IdleTimeout) -> Self {
        let counting = timeout.get();
        IdleClock {
            timeout,
            tick: Box::pin(tokio::time::sleep_until(Instant::now() + counting / 2)),
            active: false,
            idle_ticks: 0,
            counting,
        }
    }

    /// Bytes moved.
    pub fn moved(&mut self) {
        self.active = true;
    }

    /// While waiting for the stream: `Err` once nothing has moved for the timeout, else `Ok`
    /// with the timer registered to wake the task.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while self.tick.as_mut().poll(cx).is_ready() {
            let timeout = self.timeout.get();
            if std::mem::take(&mut self.active) || timeout != self.counting {
                self.idle_ticks = 0;
                self.counting = timeout;
            } else {
                self.idle_ticks = self.idle_ticks.saturating_add(1);
                if self.idle_ticks >= 2 {
                    let after = timeout.as_secs();
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("idle for {after}s"),
                    ));
                }
            }
            self.tick.as_mut().reset(Instant::now() + timeout / 2);
        }
        Ok(())
    }
}

/// `T`, failing with [`io::ErrorKind::TimedOut`] once it has been idle for its timeout.
pub struct Idle<T> {
    inner: T,
    clock: IdleClock,
}

impl<T> Idle<T> {
    /// Wraps `inner`, idle for at most `timeout`.
    pub fn new(inner: T, timeout: IdleTimeout) -> Self {
        Idle {
            inner,
            clock: IdleClock::new(timeout),
        }
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The stream inside, no longer watched.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Notes `moved` bytes as progress; checks the timer when the stream is not ready. A flush
    /// with nothing to flush is no progress.
    fn track<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
        moved: impl FnOnce(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        match poll {
            Poll::Ready(result) => {
                if result.as_ref().is_ok_and(moved) {
                    self.clock.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.clock.poll_expired(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len() > before;
        this.track(cx, poll, |_| read)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track(cx, poll, |n| *n > 0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.track(cx, poll, |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.track(cx, poll, |()| false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_times_out_and_a_busy_one_does_not() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut idle = Idle::new(near, IdleTimeout::new(Duration::from_secs(10)));
        // Bytes every 4 s keep it open well past the timeout.
        let talk = async {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                far.write_all(b"x").await.unwrap();
            }
            far
        };
        let mut buf = [0u8; 1];
        let listen = async {
            for _ in 0..10 {
                idle.read_exact(&mut buf).await.unwrap();
            }
        };
        let (far, ()) = tokio::join!(talk, listen);
        let start = Instant::now();
        let err = idle.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(10) && waited <= Duration::from_secs(15),
            "closed after {waited:?}"
        );
        drop(far);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_can_be_lengthened_for_a_tunnel() {
        let (near, _far) = tokio::io::duplex(64);
        let timeout = IdleTimeout::new(Duration::from_secs(10));
        let mut idle = Idle::new(near, timeout.clone());
        timeout.set(Duration::from_secs(100));
        let start = Instant::now();
        let mut buf = [0u8; 1];
        let err = idle.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            start.elapsed() >= Duration::from_secs(100),
            "{:?}",
            start.elapsed()
        );
    }
}
