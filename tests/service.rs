//! `signet run` as a service, with the real binary: `SIGHUP` and a config replaced by rename
//! change the auth on an open connection, a broken config is refused, and `SIGTERM` lets a
//! slow request finish (a second one stops at once).
#![cfg(unix)]

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use support::{client, request};

/// An origin that records the `Authorization` of each request and answers `/slow/MS` after
/// MS milliseconds.
struct SlowOrigin {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl SlowOrigin {
    async fn start() -> SlowOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let recorded = recorded.clone();
                        async move {
                            let auth = req.headers().get("authorization");
                            let auth = auth.map(|v| v.to_str().unwrap().to_owned());
                            recorded.lock().unwrap().push(auth);
                            if let Some(ms) = req.uri().path().strip_prefix("/slow/") {
                                let ms = ms.parse().unwrap();
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                            }
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("done"))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        SlowOrigin { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn last_auth(&self) -> Option<String> {
        self.seen.lock().unwrap().last().cloned().flatten()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary, run with a config in a temp dir, its log in a file there.
struct Service {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Service {
    /// Starts `signet run` with `toml` (which must not set `listen`) on a free port, given as
    /// `--listen PORT`.
    async fn start(toml: &str, files: &[(&str, &str)]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        std::fs::write(dir.path().join("signet.toml"), toml).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(cli::SIGNET)
            .arg("--config")
            .arg(dir.path().join("signet.toml"))
            .args(["run", "--listen", &port.to_string()])
            .env("RUST_LOG", "signet=info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let service = Service {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        service.wait_for_log("signet is running", 1).await;
        service
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("signet.toml")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap()
    }

    /// Waits until `text` is in the log `times` times.
    async fn wait_for_log(&self, text: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.log().matches(text).count() < times {
            assert!(Instant::now() < deadline, "no {text:?} in:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: sends a signal to the child this test started; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// The exit status, if the process ends within `within`.
    async fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bearer_toml(origin: &SlowOrigin, token: &str, extra_proxy: &str) -> String {
    format!(
        "[proxy]\n{extra_proxy}\n[auth.api]\ntype = \"bearer\"\ntoken = \"{token}\"\n\n\
         [[host]]\nmatch = [\"{}\"]\nauth = \"api\"\n",
        origin.addr
    )
}

/// Replaces `path` as editors and config managers do: a new file renamed over the old one.
fn replace_by_rename(path: &Path, content: &str) {
    let temp = path.with_extension("toml.new");
    std::fs::write(&temp, content).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

#[tokio::test]
async fn sighup_rereads_the_config_and_an_open_connection_signs_with_it() {
    let origin = SlowOrigin::start().await;
    let admin = free_port();
    let toml = bearer_toml(
        &origin,
        "${file:token.txt}",
        &format!("\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n"),
    );
    let service = Service::start(&toml, &[("token.txt", "one")]).await;
    let mut conn = client(service.addr).await;
    let url = origin.url("/a");
    assert_eq!(
        request(&mut conn, "GET", &url, Bytes::new()).await.0,
        StatusCode::OK
    );
    assert_eq!(origin.last_auth().as_deref(), Some("Bearer one"));

    // Only the secret file changes: the config file is as it was, the signal does it.
    std::fs::write(service.dir.path().join("token.txt"), "two").unwrap();
    service.signal(libc::SIGHUP);
    service.wait_for_log("config reloaded", 1).await;
    assert!(
        service.log().contains("cause=\"SIGHUP\""),
        "{}",
        service.log()
    );
    assert_eq!(
        request(&mut conn, "GET", &url, Bytes::new()).await.0,
        StatusCode::OK
    );
    assert_eq!(origin.last_auth().as_deref(), Some("Bearer two"));

    let metrics = support::get(
        SocketAddr::from(([127, 0, 0, 1], admin)),
        &format!("http://127.0.0.1:{admin}/metrics"),
        &[],
    )
    .await
    .text();
    assert!(
        metrics.contains("signet_config_reloads_total{result=\"ok\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("signet_config_info{sha256=\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_config_replaced_by_rename_is_reloaded_and_a_broken_one_is_refused() {
    let origin = SlowOrigin::start().await;
    let service = Service::start(&bearer_toml(&origin, "one", ""), &[]).await;
    let mut conn = client(service.addr).await;
    let url = origin.url("/a");
    request(&mut conn, "GET", &url, Bytes::new()).await;
    assert_eq!(origin.last_auth().as_deref(), Some("Bearer one"));

    replace_by_rename(&service.config(), &bearer_toml(&origin, "two", ""));
    service.wait_for_log("config reloaded", 1).await;
    assert!(service.log().contains("cause=\"config file changed\""));
    request(&mut conn, "GET", &url, Bytes::new()).await;
    assert_eq!(origin.last_auth().as_deref(), Some("Bearer two"));

    let broken = bearer_toml(&origin, "three", "").replace("auth = \"api\"", "auth = \"nope\"");
    replace_by_rename(&service.config(), &broken);
    service.wait_for_log("reload refused", 1).await;
    let log = service.log();
    assert!(log.contains("signet.toml:9:"), "{log}");
    assert!(log.contains("host[0].auth: no [auth.nope]"), "{log}");
    let (status, _) = request(&mut conn, "GET", &url, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(origin.last_auth().as_deref(), Some("Bearer two"));
}

#[tokio::test]
async fn sigterm_lets_a_slow_request_finish_and_exits_0() {
    let origin = SlowOrigin::start().await;
    let mut service = Service::start(&bearer_toml(&origin, "one", ""), &[]).await;
    let addr = service.addr;
    let url = origin.url("/slow/1500");
    let slow = tokio::spawn(async move {
        let mut conn = client(addr).await;
        request(&mut conn, "POST", &url, Bytes::from(vec![b'x'; 1 << 20])).await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    service.signal(libc::SIGTERM);
    service.wait_for_log("stopping", 1).await;
    // No new connections once stopping.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let (status, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"done");
    let status = service.exit_within(Duration::from_secs(5)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", service.log());
    assert!(service.log().contains("every request in flight finished"));
}

#[tokio::test]
async fn a_second_sigterm_stops_at_once() {
    let origin = SlowOrigin::start().await;
    let mut service = Service::start(&bearer_toml(&origin, "one", ""), &[]).await;
    let addr = service.addr;
    let url = origin.url("/slow/30000");
    let slow = tokio::spawn(async move {
        let mut conn = client(addr).await;
        conn.ready().await.unwrap();
        let req = Request::get(url).body(Full::new(Bytes::new())).unwrap();
        conn.send_request(req).await.map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    service.signal(libc::SIGTERM);
    service.wait_for_log("stopping", 1).await;
    assert!(
        service
            .exit_within(Duration::from_millis(500))
            .await
            .is_none(),
        "waits for the request in flight"
    );
    let second = Instant::now();
    service.signal(libc::SIGTERM);
    let status = service.exit_within(Duration::from_secs(3)).await;
    assert!(second.elapsed() < Duration::from_secs(3));
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{}", service.log());
    assert!(service.log().contains("second signal: stopping now"));
    assert!(
        slow.await.unwrap().is_err(),
        "the request in flight was cut"
    );
}

#[tokio::test]
async fn the_drain_timeout_bounds_the_wait() {
    let origin = SlowOrigin::start().await;
    let toml = bearer_toml(&origin, "one", "drain_timeout = 1");
    let mut service = Service::start(&toml, &[]).await;
    let addr = service.addr;
    let url = origin.url("/slow/30000");
    let _slow = tokio::spawn(async move {
        let mut conn = client(addr).await;
        request(&mut conn, "GET", &url, Bytes::new()).await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stopped = Instant::now();
    service.signal(libc::SIGTERM);
    let status = service.exit_within(Duration::from_secs(5)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", service.log());
    assert!(stopped.elapsed() >= Duration::from_millis(900));
    assert!(service.log().contains("drain timeout"), "{}", service.log());
}
