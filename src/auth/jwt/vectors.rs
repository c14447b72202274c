//! The JWS vectors (tests/vectors/jwt), every case that applies: Postman's own HS256/384/512
//! tokens, RFC 7515 A.1, RFC 7520 4.1 (RS256) and 4.4 (HS256) reproduced byte for byte; and the
//! randomised algorithms (PS*, ES*) verified by a verifier other than the signer's: ring for
//! RSA and P-256/P-384, and for P-521 (which ring lacks) the textbook ECDSA check written out
//! below over big integers, itself checked against RFC 7520 4.3's published signature.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use http::header::AUTHORIZATION;
use http::request::Parts;
use pkcs8::der::Encode;
use pkcs8::{LineEnding, ObjectIdentifier, PrivateKeyInfo};
use rsa::BigUint;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;
use serde_json::Value;

use super::{Algorithm, Jwt, JwtConfig};
use crate::context::{Entropy, OsEntropy, SignContext};

fn vectors(name: &str) -> Value {
    let path = format!("{}/tests/vectors/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("vector JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing {key} in {v}"))
}

fn b64u(v: &Value, key: &str) -> Vec<u8> {
    B64U.decode(s(v, key)).expect("base64url in the vector")
}

/// A TOML basic string holding `text`.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn jwt(toml: &str) -> Jwt {
    let cfg: JwtConfig = toml::from_str(toml).unwrap_or_else(|e| panic!("{toml}: {e}"));
    Jwt::new(cfg).unwrap_or_else(|e| panic!("{toml}: {e}"))
}

fn request(url: &str) -> Parts {
    http::Request::builder()
        .uri(url)
        .header(AUTHORIZATION, "Bearer client")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn cx() -> SignContext<'static> {
    SignContext::system()
}

/// The `Authorization` header `jwt` sends.
fn authorization(jwt: &Jwt) -> String {
    let mut parts = request("http://api.test/v1");
    jwt.sign(&mut parts, &cx()).unwrap();
    let values: Vec<_> = parts.headers.get_all(AUTHORIZATION).iter().collect();
    assert_eq!(values.len(), 1, "the client's header is replaced");
    values[0].to_str().unwrap().to_owned()
}

fn bearer_token(jwt: &Jwt) -> String {
    authorization(jwt)
        .strip_prefix("Bearer ")
        .expect("Bearer prefix")
        .to_owned()
}

/// The three parts of a compact JWS, decoded, and the signing input.
fn split(token: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let decode = |p: &str| B64U.decode(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    (
        decode(parts[0]),
        decode(parts[1]),
        decode(parts[2]),
        format!("{}.{}", parts[0], parts[1]),
    )
}

struct Fixed(u8);

impl Entropy for Fixed {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(self.0);
    }
}

