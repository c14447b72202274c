//! How long one EdgeGrid signature takes (GET, and POST with a 4 KiB body).

use bytes::Bytes;
use signet::auth::SyncSigner;
use signet::auth::context::SignContext;
use signet::auth::edgegrid::{EdgeGrid, EdgeGridConfig};
use signet::secret::Secret;

fn main() {
    divan::main();
}

fn signer() -> EdgeGrid {
    EdgeGrid::new(EdgeGridConfig {
        access_token: Secret::new("akab-access-token-xxx-xxxxxxxxxxxxxxxx"),
        client_token: Secret::new("akab-client-token-xxx-xxxxxxxxxxxxxxxx"),
        client_secret: Secret::new("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx="),
        headers_to_sign: vec!["X-Test1".into()],
        max_body: 131_072,
        nonce: None,
        timestamp: None,
    })
    .unwrap()
}

fn parts(method: &str) -> http::request::Parts {
    let mut parts = http::Request::builder()
        .method(method)
        .uri("https://akaa-baseurl.luna.akamaiapis.net/testapi/v1/t1?p1=1&p2=2")
        .header("host", "akaa-baseurl.luna.akamaiapis.net")
        .header("x-test1", "  some   value ")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    parts.headers.remove("authorization");
    parts
}

#[divan::bench]
fn get(b: divan::Bencher) {
    let eg = signer();
    let cx = SignContext::system();
    b.with_inputs(|| parts("GET"))
        .bench_local_refs(|p| eg.sign(p, None, &cx).unwrap());
}

#[divan::bench]
fn post_4k(b: divan::Bencher) {
    let eg = signer();
    let cx = SignContext::system();
    b.with_inputs(|| (parts("POST"), Bytes::from(vec![b'd'; 4096])))
        .bench_local_refs(|(p, body)| eg.sign(p, Some(body), &cx).unwrap());
}
