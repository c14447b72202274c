//! The admin page at `/`, loaded in headless Chromium: the DOM it builds is asserted, and a
//! screenshot is kept under target/interop-artifacts/.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use signet::admin::{Admin, RecentRequest};
use signet::config::Config;
use support::Proxy;

const CONFIG: &str = r#"
[auth.billing]
type = "oauth2"
grant_type = "client_credentials"
access_token_url = "http://127.0.0.1:9/token"
client_id = "cli"
client_secret = "cs-never-shown"
token_store = "tokens/billing.json"

[[host]]
match = ["api.example.com", "*.api.example.com"]
auth = "billing"
[[host.route]]
path = "/public/**"
auth = "none"

[[host]]
match = ["http://intranet.test:8080"]
auth = { type = "basic", username = "u", password = "pw-never-shown" }
cookies = "sync"
"#;

/// What no part of the page may hold.
const SECRETS: &[&str] = &[
    "tok-never-shown",
    "rt-never-shown",
    "cs-never-shown",
    "pw-never-shown",
    "cookie-never-shown",
];

fn artifacts() -> PathBuf {
    std::env::var_os("SIGNET_ARTIFACTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop-artifacts"),
        PathBuf::from,
    )
}

/// Headless Chromium with a fresh profile, as the interop suite runs it.
fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium (tests/run installs it)")
}

fn row(minutes_ago: u64, method: &str, path: &str, status: u16, action: &str) -> RecentRequest {
    RecentRequest {
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 - minutes_ago * 60),
        client: "127.0.0.1:50000".into(),
        method: method.into(),
        host: "api.example.com:443".into(),
        path: path.into(),
        rule: "host[0] (api.example.com)".into(),
        status,
        action: action.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_page_shows_rules_tokens_cookies_and_recent_requests_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tokens")).unwrap();
    std::fs::write(
        dir.path().join("tokens/billing.json"),
        r#"{"access_token":"tok-never-shown","refresh_token":"rt-never-shown","expires_at":4102444800,"scopes":["invoices:read","invoices:write"]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cookies.txt"),
        "intranet.test\tFALSE\t/\tFALSE\t4102444800\tsid\tcookie-never-shown\n\
         intranet.test\tFALSE\t/app\tFALSE\t4102444800\tpref\tcookie-never-shown\n\
         .other.test\tTRUE\t/\tFALSE\t4102444800\tx\tcookie-never-shown\n",
    )
    .unwrap();
    let proxy = Proxy::start_in(dir, CONFIG).await;
    let config = Config::load(&proxy.dir.path().join("signet.toml")).unwrap();
    let signet = proxy.running.signet.clone();
    let jar_cookies = signet.cookies().unwrap();
    signet::cookies::import(jar_cookies.jar(), &proxy.dir.path().join("cookies.txt")).unwrap();
    let admin = Arc::new(Admin::new(&config, signet, proxy.addr()).unwrap());
    admin
        .recent()
        .push(row(2, "GET", "/v1/invoices", 200, "signed (oauth2)"));
    admin.recent().push(row(
        1,
        "POST",
        "/v1/<script>alert(1)</script>",
        401,
        "token refreshed, replayed",
    ));
    let listener = admin.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(admin.clone().serve(listener));

    let profile = tempfile::tempdir().unwrap();
    let (dom, stderr) = {
        let (profile, url) = (profile.path().to_owned(), url.clone());
        let out = tokio::task::spawn_blocking(move || chromium(&profile, &["--dump-dom", &url]))
            .await
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let context = format!("DOM:\n{dom}\nchromium stderr:\n{stderr}");

    let der = rustls::pki_types::pem::PemObject::from_pem_slice(proxy.ca_pem().as_bytes())
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    let fingerprint: Vec<String> = Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    for want in [
        format!(
            "<code id=\"ca-fingerprint\">{}</code>",
            fingerprint.join(":")
        ),
        "<a id=\"ca-download\" href=\"/ca.crt\" download=\"signet-ca.crt\">".into(),
        "<a href=\"/metrics\">/metrics</a>".into(),
        "<a href=\"/proxy.pac\">/proxy.pac</a>".into(),
        "<tr class=\"rule\"><td>host[0] (api.example.com)</td><td>api.example.com, *.api.example.com</td><td>oauth2</td><td>1</td><td>intercept</td></tr>".into(),
        "<tr class=\"rule\"><td>host[1] (http://intranet.test:8080)</td><td>http://intranet.test:8080</td><td>basic</td><td>0</td><td>plain HTTP only</td></tr>".into(),
        "<tr class=\"token\"><td>billing</td><td>client_credentials</td><td>held</td><td>2100-01-01T00:00:00Z</td><td>invoices:read invoices:write</td><td>yes</td><td>".into(),
        "<tr class=\"cookie-host\"><td>intranet.test</td><td>2</td></tr>".into(),
        "<tr class=\"cookie-host\"><td>other.test</td><td>1</td></tr>".into(),
        // Newest first, and the path's markup shown as text.
        "<tr class=\"request\"><td>2027-01-15T07:59:00Z</td><td>127.0.0.1:50000</td><td>POST</td><td>api.example.com:443</td><td>/v1/&lt;script&gt;alert(1)&lt;/script&gt;</td><td>host[0] (api.example.com)</td><td>401</td><td>token refreshed, replayed</td></tr>\n<tr class=\"request\"><td>2027-01-15T07:58:00Z</td>".into(),
    ] {
        assert!(dom.contains(&want), "missing {want}\n{context}");
    }
    assert!(!dom.contains("<script"), "{context}");
    for secret in SECRETS {
        assert!(!dom.contains(secret), "{secret} shown\n{context}");
    }

    let shot = artifacts().join("admin-page.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let out = tokio::task::spawn_blocking(move || {
        chromium(
            profile.path(),
            &[arg.as_str(), "--window-size=1200,900", url.as_str()],
        )
    })
    .await
    .unwrap();
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}): {}",
            shot.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    println!("screenshot artifact: {}", shot.display());
}
