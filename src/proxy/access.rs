//! The access log: one [`AccessRecord`] per request, tunnel and refusal, written at INFO on the
//! target [`TARGET`] when the exchange ends (the response body sent, or the tunnel closed), then
//! handed to the listener set with [`AccessLog::listen`] (the admin page keeps the last ones).
//!
//! A record names what the client asked for and what signet did, never a credential: the path is
//! the client's, before signing, and its query is left out when the rule's scheme puts its
//! credential in the query.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};

use super::respond::{self, ProxyError};
use crate::auth::Scheme;
use crate::metrics::Metrics;
use crate::net::body::{BoxError, ProxyBody};
use crate::rules::{Destination, EgressRefusal};

mod text;
pub use text::Text;

/// The `tracing` target of access log lines.
pub const TARGET: &str = "signet::access";

/// What signet did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sent on without credentials (no rule, or `auth = "none"`).
    Forwarded,
    /// Signed by the rule's scheme.
    Signed,
    /// The upstream's challenge (Digest, NTLM, Negotiate) was answered and the request sent again.
    ChallengeAnswered,
    /// The upstream refused the token; a fresh one was fetched and the request sent again.
    TokenRefreshed,
    /// Signed again and sent once more after the upstream's answer.
    Replayed,
    /// A CONNECT tunnel, passed through byte for byte.
    Tunnelled,
    /// A CONNECT tunnel that signet intercepted (its requests have lines of their own).
    Intercepted,
    /// signet answered itself (see the record's `reason`).
    Refused,
}

impl Action {
    /// The name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Forwarded => "forwarded",
            Action::Signed => "signed",
            Action::ChallengeAnswered => "challenge_answered",
            Action::TokenRefreshed => "token_refreshed",
            Action::Replayed => "replayed",
            Action::Tunnelled => "tunnelled",
            Action::Intercepted => "intercepted",
            Action::Refused => "refused",
        }
    }

    /// What a replay under `scheme` was.
    pub fn replay_by(scheme: &Scheme) -> Self {
        match scheme.type_name() {
            "digest" | "ntlm" | "negotiate" => Action::ChallengeAnswered,
            "oauth2" => Action::TokenRefreshed,
            _ => Action::Replayed,
        }
    }
}

/// One finished request, tunnel or refusal.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    /// When the request arrived.
    pub time: SystemTime,
    /// The client's address, when known.
    pub client: Option<SocketAddr>,
    /// The request method (`CONNECT` for tunnels).
    pub method: Method,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The destination host (IPv6 without brackets); empty when the request named none.
    pub host: Text,
    /// The destination port (0 when the request named none).
    pub port: u16,
    /// Path and query as the client sent them (the query left out where the rule puts a
    /// credential there); empty for tunnels.
    pub path: Text,
    /// The rule's name; `None` under no rule.
    pub rule: Option<Arc<str>>,
    /// The auth type applied (`none` when nothing was added).
    pub auth: &'static str,
    /// What signet did.
    pub action: Action,
    /// Why signet refused, or how a tunnel ended badly.
    pub reason: Option<String>,
    /// The status the client got.
    pub status: u16,
    /// Body bytes from the client (for a tunnel: every byte the client sent through it).
    pub bytes_in: u64,
    /// Body bytes to the client (for a tunnel: every byte the origin sent through it).
    pub bytes_out: u64,
    /// From the request's arrival to the end of the response body or of the tunnel.
    pub duration: Duration,
}

type Listener = Box<dyn Fn(&AccessRecord) + Send + Sync>;

/// Where finished records go: the log, then the listener.
#[derive(Default)]
pub struct AccessLog {
    listener: OnceLock<Listener>,
    writer: OnceLock<Listener>,
}

impl AccessLog {
    /// Hands every finished record to `listener` as well; `false` when one is already set.
    pub fn listen(&self, listener: impl Fn(&AccessRecord) + Send + Sync + 'static) -> bool {
        self.listener.set(Box::new(listener)).is_ok()
    }

