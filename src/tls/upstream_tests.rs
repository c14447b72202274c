//! Upstream client configs against rustls servers on 127.0.0.1: trust, mTLS, short reasons.

use super::*;
use crate::tls::ClientIdentity;
use crate::tls::ca::tests::{new_ca, temp_dir};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A throwaway CA made directly with rcgen: its issuer and its certificate (DER, PEM).
fn test_ca() -> (Issuer<'static, KeyPair>, CertificateDer<'static>, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    // A name of its own: rcgen's default subject would equal the self-signed test cert's.
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "upstream test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert.der().clone(), cert.pem())
}

/// A certificate for `name` with the given purpose, as (chain PEM, key PEM, chain DER).
fn issue(
    issuer: &Issuer<'static, KeyPair>,
    name: &str,
    eku: ExtendedKeyUsagePurpose,
    not_after: OffsetDateTime,
) -> (String, String, CertificateDer<'static>) {
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.extended_key_usages = vec![eku];
    params.not_before = OffsetDateTime::now_utc() - Duration::days(30);
    params.not_after = not_after;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().clone())
}

fn write(dir: &Path, file: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// A profile trusting the PEM certificates in `ca`, presenting `identity`.
fn profile(ca: &Path, identity: Option<ClientIdentity>) -> TlsProfile {
    TlsProfile {
        extra_roots: read_trust_anchors(ca).unwrap(),
        identity,
    }
}

/// Serves one TLS connection: handshake, write "ok", close. Returns the address and what
/// the server saw (the client's certificate count, or the handshake error).
async fn serve_once(
    config: ServerConfig,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<io::Result<usize>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let peers = tls.get_ref().1.peer_certificates().map_or(0, <[_]>::len);
        tls.write_all(b"ok").await?;
        tls.shutdown().await?;
        Ok(peers)
    });
    (addr, task)
}

/// Connects with `config` as `name`, reads to the end; the error of either step.
async fn fetch(
    config: Arc<ClientConfig>,
    addr: std::net::SocketAddr,
    name: &str,
) -> io::Result<Vec<u8>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_string()).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    let mut body = Vec::new();
    tls.read_to_end(&mut body).await?;
    Ok(body)
}

fn server_config() -> rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier> {
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
}

#[tokio::test]
async fn mutual_tls_presents_the_identity_and_fails_without_it() {
    let dir = temp_dir("mtls");
    let server_ca = new_ca("mtls-server");
    let server_ca_file = server_ca.cert_path().to_path_buf();
    let (client_ca, client_ca_der, _) = test_ca();
    let in_a_year = OffsetDateTime::now_utc() + Duration::days(365);
    let (cert_pem, key_pem, _) = issue(
        &client_ca,
        "client.test",
        ExtendedKeyUsagePurpose::ClientAuth,
        in_a_year,
    );
    let cert_file = write(&dir, "client.pem", &cert_pem);
    let key_file = write(&dir, "client.key", &key_pem);
    let identity = ClientIdentity::new(
        crate::tls::read_certs(&cert_file).unwrap(),
        crate::tls::read_client_key(&key_file, None).unwrap(),
        &cert_file,
        &key_file,
    )
    .unwrap();

    let mut client_roots = RootCertStore::empty();
    client_roots.add(client_ca_der).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider())
        .build()
        .unwrap();
    let (chain, key) = server_ca.mint_leaf("mtls.example.test").unwrap();
    let server = server_config()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();

    let with_id =
        UpstreamTls::client_config(&profile(&server_ca_file, Some(identity)), &[b"http/1.1"])
            .unwrap();
    let (addr, task) = serve_once(server.clone()).await;
    let body = fetch(with_id, addr, "mtls.example.test").await.unwrap();
    assert_eq!(body, b"ok");
    assert_eq!(
        task.await.unwrap().unwrap(),
        1,
        "server saw the client certificate"
    );

    let without =
        UpstreamTls::client_config(&profile(&server_ca_file, None), &[b"http/1.1"]).unwrap();
    let (addr, task) = serve_once(server).await;
    let err = fetch(without, addr, "mtls.example.test").await.unwrap_err();
    assert!(
        task.await.unwrap().is_err(),
        "server refused the anonymous client"
    );
    let reason = describe_handshake_error("mtls.example.test", &err);
    assert!(reason.contains("client certificate"), "{reason}");
}

