//! `[ca]` on its own, for the `signet ca` commands: they need where the CA lives, not the
//! credentials of the auth profiles, so an unset `${VAR}` elsewhere must not stop them.

use std::path::Path;

use super::error::{KeyPath, Locator};
use super::{CaConfig, ConfigError, Expansion, RawCa, base_dir, serde_error};

impl CaConfig {
    /// Reads `[ca]` of the config at `file` (paths resolved against its directory); the rest of
    /// the file must be TOML but is otherwise not looked at.
    pub fn load(file: &Path) -> Result<CaConfig, ConfigError> {
        let source = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        CaConfig::parse(file, &source, &|name| std::env::var(name).ok())
    }

    /// As [`CaConfig::load`], from config text that came from `file`, with `lookup` as the
    /// environment.
    pub fn parse(
        file: &Path,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CaConfig, ConfigError> {
        let base_dir = base_dir(file);
        let locator = Locator::new(file.to_owned(), source);
        let mut tree: toml::Table = toml::from_str(source)
            .map_err(|e| locator.error_at(e.span().map(|s| s.start), e.message().to_owned()))?;
        let path = KeyPath::default().key("ca");
        let raw = match tree.remove("ca") {
            None => RawCa::default(),
            Some(mut value) => {
                let mut expansion = Expansion {
                    base_dir: &base_dir,
                    lookup,
                    defaulted: Vec::new(),
                    sources: Vec::new(),
                };
                expansion.value(&mut value, &path, &locator)?;
                serde_path_to_error::deserialize(value)
                    .map_err(|e| serde_error(&locator, &path, e))?
            }
        };
        Ok(CaConfig {
            cert: base_dir.join(raw.cert),
            key: base_dir.join(raw.key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ca_paths_without_the_secrets_of_other_tables() {
        let src = "[ca]\ncert = \"${CA_DIR}/c.pem\"\n\n[auth.a]\ntype = \"bearer\"\ntoken = \"${UNSET_TOKEN}\"\n";
        let lookup = |name: &str| (name == "CA_DIR").then(|| "pki".to_owned());
        let ca = CaConfig::parse(Path::new("conf/signet.toml"), src, &lookup).unwrap();
        assert_eq!(ca.cert, Path::new("conf/pki/c.pem"));
        assert_eq!(ca.key, Path::new("conf/certs/ca.key"));
        // The full config does need the token.
        let full = super::super::Config::parse(Path::new("conf/signet.toml"), src.into(), &lookup);
        assert!(full.unwrap_err().to_string().contains("UNSET_TOKEN"));
    }

    #[test]
    fn errors_in_ca_name_the_key() {
        let err = CaConfig::parse(Path::new("s.toml"), "[ca]\ncert = 5\n", &|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("s.toml:2:") && err.contains("ca.cert"),
            "{err}"
        );
        let err = CaConfig::parse(Path::new("s.toml"), "[ca]\nkey = \"${NOPE}\"\n", &|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s.toml:2:1: ca.key") && err.contains("NOPE"),
            "{err}"
        );
        let ca = CaConfig::parse(Path::new("s.toml"), "", &|_| None).unwrap();
        assert_eq!(ca.cert, Path::new("./certs/ca.crt"));
    }
}
