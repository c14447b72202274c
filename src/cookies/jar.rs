//! The cookie jar: RFC 6265 storage and retrieval on top of `cookie_store`, plus what that crate
//! leaves out — the public suffix check (via `psl`'s built-in list), RFC 6265bis refusals that stop
//! leaks (`Secure` from an insecure origin, `SameSite=None` without `Secure`, `__Secure-` and
//! `__Host-` prefixes), `SameSite` enforcement from Fetch Metadata, and the RFC's order (longer
//! paths first, then earlier creation).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use cookie_store::{CookieDomain, CookieExpiration, CookieStore, RawCookie, StoreAction};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

/// The `SameSite` attribute as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Also sent on cross-site top-level navigations with a safe method.
    Lax,
    /// Sent on every request (requires `Secure`).
    None,
}

/// One cookie as signet keeps, lists, persists and exports it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The cookie's domain, without a leading dot.
    pub domain: String,
    /// True when the cookie came without a `Domain` attribute: sent to that exact host only.
    pub host_only: bool,
    /// The cookie's path.
    pub path: String,
    /// Sent over HTTPS (or to loopback) only.
    pub secure: bool,
    /// `HttpOnly`: kept and exported; every request through signet is an HTTP API anyway.
    pub http_only: bool,
    /// `SameSite`, when given.
    pub same_site: Option<SameSite>,
    /// Expiry as Unix seconds; `None` for a session cookie.
    pub expires: Option<i64>,
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// Creation order (lower is older); kept when a cookie is replaced, as RFC 6265 5.3 says.
    pub created: u64,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Cookie values are credentials.
        f.debug_struct("Entry")
            .field("domain", &self.domain)
            .field("host_only", &self.host_only)
            .field("path", &self.path)
            .field("name", &self.name)
            .field("value", &"***")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// What a request looks like from the browser's side, read from its Fetch Metadata headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Same-site, or a client (curl, a script) that sends no Fetch Metadata.
    Same,
    /// A cross-site top-level navigation with a safe method: `Lax` cookies go, `Strict` do not.
    CrossNavigation,
    /// Any other cross-site request: only `SameSite=None` cookies go.
    Cross,
}

impl Site {
    /// Reads `Sec-Fetch-Site` and `Sec-Fetch-Mode`.
    pub fn of(headers: &http::HeaderMap, method: &http::Method) -> Site {
        let site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
        if site != Some(b"cross-site") {
            return Site::Same;
        }
        let navigate = headers.get("sec-fetch-mode").map(|v| v.as_bytes()) == Some(b"navigate");
        if navigate && method.is_safe() {
            Site::CrossNavigation
        } else {
            Site::Cross
        }
    }
}

/// What became of one `Set-Cookie`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (new or replacing a cookie of the same name, domain and path).
    Stored,
    /// A deletion (`Max-Age=0`, an `Expires` in the past) removed a stored cookie.
    Deleted,
    /// Not stored, with the reason.
    Refused(String),
}

type Key = (String, String, String);

#[derive(Default)]
struct Inner {
    store: CookieStore,
    created: HashMap<Key, u64>,
    next: u64,
}

/// A thread-safe cookie jar.
#[derive(Default)]
pub struct Jar {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Jar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jar").finish_non_exhaustive()
    }
}

