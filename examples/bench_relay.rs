//! A TCP relay for `bench/run`: accepts on 127.0.0.1 and copies bytes to and from one upstream
//! port, with no HTTP work at all. It is the floor of any proxy hop on the machine: what the
//! extra process, the extra loopback connection and the four extra syscalls per request cost
//! before a proxy parses, matches or signs anything. It is built like `signet run` (one
//! single-threaded runtime per CPU sharing the listening socket), so the two compare directly.
//!
//! With `--tls CERT,KEY,CA` it terminates TLS with CERT and KEY and speaks TLS to the upstream
//! (trusting CA), still without any HTTP work: the floor of an intercepting (MITM) hop.
//!
//! Usage: `bench_relay --listen PORT --to PORT [--tls CERT,KEY,CA]`

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

struct Args {
    listen: u16,
    to: u16,
    tls: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: 0,
        to: 0,
        tls: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let port = || value.parse().map_err(|_| format!("bad {flag} port"));
        match flag.as_str() {
            "--listen" => args.listen = port()?,
            "--to" => args.to = port()?,
            "--tls" => args.tls = Some(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.listen == 0 || args.to == 0 {
        return Err("usage: bench_relay --listen PORT --to PORT [--tls CERT,KEY,CA]".into());
    }
    Ok(args)
}

/// The acceptor for clients and the connector for the upstream, both HTTP/1.1 only (ALPN), so
/// that the bytes relayed are the same protocol on both sides.
fn tls_pair(files: &str) -> Result<(TlsAcceptor, TlsConnector), String> {
    let [cert, key, ca] = files.split(',').collect::<Vec<_>>()[..] else {
        return Err("--tls wants CERT,KEY,CA".into());
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let mut server = rustls::ServerConfig::builder_with_provider(signet::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    for root in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{ca}: {e}"))? {
        roots
            .add(root.map_err(|e| format!("{ca}: {e}"))?)
            .map_err(|e| format!("{ca}: {e}"))?;
    }
    let mut client = rustls::ClientConfig::builder_with_provider(signet::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((
        TlsAcceptor::from(Arc::new(server)),
        TlsConnector::from(Arc::new(client)),
    ))
}

async fn relay(
    listener: tokio::net::TcpListener,
    to: SocketAddr,
    tls: Option<(TlsAcceptor, TlsConnector)>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(to).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            match tls {
                None => copy(client, upstream).await,
                Some((acceptor, connector)) => {
                    let Ok(client) = acceptor.accept(client).await else {
                        return;
                    };
                    let name = ServerName::IpAddress(to.ip().into());
                    let Ok(upstream) = connector.connect(name, upstream).await else {
                        return;
                    };
                    copy(client, upstream).await;
                }
            }
        });
    }
}

async fn copy<A, B>(mut a: A, mut b: B)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
}

fn main() {
    let fail = |e: String| -> ! {
        eprintln!("bench_relay: {e}");
        std::process::exit(1);
    };
    let args = parse_args().unwrap_or_else(|e| fail(e));
    let tls = args
        .tls
        .as_deref()
        .map(|files| tls_pair(files).unwrap_or_else(|e| fail(e)));
    let (listen, to) = (args.listen, args.to);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], listen)))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .unwrap_or_else(|e| fail(format!("cannot listen on 127.0.0.1:{listen}: {e}")));
    let to = SocketAddr::from(([127, 0, 0, 1], to));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let listener = listener
                .try_clone()
                .expect("the listening socket can be shared");
            let tls = tls.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("the listener registers with the runtime");
                    relay(listener, to, tls).await;
                });
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}
