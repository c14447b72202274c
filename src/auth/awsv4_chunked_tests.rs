//! The re-signer against the S3 documentation's chunked-upload example, and hand-made streams.

use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::*;
use crate::auth::context::{Entropy, SignContext};
use crate::auth::BodyRewrite;

fn doc() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/aws-sigv4/s3-doc-examples.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn streaming_case(doc: &serde_json::Value) -> &serde_json::Value {
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "put-object-streaming-aws-chunked-seed")
        .unwrap()
}

/// The documented body: each chunk's header as printed, its data (`a`s), CRLF.
fn documented_stream(case: &serde_json::Value) -> Vec<u8> {
    let mut body = Vec::new();
    for chunk in case["chunks"].as_array().unwrap() {
        let len = chunk["data_length"].as_u64().unwrap() as usize;
        body.extend_from_slice(chunk["chunk_header"].as_str().unwrap().as_bytes());
        body.extend_from_slice(b"\r\n");
        body.extend(std::iter::repeat_n(b'a', len));
        body.extend_from_slice(b"\r\n");
    }
    body
}

/// A client's stream of `sizes` chunks of `a`s, signed with a placeholder, then the last chunk.
fn client_stream(sizes: &[usize], trailer: &str) -> Vec<u8> {
    let placeholder = "0".repeat(64);
    let mut body = Vec::new();
    for &n in sizes {
        body.extend_from_slice(format!("{n:x};chunk-signature={placeholder}\r\n").as_bytes());
        body.extend(std::iter::repeat_n(b'a', n));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("0;chunk-signature={placeholder}\r\n{trailer}\r\n").as_bytes());
    body
}

fn doc_signer(doc: &serde_json::Value) -> ChunkSigner {
    let secret = doc["credentials"]["secret_access_key"].as_str().unwrap();
    let key = signing_key(secret, "20130524", "us-east-1", "s3");
    let seed = streaming_case(doc)["signature"].as_str().unwrap();
    ChunkSigner::new(
        key,
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
        seed,
    )
}

/// Runs `input` through `rewriter`, cut into pieces of `step` bytes.
fn run(mut rewriter: AwsChunked, input: &[u8], step: usize) -> Result<Vec<u8>, ChunkError> {
    let mut out = BytesMut::new();
    for piece in input.chunks(step.max(1)) {
        rewriter.feed(piece, &mut out)?;
    }
    rewriter.finish(&mut out)?;
    Ok(out.to_vec())
}

#[test]
fn the_documented_stream_comes_out_with_the_documented_signatures() {
    let doc = doc();
    let case = streaming_case(&doc);
    let expected = documented_stream(case);
    assert_eq!(expected.len(), 66824, "the Content-Length of the example");
    // The client's own chunks, cut differently and signed with a placeholder.
    for sizes in [&[65536, 1024][..], &[1000, 65000, 560], &[66560], &[1; 40].repeat(1664)] {
        let input = client_stream(sizes, "");
        let signed = AwsChunked::signed(doc_signer(&doc), false, Some(66560));
        let out = run(signed, &input, 8191).unwrap();
        assert!(out == expected, "re-cut from chunks of {:?}…", &sizes[..1]);
    }
}

#[test]
fn the_signed_length_is_the_documented_content_length() {
    assert_eq!(signed_length(66560), Some(66824));
    for decoded in [0u64, 1, 65535, 65536, 65537, 200_000] {
        let sizes = vec![1; decoded as usize];
        let out = run(
            AwsChunked::signed(doc_signer(&doc()), false, None),
            &client_stream(&sizes, ""),
            4096,
        )
        .unwrap();
        assert_eq!(Some(out.len() as u64), signed_length(decoded), "{decoded}");
    }
}

