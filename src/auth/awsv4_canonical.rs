//! SigV4's canonical forms: headers, URI, query, the URI encoding, the date and the derived key,
//! as the AWS documentation defines them; `awsv4.rs` puts them together into a signature.

use std::fmt::Write as _;
use std::time::SystemTime;

use hmac::Hmac;
use http::request::Parts;
use sha2::Sha256;

use super::UNSIGNED_HEADERS;
use crate::auth::AuthError;

/// Lowercased names, sorted, each with its values trimmed, inner runs of spaces collapsed and
/// repeats joined by commas.
pub(super) fn canonical_headers(req: &Parts) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for name in req.headers.keys() {
        let n = name.as_str();
        if UNSIGNED_HEADERS.contains(&n) {
            continue;
        }
        let mut joined = Vec::new();
        for (i, value) in req.headers.get_all(name).iter().enumerate() {
            if i > 0 {
                joined.push(b',');
            }
            trim_all(value.as_bytes(), &mut joined);
        }
        out.push((n.to_owned(), joined));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

pub(super) fn trim_all(value: &[u8], out: &mut Vec<u8>) {
    let mut pending_space = false;
    let start = out.len();
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = out.len() > start;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
        }
    }
}

/// The path as SigV4 signs it. S3 (`normalize` false): as sent, with characters outside the
/// unreserved set encoded unless already escaped. Others: dot segments and empty segments
/// removed, then every byte outside the unreserved set (including `%`) encoded.
pub(crate) fn canonical_uri(path: &[u8], normalize: bool) -> String {
    if path.is_empty() {
        return "/".into();
    }
    if !normalize {
        return uri_encode(path, true, true);
    }
    let mut segments: Vec<&[u8]> = Vec::new();
    for seg in path.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let last = path.rsplit(|&b| b == b'/').next();
    let trailing = matches!(last, Some(b"" | b"." | b".."));
    let mut joined = Vec::with_capacity(path.len() + 1);
    for s in &segments {
        joined.push(b'/');
        joined.extend_from_slice(s);
    }
    if joined.is_empty() || (trailing && !segments.is_empty()) {
        joined.push(b'/');
    }
    uri_encode(&joined, true, false)
}

/// The query's parameters, decoded, re-encoded and sorted by name then value.
pub(super) fn canonical_query(query: &str) -> String {
    let enc = |x: Vec<u8>| uri_encode(&x, false, false);
    let mut pairs: Vec<(String, String)> =
        query_pairs(query).map(|(k, v)| (enc(k), enc(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decoded `name=value` byte pairs; `+` means a space, as AWS services read query strings.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    let decode = |s: &str| -> Vec<u8> {
        let plus_as_space = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_as_space).collect()
    };
    query.split('&').filter(|kv| !kv.is_empty()).map(move |kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode(k), decode(v))
    })
}

pub(super) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// SigV4's URI encoding: every byte outside `A-Za-z0-9-._~` as `%XX`, except `/` when `path`
/// and well-formed `%XX` escapes when `keep_escapes` (S3 paths are encoded only once).
pub(crate) fn uri_encode(input: &[u8], path: bool, keep_escapes: bool) -> String {
    let mut out = String::with_capacity(input.len() * 3 / 2);
    let mut rest = input;
    while let Some((&b, after)) = rest.split_first() {
        rest = after;
        if keep_escapes
            && b == b'%'
            && let Some((hex, after)) = rest.split_first_chunk::<2>()
            && hex.iter().all(u8::is_ascii_hexdigit)
        {
            out.push('%');
            out.extend(hex.iter().map(|h| h.to_ascii_uppercase() as char));
            rest = after;
            continue;
        }
        if is_unreserved(b) || (path && b == b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
pub(super) fn amz_date(t: SystemTime) -> Result<String, AuthError> {
    let t = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&fmt)
        .map_err(|_| AuthError::Unsignable("the clock is out of range".into()))
}

/// The derived key: HMAC chain over date, region, service and `aws4_request`.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    crate::auth::mac::hmac::<Hmac<Sha256>>(key, &[data]).into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
