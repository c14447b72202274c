//! The TOML config: schema, loading, placeholder expansion and errors that point at the source.
//!
//! Loading runs in stages so that every error can name file, line, column and key:
//! parse the TOML, expand `${…}` placeholders in every string, deserialize the schema (unknown
//! keys are errors), then parse each auth table by its `type`.

mod auth;
mod ca;
mod checks;
mod error;
mod expand;
mod gateway;
mod log;
mod settings;
mod shared;
mod tls;
mod warnings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use auth::{AuthChoice, AuthSpec, ProfileRef};
pub use checks::is_known_method;
pub use error::{ConfigError, KeyPath, Locator, Segment};
use expand::Expansion;
pub use expand::{ExpandError, ValueSource, expand, expand_noting_defaults, expand_noting_sources};
pub use gateway::{GatewayConfig, GatewayUpstream, parse_listen};
pub use log::{LogConfig, LogFormat};
pub use settings::AuthTables;
pub use tls::HostTls;
pub use warnings::ConfigWarning;

pub use crate::cookies::CookieMode;
use crate::net::Limits;
use crate::secret::Secret;

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default limit for a buffered request body (8 MiB).
pub const DEFAULT_BUFFER_LIMIT: usize = 8 * 1024 * 1024;

/// A loaded, expanded and checked config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub file: PathBuf,
    /// The directory relative paths are resolved against (the config's directory).
    pub base_dir: PathBuf,
    /// `[proxy]`.
    pub proxy: ProxyConfig,
    /// `[ca]`, with paths resolved.
    pub ca: CaConfig,
    /// `[admin]`, when present.
    pub admin: Option<AdminConfig>,
    /// `[log]`.
    pub log: LogConfig,
    /// `[cookies]`, with the jar path resolved.
    pub cookies: CookiesConfig,
    /// `[auth.NAME]` profiles by name.
    pub profiles: BTreeMap<String, AuthSpec>,
    /// `[[host]]` rules in order.
    pub hosts: Vec<HostConfig>,
    /// `[[gateway]]` listeners in order.
    pub gateways: Vec<GatewayConfig>,
    /// `[shared]`, when present.
    pub shared: Option<crate::shared::Settings>,
    /// What is allowed but probably not meant (a credential taken from a placeholder's default).
    pub warnings: Vec<ConfigWarning>,
    /// Every auth table, expanded, for a reload to compare.
    pub auth_tables: AuthTables,
    /// Where each placeholder's text and each credential written out came from, by key.
    pub value_sources: Vec<(KeyPath, ValueSource)>,
    source: String,
}

/// `[proxy]`: how signet listens and reaches upstreams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Listen address (`--listen` overrides it).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Credentials every client must present (407 otherwise).
    pub client_auth: Option<ClientAuth>,
    /// A parent HTTP proxy for every upstream connection, as `http://host:port`.
    pub upstream_proxy: Option<String>,
    /// An auth profile answering the parent proxy's 407.
    pub upstream_proxy_auth: Option<String>,
    /// Which CONNECT destinations are intercepted.
    #[serde(default)]
    pub intercept: Intercept,
    /// Egress allow list (empty: everything allowed).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Egress deny list; wins over `allow`.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Largest request body signet buffers for a scheme that must see it, in bytes.
    #[serde(default = "default_buffer_limit")]
    pub buffer_limit: usize,
    /// Seconds for a client's request head to arrive.
    #[serde(default = "defaults::header_read_timeout")]
    pub header_read_timeout: u64,
    /// Seconds a client connection may sit idle between requests.
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout: u64,
    /// Seconds for a TLS handshake, with clients and with origins.
    #[serde(default = "defaults::tls_handshake_timeout")]
    pub tls_handshake_timeout: u64,
    /// Seconds for a TCP connection to an upstream or the parent proxy.
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout: u64,
    /// Seconds for an upstream's response head (504 after).
    #[serde(default = "defaults::response_timeout")]
    pub response_timeout: u64,
    /// Seconds a tunnel may carry nothing before it is closed.
    #[serde(default = "defaults::tunnel_idle_timeout")]
    pub tunnel_idle_timeout: u64,
    /// Seconds for one OAuth 2.0 token request.
    #[serde(default = "defaults::token_timeout")]
    pub token_timeout: u64,
    /// Seconds that requests in flight may take to finish when signet stops.
    #[serde(default = "defaults::drain_timeout")]
    pub drain_timeout: u64,
    /// Client connections held at once.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// Client connections held at once per client address (when listening beyond loopback).
    #[serde(default = "defaults::max_connections_per_ip")]
    pub max_connections_per_ip: usize,
}

