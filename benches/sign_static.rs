//! Cost of the static schemes (bearer, basic, API key in a header and in the query), through
//! `Scheme::sign` as the proxy calls it.

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use signet::auth::{Scheme, SignContext};
use signet::config::Config;
use signet::policy::Policy;

fn main() {
    divan::main();
}

const CONFIG: &str = r#"
[auth.bearer]
type = "bearer"
token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

[auth.basic]
type = "basic"
username = "Aladdin"
password = "open sesame"

[auth.apikey]
type = "apikey"
key = "X-API-Key"
value = "0123456789abcdef0123456789abcdef"

[auth.apikey_query]
type = "apikey"
key = "api_key"
value = "0123456789abcdef0123456789abcdef"
add_to = "query"
"#;

fn scheme(name: &str) -> Arc<Scheme> {
    let config =
        Config::parse(Path::new("bench.toml"), CONFIG.to_owned(), &|_| None).expect("valid config");
    let policy = Policy::from_config(&config).expect("valid profiles");
    policy.profiles[name].clone().expect("a scheme")
}

fn parts() -> http::request::Parts {
    http::Request::get("https://api.example.com/v1/items?page=2&sort=name")
        .header("host", "api.example.com")
        .header("accept", "application/json")
        .body(())
        .expect("request")
        .into_parts()
        .0
}

/// Static schemes never wait: one poll finishes the future.
fn now<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a static scheme waited"),
    }
}

#[divan::bench(args = ["bearer", "basic", "apikey", "apikey_query"])]
fn sign(b: divan::Bencher, name: &str) {
    let s = scheme(name);
    let cx = SignContext::system();
    b.with_inputs(parts)
        .bench_local_refs(|p| now(s.sign(p, None, &cx)).expect("signed"));
}
