//! The published OAuth 1.0a examples (tests/vectors/oauth1), every case.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::request::Parts;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::Value;

use super::{OAuth1, OAuth1Config, encode, parse_form};
use crate::auth::SyncSigner;
use crate::auth::context::{BodyNeed, SignContext};
use crate::secret::Secret;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/oauth1/oauth1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("vector JSON")
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing {key}"))
        .to_owned()
}

fn opt(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_owned)
}

/// A config with only the consumer key set; callers fill in the rest.
fn config(consumer_key: &str) -> OAuth1Config {
    toml::from_str(&format!("consumer_key = {consumer_key:?}")).unwrap()
}

fn request(method: &str, url: &str, content_type: Option<&str>) -> Parts {
    let mut parts = http::Request::builder()
        .method(method)
        .uri(url)
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let host = parts.uri.authority().unwrap().as_str().to_owned();
    parts
        .headers
        .insert(http::header::HOST, HeaderValue::from_str(&host).unwrap());
    if let Some(ct) = content_type {
        parts
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
    }
    parts
}

/// Signs as the proxy would: the body only when `body_need` asks for it.
fn sign(o: &OAuth1, req: &mut Parts, body: &mut Bytes) {
    let want = o.body_need(req) != BodyNeed::None;
    o.sign(req, want.then_some(body), &SignContext::system())
        .unwrap();
}

/// The Authorization header's parameters, decoded, in order (realm included).
fn header_params(req: &Parts) -> Vec<(String, String)> {
    let value = req.headers[AUTHORIZATION].to_str().unwrap();
    let rest = value.strip_prefix("OAuth ").expect("OAuth scheme");
    rest.split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let v = v.trim_matches('"');
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .unwrap();
            (k.to_owned(), v.into_owned())
        })
        .collect()
}

/// The base string rebuilt from what was actually sent: query, form body and header parameters.
fn sent_base_string(req: &Parts, body: &[u8], form: bool) -> String {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut raw = parse_form(req.uri.query().unwrap_or("").as_bytes());
    if form {
        raw.extend(parse_form(body));
    }
    for (k, v) in raw {
        params.push((encode(&k), encode(&v)));
    }
    for (k, v) in header_params(req) {
        if k != "realm" && k != "oauth_signature" {
            params.push((encode(k.as_bytes()), encode(v.as_bytes())));
        }
    }
    super::base_string(&req.method, &req.uri, params).unwrap()
}

#[test]
fn hmac_sha1_requests_all_cases() {
    let v = vectors();
    let cases = v["hmac_sha1_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    for case in cases {
        let name = s(case, "name");
        let oauth: Vec<(String, String)> = case["all_parameters_decoded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_owned(),
                    p[1].as_str().unwrap().to_owned(),
                )
            })
            .filter(|(k, _)| k.starts_with("oauth_"))
            .collect();
        let get = |k: &str| oauth.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut cfg = config(&get("oauth_consumer_key").unwrap());
        cfg.consumer_secret = Secret::new(s(case, "client_secret"));
        cfg.token_secret = Secret::new(s(case, "token_secret"));
        cfg.token = Secret::new(get("oauth_token").unwrap_or_default());
        cfg.timestamp = get("oauth_timestamp");
        cfg.nonce = get("oauth_nonce");
        cfg.version = get("oauth_version").unwrap_or_default();
        cfg.callback = get("oauth_callback").unwrap_or_default();
        cfg.verifier = Secret::new(get("oauth_verifier").unwrap_or_default());
        cfg.realm = opt(case, "realm");
        let o = OAuth1::new(cfg).unwrap();

        let ct = opt(case, "content_type");
        let mut req = request(&s(case, "method"), &s(case, "url"), ct.as_deref());
        let mut body = Bytes::from(opt(case, "body").unwrap_or_default());
        sign(&o, &mut req, &mut body);

        let sent = header_params(&req);
        let sig = sent
            .iter()
            .find(|(k, _)| k == "oauth_signature")
            .map(|(_, v)| v.clone());
        assert_eq!(sig, Some(s(case, "signature")), "signature, case {name:?}");
        let realm = sent
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone());
        assert_eq!(realm, opt(case, "realm"), "realm, case {name:?}");
        let mut sent_oauth: Vec<_> = sent
            .into_iter()
            .filter(|(k, _)| k != "realm" && k != "oauth_signature")
            .collect();
        let mut want = oauth.clone();
        sent_oauth.sort();
        want.sort();
        assert_eq!(sent_oauth, want, "oauth_* parameters, case {name:?}");
        let base = sent_base_string(&req, &body, ct.is_some());
        assert_eq!(
            base,
            s(case, "signature_base_string"),
            "base string, case {name:?}"
        );
        assert_eq!(
            body,
            opt(case, "body").unwrap_or_default(),
            "body unchanged, case {name:?}"
        );
    }
}

