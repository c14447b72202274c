//! The admin listener's address rule, in-process.

mod support;

use signet::admin::Admin;
use signet::config::Config;
use support::Proxy;

#[tokio::test]
async fn admin_refuses_a_non_loopback_address_without_client_auth() {
    let proxy = Proxy::start("").await;
    let config = Config::load(&proxy.dir.path().join("signet.toml")).unwrap();
    let admin = Admin::new(&config, proxy.running.signet.clone(), proxy.addr()).unwrap();
    let err = admin.bind("0.0.0.0:0".parse().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("client_auth"), "{err}");
    assert!(admin.bind("127.0.0.1:0".parse().unwrap()).await.is_ok());
}

#[tokio::test]
async fn admin_may_listen_widely_when_clients_must_authenticate() {
    let proxy =
        Proxy::start("[proxy]\nclient_auth = { username = \"me\", password = \"pw\" }\n").await;
    let config = Config::load(&proxy.dir.path().join("signet.toml")).unwrap();
    let admin = Admin::new(&config, proxy.running.signet.clone(), proxy.addr()).unwrap();
    assert!(admin.bind("0.0.0.0:0".parse().unwrap()).await.is_ok());
}
