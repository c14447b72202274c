use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::*;

fn env(vars: &[(&str, &str)]) -> Env {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    Env::from_fn(move |k| vars.get(k).cloned())
}

fn url(configured: Option<&str>, region: Option<&str>, vars: &[(&str, &str)]) -> (String, String) {
    let e = Endpoint::resolve(configured, region, &env(vars)).unwrap();
    (e.url, e.region)
}

#[test]
fn the_endpoint_is_the_one_the_sdks_pick() {
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        url(None, Some("eu-west-1"), &[]),
        s("https://sts.eu-west-1.amazonaws.com/", "eu-west-1")
    );
    assert_eq!(
        url(None, Some("cn-north-1"), &[]),
        s("https://sts.cn-north-1.amazonaws.com.cn/", "cn-north-1")
    );
    assert_eq!(
        url(None, None, &[]),
        s("https://sts.amazonaws.com/", "us-east-1")
    );
    let both = [
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1/"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:2/"),
    ];
    assert_eq!(url(None, None, &both).0, "http://127.0.0.1:1/");
    assert_eq!(url(None, None, &both[1..]).0, "http://127.0.0.1:2/");
    assert_eq!(
        url(Some("http://127.0.0.1:3"), Some("eu-west-2"), &both),
        s("http://127.0.0.1:3/", "eu-west-2")
    );
    let ignored = [both[0], ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")];
    assert_eq!(url(None, None, &ignored).0, "https://sts.amazonaws.com/");
    let err = Endpoint::resolve(Some("ftp://x"), None, &env(&[])).unwrap_err();
    assert!(err.contains("sts_endpoint"), "{err}");
}

fn role(external_id: Option<&str>) -> Role {
    Role {
        arn: "arn:aws:iam::123456789012:role/demo".into(),
        session_name: None,
        external_id: external_id.map(Secret::new),
        duration_seconds: Some(900),
    }
}

#[test]
fn the_request_is_a_signed_assume_role_form() {
    let endpoint = Endpoint {
        url: "http://127.0.0.1:9/".into(),
        region: "eu-west-1".into(),
    };
    let source = AwsCredentials {
        access_key: Secret::new("ASIASOURCE"),
        secret_key: Secret::new("source-secret"),
        session_token: Some(Secret::new("source-token")),
        expires_at: None,
    };
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let req = signed_request(&endpoint, &role(Some("ext id")), "sess", &source, at).unwrap();
    let body = std::str::from_utf8(req.body()).unwrap();
    assert_eq!(
        body,
        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo\
         &RoleSessionName=sess&ExternalId=ext+id&DurationSeconds=900"
    );
    let h = |n: &str| req.headers()[n].to_str().unwrap().to_owned();
    assert!(
        h("authorization").starts_with(
            "AWS4-HMAC-SHA256 Credential=ASIASOURCE/20150830/eu-west-1/sts/aws4_request, "
        ),
        "{}",
        h("authorization")
    );
    assert_eq!(h("x-amz-security-token"), "source-token");
    assert_eq!(h("host"), "127.0.0.1:9");
    assert!(req.headers()["authorization"].is_sensitive());
}

#[test]
fn an_answer_gives_the_temporary_credentials() {
    let body = br#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleResult><Credentials><AccessKeyId>ASIANEW</AccessKeyId>
<SecretAccessKey>new-secret</SecretAccessKey><SessionToken>new-token</SessionToken>
<Expiration>2015-08-30T13:36:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#;
    let c = parse_answer(200, body, "r").unwrap();
    assert_eq!(c.access_key.expose(), "ASIANEW");
    assert_eq!(c.secret_key.expose(), "new-secret");
    assert_eq!(c.session_token.unwrap().expose(), "new-token");
    assert_eq!(
        c.expires_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_941_760))
    );
}

#[test]
fn a_refusal_carries_the_sts_error_and_a_bad_answer_says_what_is_missing() {
    let body = br#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>
<Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>"#;
    let err = parse_answer(403, body, "arn:r").unwrap_err().to_string();
    assert_eq!(
        err,
        "STS refused AssumeRole of arn:r (403): AccessDenied: User is not authorized to perform: sts:AssumeRole"
    );
    let err = parse_answer(500, b"gateway down", "arn:r")
        .unwrap_err()
        .to_string();
    assert!(err.contains("(500): (no code)"), "{err}");
    let partial =
        b"<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId>\
        <SecretAccessKey>hidden</SecretAccessKey><Expiration>2015-08-30T13:36:00Z</Expiration>\
        </Credentials></AssumeRoleResult></AssumeRoleResponse>";
    let err = parse_answer(200, partial, "arn:r").unwrap_err().to_string();
    assert!(
        err.contains("no Credentials/SessionToken") && !err.contains("hidden"),
        "{err}"
    );
}
