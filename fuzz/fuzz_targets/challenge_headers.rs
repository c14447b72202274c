//! `WWW-Authenticate` / `Proxy-Authenticate` values as an origin or a parent proxy sends them,
//! through the Digest challenge parser and the Digest and NTLM schemes that read them.
//!
//! Input: one flag byte, then up to eight header values separated by `\n`.
//!
//! Properties: nothing panics; a challenge signet accepts stays within its size limits; the
//! `Authorization` (or `Proxy-Authorization`) answering it, read back with the same parser,
//! carries the challenge's realm, nonce and opaque unchanged (the quoting holds).
#![no_main]

use bytes::Bytes;
use http::header::{AUTHORIZATION, PROXY_AUTHENTICATE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use signet::auth::digest::challenge::{
    Challenge, MAX_DOMAIN_URIS, MAX_HEADER_VALUE, MAX_PARAM, parse_list, strongest,
};
use signet::auth::digest::{Digest, DigestConfig};
use signet::auth::ntlm::{self, Handshake, Ntlm, NtlmConfig, Offer, Word};
use signet::auth::{Entropy, SignContext};
use signet::secret::Secret;

struct Fixed;

impl Entropy for Fixed {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(0x42);
    }
}

fn cx() -> SignContext<'static> {
    SignContext {
        now: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        fixed_nonce: None,
        entropy: &Fixed,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let values: Vec<&[u8]> = rest.split(|b| *b == b'\n').take(8).collect();
    let texts: Vec<&str> = values
        .iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .collect();

    for text in &texts {
        for raw in parse_list(text) {
            assert!(!raw.scheme.is_empty());
            if let Some(c) = Challenge::from_raw(&raw) {
                assert!(c.realm.len() <= MAX_PARAM && c.nonce.len() <= MAX_PARAM);
                assert!(c.opaque.as_ref().is_none_or(|o| o.len() <= MAX_PARAM));
                assert!(c.domain.len() <= MAX_DOMAIN_URIS);
            }
        }
    }

    let mut headers = HeaderMap::new();
    for v in &values {
        if let Ok(value) = HeaderValue::from_bytes(v) {
            headers.append(WWW_AUTHENTICATE, value.clone());
            headers.append(PROXY_AUTHENTICATE, value);
        }
    }
    // What the schemes see: the values a header map gives back as text.
    let visible: Vec<&str> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let expected = strongest(visible.iter().copied());
    if let Some(c) = &expected {
        assert!(visible.iter().any(|v| v.len() <= MAX_HEADER_VALUE));
        assert!(c.realm.len() <= MAX_PARAM);
    }

    digest_origin(&headers, expected.as_ref(), flags);
    digest_parent(&headers, expected.as_ref());
    ntlm_offer(&headers, flags);
});

fn digest() -> Digest {
    Digest::new(DigestConfig::with_credentials(
        "Mufasa",
        Secret::new("Circle Of Life"),
    ))
    .expect("valid config")
}

fn request(uri: &str) -> http::request::Parts {
    Request::get(uri).body(()).unwrap().into_parts().0
}

/// The realm, nonce and opaque of the Digest credentials in `value`.
fn read_back(value: &HeaderValue) -> (String, String, Option<String>) {
    let text = std::str::from_utf8(value.as_bytes()).expect("built from a String");
    let creds = parse_list(text)
        .into_iter()
        .find(|c| c.scheme == "Digest")
        .unwrap_or_else(|| panic!("no Digest credentials in {text:?}"));
    let get = |name| creds.param(name).map(str::to_owned);
    (
        get("realm").expect("realm"),
        get("nonce").expect("nonce"),
        get("opaque"),
    )
}

