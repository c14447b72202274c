use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

use super::*;
use crate::auth::awsv4::AwsV4;
use crate::auth::{BuildContext, OsEntropy, SignContext, Signer};

/// The shared files in a temp dir, and sources whose environment points at them.
fn sources(dir: &Path, config: &str, credentials: &str) -> AwsSources {
    sources_with(dir, config, credentials, &[])
}

fn sources_with(
    dir: &Path,
    config: &str,
    credentials: &str,
    extra: &[(&'static str, &str)],
) -> AwsSources {
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(dir.join("credentials"), credentials).unwrap();
    let mut vars = HashMap::new();
    vars.insert("AWS_CONFIG_FILE", dir.join("config").display().to_string());
    vars.insert(
        "AWS_SHARED_CREDENTIALS_FILE",
        dir.join("credentials").display().to_string(),
    );
    for (k, v) in extra {
        vars.insert(k, (*v).to_owned());
    }
    let env = Env::from_fn(move |k| vars.get(k).cloned());
    AwsSources::new(Dialer::default(), Duration::from_secs(10), env)
}

fn build(aws: &AwsSources, table: &str) -> Result<AwsV4, BuildError> {
    let tokens = crate::oauth2::Sources::new(Dialer::default(), Duration::from_secs(1));
    let bx = BuildContext {
        name: "aws-test",
        base_dir: Path::new("."),
        tokens: &tokens,
        aws,
    };
    <AwsV4 as Signer>::build(toml::from_str(table).unwrap(), &bx)
}

async fn authorization(signer: &AwsV4) -> String {
    let (mut parts, ()) = http::Request::get("https://example.test/x")
        .body(())
        .unwrap()
        .into_parts();
    let cx = SignContext {
        now: SystemTime::now(),
        fixed_nonce: None,
        entropy: &OsEntropy,
    };
    Signer::sign(signer, &mut parts, Some(&mut bytes::Bytes::new()), &cx)
        .await
        .unwrap();
    parts.headers["authorization"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_profile_signs_with_its_keys_and_its_region() {
    let dir = tempfile::tempdir().unwrap();
    let aws = sources(
        dir.path(),
        "[profile dev]\nregion = eu-north-1\n",
        "[dev]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n",
    );
    let signer = build(&aws, "profile = \"dev\"\nservice = \"execute-api\"").unwrap();
    let authz = authorization(&signer).await;
    assert!(authz.contains("Credential=AKIDPROFILE/"), "{authz}");
    assert!(
        authz.contains("/eu-north-1/execute-api/aws4_request"),
        "{authz}"
    );
    // The rule's region wins over the profile's.
    let signer = build(
        &aws,
        "profile = \"dev\"\nservice = \"s3\"\nregion = \"us-west-1\"",
    )
    .unwrap();
    assert!(authorization(&signer).await.contains("/us-west-1/s3/"));
    let described = format!("{} {signer:?}", signer.describe());
    assert!(described.contains("profile=dev"), "{described}");
    assert!(!described.contains("AKIDPROFILE") && !described.contains("profile-secret"));
}

#[tokio::test]
async fn a_credential_process_profile_runs_the_process_once_for_long_lived_keys() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("runs");
    let script = dir.path().join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "echo run >> '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"proc-secret\"}}'\n",
            counter.display()
        ),
    )
    .unwrap();
    let config = format!(
        "[profile p]\ncredential_process = sh '{}'\n",
        script.display()
    );
    let aws = sources(dir.path(), &config, "");
    let signer = build(&aws, "profile = \"p\"\nservice = \"sqs\"").unwrap();
    for _ in 0..3 {
        assert!(
            authorization(&signer)
                .await
                .contains("Credential=AKIDPROC/")
        );
    }
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "run\n");
    assert!(!signer.describe().contains(&script.display().to_string()));
}

#[tokio::test]
async fn a_failing_process_is_a_token_endpoint_error_naming_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let aws = sources(
        dir.path(),
        "[profile broken]\ncredential_process = false\n",
        "",
    );
    let signer = build(&aws, "profile = \"broken\"\nservice = \"sqs\"").unwrap();
    let (mut parts, ()) = http::Request::get("https://example.test/")
        .body(())
        .unwrap()
        .into_parts();
    let err = Signer::sign(
        &signer,
        &mut parts,
        Some(&mut bytes::Bytes::new()),
        &SignContext::system(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, crate::auth::AuthError::TokenEndpoint(_)),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("AWS profile broken: credential_process exited"),
        "{err}"
    );
}

