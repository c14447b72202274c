//! Responses that signet itself writes: a short plain-text body starting with `signet:`, and a
//! `Proxy-Status` header (RFC 9209) naming signet and the error type, so that a client (or a
//! person reading its debug output) can tell signet's refusal from the origin's answer.

use std::fmt::Display;

use http::header::{CONTENT_TYPE, PROXY_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::net::ConnectError;
use crate::net::body::{ProxyBody, full};
use crate::upstream::UpstreamError;

/// `Proxy-Status` (RFC 9209 section 2).
pub const PROXY_STATUS: HeaderName = HeaderName::from_static("proxy-status");

/// The error types of RFC 9209 section 2.3 that signet answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// The request is malformed or cannot be forwarded as it is.
    HttpRequestError,
    /// Policy refused it: `[proxy] allow`/`deny`, `client_auth`, a route.
    HttpRequestDenied,
    /// The TCP connection to the destination was refused.
    ConnectionRefused,
    /// The TCP connection did not complete in time.
    ConnectionTimeout,
    /// The destination could not be reached (DNS, routing, a closed connection).
    DestinationUnavailable,
    /// The TLS handshake with the destination failed.
    TlsProtocolError,
    /// No response head within `[proxy] response_timeout`.
    HttpResponseTimeout,
    /// The upstream's HTTP broke.
    HttpProtocolError,
    /// A connection cap was reached.
    ConnectionLimitReached,
    /// signet could not make the credentials (a bad key, a token endpoint that failed).
    ProxyConfigurationError,
    /// Anything else signet failed at.
    ProxyInternalError,
}

impl ProxyError {
    /// The token RFC 9209 registers.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyError::HttpRequestError => "http_request_error",
            ProxyError::HttpRequestDenied => "http_request_denied",
            ProxyError::ConnectionRefused => "connection_refused",
            ProxyError::ConnectionTimeout => "connection_timeout",
            ProxyError::DestinationUnavailable => "destination_unavailable",
            ProxyError::TlsProtocolError => "tls_protocol_error",
            ProxyError::HttpResponseTimeout => "http_response_timeout",
            ProxyError::HttpProtocolError => "http_protocol_error",
            ProxyError::ConnectionLimitReached => "connection_limit_reached",
            ProxyError::ProxyConfigurationError => "proxy_configuration_error",
            ProxyError::ProxyInternalError => "proxy_internal_error",
        }
    }

    /// The error type of an upstream failure.
    pub fn of_upstream(error: &UpstreamError) -> Self {
        match error {
            UpstreamError::Connect(connect) => ProxyError::of_connect(connect),
            UpstreamError::Timeout(_) => ProxyError::HttpResponseTimeout,
            UpstreamError::ClientBody(_) => ProxyError::HttpRequestError,
            UpstreamError::NoHost => ProxyError::HttpRequestError,
            UpstreamError::Credentials(_) => ProxyError::ProxyConfigurationError,
            UpstreamError::Closed(_) => ProxyError::DestinationUnavailable,
            _ => ProxyError::HttpProtocolError,
        }
    }

    /// The error type of a failed connection to the destination.
    pub fn of_connect(error: &ConnectError) -> Self {
        match error {
            ConnectError::Tcp { source, .. }
                if source.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                ProxyError::ConnectionRefused
            }
            ConnectError::Tcp { .. } => ProxyError::DestinationUnavailable,
            ConnectError::Timeout { .. } => ProxyError::ConnectionTimeout,
            ConnectError::Tls { .. } => ProxyError::TlsProtocolError,
            ConnectError::NoHost | ConnectError::ServerName(_) => ProxyError::HttpRequestError,
            _ => ProxyError::DestinationUnavailable,
        }
    }
}

/// A response from signet with `status`, `Proxy-Status: signet; error=…` and the body
/// `signet: {message}`.
pub fn error(status: StatusCode, kind: ProxyError, message: impl Display) -> Response<ProxyBody> {
    let mut response = Response::new(full(format!("signet: {message}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(PROXY_STATUS, proxy_status(kind));
    response
}

/// `signet; error=<type>`: the details are in the body, which a client shows more readily.
pub fn proxy_status(kind: ProxyError) -> HeaderValue {
    HeaderValue::try_from(format!("signet; error={}", kind.as_str()))
        .unwrap_or_else(|_| HeaderValue::from_static("signet"))
}

/// 407 asking the client for the proxy credentials of `[proxy] client_auth`.
pub fn proxy_auth_required() -> Response<ProxyBody> {
    let mut response = error(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        ProxyError::HttpRequestDenied,
        PROXY_AUTH_MESSAGE,
    );
    response.headers_mut().insert(
        PROXY_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"signet\""),
    );
    response
}

/// The body of the 407.
pub const PROXY_AUTH_MESSAGE: &str = "proxy authentication required by [proxy] client_auth (send Basic credentials in \
     Proxy-Authorization)";
