//! The host and path of an [`AccessRecord`](super::AccessRecord): read from the request's URI
//! or the destination signet settled on, which the record holds (a clone of either shares its
//! bytes), so that finishing a record copies no text and frees none.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use http::Uri;
use http::uri::{Authority, PathAndQuery};

use crate::rules::Destination;

/// A record's host or path; reads as a `&str`.
#[derive(Clone, Default)]
pub struct Text(Repr);

#[derive(Clone, Default)]
enum Repr {
    #[default]
    Empty,
    Static(&'static str),
    Owned(String),
    /// The host in a URI's authority, at `start..end` (an IPv6 address without its brackets).
    Authority(Authority, u16, u16),
    /// A URI's path and query.
    Path(PathAndQuery),
    /// The destination's host.
    DestHost(Arc<Destination>),
}

impl Text {
    /// `host` as `uri` spells it, where it does (read from the URI's authority then).
    pub(super) fn host_in(uri: &Uri, host: &str) -> Option<Text> {
        let authority = uri.authority()?;
        let text = authority.as_str();
        let bracketed = text.starts_with('[');
        let start = usize::from(bracketed);
        let end = start + host.len();
        let after = text.get(end..)?;
        let ends = match bracketed {
            true => after.starts_with(']'),
            false => after.is_empty() || after.starts_with(':'),
        };
        let (Ok(from), Ok(to)) = (u16::try_from(start), u16::try_from(end)) else {
            return None;
        };
        (ends && text.get(start..end) == Some(host))
            .then(|| Text(Repr::Authority(authority.clone(), from, to)))
    }

    /// A URI's path and query.
    pub(super) fn path(pq: &PathAndQuery) -> Text {
        Text(Repr::Path(pq.clone()))
    }

    /// The host of `dest`.
    pub(super) fn dest_host(dest: Arc<Destination>) -> Text {
        Text(Repr::DestHost(dest))
    }

    pub(super) fn fixed(text: &'static str) -> Text {
        Text(Repr::Static(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Empty => "",
            Repr::Static(text) => text,
            Repr::Owned(text) => text,
            Repr::Authority(authority, start, end) => {
                let range = usize::from(*start)..usize::from(*end);
                authority.as_str().get(range).unwrap_or_default()
            }
            Repr::Path(pq) => pq.as_str(),
            Repr::DestHost(dest) => &dest.host,
        }
    }
}

/// The host `uri` names, an IPv6 address without its brackets.
pub(super) fn host_of(uri: &Uri) -> &str {
    let host = uri.host().unwrap_or_default();
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Text(Repr::Owned(text))
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Text(Repr::Owned(text.to_owned()))
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_read_from_the_uri_only_where_the_uri_spells_it_so() {
        let v6: Uri = "http://[::1]:8080/a?b=1".parse().unwrap();
        assert_eq!(Text::host_in(&v6, "::1").unwrap(), "::1");
        assert_eq!(Text::path(v6.path_and_query().unwrap()), "/a?b=1");
        let v4: Uri = "http://10.0.0.1:80/".parse().unwrap();
        assert_eq!(Text::host_in(&v4, "10.0.0.1").unwrap().as_str(), "10.0.0.1");
        assert!(Text::host_in(&v4, "10.0.0.10").is_none());
        assert!(Text::host_in(&v4, "10.0.0").is_none());
        let upper: Uri = "http://Example.test/".parse().unwrap();
        assert!(Text::host_in(&upper, "example.test").is_none());
        let user: Uri = "http://a@b.test/".parse().unwrap();
        assert!(Text::host_in(&user, "b.test").is_none());
        let origin_form: Uri = "/x".parse().unwrap();
        assert!(Text::host_in(&origin_form, "x").is_none());
        assert_eq!(host_of(&"http://[::2]/".parse().unwrap()), "::2");
    }
}
