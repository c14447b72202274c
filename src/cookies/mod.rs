//! Cookies: the jar ([`jar`]), its file (JSON, written atomically with mode 0600, from a writer
//! thread of its own), the Netscape cookies.txt format ([`netscape`]), and the hooks the proxy
//! calls per request: add jar cookies before signing, capture `Set-Cookie` from the answers, and
//! carry an answer's cookies over to the next request of a challenge exchange.

mod fleet;
pub mod jar;
pub mod netscape;
mod saver;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use crate::rules::Destination;
use crate::shared::SharedStore;
pub use jar::{Entry, Jar, Outcome, Site};

/// Why the jar file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CookieError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The jar file is not a signet jar.
    #[error("{path}: not a signet cookie jar: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A cookies.txt line is wrong.
    #[error("{path}: {source}")]
    Netscape {
        /// The file.
        path: PathBuf,
        /// The line and reason.
        source: netscape::NetscapeError,
    },
    /// The thread that writes the jar file could not be started.
    #[error("cannot start the cookie jar writer: {0}")]
    Writer(std::io::Error),
}

#[derive(Serialize, Deserialize)]
struct JarFile {
    signet_cookie_jar: u32,
    cookies: Vec<Entry>,
}

/// Reads the jar at `path`; a missing file is an empty jar.
pub fn load(path: &Path) -> Result<Jar, CookieError> {
    let jar = Jar::new();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(jar),
        Err(source) => {
            return Err(CookieError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let file: JarFile = serde_json::from_str(&text).map_err(|e| CookieError::Format {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    for entry in &file.cookies {
        if let Outcome::Refused(reason) = jar.insert(entry, Some(entry.created)) {
            tracing::debug!(cookie = %entry.name, domain = %entry.domain, %reason, "dropped a cookie from the jar file");
        }
    }
    Ok(jar)
}

/// Writes the jar's unexpired cookies to `path`: a temporary file (0600) beside it, then a rename,
/// so a crash never leaves half a jar.
pub fn save(jar: &Jar, path: &Path, now: OffsetDateTime) -> Result<(), CookieError> {
    let file = JarFile {
        signet_cookie_jar: 1,
        cookies: jar.entries(now),
    };
    let text = serde_json::to_string_pretty(&file).map_err(|e| CookieError::Format {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    write_private(path, text.as_bytes())
}

/// Writes `bytes` to `path` atomically with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CookieError> {
    crate::fsutil::write_atomic(path, bytes, 0o600, 0o755).map_err(|source| CookieError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a Netscape cookies.txt into `jar`; returns (stored, skipped with reasons).
pub fn import(jar: &Jar, file: &Path) -> Result<(usize, Vec<String>), CookieError> {
    let text = std::fs::read_to_string(file).map_err(|source| CookieError::Io {
        path: file.to_owned(),
        source,
    })?;
    let entries = netscape::parse(&text).map_err(|source| CookieError::Netscape {
        path: file.to_owned(),
        source,
    })?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (mut stored, mut skipped) = (0, Vec::new());
    for entry in &entries {
        if entry.expires.is_some_and(|at| at <= now) {
            skipped.push(format!("{} ({}): expired", entry.name, entry.domain));
            continue;
        }
        match jar.insert(entry, None) {
            Outcome::Stored => stored += 1,
            Outcome::Deleted => {}
            Outcome::Refused(reason) => {
                skipped.push(format!("{} ({}): {reason}", entry.name, entry.domain))
            }
        }
    }
    Ok((stored, skipped))
}

/// `cookies = …` on a host rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieMode {
    /// Capture and inject.
    Sync,
    /// Capture `Set-Cookie` only.
    Capture,
    /// Inject only.
    Inject,
}

/// One rule's cookie handling.
#[derive(Debug, Clone)]
pub struct RuleCookies {
    /// What the rule does with cookies.
    pub mode: CookieMode,
    /// `cookies_from`: the host whose cookies the rule sends.
    pub from: Option<String>,
}

/// The jar as the proxy uses it: per-rule modes, the shared jar, and the writer of its file.
#[derive(Debug)]
pub struct Cookies {
    jar: Arc<Jar>,
    rules: Vec<Option<RuleCookies>>,
    saver: Arc<saver::Saver>,
    fleet: Option<Arc<fleet::CookieFleet>>,
}

impl Cookies {
    /// Loads the jar at `path` when some rule uses cookies (`rules`: per host rule, in order);
    /// `None` when none does.
    pub fn open(
        path: &Path,
        rules: Vec<Option<RuleCookies>>,
    ) -> Result<Option<Cookies>, CookieError> {
        if rules.iter().all(Option::is_none) {
            return Ok(None);
        }
        let jar = Arc::new(load(path)?);
        let saver =
            saver::Saver::start(jar.clone(), path.to_owned()).map_err(CookieError::Writer)?;
        Ok(Some(Cookies {
            jar,
            rules,
            saver: Arc::new(saver),
            fleet: None,
        }))
    }

    /// Shares the jar through `store` with the other instances: from now on when built on the
    /// runtime, else from the first request.
    pub fn sharing(mut self, store: Option<Arc<SharedStore>>) -> Cookies {
        self.fleet = store.map(|s| Arc::new(fleet::CookieFleet::new(s)));
        if let Some(fleet) = &self.fleet {
            fleet.start(&self.jar, &self.saver);
        }
        self
    }

    /// The same jar and file under a reloaded config's per-rule modes.
    pub fn with_rules(&self, rules: Vec<Option<RuleCookies>>) -> Cookies {
        Cookies {
            jar: self.jar.clone(),
            rules,
            saver: self.saver.clone(),
            fleet: self.fleet.clone(),
        }
    }

    /// The jar.
    pub fn jar(&self) -> &Jar {
        &self.jar
    }

    /// Before signing: adds jar cookies to a request for rule `rule` (those whose names the
    /// client did not send itself). Returns the URL under which the answer's `Set-Cookie` is
    /// captured, when the rule captures.
    pub fn before_send(
        &self,
        rule: Option<usize>,
        dest: &Destination,
        parts: &mut http::request::Parts,
        now: SystemTime,
    ) -> Option<Url> {
        let settings = self.rules.get(rule?)?.as_ref()?;
        if let Some(fleet) = &self.fleet {
            fleet.start(&self.jar, &self.saver);
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = request_url(dest, &dest.host, path)?;
        if settings.mode != CookieMode::Capture {
            let source = match &settings.from {
                Some(from) => request_url(dest, from, path)?,
                None => url.clone(),
            };
            let site = Site::of(&parts.headers, &parts.method);
            let pairs = self.jar.cookies_for(&source, site, now.into());
            add_missing(&mut parts.headers, &pairs);
        }
        (settings.mode != CookieMode::Inject).then_some(url)
    }

    /// On an answer (a final one, or a challenge the proxy answers itself): stores its
    /// `Set-Cookie` headers under `url` and, if the jar changed, asks for a save. The file is
    /// written by another thread; [`Cookies::flush`] waits for it.
    pub fn on_response(&self, url: Option<&Url>, headers: &HeaderMap) {
        let Some(url) = url else { return };
        let mut changed = false;
        for value in headers.get_all(SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            match self.jar.capture(url, value) {
                Outcome::Stored | Outcome::Deleted => changed = true,
                Outcome::Refused(reason) => {
                    tracing::info!(host = url.host_str().unwrap_or(""), %reason, "Set-Cookie not stored");
                }
            }
        }
        if changed {
            self.saver.schedule();
            if let Some(fleet) = &self.fleet {
                fleet.changed();
            }
        }
    }

    /// Blocks until every change captured so far is in the jar file (at shutdown, and for
    /// tests). Not for a runtime thread.
    pub fn flush(&self) {
        self.saver.flush();
    }
}

/// The URL a cookie jar sees for a request to `host` (the destination's or a `cookies_from`
/// host) with the destination's scheme and port.
fn request_url(dest: &Destination, host: &str, path_and_query: &str) -> Option<Url> {
    let scheme = if dest.https { "https" } else { "http" };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Url::parse(&format!("{scheme}://{host}:{}{path_and_query}", dest.port)).ok()
}

/// Appends `pairs` to the request's Cookie header, skipping names the client already sent;
/// several Cookie headers (as HTTP/2 allows) are joined into one.
fn add_missing(headers: &mut HeaderMap, pairs: &[(String, String)]) {
    let mut parts = request_pairs(headers);
    let own: Vec<String> = parts.iter().map(|p| name_of(p).to_owned()).collect();
    let before = parts.len();
    for (name, value) in pairs {
        if !own.iter().any(|n| n == name) {
            parts.push(format!("{name}={value}"));
        }
    }
    if parts.len() == before {
        return;
    }
    set_request_pairs(headers, &parts);
}

/// Carries the cookies that `answer` set over to the next request of the same exchange (the
/// replay after a challenge, the next NTLM message), as a browser would: a cookie of the same
/// name in the request is replaced, one the answer deleted is dropped. Independent of the jar:
/// the client never sees the answers signet handles itself, so only signet can send them back.
pub fn carry_over(parts: &mut http::request::Parts, answer: &HeaderMap) {
    if !answer.contains_key(SET_COOKIE) {
        return;
    }
    let Ok(url) = Url::parse(&parts.uri.to_string()) else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    // A jar of its own applies RFC 6265 (domain, path, Secure, prefixes) to what was set.
    let set = Jar::new();
    let mut deleted = Vec::new();
    for value in answer.get_all(SET_COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        match cookie_store::Cookie::parse(value, &url) {
            Ok(c) if c.expires_by(&now) => {
                if c.matches(&url) {
                    deleted.push(c.name().to_owned());
                }
            }
            _ => {
                set.capture(&url, value);
            }
        }
    }
    let set = set.cookies_for(&url, Site::Same, now);
    if set.is_empty() && deleted.is_empty() {
        return;
    }
    let mut pairs = request_pairs(&parts.headers);
    pairs.retain(|p| !deleted.iter().any(|d| d == name_of(p)));
    for (name, value) in set {
        let pair = format!("{name}={value}");
        match pairs.iter_mut().find(|p| name_of(p) == name) {
            Some(old) => *old = pair,
            None => pairs.push(pair),
        }
    }
    set_request_pairs(&mut parts.headers, &pairs);
}

/// The request's `name=value` pairs, from every Cookie header.
fn request_pairs(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The name of a `name=value` pair.
fn name_of(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(n, _)| n).trim()
}

/// Replaces the request's Cookie headers with one holding `pairs` (none when empty).
fn set_request_pairs(headers: &mut HeaderMap, pairs: &[String]) {
    if pairs.is_empty() {
        headers.remove(COOKIE);
    } else if let Ok(value) = HeaderValue::from_str(&pairs.join("; ")) {
        headers.remove(COOKIE);
        headers.insert(COOKIE, value);
    }
}

#[cfg(test)]
mod tests;
