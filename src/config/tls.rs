//! `[host.tls]`: the keys, and the checks of how they fit together. The files they name are
//! read and checked when the policy is built (`check` does that too), where errors still name
//! the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, KeyPath, Locator};
use crate::secret::Secret;

/// `[host.tls]`: upstream trust and client certificate for one host rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostTls {
    /// Extra CA certificates (PEM) to trust for this host, besides the system roots.
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mTLS.
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM, possibly an encrypted PKCS#8) for mTLS.
    pub client_key: Option<PathBuf>,
    /// Opens an encrypted `client_key` or the `pfx`.
    pub passphrase: Option<Secret>,
    /// A PKCS#12 file with the client certificate and its key, instead of `client_cert` and
    /// `client_key`.
    pub pfx: Option<PathBuf>,
}

impl HostTls {
    /// The table at `path`, its keys checked to fit together and its paths resolved against
    /// `base_dir`.
    pub(super) fn resolve(
        self,
        base_dir: &Path,
        path: &KeyPath,
        locator: &Locator<'_>,
    ) -> Result<HostTls, ConfigError> {
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => {
                return Err(locator.error(
                    &path.key("client_cert"),
                    "client_cert needs client_key (they go together)",
                ));
            }
            (None, Some(_)) => {
                return Err(locator.error(
                    &path.key("client_key"),
                    "client_key needs client_cert (they go together)",
                ));
            }
            _ => {}
        }
        if self.pfx.is_some() && self.client_cert.is_some() {
            return Err(locator.error(
                &path.key("pfx"),
                "pfx holds the client certificate and its key: set either pfx or \
                 client_cert and client_key",
            ));
        }
        if self.passphrase.is_some() && self.pfx.is_none() && self.client_key.is_none() {
            return Err(locator.error(
                &path.key("passphrase"),
                "passphrase opens an encrypted client_key or a pfx, and neither is set",
            ));
        }
        let resolve = |p: Option<PathBuf>| p.map(|p| base_dir.join(p));
        Ok(HostTls {
            ca: resolve(self.ca),
            client_cert: resolve(self.client_cert),
            client_key: resolve(self.client_key),
            passphrase: self.passphrase,
            pfx: resolve(self.pfx),
        })
    }
}
