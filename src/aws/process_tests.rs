use std::time::{Duration, SystemTime};

use super::*;

fn script(dir: &std::path::Path, body: &str) -> Vec<String> {
    let path = dir.join("creds.sh");
    std::fs::write(&path, body).unwrap();
    vec!["sh".into(), path.display().to_string()]
}

#[tokio::test]
async fn runs_the_command_and_reads_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "echo \"$1\" >&2\ncat <<'J'\n{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", \"SecretAccessKey\": \"proc-secret\",\n \"SessionToken\": \"proc-token\", \"Expiration\": \"2030-01-02T03:04:05Z\"}\nJ\n",
    );
    let c = run(&cmd, Duration::from_secs(10), "p").await.unwrap();
    assert_eq!(c.access_key.expose(), "ASIAPROC");
    assert_eq!(c.secret_key.expose(), "proc-secret");
    assert_eq!(
        c.session_token.as_ref().map(Secret::expose),
        Some("proc-token")
    );
    // 2030-01-02T03:04:05Z is 1893553445 seconds after the epoch.
    assert_eq!(
        c.expires_at,
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_553_445))
    );
}

#[tokio::test]
async fn a_failing_process_reports_its_status_not_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(
        dir.path(),
        "echo '{\"SecretAccessKey\": \"leaked\"}'\necho oops >&2\nexit 3\n",
    );
    let err = run(&cmd, Duration::from_secs(10), "p").await.unwrap_err();
    assert!(matches!(err, ProcessError::Failed(_)), "{err}");
    assert!(
        err.to_string().contains('3') && !err.to_string().contains("leaked"),
        "{err}"
    );
}

#[tokio::test]
async fn a_hanging_process_is_stopped_at_the_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = script(dir.path(), "sleep 30\n");
    let started = std::time::Instant::now();
    let err = run(&cmd, Duration::from_millis(300), "p")
        .await
        .unwrap_err();
    assert!(matches!(err, ProcessError::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_missing_program_is_named() {
    let err = run(&["/nonexistent/helper".into()], Duration::from_secs(1), "p")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/helper"), "{err}");
}

#[test]
fn the_document_must_be_version_1_with_both_keys() {
    let ok = parse(br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S"}"#).unwrap();
    assert_eq!((ok.session_token, ok.expires_at), (None, None));
    for (doc, why) in [
        (
            &br#"{"AccessKeyId":"A","SecretAccessKey":"S"}"#[..],
            "no Version",
        ),
        (
            br#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"S"}"#,
            "other than 1",
        ),
        (br#"{"Version":1,"SecretAccessKey":"S"}"#, "no AccessKeyId"),
        (br#"{"Version":1,"AccessKeyId":"A"}"#, "no SecretAccessKey"),
        (
            br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"tomorrow"}"#,
            "ISO 8601",
        ),
        (b"AccessKeyId=A SecretAccessKey=hidden", "no JSON"),
    ] {
        let err = parse(doc).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
        assert!(!err.contains("hidden"), "{err}");
    }
}

#[test]
fn expiration_takes_fractions_and_offsets() {
    let z = parse_time("2030-01-02T03:04:05Z").unwrap();
    assert_eq!(parse_time("2030-01-02T05:04:05.000+02:00"), Some(z));
}
