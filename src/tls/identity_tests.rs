//! The client-certificate loader against files made by openssl (tests/vectors/client-certs,
//! commands in its README): every form yields openssl's certificate with a key rustls accepts,
//! and a rustls server requiring a client certificate sees it.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::tls::ca::tests::new_ca;
use crate::tls::{TlsProfile, UpstreamTls, read_certs, read_trust_anchors};

const PASSPHRASE: &str = "signet test passphrase";

fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/client-certs")
        .join(name)
}

fn der_of(pem_file: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(vector(pem_file)).unwrap()
}

fn from_pem(key_file: &str, passphrase: Option<&str>) -> Result<ClientIdentity, TlsError> {
    let cert = vector("client.pem");
    let key = vector(key_file);
    let key_der = read_client_key(&key, passphrase)?;
    ClientIdentity::new(read_certs(&cert).unwrap(), key_der, &cert, &key)
}

#[test]
fn every_key_form_yields_the_openssl_certificate() {
    let client = der_of("client.pem");
    let identities = [
        ("plain PKCS#8", from_pem("client.key", None)),
        (
            "plain PKCS#8, passphrase unused",
            from_pem("client.key", Some(PASSPHRASE)),
        ),
        (
            "PBES2 AES-256",
            from_pem("client-aes256.p8", Some(PASSPHRASE)),
        ),
        (
            "PBES2 3DES, SHA-1 PRF",
            from_pem("client-des3-sha1.p8", Some(PASSPHRASE)),
        ),
        (
            "PKCS#12 PBES2",
            ClientIdentity::from_pfx(&vector("client.p12"), Some(PASSPHRASE)),
        ),
        (
            "PKCS#12 legacy",
            ClientIdentity::from_pfx(&vector("client-legacy.p12"), Some(PASSPHRASE)),
        ),
        (
            "PKCS#12 empty passphrase",
            ClientIdentity::from_pfx(&vector("client-nopass.p12"), None),
        ),
        (
            "PKCS#12 UTF-8 passphrase",
            ClientIdentity::from_pfx(&vector("client-utf8.p12"), Some("pässwörd")),
        ),
    ];
    for (what, identity) in identities {
        let identity = identity.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(identity.chain().first(), Some(&client), "{what}");
    }
}

#[test]
fn a_pfx_brings_the_chain_it_holds() {
    let identity =
        ClientIdentity::from_pfx(&vector("client-legacy.p12"), Some(PASSPHRASE)).unwrap();
    assert_eq!(identity.chain(), [der_of("client.pem"), der_of("ca.pem")]);
}

#[test]
fn a_wrong_passphrase_is_named_as_such() {
    let wrong = Some("not the passphrase");
    for file in ["client-aes256.p8", "client-des3-sha1.p8"] {
        let err = read_client_key(&vector(file), wrong).unwrap_err();
        assert!(
            matches!(&err, TlsError::WrongPassphrase { path } if *path == vector(file)),
            "{file}: {err}"
        );
    }
    for file in ["client.p12", "client-legacy.p12", "client-utf8.p12"] {
        let err = ClientIdentity::from_pfx(&vector(file), wrong).unwrap_err();
        assert!(
            matches!(&err, TlsError::WrongPassphrase { path } if *path == vector(file)),
            "{file}: {err}"
        );
    }
}

#[test]
fn a_missing_passphrase_says_to_set_one() {
    let err = read_client_key(&vector("client-aes256.p8"), None).unwrap_err();
    assert!(
        matches!(&err, TlsError::Key { reason, .. } if reason.contains("set passphrase")),
        "{err}"
    );
    let err = ClientIdentity::from_pfx(&vector("client.p12"), None).unwrap_err();
    assert!(
        matches!(&err, TlsError::Pfx { reason, .. } if reason.contains("set passphrase")),
        "{err}"
    );
}

#[test]
fn unsupported_encryptions_say_what_works() {
    let err = read_client_key(&vector("client-pbes1.p8"), Some(PASSPHRASE)).unwrap_err();
    assert!(
        matches!(&err, TlsError::Key { reason, .. } if reason.contains("PBES2")),
        "{err}"
    );
    let err = read_client_key(&vector("client-traditional.key"), Some(PASSPHRASE)).unwrap_err();
    assert!(
        matches!(&err, TlsError::Key { reason, .. } if reason.contains("openssl pkcs8 -topk8")),
        "{err}"
    );
}

#[test]
fn bad_files_are_refused() {
    let err = from_pem("other.key", None).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    // A PEM file is no PKCS#12 file.
    let err = ClientIdentity::from_pfx(&vector("client.pem"), Some(PASSPHRASE)).unwrap_err();
    assert!(matches!(err, TlsError::Pfx { .. }), "{err}");
    let err = ClientIdentity::from_pfx(&vector("missing.p12"), None).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
}

#[test]
fn errors_and_debug_show_no_key_material() {
    let identity = from_pem("client.key", None).unwrap();
    assert_eq!(
        format!("{identity:?}"),
        "ClientIdentity { certificates: 1, .. }"
    );
}

/// Serves one TLS connection that requires a client certificate issued by the vectors' CA;
/// answers with the DER of the certificate it was shown.
async fn serve_once(
    server_ca: &crate::tls::CertificateAuthority,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let mut roots = RootCertStore::empty();
    roots.add(der_of("ca.pem")).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .unwrap();
    let (chain, key) = server_ca.mint_leaf("mtls.test").unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let seen = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        tls.write_all(b"ok").await.unwrap();
        tls.shutdown().await.unwrap();
        seen
    });
    (addr, task)
}

#[tokio::test]
async fn a_server_requiring_a_client_certificate_sees_the_one_loaded() {
    let server_ca = new_ca("identity-mtls");
    let extra_roots = read_trust_anchors(server_ca.cert_path()).unwrap();
    let identities = [
        from_pem("client-aes256.p8", Some(PASSPHRASE)).unwrap(),
        ClientIdentity::from_pfx(&vector("client.p12"), Some(PASSPHRASE)).unwrap(),
        ClientIdentity::from_pfx(&vector("client-legacy.p12"), Some(PASSPHRASE)).unwrap(),
    ];
    for identity in identities {
        let profile = TlsProfile {
            extra_roots: extra_roots.clone(),
            identity: Some(identity),
        };
        let config = UpstreamTls::client_config(&profile, &[b"http/1.1"]).unwrap();
        let (addr, task) = serve_once(&server_ca).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("mtls.test").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .unwrap();
        let mut body = Vec::new();
        tls.read_to_end(&mut body).await.unwrap();
        assert_eq!(body, b"ok");
        assert_eq!(task.await.unwrap(), der_of("client.pem").to_vec());
    }
}
