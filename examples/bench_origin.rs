//! The origin server for `bench/run`: answers every request on 127.0.0.1 as fast as it can, over
//! HTTP and HTTPS (HTTP/1.1 and HTTP/2), so that the proxies in front of it are what gets measured.
//!
//! Usage: `bench_origin --http PORT --https PORT[,PORT...] --cert leaf.pem --key leaf.key`
//!
//! Every answer's body is the number of request body bytes received (the 1 GiB upload checks it).
//! Paths under `/auth` need an `Authorization: Bearer …` header and paths under `/aws` an AWS
//! SigV4 one, otherwise the answer is 401: a proxy that forgot to sign shows up as failures.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

struct Args {
    http: u16,
    https: Vec<u16>,
    cert: String,
    key: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        http: 0,
        https: Vec::new(),
        cert: String::new(),
        key: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--http" => args.http = value.parse().map_err(|_| "bad --http port")?,
            "--https" => {
                for p in value.split(',') {
                    args.https.push(p.parse().map_err(|_| "bad --https port")?);
                }
            }
            "--cert" => args.cert = value,
            "--key" => args.key = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.http == 0 || args.https.is_empty() || args.cert.is_empty() || args.key.is_empty() {
        return Err("usage: bench_origin --http PORT --https PORT[,PORT] --cert F --key F".into());
    }
    Ok(args)
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let auth = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let authorized = if path.starts_with("/auth") {
        auth.is_some_and(|a| a.starts_with(b"Bearer "))
    } else if path.starts_with("/aws") {
        auth.is_some_and(|a| a.starts_with(b"AWS4-HMAC-SHA256 "))
    } else {
        true
    };
    // Drain the body frame by frame, never holding more than one frame.
    let mut body = req.into_body();
    let mut received: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    received += data.len() as u64;
                }
            }
            Err(_) => break,
        }
    }
    let status = if authorized {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    let mut response = Response::new(Full::new(Bytes::from(format!("{received}\n"))));
    *response.status_mut() = status;
    Ok(response)
}

async fn serve(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let service = service_fn(answer);
            match tls {
                None => {
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                }
                Some(acceptor) => {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

fn tls_acceptor(cert: &str, key: &str) -> Result<tokio_rustls::TlsAcceptor, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(signet::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench_origin: {e}");
            std::process::exit(1);
        }
    };
    let acceptor = match tls_acceptor(&args.cert, &args.key) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_origin: {e}");
            std::process::exit(1);
        }
    };
    let mut tasks = Vec::new();
    let mut bind = |port: u16, tls: Option<tokio_rustls::TlsAcceptor>| {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std);
        match listener {
            Ok(l) => tasks.push(tokio::spawn(serve(l, tls))),
            Err(e) => {
                eprintln!("bench_origin: cannot listen on {addr}: {e}");
                std::process::exit(1);
            }
        }
    };
    bind(args.http, None);
    for port in &args.https {
        bind(*port, Some(acceptor.clone()));
    }
    println!("bench_origin: ready");
    for task in tasks {
        let _ = task.await;
    }
}