    /// Writes the log's lines with `writer` instead of as `tracing` events; `false` when one is
    /// already set. The writer gets every record: set it only where the filter, fixed for the
    /// process, enables [`TARGET`] at INFO (the answer is then known once, not asked per
    /// record). `signet run` writes its text lines so, as cheaply as a line can be.
    pub fn write_with(&self, writer: impl Fn(&AccessRecord) + Send + Sync + 'static) -> bool {
        self.writer.set(Box::new(writer)).is_ok()
    }

    /// The one place every finished record passes.
    pub fn finish(&self, record: AccessRecord) {
        self.finish_ref(&record);
    }

    /// [`AccessLog::finish`] for a record that stays where it is.
    fn finish_ref(&self, record: &AccessRecord) {
        match self.writer.get() {
            Some(writer) => writer(record),
            None => write_line(record),
        }
        if let Some(listener) = self.listener.get() {
            listener(record);
        }
    }
}

/// The log line: field names are stable (the JSON log carries them as they are). Every value is
/// a string or an integer, so that a subscriber records each without formatting machinery.
fn write_line(r: &AccessRecord) {
    let mut client = Small::default();
    if let Some(addr) = r.client {
        write_socket_addr(&mut client, addr);
    }
    let mut host = Small::default();
    if r.host.contains(':') {
        host.push(b"[");
        host.push(r.host.as_bytes());
        host.push(b"]");
    } else {
        host.push(r.host.as_bytes());
    }
    host.push(b":");
    host.push_u64(u64::from(r.port));
    tracing::info!(
        target: TARGET,
        client = r.client.map(|_| client.as_str()),
        method = r.method.as_str(),
        scheme = r.scheme,
        host = host.as_str(),
        path = r.path.as_str(),
        rule = r.rule.as_deref(),
        auth = r.auth,
        action = r.action.as_str(),
        reason = r.reason.as_deref(),
        status = r.status,
        bytes_in = r.bytes_in,
        bytes_out = r.bytes_out,
        duration_us = u64::try_from(r.duration.as_micros()).unwrap_or(u64::MAX),
        "access"
    );
}

/// A short string built on the stack (an address, `host:port`); what does not fit is cut.
struct Small {
    bytes: [u8; 300],
    len: usize,
}

impl Default for Small {
    fn default() -> Self {
        Small {
            bytes: [0; 300],
            len: 0,
        }
    }
}

impl Small {
    fn push(&mut self, more: &[u8]) {
        let room = self.bytes.len() - self.len;
        let n = more.len().min(room);
        if let (Some(to), Some(from)) = (self.bytes.get_mut(self.len..self.len + n), more.get(..n))
        {
            to.copy_from_slice(from);
            self.len += n;
        }
    }

    fn push_u64(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(digits.get(at..).unwrap_or_default());
    }

    fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..self.len).unwrap_or_default();
        // Only ASCII and whole UTF-8 strings are pushed; a cut one reads as empty.
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl std::fmt::Write for Small {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// `ip:port` (`[ip]:port` for IPv6), IPv4 without the formatting machinery.
fn write_socket_addr(out: &mut Small, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b".");
                }
                out.push_u64(u64::from(octet));
            }
            out.push(b":");
            out.push_u64(u64::from(v4.port()));
        }
        SocketAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// A record in the making, from the request's arrival on.
pub struct Entry {
    record: AccessRecord,
    /// The request target, read for the record's path (and host, when no destination was
    /// settled) only when it is finished.
    uri: Uri,
    /// Whether [`Entry::destination`] set the host and port.
    settled: bool,
    /// The destination's host, once settled (`None`: the URI's, read when the record is
    /// finished).
    dest_host: Option<Text>,
    started: Instant,
    /// Body bytes read from the client, counted as they are read.
    read: Option<Arc<AtomicU64>>,
    redact_query: bool,
    /// A tunnel took the record over.
    deferred: bool,
    /// This is a tunnel's record: no path.
    deferred_copy: bool,
}

