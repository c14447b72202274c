//! Test helpers: a test PKI for origins, in-process origins that record what reaches them,
//! signet started in-process on 127.0.0.1:0, and a small proxy-aware HTTP client.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use signet::config::Config;
use signet::proxy::{Running, Signet};

/// A CA for test origins (not signet's CA), with files in a temp dir.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "origin test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("origin-ca.pem"), cert.pem()).unwrap();
        Pki {
            dir,
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("origin-ca.pem")
    }

    /// A certificate for `names` (DNS names or IPs), as (chain, key).
    pub fn leaf(
        &self,
        names: &[&str],
        client: bool,
    ) -> (
        Vec<CertificateDer<'static>>,
        PrivateKeyDer<'static>,
        String,
        String,
    ) {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key_der = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        (
            vec![cert.der().clone()],
            key_der,
            cert.pem(),
            key.serialize_pem(),
        )
    }

    /// Writes a client certificate and key; returns their paths.
    pub fn client_identity(&self) -> (PathBuf, PathBuf) {
        let (_, _, cert_pem, key_pem) = self.leaf(&["client.test"], true);
        let cert = self.dir.path().join("client.pem");
        let key = self.dir.path().join("client.key");
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        (cert, key)
    }
}

/// What an origin saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An origin server on 127.0.0.1 that records requests and echoes the body back.
pub struct Origin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// The DER of the origin's certificate, when it serves TLS.
    pub cert: Option<CertificateDer<'static>>,
}

