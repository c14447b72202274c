//! The wire: how bytes reach an upstream and what travels on it, knowing no rule and no config.
//!
//! - [`dial`]: TCP connections, direct or through the parent proxy, with a timeout.
//! - [`parent`]: the parent proxy (`CONNECT` tunnels, plain requests in absolute form) and the
//!   answers to its `407`.
//! - [`stream`]: a connection (plain or TLS), the hyper connector, a new HTTP/1.1 connection.
//! - [`body`]: the body type signet sends both ways, buffering within a limit.
//! - [`headers`]: hop-by-hop headers.

pub mod body;
pub mod dial;
pub mod headers;
pub mod parent;
pub mod stream;

pub use dial::{ConnectError, Dialer, SendError, authority};
pub use parent::{ParentAuth, ParentError, ParentProxy, ParentUrlError};
pub use stream::{Connector, Http1Conn, Stream, open_http1};

use http::Uri;

/// `/path?query` of an absolute URI, as sent straight to an origin.
pub fn origin_form(uri: &Uri) -> Uri {
    uri.path_and_query()
        .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()))
}