impl Entry {
    /// A record of `req` from `client`, with the destination its URI names (if any).
    pub fn begin<B>(client: Option<SocketAddr>, req: &Request<B>) -> Entry {
        let uri = req.uri();
        let https =
            uri.scheme() == Some(&http::uri::Scheme::HTTPS) || req.method() == Method::CONNECT;
        Entry {
            record: AccessRecord {
                time: SystemTime::now(),
                client,
                method: req.method().clone(),
                scheme: if https { "https" } else { "http" },
                host: Text::default(),
                port: 0,
                path: Text::default(),
                rule: None,
                auth: "none",
                action: Action::Forwarded,
                reason: None,
                status: 0,
                bytes_in: 0,
                bytes_out: 0,
                duration: Duration::ZERO,
            },
            uri: uri.clone(),
            settled: false,
            dest_host: None,
            started: Instant::now(),
            read: None,
            redact_query: false,
            deferred: false,
            deferred_copy: false,
        }
    }

    /// The destination signet settled on.
    pub fn destination(&mut self, dest: &Destination) {
        self.dest_host =
            Some(Text::host_in(&self.uri, &dest.host).unwrap_or_else(|| dest.host.clone().into()));
        self.settle(dest);
    }

    /// The destination signet settled on, shared with the record.
    pub fn shared_destination(&mut self, dest: &Arc<Destination>) {
        self.dest_host = Some(Text::dest_host(dest.clone()));
        self.settle(dest);
    }

    fn settle(&mut self, dest: &Destination) {
        self.record.scheme = if dest.https { "https" } else { "http" };
        self.record.port = dest.port;
        self.settled = true;
    }

    /// The rule that applies and its scheme.
    pub fn rule(&mut self, name: Option<&Arc<str>>, scheme: &Scheme) {
        self.record.rule = name.cloned();
        self.record.auth = scheme.type_name();
        self.record.action = if scheme.type_name() == "none" {
            Action::Forwarded
        } else {
            Action::Signed
        };
        self.redact_query = scheme.credential_in_query();
    }

    /// What signet did, when it was more than the rule says.
    pub fn action(&mut self, action: Action) {
        self.record.action = action;
    }

    /// Why the exchange ended badly, without changing what signet did.
    pub fn reason(&mut self, reason: &str) {
        self.record.reason = Some(reason.to_owned());
    }

    /// signet answered itself, because of `reason`.
    pub fn refused(&mut self, reason: &str) {
        self.record.action = Action::Refused;
        self.record.reason = Some(reason.to_owned());
    }

    /// A counter of the client's body bytes, for the body as it is read.
    pub fn read_counter(&mut self) -> Arc<AtomicU64> {
        self.read.get_or_insert_with(Arc::default).clone()
    }

    /// The record as it stands: `status` sent, `bytes_out` to the client.
    pub fn finished(mut self, status: u16, bytes_in: Option<u64>, bytes_out: u64) -> AccessRecord {
        self.complete(status, bytes_in, bytes_out);
        self.record
    }

    /// Fills in the record's last fields, in place (the record is large: not moved).
    fn complete(&mut self, status: u16, bytes_in: Option<u64>, bytes_out: u64) -> &AccessRecord {
        self.record.status = status;
        self.record.bytes_in = bytes_in
            .or_else(|| self.read.as_ref().map(|n| n.load(Ordering::Relaxed)))
            .unwrap_or(0);
        self.record.bytes_out = bytes_out;
        self.record.duration = self.started.elapsed();
        if !self.settled {
            let https = self.record.scheme == "https";
            self.record.port = self.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        }
        self.record.host = match self.dest_host.take() {
            Some(host) => host,
            None => text::host_of(&self.uri).into(),
        };
        if !self.deferred_copy {
            self.record.path = path_of(&self.uri, self.redact_query);
        }
        &self.record
    }

