//! A client's request head as hyper reads it (httparse), then what signet does with it: the
//! destination from the absolute URI (or the CONNECT authority, or a tunnel's Host), host and
//! path normalisation, and `prepare`, which makes the head ready for the upstream.
//!
//! Properties: nothing panics; normalising a normalised host or path changes nothing, and a
//! normalised path is one the route globs can match (`/**` does); when
//! `prepare` succeeds the URI and the Host header name exactly the destination, and reading the
//! destination back from the prepared URI gives the same destination.
#![no_main]

use http::header::HOST;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};
use libfuzzer_sys::fuzz_target;
use signet::proxy::pipeline::prepare;
use signet::rules::{Destination, PathGlob, normalize_host, normalize_path};

fuzz_target!(|data: &[u8]| {
    let Some(parts) = parse_head(data) else {
        return;
    };
    let mut dests = Vec::new();
    if parts.method == Method::CONNECT {
        // What `proxy::connect` does with `CONNECT host:port`.
        if let Some((host, port)) = parts
            .uri
            .authority()
            .and_then(|a| Some((a.host(), a.port_u16()?)))
        {
            dests.extend(Destination::new(true, host, port).ok());
        }
    } else if let Ok(dest) = Destination::from_uri(&parts.uri) {
        dests.push(dest);
    } else {
        // Origin form inside an intercepted tunnel: the tunnel's destination, which the fuzzer
        // picks through the Host header here.
        if let Some(host) = parts.headers.get(HOST).and_then(|h| h.to_str().ok()) {
            let (name, port) = match host.rsplit_once(':') {
                Some((n, p)) if !n.ends_with(':') => (n, p.parse().unwrap_or(443)),
                _ => (host, 443),
            };
            dests.extend(Destination::new(true, name, port).ok());
        }
        dests.extend(Destination::new(true, "api.example.com", 443).ok());
    }

    if let Some(host) = parts.uri.host() {
        check_host(host);
    }
    if let Some(host) = parts.headers.get(HOST).and_then(|h| h.to_str().ok()) {
        check_host(host);
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if let Ok(normal) = normalize_path(path) {
        let again = normalize_path(&normal).expect("a normalised path normalises");
        assert_eq!(again, normal, "normalize_path is not idempotent on {path:?}");
        assert!(
            every_path().matches(&normal),
            "\"/**\" does not match the normalised {normal:?} of {path:?}"
        );
    }
    let _ = normalize_path(parts.uri.path());

    let upgrade = signet::net::headers::is_upgrade(&parts.headers);
    for dest in dests {
        let mut prepared = copy(&parts);
        match prepare(&mut prepared, &dest, upgrade) {
            Ok(()) => {
                let authority = dest.authority();
                assert_eq!(
                    prepared.uri.authority().map(|a| a.as_str()),
                    Some(authority.as_str()),
                    "the prepared URI does not name {dest}"
                );
                assert_eq!(
                    prepared.headers.get(HOST).map(HeaderValue::as_bytes),
                    Some(authority.as_bytes()),
                    "the Host header does not name {dest}"
                );
                assert_eq!(prepared.headers.get_all(HOST).iter().count(), 1);
                let back = Destination::from_uri(&prepared.uri)
                    .expect("the prepared URI has a destination");
                assert_eq!(back, dest, "the prepared URI names another destination");
                assert!(prepared.uri.path().starts_with('/') || prepared.uri.path() == "*");
            }
            Err(e) => {
                // A destination signet normalised is always a valid authority.
                panic!("prepare refused {dest:?}: {e}");
            }
        }
    }
});

/// `/**`, which matches every path in normal form.
fn every_path() -> &'static PathGlob {
    static GLOB: std::sync::OnceLock<PathGlob> = std::sync::OnceLock::new();
    GLOB.get_or_init(|| PathGlob::parse("/**").unwrap())
}

/// `normalize_host` is idempotent, and its output is what `Destination::new` keeps.
fn check_host(host: &str) {
    let Ok(normal) = normalize_host(host) else {
        return;
    };
    let again = normalize_host(&normal)
        .unwrap_or_else(|e| panic!("{host:?} normalised to {normal:?}, which is refused: {e}"));
    assert_eq!(again, normal, "normalize_host is not idempotent on {host:?}");
    assert!(!normal.is_empty());
    assert!(
        !normal.bytes().any(|b| b.is_ascii_uppercase()),
        "{normal:?} has upper case"
    );
}

/// Parses a request head the way hyper's HTTP/1 server does: httparse, then the method, the
/// request target as a `Uri`, and each header as a name and a value. `None` where hyper would
/// answer 400 (or wait for more bytes).
fn parse_head(data: &[u8]) -> Option<http::request::Parts> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(data) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    let method = Method::from_bytes(req.method?.as_bytes()).ok()?;
    let uri: Uri = req.path?.parse().ok()?;
    let version = match req.version? {
        0 => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut map = HeaderMap::new();
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(h.value).ok()?;
        map.append(name, value);
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = map;
    Some(request.into_parts().0)
}

fn copy(parts: &http::request::Parts) -> http::request::Parts {
    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request.into_parts().0
}
