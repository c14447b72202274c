//! The command line: `run`, `init`, `check`, `explain`, `sign`, `ca`, `cookies`, `login`,
//! `token` and `import`.
//! Exit codes: 0 ok, 1 user error (bad config, bad arguments), 2 runtime failure.
//!
//! This file holds the arguments and the dispatch; each command lives in its own file.

mod access_line;
mod banner;
mod ca;
mod cookies;
mod explain;
mod import;
mod init;
mod inspect;
mod oauth2;
mod reload;
mod run;
mod sign;
mod trust;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{CaConfig, Config, GatewayConfig, LogFormat, parse_listen};
use crate::proxy::StartError;

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
        /// Listen address (overrides [proxy] listen); a bare port means 127.0.0.1:PORT.
        #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
        listen: Option<SocketAddr>,
        /// A gateway listener sending every request to UPSTREAM (scheme://host[:port][/path]),
        /// e.g. 9000=https://api.example.com; LISTEN is loopback (a bare port means
        /// 127.0.0.1:PORT). Repeatable.
        #[arg(long = "gateway", value_name = "LISTEN=UPSTREAM", value_parser = GatewayConfig::parse_argument)]
        gateways: Vec<GatewayConfig>,
        /// Log line format: text or json (overrides [log] format).
        #[arg(long, value_name = "FORMAT")]
        log_format: Option<LogFormat>,
    },
    /// Write a commented starter config (never over an existing file) and create the CA.
    Init,
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
    /// Manage the cookie jar ([cookies] jar).
    Cookies {
        #[command(subcommand)]
        action: CookiesAction,
    },
    /// Turn another tool's settings into a signet config.
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
}

#[derive(Debug, Subcommand)]
enum ImportSource {
    /// A Postman collection's auth, with its folders' and requests' inheritance and
    /// {{variables}}, as host rules and profiles.
    Postman(import::PostmanArgs),
}

#[derive(Debug, Subcommand)]
enum CookiesAction {
    /// Add the cookies of a Netscape cookies.txt (curl -c, browser export extensions) to the jar.
    Import {
        /// The cookies.txt file.
        file: PathBuf,
    },
    /// Write the jar as a Netscape cookies.txt (mode 0600).
    Export {
        /// Output file.
        file: PathBuf,
    },
    /// List the jar's cookies: name, domain, path, expiry, flags.
    List {
        /// Only cookies that would be sent to this host.
        host: Option<String>,
        /// Print the values too (they are credentials).
        #[arg(long)]
        show_values: bool,
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
    /// Also print what the scheme signed: SigV4's canonical request and string to sign,
    /// OAuth 1.0a's base string, Hawk's normalized string, EdgeGrid's data to sign.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Print the credentials signet added in clear (by default they read `***`).
    #[arg(long)]
    show_secrets: bool,
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
        /// The system's trust roots first, then signet's CA: one file for clients that take a
        /// single bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE), so that hosts signet does not
        /// intercept still verify.
        #[arg(long)]
        bundle: bool,
    },
    /// Add the CA to the Debian/Ubuntu system store and/or an NSS database.
    Install(TrustArgs),
    /// Remove the CA from the stores `install` added it to.
    Uninstall(TrustArgs),
}

/// The trust stores `ca install` and `ca uninstall` work on.
#[derive(Debug, clap::Args)]
struct TrustArgs {
    /// The system store: /usr/local/share/ca-certificates, then update-ca-certificates (root).
    #[arg(long)]
    system: bool,
    /// The NSS database Chromium uses on Linux, ~/.pki/nssdb (created when absent).
    #[arg(long)]
    nss: bool,
    /// Another NSS database directory, e.g. a Firefox profile (created when absent).
    #[arg(long, value_name = "DIR")]
    nss_db: Option<PathBuf>,
    /// The directory the system store's paths are under.
    #[arg(long, hide = true, value_name = "DIR", default_value = "/")]
    system_root: PathBuf,
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
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

/// Prints clap's help, version or usage error. A bad argument is a user error (exit 1): clap's
/// own exit code for it, 2, means a runtime failure here.
fn usage(e: &clap::Error) -> ExitCode {
    // Help and version go to stdout and are no error; nothing is left to do if printing fails.
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let config_path = match (&cli.command, cli.config) {
        // A starter config goes where asked, or to signet.toml; never over the example.
        (Command::Init, given) => given.unwrap_or_else(|| PathBuf::from("signet.toml")),
        (_, given) => config_path(given),
    };
    let load = || Config::load(&config_path).map_err(|e| Failure::User(e.to_string()));
    match cli.command {
        Command::Run {
            listen,
            gateways,
            log_format,
        } => run::run_proxy(load()?, listen, gateways, log_format),
        Command::Init => init::init(&config_path),
        Command::Check => inspect::check(&load()?),
        Command::Explain { method, url } => explain::explain(&load()?, &method, &url),
        Command::Sign(args) => sign::sign(&load()?, args),
        Command::Ca { action } => {
            let ca = CaConfig::load(&config_path).map_err(|e| Failure::User(e.to_string()))?;
            ca::ca(&ca, action)
        }
        Command::Cookies { action } => cookies::run(&load()?, action),
        Command::Login {
            name,
            timeout,
            no_browser,
        } => oauth2::login(&load()?, &name, timeout, !no_browser),
        Command::Token { name, refresh } => oauth2::token(&load()?, &name, refresh),
        Command::Import {
            source: ImportSource::Postman(args),
        } => import::postman(args),
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

fn current_thread() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))
}