    /// The record, to finish when the tunnel the request opened closes: this one is then
    /// not written.
    pub fn tunnel(&mut self, action: Action) -> Entry {
        self.deferred = true;
        let mut record = self.record.clone();
        record.action = action;
        Entry {
            record,
            uri: self.uri.clone(),
            settled: self.settled,
            dest_host: self.dest_host.clone(),
            started: self.started,
            read: None,
            redact_query: false,
            deferred: false,
            deferred_copy: true,
        }
    }

    /// Whether a tunnel took the record over.
    pub fn deferred(&self) -> bool {
        self.deferred
    }

    /// The rule's name, for a tunnel's record.
    pub fn rule_name(&mut self, name: Option<&Arc<str>>) {
        self.record.rule = name.cloned();
    }

    /// Hands `response` on, its body counted; the record goes to `log` when the body has been
    /// sent or dropped.
    pub fn respond(self, log: Arc<AccessLog>, response: Response<ProxyBody>) -> Response<Logged> {
        let status = response.status().as_u16();
        response.map(|body| Logged {
            body,
            record: Some(Box::new((self, log))),
            status,
            sent: 0,
        })
    }
}

/// The path and query of `uri` (the query as `?[redacted]` when `redact_query`); `/` when it
/// has none (an authority-form CONNECT has none either: empty).
fn path_of(uri: &Uri, redact_query: bool) -> Text {
    match uri.path_and_query() {
        Some(pq) if redact_query && pq.query().is_some() => {
            format!("{}?[redacted]", pq.path()).into()
        }
        Some(pq) => Text::path(pq),
        None if uri.authority().is_some() && uri.scheme().is_none() => Text::default(),
        None => Text::fixed("/"),
    }
}

/// The body of every response to a client: counts what it sends and, for a request that has
/// a record, finishes the record when dropped. (The one body type the client side serves, so
/// that counting adds no boxed layer.)
pub struct Logged {
    body: ProxyBody,
    /// Boxed: the response is moved several times on its way out, and the record is large.
    record: Option<Box<(Entry, Arc<AccessLog>)>>,
    status: u16,
    sent: u64,
}

impl Logged {
    /// `body`, whose record is written elsewhere (a tunnel's, when it closes).
    pub fn unrecorded(body: ProxyBody) -> Logged {
        Logged {
            body,
            record: None,
            status: 0,
            sent: 0,
        }
    }
}

impl Body for Logged {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.sent += data.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            let (entry, log) = &mut *record;
            log.finish_ref(entry.complete(self.status, None, self.sent));
        }
    }
}

/// A request body that adds what it yields to a counter.
pub struct Counted<B> {
    inner: B,
    read: Option<Arc<AtomicU64>>,
}

impl<B> Counted<B> {
    /// `inner`, counted into `read` (`None`: not counted).
    pub fn new(inner: B, read: Option<Arc<AtomicU64>>) -> Self {
        Counted { inner, read }
    }
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
            && let Some(read) = &self.read
        {
            read.fetch_add(data.len() as u64, Ordering::Relaxed);
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

/// signet's own answer, noted in the record: `status`, `kind` in `Proxy-Status`, `message` in
/// the body and the record's reason.
pub fn refuse(
    entry: &mut Entry,
    status: http::StatusCode,
    kind: ProxyError,
    message: impl Into<String>,
) -> Response<ProxyBody> {
    let message = message.into();
    let response = respond::error(status, kind, &message);
    entry.refused(&message);
    response
}

/// The 403 of `[proxy] allow`/`deny` for `target`, naming the entry that decided.
pub fn refuse_egress(
    entry: &mut Entry,
    metrics: &Metrics,
    target: impl std::fmt::Display,
    why: EgressRefusal<'_>,
) -> Response<ProxyBody> {
    metrics.egress_refused();
    refuse(
        entry,
        http::StatusCode::FORBIDDEN,
        ProxyError::HttpRequestDenied,
        format!("{target}: destination {why}"),
    )
}
