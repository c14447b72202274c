//! The `jwt` scheme's own tests; the published vectors are in `vectors.rs`.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use http::header::AUTHORIZATION;

use super::keys::EntropyRng;
use super::*;
use crate::context::OsEntropy;
use pkcs8::PrivateKeyInfo;

const SECRET: &str = "1111111111111111111111111111111a";

fn config(toml: &str) -> JwtConfig {
    toml::from_str(toml).unwrap_or_else(|e| panic!("{toml}: {e}"))
}

fn jwt(extra: &str) -> Jwt {
    Jwt::new(config(&format!(
        "algorithm = \"HS256\"\nsecret = \"{SECRET}\"\n{extra}"
    )))
    .unwrap()
}

fn build_error(toml: &str) -> BuildError {
    Jwt::new(config(toml)).unwrap_err()
}

fn at(secs: u64, nonce: Option<&'static str>) -> SignContext<'static> {
    SignContext {
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        fixed_nonce: nonce,
        entropy: &OsEntropy,
    }
}

fn token_at(jwt: &Jwt, cx: &SignContext<'_>) -> String {
    let (mut parts, ()) = http::Request::new(()).into_parts();
    jwt.sign(&mut parts, cx).unwrap();
    let value = parts.headers[AUTHORIZATION].to_str().unwrap().to_owned();
    value.strip_prefix("Bearer ").unwrap().to_owned()
}

fn part(token: &str, i: usize) -> String {
    let segment = token.split('.').nth(i).unwrap();
    String::from_utf8(B64U.decode(segment).unwrap()).unwrap()
}

#[test]
fn header_is_postmans_spread_with_alg_in_its_place_or_last() {
    // {...header, alg}: the fields as written, a given alg keeps its place with the algorithm's
    // name; integer-like names first, as in any JavaScript object.
    let j = jwt(
        r#"header = '{"x5t":"a","kid":"k","typ":"JWT","alg":"none","n":[1,{"z":null,"b":2}],"7":0}'"#,
    );
    assert_eq!(
        part(&token_at(&j, &at(0, None)), 0),
        r#"{"7":0,"x5t":"a","kid":"k","typ":"JWT","alg":"HS256","n":[1,{"z":null,"b":2}]}"#
    );
    // A repeated name keeps its first place and takes the last value, as JSON.parse does.
    let j = jwt(r#"header = '{"kid":"a","cty":"x","kid":"b"}'"#);
    assert_eq!(
        part(&token_at(&j, &at(0, None)), 0),
        r#"{"kid":"b","cty":"x","alg":"HS256"}"#
    );
    // No header, an empty one, `null`: `{"alg":…}` alone, no typ.
    for h in ["", "header = ''", "header = 'null'", "header = {}"] {
        assert_eq!(
            part(&token_at(&jwt(h), &at(0, None)), 0),
            r#"{"alg":"HS256"}"#
        );
    }
}

#[test]
fn payload_is_written_back_as_json_stringify_writes_it() {
    // What node prints for JSON.stringify(JSON.parse(...)) of the same text.
    let j = jwt(
        "payload = '''\n { \"b\" : 1.0,\n  \"a\": [true, \"\\u00e9\\/\"], \"10\": 0, \"2\": 1e21 }\n'''",
    );
    assert_eq!(
        part(&token_at(&j, &at(0, None)), 1),
        "{\"2\":1e+21,\"10\":0,\"b\":1,\"a\":[true,\"\u{e9}/\"]}"
    );
    let j = jwt("payload = { sub = \"me\", n = 1, nested = { b = true, f = 1.5 } }");
    assert_eq!(
        part(&token_at(&j, &at(0, None)), 1),
        r#"{"n":1,"nested":{"b":true,"f":1.5},"sub":"me"}"#
    );
    for p in ["", "payload = ''", "payload = {}"] {
        assert_eq!(part(&token_at(&jwt(p), &at(0, None)), 1), "{}");
    }
    // jose's SignJWT signs claims sets only.
    for p in ["'\"just a string\"'", "'[1]'", "'null'"] {
        let err = build_error(&format!(
            "algorithm = \"HS256\"\nsecret = \"s\"\npayload = {p}\n"
        ));
        assert_eq!(err.key, Some("payload"), "{p}: {err}");
    }
}

#[test]
fn numbers_print_as_javascript_prints_them() {
    // ECMA-262 Number::toString: node's String(v) for each.
    for (v, js) in [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (0.1, "0.1"),
        (100.0, "100"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (123456789012345680000.0, "123456789012345680000"),
        (0.000001, "0.000001"),
        (0.0000001, "1e-7"),
        (1.25e-7, "1.25e-7"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740993.0, "9007199254740992"),
        (0.30000000000000004, "0.30000000000000004"),
    ] {
        assert_eq!(json::js_number(v), js, "{v:e}");
    }
}

#[test]
fn added_claims_go_at_the_end_of_the_object() {
    let all = "issued_at = true\nnot_before = true\nexpires_in = 600\njwt_id = true\n";
    let j = jwt(&format!("payload = '{{\"sub\":\"me\"}}'\n{all}"));
    assert_eq!(
        part(&token_at(&j, &at(1000, Some("n-1"))), 1),
        r#"{"sub":"me","iat":1000,"nbf":1000,"exp":1600,"jti":"n-1"}"#
    );
    let j = jwt("issued_at = true");
    assert_eq!(part(&token_at(&j, &at(5, None)), 1), r#"{"iat":5}"#);
    let j = jwt("payload = '''{\"a\":1\n}'''\nexpires_in = 60");
    assert_eq!(
        part(&token_at(&j, &at(5, None)), 1),
        "{\"a\":1,\"iat\":5,\"exp\":65}"
    );
    let j = jwt("payload = { a = 1 }\nnot_before = true");
    assert_eq!(part(&token_at(&j, &at(7, None)), 1), r#"{"a":1,"nbf":7}"#);
    // A random jti: 32 hex digits, fresh each time.
    let j = jwt("jwt_id = true");
    let one = part(&token_at(&j, &at(0, None)), 1);
    let two = part(&token_at(&j, &at(0, None)), 1);
    assert_ne!(one, two);
    let jti: serde_json::Value = serde_json::from_str(&one).unwrap();
    let jti = jti["jti"].as_str().unwrap();
    assert!(jti.len() == 32 && jti.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn tokens_are_reused_while_more_than_half_their_life_remains() {
    let fixed = jwt("");
    assert_eq!(
        token_at(&fixed, &at(0, None)),
        token_at(&fixed, &at(99_999, None))
    );

    let j = jwt("expires_in = 600");
    let first = token_at(&j, &at(1000, None));
    assert_eq!(token_at(&j, &at(1299, None)), first);
    let second = token_at(&j, &at(1300, None));
    assert_ne!(second, first);
    assert!(part(&second, 1).contains("\"iat\":1300"));
    // A clock that went back gets a token it can use.
    let back = token_at(&j, &at(900, None));
    assert!(part(&back, 1).contains("\"iat\":900"));

    // iat or nbf without exp: the time of the request, to the second.
    let j = jwt("issued_at = true");
    let t = token_at(&j, &at(50, None));
    assert_eq!(token_at(&j, &at(50, None)), t);
    assert_ne!(token_at(&j, &at(51, None)), t);

    // jti: never twice, even with the nonce fixed (the same claims, signed again).
    let j = jwt("jwt_id = true\nexpires_in = 600");
    assert_ne!(
        part(&token_at(&j, &at(1, None)), 1),
        part(&token_at(&j, &at(1, None)), 1)
    );
    assert!(j.cache.lock().unwrap().is_none());
}

#[test]
fn config_errors_name_the_key() {
    let hs = format!("algorithm = \"HS256\"\nsecret = \"{SECRET}\"\n");
    let cases: &[(String, &str, &str)] = &[
        ("algorithm = \"HS256\"".into(), "secret", "required for HS256"),
        ("algorithm = \"HS384\"\nsecret = \"\"".into(), "secret", "required"),
        (
            "algorithm = \"HS256\"\nsecret = \"not base64!\"\nis_secret_base64_encoded = true"
                .into(),
            "secret",
            "not base64",
        ),
        ("algorithm = \"RS256\"".into(), "private_key", "required for RS256"),
        (
            "algorithm = \"RS256\"\nprivate_key = \"MIIEvQIBADANBg\"".into(),
            "private_key",
            "not a PEM private key",
        ),
        (
            "algorithm = \"RS256\"\nprivate_key = \"-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\"".into(),
            "private_key",
            "not a valid PEM PRIVATE KEY",
        ),
        (
            "algorithm = \"RS256\"\nprivate_key = \"-----BEGIN PUBLIC KEY-----\\nMIIB\\n-----END PUBLIC KEY-----\"".into(),
            "private_key",
            "is a PEM PUBLIC KEY, not a private key",
        ),
        (
            "algorithm = \"ES256\"\nprivate_key = \"-----BEGIN ENCRYPTED PRIVATE KEY-----\\nMIIB\\n-----END ENCRYPTED PRIVATE KEY-----\"".into(),
            "private_key",
            "encrypted",
        ),
        (format!("{hs}payload = '{{\"a\":'"), "payload", "not valid JSON"),
        (format!("{hs}payload = 'sub=me'"), "payload", "not valid JSON"),
        (
            format!("{hs}payload = '[1]'\nissued_at = true"),
            "payload",
            "must be a JSON object",
        ),
        (
            format!("{hs}payload = '{{\"exp\":1}}'\nexpires_in = 60"),
            "payload",
            "has `exp`",
        ),
        (format!("{hs}header = '[]'"), "header", "must be a JSON object"),
        (format!("{hs}header = '{{'"), "header", "not valid JSON"),
        (format!("{hs}expires_in = 0"), "expires_in", "at least 1"),
        (
            format!("{hs}add_token_to = \"query_param\"\nquery_param_key = \"\""),
            "query_param_key",
            "empty",
        ),
        (format!("{hs}header_prefix = \"a\\nb\""), "header_prefix", "not allowed"),
    ];
    for (toml, key, reason) in cases {
        let err = build_error(toml);
        assert_eq!(err.key, Some(*key), "{toml}: {err}");
        assert!(err.reason.contains(reason), "{toml}: {err}");
        assert!(!err.to_string().contains(SECRET));
    }
    // Unknown algorithms and keys are refused by the table's own parse.
    let err = toml::from_str::<JwtConfig>("algorithm = \"HS257\"").unwrap_err();
    assert!(err.to_string().contains("unknown variant `HS257`"), "{err}");
    let err = toml::from_str::<JwtConfig>("algorithm = \"HS256\"\npayload = 5").unwrap_err();
    assert!(
        err.to_string().contains("a JSON string or an inline table"),
        "{err}"
    );
}

#[test]
fn keys_of_the_wrong_kind_or_size_are_refused_at_private_key() {
    use rsa::pkcs8::EncodePrivateKey;

    let rng = ring::rand::SystemRandom::new();
    let p384 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let p384 = pkcs8::der::pem::encode_string("PRIVATE KEY", pkcs8::LineEnding::LF, p384.as_ref())
        .unwrap();
    let p256 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let p256_sec1 = PrivateKeyInfo::try_from(p256.as_ref()).unwrap().private_key;
    let p256_sec1 = sec1::EcPrivateKey::try_from(p256_sec1).unwrap();
    // With the curve named inside, as `openssl ec` writes it.
    let p256_sec1 = sec1::EcPrivateKey {
        parameters: Some(sec1::EcParameters::NamedCurve(Curve::ALL[0].1)),
        ..p256_sec1
    };
    let p256_sec1 = pkcs8::der::Encode::to_der(&p256_sec1).unwrap();
    let p256_sec1 =
        pkcs8::der::pem::encode_string("EC PRIVATE KEY", pkcs8::LineEnding::LF, &p256_sec1)
            .unwrap();
    let small = rsa::RsaPrivateKey::new(&mut EntropyRng(&OsEntropy), 1024).unwrap();
    let small_pkcs1 =
        rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_pem(&small, pkcs8::LineEnding::LF).unwrap();
    let small = small.to_pkcs8_pem(pkcs8::LineEnding::LF).unwrap();
    let cases = [
        (
            "ES384",
            p256_sec1.as_str(),
            "is an EC P-256 key; ES384 needs an EC P-384 key",
        ),
        (
            "RS256",
            p256_sec1.as_str(),
            "is an EC key; RS256 needs an RSA key",
        ),
        (
            "ES256",
            small_pkcs1.as_str(),
            "is an RSA key; ES256 needs an EC P-256 key",
        ),
        ("RS256", small_pkcs1.as_str(), "1024-bit RSA key"),
        (
            "ES256",
            p384.as_str(),
            "is an EC P-384 key; ES256 needs an EC P-256 key",
        ),
        (
            "RS256",
            p384.as_str(),
            "is an EC P-384 key; RS256 needs an RSA key",
        ),
        (
            "ES512",
            small.as_str(),
            "is an RSA key; ES512 needs an EC P-521 key",
        ),
        ("PS256", small.as_str(), "1024-bit RSA key"),
    ];
    for (alg, pem, reason) in cases {
        let cfg = JwtConfig {
            private_key: Some(Secret::new(pem)),
            ..config(&format!("algorithm = \"{alg}\""))
        };
        let err = Jwt::new(cfg).unwrap_err();
        assert_eq!(err.key, Some("private_key"), "{alg}: {err}");
        assert!(err.reason.contains(reason), "{alg}: {err}");
        assert!(!err.to_string().contains("BEGIN"), "{err}");
    }
}

#[test]
fn describe_and_debug_hide_the_secret() {
    let j = jwt("expires_in = 60\njwt_id = true");
    assert_eq!(
        j.describe(),
        "jwt HS256 header prefix=\"Bearer\", adds iat exp jti (expires_in 60s)"
    );
    let _ = token_at(&j, &at(0, None));
    let debug = format!("{j:?}");
    assert!(!debug.contains(SECRET) && !debug.contains("eyJ"), "{debug}");
    let cfg = format!(
        "{:?}",
        config(&format!("algorithm = \"HS256\"\nsecret = \"{SECRET}\""))
    );
    assert!(!cfg.contains(SECRET), "{cfg}");
    let q = jwt("add_token_to = \"query_param\"");
    assert_eq!(q.describe(), "jwt HS256 query parameter token");
}
