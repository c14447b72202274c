//! `${VAR}`, `${VAR:-default}` and `${file:PATH}` placeholders in config strings.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::error::{KeyPath, Locator};

/// Why a placeholder could not be filled. The message names the variable or file, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `${VAR}` with VAR unset and no default.
    #[error("environment variable {0} is not set (and no default is given with ${{{0}:-default}})")]
    MissingVariable(String),
    /// `${file:PATH}` could not be read.
    #[error("cannot read secret file {path}: {reason}")]
    File {
        /// The file as resolved.
        path: String,
        /// The I/O error text.
        reason: String,
    },
    /// A `${` without its `}`, or an empty name.
    #[error(
        "malformed placeholder {0:?} (expected ${{VAR}}, ${{VAR:-default}} or ${{file:PATH}}; write $${{ for a literal ${{)"
    )]
    Malformed(String),
}

/// Where the text of a config value came from, for `explain`: never the text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// Written out in the config.
    Written,
    /// `${VAR}` or `${VAR:-…}`, with VAR set.
    Env(String),
    /// `${VAR:-…}` with VAR unset: the default written in the config.
    Default(String),
    /// `${file:PATH}`, as resolved.
    File(PathBuf),
}

impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueSource::Written => f.write_str("written in the config"),
            ValueSource::Env(name) => write!(f, "env {name}"),
            ValueSource::Default(name) => {
                write!(f, "default used (env {name} is not set)")
            }
            ValueSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// Fills every placeholder in `input`. `lookup` reads an environment variable; relative
/// `${file:…}` paths are resolved against `base_dir` (the config's directory). `$${` is a literal `${`.
pub fn expand(
    input: &str,
    base_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    expand_noting_defaults(input, base_dir, lookup, &mut Vec::new())
}

/// As [`expand`], and pushes onto `defaulted` the name of every variable whose
/// `${VAR:-default}` default was used because it is unset.
pub fn expand_noting_defaults(
    input: &str,
    base_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    defaulted: &mut Vec<String>,
) -> Result<String, ExpandError> {
    let mut sources = Vec::new();
    let out = expand_noting_sources(input, base_dir, lookup, &mut sources)?;
    defaulted.extend(sources.into_iter().filter_map(|s| match s {
        ValueSource::Default(name) => Some(name),
        _ => None,
    }));
    Ok(out)
}

