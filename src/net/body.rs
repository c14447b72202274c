//! Request and response bodies: streamed by default, buffered only when a scheme must see them.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full};

/// Errors carried by proxied bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type signet sends in both directions.
pub type ProxyBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A body of fixed bytes.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Any hyper-compatible body, boxed.
pub fn stream<B>(body: B) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// A request body on its way upstream: bytes that can be sent again, or a stream that can't.
pub enum Outgoing {
    /// In memory (buffered within the limit, or empty).
    Buffered(Bytes),
    /// Streaming from the client.
    Streamed(ProxyBody),
}

impl Outgoing {
    /// The body to hand to a client.
    pub fn into_body(self) -> ProxyBody {
        match self {
            Outgoing::Buffered(bytes) => full(bytes),
            Outgoing::Streamed(body) => body,
        }
    }
}

/// A streamed body that tells when it has been read to its end: the receiver completes when the
/// last frame (or an error) has been read, or when the body is dropped unread. A body already at
/// its end (a GET's) needs no watching: `None`.
pub fn watch_end(body: ProxyBody) -> (ProxyBody, Option<tokio::sync::oneshot::Receiver<()>>) {
    if body.is_end_stream() {
        return (body, None);
    }
    let (done, ended) = tokio::sync::oneshot::channel();
    let watched = Watched {
        inner: body,
        done: Some(done),
    };
    (watched.boxed(), Some(ended))
}

/// The body of [`watch_end`].
struct Watched {
    inner: ProxyBody,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) || self.inner.is_end_stream() {
            self.done.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A change made to a body's bytes as they stream (re-signing the framing of an upload): bytes
/// in, bytes out, and a last word when the body ends. An error ends the body with that error,
/// so that the request it was part of is abandoned, not sent short.
pub trait Rewrite: Send + Sync + Unpin + 'static {
    /// Why the body cannot go on.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads the next bytes; appends what goes on to `out`.
    fn feed(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), Self::Error>;

    /// The body ended: appends its last bytes to `out`, or fails when it was incomplete.
    fn finish(&mut self, out: &mut BytesMut) -> Result<(), Self::Error>;
}

/// The error a [`Rewrite`] ended a body with.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RewriteError(#[source] pub BoxError);

/// `body` with its data run through `rewrite`; trailers pass as they are, after the end.
pub fn rewritten<R: Rewrite>(body: ProxyBody, rewrite: R) -> ProxyBody {
    Rewritten {
        inner: body,
        rewrite,
        out: BytesMut::new(),
        trailers: None,
        ended: false,
    }
    .boxed()
}

struct Rewritten<R> {
    inner: ProxyBody,
    rewrite: R,
    out: BytesMut,
    /// Trailers that came at the end, sent after the rewrite's last bytes.
    trailers: Option<http::HeaderMap>,
    ended: bool,
}

impl<R: Rewrite> Rewritten<R> {
    /// The output gathered so far as one frame, if there is any.
    fn flush(&mut self) -> Option<Result<Frame<Bytes>, BoxError>> {
        (!self.out.is_empty()).then(|| Ok(Frame::data(self.out.split().freeze())))
    }

    fn end(&mut self) -> Result<(), BoxError> {
        self.ended = true;
        self.rewrite
            .finish(&mut self.out)
            .map_err(|e| RewriteError(e.into()).into())
    }
}

impl<R: Rewrite> Body for Rewritten<R> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.ended {
                let rest = this.flush();
                let trailers = || this.trailers.take().map(|t| Ok(Frame::trailers(t)));
                return Poll::Ready(rest.or_else(trailers));
            }
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                None => {
                    if let Err(e) = this.end() {
                        return Poll::Ready(Some(Err(e)));
                    }
                    continue;
                }
                Some(Err(e)) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Some(Ok(frame)) => frame,
            };
            match frame.into_data() {
                Ok(data) => {
                    if let Err(e) = this.rewrite.feed(&data, &mut this.out) {
                        this.ended = true;
                        this.out.clear();
                        return Poll::Ready(Some(Err(RewriteError(e.into()).into())));
                    }
                    if let Some(frame) = this.flush() {
                        return Poll::Ready(Some(frame));
                    }
                }
                Err(frame) => {
                    this.trailers = frame.into_trailers().ok();
                    if let Err(e) = this.end() {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.out.is_empty() && self.trailers.is_none()
    }
}

/// The outcome of trying to buffer a body within a limit.
pub enum Buffered<B> {
    /// The whole body fit.
    Complete(Bytes),
    /// The body is larger than the limit: what was read so far, and the rest, still streaming.
    Overflow(Prefixed<B>),
}

/// Reads `body` into memory, stopping as soon as it exceeds `limit` bytes.
pub async fn buffer<B>(mut body: B, limit: usize) -> Result<Buffered<B>, BoxError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut chunks: VecDeque<Bytes> = VecDeque::new();
    let mut size = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Into::into)?;
        // Trailers are rare on requests; a buffered body drops them rather than buffer twice.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len();
        chunks.push_back(data);
        if size > limit {
            return Ok(Buffered::Overflow(Prefixed {
                prefix: chunks,
                rest: body,
            }));
        }
    }
    if chunks.len() == 1 {
        return Ok(Buffered::Complete(chunks.pop_front().unwrap_or_default()));
    }
    let mut all = BytesMut::with_capacity(size);
    for chunk in chunks {
        all.extend_from_slice(&chunk);
    }
    Ok(Buffered::Complete(all.freeze()))
}

