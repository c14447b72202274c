//! The requests of a collection, each with the auth Postman would use for it and the URL it
//! would go to. Auth is inherited as postman-collection's `Item.getAuth` does: the request's
//! own, else the nearest folder's, else the collection's; `noauth` is an explicit "No Auth" and
//! stops the search; an absent, `null` or stray `inherit` auth passes it on.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::collection::{Auth, Collection, Item, Path, Request, Segment, StringOrList, Url};
use super::variables::{Resolved, Scope};

/// Which entity an auth was set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The collection.
    Collection,
    /// A folder.
    Folder,
    /// The request itself.
    Request,
}

/// The auth in force for a request.
#[derive(Debug, Clone, Copy)]
pub enum Effective<'a> {
    /// No auth anywhere up the tree, or an explicit `noauth`: sent untouched.
    None,
    /// This auth, set on `owner` named `name`.
    Set {
        /// The auth object.
        auth: &'a Auth,
        /// Where it was set.
        owner: Owner,
        /// That entity's name.
        name: &'a str,
    },
}

/// One request of the collection.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Folder names and its own, joined by " / ".
    pub name: String,
    /// Upper-case method.
    pub method: String,
    /// The effective auth.
    pub auth: Effective<'a>,
    /// The URL as written (parts joined), before substitution.
    pub written: String,
    /// The URL after substitution.
    pub resolved: Resolved,
}

/// Every request of `collection`, in document order.
pub fn entries<'a>(collection: &'a Collection, scope: &Scope) -> Vec<Entry<'a>> {
    let root = match usable(collection.auth.as_ref()) {
        Some(auth) => Effective::Set {
            auth,
            owner: Owner::Collection,
            name: &collection.info.name,
        },
        None => Effective::None,
    };
    let mut out = Vec::new();
    walk(&collection.item, root, &[], scope, &mut out);
    out
}

fn walk<'a>(
    items: &'a [Item],
    inherited: Effective<'a>,
    folders: &[&'a str],
    scope: &Scope,
    out: &mut Vec<Entry<'a>>,
) {
    for item in items {
        if let Some(children) = &item.item {
            let auth = match usable(item.auth.as_ref()) {
                Some(auth) => Effective::Set {
                    auth,
                    owner: Owner::Folder,
                    name: &item.name,
                },
                None => inherited,
            };
            let mut path = folders.to_vec();
            path.push(&item.name);
            walk(children, auth, &path, scope, out);
            continue;
        }
        let Some(request) = &item.request else {
            continue;
        };
        let (url, method, own) = match request {
            Request::Url(url) => (Some(written_url_of_string(url)), None, None),
            Request::Full(full) => (
                full.url.as_ref().map(written_url),
                full.method.as_deref(),
                full.auth.as_ref(),
            ),
        };
        let auth = match usable(own) {
            Some(auth) => Effective::Set {
                auth,
                owner: Owner::Request,
                name: &item.name,
            },
            None => inherited,
        };
        let auth = match auth {
            Effective::Set { auth, .. } if auth.kind == "noauth" => Effective::None,
            other => other,
        };
        let mut name = folders.join(" / ");
        if !name.is_empty() {
            name.push_str(" / ");
        }
        name.push_str(&item.name);
        let written = url.unwrap_or_default();
        out.push(Entry {
            name,
            method: method.unwrap_or("GET").to_ascii_uppercase(),
            auth,
            resolved: scope.resolve(&written),
            written,
        });
    }
}

/// An auth that decides (a type, including `noauth`), or `None` when it passes inheritance on.
fn usable(auth: Option<&Auth>) -> Option<&Auth> {
    auth.filter(|a| !a.kind.is_empty() && a.kind != "inherit" && a.kind != "type")
}

fn written_url_of_string(url: &str) -> String {
    url.trim().to_owned()
}