/// As [`expand`], and pushes onto `sources` where each placeholder's text came from, in order.
pub fn expand_noting_sources(
    input: &str,
    base_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    sources: &mut Vec<ValueSource>,
) -> Result<String, ExpandError> {
    if !input.contains('$') {
        return Ok(input.to_owned());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| ExpandError::Malformed(after.to_owned()))?;
            out.push_str(&fill(&tail[..end], base_dir, lookup, sources)?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn fill(
    inner: &str,
    base_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    sources: &mut Vec<ValueSource>,
) -> Result<String, ExpandError> {
    if let Some(path) = inner.strip_prefix("file:") {
        let resolved = base_dir.join(path);
        let text = std::fs::read_to_string(&resolved).map_err(|e| ExpandError::File {
            path: resolved.display().to_string(),
            reason: e.to_string(),
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        sources.push(ValueSource::File(resolved));
        return Ok(text.strip_suffix('\r').unwrap_or(text).to_owned());
    }
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ExpandError::Malformed(format!("${{{inner}}}")));
    }
    match (lookup(name), default) {
        (Some(value), _) => {
            sources.push(ValueSource::Env(name.to_owned()));
            Ok(value)
        }
        (None, Some(default)) => {
            sources.push(ValueSource::Default(name.to_owned()));
            Ok(default.to_owned())
        }
        (None, None) => Err(ExpandError::MissingVariable(name.to_owned())),
    }
}

/// How placeholders are filled: the config's directory and environment, where each
/// `${VAR:-default}` default that was used is noted (key, variable), and where each placeholder
/// and each credential written out came from (key, source).
pub(super) struct Expansion<'a> {
    pub(super) base_dir: &'a Path,
    pub(super) lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(super) defaulted: Vec<(KeyPath, String)>,
    pub(super) sources: Vec<(KeyPath, ValueSource)>,
}

impl Expansion<'_> {
    /// Expands placeholders in every string value, so that errors can name the key.
    pub(super) fn table(
        &mut self,
        table: &mut toml::Table,
        path: &KeyPath,
        locator: &Locator<'_>,
    ) -> Result<(), ConfigError> {
        for (key, value) in table.iter_mut() {
            self.value(value, &path.key(key), locator)?;
        }
        Ok(())
    }

    pub(super) fn value(
        &mut self,
        value: &mut toml::Value,
        path: &KeyPath,
        locator: &Locator<'_>,
    ) -> Result<(), ConfigError> {
        match value {
            toml::Value::String(s) => {
                let mut sources = Vec::new();
                *s = expand_noting_sources(s, self.base_dir, self.lookup, &mut sources)
                    .map_err(|e| locator.error(path, e.to_string()))?;
                if sources.is_empty() && super::warnings::is_credential(path) {
                    sources.push(ValueSource::Written);
                }
                for source in sources {
                    if let ValueSource::Default(var) = &source {
                        self.defaulted.push((path.clone(), var.clone()));
                    }
                    self.sources.push((path.clone(), source));
                }
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, &path.index(i), locator)?;
                }
            }
            toml::Value::Table(t) => self.table(t, path, locator)?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "t0k".to_owned())
    }

    #[test]
    fn variable_default_and_literal() {
        let dir = Path::new(".");
        assert_eq!(expand("a${TOKEN}b", dir, &env).unwrap(), "at0kb");
        assert_eq!(expand("${NOPE:-dflt}", dir, &env).unwrap(), "dflt");
        assert_eq!(expand("${TOKEN:-dflt}", dir, &env).unwrap(), "t0k");
        assert_eq!(
            expand("$${TOKEN} costs $5", dir, &env).unwrap(),
            "${TOKEN} costs $5"
        );
    }

    #[test]
    fn defaults_in_use_are_noted_by_variable_name() {
        let mut defaulted = Vec::new();
        let out = expand_noting_defaults(
            "${TOKEN:-a}/${NOPE:-b}/${ALSO_NOPE:-}",
            Path::new("."),
            &env,
            &mut defaulted,
        )
        .unwrap();
        assert_eq!(out, "t0k/b/");
        assert_eq!(defaulted, ["NOPE", "ALSO_NOPE"]);
    }

    #[test]
    fn sources_name_each_placeholder_in_order() {
        let dir = std::env::temp_dir().join(format!("signet-sources-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("k.txt"), "key").unwrap();
        let mut sources = Vec::new();
        let out = expand_noting_sources(
            "${TOKEN}:${NOPE:-d}:${file:k.txt}",
            &dir,
            &env,
            &mut sources,
        )
        .unwrap();
        assert_eq!(out, "t0k:d:key");
        assert_eq!(
            sources,
            [
                ValueSource::Env("TOKEN".into()),
                ValueSource::Default("NOPE".into()),
                ValueSource::File(dir.join("k.txt")),
            ]
        );
        assert_eq!(sources[0].to_string(), "env TOKEN");
        assert_eq!(sources[1].to_string(), "default used (env NOPE is not set)");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_variable_is_named() {
        let err = expand("${AWS_SECRET}", Path::new("."), &env).unwrap_err();
        assert_eq!(err, ExpandError::MissingVariable("AWS_SECRET".into()));
        assert!(err.to_string().contains("AWS_SECRET"));
    }

    #[test]
    fn file_placeholder_strips_one_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("signet-expand-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret.txt"), "s3cret\n").unwrap();
        assert_eq!(expand("${file:secret.txt}", &dir, &env).unwrap(), "s3cret");
        let err = expand("${file:absent.txt}", &dir, &env).unwrap_err();
        assert!(matches!(err, ExpandError::File { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unterminated_placeholder_is_an_error() {
        assert!(matches!(
            expand("${TOKEN", Path::new("."), &env),
            Err(ExpandError::Malformed(_))
        ));
    }
}
