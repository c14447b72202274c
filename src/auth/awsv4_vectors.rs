//! The official SigV4 suites from tests/vectors/aws-sigv4, every case, read at test time;
//! then the rules signet adds around them (re-signing, S3 fallbacks, stripping).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use http::request::Parts;
use sha2::{Digest, Sha256};

use super::{AddTo, AwsV4, AwsV4Config, Params, hex, sign_parts, signing_key};
use crate::auth::context::{Entropy, SignContext};

fn root() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/aws-sigv4"
    ))
    .to_path_buf()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn at(rfc3339: &str) -> SystemTime {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("vector timestamp");
    SystemTime::UNIX_EPOCH + Duration::from_secs(t.unix_timestamp() as u64)
}

/// A test-suite request: the raw path (it may hold spaces or UTF-8) and `Parts` for the rest.
struct RawRequest {
    path: Vec<u8>,
    parts: Parts,
    body: Vec<u8>,
}

/// Bytes that `http::Uri` refuses are escaped for `Parts`; the raw path is kept for signing.
fn uri_safe(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b <= b' ' || b >= 0x7f || b"\"<>\\^`{|}".contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Parses the suites' lenient HTTP: folded header lines are joined with a space.
fn parse_request(text: &str) -> RawRequest {
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut lines = head.split('\n');
    let line = lines.next().expect("request line");
    let (method, rest) = line.split_once(' ').expect("method");
    let target = rest.rsplit_once(' ').expect("version").0;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for l in lines {
        if l.starts_with(' ') || l.starts_with('\t') {
            let last = headers.last_mut().expect("folded line after a header");
            last.1.push(' ');
            last.1.push_str(l.trim());
        } else {
            let (n, v) = l.split_once(':').expect("header line");
            headers.push((n.to_owned(), v.to_owned()));
        }
    }
    let host = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_owned())
        .expect("Host header");
    let mut uri = format!("https://{host}{}", uri_safe(path));
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&uri_safe(query));
    }
    let mut b = http::Request::builder().method(method).uri(uri);
    for (n, v) in &headers {
        b = b.header(
            n.as_str(),
            http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    let parts = b.body(()).expect("request").into_parts().0;
    RawRequest {
        path: path.as_bytes().to_vec(),
        parts,
        body: body.as_bytes().to_vec(),
    }
}

fn header_of(signed_request: &str, name: &str) -> Option<String> {
    signed_request
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
}

fn sorted_query(uri: &str) -> Vec<(String, String)> {
    let q = uri.split_once('?').map(|x| x.1).unwrap_or("");
    let lossy = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let mut v: Vec<_> = super::query_pairs(q)
        .map(|(k, v)| (lossy(k), lossy(v)))
        .collect();
    v.sort();
    v
}

fn target_of(signed_request: &str) -> String {
    let line = signed_request.lines().next().unwrap();
    line.split_once(' ')
        .unwrap()
        .1
        .rsplit_once(' ')
        .unwrap()
        .0
        .to_owned()
}

fn case_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn aws_c_auth_v4_header_and_query() {
    let dirs = case_dirs(&root().join("aws-c-auth/v4"));
    assert_eq!(dirs.len(), 38, "aws-c-auth v4 has 38 cases");
    let mut checked = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let ctx = json(&dir.join("context.json"));
        let raw = parse_request(&read(&dir.join("request.txt")));
        for variant in ["header", "query"] {
            let mut parts = raw.parts.clone();
            let p = Params {
                access_key: ctx["credentials"]["access_key_id"].as_str().unwrap(),
                secret_key: ctx["credentials"]["secret_access_key"].as_str().unwrap(),
                session_token: ctx["credentials"]["token"].as_str(),
                sign_token: !ctx["omit_session_token"].as_bool().unwrap_or(false),
                region: ctx["region"].as_str().unwrap(),
                service: ctx["service"].as_str().unwrap(),
                time: at(ctx["timestamp"].as_str().unwrap()),
                normalize: ctx["normalize"].as_bool().unwrap(),
                content_sha256_header: ctx["sign_body"].as_bool().unwrap(),
                presign_expires: (variant == "query")
                    .then(|| ctx["expiration_in_seconds"].as_u64().unwrap()),
                payload_hash: hex(&Sha256::digest(&raw.body)),
            };
            let signed = sign_parts(&mut parts, &raw.path, &p).unwrap();
            let file = |suffix: &str| read(&dir.join(format!("{variant}-{suffix}")));
            let case = format!("aws-c-auth/v4/{name} ({variant})");
            assert_eq!(
                signed.canonical_request,
                file("canonical-request.txt"),
                "{case}: canonical request"
            );
            assert_eq!(
                signed.string_to_sign,
                file("string-to-sign.txt"),
                "{case}: string to sign"
            );
            assert_eq!(
                signed.signature,
                file("signature.txt").trim(),
                "{case}: signature"
            );
            let sreq = file("signed-request.txt");
            if variant == "header" {
                for h in [
                    "authorization",
                    "x-amz-date",
                    "x-amz-security-token",
                    "x-amz-content-sha256",
                ] {
                    let ours = parts.headers.get(h).map(|v| v.to_str().unwrap().to_owned());
                    assert_eq!(ours, header_of(&sreq, h), "{case}: {h} header");
                }
            } else {
                assert_eq!(
                    sorted_query(&parts.uri.to_string()),
                    sorted_query(&target_of(&sreq)),
                    "{case}: presigned query"
                );
                assert!(
                    parts.headers.get("authorization").is_none(),
                    "{case}: no Authorization"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 76);
}

#[test]
fn classic_botocore_suite() {
    let base = root().join("classic-botocore");
    let mut dirs = Vec::new();
    for d in case_dirs(&base) {
        let n = d.file_name().unwrap().to_string_lossy().into_owned();
        if n == "normalize-path" || n == "post-sts-token" {
            dirs.extend(case_dirs(&d));
        } else {
            dirs.push(d);
        }
    }
    assert_eq!(dirs.len(), 34, "classic suite has 34 cases");
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let file = |ext: &str| read(&dir.join(format!("{name}.{ext}")));
        let raw = parse_request(&file("req"));
        let sreq = file("sreq");
        let token = header_of(&sreq, "x-amz-security-token");
        let mut parts = raw.parts.clone();
        let p = Params {
            access_key: "AKIDEXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: token.as_deref(),
            // AWS's readme: only post-sts-header-after adds the token after signing.
            sign_token: name != "post-sts-header-after",
            region: "us-east-1",
            service: "service",
            time: at("2015-08-30T12:36:00Z"),
            normalize: true,
            content_sha256_header: false,
            presign_expires: None,
            payload_hash: hex(&Sha256::digest(&raw.body)),
        };
        let signed = sign_parts(&mut parts, &raw.path, &p).unwrap();
        let case = format!("classic-botocore/{name}");
        assert_eq!(
            signed.canonical_request,
            file("creq"),
            "{case}: canonical request"
        );
        assert_eq!(signed.string_to_sign, file("sts"), "{case}: string to sign");
        let authz = parts
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(authz, file("authz"), "{case}: Authorization");
        let sreq_authz = header_of(&sreq, "authorization").expect("signed request Authorization");
        if name == "get-vanilla-with-session-token" {
            // Upstream defect: this .sreq carries get-vanilla's signature (5fa00fa3…), while its own
            // .creq → .sts → .authz chain (checked above, and recomputed independently) gives
            // 07ec1639…. Everything before the signature is still compared.
            let cut = |s: &str| s.split(", Signature=").next().unwrap().to_owned();
            assert_eq!(cut(authz), cut(&sreq_authz), "{case}: signed request");
        } else {
            assert_eq!(authz, sreq_authz, "{case}: signed request");
        }
        for h in ["x-amz-date", "x-amz-security-token"] {
            let ours = parts.headers.get(h).map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(ours, header_of(&sreq, h), "{case}: {h} header");
        }
    }
}

struct NoEntropy;
impl Entropy for NoEntropy {
    fn fill(&self, _: &mut [u8]) {
        unreachable!("SigV4 draws no randomness")
    }
}

fn json_request(r: &serde_json::Value) -> Parts {
    let mut b = http::Request::builder()
        .method(r["method"].as_str().unwrap())
        .uri(r["url"].as_str().unwrap());
    for h in r["headers"].as_array().unwrap() {
        b = b.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    b.body(()).unwrap().into_parts().0
}

/// The S3 API Reference examples, through the public signer (config as a user would write it).
#[test]
fn s3_documentation_examples() {
    let doc = json(&root().join("s3-doc-examples.json"));
    let now = at(doc["timestamp"].as_str().unwrap());
    let cx = SignContext {
        now,
        fixed_nonce: None,
        entropy: &NoEntropy,
    };
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let r = &c["request"];
        let mut parts = json_request(r);
        let expected_sig = c["signature"].as_str().unwrap();
        if name == "put-object-streaming-aws-chunked-seed" {
            // signet never produces aws-chunked bodies; the seed request is checked through the
            // signing core with the streaming payload marker, the chunks with the derived key.
            let p = Params {
                access_key: doc["credentials"]["access_key_id"].as_str().unwrap(),
                secret_key: doc["credentials"]["secret_access_key"].as_str().unwrap(),
                session_token: None,
                sign_token: true,
                region: "us-east-1",
                service: "s3",
                time: now,
                normalize: false,
                content_sha256_header: true,
                presign_expires: None,
                payload_hash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into(),
            };
            let path = parts.uri.path().to_owned();
            let signed = sign_parts(&mut parts, path.as_bytes(), &p).unwrap();
            assert_eq!(
                signed.canonical_request,
                c["canonical_request"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(
                signed.string_to_sign,
                c["string_to_sign"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(signed.signature, expected_sig, "{name}: seed signature");
            let key = signing_key(p.secret_key, "20130524", "us-east-1", "s3");
            let mut previous = signed.signature.clone();
            for (i, chunk) in c["chunks"].as_array().unwrap().iter().enumerate() {
                let len = chunk["data_length"].as_u64().unwrap() as usize;
                assert_eq!(
                    chunk["previous_signature"].as_str().unwrap(),
                    previous,
                    "{name} chunk {i}"
                );
                let sts = format!(
                    "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n{previous}\n{}\n{}",
                    hex(&Sha256::digest(b"")),
                    hex(&Sha256::digest(vec![b'a'; len]))
                );
                assert_eq!(
                    sts,
                    chunk["string_to_sign"].as_str().unwrap(),
                    "{name} chunk {i} string to sign"
                );
                previous = hex(&super::hmac(&key, sts.as_bytes()));
                assert_eq!(
                    previous,
                    chunk["signature"].as_str().unwrap(),
                    "{name} chunk {i} signature"
                );
            }
            continue;
        }
        let presign = r.get("expires_in_seconds").and_then(|v| v.as_u64());
        let cfg = AwsV4Config {
            access_key: Some(doc["credentials"]["access_key_id"].as_str().unwrap().into()),
            secret_key: Some(
                doc["credentials"]["secret_access_key"]
                    .as_str()
                    .unwrap()
                    .into(),
            ),
            add_to: if presign.is_some() {
                AddTo::Query
            } else {
                AddTo::Header
            },
            expires: presign.unwrap_or(3600),
            ..AwsV4Config::default()
        };
        let signer = AwsV4::new(cfg).unwrap();
        let mut body = bytes::Bytes::from(r["body"].as_str().unwrap().to_owned());
        let body =
            (signer.body_need(&parts) != crate::auth::context::BodyNeed::None).then_some(&mut body);
        signer
            .sign(&mut parts, body, &cx)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(url) = c.get("presigned_url").and_then(|v| v.as_str()) {
            assert_eq!(
                sorted_query(&parts.uri.to_string()),
                sorted_query(url),
                "{name}: presigned URL"
            );
            assert!(
                parts
                    .uri
                    .to_string()
                    .ends_with(&format!("&X-Amz-Signature={expected_sig}")),
                "{name}"
            );
        } else {
            // S3 prints its example Authorization without spaces after the commas.
            let ours = parts.headers["authorization"]
                .to_str()
                .unwrap()
                .replace(", ", ",");
            assert_eq!(
                ours,
                c["authorization"].as_str().unwrap().replace(", ", ","),
                "{name}: Authorization"
            );
        }
    }
}

#[test]
fn general_reference_examples() {
    let doc = json(&root().join("general-reference-examples.json"));
    let secret = doc["credentials"]["secret_access_key"].as_str().unwrap();
    for d in doc["derive_signing_key"].as_array().unwrap() {
        let key = signing_key(
            secret,
            d["date"].as_str().unwrap(),
            d["region"].as_str().unwrap(),
            d["service"].as_str().unwrap(),
        );
        assert_eq!(
            hex(&key),
            d["signing_key_hex"].as_str().unwrap(),
            "derive {}",
            d["date"]
        );
    }
    // IAM ListUsers through the public signer, region and service inferred from iam.amazonaws.com.
    let ex = &doc["iam_list_users"];
    let mut parts = json_request(&ex["request"]);
    let signer = AwsV4::new(AwsV4Config {
        access_key: Some(doc["credentials"]["access_key_id"].as_str().unwrap().into()),
        secret_key: Some(secret.into()),
        ..AwsV4Config::default()
    })
    .unwrap();
    let cx = SignContext {
        now: at("2015-08-30T12:36:00Z"),
        fixed_nonce: None,
        entropy: &NoEntropy,
    };
    let mut body = bytes::Bytes::new();
    signer.sign(&mut parts, Some(&mut body), &cx).unwrap();
    assert_eq!(
        parts.headers["authorization"].to_str().unwrap(),
        ex["authorization"].as_str().unwrap(),
        "iam_list_users"
    );
}

fn signer(toml_text: &str) -> AwsV4 {
    AwsV4::new(toml::from_str(toml_text).expect("config")).expect("valid config")
}

const KEYS: &str = "access_key = \"AKIDREAL\"\nsecret_key = \"real-secret\"\n";

fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::builder().method(method).uri(url);
    let authority = url.split('/').nth(2).unwrap();
    b = b.header("host", authority);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn cx() -> SignContext<'static> {
    SignContext {
        now: at("2015-08-30T12:36:00Z"),
        fixed_nonce: None,
        entropy: &NoEntropy,
    }
}

fn header(parts: &Parts, name: &str) -> String {
    parts
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn s3_falls_back_to_unsigned_payload_and_others_refuse() {
    let s = signer(KEYS);
    let mut parts = request(
        "PUT",
        "https://bucket.s3.eu-west-1.amazonaws.com/big.bin",
        &[],
    );
    assert_eq!(
        s.body_need(&parts),
        crate::auth::context::BodyNeed::Preferred
    );
    s.sign(&mut parts, None, &cx()).unwrap();
    assert_eq!(header(&parts, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
    assert!(header(&parts, "authorization").contains(
        "/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
    ));

    let mut parts = request("POST", "https://sqs.eu-west-1.amazonaws.com/", &[]);
    let err = s.sign(&mut parts, None, &cx()).unwrap_err().to_string();
    assert!(
        err.contains("sqs") && err.contains("UNSIGNED-PAYLOAD"),
        "{err}"
    );

    let mut parts = request(
        "PUT",
        "https://s3.amazonaws.com/b/k",
        &[("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")],
    );
    s.sign(&mut parts, None, &cx()).unwrap();
    assert_eq!(
        header(&parts, "x-amz-content-sha256"),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    );
    assert!(crate::auth::BodyRewrite::take(&mut parts).is_some());

    let mut parts = request("GET", "https://api.example.com/", &[]);
    let err = s
        .sign(&mut parts, Some(&mut bytes::Bytes::new()), &cx())
        .unwrap_err()
        .to_string()
        .to_string();
    assert!(err.contains("`service`"), "{err}");
}

#[test]
fn presigns_s3_without_the_body_and_replaces_a_clients_presigning() {
    let s = signer(&format!(
        "{KEYS}add_to = \"query\"\nexpires = 600\nsession_token = \"tok/en+\""
    ));
    let url = "https://bucket.s3.amazonaws.com/k%20ey?versionId=3&X-Amz-Signature=bad&X-Amz-Credential=X%2F20990101%2Feu-north-1%2Fs3%2Faws4_request";
    let mut parts = request("GET", url, &[]);
    assert_eq!(s.body_need(&parts), crate::auth::context::BodyNeed::None);
    s.sign(&mut parts, None, &cx()).unwrap();
    let q = sorted_query(&parts.uri.to_string());
    let get = |k: &str| {
        q.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        get("X-Amz-Credential"),
        ["AKIDREAL/20150830/eu-north-1/s3/aws4_request"]
    );
    assert_eq!(get("X-Amz-Expires"), ["600"]);
    assert_eq!(get("X-Amz-Security-Token"), ["tok/en+"]);
    assert_eq!(get("X-Amz-SignedHeaders"), ["host"]);
    assert_eq!(get("versionId"), ["3"]);
    assert_eq!(get("X-Amz-Signature").len(), 1);
    assert_ne!(get("X-Amz-Signature"), ["bad"]);
    assert!(parts.uri.path() == "/k%20ey" && parts.headers.get("authorization").is_none());
}

#[test]
fn config_errors_and_descriptions_hide_secrets() {
    let bad = |t: &str| {
        AwsV4::new(toml::from_str(t).unwrap())
            .unwrap_err()
            .to_string()
    };
    assert!(bad(&format!("{KEYS}expires = 0")).contains("expires"));
    assert!(bad(&format!("{KEYS}region = \"eu west\"")).contains("region"));
    assert!(bad("access_key = \"A\"\nsecret_key = \"\"").contains("secret_key"));
    let s = signer(&format!("{KEYS}session_token = \"tok\""));
    for text in [format!("{s:?}"), s.describe()] {
        assert!(
            !text.contains("real-secret") && !text.contains("AKIDREAL") && !text.contains("tok\""),
            "{text}"
        );
    }
    assert!(toml::from_str::<AwsV4Config>(&format!("{KEYS}unknown = 1")).is_err());
}

#[test]
fn sends_s3_paths_and_queries_in_their_canonical_encoding() {
    let s = signer(KEYS);
    let url = "https://b.s3.amazonaws.com/a$b(c)!'x%7e.txt?list-type=2&prefix=a$b+(c&flag";
    let mut parts = request("GET", url, &[]);
    s.sign(&mut parts, Some(&mut bytes::Bytes::new()), &cx())
        .unwrap();
    // RFC 3986 unreserved characters stay; everything else is %XX, '+' in a query is a space.
    assert_eq!(parts.uri.path(), "/a%24b%28c%29%21%27x%7E.txt");
    assert_eq!(
        parts.uri.query(),
        Some("list-type=2&prefix=a%24b%20%28c&flag=")
    );
    // Other services sign the path encoded twice, so it goes out untouched.
    let mut parts = request("GET", "https://sqs.eu-west-1.amazonaws.com/a!b?x=1", &[]);
    s.sign(&mut parts, Some(&mut bytes::Bytes::new()), &cx())
        .unwrap();
    assert_eq!(parts.uri.path(), "/a!b");
}