#[test]
fn hmac_sha1_primitives_all_cases() {
    let v = vectors();
    let cases = v["hmac_sha1_primitive_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let mut cfg = config("ck");
        cfg.consumer_secret = Secret::new(s(case, "client_secret"));
        cfg.token_secret = Secret::new(s(case, "token_secret"));
        let o = OAuth1::new(cfg).unwrap();
        let got = o.signature(&s(case, "signature_base_string"));
        assert_eq!(got, s(case, "signature"), "case {:?}", s(case, "name"));
    }
}

#[test]
fn rsa_sha1_all_cases_pkcs8_and_pkcs1() {
    let v = vectors();
    let cases = v["rsa_sha1_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    for case in cases {
        let name = s(case, "name");
        let pkcs8 = s(case, "private_key_pkcs8_pem");
        // The same key re-encoded as PKCS#1 must sign identically.
        let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_pem(&pkcs8)
            .unwrap()
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .unwrap()
            .to_string();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        for (form, pem) in [("PKCS#8", pkcs8), ("PKCS#1", pkcs1)] {
            let params = case["all_parameters_decoded"].as_array().unwrap();
            let get = |k: &str| {
                params
                    .iter()
                    .find(|p| p[0] == k)
                    .map(|p| p[1].as_str().unwrap().to_owned())
            };
            let mut cfg = config(&s(case, "consumer_key"));
            cfg.signature_method = super::SignatureMethod::RsaSha1;
            cfg.private_key = Some(Secret::new(pem));
            cfg.timestamp = get("oauth_timestamp");
            cfg.nonce = get("oauth_nonce");
            let o = OAuth1::new(cfg).unwrap();
            let mut req = request(&s(case, "method"), &s(case, "url"), None);
            sign(&o, &mut req, &mut Bytes::new());
            let sent = header_params(&req);
            let sig = sent
                .iter()
                .find(|(k, _)| k == "oauth_signature")
                .map(|(_, v)| v.clone());
            assert_eq!(
                sig,
                Some(s(case, "signature")),
                "signature, case {name:?} with {form}"
            );
            let base = sent_base_string(&req, b"", false);
            assert_eq!(
                base,
                s(case, "signature_base_string"),
                "base string, case {name:?} with {form}"
            );
        }
    }
}

#[test]
fn plaintext_all_cases() {
    let v = vectors();
    let cases = v["plaintext_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    for case in cases {
        let name = s(case, "name");
        let mut cfg = config(&s(case, "oauth_consumer_key"));
        cfg.signature_method = super::SignatureMethod::Plaintext;
        cfg.consumer_secret = Secret::new(s(case, "client_secret"));
        cfg.token_secret = Secret::new(s(case, "token_secret"));
        cfg.callback = s(case, "oauth_callback");
        cfg.realm = opt(case, "realm");
        cfg.version = String::new();
        let o = OAuth1::new(cfg).unwrap();
        let mut req = request(&s(case, "method"), &s(case, "url"), None);
        sign(&o, &mut req, &mut Bytes::new());
        // signet also sends oauth_timestamp and oauth_nonce, which RFC 5849 §3.1 makes optional
        // for PLAINTEXT; every other parameter must be exactly the RFC's, in its header.
        let header = req.headers[AUTHORIZATION].to_str().unwrap().to_owned();
        let expected = s(case, "authorization_header");
        let expected = expected.strip_prefix("OAuth ").unwrap();
        for param in expected.split(", ") {
            assert!(header.contains(param), "{param} in {header}, case {name:?}");
        }
        let sent = header_params(&req);
        let sig = sent
            .iter()
            .find(|(k, _)| k == "oauth_signature")
            .map(|(_, v)| v.clone());
        assert_eq!(sig, Some(s(case, "signature")), "signature, case {name:?}");
    }
}

