//! What curl shows of signet's refusals: the `Proxy-Status` header and the `signet:` body that
//! names the `[proxy] deny` entry, for a plain request and for a refused CONNECT.

mod support;

use std::process::Command;

use support::Proxy;

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("http_proxy")
        .output()
        .expect("curl is installed (tests/run installs it)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_shows_proxy_status_and_the_deny_entry() {
    let proxy = Proxy::start("[proxy]\ndeny = [\"127.0.0.2\"]\n").await;
    let proxy_url = format!("http://{}", proxy.addr());

    let (out, err) = curl(&["-i", "-x", &proxy_url, "http://127.0.0.2:9/"]);
    assert!(out.starts_with("HTTP/1.1 403"), "{out}{err}");
    assert!(
        out.contains("proxy-status: signet; error=http_request_denied\r\n"),
        "{out}"
    );
    assert!(
        out.ends_with(
            "signet: http://127.0.0.2:9: destination denied by [proxy] deny entry \"127.0.0.2\"\n"
        ),
        "{out}"
    );

    // A refused CONNECT: curl fails the transfer, and -v shows signet's answer head.
    let (_, err) = curl(&["-v", "-x", &proxy_url, "https://127.0.0.2:9/"]);
    assert!(err.contains("< HTTP/1.1 403"), "{err}");
    assert!(
        err.contains("< proxy-status: signet; error=http_request_denied"),
        "{err}"
    );
}