#[test]
fn the_output_does_not_depend_on_how_the_input_is_split() {
    let input = client_stream(&[70000, 3, 65536], "x-amz-checksum-crc32:AAAAAA==\r\n");
    let whole = run(AwsChunked::signed(doc_signer(&doc()), true, None), &input, usize::MAX);
    for step in [1, 2, 7, 64, 4097, 65536] {
        let split = run(AwsChunked::signed(doc_signer(&doc()), true, None), &input, step);
        assert_eq!(split, whole, "pieces of {step}");
    }
}

/// What botocore sends by default: chunks without signatures, a CRC32 trailer.
const UNSIGNED: &[u8] = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";

#[test]
fn the_unsigned_form_passes_unchanged_and_its_end_waits_for_the_body_to_end() {
    let mut rewriter = AwsChunked::unsigned(Some(11));
    let mut out = BytesMut::new();
    rewriter.feed(UNSIGNED, &mut out).unwrap();
    assert_eq!(&out[..], &UNSIGNED[..UNSIGNED.len() - 2]);
    rewriter.finish(&mut out).unwrap();
    assert_eq!(&out[..], UNSIGNED);
    for step in [1, 3, 10] {
        assert_eq!(run(AwsChunked::unsigned(None), UNSIGNED, step).unwrap(), UNSIGNED);
    }
}

