//! TLS for signet: the local CA, the leaf certificates it mints for intercepted hosts, and the
//! client configurations (trust roots, client certificates) used to reach upstream servers.
//!
//! Every rustls configuration here is built with an explicit ring provider (see [`provider`]), so
//! nothing depends on a process-wide default provider being installed.

pub mod bundle;
pub mod ca;
pub mod identity;
pub mod leaf;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rcgen::KeyPair;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub use ca::CertificateAuthority;
pub use identity::{ClientIdentity, read_client_key};
pub use leaf::LeafCache;
pub use upstream::{TlsProfile, UpstreamTls, describe_handshake_error, read_trust_anchors};

/// One of the upstream TLS profiles (trust roots and client certificate): the default is 0,
/// and the policy numbers one more per host rule with a `[host.tls]` table, in config order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TlsProfileId(pub usize);

impl TlsProfileId {
    /// The system roots, no client certificate.
    pub const DEFAULT: TlsProfileId = TlsProfileId(0);
}

/// Why a TLS setup step failed; every variant names the file or host involved.
///
/// Messages never contain key material: key parsing failures carry a fixed reason, not the
/// parser's text.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Only one of the CA certificate and CA key exists.
    #[error(
        "{missing} is missing but {present} exists; restore it or remove {present} to create a new CA"
    )]
    CaHalfMissing {
        /// The file that exists.
        present: PathBuf,
        /// The file that does not.
        missing: PathBuf,
    },
    /// A certificate file holds no usable certificate.
    #[error("bad certificate file {path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// A private key file holds no usable key.
    #[error("bad private key file {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The cause (never the key itself).
        reason: String,
    },
    /// A passphrase does not open an encrypted key or PKCS#12 file.
    #[error("the passphrase does not open {path}")]
    WrongPassphrase {
        /// The encrypted file.
        path: PathBuf,
    },
    /// A PKCS#12 (PFX) file holds no usable key and certificate.
    #[error("bad PKCS#12 file {path}: {reason}")]
    Pfx {
        /// The file.
        path: PathBuf,
        /// The cause (never key material).
        reason: String,
    },
    /// A certificate and a key that must belong together do not.
    #[error("the key in {key} does not belong to the certificate in {cert}")]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// Generating the CA certificate failed.
    #[error("cannot create the CA certificate {path}: {reason}")]
    CaGenerate {
        /// Where the certificate was to be written.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// Minting or serving a leaf certificate for a host failed.
    #[error("cannot make a TLS certificate for {host}: {reason}")]
    Leaf {
        /// The host name or IP address.
        host: String,
        /// The cause.
        reason: String,
    },
    /// No root certificate is available to verify upstream servers.
    #[error(
        "no trusted root certificates: the system trust store gave none and no CA file was configured"
    )]
    NoRoots,
    /// Building an upstream client configuration failed.
    #[error("cannot build the TLS client settings: {reason}")]
    Client {
        /// The cause.
        reason: String,
    },
}

/// The single ring crypto provider that every signet TLS configuration uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

// PEM file reading shared by the CA and the upstream client settings.

/// Reads a text file, naming it on error.
pub(crate) fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads every certificate of a PEM file; none at all is an error.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read(path)?;
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate {
            path: path.to_path_buf(),
            reason: format!("invalid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: path.to_path_buf(),
            reason: "no PEM CERTIFICATE block found".to_string(),
        });
    }
    Ok(certs)
}

/// Parses a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) into a key rcgen can sign with.
///
/// rcgen on ring only takes PKCS#8, so PKCS#1 and SEC1 keys are wrapped into PKCS#8 first.
/// Reasons are fixed strings: parser messages could quote key bytes.
pub(crate) fn parse_signing_key(path: &Path, pem: &str) -> Result<KeyPair, TlsError> {
    let bad = |reason: &str| TlsError::Key {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let der = match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
        Ok(der) => der,
        Err(_) if pem.contains("ENCRYPTED") => {
            return Err(bad(
                "encrypted keys are not supported; decrypt it first (openssl pkey -in KEY -out PLAIN)",
            ));
        }
        Err(_) => {
            return Err(bad(
                "no PEM private key found (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
            ));
        }
    };
    let candidates: Vec<Vec<u8>> = match &der {
        PrivateKeyDer::Pkcs8(k) => vec![k.secret_pkcs8_der().to_vec()],
        PrivateKeyDer::Pkcs1(k) => vec![pkcs8_wrap(RSA_ALG_ID, k.secret_pkcs1_der())],
        PrivateKeyDer::Sec1(k) => vec![
            pkcs8_wrap(EC_P256_ALG_ID, k.secret_sec1_der()),
            pkcs8_wrap(EC_P384_ALG_ID, k.secret_sec1_der()),
        ],
        _ => Vec::new(),
    };
    candidates
        .into_iter()
        .find_map(|pkcs8| KeyPair::try_from(&PrivatePkcs8KeyDer::from(pkcs8)).ok())
        .ok_or_else(|| {
            bad("unsupported or malformed key (supported: RSA of 2048+ bits, ECDSA P-256/P-384, Ed25519)")
        })
}

/// AlgorithmIdentifier { rsaEncryption, NULL }.
const RSA_ALG_ID: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
/// AlgorithmIdentifier { id-ecPublicKey, prime256v1 }.
const EC_P256_ALG_ID: &[u8] = &[
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07,
];
/// AlgorithmIdentifier { id-ecPublicKey, secp384r1 }.
const EC_P384_ALG_ID: &[u8] = &[
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
    0x00, 0x22,
];

/// PrivateKeyInfo (RFC 5208) around a raw private key.
fn pkcs8_wrap(alg_id: &[u8], key: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(alg_id);
    body.extend(der_tlv(0x04, key));
    der_tlv(0x30, &body)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}