impl Origin {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.requests().pop().expect("the origin saw no request")
    }

    /// Plain HTTP/1.1.
    pub async fn plain() -> Origin {
        Self::start(None).await
    }

    /// HTTPS (HTTP/1.1 and HTTP/2 via ALPN) with a certificate for 127.0.0.1 and localhost.
    pub async fn tls(pki: &Pki) -> Origin {
        let (chain, key, _, _) = pki.leaf(&["127.0.0.1", "localhost"], false);
        let cert = chain[0].clone();
        let config = server_config(chain, key, None);
        let mut origin = Self::start(Some(config)).await;
        origin.cert = Some(cert);
        origin
    }

    /// HTTPS that requires a client certificate issued by `pki`.
    pub async fn mtls(pki: &Pki) -> Origin {
        let (chain, key, _, _) = pki.leaf(&["127.0.0.1", "localhost"], false);
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            signet::tls::provider(),
        )
        .build()
        .unwrap();
        Self::start(Some(server_config(chain, key, Some(verifier)))).await
    }

    async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let recorder = recorder.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(recorder.clone(), req));
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                                .await;
                        }
                        Some(config) => {
                            let Ok(stream) =
                                tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
                            else {
                                return;
                            };
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        Origin {
            addr,
            seen,
            cert: None,
        }
    }
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Arc<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(signet::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

async fn handle(
    seen: Arc<Mutex<Vec<Seen>>>,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.headers().contains_key(http::header::UPGRADE) {
        let on_upgrade = hyper::upgrade::on(&mut req);
        record(&seen, req, Bytes::new());
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut io = TokioIo::new(upgraded);
            let mut buf = [0u8; 4096];
            // Echo whatever arrives, as a WebSocket echo server does with its frames.
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        return Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(http::header::CONNECTION, "upgrade")
            .header(http::header::UPGRADE, "websocket")
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let echo = body.clone();
    record(&seen, Request::from_parts(parts, ()), body);
    Ok(Response::new(Full::new(echo)))
}

fn record<B>(seen: &Mutex<Vec<Seen>>, req: Request<B>, body: Bytes) {
    seen.lock().unwrap().push(Seen {
        method: req.method().clone(),
        uri: req.uri().clone(),
        version: req.version(),
        headers: req.headers().clone(),
        body,
    });
}

/// signet running in-process with a config written to a temp dir.
pub struct Proxy {
    pub running: Running,
    pub dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts signet with `toml` as its config (its CA lives in the temp dir).
    pub async fn start(toml: &str) -> Proxy {
        Self::try_start(toml)
            .await
            .unwrap_or_else(|e| panic!("signet did not start: {e}"))
    }

    pub async fn try_start(toml: &str) -> Result<Proxy, String> {
        Self::try_start_in(tempfile::tempdir().unwrap(), toml).await
    }

    /// Starts signet with `toml` as its config in `dir` (which may hold files it names).
    pub async fn start_in(dir: tempfile::TempDir, toml: &str) -> Proxy {
        Self::try_start_in(dir, toml)
            .await
            .unwrap_or_else(|e| panic!("signet did not start: {e}"))
    }

    async fn try_start_in(dir: tempfile::TempDir, toml: &str) -> Result<Proxy, String> {
        let path = dir.path().join("signet.toml");
        std::fs::write(&path, toml).unwrap();
        let config = Config::load(&path).map_err(|e| e.to_string())?;
        let signet = Signet::build(&config).map_err(|e| e.to_string())?;
        let running = Running::start(signet, "127.0.0.1:0".parse().unwrap())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Proxy { running, dir })
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// signet's CA certificate (PEM), as `signet ca export` writes it.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("certs/ca.crt")).unwrap()
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("certs/ca.crt")
    }

    /// A TLS session through signet to `target` (`localhost:PORT`), trusting only signet's CA.
    pub async fn intercepted(&self, target: &str, alpn: &[&[u8]]) -> TlsSession {
        TlsSession::open(self.addr(), target, "localhost", &self.ca_pem(), alpn).await
    }
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn read_answer(response: Response<Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A client connection to signet on which several requests can be sent.
pub async fn client(proxy: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

pub async fn request(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    method: &str,
    url: &str,
    body: Bytes,
) -> (StatusCode, Bytes) {
    sender.ready().await.unwrap();
    let req = Request::builder()
        .method(method)
        .uri(url)
        .header("host", url.split('/').nth(2).unwrap())
        .body(Full::new(body))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// The `Authorization` header an origin saw.
pub fn authorization(seen: &Seen) -> Option<String> {
    seen.headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Sends an absolute-form `http://` request through the proxy, as curl -x does.
pub async fn via_proxy(proxy: SocketAddr, req: Request<Full<Bytes>>) -> Answer {
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    read_answer(sender.send_request(req).await.unwrap()).await
}

/// A GET through the proxy with extra headers.
pub async fn get(proxy: SocketAddr, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut builder = Request::get(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    via_proxy(proxy, builder.body(Full::new(Bytes::new())).unwrap()).await
}

/// Opens `CONNECT host:port` through the proxy and returns the tunnel (or the refusal).
pub async fn connect(
    proxy: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
) -> Result<TokioIo<hyper::upgrade::Upgraded>, Answer> {
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let mut builder = Request::connect(target);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let response = sender
        .send_request(builder.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    if response.status() != StatusCode::OK {
        return Err(read_answer(response).await);
    }
    Ok(TokioIo::new(hyper::upgrade::on(response).await.unwrap()))
}

/// A TLS client session through a CONNECT tunnel, trusting only `ca_pem`.
pub struct TlsSession {
    pub alpn_h2: bool,
    pub peer_cert: CertificateDer<'static>,
    sender: Sender,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl TlsSession {
    /// CONNECT to `target`, then TLS with SNI `sni`, offering `alpn`.
    pub async fn open(
        proxy: SocketAddr,
        target: &str,
        sni: &str,
        ca_pem: &str,
        alpn: &[&[u8]],
    ) -> TlsSession {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
            .unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(signet::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Self::open_with(proxy, target, sni, config).await
    }

    /// Like `open`, but the client accepts any certificate (to send an SNI the certificate does
    /// not name and see what signet does with the requests).
    pub async fn open_accepting_any_cert(proxy: SocketAddr, target: &str, sni: &str) -> TlsSession {
        let mut config = rustls::ClientConfig::builder_with_provider(signet::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::open_with(proxy, target, sni, config).await
    }

    async fn open_with(
        proxy: SocketAddr,
        target: &str,
        sni: &str,
        config: rustls::ClientConfig,
    ) -> TlsSession {
        let tunnel = connect(proxy, target, &[]).await.expect("CONNECT refused");
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        let tls = connector
            .connect(name, tunnel)
            .await
            .expect("TLS handshake through the tunnel failed");
        let (_, session) = tls.get_ref();
        let alpn_h2 = session.alpn_protocol() == Some(b"h2");
        let peer_cert = session.peer_certificates().unwrap()[0].clone().into_owned();
        let io = TokioIo::new(tls);
        let sender = if alpn_h2 {
            let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
            tokio::spawn(conn);
            Sender::H2(sender)
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn.with_upgrades());
            Sender::H1(sender)
        };
        TlsSession {
            alpn_h2,
            peer_cert,
            sender,
        }
    }

    /// Sends a request; for HTTP/1.1 the URI is origin-form and `Host` must be set by the caller.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Answer {
        let response = match &mut self.sender {
            Sender::H1(s) => s.send_request(req).await.unwrap(),
            Sender::H2(s) => s.send_request(req).await.unwrap(),
        };
        read_answer(response).await
    }

    /// Sends a request and returns the raw response (for upgrades).
    pub async fn send_raw(&mut self, req: Request<Full<Bytes>>) -> Response<Incoming> {
        match &mut self.sender {
            Sender::H1(s) => s.send_request(req).await.unwrap(),
            Sender::H2(s) => s.send_request(req).await.unwrap(),
        }
    }
}

/// A request for a `TlsSession`: absolute URI for h2 (`:authority`), origin-form + Host for h1.
pub fn tls_request(
    session: &TlsSession,
    method: Method,
    authority: &str,
    path: &str,
    body: Bytes,
) -> Request<Full<Bytes>> {
    let builder = if session.alpn_h2 {
        Request::builder()
            .method(method)
            .uri(format!("https://{authority}{path}"))
            .version(Version::HTTP_2)
    } else {
        Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, authority)
    };
    builder.body(Full::new(body)).unwrap()
}

/// A certificate verifier that accepts everything: only for the SNI-mismatch test.
#[derive(Debug)]
struct AcceptAnything;

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        signet::tls::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
