//! An intercepted tunnel: terminate the client's TLS with a leaf certificate for the CONNECT
//! host, then serve HTTP/1.1 or HTTP/2 (per ALPN) and forward each request.

use std::convert::Infallible;
use std::sync::Arc;

use http::header::HOST;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::server::Acceptor;
use tokio_rustls::LazyConfigAcceptor;

use super::access::{Entry, refuse};
use super::generation::{ConnCell, Generation};
use super::respond::ProxyError;
use super::{Signet, pipeline};
use crate::metrics::Side;
use crate::net::body::ProxyBody;
use crate::rules::{Destination, normalize_host};

/// The client's TLS inside the tunnel, terminated with a leaf for the CONNECT host.
type ClientTls = tokio_rustls::server::TlsStream<TokioIo<Upgraded>>;

/// Serves the client side of an intercepted tunnel to `dest`, opened under `generation`; each
/// request in it goes under the generation in force when it starts.
/// `cell` is fresh: connections pinned outside the tunnel are not used inside it.
pub(super) async fn serve(
    signet: Arc<Signet>,
    generation: Arc<Generation>,
    cell: ConnCell,
    dest: Destination,
    upgraded: Upgraded,
) -> Result<(), &'static str> {
    let (tls, sni_matches) = terminate_tls(&signet, &generation, &dest, upgraded).await?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let header_read = generation.limits.header_read;
    drop(generation);
    let cell = Arc::new(cell);
    // Shared by every request in the tunnel and by their records.
    let dest = Arc::new(dest);
    let drain = signet.drain().clone();

    let service = service_fn(move |req: Request<Incoming>| {
        let generation = signet.current();
        let signet = signet.clone();
        let dest = dest.clone();
        let cell = cell.clone();
        async move {
            let mut entry = Entry::begin(cell.client(), &req);
            entry.shared_destination(&dest);
            let response =
                intercepted(&generation, &cell, &dest, sni_matches, req, &mut entry).await;
            Ok::<_, Infallible>(entry.respond(signet.access_log().clone(), response))
        }
    });
    let io = TokioIo::new(tls);
    let result = if h2 {
        let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => result,
            () = drain.stopped() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
    } else {
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read)
            .serve_connection(io, service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => result,
            () = drain.stopped() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "intercepted connection ended with an error");
    }
    Ok(())
}

/// One request inside an intercepted tunnel to `dest`.
async fn intercepted(
    generation: &Generation,
    cell: &ConnCell,
    dest: &Destination,
    sni_matches: bool,
    req: Request<Incoming>,
    entry: &mut Entry,
) -> Response<ProxyBody> {
    // Two Host headers make the target ambiguous (RFC 9112 section 3.2).
    if req.headers().get_all(HOST).iter().nth(1).is_some() {
        return refuse(
            entry,
            StatusCode::BAD_REQUEST,
            ProxyError::HttpRequestError,
            "the request has two Host headers",
        );
    }
    if !sni_matches || !names_destination(&req, dest) {
        return refuse(
            entry,
            StatusCode::MISDIRECTED_REQUEST,
            ProxyError::HttpRequestError,
            format!(
                "the request names another host than the tunnel's {}:{}",
                dest.host, dest.port
            ),
        );
    }
    let conn = cell.conn(generation);
    pipeline::forward(generation, &conn, cell.place(), dest.clone(), req, entry).await
}