/// The `[proxy]` defaults, from [`Limits::DEFAULT`] so that they are written once.
mod defaults {
    use crate::net::Limits;

    pub fn header_read_timeout() -> u64 {
        Limits::DEFAULT.header_read.as_secs()
    }
    pub fn idle_timeout() -> u64 {
        Limits::DEFAULT.client_idle.as_secs()
    }
    pub fn tls_handshake_timeout() -> u64 {
        Limits::DEFAULT.tls_handshake.as_secs()
    }
    pub fn connect_timeout() -> u64 {
        Limits::DEFAULT.connect.as_secs()
    }
    pub fn response_timeout() -> u64 {
        Limits::DEFAULT.response.as_secs()
    }
    pub fn tunnel_idle_timeout() -> u64 {
        Limits::DEFAULT.tunnel_idle.as_secs()
    }
    pub fn token_timeout() -> u64 {
        Limits::DEFAULT.token_request.as_secs()
    }
    pub fn drain_timeout() -> u64 {
        Limits::DEFAULT.drain.as_secs()
    }
    pub fn max_connections() -> usize {
        Limits::DEFAULT.max_connections
    }
    pub fn max_connections_per_ip() -> usize {
        Limits::DEFAULT.max_connections_per_ip
    }
}

/// The longest timeout `[proxy]` takes: a day.
const MAX_TIMEOUT_SECS: u64 = 86_400;

impl ProxyConfig {
    /// The timeouts and caps, as the wire uses them.
    pub fn limits(&self) -> Limits {
        let secs = Duration::from_secs;
        Limits {
            header_read: secs(self.header_read_timeout),
            client_idle: secs(self.idle_timeout),
            tls_handshake: secs(self.tls_handshake_timeout),
            connect: secs(self.connect_timeout),
            response: secs(self.response_timeout),
            tunnel_idle: secs(self.tunnel_idle_timeout),
            token_request: secs(self.token_timeout),
            drain: secs(self.drain_timeout),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
        }
    }

    /// Every timeout is 1 s to a day and every cap at least 1; the offending key otherwise.
    fn check_limits(&self) -> Result<(), (&'static str, String)> {
        for (key, value) in [
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
            ("tls_handshake_timeout", self.tls_handshake_timeout),
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
            ("tunnel_idle_timeout", self.tunnel_idle_timeout),
            ("token_timeout", self.token_timeout),
            ("drain_timeout", self.drain_timeout),
        ] {
            if !(1..=MAX_TIMEOUT_SECS).contains(&value) {
                return Err((key, format!("must be 1 to {MAX_TIMEOUT_SECS} seconds")));
            }
        }
        for (key, value) in [
            ("max_connections", self.max_connections),
            ("max_connections_per_ip", self.max_connections_per_ip),
        ] {
            if value == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        Ok(())
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: default_listen(),
            client_auth: None,
            upstream_proxy: None,
            upstream_proxy_auth: None,
            intercept: Intercept::default(),
            allow: Vec::new(),
            deny: Vec::new(),
            buffer_limit: DEFAULT_BUFFER_LIMIT,
            header_read_timeout: defaults::header_read_timeout(),
            idle_timeout: defaults::idle_timeout(),
            tls_handshake_timeout: defaults::tls_handshake_timeout(),
            connect_timeout: defaults::connect_timeout(),
            response_timeout: defaults::response_timeout(),
            tunnel_idle_timeout: defaults::tunnel_idle_timeout(),
            token_timeout: defaults::token_timeout(),
            drain_timeout: defaults::drain_timeout(),
            max_connections: defaults::max_connections(),
            max_connections_per_ip: defaults::max_connections_per_ip(),
        }
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}

fn default_buffer_limit() -> usize {
    DEFAULT_BUFFER_LIMIT
}

/// `[proxy] client_auth`: Basic credentials clients must send in `Proxy-Authorization`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: Secret,
}

/// `[proxy] intercept`: which CONNECT tunnels signet terminates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intercept {
    /// Only hosts that a rule names (default).
    #[default]
    Rules,
    /// Every CONNECT destination.
    All,
    /// None: every CONNECT is a plain tunnel.
    None,
}

