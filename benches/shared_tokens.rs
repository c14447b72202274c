//! The cost of `[shared]` on the request path: an OAuth 2.0 credential handed out while the
//! token in memory is fresh, with and without a shared store (the fleet is asked only when the
//! token needs renewal, so the two should cost the same), and the sealing and opening of a
//! token state that a renewal adds. With `redis-server` on PATH the shared case runs against a
//! real one on a free loopback port (persistence off); the count of Redis calls made while
//! measuring is checked to be 0.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use signet::auth::oauth2::OAuth2Config;
use signet::net::Dialer;
use signet::oauth2::client::TokenClient;
use signet::oauth2::{Settings, Token, TokenSource};
use signet::secret::Secret;
use signet::shared::{Key, Sealer, SharedStore};

fn main() {
    divan::main();
    // Statics are never dropped: the server started for the shared case is stopped here.
    let started = REDIS.lock().map(|mut r| r.take());
    if let Ok(Some(mut redis)) = started {
        let _ = redis.kill();
        let _ = redis.wait();
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fn token() -> Token {
    Token {
        access_token: Secret::new("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"),
        refresh_token: Some(Secret::new("rt-0123456789abcdef0123456789abcdef")),
        id_token: None,
        token_type: Some("Bearer".into()),
        expires_at: Some(SystemTime::now() + Duration::from_secs(3600)),
        scopes: vec!["api:read".into()],
    }
}

fn source(dir: &std::path::Path, shared: Option<Arc<SharedStore>>) -> Arc<TokenSource> {
    let cfg: OAuth2Config = toml::from_str(
        r#"grant_type = "client_credentials"
           access_token_url = "http://127.0.0.1:9/token"
           client_id = "bench"
           client_secret = "bench-secret""#,
    )
    .expect("an oauth2 table");
    let settings = Settings::new(&cfg, "bench", dir).expect("settings");
    let mut source = TokenSource::new(
        settings,
        TokenClient::new(Dialer::default(), Duration::from_secs(5)),
    );
    if let Some(store) = shared {
        source = source.sharing(store);
    }
    let source = Arc::new(source);
    runtime()
        .block_on(source.store_login(token()))
        .expect("stored");
    source
}

fn start_redis() -> Option<u16> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    if let Ok(mut r) = REDIS.lock() {
        *r = Some(child);
    }
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(port);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

static REDIS: Mutex<Option<Child>> = Mutex::new(None);
static SHARED: OnceLock<Arc<SharedStore>> = OnceLock::new();

fn shared_store() -> Arc<SharedStore> {
    let store = SHARED.get_or_init(|| {
        let redis = start_redis();
        let port = redis.unwrap_or(9);
        let store = Arc::new(
            SharedStore::new(signet::shared::Settings {
                redis: format!("redis://127.0.0.1:{port}/0"),
                keys: vec![Key::from_bytes([7; 32])],
                prefix: "bench:".into(),
            })
            .expect("a store"),
        );
        if redis.is_none() {
            eprintln!("no redis-server on PATH: the shared case runs with Redis unreachable");
        }
        store
    });
    store.clone()
}

#[divan::bench]
fn fresh_token_alone(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let source = source(dir.path(), None);
    bencher.bench_local(|| runtime().block_on(source.credential(SystemTime::now())));
}

#[divan::bench]
fn fresh_token_with_shared(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = shared_store();
    let source = source(dir.path(), Some(store.clone()));
    let before = store.calls();
    bencher.bench_local(|| runtime().block_on(source.credential(SystemTime::now())));
    assert_eq!(store.calls(), before, "the fresh path called Redis");
}

#[divan::bench]
fn seal_and_open_a_token_state(bencher: divan::Bencher) {
    let sealer = Sealer::new(&[Key::from_bytes([7; 32])]).expect("a sealer");
    let name =
        "signet:oauth2-token:4e631adc995c483bdf685a7b83c6d84b1f9eabd8ff982af8ae186f07ad749b85";
    let plain = br#"{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl","refresh_token":"rt-0123456789abcdef0123456789abcdef","token_type":"Bearer","expires_at":1900000000,"scopes":["api:read"],"expires_at_ms":1900000000123}"#;
    bencher.bench_local(|| {
        let sealed = sealer.seal(name, plain).expect("sealed");
        sealer.open(name, &sealed).expect("opened")
    });
}