impl Jar {
    /// An empty jar.
    pub fn new() -> Jar {
        Jar::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores one `Set-Cookie` value received in an answer to `url`.
    pub fn capture(&self, url: &Url, set_cookie: &str) -> Outcome {
        let raw = match RawCookie::parse(set_cookie) {
            Ok(raw) => raw.into_owned(),
            Err(e) => return Outcome::Refused(format!("unparsable Set-Cookie: {e}")),
        };
        self.store_raw(raw, url, None)
    }

    fn store_raw(&self, mut raw: RawCookie<'static>, url: &Url, created: Option<u64>) -> Outcome {
        let Some(host) = url.host_str() else {
            return Outcome::Refused("the URL has no host".into());
        };
        if let Some(domain) = raw.domain().map(|d| d.to_ascii_lowercase())
            && !domain.is_empty()
            && is_public_suffix(&domain)
        {
            // RFC 6265 5.3 step 5: a public suffix is only acceptable as the host itself, and
            // then the cookie is host-only.
            if domain == host {
                raw.unset_domain();
            } else {
                return Outcome::Refused(format!("Domain={domain} is a public suffix"));
            }
        }
        let secure = raw.secure().unwrap_or(false);
        if secure && !is_secure_origin(url) {
            return Outcome::Refused("Secure cookie set by an insecure origin".into());
        }
        if raw.same_site() == Some(cookie::SameSite::None) && !secure {
            return Outcome::Refused("SameSite=None without Secure".into());
        }
        let name = raw.name().to_owned();
        if name.starts_with("__Secure-") && !secure {
            return Outcome::Refused("__Secure- cookie without Secure".into());
        }
        if name.starts_with("__Host-")
            && (!secure || raw.domain().is_some() || raw.path() != Some("/"))
        {
            return Outcome::Refused("__Host- cookie needs Secure, Path=/ and no Domain".into());
        }
        let cookie = match cookie_store::Cookie::try_from_raw_cookie(&raw, url) {
            Ok(c) => c.into_owned(),
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        let Some(domain) = cookie.domain.as_cow().map(|d| d.into_owned()) else {
            return Outcome::Refused("no domain".into());
        };
        let key = (domain, String::from(&cookie.path), name);
        let mut inner = self.lock();
        match inner.store.insert(cookie, url) {
            Ok(StoreAction::Inserted) => {
                let seq = created.unwrap_or(inner.next);
                inner.next = inner.next.max(seq).saturating_add(1);
                inner.created.insert(key, seq);
                Outcome::Stored
            }
            Ok(StoreAction::UpdatedExisting) => Outcome::Stored,
            Ok(StoreAction::ExpiredExisting) => {
                inner.store.remove(&key.0, &key.1, &key.2);
                inner.created.remove(&key);
                Outcome::Deleted
            }
            Err(e) => Outcome::Refused(e.to_string()),
        }
    }

    /// The `(name, value)` pairs to send with a request to `url` at `now`, in RFC 6265 order:
    /// longer paths first, then older cookies first.
    pub fn cookies_for(&self, url: &Url, site: Site, now: OffsetDateTime) -> Vec<(String, String)> {
        let inner = self.lock();
        let mut chosen: Vec<(usize, u64, String, String)> = inner
            .store
            .iter_any()
            .filter(|c| !c.expires_by(&now) && c.matches(url))
            .filter(|c| {
                matches!(
                    (site, c.same_site()),
                    (Site::Same, _)
                        | (_, Some(cookie::SameSite::None))
                        | (Site::CrossNavigation, Some(cookie::SameSite::Lax) | None)
                )
            })
            .map(|c| {
                let domain = c
                    .domain
                    .as_cow()
                    .map(|d| d.into_owned())
                    .unwrap_or_default();
                let path = String::from(&c.path);
                let key = (domain, path, c.name().to_owned());
                let created = inner.created.get(&key).copied().unwrap_or(u64::MAX);
                (
                    key.1.len(),
                    created,
                    c.name().to_owned(),
                    c.value().to_owned(),
                )
            })
            .collect();
        chosen.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        chosen
            .into_iter()
            .map(|(_, _, name, value)| (name, value))
            .collect()
    }

    /// Makes the jar hold `entries` and nothing else, in one step (a request never sees it
    /// half replaced).
    pub fn replace_all(&self, entries: &[Entry]) {
        let fresh = Jar::new();
        for entry in entries {
            fresh.insert(entry, Some(entry.created));
        }
        let inner = fresh
            .inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        *self.lock() = inner;
    }

    /// Every unexpired cookie at `now`, oldest first.
    pub fn entries(&self, now: OffsetDateTime) -> Vec<Entry> {
        let inner = self.lock();
        let mut entries: Vec<Entry> = inner
            .store
            .iter_any()
            .filter(|c| !c.expires_by(&now))
            .map(|c| {
                let (domain, host_only) = match &c.domain {
                    CookieDomain::HostOnly(d) => (d.clone(), true),
                    CookieDomain::Suffix(d) => (d.clone(), false),
                    CookieDomain::NotPresent | CookieDomain::Empty => (String::new(), true),
                };
                let path = String::from(&c.path);
                let created = inner
                    .created
                    .get(&(domain.clone(), path.clone(), c.name().to_owned()))
                    .copied()
                    .unwrap_or(u64::MAX);
                Entry {
                    domain,
                    host_only,
                    path,
                    secure: c.secure().unwrap_or(false),
                    http_only: c.http_only().unwrap_or(false),
                    same_site: c.same_site().map(|s| match s {
                        cookie::SameSite::Strict => SameSite::Strict,
                        cookie::SameSite::Lax => SameSite::Lax,
                        cookie::SameSite::None => SameSite::None,
                    }),
                    expires: match &c.expires {
                        CookieExpiration::AtUtc(at) => Some(at.unix_timestamp()),
                        CookieExpiration::SessionEnd => None,
                    },
                    name: c.name().to_owned(),
                    value: c.value().to_owned(),
                    created,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        entries
    }

    /// Stores a cookie from the jar file or an import, with the same checks as a `Set-Cookie`
    /// (public suffixes and the rest are refused here too). `created` orders it among the others.
    pub fn insert(&self, entry: &Entry, created: Option<u64>) -> Outcome {
        // The URL below is the domain itself, which would turn `.com` into a host-only cookie.
        if !entry.host_only && is_public_suffix(&entry.domain) {
            return Outcome::Refused(format!("Domain={} is a public suffix", entry.domain));
        }
        let mut raw = RawCookie::new(entry.name.clone(), entry.value.clone());
        raw.set_path(entry.path.clone());
        raw.set_secure(entry.secure);
        raw.set_http_only(entry.http_only);
        raw.set_same_site(entry.same_site.map(|s| match s {
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::None => cookie::SameSite::None,
        }));
        if let Some(at) = entry.expires {
            match OffsetDateTime::from_unix_timestamp(at) {
                Ok(at) => raw.set_expires(at),
                Err(_) => return Outcome::Refused(format!("expiry {at} is out of range")),
            }
        }
        if !entry.host_only {
            raw.set_domain(entry.domain.clone());
        }
        // The cookie arrives as if set by an HTTPS answer from its own domain and path.
        let host = if entry.domain.contains(':') && !entry.domain.starts_with('[') {
            format!("[{}]", entry.domain)
        } else {
            entry.domain.clone()
        };
        // The domain must be a host on its own: in a URL, an '@', '/' or '#' in it would end the
        // host early or make the rest of it a user name, and the cookie would be stored for
        // some other host than the entry names.
        let host = match url::Host::parse(&host) {
            Ok(host) => host,
            Err(e) => return Outcome::Refused(format!("bad domain {:?}: {e}", entry.domain)),
        };
        // And it must be a host as written: the URL parser decodes `%2E` to a dot and maps
        // Unicode, which would store the cookie for a name the entry does not spell (a
        // host-only `%2Eexample.com` came back as a domain cookie).
        if let url::Host::Domain(name) = &host
            && *name != entry.domain.to_ascii_lowercase()
        {
            return Outcome::Refused(format!(
                "bad domain {:?}: not a host name as written (it reads as {name:?})",
                entry.domain
            ));
        }
        let url = match Url::parse(&format!("https://{host}{}", entry.path)) {
            Ok(url) => url,
            Err(e) => return Outcome::Refused(format!("bad domain or path: {e}")),
        };
        self.store_raw(raw, &url, created)
    }

    /// How many cookies the jar holds, expired ones included until they are pruned.
    pub fn len(&self) -> usize {
        self.lock().store.iter_any().count()
    }

    /// Whether the jar is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether `domain` is exactly a suffix on the public suffix list (`com`, `co.uk`,
/// `github.io`). Names under an unlisted top-level domain (`localhost`, `internal`) are not:
/// the list's implicit `*` rule would otherwise refuse every `Domain=` on private names.
pub fn is_public_suffix(domain: &str) -> bool {
    let domain = domain.trim_start_matches('.').trim_end_matches('.');
    psl::suffix(domain.as_bytes())
        .is_some_and(|s| s.is_known() && s.as_bytes() == domain.as_bytes())
}

/// HTTPS, or a loopback host (which browsers treat as a secure context too).
fn is_secure_origin(url: &Url) -> bool {
    if url.scheme() == "https" {
        return true;
    }
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
