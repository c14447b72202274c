//! How long one OAuth 1.0a signature takes (HMAC-SHA1 header, HMAC-SHA256 form body, RSA-SHA256).

use bytes::Bytes;
use signet::auth::SyncSigner;
use signet::auth::context::SignContext;
use signet::auth::oauth1::{AddTo, OAuth1, OAuth1Config, SignatureMethod};
use signet::secret::Secret;

fn main() {
    divan::main();
}

/// The published OAuth test key (1024-bit) from the shared vectors.
fn rsa_key() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/oauth1/oauth1-vectors.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["rsa_sha1_cases"][0]["private_key_pkcs8_pem"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn signer(method: SignatureMethod, add_to: AddTo) -> OAuth1 {
    let mut cfg: OAuth1Config = toml::from_str("consumer_key = \"dpf43f3p2l4k3l03\"").unwrap();
    cfg.signature_method = method;
    cfg.add_to = add_to;
    cfg.consumer_secret = Secret::new("kd94hf93k423kf44");
    cfg.token = Secret::new("nnch734d00sl2jdk");
    cfg.token_secret = Secret::new("pfkkdhi9sl3r4s00");
    cfg.private_key = Some(Secret::new(rsa_key()));
    OAuth1::new(cfg).unwrap()
}

fn parts(method: &str, content_type: Option<&str>) -> http::request::Parts {
    let mut b = http::Request::builder()
        .method(method)
        .uri("https://photos.example.net/photos?file=vacation.jpg&size=original&a=%20b")
        .header("host", "photos.example.net");
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(()).unwrap().into_parts().0
}

#[divan::bench]
fn hmac_sha1_header(b: divan::Bencher) {
    let o = signer(SignatureMethod::HmacSha1, AddTo::Header);
    let cx = SignContext::system();
    b.with_inputs(|| parts("GET", None))
        .bench_local_refs(|p| o.sign(p, None, &cx).unwrap());
}

#[divan::bench]
fn hmac_sha256_form_body(b: divan::Bencher) {
    let o = signer(SignatureMethod::HmacSha256, AddTo::QueryOrBody);
    let cx = SignContext::system();
    let form = Some("application/x-www-form-urlencoded");
    b.with_inputs(|| {
        (
            parts("POST", form),
            Bytes::from_static(b"status=Hello%20Ladies&x=1&y=2"),
        )
    })
    .bench_local_refs(|(p, body)| o.sign(p, Some(body), &cx).unwrap());
}

#[divan::bench]
fn rsa_sha256_header(b: divan::Bencher) {
    let o = signer(SignatureMethod::RsaSha256, AddTo::Header);
    let cx = SignContext::system();
    b.with_inputs(|| parts("GET", None))
        .bench_local_refs(|p| o.sign(p, None, &cx).unwrap());
}
