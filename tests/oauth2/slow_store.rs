//! A token store on a stalled disk stalls only the requests that wait for a token: signet reads
//! the store off the thread that serves connections.

use std::sync::Arc;
use std::time::Duration;

use signet::auth::OsEntropy;
use signet::config::Config;
use signet::proxy::{Running, Signet};

use super::server::AuthServer;
use super::support::{Origin, get};

#[tokio::test]
async fn a_token_store_that_blocks_on_read_stalls_no_other_connection() {
    let server = AuthServer::start().await;
    let plain = Origin::plain().await;
    let dir = tempfile::tempdir().unwrap();
    // Opening a FIFO for reading blocks until someone opens it for writing: a disk that hangs.
    let store = dir.path().join("api.json");
    let made = std::process::Command::new("mkfifo").arg(&store).status();
    assert!(made.unwrap().success(), "mkfifo");
    let toml = super::profile_toml(&server, &format!("token_store = \"{}\"", store.display()));
    let path = dir.path().join("signet.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap();

    // signet on a single-threaded runtime of its own, as `signet run` serves: a read in place
    // would block the one thread every connection needs.
    let (started, addr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let signet = Signet::build_with(
                &config,
                Arc::new(signet::auth::SystemClock),
                Arc::new(OsEntropy),
            )
            .unwrap();
            let running = Running::start(signet, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            started.send(running.addr).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let addr = addr.recv().unwrap();

    let api = server.api("/data");
    let waiting = tokio::spawn(async move { get(addr, &api, &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other = tokio::time::timeout(
        Duration::from_secs(5),
        get(addr, &format!("http://127.0.0.1:{}/", plain.port()), &[]),
    )
    .await;
    assert!(
        other.is_ok(),
        "a request without a token waited for the token store"
    );
    assert!(!waiting.is_finished(), "the token store did not block");

    // Let the read through.
    let fifo = store.clone();
    tokio::task::spawn_blocking(move || std::fs::write(fifo, b""))
        .await
        .unwrap()
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting request never finished")
        .unwrap();
    // What the store held (nothing) is not a token file: the request says so.
    assert_eq!(answer.status, http::StatusCode::BAD_GATEWAY);
    assert!(answer.text().contains("not valid"), "{}", answer.text());
}
