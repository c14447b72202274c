//! The admin endpoint's `/`: what signet is doing, for a person, as plain server-rendered HTML.
//! Every value is escaped; no script runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use super::recent::RecentRequest;
use crate::config::Intercept;
use crate::policy::{Policy, TokenState};
use crate::rules::{RuleLabel, UrlScheme};

/// What the page shows, gathered at request time.
pub(super) struct Page<'a> {
    pub policy: &'a Policy,
    pub ca_fingerprint: &'a str,
    pub proxy: String,
    pub tokens: Vec<TokenState>,
    /// Cookies in the jar per domain; `None` when no rule uses cookies.
    pub cookie_hosts: Option<BTreeMap<String, usize>>,
    pub recent: Vec<RecentRequest>,
    pub now: SystemTime,
}

impl Page<'_> {
    pub(super) fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        out.push_str(HEAD);
        let _ = write!(
            out,
            "<h1>signet</h1>\n<p id=\"proxy\">proxy <code>http://{}</code> · \
             <a href=\"/metrics\">/metrics</a> · <a href=\"/proxy.pac\">/proxy.pac</a> · \
             <a href=\"/healthz\">/healthz</a></p>\n",
            esc(&self.proxy)
        );
        let _ = writeln!(
            out,
            "<section id=\"ca\"><h2>CA</h2><p>SHA-256 <code id=\"ca-fingerprint\">{}</code> \
             <a id=\"ca-download\" href=\"/ca.crt\" download=\"signet-ca.crt\">download \
             signet-ca.crt</a></p></section>",
            esc(self.ca_fingerprint)
        );
        self.rules(&mut out);
        self.tokens(&mut out);
        self.cookies(&mut out);
        self.recent(&mut out);
        out.push_str("</body>\n</html>\n");
        out
    }

    fn rules(&self, out: &mut String) {
        out.push_str(
            "<section id=\"rules\"><h2>Rules</h2>\n<table>\n<tr><th>rule</th><th>match</th>\
             <th>auth</th><th>routes</th><th>HTTPS</th></tr>\n",
        );
        for rule in self.policy.table.rules() {
            let patterns: Vec<&str> = rule.patterns.iter().map(|p| p.as_str()).collect();
            let auth = rule.auth.as_ref().map_or("none", |s| s.type_name());
            let plain_only = rule
                .patterns
                .iter()
                .all(|p| p.required_scheme() == Some(UrlScheme::Http));
            let https = match (plain_only, self.policy.intercept) {
                (true, _) => "plain HTTP only",
                (false, Intercept::None) => "tunnel",
                (false, Intercept::Rules | Intercept::All) => "intercept",
            };
            let _ = writeln!(
                out,
                "<tr class=\"rule\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&RuleLabel::of(Some(rule)).to_string()),
                esc(&patterns.join(", ")),
                esc(auth),
                rule.routes.len(),
                https
            );
        }
        out.push_str("</table>\n");
        if self.policy.table.rules().is_empty() {
            out.push_str("<p>No rules: every request goes untouched.</p>\n");
        }
        out.push_str("</section>\n");
    }

    fn tokens(&self, out: &mut String) {
        out.push_str(
            "<section id=\"tokens\"><h2>OAuth 2.0 tokens</h2>\n<table>\n<tr><th>profile</th>\
             <th>grant</th><th>state</th><th>expires</th><th>scopes</th><th>refresh token</th>\
             <th>last stored</th></tr>\n",
        );
        for t in &self.tokens {
            let state = match (&t.error, t.has_token, t.rejected) {
                (Some(e), _, _) => format!("store unreadable: {e}"),
                (None, false, _) => "no token yet".to_owned(),
                (None, true, true) => "rejected by the API".to_owned(),
                (None, true, false) => "held".to_owned(),
            };
            let expires = match t.expires_at {
                None if t.has_token => "not stated".to_owned(),
                None => String::new(),
                Some(at) if at <= self.now => format!("expired {}", rfc3339(at)),
                Some(at) => rfc3339(at),
            };
            let _ = writeln!(
                out,
                "<tr class=\"token\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td></tr>",
                esc(&t.name),
                esc(t.grant),
                esc(&state),
                esc(&expires),
                esc(&t.scopes.join(" ")),
                if t.refresh_token { "yes" } else { "no" },
                t.stored_at.map(rfc3339).unwrap_or_default()
            );
        }
        out.push_str("</table>\n</section>\n");
    }

    fn cookies(&self, out: &mut String) {
        out.push_str("<section id=\"cookies\"><h2>Cookie jar</h2>\n");
        match &self.cookie_hosts {
            None => out.push_str("<p>No rule uses cookies.</p>\n"),
            Some(hosts) => {
                out.push_str("<table>\n<tr><th>domain</th><th>cookies</th></tr>\n");
                for (host, count) in hosts {
                    let _ = writeln!(
                        out,
                        "<tr class=\"cookie-host\"><td>{}</td><td>{count}</td></tr>",
                        esc(host)
                    );
                }
                out.push_str("</table>\n");
            }
        }
        out.push_str("</section>\n");
    }

    fn recent(&self, out: &mut String) {
        out.push_str(
            "<section id=\"recent\"><h2>Recent requests</h2>\n<table>\n<tr><th>time</th>\
             <th>client</th><th>method</th><th>host</th><th>path</th><th>rule</th>\
             <th>status</th><th>what signet did</th></tr>\n",
        );
        for r in &self.recent {
            let _ = writeln!(
                out,
                "<tr class=\"request\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td></tr>",
                rfc3339(r.time),
                esc(&r.client),
                esc(&r.method),
                esc(&r.host),
                esc(&r.path),
                esc(&r.rule),
                r.status,
                esc(&r.action)
            );
        }
        out.push_str("</table>\n");
        if self.recent.is_empty() {
            out.push_str("<p>None yet.</p>\n");
        }
        out.push_str("</section>\n");
    }
}

const HEAD: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>signet</title>\n<style>\nbody{font-family:sans-serif;margin:1.5em;color:#222}\n\
table{border-collapse:collapse;margin-bottom:1em}\n\
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;font-size:90%}\n\
th{background:#eee}\ncode{font-size:90%}\n</style>\n</head>\n<body>\n";

/// `text` safe inside an HTML element or a quoted attribute.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `at` as RFC 3339 in UTC, to the second.
fn rfc3339(at: SystemTime) -> String {
    let t = time::OffsetDateTime::from(at);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            esc("<script>alert('x\"&')</script>"),
            "&lt;script&gt;alert(&#39;x&quot;&amp;&#39;)&lt;/script&gt;"
        );
    }
}