#[test]
fn table_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let aws = sources(
        dir.path(),
        "[profile k]\naws_access_key_id = A\naws_secret_access_key = S\n",
        "",
    );
    let key = |table: &str| build(&aws, table).unwrap_err().key;
    assert_eq!(key("profile = \"absent\""), Some("profile"));
    assert_eq!(
        key("profile = \"k\"\nsts_endpoint = \"http://127.0.0.1:1\""),
        Some("sts_endpoint")
    );
    assert_eq!(key("profile = \"k\"\naccess_key = \"A\""), Some("profile"));
    assert_eq!(
        key("profile = \"k\"\nexternal_id = \"x\""),
        Some("external_id")
    );
    assert_eq!(key("access_key = \"A\""), Some("secret_key"));
    assert_eq!(
        key("profile = \"k\"\nrole_arn = \"not-an-arn\""),
        Some("role_arn")
    );
    assert_eq!(build(&aws, "service = \"s3\"").unwrap_err().key, None);
}

#[test]
fn a_rule_role_is_described_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let aws = sources(dir.path(), "", "");
    let signer = build(
        &aws,
        "access_key = \"AKIDRULE\"\nsecret_key = \"rule-secret\"\nrole_arn = \"arn:aws:iam::1:role/r\"\n\
         external_id = \"ext-secret\"\nsts_endpoint = \"http://127.0.0.1:4566\"\nregion = \"eu-west-1\"",
    )
    .unwrap();
    let d = format!("{} {signer:?}", signer.describe());
    assert!(
        d.contains("role arn:aws:iam::1:role/r at http://127.0.0.1:4566/ external_id=set"),
        "{d}"
    );
    for secret in ["AKIDRULE", "rule-secret", "ext-secret"] {
        assert!(!d.contains(secret), "{d}");
    }
}

#[tokio::test]
async fn a_credential_process_runs_again_before_its_expiration() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("runs");
    let script = dir.path().join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "echo run >> '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", \"SecretAccessKey\": \"s\", \
             \"SessionToken\": \"t\", \"Expiration\": \"2030-01-01T01:00:00Z\"}}'\n",
            counter.display()
        ),
    )
    .unwrap();
    let config = format!(
        "[profile p]\ncredential_process = sh {}\n",
        script.display()
    );
    let aws = sources(dir.path(), &config, "");
    let signer = build(&aws, "profile = \"p\"\nservice = \"sqs\"").unwrap();
    // 2030-01-01T00:00:00Z, an hour before the process's Expiration.
    let midnight = SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000);
    let sign_at = |now: SystemTime| {
        let signer = &signer;
        async move {
            let (mut parts, ()) = http::Request::get("https://example.test/")
                .body(())
                .unwrap()
                .into_parts();
            let cx = SignContext {
                now,
                fixed_nonce: None,
                entropy: &OsEntropy,
            };
            Signer::sign(signer, &mut parts, Some(&mut bytes::Bytes::new()), &cx).await
        }
    };
    let runs = || std::fs::read_to_string(&counter).unwrap().lines().count();
    sign_at(midnight).await.unwrap();
    sign_at(midnight + Duration::from_secs(54 * 60))
        .await
        .unwrap();
    assert_eq!(runs(), 1, "six minutes left: still fresh");
    sign_at(midnight + Duration::from_secs(56 * 60))
        .await
        .unwrap();
    assert_eq!(runs(), 2, "four minutes left: renewed");
    // The process keeps printing the same Expiration: past it, nothing is sent.
    let err = sign_at(midnight + Duration::from_secs(3600))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already expired"), "{err}");
}

#[test]
fn the_endpoint_variables_matter_only_to_a_role() {
    let dir = tempfile::tempdir().unwrap();
    let aws = sources_with(
        dir.path(),
        "[profile k]\naws_access_key_id = A\naws_secret_access_key = S\n\
         [profile r]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = k\n",
        "",
        &[("AWS_ENDPOINT_URL", "not a url")],
    );
    build(&aws, "profile = \"k\"\nservice = \"s3\"").unwrap();
    let err = build(&aws, "profile = \"r\"\nservice = \"s3\"").unwrap_err();
    assert_eq!(err.key, Some("profile"));
    assert!(
        err.reason.contains("AWS_ENDPOINT_URL \"not a url\""),
        "{err}"
    );
}