#[tokio::test]
async fn handshake_failures_get_short_reasons() {
    let dir = temp_dir("reasons");
    let (ca, _, ca_pem) = test_ca();
    let ca_file = write(&dir, "ca.pem", &ca_pem);
    let client =
        UpstreamTls::client_config(&profile(&ca_file, None), &[b"h2", b"http/1.1"]).unwrap();
    assert_eq!(
        client.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    let in_a_year = OffsetDateTime::now_utc() + Duration::days(365);
    let yesterday = OffsetDateTime::now_utc() - Duration::days(1);
    let serve = |pem: String, key: String| {
        let chain = vec![CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        server_config()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap()
    };

    // Self-signed: trusted by nothing the client knows.
    let self_signed = rcgen::generate_simple_self_signed(vec!["self.test".into()]).unwrap();
    let config = serve(
        self_signed.cert.pem(),
        self_signed.signing_key.serialize_pem(),
    );
    let (addr, _task) = serve_once(config).await;
    let err = fetch(client.clone(), addr, "self.test").await.unwrap_err();
    assert_eq!(
        describe_handshake_error("self.test", &err),
        "certificate not trusted for host self.test"
    );

    // Trusted issuer, other name.
    let (pem, key, _) = issue(
        &ca,
        "a.test",
        ExtendedKeyUsagePurpose::ServerAuth,
        in_a_year,
    );
    let (addr, _task) = serve_once(serve(pem, key)).await;
    let err = fetch(client.clone(), addr, "b.test").await.unwrap_err();
    assert_eq!(
        describe_handshake_error("b.test", &err),
        "certificate is for another name than b.test"
    );

    // Trusted issuer, right name, expired.
    let (pem, key, _) = issue(
        &ca,
        "old.test",
        ExtendedKeyUsagePurpose::ServerAuth,
        yesterday,
    );
    let (addr, _task) = serve_once(serve(pem, key)).await;
    let err = fetch(client.clone(), addr, "old.test").await.unwrap_err();
    assert_eq!(
        describe_handshake_error("old.test", &err),
        "certificate of old.test expired"
    );

    // Everything right: the same client connects.
    let (pem, key, _) = issue(
        &ca,
        "good.test",
        ExtendedKeyUsagePurpose::ServerAuth,
        in_a_year,
    );
    let (addr, _task) = serve_once(serve(pem, key)).await;
    assert_eq!(fetch(client, addr, "good.test").await.unwrap(), b"ok");

    let plain = io::Error::new(io::ErrorKind::UnexpectedEof, "eof");
    assert!(describe_handshake_error("x.test", &plain).contains("x.test"));
}

#[test]
fn bad_files_are_named() {
    let dir = temp_dir("badfiles");
    let missing = dir.join("missing.pem");
    let err = read_trust_anchors(&missing).unwrap_err();
    assert!(
        matches!(&err, TlsError::Read { path, .. } if *path == missing),
        "{err}"
    );
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "nothing here\n").unwrap();
    let err = read_trust_anchors(&empty).unwrap_err();
    assert!(
        err.to_string().contains(&empty.display().to_string()),
        "{err}"
    );

    let (ca, _, _) = test_ca();
    let later = OffsetDateTime::now_utc() + Duration::days(30);
    let (pem, _, _) = issue(&ca, "c.test", ExtendedKeyUsagePurpose::ClientAuth, later);
    let (_, other_key, _) = issue(&ca, "d.test", ExtendedKeyUsagePurpose::ClientAuth, later);
    let cert_file = write(&dir, "c.pem", &pem);
    let key_file = write(&dir, "d.key", &other_key);
    let chain = crate::tls::read_certs(&cert_file).unwrap();
    let key = crate::tls::read_client_key(&key_file, None).unwrap();
    let err = ClientIdentity::new(chain, key, &cert_file, &key_file).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    std::fs::write(&key_file, "-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap();
    let err = crate::tls::read_client_key(&key_file, None).unwrap_err();
    assert!(
        matches!(&err, TlsError::Key { path, .. } if *path == key_file),
        "{err}"
    );
}
