//! Cost of one Hawk header (without and with the payload hash).

use std::time::SystemTime;

use signet::auth::SyncSigner;
use signet::auth::context::{OsEntropy, SignContext};
use signet::auth::hawk::{Hawk, HawkAlgorithm, HawkConfig};

fn main() {
    divan::main();
}

fn signer(include_payload_hash: bool) -> Hawk {
    Hawk::new(HawkConfig {
        auth_id: "dh37fgj492je".into(),
        auth_key: "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn".into(),
        algorithm: HawkAlgorithm::Sha256,
        user: None,
        nonce: None,
        ext: Some("some-app-ext-data".into()),
        app: None,
        dlg: None,
        timestamp: None,
        include_payload_hash,
    })
    .expect("valid config")
}

fn parts() -> http::request::Parts {
    http::Request::post("https://example.com:8000/resource/1?b=1&a=2")
        .header("host", "example.com:8000")
        .header("content-type", "application/json")
        .body(())
        .expect("request")
        .into_parts()
        .0
}

#[divan::bench(args = [false, true])]
fn header(bencher: divan::Bencher, include_payload_hash: bool) {
    let s = signer(include_payload_hash);
    let body = bytes::Bytes::from(vec![b'x'; 4096]);
    let cx = SignContext {
        now: SystemTime::UNIX_EPOCH,
        fixed_nonce: None,
        entropy: &OsEntropy,
    };
    bencher.bench_local(|| {
        let mut p = parts();
        let mut b = body.clone();
        s.sign(&mut p, Some(&mut b), &cx).expect("signed");
        p
    });
}
