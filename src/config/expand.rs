//! `${VAR}`, `${VAR:-default}` and `${file:PATH}` placeholders in config strings.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

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

/// Fills every placeholder in `input`. `lookup` reads an environment variable; relative
/// `${file:…}` paths are resolved against `base_dir` (the config's directory). `$${` is a literal `${`.
pub fn expand(
    input: &str,
    base_dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
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
            out.push_str(&fill(&tail[..end], base_dir, lookup)?);
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
) -> Result<String, ExpandError> {
    if let Some(path) = inner.strip_prefix("file:") {
        let resolved = base_dir.join(path);
        let text = std::fs::read_to_string(&resolved).map_err(|e| ExpandError::File {
            path: resolved.display().to_string(),
            reason: e.to_string(),
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
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
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(ExpandError::MissingVariable(name.to_owned())),
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
