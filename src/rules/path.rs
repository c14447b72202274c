//! Request paths: normalisation and route `path` globs.
//!
//! Matching is on the path only (the query is ignored), case-sensitive, and on the
//! percent-encoded form as sent, after [`normalize_path`] has brought it to one canonical
//! spelling (RFC 3986 §6.2.2): escapes of unreserved characters decoded (`%61` is `a`, `%2E` is
//! `.`), other escapes in upper-case hex, and dot-segments resolved (§5.2.4). So
//! `/public/../admin` and `/public/%2e%2e/admin` are matched as `/admin`, which is what the
//! upstream serves. An encoded slash or backslash (`%2F`, `%5C`) stays data inside its segment,
//! as RFC 3986 says and as APIs such as `/projects/group%2Fname` rely on; but a segment in which
//! it borders a dot-segment (`..%2F`) is refused, since upstreams that decode it would climb
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! directories where signet saw none. Repeated slashes are kept as they are (empty segments).

use std::borrow::Cow;

use super::RuleError;

/// A path glob: `*` matches within one segment (no '/'), `**` any number of segments (including
/// zero), everything else literal. "/public/**" matches "/public", "/public/", "/public/a/b".
#[derive(Debug, Clone)]
pub struct PathGlob {
    raw: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
enum Segment {
    /// `**`: any number of whole segments.
    AnyDepth,
    /// A segment without `*`, in normal form.
    Literal(String),
    /// A segment with `*`: the literal pieces between the stars (at least two).
    Wild(Vec<String>),
}

impl PathGlob {
    /// Parses a glob; it must start with '/', hold no query, and use `**` only as a whole
    /// segment. Literal parts are brought to the same normal form as request paths, so
    /// `/b%c3%bccher` and `/bücher` are the same glob.
    pub fn parse(glob: &str) -> Result<Self, RuleError> {
        let err = |reason| RuleError::InvalidPathGlob {
            glob: glob.to_owned(),
            reason,
        };
        let rest = glob
            .strip_prefix('/')
            .ok_or_else(|| err("must start with '/'"))?;
        if glob.contains(['?', '#']) {
            return Err(err(
                "a glob matches the path only, without query or fragment",
            ));
        }
        let mut segments = Vec::new();
        for seg in rest.split('/') {
            if seg == "**" {
                // Consecutive `**` mean the same as one and would only cost backtracking.
                if !matches!(segments.last(), Some(Segment::AnyDepth)) {
                    segments.push(Segment::AnyDepth);
                }
            } else if seg.contains("**") {
                return Err(err("'**' must be a whole segment"));
            } else if seg.contains('*') {
                segments.push(Segment::Wild(seg.split('*').map(normal_literal).collect()));
            } else {
                let lit = normal_literal(seg);
                if is_dot_segment(&lit) {
                    return Err(err("'.' and '..' segments never reach the matcher"));
                }
                segments.push(Segment::Literal(lit));
            }
        }
        Ok(PathGlob {
            raw: glob.to_owned(),
            segments,
        })
    }

