//! The Netscape `cookies.txt` format that curl (`-c`/`-b`), wget and browser export extensions
//! read and write: one cookie a line, seven tab-separated fields, `#` comments, and the
//! `#HttpOnly_` prefix on the domain of an HttpOnly cookie. Hand-written: the format is seven
//! fields and no maintained crate covers the `#HttpOnly_` convention.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::jar::Entry;

/// A line that is not a cookie.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct NetscapeError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a cookies.txt; `created` is the file order.
pub fn parse(text: &str) -> Result<Vec<Entry>, NetscapeError> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let err = |reason: &str| NetscapeError {
            line: i + 1,
            reason: reason.to_owned(),
        };
        let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        if line.trim().is_empty() || (!http_only && line.starts_with('#')) {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        // Some writers drop the trailing tab of an empty value.
        let (domain, subdomains, path, secure, expires, name, value) = match fields[..] {
            [d, s, p, sec, e, n, v] => (d, s, p, sec, e, n, v),
            [d, s, p, sec, e, n] => (d, s, p, sec, e, n, ""),
            _ => {
                return Err(err(&format!(
                    "expected 7 tab-separated fields, found {}",
                    fields.len()
                )));
            }
        };
        let flag = |value: &str, what: &str| match value.to_ascii_uppercase().as_str() {
            "TRUE" => Ok(true),
            "FALSE" => Ok(false),
            _ => Err(err(&format!("{what} must be TRUE or FALSE, not {value:?}"))),
        };
        let include_subdomains = flag(subdomains, "the subdomain flag")?;
        let secure = flag(secure, "the secure flag")?;
        // Some exporters write fractional seconds.
        let expires: i64 = match expires.trim().parse::<i64>() {
            Ok(n) => n,
            Err(_) => expires
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| f as i64)
                .ok_or_else(|| err(&format!("expiry {expires:?} is not a number")))?,
        };
        let domain = domain.trim().to_ascii_lowercase();
        let bare = domain.trim_start_matches('.');
        if bare.is_empty() || name.is_empty() {
            return Err(err("empty domain or name"));
        }
        let path = if path.starts_with('/') { path } else { "/" };
        entries.push(Entry {
            domain: bare.to_owned(),
            // A leading dot means a domain cookie even when the flag says otherwise.
            host_only: !include_subdomains && !domain.starts_with('.'),
            path: path.to_owned(),
            secure,
            http_only,
            same_site: None,
            expires: (expires != 0).then_some(expires),
            name: name.to_owned(),
            value: value.to_owned(),
            created: entries.len() as u64,
        });
    }
    Ok(entries)
}

/// Writes cookies in the format curl writes with `-c`.
pub fn write(entries: &[Entry]) -> String {
    let mut out = String::from(
        "# Netscape HTTP Cookie File\n# Written by signet (`signet cookies export`).\n\n",
    );
    for e in entries {
        let prefix = if e.http_only { "#HttpOnly_" } else { "" };
        let domain = if e.host_only {
            e.domain.clone()
        } else {
            format!(".{}", e.domain)
        };
        let flag = |b: bool| if b { "TRUE" } else { "FALSE" };
        out.push_str(&format!(
            "{prefix}{domain}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            flag(!e.host_only),
            e.path,
            flag(e.secure),
            e.expires.unwrap_or(0),
            e.name,
            e.value
        ));
    }
    out
}
