//! The command line: `run`, `check`, `explain`, `sign`, `ca`, `login` and `token`. Exit codes: 0 ok, 1 user
//! error (bad config, bad arguments), 2 runtime failure.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use clap::{Parser, Subcommand};
use http::{HeaderName, HeaderValue, Method, Request};
use sha2::{Digest, Sha256};

use crate::auth::{BodyNeed, OsEntropy, Scheme, SignContext};
use crate::config::Config;
use crate::oauth2::{Grant, Login, LoginError, LoginOptions, TokenSource};
use crate::policy::Policy;
use crate::proxy::{Signet, StartError, forward};
use crate::rules::Destination;
use crate::tls::CertificateAuthority;

/// signet: an auth-injecting HTTP(S) forward proxy.
#[derive(Debug, Parser)]
#[command(name = "signet", version, about)]
pub struct Cli {
    /// Config file (default: signet.toml, then config.example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the proxy.
    Run {
        /// Listen address (overrides [proxy] listen).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Validate the config, resolve secrets and print the rule tree.
    Check,
    /// Show which rule and auth apply to a URL, and whether its host is intercepted.
    Explain {
        /// Request method.
        #[arg(short = 'X', long = "request", default_value = "GET")]
        method: String,
        /// Absolute URL.
        url: String,
    },
    /// Print a request exactly as signet would send it upstream.
    Sign(SignArgs),
    /// Manage signet's CA.
    Ca {
        #[command(subcommand)]
        action: CaAction,
    },
    /// Log in to an OAuth 2.0 authorization-code or implicit profile in a browser and store the
    /// tokens.
    Login {
        /// The auth profile ([auth.NAME]).
        name: String,
        /// Seconds to wait for the browser's redirect.
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        timeout: u64,
        /// Only print the URL; do not try to open a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Show an OAuth 2.0 profile's token state (never the token itself).
    Token {
        /// The auth profile ([auth.NAME]).
        name: String,
        /// Get a new token now (with the refresh token, or by the profile's grant).
        #[arg(long)]
        refresh: bool,
    },
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// Request method.
    #[arg(short = 'X', long = "request", default_value = "GET")]
    method: String,
    /// Absolute URL.
    url: String,
    /// Extra header, as 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "'K: V'")]
    headers: Vec<String>,
    /// Request body.
    #[arg(long, conflicts_with = "data_file")]
    data: Option<String>,
    /// Request body from a file.
    #[arg(long, value_name = "FILE")]
    data_file: Option<PathBuf>,
    /// Sign as of this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Use this nonce wherever the scheme needs one.
    #[arg(long)]
    nonce: Option<String>,
    /// A WWW-Authenticate challenge to answer (Digest, NTLM).
    #[arg(long, value_name = "VALUE")]
    challenge: Option<String>,
}

#[derive(Debug, Subcommand)]
enum CaAction {
    /// Create the CA if it does not exist yet, and show it.
    Init,
    /// Show the CA's fingerprint and paths.
    Show,
    /// Write the CA certificate (PEM) for trust stores.
    Export {
        /// Output file (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// A failure with its exit code.
enum Failure {
    /// Exit 1: the user can fix the input.
    User(String),
    /// Exit 2: something failed at run time.
    Runtime(String),
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Listen(m) => Failure::Runtime(m),
            other => Failure::User(other.to_string()),
        }
    }
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::User(message)) => {
            eprintln!("signet: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("signet: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let config_path = config_path(cli.config);
    let load = || Config::load(&config_path).map_err(|e| Failure::User(e.to_string()));
    match cli.command {
        Command::Run { listen } => run_proxy(load()?, listen),
        Command::Check => check(&load()?),
        Command::Explain { method, url } => explain(&load()?, &method, &url),
        Command::Sign(args) => sign(&load()?, args),
        Command::Ca { action } => ca(&load()?, action),
        Command::Login {
            name,
            timeout,
            no_browser,
        } => login(&load()?, &name, timeout, !no_browser),
        Command::Token { name, refresh } => token(&load()?, &name, refresh),
    }
}

fn config_path(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let default = PathBuf::from("signet.toml");
        if default.exists() {
            default
        } else {
            PathBuf::from("config.example.toml")
        }
    })
}

fn run_proxy(config: Config, listen: Option<SocketAddr>) -> Result<(), Failure> {
    init_logging();
    let addr = match listen {
        Some(addr) => addr,
        None => config
            .proxy
            .listen
            .parse()
            .map_err(|e| Failure::User(format!("[proxy] listen: {e}")))?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let signet = Signet::build(&config)?;
        let listener = signet.bind(addr).await?;
        let local = listener.local_addr().map_err(|e| Failure::Runtime(e.to_string()))?;
        tracing::info!(listen = %local, config = %config.file.display(), rules = config.hosts.len(), "signet is running");
        tokio::select! {
            () = Arc::new(signet).serve(listener) => Ok(()),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("shutting down");
                Ok(())
            }
        }
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("signet=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn check(config: &Config) -> Result<(), Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let mut out = String::new();
    out.push_str(&format!("config {} is valid\n", config.file.display()));
    out.push_str(&format!("listen {}\n", config.proxy.listen));
    out.push_str(&format!(
        "ca {} ({})\n",
        config.ca.cert.display(),
        if config.ca.cert.exists() {
            "present"
        } else {
            "created on first run"
        }
    ));
    out.push_str(&format!("intercept {:?}\n", config.proxy.intercept).to_lowercase());
    if !config.proxy.allow.is_empty() || !config.proxy.deny.is_empty() {
        out.push_str(&format!(
            "egress allow {:?} deny {:?}\n",
            config.proxy.allow, config.proxy.deny
        ));
    }
    for (name, scheme) in &policy.profiles {
        let what = scheme.as_ref().map_or("none".to_owned(), |s| s.describe());
        out.push_str(&format!("auth.{name}: {what}\n"));
    }
    for (host, rule) in config.hosts.iter().zip(policy.table.rules()) {
        let auth = rule
            .auth
            .as_ref()
            .map_or("none".to_owned(), |s| s.describe());
        out.push_str(&format!(
            "{} match {:?} -> {auth}\n",
            rule.label(),
            host.patterns
        ));
        for (j, (route, compiled)) in host.routes.iter().zip(&rule.routes).enumerate() {
            let auth = match &compiled.auth {
                crate::rules::RouteAuth::Inherit => "inherit".to_owned(),
                crate::rules::RouteAuth::Set(s) => {
                    s.as_ref().map_or("none".to_owned(), |s| s.describe())
                }
            };
            out.push_str(&format!(
                "  route[{j}] path {} methods {} -> {auth}\n",
                route.path.as_deref().unwrap_or("**"),
                route
                    .methods
                    .as_ref()
                    .map_or("any".to_owned(), |m| m.join(","))
            ));
        }
    }
    print!("{out}");
    Ok(())
}

fn explain(config: &Config, method: &str, url: &str) -> Result<(), Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Failure::User(format!("bad method {method:?}")))?;
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Failure::User(format!("bad URL {url:?}: {e}")))?;
    let dest = Destination::from_uri(&uri).map_err(Failure::User)?;
    let path = uri.path();
    println!("destination {dest}");
    println!(
        "egress {}",
        if policy.egress.permits(&dest.host, dest.port) {
            "allowed"
        } else {
            "denied (403)"
        }
    );
    match policy
        .table
        .decide(&dest, &method, path)
        .map_err(|e| Failure::User(e.to_string()))?
    {
        None => println!("rule none: the request is forwarded untouched"),
        Some(decision) => {
            println!("rule {}", decision.rule.label());
            if let Some(route) = decision.route {
                println!("route host[{}].route[{route}]", decision.rule.index);
            }
            println!(
                "auth {}",
                decision.auth.map_or("none".to_owned(), |s| s.describe())
            );
        }
    }
    if dest.https {
        println!(
            "intercept {}",
            if policy.intercepts(&dest) {
                "yes (TLS terminated with a signet leaf certificate)"
            } else {
                "no (tunnelled untouched)"
            }
        );
    }
    Ok(())
}

