//! Responses that signet itself writes: a short plain-text body starting with `signet:`.

use std::fmt::Display;

use http::header::{CONTENT_TYPE, PROXY_AUTHENTICATE};
use http::{Response, StatusCode};

use crate::net::body::{ProxyBody, full};

/// A response from signet with `status` and the body `signet: {message}`.
pub fn error(status: StatusCode, message: impl Display) -> Response<ProxyBody> {
    let mut response = Response::new(full(format!("signet: {message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// 407 asking the client for the proxy credentials of `[proxy] client_auth`.
pub fn proxy_auth_required() -> Response<ProxyBody> {
    let mut response = error(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "proxy authentication required (send Basic credentials in Proxy-Authorization)",
    );
    response.headers_mut().insert(
        PROXY_AUTHENTICATE,
        http::HeaderValue::from_static("Basic realm=\"signet\""),
    );
    response
}
