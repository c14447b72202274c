//! The admin listener (`[admin] listen`): `/` (a page for a person: rules, tokens, cookies,
//! recent requests), `/healthz`, `/ca.crt` (signet's CA for installing in a browser or OS trust
//! store), `/proxy.pac` (routes exactly the rule hosts through signet) and `/metrics`
//! (Prometheus text format).

mod page;
mod recent;

pub use recent::{RecentRequest, RecentRequests};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::proxy::{Signet, StartError};
use crate::rules::{HostKind, HostPattern, PortSpec, UrlScheme};

/// One rule host as the PAC file tests it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacHost {
    /// A normalised name, or a suffix starting with `.` for `*.example.com`.
    pub host: String,
    /// True for a wildcard (suffix) pattern.
    pub wildcard: bool,
    /// The scheme a URL must have (`None`: http or https); a pattern without scheme and port
    /// needs HTTPS.
    pub scheme: Option<UrlScheme>,
    /// The port part.
    pub port: PortSpec,
}

/// The admin endpoint's state.
pub struct Admin {
    signet: Arc<Signet>,
    /// What the config in force says: the CA certificate and the PAC hosts.
    served: Mutex<Served>,
    proxy: SocketAddr,
    recent: Arc<RecentRequests>,
}

/// The parts of the admin endpoint's answers that come from the config.
struct Served {
    ca_pem: String,
    hosts: Vec<PacHost>,
}

impl Served {
    fn of(config: &Config) -> Result<Served, String> {
        let ca_pem = std::fs::read_to_string(&config.ca.cert)
            .map_err(|e| format!("cannot read {}: {e}", config.ca.cert.display()))?;
        let hosts = pac_hosts(config)?;
        Ok(Served { ca_pem, hosts })
    }
}

impl Admin {
    /// Reads the CA certificate and the rule hosts; `proxy` is the address the proxy listens on.
    pub fn new(config: &Config, signet: Arc<Signet>, proxy: SocketAddr) -> Result<Admin, String> {
        Ok(Admin {
            signet,
            served: Mutex::new(Served::of(config)?),
            proxy,
            recent: Arc::new(RecentRequests::default()),
        })
    }

    /// The last requests the page lists; whoever logs requests pushes them here.
    pub fn recent(&self) -> &Arc<RecentRequests> {
        &self.recent
    }