#[test]
fn base_string_uri_all_cases() {
    let v = vectors();
    let cases = v["base_string_uri_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let uri: http::Uri = format!(
            "{}://{}{}",
            s(case, "scheme"),
            s(case, "host_header"),
            s(case, "request_target")
        )
        .parse()
        .unwrap();
        let got = super::base_string_uri(&uri).unwrap();
        assert_eq!(
            got,
            s(case, "base_string_uri"),
            "case {:?}",
            s(case, "name")
        );
    }
}

#[test]
fn percent_encoding_all_cases() {
    let v = vectors();
    let cases = v["percent_encoding_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for case in cases {
        let input = s(case, "input");
        assert_eq!(
            encode(input.as_bytes()),
            s(case, "encoded"),
            "input {input:?}"
        );
    }
}

/// Cases without published vectors; expected values were computed with Python's oauthlib
/// (`Client.sign`, or its `signature` module for what `Client` cannot send).
mod unpublished {
    use super::super::*;
    use super::{config, header_params, request, sign};
    use crate::auth::context::Entropy;

    const URL: &str = "https://api.example.com/r/x?b=2&a=1&a=%20z";

    fn cfg(method: SignatureMethod) -> OAuth1Config {
        let mut c = config("key1");
        c.signature_method = method;
        c.consumer_secret = Secret::new("sec1");
        c.token = Secret::new("tok1");
        c.token_secret = Secret::new("tsec1");
        c.nonce = Some("abcDEF123".into());
        c.timestamp = Some("1700000000".into());
        c
    }

    fn sent_signature(req: &Parts) -> String {
        header_params(req)
            .into_iter()
            .find(|(k, _)| k == "oauth_signature")
            .unwrap()
            .1
    }

    fn signed(
        c: OAuth1Config,
        method: &str,
        url: &str,
        ct: Option<&str>,
        body: &str,
    ) -> (Parts, Bytes) {
        let mut req = request(method, url, ct);
        let mut body = Bytes::from(body.to_owned());
        sign(&OAuth1::new(c).unwrap(), &mut req, &mut body);
        (req, body)
    }

    fn rsa_key() -> Secret {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/oauth1/oauth1-vectors.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        Secret::new(
            v["rsa_sha1_cases"][0]["private_key_pkcs8_pem"]
                .as_str()
                .unwrap(),
        )
    }

    #[test]
    fn hmac_sha256_and_sha512_match_oauthlib() {
        let (req, _) = signed(cfg(SignatureMethod::HmacSha256), "GET", URL, None, "");
        assert_eq!(
            sent_signature(&req),
            "2/rvUTVEwHRNiCiNCCWLW1iDysIKye9OxcBlyXSl/zE="
        );
        let (req, _) = signed(cfg(SignatureMethod::HmacSha512), "GET", URL, None, "");
        assert_eq!(
            sent_signature(&req),
            "omIS0OP/90KoQ4jVTFBeKHoTGJXJOwwynGsiqloENoNzGOx2TwPfncgm+wIh0eiXgQmBHRRBunh8wTSynT0wfQ=="
        );
    }

    #[test]
    fn rsa_sha256_and_sha512_match_oauthlib() {
        let cases = [
            (
                SignatureMethod::RsaSha256,
                "EwMYlLOP1I35gIpvok6BedpKkvi22QAeRwdEyIkSlNsmyI7/Q8g2msRJyPdCW7JxD7PmIAucmJ/eMnOTGzWiyX3Y/pJke66inso/anuB2pbNx1J0n7EDdCnYu77kT6nLc3EGgbZuzr0GanE/usJ1utbnB3nDLXenjNaEwMcWC1Y=",
            ),
            (
                SignatureMethod::RsaSha512,
                "UoPtEszak4/mpL5CSeS1YMfEE4HWHUhwEbpDSGr3Hs+cscO/zAu7Yl8XQXXSYAuzqpNvwucoKnKHHKre3OeIcnUHtc1EFvJpCMEfh8ARYoK80OAUkYvLp0nqNu6Ou/G1Sy5iXhZmmEF6z5g7X5NQlHly2L3M/WJoBCbDT5PZGZQ=",
            ),
        ];
        for (method, want) in cases {
            let mut c = cfg(method);
            c.private_key = Some(rsa_key());
            let (req, _) = signed(c, "GET", URL, None, "");
            assert_eq!(sent_signature(&req), want, "{method:?}");
        }
    }