fn sign(config: &Config, args: SignArgs) -> Result<(), Failure> {
    if args.challenge.is_some() {
        return Err(Failure::User(
            "--challenge needs a challenge-response scheme (digest, ntlm), which this build does not support yet".into(),
        ));
    }
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| Failure::User(format!("bad method {:?}", args.method)))?;
    let uri: http::Uri = args
        .url
        .parse()
        .map_err(|e| Failure::User(format!("bad URL {:?}: {e}", args.url)))?;
    let dest = Destination::from_uri(&uri).map_err(Failure::User)?;
    let mut body = match (&args.data, &args.data_file) {
        (Some(data), _) => Bytes::from(data.clone()),
        (None, Some(file)) => Bytes::from(
            std::fs::read(file)
                .map_err(|e| Failure::User(format!("cannot read {}: {e}", file.display())))?,
        ),
        (None, None) => Bytes::new(),
    };
    let mut request = Request::builder().method(method).uri(uri.clone());
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| Failure::User(format!("header {header:?} is not 'Name: value'")))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Failure::User(format!("bad header name in {header:?}")))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| Failure::User(format!("bad header value in {header:?}")))?;
        request = request.header(name, value);
    }
    if !body.is_empty() {
        request = request.header(http::header::CONTENT_LENGTH, body.len());
    }
    let (mut parts, ()) = request
        .body(())
        .map_err(|e| Failure::User(e.to_string()))?
        .into_parts();
    forward::prepare(&mut parts, &dest, false).map_err(Failure::User)?;

    let now = match &args.at {
        Some(at) => parse_rfc3339(at)?,
        None => std::time::SystemTime::now(),
    };
    let cx = SignContext {
        now,
        fixed_nonce: args.nonce.as_deref(),
        entropy: &OsEntropy,
    };
    let decision = policy
        .table
        .decide(&dest, &parts.method, uri.path())
        .map_err(|e| Failure::User(e.to_string()))?;
    if let Some(scheme) = decision.as_ref().and_then(|d| d.auth) {
        let need = scheme.body_need(&parts);
        let fits = body.len() <= config.proxy.buffer_limit;
        let body_for_scheme = match need {
            BodyNeed::None => None,
            BodyNeed::Preferred if !fits => None,
            BodyNeed::Required if !fits => {
                return Err(Failure::User(format!(
                    "the body is larger than [proxy] buffer_limit ({} bytes); the proxy would answer 413",
                    config.proxy.buffer_limit
                )));
            }
            _ => Some(&mut body),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        runtime
            .block_on(scheme.sign(&mut parts, body_for_scheme, &cx))
            .map_err(|e| Failure::User(format!("{}: {e}", scheme.type_name())))?;
        if !body.is_empty() {
            parts
                .headers
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
    }

    let mut out = format!("{} {} HTTP/1.1\n", parts.method, parts.uri);
    for (name, value) in &parts.headers {
        out.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let digest = Sha256::digest(&body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    out.push_str(&format!("\nbody {} bytes sha256 {hex}\n", body.len()));
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| Failure::Runtime(e.to_string()))
}

fn parse_rfc3339(at: &str) -> Result<std::time::SystemTime, Failure> {
    let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map_err(|e| Failure::User(format!("--at {at:?} is not an RFC 3339 time: {e}")))?;
    Ok(parsed.into())
}

fn ca(config: &Config, action: CaAction) -> Result<(), Failure> {
    let (cert, key) = (&config.ca.cert, &config.ca.key);
    match action {
        CaAction::Init => {
            let (ca, created) = CertificateAuthority::load_or_create(cert, key)
                .map_err(|e| Failure::User(e.to_string()))?;
            println!(
                "{}",
                if created {
                    "created a new CA"
                } else {
                    "the CA already exists"
                }
            );
            print_ca(&ca, cert, key);
        }
        CaAction::Show => {
            let ca = CertificateAuthority::load(cert, key).map_err(|e| {
                Failure::User(format!("{e} (run `signet ca init` to create the CA)"))
            })?;
            print_ca(&ca, cert, key);
        }
        CaAction::Export { out } => {
            let ca = CertificateAuthority::load(cert, key).map_err(|e| {
                Failure::User(format!("{e} (run `signet ca init` to create the CA)"))
            })?;
            match out {
                Some(path) => std::fs::write(&path, ca.cert_pem()).map_err(|e| {
                    Failure::Runtime(format!("cannot write {}: {e}", path.display()))
                })?,
                None => print!("{}", ca.cert_pem()),
            }
        }
    }
    Ok(())
}

/// The token source of oauth2 profile `name`.
fn oauth2_source(config: &Config, name: &str) -> Result<Arc<TokenSource>, Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let oauth2: Vec<&str> = policy
        .profiles
        .iter()
        .filter(|(_, s)| matches!(s.as_deref(), Some(Scheme::OAuth2(_))))
        .map(|(n, _)| n.as_str())
        .collect();
    let list = if oauth2.is_empty() {
        "none".to_owned()
    } else {
        oauth2.join(", ")
    };
    match policy.profiles.get(name).map(|s| s.as_deref()) {
        Some(Some(Scheme::OAuth2(s))) => Ok(s.source().clone()),
        Some(_) => Err(Failure::User(format!(
            "[auth.{name}] is not an oauth2 profile (oauth2 profiles: {list})"
        ))),
        None => Err(Failure::User(format!(
            "no [auth.{name}] profile (oauth2 profiles: {list})"
        ))),
    }
}

fn current_thread() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))
}

