//! The wire: how bytes reach an upstream and what travels on it, knowing no rule and no config.
//!
//! - [`dial`]: TCP connections, direct or through the parent proxy, with a timeout.
//! - [`parent`]: the parent proxy (`CONNECT` tunnels, plain requests in absolute form) and the
//!   answers to its `407`.
//! - [`stream`]: a connection (plain or TLS), the hyper connector, a new HTTP/1.1 connection.
//! - [`body`]: the body type signet sends both ways, buffering within a limit.
//! - [`headers`]: hop-by-hop headers.
//! - [`idle`]: closing connections that carry nothing.
//! - [`relay`]: a blind tunnel between two TCP connections, with buffers only while bytes move.

pub mod body;
pub mod buffered;
pub mod dial;
pub mod headers;
pub mod idle;
pub mod parent;
pub mod relay;
pub mod stream;

pub use dial::{ConnectError, Dialer, SendError, authority};
pub use idle::{Idle, IdleTimeout};
pub use parent::{ParentAuth, ParentError, ParentProxy, ParentUrlError};
pub use stream::{Connector, Http1Conn, Stream, open_http1};

use std::time::Duration;

use http::Uri;

/// How long signet waits, and how many connections it holds: `[proxy]`'s timeouts and caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A client's request head must arrive within this.
    pub header_read: Duration,
    /// A client connection with no request in flight is closed after this.
    pub client_idle: Duration,
    /// A TLS handshake (with a client inside a tunnel, or with an origin) must finish within this.
    pub tls_handshake: Duration,
    /// A TCP connection to an upstream (or the parent proxy) must open within this.
    pub connect: Duration,
    /// An upstream's response head must arrive within this (504 otherwise).
    pub response: Duration,
    /// A tunnel with no bytes either way is closed after this.
    pub tunnel_idle: Duration,
    /// One token request, connection included.
    pub token_request: Duration,
    /// At a stop, requests in flight may finish within this.
    pub drain: Duration,
    /// Client connections held at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Client connections held at once per client address, when listening beyond loopback.
    pub max_connections_per_ip: usize,
}

impl Limits {
    /// The defaults of `[proxy]`.
    pub const DEFAULT: Limits = Limits {
        header_read: Duration::from_secs(30),
        client_idle: Duration::from_secs(120),
        tls_handshake: Duration::from_secs(10),
        connect: Duration::from_secs(10),
        response: Duration::from_secs(60),
        tunnel_idle: Duration::from_secs(3600),
        token_request: Duration::from_secs(30),
        drain: Duration::from_secs(10),
        max_connections: 10_000,
        max_connections_per_ip: 256,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// `/path?query` of an absolute URI, as sent straight to an origin.
pub fn origin_form(uri: &Uri) -> Uri {
    uri.path_and_query()
        .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()))
}