    /// Whether `path` (as returned by [`normalize_path`]; a query is ignored) fits the glob.
    /// A path not in normal form never matches, so skipping normalisation fails closed.
    pub fn matches(&self, path: &str) -> bool {
        let path = strip_query(path);
        if !is_normal(path) {
            return false;
        }
        glob_match(&self.segments, &path[1..])
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

/// Brings a request path (a query or fragment is dropped) to the normal form [`PathGlob`]
/// matches on; borrows when it already is. An empty path is `/`. Errors for paths that do not
/// start with '/', for encoded separators next to dot-segments, and for a '%' starting no
/// escape that decoding would join into one (`%1%62`).
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, RuleError> {
    let path = strip_query(path);
    if path.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    if !path.starts_with('/') {
        return Err(RuleError::AmbiguousPath {
            reason: "does not start with '/'",
        });
    }
    if is_normal(path) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = normal_escapes(path);
    if escapes(&decoded) != kept_escapes(path) {
        return Err(RuleError::AmbiguousPath {
            reason: "a '%' that starts no escape forms one with a decoded character (as in \
                     \"%1%62\", read as \"%1b\"): the upstream may read it either way",
        });
    }
    if decoded[1..].split('/').any(hides_dot_segment) {
        return Err(RuleError::AmbiguousPath {
            reason: "an encoded '/' or '\\' next to a dot-segment (as in \"..%2F\") may climb \
                     directories upstream",
        });
    }
    Ok(Cow::Owned(remove_dot_segments(&decoded[1..])))
}

fn strip_query(path: &str) -> &str {
    match path.find(['?', '#']) {
        Some(i) => &path[..i],
        None => path,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn is_dot_segment(seg: &str) -> bool {
    seg == "." || seg == ".."
}

/// Whether a segment holds an encoded or raw backslash/slash that borders a dot-segment once an
/// upstream splits on it; allocation-free.
fn hides_dot_segment(seg: &str) -> bool {
    let b = seg.as_bytes();
    let (mut piece_start, mut i, mut split) = (0, 0, false);
    let mut dot_piece = false;
    while i <= b.len() {
        let sep_len = match b.get(i..i + 3) {
            _ if i == b.len() => 1,
            Some(e) if e.eq_ignore_ascii_case(b"%2F") || e.eq_ignore_ascii_case(b"%5C") => 3,
            _ if b.get(i) == Some(&b'\\') => 1,
            _ => 0,
        };
        if sep_len == 0 {
            i += 1;
            continue;
        }
        split |= i < b.len();
        dot_piece |= matches!(b.get(piece_start..i), Some(b"." | b".."));
        i += sep_len;
        piece_start = i;
    }
    split && dot_piece
}

/// Whether `path` is already what [`normalize_path`] would return; allocation-free.
fn is_normal(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let bytes = rest.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'%' {
            continue;
        }
        let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
            continue;
        };
        let (Some(hv), Some(lv)) = (hex_val(h), hex_val(l)) else {
            continue;
        };
        if is_unreserved(hv << 4 | lv) || h.is_ascii_lowercase() || l.is_ascii_lowercase() {
            return false;
        }
    }
    !rest
        .split('/')
        .any(|seg| is_dot_segment(seg) || hides_dot_segment(seg))
}

/// Decodes escapes of unreserved characters and upper-cases the hex of the others; a '%' not
/// followed by two hex digits is left alone.
fn normal_escapes(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(hv), Some(lv)) = (hex_val(h), hex_val(l))
        {
            let v = hv << 4 | lv;
            if is_unreserved(v) {
                out.push(v);
            } else {
                out.extend_from_slice(&[b'%', h.to_ascii_uppercase(), l.to_ascii_uppercase()]);
            }
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    // Only ASCII escapes were rewritten into ASCII; the rest was copied byte for byte.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// How many `%HH` escapes `s` holds, read left to right as [`normal_escapes`] reads them.
fn escapes(s: &str) -> usize {
    escape_values(s).count()
}

/// How many escapes of `s` [`normal_escapes`] keeps as escapes (those of reserved characters).
fn kept_escapes(s: &str) -> usize {
    escape_values(s).filter(|v| !is_unreserved(*v)).count()
}

fn escape_values(s: &str) -> impl Iterator<Item = u8> + '_ {
    let bytes = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while let Some(&b) = bytes.get(i) {
            if b == b'%'
                && let (Some(hv), Some(lv)) = (
                    bytes.get(i + 1).copied().and_then(hex_val),
                    bytes.get(i + 2).copied().and_then(hex_val),
                )
            {
                i += 3;
                return Some(hv << 4 | lv);
            }
            i += 1;
        }
        None
    })
}

/// A glob literal in request-path normal form: escapes as in [`normal_escapes`], and characters
/// that cannot appear raw in a request target (non-ASCII, space, quotes, ...) percent-encoded.
fn normal_literal(s: &str) -> String {
    let escaped = normal_escapes(s);
    let mut out = String::with_capacity(escaped.len());
    for &b in escaped.as_bytes() {
        let raw_ok = is_unreserved(b)
            || matches!(
                b,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'%'
            );
        if raw_ok {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RFC 3986 §5.2.4 on a path given without its leading '/'; the result starts with '/'.
fn remove_dot_segments(rest: &str) -> String {
    let segs: Vec<&str> = rest.split('/').collect();
    let mut out: Vec<&str> = Vec::with_capacity(segs.len());
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
        // "/a/b/.." and "/a/." name the directory: keep the trailing slash.
        if last && is_dot_segment(seg) {
            out.push("");
        }
    }
    let mut path = String::with_capacity(rest.len() + 1);
    path.push('/');
    path.push_str(&out.join("/"));
    path
}

/// Segment-level wildcard matching with one backtrack point for the latest `**`, which is
/// exact for a single kind of star. `rest` is the path without its leading '/'.
fn glob_match(glob: &[Segment], rest: &str) -> bool {
    // Positions are byte offsets into `rest`; `end` means every segment has been consumed.
    let end = rest.len() + 1;
    let segment_at = |pos: usize| -> (&str, usize) {
        match rest[pos..].find('/') {
            Some(i) => (&rest[pos..pos + i], pos + i + 1),
            None => (&rest[pos..], end),
        }
    };
    let (mut gi, mut pos) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(g) = glob.get(gi) {
            if let Segment::AnyDepth = g {
                star = Some((gi + 1, pos));
                gi += 1;
                continue;
            }
            if pos < end {
                let (seg, next) = segment_at(pos);
                if segment_matches(g, seg) {
                    gi += 1;
                    pos = next;
                    continue;
                }
            }
        } else if pos >= end {
            return true;
        }
        match star {
            Some((sg, sp)) if sp < end => {
                let (_, next) = segment_at(sp);
                star = Some((sg, next));
                gi = sg;
                pos = next;
            }
            _ => return false,
        }
    }
}

fn segment_matches(g: &Segment, seg: &str) -> bool {
    match g {
        Segment::AnyDepth => true,
        Segment::Literal(lit) => lit == seg,
        Segment::Wild(parts) => {
            let (Some((first, rest)), Some(last)) = (parts.split_first(), parts.last()) else {
                return false;
            };
            let middle = rest.split_last().map_or(&[][..], |(_, middle)| middle);
            if seg.len() < first.len() + last.len()
                || !seg.starts_with(first.as_str())
                || !seg.ends_with(last.as_str())
            {
                return false;
            }
            let mut hay = &seg[first.len()..seg.len() - last.len()];
            for piece in middle {
                match hay.find(piece.as_str()) {
                    Some(i) => hay = &hay[i + piece.len()..],
                    None => return false,
                }
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(g: &str) -> PathGlob {
        PathGlob::parse(g).unwrap_or_else(|e| panic!("{g}: {e}"))
    }

    fn norm(p: &str) -> String {
        normalize_path(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .into_owned()
    }

    /// Normalises, then matches, as a request goes through signet.
    fn hit(g: &str, p: &str) -> bool {
        glob(g).matches(&norm(p))
    }

    #[test]
    fn trailing_double_star_matches_prefix_itself_and_below() {
        for p in ["/public", "/public/", "/public/a", "/public/a/b/c"] {
            assert!(hit("/public/**", p), "{p}");
        }
        for p in ["/publicx", "/publi", "/", "/x/public/a"] {
            assert!(!hit("/public/**", p), "{p}");
        }
    }

    #[test]
    fn leading_double_star_matches_any_depth_before() {
        let g = "/**/secret.txt";
        for p in ["/secret.txt", "/a/secret.txt", "/a/b/c/secret.txt"] {
            assert!(hit(g, p), "{p}");
        }
        assert!(!hit(g, "/a/secret.txt/b"));
        assert!(!hit(g, "/a/xsecret.txt"));
    }

    #[test]
    fn middle_double_star_matches_zero_or_more_segments() {
        let g = "/api/**/items";
        for p in ["/api/items", "/api/v1/items", "/api/v1/x/y/items"] {
            assert!(hit(g, p), "{p}");
        }
        for p in ["/api/items/1", "/api", "/apiitems", "/v1/api/items"] {
            assert!(!hit(g, p), "{p}");
        }
        assert!(hit("/a/**/b/**/c", "/a/x/b/y/b/z/c"));
        assert!(!hit("/a/**/b/**/c", "/a/x/c/b"));
    }

    #[test]
    fn lone_double_star_matches_every_path() {
        for p in ["/", "/a", "/a/b/", "//x"] {
            assert!(hit("/**", p), "{p}");
        }
    }

    #[test]
    fn single_star_stays_within_one_segment() {
        assert!(hit("/users/*", "/users/42"));
        assert!(!hit("/users/*", "/users/42/posts"));
        assert!(!hit("/users/*", "/users"));
        assert!(hit("/users/*/posts", "/users/42/posts"));
        assert!(!hit("/users/*/posts", "/users/4/2/posts"));
    }

    #[test]
    fn star_inside_a_segment_matches_partial_names() {
        assert!(hit("/files/*.json", "/files/a.json"));
        assert!(hit("/files/*.json", "/files/.json"));
        assert!(!hit("/files/*.json", "/files/a.jsonx"));
        assert!(hit("/v*/items", "/v2/items"));
        assert!(hit("/a*b*c", "/abc"));
        assert!(hit("/a*b*c", "/axxbyybzc"));
        assert!(!hit("/a*b*c", "/acb"));
        assert!(!hit("/ab*ba", "/aba"));
    }

    #[test]
    fn matching_is_case_sensitive() {
        assert!(!hit("/Admin/**", "/admin/x"));
        assert!(hit("/Admin/**", "/Admin/x"));
    }

    #[test]
    fn query_is_ignored() {
        assert!(hit("/search", "/search?q=/admin/../x"));
        assert!(glob("/search").matches("/search?q=1"));
        assert!(hit("/public/**", "/public?x=1"));
    }

    #[test]
    fn dot_segments_are_resolved_before_matching() {
        assert!(!hit("/public/**", "/public/../admin"));
        assert!(hit("/admin/**", "/public/../admin"));
        assert!(hit("/admin/**", "/public/%2e%2e/admin/x"));
        assert!(hit("/admin/**", "/public/.%2E/admin/x"));
        assert!(hit("/a/b", "/a/./b"));
        assert!(hit("/", "/.."));
        assert!(hit("/admin/x", "/../../admin/x"));
    }

    #[test]
    fn remove_dot_segments_follows_rfc_3986_examples() {
        // RFC 3986 §5.2.4 and §5.4 results, given as absolute paths.
        assert_eq!(norm("/a/b/c/./../../g"), "/a/g");
        assert_eq!(norm("/b/c/./g"), "/b/c/g");
        assert_eq!(norm("/b/c/."), "/b/c/");
        assert_eq!(norm("/b/c/./"), "/b/c/");
        assert_eq!(norm("/b/c/.."), "/b/");
        assert_eq!(norm("/b/c/../g"), "/b/g");
        assert_eq!(norm("/b/c/../.."), "/");
        assert_eq!(norm("/b/c/../../../g"), "/g");
        assert_eq!(norm("/b/c/g/./h"), "/b/c/g/h");
        assert_eq!(norm("/b/c/g;x=1/../y"), "/b/c/y");
    }

    #[test]
    fn normal_paths_are_borrowed() {
        assert!(matches!(
            normalize_path("/a/b%2Fc?x"),
            Ok(Cow::Borrowed("/a/b%2Fc"))
        ));
        assert!(matches!(normalize_path(""), Ok(Cow::Borrowed("/"))));
    }

    #[test]
    fn escapes_of_unreserved_characters_are_decoded() {
        assert_eq!(norm("/%61dmin/%7Euser"), "/admin/~user");
        assert!(hit("/admin/**", "/%61dmin/x"));
        assert_eq!(norm("/b%c3%bccher"), "/b%C3%BCcher");
        assert_eq!(norm("/100%"), "/100%");
        assert_eq!(norm("/%zz"), "/%zz");
    }

    #[test]
    fn a_stray_percent_never_forms_an_escape_with_a_decoded_character() {
        // Found by the request_head fuzz target: "%1%62" decoded to "%1b", which is not in
        // normal form (normalising again gave "%1B"), so no route glob could match it.
        for p in [
            "/%1%62",
            "/~user/4%1%62",
            "/%%414",
            "/a/%1%31",
            "/%4%31dmin",
            "/x%2%46y",
        ] {
            let e = normalize_path(p).expect_err(p);
            assert!(matches!(e, RuleError::AmbiguousPath { .. }), "{p}");
            assert!(!glob("/**").matches(p), "{p}");
        }
        // A stray '%' next to escapes that stay escapes, or to nothing hex, is still data.
        assert_eq!(norm("/%1%C3%BC"), "/%1%C3%BC");
        assert_eq!(norm("/%1%7E"), "/%1~");
        assert_eq!(norm("/100%/%61"), "/100%/a");
        for p in ["/100%", "/%zz", "/%1%C3%BC", "/%1%7E", "/100%/%61", "/%%41"] {
            let once = norm(p);
            assert_eq!(norm(&once), once, "{p}");
            assert!(glob("/**").matches(&once), "{p}");
        }
    }

    #[test]
    fn glob_literals_use_the_same_normal_form() {
        assert!(hit("/bücher/**", "/b%C3%BCcher/x"));
        assert!(hit("/b%c3%bccher", "/b%c3%bccher"));
        assert!(hit("/%61dmin", "/admin"));
        assert!(hit("/a b", "/a%20b"));
    }

    #[test]
    fn encoded_slash_is_data_within_a_segment() {
        assert!(hit("/projects/*", "/projects/group%2Fname"));
        assert!(hit("/projects/*", "/projects/group%2fname"));
        assert!(!hit("/projects/*/*", "/projects/group%2Fname"));
        assert!(hit(
            "/projects/group%2Fname/**",
            "/projects/group%2fname/issues"
        ));
    }

    #[test]
    fn encoded_separator_next_to_dot_segment_is_refused() {
        for p in [
            "/public/..%2Fadmin",
            "/public/..%2fadmin",
            "/public/%2e%2e%2Fadmin",
            "/a/..%5Cb",
            "/a/..\\b",
            "/a/x%2F..",
            "/a/.%2Fb",
        ] {
            let e = normalize_path(p).expect_err(p);
            assert!(matches!(e, RuleError::AmbiguousPath { .. }), "{p}");
            assert!(!e.to_string().contains(p), "error must not echo the path");
            assert!(!glob("/public/**").matches(p), "{p}");
            assert!(!glob("/**").matches(p), "{p}");
        }
        assert_eq!(norm("/a/..x%2Fb"), "/a/..x%2Fb");
    }

    #[test]
    fn unnormalised_paths_never_match() {
        let g = glob("/public/**");
        assert!(!g.matches("/public/../admin"));
        assert!(!g.matches("/public/%2e%2e/admin"));
        assert!(!g.matches("/public/%61"));
        assert!(!g.matches("/public/%c3%bc"));
        assert!(!g.matches("public/a"));
        assert!(!g.matches(""));
    }

    #[test]
    fn empty_segments_are_kept() {
        assert_eq!(norm("//admin"), "//admin");
        assert!(!hit("/admin/**", "//admin/x"));
        assert!(hit("/**/admin/**", "//admin/x"));
    }

    #[test]
    fn path_must_start_with_slash() {
        assert!(normalize_path("admin").is_err());
        assert!(normalize_path("*").is_err());
    }

    #[test]
    fn rejects_bad_globs_naming_them() {
        for g in [
            "public/**",
            "",
            "/a/**b",
            "/***",
            "/a**/b",
            "/a?x=1",
            "/a#f",
            "/a/../b",
            "/./a",
        ] {
            let msg = PathGlob::parse(g).expect_err(g).to_string();
            assert!(msg.contains(&format!("{g:?}")), "{msg}");
        }
    }

    #[test]
    fn glob_keeps_its_text() {
        assert_eq!(glob("/A/**/*.json").as_str(), "/A/**/*.json");
    }
}