fn digest_origin(headers: &HeaderMap, expected: Option<&Challenge>, flags: u8) {
    let d = digest();
    let uri = "https://api.example.com/dir/file?q=1";
    let sent = request(uri);
    let mut answer = Response::new(());
    *answer.status_mut() = StatusCode::UNAUTHORIZED;
    *answer.headers_mut() = only(headers, &WWW_AUTHENTICATE);
    let (answer, ()) = answer.into_parts();
    let replay = d.wants_replay(&sent, &answer);
    assert_eq!(replay, expected.is_some(), "wants_replay disagrees with strongest");

    let mut next = request(uri);
    let mut body = Bytes::from_static(b"{\"a\":1}");
    let body = (flags & 1 == 1).then_some(&mut body);
    let with_body = body.is_some();
    match d.sign(&mut next, body, &cx()) {
        Ok(()) => match (next.headers.get(AUTHORIZATION), expected) {
            (Some(value), Some(c)) => {
                let (realm, nonce, opaque) = read_back(value);
                assert_eq!(realm, c.realm);
                assert_eq!(nonce, c.nonce);
                assert_eq!(opaque, c.opaque);
            }
            (None, None) => {}
            (got, want) => panic!("signed {got:?} for challenge {want:?}"),
        },
        Err(e) => {
            let c = expected.expect("no challenge, nothing to sign, no error");
            // Refused only for auth-int without a body, or bytes a header cannot carry.
            let auth_int_only = !c.qop.is_empty()
                && c.qop
                    .iter()
                    .all(|q| *q == signet::auth::digest::DigestQop::AuthInt);
            assert!(
                (auth_int_only && !with_body) || e.to_string().contains("not a valid header value"),
                "{e}"
            );
        }
    }

    // A later answer carrying `Authentication-Info: nextnonce=…`.
    if let Some(value) = headers.get(WWW_AUTHENTICATE) {
        let mut ok = Response::new(());
        ok.headers_mut().insert("authentication-info", value.clone());
        let (ok, ()) = ok.into_parts();
        assert!(!d.wants_replay(&next, &ok));
        let mut third = request(uri);
        let _ = d.sign(&mut third, None, &cx());
    }
}

fn digest_parent(headers: &HeaderMap, expected: Option<&Challenge>) {
    let d = digest();
    let parent = "Parent.Example:3128";
    let again = d.proxy_challenged(parent, None, headers);
    assert_eq!(again, expected.is_some());
    match d.proxy_authorization(parent, "CONNECT", "api.example.com:443", &cx()) {
        Ok(Some(value)) => {
            let c = expected.expect("an answer without a challenge");
            let (realm, nonce, opaque) = read_back(&value);
            assert_eq!((realm, nonce, opaque), (c.realm.clone(), c.nonce.clone(), c.opaque.clone()));
        }
        Ok(None) => assert!(expected.is_none()),
        Err(_) => assert!(expected.is_some()),
    }
}

fn ntlm_offer(headers: &HeaderMap, flags: u8) {
    let header: &HeaderName = if flags & 2 == 0 {
        &WWW_AUTHENTICATE
    } else {
        &PROXY_AUTHENTICATE
    };
    let word = if flags & 4 == 0 {
        Word::Ntlm
    } else {
        Word::Negotiate
    };
    let offer = ntlm::offer(headers, header);
    let creds = Ntlm::new(NtlmConfig {
        username: "DOMAIN\\user".into(),
        password: Secret::new("SecREt01"),
        domain: None,
        workstation: Some("COMPUTER".into()),
        retry: true,
    })
    .expect("valid config");
    let (negotiate, _) = creds.negotiate(word);
    let mut handshake = Handshake::Negotiated(word, negotiate);
    let goes_on = handshake.on_challenge(headers, header);
    match (&offer, goes_on) {
        (Offer::Challenge(w, _), true) => assert_eq!(*w, word),
        (Offer::Start(w), true) => assert_ne!(*w, word),
        (_, false) => {}
        (Offer::None, true) => panic!("the handshake went on without an offer"),
    }
    if goes_on {
        let cert = (flags & 8 == 8).then_some(&b"not really a certificate"[..]);
        if let Ok(Some(value)) = handshake.next_header(&creds, cert, &cx()) {
            let text = value.to_str().expect("base64");
            assert!(text.starts_with("NTLM ") || text.starts_with("Negotiate "));
        }
    }
}

fn only(headers: &HeaderMap, name: &HeaderName) -> HeaderMap {
    let mut out = HeaderMap::new();
    for v in headers.get_all(name) {
        out.append(name.clone(), v.clone());
    }
    out
}