#[test]
fn postman_runtime_tokens_byte_for_byte() {
    let doc = vectors("postman-runtime-vectors.json");
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        let name = s(case, "name");
        let set = &case["settings"];
        let want_token = s(case, "token");
        let want_header = s(case, "authorization_header");
        let base = format!(
            "algorithm = {}\npayload = {}\nheader = {}\n",
            quoted(s(set, "algorithm")),
            quoted(s(set, "payload")),
            quoted(s(set, "header")),
        );

        let plain = format!(
            "{base}secret = {}\nis_secret_base64_encoded = {}\n",
            quoted(s(set, "secret")),
            set["is_secret_base64_encoded"]
        );
        assert_eq!(authorization(&jwt(&plain)), want_header, "{name}");

        let b64 = &case["settings_base64_secret"];
        let encoded = format!(
            "{base}secret = {}\nis_secret_base64_encoded = {}\n",
            quoted(s(b64, "secret")),
            b64["is_secret_base64_encoded"]
        );
        assert_eq!(authorization(&jwt(&encoded)), want_header, "{name} base64");

        // The same payload and header as inline tables: `{"a":"1"}` and `{}` again.
        let tables = format!(
            "algorithm = {}\nsecret = {}\npayload = {{ a = \"1\" }}\nheader = {{}}\n",
            quoted(s(set, "algorithm")),
            quoted(s(set, "secret")),
        );
        assert_eq!(bearer_token(&jwt(&tables)), want_token, "{name} tables");

        // As a query parameter, replacing the client's; and with no prefix, the token alone.
        let query = jwt(&format!("{plain}add_token_to = \"query_param\"\n"));
        let mut parts = request("http://api.test/v1?token=client&x=1");
        query.sign(&mut parts, &cx()).unwrap();
        assert_eq!(
            parts.uri.query(),
            Some(format!("x=1&token={want_token}").as_str()),
            "{name} query"
        );
        assert_eq!(parts.headers[AUTHORIZATION], "Bearer client", "{name}");
        let custom = jwt(&format!(
            "{plain}add_token_to = \"query_param\"\nquery_param_key = \"jwt\"\n"
        ));
        let mut parts = request("http://api.test/v1");
        custom.sign(&mut parts, &cx()).unwrap();
        assert_eq!(
            parts.uri.query(),
            Some(format!("jwt={want_token}").as_str())
        );
        let bare = jwt(&format!("{plain}header_prefix = \"\"\n"));
        assert_eq!(authorization(&bare), want_token, "{name} no prefix");
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn rfc7515_a1_hs256_signs_the_given_signing_input() {
    let doc = vectors("jws-vectors.json");
    let case = &doc["cases"][0];
    assert_eq!(s(case, "name"), "rfc7515-a.1-hs256");
    // The signing input is exactly the published octets, CRLF and spaces included.
    assert_eq!(
        b64u(case, "protected_b64u"),
        s(case, "protected_header_octets_utf8").as_bytes()
    );
    assert_eq!(
        b64u(case, "payload_b64u"),
        s(case, "payload_octets_utf8").as_bytes()
    );
    // The JWK's `k` is base64url: Postman's base64 secret option takes it as it is.
    let hs = jwt(&format!(
        "algorithm = \"HS256\"\nsecret = {}\nis_secret_base64_encoded = true\n",
        quoted(s(&case["key_jwk"], "k"))
    ));
    let input = s(case, "signing_input");
    let signature = hs
        .key
        .sign(Algorithm::Hs256, input.as_bytes(), &OsEntropy)
        .unwrap();
    assert_eq!(B64U.encode(&signature), s(case, "signature_b64u"));
    assert_eq!(
        format!("{input}.{}", B64U.encode(&signature)),
        s(case, "compact")
    );
}

#[test]
fn rfc7520_4_4_hs256_header_and_token() {
    let doc = vectors("jws-vectors.json");
    let case = &doc["cases"][1];
    assert_eq!(s(case, "name"), "rfc7520-4.4-hs256");
    let kid = s(&case["protected_header"], "kid");
    let hs = jwt(&format!(
        "algorithm = \"HS256\"\nsecret = {}\nis_secret_base64_encoded = true\nheader = {}\n",
        quoted(s(&case["key_jwk"], "k")),
        // `alg` keeps the place it is given (Postman's `{...header, alg}`).
        quoted(&format!("{{\"alg\":\"HS512\",\"kid\":\"{kid}\"}}")),
    ));
    assert_eq!(hs.header_b64, s(case, "protected_b64u"));
    // The payload is prose, not JSON, so it goes in below the config's JSON check.
    let token = hs
        .mint(s(case, "payload_utf8").as_bytes(), &OsEntropy)
        .unwrap();
    assert_eq!(token, s(case, "compact"));
    assert!(token.starts_with(s(case, "signing_input")));
}

/// The RFC 7520 RSA key (a published example key), as PKCS#8 and PKCS#1 PEM, and its public
/// half as big-endian `n` and `e`.
fn rfc7520_rsa() -> (String, String, Vec<u8>, Vec<u8>) {
    let doc = vectors("jws-vectors.json");
    let case = &doc["cases"][2];
    assert_eq!(s(case, "name"), "rfc7520-4.1-rs256");
    let jwk = &case["key_jwk"];
    let int = |k: &str| BigUint::from_bytes_be(&b64u(jwk, k));
    let key =
        rsa::RsaPrivateKey::from_components(int("n"), int("e"), int("d"), vec![int("p"), int("q")])
            .unwrap();
    (
        key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string(),
        b64u(jwk, "n"),
        b64u(jwk, "e"),
    )
}

#[test]
fn rfc7520_4_1_rs256_header_and_token_from_pkcs8_and_pkcs1() {
    let doc = vectors("jws-vectors.json");
    let case = &doc["cases"][2];
    let kid = s(&case["protected_header"], "kid");
    let (pkcs8, pkcs1, _, _) = rfc7520_rsa();
    for pem in [pkcs8, pkcs1] {
        // A table's keys come sorted: `alg` (replaced by the algorithm) before `kid`.
        let rs = jwt(&format!(
            "algorithm = \"RS256\"\nprivate_key = {}\nheader = {{ kid = {}, alg = \"none\" }}\n",
            quoted(&pem),
            quoted(kid)
        ));
        assert_eq!(rs.header_b64, s(case, "protected_b64u"));
        let token = rs
            .mint(s(case, "payload_utf8").as_bytes(), &OsEntropy)
            .unwrap();
        assert_eq!(token, s(case, "compact"));
    }
}

#[test]
fn rs_and_ps_tokens_verify_under_the_published_public_key() {
    use ring::signature::{self as rs, RsaPublicKeyComponents};

    let (pkcs8, _, n, e) = rfc7520_rsa();
    let public = RsaPublicKeyComponents { n: &n, e: &e };
    let cases: [(&str, &rs::RsaParameters); 6] = [
        ("RS256", &rs::RSA_PKCS1_2048_8192_SHA256),
        ("RS384", &rs::RSA_PKCS1_2048_8192_SHA384),
        ("RS512", &rs::RSA_PKCS1_2048_8192_SHA512),
        // ring verifies PSS only with the salt as long as the hash, as RFC 7518 §3.5 asks.
        ("PS256", &rs::RSA_PSS_2048_8192_SHA256),
        ("PS384", &rs::RSA_PSS_2048_8192_SHA384),
        ("PS512", &rs::RSA_PSS_2048_8192_SHA512),
    ];
    for (alg, params) in cases {
        let signer = jwt(&format!(
            "algorithm = \"{alg}\"\nprivate_key = {}\npayload = '{{\"sub\":\"signet\"}}'\n",
            quoted(&pkcs8)
        ));
        let token = bearer_token(&signer);
        let (header, payload, signature, input) = split(&token);
        assert_eq!(header, format!("{{\"alg\":\"{alg}\"}}").as_bytes());
        assert_eq!(payload, br#"{"sub":"signet"}"#);
        assert_eq!(signature.len(), 256, "{alg}");
        public
            .verify(params, input.as_bytes(), &signature)
            .unwrap_or_else(|_| panic!("{alg} does not verify"));
        let mut tampered = signature.clone();
        tampered[0] ^= 1;
        assert!(public.verify(params, input.as_bytes(), &tampered).is_err());
        // PKCS#1 v1.5 is deterministic; PSS is salted.
        let again = signer.mint(&payload, &OsEntropy).unwrap();
        assert_eq!(again == token, alg.starts_with("RS"), "{alg}");
    }
}

#[test]
fn ps_salt_comes_from_the_injected_entropy() {
    let (pkcs8, _, _, _) = rfc7520_rsa();
    let ps = jwt(&format!(
        "algorithm = \"PS256\"\nprivate_key = {}\n",
        quoted(&pkcs8)
    ));
    let one = ps.mint(b"{}", &Fixed(7)).unwrap();
    assert_eq!(one, ps.mint(b"{}", &Fixed(7)).unwrap());
    assert_ne!(one, ps.mint(b"{}", &Fixed(8)).unwrap());
}

fn pem(label: &str, der: &[u8]) -> String {
    pkcs8::der::pem::encode_string(label, LineEnding::LF, der).unwrap()
}

#[test]
fn es256_and_es384_tokens_verify_with_ring_from_pkcs8_and_sec1() {
    use ring::rand::SystemRandom;
    use ring::signature::{self as rs, EcdsaKeyPair, KeyPair, UnparsedPublicKey};

    let rng = SystemRandom::new();
    let cases = [
        (
            "ES256",
            &rs::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rs::ECDSA_P256_SHA256_FIXED,
            64,
        ),
        (
            "ES384",
            &rs::ECDSA_P384_SHA384_FIXED_SIGNING,
            &rs::ECDSA_P384_SHA384_FIXED,
            96,
        ),
    ];
    for (alg, signing, verifying, len) in cases {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let public = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng)
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
        let sec1 = PrivateKeyInfo::try_from(pkcs8.as_ref())
            .unwrap()
            .private_key
            .to_vec();
        for key in [
            pem("PRIVATE KEY", pkcs8.as_ref()),
            pem("EC PRIVATE KEY", &sec1),
        ] {
            let signer = jwt(&format!(
                "algorithm = \"{alg}\"\nprivate_key = {}\npayload = {{ sub = \"signet\" }}\nheader = {{ typ = \"JWT\" }}\n",
                quoted(&key)
            ));
            let (header, payload, signature, input) = split(&bearer_token(&signer));
            assert_eq!(
                header,
                format!("{{\"typ\":\"JWT\",\"alg\":\"{alg}\"}}").as_bytes()
            );
            assert_eq!(payload, br#"{"sub":"signet"}"#);
            // JOSE's r || s, not DER.
            assert_eq!(signature.len(), len, "{alg}");
            UnparsedPublicKey::new(verifying, &public)
                .verify(input.as_bytes(), &signature)
                .unwrap_or_else(|_| panic!("{alg} does not verify"));
        }
    }
}

/// ECDSA verification on P-521 (SEC 1 §4.1.4, FIPS 186-4 curve parameters) over plain big
/// integers: slow, and shares no code with the signer.
mod p521_check {
    use rsa::BigUint;
    use sha2::{Digest, Sha512};

    type Point = Option<(BigUint, BigUint)>;

    struct Curve {
        p: BigUint,
        a: BigUint,
        b: BigUint,
        n: BigUint,
        g: (BigUint, BigUint),
    }

    fn hex(s: &str) -> BigUint {
        BigUint::parse_bytes(s.as_bytes(), 16).unwrap()
    }

    fn curve() -> Curve {
        let p = (BigUint::from(1u8) << 521usize) - BigUint::from(1u8);
        Curve {
            a: &p - BigUint::from(3u8),
            b: hex(
                "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
            ),
            n: hex(
                "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
            ),
            g: (
                hex(
                    "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
                ),
                hex(
                    "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650",
                ),
            ),
            p,
        }
    }

    impl Curve {
        fn sub(&self, x: &BigUint, y: &BigUint) -> BigUint {
            ((x % &self.p) + &self.p - (y % &self.p)) % &self.p
        }

        fn inv(&self, x: &BigUint, m: &BigUint) -> BigUint {
            x.modpow(&(m - BigUint::from(2u8)), m)
        }

        fn on_curve(&self, (x, y): &(BigUint, BigUint)) -> bool {
            let p = &self.p;
            (y * y) % p == (x * x * x + &self.a * x + &self.b) % p
        }

        fn add(&self, one: &Point, two: &Point) -> Point {
            let p = &self.p;
            let (Some((x1, y1)), Some((x2, y2))) = (one, two) else {
                return one.clone().or_else(|| two.clone());
            };
            let slope = if x1 == x2 {
                if (y1 + y2) % p == BigUint::from(0u8) {
                    return None;
                }
                let num = (BigUint::from(3u8) * x1 * x1 + &self.a) % p;
                num * self.inv(&((BigUint::from(2u8) * y1) % p), p) % p
            } else {
                self.sub(y2, y1) * self.inv(&self.sub(x2, x1), p) % p
            };
            let x3 = self.sub(&self.sub(&(&slope * &slope), x1), x2);
            let y3 = self.sub(&(&slope * self.sub(x1, &x3)), y1);
            Some((x3, y3))
        }

        fn mul(&self, k: &BigUint, point: &Point) -> Point {
            let mut acc: Point = None;
            for i in (0..k.bits()).rev() {
                acc = self.add(&acc, &acc);
                if (k >> i) & BigUint::from(1u8) == BigUint::from(1u8) {
                    acc = self.add(&acc, point);
                }
            }
            acc
        }
    }

    /// `x`, `y`: the public key; `signature`: JOSE `r || s` (66 + 66 bytes).
    pub fn verify(x: &[u8], y: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let c = curve();
        let q = (BigUint::from_bytes_be(x), BigUint::from_bytes_be(y));
        assert!(c.on_curve(&c.g) && c.on_curve(&q));
        if signature.len() != 132 {
            return false;
        }
        let r = BigUint::from_bytes_be(&signature[..66]);
        let s = BigUint::from_bytes_be(&signature[66..]);
        let zero = BigUint::from(0u8);
        if r == zero || s == zero || r >= c.n || s >= c.n {
            return false;
        }
        // SHA-512 is shorter than n, so the whole hash is the integer.
        let z = BigUint::from_bytes_be(&Sha512::digest(message));
        let w = c.inv(&s, &c.n);
        let u1 = (z * &w) % &c.n;
        let u2 = (&r * &w) % &c.n;
        let sum = c.add(&c.mul(&u1, &Some(c.g.clone())), &c.mul(&u2, &Some(q)));
        match sum {
            Some((x, _)) => x % &c.n == r,
            None => false,
        }
    }

    /// `d·G` as 66-byte big-endian coordinates.
    pub fn public_key(d: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let c = curve();
        let (x, y) = c
            .mul(&BigUint::from_bytes_be(d), &Some(c.g.clone()))
            .unwrap();
        let pad = |v: BigUint| {
            let b = v.to_bytes_be();
            [vec![0u8; 66 - b.len()], b].concat()
        };
        (pad(x), pad(y))
    }
}

/// The RFC 7520 P-521 key as PKCS#8 and SEC1 PEM, encoded here from its JWK.
fn rfc7520_p521_pems(jwk: &Value) -> [String; 2] {
    let d = b64u(jwk, "d");
    let point = [vec![4u8], b64u(jwk, "x"), b64u(jwk, "y")].concat();
    let p521 = ObjectIdentifier::new_unwrap("1.3.132.0.35");
    let sec1 = sec1::EcPrivateKey {
        private_key: &d,
        parameters: Some(sec1::EcParameters::NamedCurve(p521)),
        public_key: Some(&point),
    }
    .to_der()
    .unwrap();
    let pkcs8 = PrivateKeyInfo {
        algorithm: pkcs8::AlgorithmIdentifierRef {
            oid: ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
            parameters: Some((&p521).into()),
        },
        private_key: &sec1,
        public_key: None,
    }
    .to_der()
    .unwrap();
    [pem("PRIVATE KEY", &pkcs8), pem("EC PRIVATE KEY", &sec1)]
}

#[test]
fn rfc7520_4_3_es512_verifies_and_so_do_our_tokens() {
    let doc = vectors("jws-randomised-vectors.json");
    let case = &doc["cases"][0];
    assert_eq!(s(case, "name"), "rfc7520-4.3-es512");
    let jwk = &case["key_jwk"];
    let (x, y) = (b64u(jwk, "x"), b64u(jwk, "y"));
    let input = s(case, "signing_input");

    // The verifier accepts the published signature, and nothing else.
    let published = b64u(case, "signature_b64u");
    assert!(p521_check::verify(&x, &y, input.as_bytes(), &published));
    let mut tampered = published.clone();
    tampered[100] ^= 1;
    assert!(!p521_check::verify(&x, &y, input.as_bytes(), &tampered));
    assert_eq!(
        p521_check::public_key(&b64u(jwk, "d")),
        (x.clone(), y.clone())
    );

    let kid = s(&case["protected_header"], "kid");
    for key in rfc7520_p521_pems(jwk) {
        let es = jwt(&format!(
            "algorithm = \"ES512\"\nprivate_key = {}\nheader = {}\n",
            quoted(&key),
            quoted(&format!("{{\"alg\":\"none\",\"kid\":\"{kid}\"}}"))
        ));
        assert_eq!(es.header_b64, s(case, "protected_b64u"));
        let token = es
            .mint(s(case, "payload_utf8").as_bytes(), &OsEntropy)
            .unwrap();
        let (_, _, signature, our_input) = split(&token);
        assert_eq!(our_input, input);
        assert!(p521_check::verify(&x, &y, input.as_bytes(), &signature));
    }
}
