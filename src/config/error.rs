//! Config errors that point at the file, line, column and key.

use std::fmt;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

/// A step in the path to a key: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A key in a table.
    Key(String),
    /// An index in an array.
    Index(usize),
}

/// The path to a value in the config, e.g. `host[2].route[0].auth`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    /// The path with one more key.
    pub fn key(&self, key: &str) -> KeyPath {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_owned()));
        next
    }

    /// The path with one more array index.
    pub fn index(&self, index: usize) -> KeyPath {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// Appends the path that serde reported inside this value.
    pub fn join_serde(&self, inner: &serde_path_to_error::Path) -> KeyPath {
        let mut next = self.clone();
        for seg in inner.iter() {
            match seg {
                serde_path_to_error::Segment::Map { key } => next.0.push(Segment::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => next.0.push(Segment::Index(*index)),
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        next
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Why a config could not be loaded. Displays as `file:line:col: key: message`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The config file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A value is wrong; the location points at it.
    #[error("{}", display_invalid(file, *line, *column, key, message))]
    Invalid {
        /// The config file.
        file: PathBuf,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
        /// The key path, e.g. `auth.prod.region`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn display_invalid(
    file: &std::path::Path,
    line: usize,
    column: usize,
    key: &str,
    message: &str,
) -> String {
    let mut out = file.display().to_string();
    if line > 0 {
        out.push_str(&format!(":{line}:{column}"));
    }
    if !key.is_empty() {
        out.push_str(&format!(": {key}"));
    }
    out.push_str(": ");
    out.push_str(message);
    out
}

/// Finds where keys are in the source, to turn key paths into line and column.
pub struct Locator<'a> {
    file: PathBuf,
    source: &'a str,
    tree: Option<DeTable<'a>>,
}

impl<'a> Locator<'a> {
    /// Parses `source` for spans. Syntax errors are reported by the caller's first parse.
    pub fn new(file: PathBuf, source: &'a str) -> Self {
        let tree = DeTable::parse(source).ok().map(|t| t.into_inner());
        Locator { file, source, tree }
    }

    /// An error at `path` (the deepest part of it found in the source).
    pub fn error(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        let (line, column) = self
            .span_of(path)
            .map(|offset| line_column(self.source, offset))
            .unwrap_or((0, 0));
        ConfigError::Invalid {
            file: self.file.clone(),
            line,
            column,
            key: path.to_string(),
            message: message.into(),
        }
    }

    /// An error at a byte offset in the source (syntax errors).
    pub fn error_at(&self, offset: Option<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = offset
            .map(|o| line_column(self.source, o))
            .unwrap_or((0, 0));
        ConfigError::Invalid {
            file: self.file.clone(),
            line,
            column,
            key: String::new(),
            message: message.into(),
        }
    }

    /// The byte offset of the value at `path`, or of its deepest ancestor that exists in the
    /// source. For a key, the offset of the key itself.
    fn span_of(&self, path: &KeyPath) -> Option<usize> {
        let mut table = self.tree.as_ref()?;
        let mut array: Option<&toml::de::DeArray<'_>> = None;
        let mut found = None;
        for seg in &path.0 {
            let value = match (seg, array) {
                (Segment::Index(i), Some(arr)) => match arr.get(*i) {
                    Some(v) => {
                        found = Some(v.span().start);
                        v
                    }
                    None => break,
                },
                (Segment::Key(k), None) => match table.get_key_value(k.as_str()) {
                    Some((key, v)) => {
                        found = Some(key.span().start);
                        v
                    }
                    None => break,
                },
                _ => break,
            };
            array = None;
            match value.get_ref() {
                DeValue::Table(t) => table = t,
                DeValue::Array(a) => array = Some(a),
                _ => {}
            }
        }
        found
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_column("a\nbc", 3), (2, 2));
        assert_eq!(line_column("abc", 0), (1, 1));
    }

    #[test]
    fn finds_key_inside_array_of_tables() {
        let src = "[proxy]\nlisten = \"x\"\n\n[[host]]\nmatch = [\"a\"]\n\n[[host]]\nmatch = [\"b\"]\nauth = 3\n";
        let loc = Locator::new("c.toml".into(), src);
        let path = KeyPath::default().key("host").index(1).key("auth");
        let err = loc.error(&path, "bad");
        assert_eq!(err.to_string(), "c.toml:9:1: host[1].auth: bad");
    }
}