    #[test]
    fn query_or_body_puts_parameters_in_the_query_of_a_get() {
        let mut c = cfg(SignatureMethod::HmacSha1);
        c.add_to = AddTo::QueryOrBody;
        let (req, _) = signed(c, "GET", URL, None, "");
        assert!(req.headers.get(AUTHORIZATION).is_none());
        let query = req.uri.query().unwrap();
        assert!(
            query.starts_with("b=2&a=1&a=%20z&oauth_consumer_key=key1&"),
            "{query}"
        );
        let sent = parse_form(query.as_bytes());
        let sig = sent.iter().find(|(k, _)| k == b"oauth_signature").unwrap();
        assert_eq!(sig.1, b"X/h+ySDiUOsfQWUmQJv5m67K1hQ=");
    }

    #[test]
    fn query_or_body_puts_parameters_in_a_form_post_body() {
        let mut c = cfg(SignatureMethod::HmacSha1);
        c.add_to = AddTo::QueryOrBody;
        let form = Some("application/x-www-form-urlencoded; charset=utf-8");
        let (req, body) = signed(
            c,
            "POST",
            "https://api.example.com/form?q=1",
            form,
            "name=J%C3%B6rg+M&x=1",
        );
        assert_eq!(req.uri.query(), Some("q=1"));
        assert!(body.starts_with(b"name=J%C3%B6rg+M&x=1&oauth_consumer_key=key1&"));
        let sent = parse_form(&body);
        let sig = sent.iter().find(|(k, _)| k == b"oauth_signature").unwrap();
        assert_eq!(sig.1, b"FkW15NE7pSh6CmLCMRVoUTHChrI=");
    }

    #[test]
    fn body_hash_uses_the_signature_methods_hash() {
        let json = Some("application/json");
        let mut c = cfg(SignatureMethod::HmacSha1);
        c.include_body_hash = true;
        let o = OAuth1::new(c.clone()).unwrap();
        assert_eq!(
            o.body_need(&request("POST", "https://a/json", json)),
            BodyNeed::Required
        );
        let (req, _) = signed(
            c,
            "POST",
            "https://api.example.com/json",
            json,
            r#"{"a": 1}"#,
        );
        let sent = header_params(&req);
        assert!(sent.contains(&(
            "oauth_body_hash".into(),
            "5K1NqtU6LuwDEzhq2oghHlDWk70=".into()
        )));
        assert_eq!(sent_signature(&req), "geAxW3PDw6bHfhsVUBg2/Cgw0K0=");

        let mut c = cfg(SignatureMethod::HmacSha256);
        c.include_body_hash = true;
        let (req, _) = signed(
            c,
            "POST",
            "https://api.example.com/json",
            json,
            r#"{"a": 1}"#,
        );
        let sent = header_params(&req);
        assert!(sent.contains(&(
            "oauth_body_hash".into(),
            "+dhgKMbg1k4iUYb5astpM4ssWXZN95FiEH9cS7NNExA=".into()
        )));
        assert_eq!(
            sent_signature(&req),
            "4TjyfrOd1VTq7GGtWT1Czeo7W/ddmK4zMH+e/N9IB2g="
        );
    }

    #[test]
    fn callback_verifier_realm_and_explicit_port() {
        let mut c = cfg(SignatureMethod::HmacSha1);
        c.callback = "https://cb.example/x?y=1".into();
        c.verifier = Secret::new("ver1");
        c.realm = Some("R".into());
        let (req, _) = signed(c, "POST", "http://api.example.com:8080/t", None, "");
        let header = req.headers[AUTHORIZATION].to_str().unwrap();
        assert!(header.starts_with("OAuth realm=\"R\", "), "{header}");
        assert!(
            header.contains("oauth_callback=\"https%3A%2F%2Fcb.example%2Fx%3Fy%3D1\""),
            "{header}"
        );
        assert_eq!(sent_signature(&req), "fQYX/FroTS/czEQDmXda6Kvhm/M=");
    }

    #[test]
    fn add_empty_params_signs_empty_token_callback_and_verifier() {
        let mut c = cfg(SignatureMethod::HmacSha1);
        c.token = Secret::default();
        c.token_secret = Secret::default();
        c.add_empty_params = true;
        let (req, _) = signed(c, "GET", "https://api.example.com/e?a=1", None, "");
        let sent = header_params(&req);
        for name in ["oauth_token", "oauth_callback", "oauth_verifier"] {
            assert!(
                sent.contains(&(name.into(), String::new())),
                "{name} in {sent:?}"
            );
        }
        assert_eq!(sent_signature(&req), "Xj25OnZlzl4ibRXQngMi8W0uRRY=");
    }