    /// Serves what a reloaded `config` says (its CA certificate and PAC hosts) from now on.
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let served = Served::of(config)?;
        *self.served.lock().unwrap_or_else(PoisonError::into_inner) = served;
        Ok(())
    }

    /// Binds `addr`, refusing a non-loopback address unless `[proxy] client_auth` is set.
    pub async fn bind(&self, addr: SocketAddr) -> Result<TcpListener, StartError> {
        if !addr.ip().is_loopback() && !self.signet.requires_client_auth() {
            return Err(StartError::Listen(format!(
                "refusing to serve [admin] on {addr}: a non-loopback address needs [proxy] client_auth"
            )));
        }
        TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Listen(format!("cannot listen on {addr} for [admin]: {e}")))
    }

    /// Serves admin requests on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let admin = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.handle(&req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    }

    fn handle(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let served = || self.served.lock().unwrap_or_else(PoisonError::into_inner);
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "signet: GET only\n");
        }
        match req.uri().path() {
            "/" => {
                if let Some(refusal) = self.refusal(req, "/") {
                    return refusal;
                }
                Response::builder()
                    .header(CONTENT_TYPE, "text/html; charset=utf-8")
                    .header(
                        "content-security-policy",
                        "default-src 'none'; style-src 'unsafe-inline'",
                    )
                    .body(Full::new(Bytes::from(self.page(req))))
                    .unwrap_or_default()
            }
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/ca.crt" => Response::builder()
                .header(CONTENT_TYPE, "application/x-x509-ca-cert")
                .header(
                    "content-disposition",
                    "attachment; filename=\"signet-ca.crt\"",
                )
                .body(Full::new(Bytes::from(served().ca_pem.clone())))
                .unwrap_or_default(),
            "/proxy.pac" => {
                let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
                Response::builder()
                    .header(CONTENT_TYPE, "application/x-ns-proxy-autoconfig")
                    .body(Full::new(Bytes::from(pac(
                        &served().hosts,
                        self.proxy_for(host),
                    ))))
                    .unwrap_or_default()
            }
            "/metrics" => {
                if let Some(refusal) = self.refusal(req, "/metrics") {
                    return refusal;
                }
                Response::builder()
                    .header(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
                    .body(Full::new(Bytes::from(self.signet.metrics_text())))
                    .unwrap_or_default()
            }
            _ => text(
                StatusCode::NOT_FOUND,
                "signet: not found; try /, /healthz, /ca.crt, /proxy.pac or /metrics\n",
            ),
        }
    }

    /// A 401 when the request lacks the `[proxy] client_auth` credentials that `path` needs.
    /// Rule names are no secret on loopback; elsewhere they need the proxy's password.
    fn refusal(&self, req: &Request<Incoming>, path: &str) -> Option<Response<Full<Bytes>>> {
        let allowed = !self.signet.requires_client_auth()
            || req
                .headers()
                .get(AUTHORIZATION)
                .is_some_and(|v| self.signet.client_credentials_match(v.as_bytes()));
        if allowed {
            return None;
        }
        let body = format!("signet: {path} needs the [proxy] client_auth credentials\n");
        Some(
            Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", "Basic realm=\"signet\"")
                .body(Full::new(Bytes::from(body)))
                .unwrap_or_default(),
        )
    }

    /// The page at `/`, as the generation in force and the ring see it now.
    fn page(&self, req: &Request<Incoming>) -> String {
        let generation = self.signet.current();
        let cookie_hosts = self.signet.cookies().map(|cookies| {
            let mut hosts = std::collections::BTreeMap::new();
            for entry in cookies.jar().entries(time::OffsetDateTime::now_utc()) {
                *hosts.entry(entry.domain).or_insert(0) += 1;
            }
            hosts
        });
        let fingerprint = generation.leaves().ca().fingerprint_sha256();
        let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
        page::Page {
            policy: generation.policy(),
            ca_fingerprint: &fingerprint,
            proxy: self.proxy_for(host),
            tokens: generation.policy().token_states(),
            cookie_hosts,
            recent: self.recent.newest_first(),
            now: std::time::SystemTime::now(),
        }
        .render()
    }

    /// The proxy address clients should use: the listen address, or, when that is a wildcard
    /// address, the host the client used to reach this admin endpoint with the proxy's port.
    fn proxy_for(&self, host_header: Option<&str>) -> String {
        if !self.proxy.ip().is_unspecified() {
            return self.proxy.to_string();
        }
        let host = host_header
            .map(|h| match h.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => h,
            })
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
            })
            .unwrap_or("127.0.0.1");
        format!("{host}:{}", self.proxy.port())
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap_or_default()
}

/// The `match` patterns of every rule, in the form the PAC file tests.
pub fn pac_hosts(config: &Config) -> Result<Vec<PacHost>, String> {
    let mut hosts = Vec::new();
    for host in &config.hosts {
        for raw in &host.patterns {
            let parsed = HostPattern::parse(raw).map_err(|e| e.to_string())?;
            let (host, wildcard) = match parsed.host_kind() {
                HostKind::Name(name) => (name.clone(), false),
                HostKind::Wildcard(suffix) => (suffix.clone(), true),
                HostKind::Ip(ip) => (ip.to_string(), false),
            };
            hosts.push(PacHost {
                host,
                wildcard,
                scheme: parsed.required_scheme(),
                port: parsed.port(),
            });
        }
    }
    Ok(hosts)
}

