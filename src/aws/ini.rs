//! The INI dialect of the AWS shared files, as botocore reads them (Python's `configparser` in
//! raw mode): `[section]` headers, `key = value` or `key: value` lines with keys lowercased and
//! both sides trimmed, whole-line comments starting with `#` or `;`, no inline comments, lines
//! indented under a key continuing its value, and a repeated section or key refused.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;
use std::path::{Path, PathBuf};

/// A line of a file that cannot be read as INI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {reason}", file.display())]
pub struct IniError {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1.
    pub line: usize,
    /// Why (never the line's text, which may hold a secret).
    pub reason: String,
}

/// One `key = value` of a section.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, lowercased.
    pub key: String,
    /// The value, trimmed; continuation lines joined with `\n`.
    pub value: String,
    /// The line of the key, from 1.
    pub line: usize,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {}) = ***", self.key, self.line)
    }
}

/// One `[name]` section and its entries, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The text between the brackets, trimmed.
    pub name: String,
    /// The line of the header, from 1.
    pub line: usize,
    /// The entries.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The entry of `key` (lowercase), if present.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// Parses `text`, the content of `file` (named in errors).
pub fn parse(file: &Path, text: &str) -> Result<Vec<Section>, IniError> {
    let error = |line: usize, reason: &str| IniError {
        file: file.to_owned(),
        line,
        reason: reason.to_owned(),
    };
    let mut sections: Vec<Section> = Vec::new();
    // The indentation of the last key line, while its value may continue.
    let mut open_key: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        let indent = raw.len() - raw.trim_start().len();
        if trimmed.is_empty() {
            open_key = None;
            continue;
        }
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let (Some(key_indent), Some(entry)) = (
            open_key,
            sections.last_mut().and_then(|s| s.entries.last_mut()),
        ) && indent > key_indent
        {
            entry.value.push('\n');
            entry.value.push_str(trimmed);
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let Some(end) = header.rfind(']') else {
                return Err(error(line, "a section header without its closing `]`"));
            };
            let name = header.get(..end).unwrap_or_default().trim();
            if name.is_empty() {
                return Err(error(line, "an empty section name"));
            }
            if let Some(first) = sections.iter().find(|s| s.name == name) {
                let reason = format!("section [{name}] again (first on line {})", first.line);
                return Err(error(line, &reason));
            }
            sections.push(Section {
                name: name.to_owned(),
                line,
                entries: Vec::new(),
            });
            open_key = None;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(error(line, "a key before any [section] header"));
        };
        let Some(at) = trimmed.find(['=', ':']) else {
            return Err(error(
                line,
                "neither a [section], a `key = value` nor a comment",
            ));
        };
        let key = trimmed.get(..at).unwrap_or_default().trim().to_lowercase();
        let value = trimmed.get(at + 1..).unwrap_or_default().trim();
        if key.is_empty() {
            return Err(error(line, "a value without a key"));
        }
        if let Some(first) = section.get(&key) {
            let reason = format!(
                "key {key} again in [{}] (first on line {})",
                section.name, first.line
            );
            return Err(error(line, &reason));
        }
        section.entries.push(Entry {
            key,
            value: value.to_owned(),
            line,
        });
        open_key = Some(indent);
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(text: &str) -> Vec<Section> {
        parse(Path::new("cfg"), text).unwrap()
    }

    fn value<'a>(s: &'a [Section], section: &str, key: &str) -> Option<&'a str> {
        let section = s.iter().find(|s| s.name == section)?;
        section.get(key).map(|e| e.value.as_str())
    }

    #[test]
    fn reads_keys_as_configparser_does() {
        let s = sections(
            "# comment\n; another\n[default]\nRegion = eu-west-1\naws_access_key_id=AKID\n\
             output : json\n[profile  dev ]\nrole_arn = arn:aws:iam::1:role/r # not a comment\n",
        );
        assert_eq!(value(&s, "default", "region"), Some("eu-west-1"));
        assert_eq!(value(&s, "default", "aws_access_key_id"), Some("AKID"));
        assert_eq!(value(&s, "default", "output"), Some("json"));
        assert_eq!(
            value(&s, "profile  dev", "role_arn"),
            Some("arn:aws:iam::1:role/r # not a comment")
        );
        assert_eq!(s[1].line, 7);
    }

    #[test]
    fn the_first_delimiter_splits_and_the_rest_stays_in_the_value() {
        let s = sections("[p]\ncredential_process = helper --url=http://x:1/a\n");
        assert_eq!(
            value(&s, "p", "credential_process"),
            Some("helper --url=http://x:1/a")
        );
    }

    #[test]
    fn indented_lines_continue_the_value() {
        let s = sections(
            "[p]\ns3 =\n  max_concurrent_requests = 10\n  addressing_style = path\nregion = us-west-2\n",
        );
        assert_eq!(
            value(&s, "p", "s3"),
            Some("\nmax_concurrent_requests = 10\naddressing_style = path")
        );
        assert_eq!(value(&s, "p", "region"), Some("us-west-2"));
    }

    #[test]
    fn bad_lines_name_file_and_line_but_not_their_text() {
        let err = parse(Path::new("/x/credentials"), "[a]\nk = v\nAKIDSECRETLINE\n").unwrap_err();
        assert_eq!(err.line, 3);
        let text = err.to_string();
        assert!(text.starts_with("/x/credentials:3: "), "{text}");
        assert!(!text.contains("AKIDSECRETLINE"), "{text}");
        assert_eq!(parse(Path::new("f"), "k = v\n").unwrap_err().line, 1);
        assert_eq!(parse(Path::new("f"), "[a\n").unwrap_err().line, 1);
    }

    #[test]
    fn repeated_sections_and_keys_are_refused() {
        let err = parse(Path::new("f"), "[a]\n[b]\n[a]\n").unwrap_err();
        assert_eq!((err.line, err.reason.contains("line 1")), (3, true));
        let err = parse(Path::new("f"), "[a]\nk = 1\nK = 2\n").unwrap_err();
        assert_eq!(err.line, 3);
    }

    #[test]
    fn debug_hides_values() {
        let s = sections("[a]\naws_secret_access_key = topsecret\n");
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}
