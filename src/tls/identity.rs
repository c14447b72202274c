//! The client certificate signet presents to an upstream (mTLS): a PEM chain with its private
//! key, the key possibly encrypted (PKCS#8 under PBES2), or a PKCS#12 ("PFX") file holding both.
//!
//! Files are read and checked once, when the config is loaded, so that `check` refuses what the
//! proxy would: a wrong passphrase, a key of another certificate, a key type rustls cannot sign
//! with.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use p12_keystore::KeyStore;
use p12_keystore::error::Error as Pkcs12Error;
use pkcs8::pkcs5;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{Error as RustlsError, InconsistentKeys};

use super::{TlsError, provider};

/// A client certificate chain (leaf first) with the private key that belongs to it.
#[derive(Clone)]
pub struct ClientIdentity {
    key: Arc<CertifiedKey>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.key.cert.len())
            .finish_non_exhaustive()
    }
}

impl ClientIdentity {
    /// A chain and a key, checked to belong together; `cert_file` and `key_file` are where they
    /// came from, for errors.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cert_file: &Path,
        key_file: &Path,
    ) -> Result<ClientIdentity, TlsError> {
        let signing = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|_| TlsError::Key {
                path: key_file.to_path_buf(),
                reason: "unsupported key type (supported: RSA of 2048+ bits, ECDSA P-256/P-384, \
                         Ed25519)"
                    .to_string(),
            })?;
        let certified = CertifiedKey::new(chain, signing);
        match certified.keys_match() {
            Ok(()) | Err(RustlsError::InconsistentKeys(InconsistentKeys::Unknown)) => {
                Ok(ClientIdentity {
                    key: Arc::new(certified),
                })
            }
            Err(RustlsError::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
                cert: cert_file.to_path_buf(),
                key: key_file.to_path_buf(),
            }),
            Err(other) => Err(TlsError::Certificate {
                path: cert_file.to_path_buf(),
                reason: format!("the first certificate is not usable: {other}"),
            }),
        }
    }

    /// The key and certificates of a PKCS#12 file (the chain as far as the file holds it),
    /// opened with `passphrase` (none: the empty one).
    pub fn from_pfx(path: &Path, passphrase: Option<&str>) -> Result<ClientIdentity, TlsError> {
        let der = std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let store = KeyStore::from_pkcs12(&der, passphrase.unwrap_or(""))
            .map_err(|e| pfx_error(path, passphrase.is_some(), &e))?;
        let Some((_, entry)) = store.private_key_chain() else {
            return Err(TlsError::Pfx {
                path: path.to_path_buf(),
                reason: "it holds no private key with its certificate".to_string(),
            });
        };
        let chain = entry
            .chain()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key().to_vec()));
        ClientIdentity::new(chain, key, path, path)
    }

    /// The certificates presented, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.key.cert
    }

    /// What a rustls client config presents when a server asks for a certificate.
    pub(crate) fn resolver(&self) -> Arc<dyn ResolvesClientCert> {
        Arc::new(SingleCertAndKey::from(self.key.clone()))
    }
}

/// A PKCS#12 error in a few words: a failed MAC or padding check means the passphrase is wrong.
/// Fixed reasons, no parser text that could quote the file.
fn pfx_error(path: &Path, had_passphrase: bool, err: &Pkcs12Error) -> TlsError {
    let bad = |reason: &str| TlsError::Pfx {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    match err {
        Pkcs12Error::MacError(_) | Pkcs12Error::UnpadError if had_passphrase => {
            TlsError::WrongPassphrase {
                path: path.to_path_buf(),
            }
        }
        Pkcs12Error::MacError(_) | Pkcs12Error::UnpadError => {
            bad("it is protected by a passphrase; set passphrase")
        }
        Pkcs12Error::UnsupportedEncryptionScheme | Pkcs12Error::Pkcs5Error(_) => bad(
            "it is encrypted with a scheme signet cannot open (supported: PBES2 with AES-CBC, \
             and the legacy pbeWithSHAAnd3-KeyTripleDES-CBC and pbeWithSHAAnd40BitRC2-CBC)",
        ),
        Pkcs12Error::UnsupportedMacAlgorithm => {
            bad("its integrity MAC is not HMAC-SHA1 or HMAC-SHA256")
        }
        _ => bad("not a PKCS#12 (PFX) file, or a damaged one"),
    }
}

/// Reads the first private key of a PEM file: unencrypted PKCS#8, PKCS#1 RSA or SEC1 EC, or
/// an `ENCRYPTED PRIVATE KEY` (PKCS#8 under PBES2) opened with `passphrase`.
pub fn read_client_key(
    path: &Path,
    passphrase: Option<&str>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = super::read(path)?;
    let bad = |reason: &str| TlsError::Key {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if let Some(block) = pem_block(&text, "ENCRYPTED PRIVATE KEY") {
        let Some(passphrase) = passphrase else {
            return Err(bad("the key is encrypted; set passphrase"));
        };
        return decrypt_pkcs8(path, block, passphrase);
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(bad(
            "OpenSSL's legacy PEM encryption (Proc-Type/DEK-Info) is not supported; convert the key \
             to encrypted PKCS#8: openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out KEY.p8",
        ));
    }
    // A fixed reason: a parser's message could quote bytes of the key.
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|_| {
        bad(
            "no PEM private key found (expected PRIVATE KEY, ENCRYPTED PRIVATE KEY, \
             RSA PRIVATE KEY or EC PRIVATE KEY)",
        )
    })
}

/// The PEM block with `label`, from its BEGIN line to the end of its END line.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = text.find(&format!("-----BEGIN {label}-----"))?;
    let end_marker = format!("-----END {label}-----");
    let end = begin + text.get(begin..)?.find(&end_marker)? + end_marker.len();
    text.get(begin..end)
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` block. Output that is not a PKCS#8 key means the
/// passphrase was wrong: CBC padding alone lets about one wrong key in 256 through.
fn decrypt_pkcs8(
    path: &Path,
    block: &str,
    passphrase: &str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bad = |reason: &str| TlsError::Key {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let unsupported = "encrypted with a scheme signet cannot open (supported: PBES2 with PBKDF2 \
                       or scrypt and AES-CBC or 3DES-CBC, as `openssl pkcs8 -topk8 -v2 aes-256-cbc` \
                       writes)";
    let wrong = || TlsError::WrongPassphrase {
        path: path.to_path_buf(),
    };
    let (_, doc) = pkcs8::der::Document::from_pem(block)
        .map_err(|_| bad("the ENCRYPTED PRIVATE KEY block is not valid PEM"))?;
    // PKCS#12-style PBE identifiers (`openssl pkcs8 -v1 …`) do not parse as a PBES1/PBES2 scheme.
    let info =
        pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(|_| bad(unsupported))?;
    let plain = match info
        .encryption_algorithm
        .decrypt(passphrase, info.encrypted_data)
    {
        Ok(plain) => pkcs8::SecretDocument::try_from(plain).map_err(|_| wrong())?,
        // pkcs5 0.7 reports a failed padding check on decryption as `EncryptFailed`.
        Err(pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed) => return Err(wrong()),
        Err(_) => return Err(bad(unsupported)),
    };
    if pkcs8::PrivateKeyInfo::try_from(plain.as_bytes()).is_err() {
        return Err(wrong());
    }
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