/// `[ca]`: where signet's CA certificate and key live.
#[derive(Debug, Clone)]
pub struct CaConfig {
    /// CA certificate (PEM).
    pub cert: PathBuf,
    /// CA private key (PEM, mode 0600).
    pub key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCa {
    #[serde(default = "default_ca_cert")]
    cert: PathBuf,
    #[serde(default = "default_ca_key")]
    key: PathBuf,
}

impl Default for RawCa {
    fn default() -> Self {
        RawCa {
            cert: default_ca_cert(),
            key: default_ca_key(),
        }
    }
}

fn default_ca_cert() -> PathBuf {
    PathBuf::from("certs/ca.crt")
}

fn default_ca_key() -> PathBuf {
    PathBuf::from("certs/ca.key")
}

/// `[admin]`: the optional admin listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Listen address.
    pub listen: String,
}

/// `[cookies]`: where the cookie jar is kept.
#[derive(Debug, Clone)]
pub struct CookiesConfig {
    /// The jar file (JSON, written atomically, mode 0600); default `cookies.json` beside the config.
    pub jar: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCookies {
    jar: Option<PathBuf>,
}

/// One `[[host]]` rule.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// `name`, or the first `match` pattern as written: what logs, metrics and errors call it.
    pub name: String,
    /// The `match` patterns as written.
    pub patterns: Vec<String>,
    /// The host's auth; `None` when the rule sets none.
    pub auth: AuthChoice,
    /// `[[host.route]]` entries in order.
    pub routes: Vec<RouteConfig>,
    /// Cookie handling.
    pub cookies: Option<CookieMode>,
    /// `cookies_from`: the host whose jar cookies are sent to this rule's hosts (normalised).
    pub cookies_from: Option<String>,
    /// Upstream TLS settings, paths resolved.
    pub tls: Option<HostTls>,
    /// Where this rule is in the file, for errors.
    pub path: KeyPath,
}

/// One `[[host.route]]` entry.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Path glob; absent means every path.
    pub path: Option<String>,
    /// Methods (uppercase); absent means every method.
    pub methods: Option<Vec<String>>,
    /// The route's auth; `AuthChoice::Inherit` takes the host's.
    pub auth: AuthChoice,
    /// Where this route is in the file, for errors.
    pub key_path: KeyPath,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    proxy: ProxyConfig,
    #[serde(default)]
    ca: RawCa,
    admin: Option<AdminConfig>,
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    cookies: RawCookies,
    #[serde(default)]
    auth: BTreeMap<String, toml::Table>,
    #[serde(default)]
    host: Vec<RawHost>,
    #[serde(default)]
    gateway: Vec<gateway::RawGateway>,
    shared: Option<shared::RawShared>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Option<String>,
    #[serde(rename = "match")]
    patterns: Vec<String>,
    auth: Option<toml::Value>,
    #[serde(default)]
    route: Vec<RawRoute>,
    cookies: Option<CookieMode>,
    cookies_from: Option<String>,
    tls: Option<HostTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    path: Option<String>,
    methods: Option<Vec<String>>,
    auth: Option<toml::Value>,
}