/// A body whose first chunks were already read: they are sent first, then the rest streams.
pub struct Prefixed<B> {
    prefix: VecDeque<Bytes>,
    rest: B,
}

impl<B> Prefixed<B> {
    /// The bytes already read, in one piece.
    pub fn head(&self) -> Bytes {
        let mut head = BytesMut::with_capacity(self.prefix.iter().map(Bytes::len).sum());
        for chunk in &self.prefix {
            head.extend_from_slice(chunk);
        }
        head.freeze()
    }
}

impl<B> Body for Prefixed<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(chunk) = self.prefix.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_empty() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let buffered: u64 = self.prefix.iter().map(|c| c.len() as u64).sum();
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + buffered);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + buffered);
        }
        hint
    }
}

/// What is left of a client's HTTP/2 request body when signet stops reading it (it answered
/// early: a 413, a 502, or the upstream's own early answer). Dropping an unfinished HTTP/2
/// request body resets the stream: a reset that overtakes the answer loses the answer, and
/// clients such as curl 7.88 report even a reset after it as an error. So the rest is kept
/// until the answer has gone out, then read and dropped, up to a limit.
#[derive(Clone, Default)]
pub struct BodyKeeper(Arc<Mutex<Option<ProxyBody>>>);

/// The most of an unwanted request body read after an early answer; past it, the stream is
/// reset.
const DRAIN_LIMIT: usize = 64 << 20;
/// How long it may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

impl BodyKeeper {
    fn take(&self) -> Option<ProxyBody> {
        self.0.lock().ok()?.take()
    }
}

/// A request body that leaves what is unread with a [`BodyKeeper`] when dropped.
pub struct Kept<B>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    inner: Option<B>,
    keeper: Option<BodyKeeper>,
}

impl<B> Kept<B>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    /// `inner`, kept by `keeper` when dropped unfinished (`None`: dropped as usual).
    pub fn new(inner: B, keeper: Option<BodyKeeper>) -> Self {
        Kept {
            inner: Some(inner),
            keeper,
        }
    }
}

impl<B> Body for Kept<B>
where
    B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl<B> Drop for Kept<B>
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    fn drop(&mut self) {
        if let (Some(keeper), Some(inner)) = (&self.keeper, self.inner.take())
            && !inner.is_end_stream()
            && let Ok(mut slot) = keeper.0.lock()
        {
            *slot = Some(stream(inner));
        }
    }
}

/// A response body that, once sent, reads and drops what `keeper` kept of the request body.
pub fn holding(body: ProxyBody, keeper: BodyKeeper) -> ProxyBody {
    Holding { body, keeper }.boxed()
}

struct Holding {
    body: ProxyBody,
    keeper: BodyKeeper,
}

impl Body for Holding {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        if let Some(rest) = self.keeper.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(drain(rest));
        }
    }
}

/// Reads and drops `rest`, up to [`DRAIN_LIMIT`] bytes within [`DRAIN_TIME`].
async fn drain(mut rest: ProxyBody) {
    let read = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = rest.frame().await {
            seen = seen.saturating_add(frame.data_ref().map_or(0, Bytes::len));
            if seen > DRAIN_LIMIT {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that yields the given chunks one frame at a time.
    struct Chunks(VecDeque<&'static [u8]>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|c| Ok(Frame::data(Bytes::from_static(c)))),
            )
        }
    }

    fn chunks(parts: &[&'static [u8]]) -> Chunks {
        Chunks(parts.iter().copied().collect())
    }

    #[tokio::test]
    async fn body_within_limit_is_complete() {
        let Buffered::Complete(all) = buffer(chunks(&[b"ab", b"cd"]), 4).await.unwrap() else {
            panic!("expected the whole body");
        };
        assert_eq!(&all[..], b"abcd");
    }

    #[tokio::test]
    async fn overflow_keeps_every_byte_in_order() {
        let Buffered::Overflow(rest) = buffer(chunks(&[b"ab", b"cd", b"ef"]), 3).await.unwrap()
        else {
            panic!("expected overflow");
        };
        let bytes = rest.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"abcdef");
    }
}
