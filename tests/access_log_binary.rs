//! The access log as `signet run` writes it, text and `--log-format json`, and the start-up
//! banner, from the binary's stderr.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Origin, get};

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Runs signet with `args`, sends one request under a named rule, stops it (with SIGTERM at
/// once when `term`, else with SIGKILL once the access line is there); its stderr.
async fn run_once(args: &[&str], rust_log: Option<&str>, term: bool) -> (String, u16, u16) {
    let origin = Origin::plain().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("signet.toml");
    std::fs::write(
        &config,
        format!(
            "[proxy]\nlisten = \"127.0.0.1:{port}\"\n\n[[host]]\nname = \"echo-api\"\nmatch = [\"127.0.0.1:{}\"]\nauth = {{ type = \"bearer\", token = \"binary-log-token\" }}\n",
            origin.port()
        ),
    )
    .unwrap();
    let log = dir.path().join("stderr.log");
    let mut command = Command::new(cli::SIGNET);
    command.env_remove("RUST_LOG");
    if let Some(filter) = rust_log {
        command.env("RUST_LOG", filter);
    }
    let mut child = command
        .arg("--config")
        .arg(&config)
        .arg("run")
        .args(args)
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    for _ in 0..200 {
        if read().contains("signet is running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let proxy = format!("127.0.0.1:{port}").parse().unwrap();
    let url = format!("http://127.0.0.1:{}/hello?x=1", origin.port());
    assert_eq!(get(proxy, &url, &[]).await.status, http::StatusCode::OK);
    if term {
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        for _ in 0..400 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(child.try_wait().unwrap().is_some(), "signet did not stop");
        return (read(), port, origin.port());
    }
    for _ in 0..40 {
        if read().contains("signet::access") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    (read(), port, origin.port())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_text_log_has_one_access_line_and_a_banner_to_act_on() {
    let (text, port, origin) = run_once(&[], None, false).await;
    assert!(
        text.contains(&format!(
            "proxy URL: http://127.0.0.1:{port} (export https_proxy=http://127.0.0.1:{port}"
        )),
        "{text}"
    );
    assert!(text.contains("CA: ") && text.contains("SHA-256 "), "{text}");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("signet::access"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = lines[0];
    assert!(
        line.contains("  INFO signet::access: access client=127.0.0.1:"),
        "{line}"
    );
    let want = format!(
        " method=GET scheme=http host=127.0.0.1:{origin} path=/hello?x=1 rule=echo-api auth=bearer action=signed status=200 bytes_in=0 bytes_out=0 duration_us="
    );
    assert!(line.contains(&want), "{line}\n{want}");
    // The timestamp is the general formatter's.
    let stamp = line.split(' ').next().unwrap();
    time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{stamp}: {e}"));
    assert!(!text.contains("binary-log-token"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_json_log_has_the_same_fields() {
    let (text, _, origin) = run_once(&["--log-format", "json"], None, false).await;
    let line = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["target"] == "signet::access")
        .unwrap_or_else(|| panic!("no JSON access line: {text}"));
    assert_eq!(line["rule"], "echo-api");
    assert_eq!(line["host"], format!("127.0.0.1:{origin}"));
    assert_eq!(line["path"], "/hello?x=1");
    assert_eq!(line["action"], "signed");
    assert_eq!(line["status"], 200);
    assert!(line["duration_us"].is_u64());
    // Every line is JSON, the banner's too.
    for l in text.lines() {
        assert!(serde_json::from_str::<serde_json::Value>(l).is_ok(), "{l}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_log_turns_the_access_log_off() {
    let (text, _, _) = run_once(&[], Some("signet=info,signet::access=off"), false).await;
    assert!(text.contains("signet is running"), "{text}");
    assert!(!text.contains("signet::access"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_writes_the_access_lines_still_waiting() {
    let (text, _, origin) = run_once(&[], None, true).await;
    let access = text.find(&format!("host=127.0.0.1:{origin} path=/hello?x=1"));
    let stopped = text.find("INFO signet::cli::run: stopped");
    assert!(access.is_some() && stopped.is_some(), "{text}");
    assert!(access < stopped, "{text}");
}