impl Config {
    /// Reads and checks the config at `file`, reading `${VAR}` from the process environment.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let source = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Config::parse(file, source, &|name| std::env::var(name).ok())
    }

    /// Checks config text that came from `file`, with `lookup` as the environment.
    pub fn parse(
        file: &Path,
        source: String,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let base_dir = base_dir(file);
        let locator = Locator::new(file.to_owned(), &source);

        let mut tree: toml::Table = toml::from_str(&source)
            .map_err(|e| locator.error_at(e.span().map(|s| s.start), e.message().to_owned()))?;
        let mut expansion = Expansion {
            base_dir: &base_dir,
            lookup,
            defaulted: Vec::new(),
            sources: Vec::new(),
        };
        expansion.table(&mut tree, &KeyPath::default(), &locator)?;
        let warnings = warnings::credential_defaults(&expansion.defaulted, &locator);
        let value_sources = expansion.sources;
        let mut auth_tables = AuthTables::new(base_dir.clone(), tree.get("proxy"));

        let raw: RawConfig = serde_path_to_error::deserialize(toml::Value::Table(tree))
            .map_err(|e| serde_error(&locator, &KeyPath::default(), e))?;

        let mut profiles = BTreeMap::new();
        for (name, table) in raw.auth {
            let path = KeyPath::default().key("auth").key(&name);
            if AuthChoice::is_reserved_name(&name) {
                return Err(locator.error(
                    &path,
                    format!("\"{name}\" is reserved; name the profile differently"),
                ));
            }
            auth_tables.insert(name.clone(), toml::Value::Table(table.clone()));
            profiles.insert(name, auth::auth_table(table, &path, &locator)?);
        }

        let mut hosts = Vec::with_capacity(raw.host.len());
        for (i, host) in raw.host.into_iter().enumerate() {
            let path = KeyPath::default().key("host").index(i);
            if let Some(table @ toml::Value::Table(_)) = &host.auth {
                auth_tables.insert(path.key("auth").to_string(), table.clone());
            }
            for (j, route) in host.route.iter().enumerate() {
                if let Some(table @ toml::Value::Table(_)) = &route.auth {
                    let at = path.key("route").index(j).key("auth");
                    auth_tables.insert(at.to_string(), table.clone());
                }
            }
            hosts.push(host_rule(i, host, &base_dir, &locator, &profiles)?);
        }
        checks::distinct_names(&hosts, &locator)?;
        checks::parent_auth(&raw.proxy, &profiles, &locator)?;
        if let Err((key, reason)) = raw.proxy.check_limits() {
            return Err(locator.error(&KeyPath::default().key("proxy").key(key), reason));
        }
        checks::listeners(&raw.proxy, raw.admin.as_ref(), &locator)?;
        let gateways = gateway::gateways(raw.gateway, &raw.proxy.listen, &locator)?;

        let shared = raw
            .shared
            .map(|s| shared::shared(s, &locator))
            .transpose()?;
        let ca = CaConfig {
            cert: base_dir.join(raw.ca.cert),
            key: base_dir.join(raw.ca.key),
        };
        let cookies = CookiesConfig {
            jar: base_dir.join(
                raw.cookies
                    .jar
                    .unwrap_or_else(|| PathBuf::from("cookies.json")),
            ),
        };
        Ok(Config {
            file: file.to_owned(),
            base_dir,
            proxy: raw.proxy,
            ca,
            admin: raw.admin,
            log: raw.log,
            cookies,
            profiles,
            hosts,
            gateways,
            shared,
            warnings,
            auth_tables,
            value_sources,
            source,
        })
    }

    /// The SHA-256 of the config's text, in hex (`/metrics` names the config in force by it).
    pub fn sha256(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.source.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// An error pointing at `path` in this config's source.
    pub fn error(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        Locator::new(self.file.clone(), &self.source).error(path, message)
    }
}

/// The directory relative paths in the config at `file` are resolved against.
fn base_dir(file: &Path) -> PathBuf {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned()
}

/// `[[host]]` number `i`, checked, with its paths resolved against `base_dir`.
fn host_rule(
    i: usize,
    host: RawHost,
    base_dir: &Path,
    locator: &Locator<'_>,
    profiles: &BTreeMap<String, AuthSpec>,
) -> Result<HostConfig, ConfigError> {
    let path = KeyPath::default().key("host").index(i);
    if host.patterns.is_empty() {
        return Err(locator.error(&path.key("match"), "needs at least one host pattern"));
    }
    let name = checks::host_name(host.name, &host.patterns, &path, locator)?;
    let auth = AuthChoice::from_value(host.auth, &path.key("auth"), locator, profiles)?;
    let auth = match auth {
        AuthChoice::Inherit => AuthChoice::None,
        other => other,
    };
    let mut routes = Vec::with_capacity(host.route.len());
    for (j, route) in host.route.into_iter().enumerate() {
        let key_path = path.key("route").index(j);
        let methods = match route.methods {
            Some(ms) => Some(checks::route_methods(
                ms,
                &key_path.key("methods"),
                locator,
            )?),
            None => None,
        };
        routes.push(RouteConfig {
            path: route.path,
            methods,
            auth: AuthChoice::from_value(route.auth, &key_path.key("auth"), locator, profiles)?,
            key_path,
        });
    }
    let tls = match host.tls {
        Some(t) => Some(t.resolve(base_dir, &path.key("tls"), locator)?),
        None => None,
    };
    let (cookies, cookies_from) =
        checks::host_cookies(host.cookies, host.cookies_from, &path, locator)?;
    Ok(HostConfig {
        name,
        patterns: host.patterns,
        auth,
        routes,
        cookies,
        cookies_from,
        tls,
        path,
    })
}

/// Turns a serde error found under `prefix` into a located config error.
pub(crate) fn serde_error(
    locator: &Locator<'_>,
    prefix: &KeyPath,
    err: serde_path_to_error::Error<toml::de::Error>,
) -> ConfigError {
    let mut path = prefix.join_serde(err.path());
    let message = err.inner().message().to_owned();
    // serde reports an unknown key at its parent; point at the key itself.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
        && path.0.last() != Some(&Segment::Key(rest[..end].to_owned()))
    {
        path = path.key(&rest[..end]);
    }
    locator.error(&path, message)
}