/// Reads the ClientHello, mints (or finds) the leaf for the CONNECT host and completes the
/// handshake; with whether the ClientHello named that host. The error says, for the access log,
/// why there is no TLS session (the details are logged here).
async fn terminate_tls(
    signet: &Signet,
    generation: &Generation,
    dest: &Destination,
    upgraded: Upgraded,
) -> Result<(ClientTls, bool), &'static str> {
    let handshake = generation.limits.tls_handshake;
    let hello = LazyConfigAcceptor::new(Acceptor::default(), TokioIo::new(upgraded));
    let start = match tokio::time::timeout(handshake, hello).await {
        Ok(Ok(start)) => start,
        Ok(Err(e)) => {
            tracing::debug!(%dest, error = %e, "no TLS ClientHello in the tunnel");
            return Err("no TLS ClientHello in the tunnel");
        }
        Err(_) => {
            tracing::debug!(%dest, "no TLS ClientHello in the tunnel within the handshake timeout");
            return Err("no TLS ClientHello within the handshake timeout");
        }
    };
    // A ClientHello naming another host than the CONNECT target is refused request by request
    // (421): the certificate is only ever minted for the CONNECT host.
    let sni_matches = match start.client_hello().server_name() {
        None => true,
        Some(sni) => normalize_host(sni).is_ok_and(|sni| sni == dest.host),
    };
    let leaves = generation.leaves().clone();
    let host = dest.host.clone();
    // Minting is CPU work (a key pair and a signature): keep it off the I/O threads.
    let config = match tokio::task::spawn_blocking(move || leaves.server_config(&host)).await {
        Ok(Ok(config)) => config,
        Ok(Err(e)) => {
            tracing::warn!(%dest, error = %e, "cannot mint a leaf certificate");
            return Err("cannot mint a leaf certificate");
        }
        Err(_) => return Err("cannot mint a leaf certificate"),
    };
    match tokio::time::timeout(handshake, start.into_stream(config)).await {
        Ok(Ok(tls)) => Ok((tls, sni_matches)),
        Ok(Err(e)) => {
            signet.metrics().tls_handshake_failed(Side::Client);
            if rejects_certificate(&e) && signet.first_leaf_rejection(&dest.host) {
                tracing::warn!(
                    host = %dest.host,
                    error = %e,
                    "the client rejected signet's certificate for {}: it does not trust signet's \
                     CA; add the CA (`signet ca export`) to the client's trust store, or set \
                     [proxy] intercept so that this host is tunnelled untouched",
                    dest.host
                );
            } else {
                tracing::debug!(%dest, error = %e, "client TLS handshake failed (does the client trust signet's CA?)");
            }
            Err("client TLS handshake failed")
        }
        Err(_) => {
            signet.metrics().tls_handshake_failed(Side::Client);
            tracing::debug!(%dest, "client TLS handshake did not finish within the handshake timeout");
            Err("client TLS handshake timed out")
        }
    }
}

/// Whether a failed handshake is the client refusing the leaf certificate (an alert about it).
fn rejects_certificate(error: &std::io::Error) -> bool {
    use rustls::AlertDescription as A;
    let Some(rustls::Error::AlertReceived(alert)) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return false;
    };
    matches!(
        alert,
        A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::CertificateExpired
            | A::AccessDenied
    )
}

/// Whether the request's authority (`:authority`, absolute URI or Host header) is the tunnel's
/// destination. Requests without any authority are refused too.
fn names_destination(req: &Request<Incoming>, dest: &Destination) -> bool {
    // Clients name it as signet writes it (every request in the tunnel goes through here):
    // that is known without parsing or normalising anything.
    let named = match req.uri().authority() {
        Some(a) => Some(a.as_str()),
        None => req.headers().get(HOST).and_then(|h| h.to_str().ok()),
    };
    if named.is_some_and(|named| is_written_as(named, dest)) {
        return true;
    }
    let authority = match req.uri().authority() {
        Some(a) => a.clone(),
        None => match req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.parse().ok())
        {
            Some(a) => a,
            None => return false,
        },
    };
    let port = authority.port_u16().unwrap_or(dest.default_port());
    port == dest.port && normalize_host(authority.host()).is_ok_and(|h| h == dest.host)
}

/// Whether `named` is `dest`'s normalised host, with `dest`'s port in digits or, for the
/// default port, without one.
fn is_written_as(named: &str, dest: &Destination) -> bool {
    match named.strip_prefix(dest.host.as_str()) {
        Some("") => dest.port == dest.default_port(),
        Some(rest) => rest.strip_prefix(':').is_some_and(|port| {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse() == Ok(dest.port)
        }),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_is_recognised_as_signet_writes_it_and_nothing_else() {
        let dest = Destination::new(true, "api.test", 8443).unwrap();
        assert!(is_written_as("api.test:8443", &dest));
        assert!(!is_written_as("api.test", &dest));
        assert!(!is_written_as("api.test:443", &dest));
        assert!(!is_written_as("api.test:", &dest));
        assert!(!is_written_as("api.test:+8443", &dest));
        assert!(!is_written_as("api.test.evil:8443", &dest));
        assert!(!is_written_as("API.test:8443", &dest));
        let default = Destination::new(true, "api.test", 443).unwrap();
        assert!(is_written_as("api.test", &default));
        assert!(is_written_as("api.test:443", &default));
        assert!(!is_written_as("api.test:4430", &default));
    }
}