    #[test]
    fn client_oauth_parameters_and_header_are_replaced() {
        let url = "https://api.example.com/r/x?b=2&oauth_token=evil&a=1&a=%20z&oauth_signature=x";
        let mut req = request("GET", url, None);
        req.headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("OAuth oauth_token=\"evil\""),
        );
        let o = OAuth1::new(cfg(SignatureMethod::HmacSha256)).unwrap();
        o.sign(&mut req, None, &SignContext::system()).unwrap();
        assert_eq!(req.uri.query(), Some("b=2&a=1&a=%20z"));
        assert_eq!(req.headers.get_all(AUTHORIZATION).iter().count(), 1);
        assert_eq!(
            sent_signature(&req),
            "2/rvUTVEwHRNiCiNCCWLW1iDysIKye9OxcBlyXSl/zE="
        );
    }

    struct Fixed;
    impl Entropy for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = i as u8 * 7);
        }
    }

    #[test]
    fn nonce_and_timestamp_come_from_the_context() {
        let mut c = cfg(SignatureMethod::HmacSha1);
        c.nonce = None;
        c.timestamp = None;
        let cx = SignContext {
            now: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_234_567_890),
            fixed_nonce: None,
            entropy: &Fixed,
        };
        let mut req = request("GET", URL, None);
        OAuth1::new(c).unwrap().sign(&mut req, None, &cx).unwrap();
        let sent = header_params(&req);
        let get = |k: &str| sent.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("oauth_timestamp"), "1234567890");
        let nonce = get("oauth_nonce");
        assert_eq!(nonce.len(), 32);
        assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()), "{nonce}");
    }

    #[test]
    fn unencoded_header_params_are_sent_raw() {
        let mut c = cfg(SignatureMethod::HmacSha256);
        c.encode_header_params = false;
        let (req, _) = signed(c, "GET", URL, None, "");
        let header = req.headers[AUTHORIZATION].to_str().unwrap();
        // Same signature as with encoding: only the header's spelling changes.
        assert!(
            header.contains("oauth_signature=\"2/rvUTVEwHRNiCiNCCWLW1iDysIKye9OxcBlyXSl/zE=\""),
            "{header}"
        );
        let mut c = cfg(SignatureMethod::HmacSha1);
        c.encode_header_params = false;
        c.callback = "a\"b".into();
        assert!(
            OAuth1::new(c)
                .unwrap_err()
                .to_string()
                .contains("`callback`")
        );
    }

    #[test]
    fn body_is_needed_only_for_forms_or_body_hashes() {
        let o = OAuth1::new(cfg(SignatureMethod::HmacSha1)).unwrap();
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(
            o.body_need(&request("POST", "https://a/", form)),
            BodyNeed::Required
        );
        assert_eq!(
            o.body_need(&request("POST", "https://a/", Some("application/json"))),
            BodyNeed::None
        );
        assert_eq!(
            o.body_need(&request("GET", "https://a/", None)),
            BodyNeed::None
        );
        let mut c = cfg(SignatureMethod::Plaintext);
        c.include_body_hash = true;
        let o = OAuth1::new(c).unwrap();
        assert_eq!(
            o.body_need(&request("POST", "https://a/", None)),
            BodyNeed::None
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_describe_and_errors() {
        let mut c = cfg(SignatureMethod::RsaSha256);
        c.private_key = Some(Secret::new(
            "-----BEGIN PRIVATE KEY-----\nNOTAKEY\n-----END PRIVATE KEY-----",
        ));
        let err = OAuth1::new(c).unwrap_err().to_string();
        assert!(
            err.contains("private_key") && !err.contains("NOTAKEY"),
            "{err}"
        );
        let o = OAuth1::new(cfg(SignatureMethod::HmacSha1)).unwrap();
        for text in [format!("{o:?}"), o.describe()] {
            assert!(
                !text.contains("key1") && !text.contains("sec1") && !text.contains("tok1"),
                "{text}"
            );
        }
        assert_eq!(
            o.describe(),
            "oauth1 signature_method=HMAC-SHA1 add_to=header realm=- token=yes body_hash=false"
        );
    }
}
