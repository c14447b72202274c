//! Editing the query string of a request URI: credentials placed as query parameters.

use http::Uri;
use http::uri::PathAndQuery;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters is percent-encoded.
pub const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `s` for use as a query key or value.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, QUERY_COMPONENT).to_string()
}

/// Whether the raw `param` (`k=v` or `k`) has the key `key` once decoded (`+` as space).
fn param_has_key(param: &str, key: &str) -> bool {
    let raw_key = param.split('=').next().unwrap_or("");
    let raw_key = raw_key.replace('+', " ");
    percent_decode_str(&raw_key).decode_utf8_lossy() == key
}

/// Sets `key=value` in the URI's query, removing every parameter the client sent with that key.
pub fn set_query_param(uri: &mut Uri, key: &str, value: &str) -> Result<(), http::Error> {
    let path = uri.path();
    let mut query: Vec<&str> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty() && !param_has_key(p, key))
                .collect()
        })
        .unwrap_or_default();
    let added = format!("{}={}", encode_component(key), encode_component(value));
    query.push(&added);
    let path_and_query = format!("{path}?{}", query.join("&"));
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query)?);
    *uri = Uri::from_parts(parts)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_client_param_and_keeps_others() {
        let mut uri: Uri = "http://h/p?a=1&api%5Fkey=client&b=2&api_key=again"
            .parse()
            .unwrap();
        set_query_param(&mut uri, "api_key", "s3 cr/t").unwrap();
        assert_eq!(uri.to_string(), "http://h/p?a=1&b=2&api_key=s3%20cr%2Ft");
    }

    #[test]
    fn adds_query_when_absent() {
        let mut uri: Uri = "https://h/".parse().unwrap();
        set_query_param(&mut uri, "k", "v").unwrap();
        assert_eq!(uri.to_string(), "https://h/?k=v");
    }
}