fn login(config: &Config, name: &str, timeout: u64, open_browser: bool) -> Result<(), Failure> {
    let source = oauth2_source(config, name)?;
    let runtime = current_thread()?;
    let token = runtime.block_on(async {
        let login = Login::prepare(source.clone()).await.map_err(|e| match e {
            LoginError::NotBrowserGrant(..) | LoginError::Callback(_) => {
                Failure::User(e.to_string())
            }
            other => Failure::Runtime(other.to_string()),
        })?;
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "Open this URL in a browser to log in ({name}):\n\n  {}\n\nWaiting up to {timeout}s for the redirect to {} ...",
            login.url(),
            login.redirect_uri()
        );
        let _ = out.flush();
        let opts = LoginOptions {
            timeout: std::time::Duration::from_secs(timeout),
            open_browser,
        };
        login
            .finish(&opts)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))
    })?;
    println!(
        "logged in: {}",
        token_summary(&token, std::time::SystemTime::now())
    );
    println!("tokens stored in {}", source.store().path().display());
    Ok(())
}

fn token(config: &Config, name: &str, refresh: bool) -> Result<(), Failure> {
    let source = oauth2_source(config, name)?;
    let settings = source.settings();
    if refresh {
        current_thread()?
            .block_on(source.force_refresh(std::time::SystemTime::now()))
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        println!("refreshed");
    }
    println!("profile {name} (grant {})", settings.grant.name());
    if let Grant::Fixed(_) = settings.grant {
        println!("a fixed access_token from the config; nothing is fetched or stored");
        return Ok(());
    }
    println!("store {}", settings.store_path.display());
    let status = source
        .status()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    match &status.token {
        None if settings.grant.is_interactive() => {
            println!("no token yet: run `signet login {name}`")
        }
        None => println!("no token yet: fetched on first use (or now with --refresh)"),
        Some(t) => {
            println!("{}", token_summary(t, std::time::SystemTime::now()));
        }
    }
    Ok(())
}

/// Expiry, scopes and which tokens exist; never a token.
fn token_summary(t: &crate::oauth2::Token, now: std::time::SystemTime) -> String {
    let expiry = match t.expires_at {
        None => "expiry not stated by the server".to_owned(),
        Some(at) => {
            let when = time::OffsetDateTime::from(at)
                .replace_nanosecond(0)
                .unwrap_or_else(|_| at.into())
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| "?".into());
            match at.duration_since(now) {
                Ok(left) => format!("expires {when} (in {}s)", left.as_secs()),
                Err(_) => format!("expired {when}"),
            }
        }
    };
    let scopes = if t.scopes.is_empty() {
        "none".to_owned()
    } else {
        t.scopes.join(" ")
    };
    format!(
        "{expiry}\nscopes {scopes}\nrefresh token {}\nid token {}",
        if t.refresh_token.is_some() {
            "yes"
        } else {
            "no"
        },
        if t.id_token.is_some() { "yes" } else { "no" },
    )
}

fn print_ca(ca: &CertificateAuthority, cert: &Path, key: &Path) {
    println!("certificate {}", cert.display());
    println!("key         {}", key.display());
    println!("sha256      {}", ca.fingerprint_sha256());
}
