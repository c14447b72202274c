//! Cost of one SigV4 signature (header form, 4 KiB body hashed; presigned S3 URL).

use std::time::SystemTime;

use signet::auth::awsv4::{AddTo, AwsV4, AwsV4Config};
use signet::auth::context::{OsEntropy, SignContext};

fn main() {
    divan::main();
}

fn signer(add_to: AddTo) -> AwsV4 {
    AwsV4::new(AwsV4Config {
        access_key: Some("AKIDEXAMPLE".into()),
        secret_key: Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
        add_to,
        ..AwsV4Config::default()
    })
    .expect("valid config")
}

fn parts(method: &str, url: &str) -> http::request::Parts {
    let host = url.split('/').nth(2).expect("authority");
    http::Request::builder()
        .method(method)
        .uri(url)
        .header("host", host)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "DynamoDB_20120810.GetItem")
        .body(())
        .expect("request")
        .into_parts()
        .0
}

#[divan::bench]
fn header_dynamodb_4k_body(bencher: divan::Bencher) {
    let s = signer(AddTo::Header);
    let body = bytes::Bytes::from(vec![b'x'; 4096]);
    let cx = SignContext {
        now: SystemTime::UNIX_EPOCH,
        fixed_nonce: None,
        entropy: &OsEntropy,
    };
    bencher.bench_local(|| {
        let mut p = parts("POST", "https://dynamodb.eu-west-1.amazonaws.com/");
        let mut b = body.clone();
        s.sign(&mut p, Some(&mut b), &cx).expect("signed");
        p
    });
}

#[divan::bench]
fn query_s3_presign(bencher: divan::Bencher) {
    let s = signer(AddTo::Query);
    let cx = SignContext {
        now: SystemTime::UNIX_EPOCH,
        fixed_nonce: None,
        entropy: &OsEntropy,
    };
    bencher.bench_local(|| {
        let mut p = parts(
            "GET",
            "https://bucket.s3.eu-west-1.amazonaws.com/photos/2024/a.jpg?versionId=7",
        );
        s.sign(&mut p, None, &cx).expect("signed");
        p
    });
}