fn hmac_hex(key: &[u8], data: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_trailer_is_signed_after_the_last_chunk_and_the_clients_signature_dropped() {
    let doc = doc();
    let secret = doc["credentials"]["secret_access_key"].as_str().unwrap();
    let key = signing_key(secret, "20130524", "us-east-1", "s3");
    let trailer = "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:00\r\n";
    let input = client_stream(&[65536, 1024], trailer);
    let out = run(AwsChunked::signed(doc_signer(&doc), true, Some(66560)), &input, 1000).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let last_chunk_signature = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";
    let end = format!("0;chunk-signature={last_chunk_signature}\r\nx-amz-checksum-crc32c:sOO8/Q==\r\n");
    let at = text.find(&end).expect("the last chunk of the example, then the trailer");
    let sts = format!(
        "AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
         {last_chunk_signature}\n{:x}",
        Sha256::digest(b"x-amz-checksum-crc32c:sOO8/Q==\n")
    );
    let tail = format!("x-amz-trailer-signature:{}\r\n\r\n", hmac_hex(&key, &sts));
    assert_eq!(&text[at + end.len()..], tail);
}

#[test]
fn malformed_streams_are_refused() {
    let sig = format!(";chunk-signature={}", "0".repeat(64));
    let signed = |s: &str| run(AwsChunked::signed(doc_signer(&doc()), false, None), s.as_bytes(), 3);
    let unsigned = |s: &str, len| run(AwsChunked::unsigned(len), s.as_bytes(), 5);
    use ChunkError::*;
    let cases: Vec<(Result<Vec<u8>, ChunkError>, ChunkError)> = vec![
        (unsigned("x\r\n", None), BadSizeLine),
        (unsigned("5 \r\nhello\r\n0\r\n\r\n", None), BadSizeLine),
        (unsigned("11111111111111111\r\n", None), BadSizeLine),
        (unsigned("5\r\nhelloX\r\n", None), NoCrlf),
        (unsigned("5\nhello\r\n", None), BareLf),
        (unsigned(&"1".repeat(5000), None), LongLine),
        (unsigned("5\r\nhello\r\n0\r\nno colon\r\n\r\n", None), BadTrailer),
        (unsigned("5\r\nhello\r\n0\r\n\r\nmore", None), TrailingBytes),
        (unsigned("5\r\nhello\r\n", None), Incomplete),
        (unsigned("5\r\nhello\r\n0\r\n\r", None), Incomplete),
        (unsigned("5\r\nhello\r\n0\r\n\r\n", Some(4)), DecodedLength { expected: 4, got: 5 }),
        (unsigned("5\r\nhello\r\n0\r\n\r\n", Some(6)), DecodedLength { expected: 6, got: 5 }),
        (signed("5\r\nhello\r\n0\r\n\r\n"), NoSignature),
        (signed(&format!("5{sig}\r\nhello\r\n0{sig}\r\nx-amz-checksum-crc32:AA==\r\n\r\n")), UnexpectedTrailer),
    ];
    for (i, (got, expected)) in cases.into_iter().enumerate() {
        assert_eq!(got, Err(expected), "case {i}");
    }
}

#[test]
fn nothing_more_is_read_after_a_failure() {
    let mut rewriter = AwsChunked::unsigned(None);
    let mut out = BytesMut::new();
    assert!(rewriter.feed(b"zz\r\n", &mut out).is_err());
    assert_eq!(rewriter.feed(b"5\r\nhello\r\n", &mut out), Err(ChunkError::Failed));
    assert_eq!(rewriter.finish(&mut out), Err(ChunkError::Failed));
}

struct NoEntropy;
impl Entropy for NoEntropy {
    fn fill(&self, _: &mut [u8]) {
        unreachable!("SigV4 draws no randomness")
    }
}

/// The documented request through the signer as a user configures it: the seed signature and
/// every chunk signature are AWS's, whatever the client signed with.
#[test]
fn the_signer_reproduces_the_documented_upload_from_a_placeholder_signed_one() {
    let doc = doc();
    let case = streaming_case(&doc);
    let config = format!(
        "access_key = {:?}\nsecret_key = {:?}\n",
        doc["credentials"]["access_key_id"].as_str().unwrap(),
        doc["credentials"]["secret_access_key"].as_str().unwrap()
    );
    let signer = super::super::AwsV4::new(toml::from_str(&config).unwrap()).unwrap();
    let mut b = http::Request::builder()
        .method("PUT")
        .uri(case["request"]["url"].as_str().unwrap());
    for h in case["request"]["headers"].as_array().unwrap() {
        b = b.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    let placeholder = "AWS4-HMAC-SHA256 Credential=PLACEHOLDER/20130524/us-east-1/s3/aws4_request, \
                       SignedHeaders=host, Signature=00";
    let mut parts = b.header("authorization", placeholder).body(()).unwrap().into_parts().0;
    let cx = SignContext {
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600),
        fixed_nonce: None,
        entropy: &NoEntropy,
    };
    assert_eq!(signer.body_need(&parts), crate::auth::BodyNeed::Preferred);
    signer.sign(&mut parts, None, &cx).unwrap();
    assert_eq!(
        parts.headers["authorization"].to_str().unwrap(),
        case["authorization"].as_str().unwrap().replace(',', ", ")
    );
    assert_eq!(parts.headers["content-length"], "66824");
    let rewrite = BodyRewrite::take(&mut parts).expect("a body rewrite");
    let sizes: Vec<usize> = std::iter::repeat_n(4096, 16).chain([1024]).collect();
    let out = rewrite.apply(&client_stream(&sizes, "")).unwrap();
    assert!(out[..] == documented_stream(case)[..]);
}

#[test]
fn other_streaming_forms_and_presigning_are_refused_with_the_reason() {
    let config = "access_key = \"AKID\"\nsecret_key = \"s\"\n";
    let query = format!("{config}add_to = \"query\"\n");
    let cx = SignContext {
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600),
        fixed_nonce: None,
        entropy: &NoEntropy,
    };
    for (config, marker, needle) in [
        (config, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "not an aws-chunked form"),
        (&query, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "cannot be presigned"),
    ] {
        let signer = super::super::AwsV4::new(toml::from_str(config).unwrap()).unwrap();
        let mut parts = http::Request::put("https://s3.amazonaws.com/b/k")
            .header("x-amz-content-sha256", marker)
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let err = signer.sign(&mut parts, None, &cx).unwrap_err().to_string();
        assert!(err.contains(needle) && !err.starts_with("awsv4"), "{err}");
    }
}