/// The URL as Postman assembles it: an object's parts win over its `raw`.
fn written_url(url: &Url) -> String {
    let parts = match url {
        Url::Raw(raw) => return written_url_of_string(raw),
        Url::Parts(parts) => parts,
    };
    let host = match &parts.host {
        Some(StringOrList::One(host)) => host.clone(),
        Some(StringOrList::List(labels)) => labels.join("."),
        None => return parts.raw.as_deref().map(str::trim).unwrap_or("").to_owned(),
    };
    let mut out = String::new();
    if let Some(protocol) = parts.protocol.as_deref().filter(|p| !p.is_empty()) {
        out.push_str(protocol.trim_end_matches("://"));
        out.push_str("://");
    }
    out.push_str(&host);
    match &parts.port {
        Some(serde_json::Value::String(port)) if !port.is_empty() => {
            out.push(':');
            out.push_str(port);
        }
        Some(serde_json::Value::Number(port)) => {
            out.push(':');
            out.push_str(&port.to_string());
        }
        _ => {}
    }
    match &parts.path {
        Some(Path::One(path)) => {
            if !path.starts_with('/') {
                out.push('/');
            }
            out.push_str(path);
        }
        Some(Path::Segments(segments)) => {
            for segment in segments {
                out.push('/');
                match segment {
                    Segment::Text(text) => out.push_str(text),
                    Segment::Object(o) => out.push_str(o.value.as_deref().unwrap_or("")),
                }
            }
        }
        None => {}
    }
    let query: Vec<String> = parts
        .query
        .iter()
        .filter(|q| !q.disabled)
        .filter_map(|q| {
            let key = q.key.as_deref()?;
            Some(match &q.value {
                Some(value) => format!("{key}={value}"),
                None => key.to_owned(),
            })
        })
        .collect();
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query.join("&"));
    }
    out
}

/// Where a request goes: scheme, host and port, and its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host (punycode; IPv6 in brackets).
    pub host: String,
    /// The port, explicit or the scheme's.
    pub port: u16,
    /// The path, percent-encoded as it is sent.
    pub path: String,
}

/// Why a request's URL gives no destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    /// The host (or scheme or port) still holds these references.
    HostVariables(Vec<String>),
    /// Not an http(s) URL, or not a URL at all: why (without the URL).
    Invalid(String),
}

/// Parses a substituted URL with a real URL parser, as Postman does after substitution (so a
/// variable may hold `https://host/base`). Without a scheme Postman sends `http://`.
pub fn target(resolved: &Resolved) -> Result<Target, UrlProblem> {
    let text = resolved.text.trim();
    let authority_end = text.find("://").map_or(0, |at| at + 3);
    let authority = text
        .get(authority_end..)
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(rest))
        .unwrap_or("");
    let before_path = format!("{}{authority}", text.get(..authority_end).unwrap_or(""));
    if before_path.contains("{{") {
        let mut names: Vec<String> = Vec::new();
        let mut rest = before_path.as_str();
        while let Some(open) = rest.find("{{") {
            let tail = rest.get(open + 2..).unwrap_or("");
            let Some(close) = tail.find("}}") else { break };
            names.push(tail.get(..close).unwrap_or("").to_owned());
            rest = tail.get(close + 2..).unwrap_or("");
        }
        return Err(UrlProblem::HostVariables(names));
    }
    let full = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    // The reasons never quote the URL: after substitution it may hold a credential.
    let url = url::Url::parse(&full).map_err(|e| UrlProblem::Invalid(e.to_string()))?;
    let scheme = url.scheme().to_owned();
    if scheme != "http" && scheme != "https" {
        return Err(UrlProblem::Invalid(format!(
            "scheme {scheme}: signet rules are for http and https"
        )));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| UrlProblem::Invalid("no host".to_owned()))?
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| UrlProblem::Invalid("no port".to_owned()))?;
    Ok(Target {
        scheme,
        host,
        port,
        path: url.path().to_owned(),
    })
}

#[cfg(test)]
#[path = "requests_tests.rs"]
mod tests;
