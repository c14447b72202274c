//! Digest towards a parent proxy (`407` / `Proxy-Authenticate`, RFC 7616 section 3.8): the
//! proxy is one protection space, remembered like an origin's, so the nonce count keeps rising
//! across every request and tunnel signet sends through it.

use http::header::PROXY_AUTHENTICATE;
use http::{HeaderMap, HeaderValue};

use super::challenge::strongest;
use super::{Digest, rejects};
use crate::auth::context::{AuthError, SignContext};

impl Digest {
    /// `Proxy-Authorization` for a request sent to the parent proxy `parent` (`host:port`) as
    /// `method uri` (`CONNECT host:port`, or a plain request in absolute form); `None` until the
    /// parent has challenged (or the advanced keys give realm and nonce).
    pub fn proxy_authorization(
        &self,
        parent: &str,
        method: &str,
        uri: &str,
        cx: &SignContext<'_>,
    ) -> Result<Option<HeaderValue>, AuthError> {
        self.answer(&space(parent), method, uri, None, cx)
    }

    /// Takes in the parent's 407 to a request that carried `sent`; `true` when the request
    /// should be sent again (a new or stale nonce), `false` when the parent offers no Digest
    /// challenge signet can answer, turned down these very credentials, or `retry` is off.
    pub fn proxy_challenged(
        &self,
        parent: &str,
        sent: Option<&HeaderValue>,
        headers: &HeaderMap,
    ) -> bool {
        let values = headers
            .get_all(PROXY_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let Some(challenge) = strongest(values) else {
            return false;
        };
        let rejected = rejects(sent, &challenge);
        let origin = format!("proxy://{}", parent.to_ascii_lowercase());
        self.remember_at(origin, "/", challenge);
        self.cfg.retry && !rejected
    }
}

/// The key the parent's protection space is kept under; no request URI ever looks like it.
fn space(parent: &str) -> String {
    format!("proxy://{}/", parent.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::OsEntropy;
    use crate::auth::digest::DigestConfig;
    use crate::secret::Secret;

    fn rfc2617_case() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/http-digest/digest-vectors.json"
        );
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "rfc2617-3.5")
            .unwrap()
            .clone()
    }

    fn digest(case: &serde_json::Value, retry: bool) -> Digest {
        Digest::new(DigestConfig {
            retry,
            ..DigestConfig::with_credentials(
                case["username"].as_str().unwrap(),
                Secret::new(case["password"].as_str().unwrap()),
            )
        })
        .unwrap()
    }

    fn challenge(case: &serde_json::Value) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let line = line(case);
        headers.insert(PROXY_AUTHENTICATE, HeaderValue::from_str(&line).unwrap());
        headers
    }

    fn line(case: &serde_json::Value) -> String {
        let value = &case["www_authenticate"];
        let line = value.as_str().or_else(|| value[0].as_str());
        line.unwrap().to_owned()
    }

    fn param(value: &HeaderValue, name: &str) -> String {
        super::super::digest_param(value, name).unwrap()
    }

    #[test]
    fn parent_challenge_is_answered_with_the_vector_response_and_a_rising_nc() {
        let case = rfc2617_case();
        let digest = digest(&case, true);
        let cx = SignContext {
            now: std::time::SystemTime::UNIX_EPOCH,
            fixed_nonce: case["cnonce"].as_str(),
            entropy: &OsEntropy,
        };
        let (method, uri) = (
            case["method"].as_str().unwrap(),
            case["uri"].as_str().unwrap(),
        );
        let parent = "Corp-Proxy:3128";
        assert!(
            digest
                .proxy_authorization(parent, method, uri, &cx)
                .unwrap()
                .is_none()
        );
        assert!(digest.proxy_challenged(parent, None, &challenge(&case)));

        let first = digest
            .proxy_authorization(parent, method, uri, &cx)
            .unwrap()
            .unwrap();
        assert_eq!(
            param(&first, "response"),
            case["response"].as_str().unwrap()
        );
        assert_eq!(param(&first, "uri"), uri);
        assert_eq!(param(&first, "nc"), "00000001");
        // Another request to the same parent, another target: the count goes on.
        let second = digest
            .proxy_authorization("corp-proxy:3128", "CONNECT", "example.com:443", &cx)
            .unwrap()
            .unwrap();
        assert_eq!(param(&second, "nc"), "00000002");
        assert_eq!(param(&second, "uri"), "example.com:443");
        // Another parent has not challenged yet.
        assert!(
            digest
                .proxy_authorization("other:3128", "GET", "/", &cx)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn same_nonce_turned_down_again_is_not_retried() {
        let case = rfc2617_case();
        let digest = digest(&case, true);
        let cx = SignContext::system();
        assert!(digest.proxy_challenged("p:1", None, &challenge(&case)));
        let sent = digest.proxy_authorization("p:1", "GET", "/", &cx).unwrap();
        assert!(!digest.proxy_challenged("p:1", sent.as_ref(), &challenge(&case)));
        let mut stale = challenge(&case);
        let line = format!("{}, stale=true", line(&case));
        stale.insert(PROXY_AUTHENTICATE, HeaderValue::from_str(&line).unwrap());
        assert!(digest.proxy_challenged("p:1", sent.as_ref(), &stale));
        assert!(!self::digest(&case, false).proxy_challenged("p:1", None, &challenge(&case)));
    }
}