/// A PAC file sending requests for `hosts` to the proxy at `proxy` and everything else DIRECT.
/// Schemes and ports are tested as in signet's rules: a pattern without a port covers its
/// scheme's default port only, and one that needs HTTPS (a bare host) sends plain-HTTP URLs
/// DIRECT, where signet would add nothing. `ws`/`wss` URLs count as `http`/`https`.
pub fn pac(hosts: &[PacHost], proxy: String) -> String {
    let mut rules = String::new();
    for h in hosts {
        let port = match h.port {
            PortSpec::Default => "\"default\"".to_owned(),
            PortSpec::Any => "\"*\"".to_owned(),
            PortSpec::Exact(p) => p.to_string(),
        };
        let scheme = h.scheme.map_or("", UrlScheme::as_str);
        rules.push_str(&format!(
            "    [{}, {}, {}, {port}],\n",
            js_string(&h.host),
            h.wildcard,
            js_string(scheme)
        ));
    }
    format!(
        r#"// signet: the hosts of its rules go through the proxy; everything else goes DIRECT.
var SIGNET_PROXY = {proxy};
// [host or ".suffix", is a suffix, required scheme ("" = http or https), port]
var SIGNET_RULES = [
{rules}];

function FindProxyForURL(url, host) {{
  var h = host.toLowerCase();
  if (h.charAt(0) == "[") h = h.substring(1, h.length - 1);
  if (h.charAt(h.length - 1) == ".") h = h.substring(0, h.length - 1);
  var m = /^([a-z][a-z0-9+.\-]*):\/\/(?:[^\/?#@]*@)?(\[[^\]]*\]|[^\/?#:]*)(?::(\d+))?/i.exec(url);
  var scheme = m ? m[1].toLowerCase() : "http";
  var secure = scheme == "https" || scheme == "wss";
  var plain = scheme == "http" || scheme == "ws";
  var dflt = secure ? 443 : 80;
  var port = m && m[3] ? parseInt(m[3], 10) : dflt;
  for (var i = 0; i < SIGNET_RULES.length; i++) {{
    var r = SIGNET_RULES[i];
    var hostOk = r[1]
      ? h.length > r[0].length && h.substring(h.length - r[0].length) == r[0]
      : h == r[0];
    var schemeOk = r[2] == "https" ? secure : r[2] == "http" ? plain : secure || plain;
    var portOk = r[3] == "*" || (r[3] == "default" ? port == dflt : port == r[3]);
    if (hostOk && schemeOk && portOk) return SIGNET_PROXY;
  }}
  return "DIRECT";
}}
"#,
        proxy = js_string(&format!("PROXY {proxy}"))
    )
}

/// A JavaScript string literal (host names are plain ASCII, but never trust that in generated code).
fn js_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | ':' | ' ' | '[' | ']' => {
                out.push(c)
            }
            c => out.push_str(&format!("\\u{:04x}", c as u32)),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(hosts: &str) -> Config {
        let toml = format!("{hosts}\n");
        Config::parse(std::path::Path::new("signet.toml"), toml, &|_| None).unwrap()
    }

    fn pac_host(host: &str, wildcard: bool, scheme: Option<UrlScheme>, port: PortSpec) -> PacHost {
        PacHost {
            host: host.into(),
            wildcard,
            scheme,
            port,
        }
    }

    #[test]
    fn pac_lists_each_pattern_with_its_scheme_and_port() {
        let c = config(
            r#"
[[host]]
match = ["API.Example.com", "*.svc.example", "api.example.com:8443", "wild.test:*", "[::1]:9000"]
[[host]]
match = ["http://plain.test", "https://pinned.test:9443", "HTTP://*.Intra.test:8080", "http://[::1]:8081", "https://any.test:*"]
"#,
        );
        let hosts = pac_hosts(&c).unwrap();
        let https = Some(UrlScheme::Https);
        let http = Some(UrlScheme::Http);
        assert_eq!(
            hosts,
            vec![
                pac_host("api.example.com", false, https, PortSpec::Default),
                pac_host(".svc.example", true, https, PortSpec::Default),
                pac_host("api.example.com", false, None, PortSpec::Exact(8443)),
                pac_host("wild.test", false, None, PortSpec::Any),
                pac_host("::1", false, None, PortSpec::Exact(9000)),
                pac_host("plain.test", false, http, PortSpec::Default),
                pac_host("pinned.test", false, https, PortSpec::Exact(9443)),
                pac_host(".intra.test", true, http, PortSpec::Exact(8080)),
                pac_host("::1", false, http, PortSpec::Exact(8081)),
                pac_host("any.test", false, https, PortSpec::Any),
            ]
        );
        let text = pac(&hosts, "127.0.0.1:8080".into());
        assert!(text.contains("var SIGNET_PROXY = \"PROXY 127.0.0.1:8080\";"));
        assert!(text.contains("[\"api.example.com\", false, \"https\", \"default\"],"));
        assert!(text.contains("[\".svc.example\", true, \"https\", \"default\"],"));
        assert!(text.contains("[\"api.example.com\", false, \"\", 8443],"));
        assert!(text.contains("[\"wild.test\", false, \"\", \"*\"],"));
        assert!(text.contains("[\"plain.test\", false, \"http\", \"default\"],"));
        assert!(text.contains("[\"::1\", false, \"http\", 8081],"));
        assert!(text.contains("return \"DIRECT\";"));
    }

    #[test]
    fn js_strings_cannot_break_out() {
        let quoted = js_string("a\";alert(1)//\n");
        let inner = &quoted[1..quoted.len() - 1];
        assert!(quoted.starts_with('"') && quoted.ends_with('"'));
        assert!(!inner.contains(['"', ';', '/', '\n']), "{quoted}");
        assert!(inner.starts_with("a\\u0022"));
    }
}
