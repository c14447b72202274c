//! The local certificate authority that signs leaf certificates for intercepted hosts.

use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::{TlsError, provider};

/// How long a created CA stays valid.
const CA_VALIDITY_DAYS: i64 = 3652;
/// Leaf lifetime: browsers reject server certificates valid for more than 398 days.
const LEAF_VALIDITY_DAYS: i64 = 397;
/// Certificates start a day in the past so that clients with a slow clock accept them.
const BACKDATE_DAYS: i64 = 1;

/// A CA certificate with its signing key, able to mint leaf certificates.
pub struct CertificateAuthority {
    cert_path: PathBuf,
    key_path: PathBuf,
    cert_pem: String,
    /// Every certificate of the CA file, the CA itself first; appended to each leaf so that an
    /// intermediate CA works too.
    chain: Vec<CertificateDer<'static>>,
    issuer: Issuer<'static, KeyPair>,
    fingerprint: String,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Loads the CA from cert+key PEM files, creating both if neither exists (key file mode 0600,
    /// parent dirs created). If exactly one of the two exists, the error names the missing one.
    pub fn load_or_create(cert: &Path, key: &Path) -> Result<(Self, bool), TlsError> {
        match (exists(cert)?, exists(key)?) {
            (true, true) => Ok((Self::load(cert, key)?, false)),
            (false, false) => Ok((Self::create(cert, key)?, true)),
            (true, false) => Err(TlsError::CaHalfMissing {
                present: cert.to_path_buf(),
                missing: key.to_path_buf(),
            }),
            (false, true) => Err(TlsError::CaHalfMissing {
                present: key.to_path_buf(),
                missing: cert.to_path_buf(),
            }),
        }
    }

    /// Loads an existing CA (signet's own or a user-supplied RSA/ECDSA/Ed25519 one); never creates.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let cert_pem = super::read(cert)?;
        let key_pem = super::read(key)?;
        warn_if_key_exposed(key);
        Self::from_pem(cert, cert_pem, key, &key_pem)
    }

    /// The CA certificate file's PEM text, for export into trust stores.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER form.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// Where the CA certificate lives.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Where the CA key lives.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// SHA-256 of the CA certificate (DER), as uppercase hex pairs joined by colons.
    pub fn fingerprint_sha256(&self) -> String {
        self.fingerprint.clone()
    }

    /// Mints a leaf certificate for a DNS name or an IP address (IPv6 without brackets) with a
    /// fresh ECDSA P-256 key; returns the chain `[leaf, CA…]` and the leaf's key.
    pub fn mint_leaf(
        &self,
        name: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let fail = |reason: String| TlsError::Leaf {
            host: name.to_string(),
            reason,
        };
        let san = leaf_san(name).map_err(fail)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        // X.509 caps the CN at 64 characters; clients only look at the SAN anyway.
        if name.len() <= 64 {
            dn.push(DnType::CommonName, name);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = vec![san];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial().map_err(fail)?);
        let start = OffsetDateTime::now_utc() - Duration::days(BACKDATE_DAYS);
        params.not_before = start;
        params.not_after = start + Duration::days(LEAF_VALIDITY_DAYS);

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| fail(format!("key generation failed: {e}")))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| fail(format!("signing failed: {e}")))?;
        let mut chain = Vec::with_capacity(1 + self.chain.len());
        chain.push(cert.der().clone());
        chain.extend(self.chain.iter().cloned());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((chain, key))
    }

    fn create(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let fail = |reason: String| TlsError::CaGenerate {
            path: cert.to_path_buf(),
            reason,
        };
        let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| fail(format!("key generation failed: {e}")))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "signet CA");
        dn.push(DnType::OrganizationName, "signet");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial().map_err(fail)?);
        let start = OffsetDateTime::now_utc() - Duration::days(BACKDATE_DAYS);
        params.not_before = start;
        params.not_after = start + Duration::days(CA_VALIDITY_DAYS);
        let certificate = params
            .self_signed(&key_pair)
            .map_err(|e| fail(format!("signing failed: {e}")))?;
        let cert_pem = certificate.pem();
        let key_pem = key_pair.serialize_pem();

        // The key goes first: a crash in between then leaves a key without a certificate,
        // which load_or_create reports instead of silently pairing a new key with nothing.
        write_file(key, key_pem.as_bytes(), 0o600)?;
        write_file(cert, cert_pem.as_bytes(), 0o644)?;
        Self::from_pem(cert, cert_pem, key, &key_pem)
    }

    fn from_pem(
        cert_path: &Path,
        cert_pem: String,
        key_path: &Path,
        key_pem: &str,
    ) -> Result<Self, TlsError> {
        let bad_cert = |reason: &str| TlsError::Certificate {
            path: cert_path.to_path_buf(),
            reason: reason.to_string(),
        };
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_cert(&format!("invalid PEM: {e}")))?;
        let Some(ca_der) = chain.first() else {
            return Err(bad_cert("no PEM CERTIFICATE block found"));
        };
        let key_pair = super::parse_signing_key(key_path, key_pem)?;
        let spki = key_pair.subject_public_key_info();
        if !contains(ca_der.as_ref(), &spki) {
            return Err(TlsError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
        let issuer = Issuer::from_ca_cert_der(ca_der, key_pair)
            .map_err(|_| bad_cert("not a parsable X.509 certificate"))?;
        if !issuer.key_usages().is_empty()
            && !issuer.key_usages().contains(&KeyUsagePurpose::KeyCertSign)
        {
            return Err(bad_cert(
                "this certificate may not sign certificates (its key usage lacks keyCertSign)",
            ));
        }
        let fingerprint = fingerprint(ca_der);
        Ok(CertificateAuthority {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            cert_pem,
            chain,
            issuer,
            fingerprint,
        })
    }
}

/// The subject alternative name for a leaf: an IP SAN for an address, a DNS SAN otherwise.
fn leaf_san(name: &str) -> Result<SanType, String> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    match ServerName::try_from(name) {
        Ok(ServerName::DnsName(dns)) => dns
            .as_ref()
            .try_into()
            .map(SanType::DnsName)
            .map_err(|_| "not an ASCII host name (use the punycode form)".to_string()),
        _ => Err("not a valid host name or IP address".to_string()),
    }
}

/// A positive serial with 126 random bits; the fixed top bits keep the DER length constant.
fn random_serial() -> Result<SerialNumber, String> {
    let mut bytes = [0u8; 16];
    provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| "the system random generator failed".to_string())?;
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn exists(path: &Path) -> Result<bool, TlsError> {
    path.try_exists().map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a new file through a temporary sibling and a rename, so that a reader never sees a
/// half-written file; the temporary file already has the final mode before any byte is written.
fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), TlsError> {
    crate::fsutil::write_atomic(path, content, mode, 0o755).map_err(|source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// A CA key that others can read lets them impersonate every site to this machine.
fn warn_if_key_exposed(key: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(key)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "CA key {} is readable by other users; run chmod 600 on it",
                key.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = key;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::UnixTime;
    use std::sync::Arc;
    use x509_parser::prelude::*;

    // A user-style CA made with the openssl command line (rcgen on ring cannot generate RSA
    // keys): RSA 2048 with a PKCS#1 key, and ECDSA P-384 with a SEC1 key.
    const RSA_CA_CERT: &str = r"-----BEGIN CERTIFICATE-----
MIIDRzCCAi+gAwIBAgIUSNZ7qrgdBDhmsxKs4iNjnrRqR8QwDQYJKoZIhvcNAQEL
BQAwKjEZMBcGA1UEAwwQQ29ycCBUZXN0IFJTQSBDQTENMAsGA1UECgwEQ29ycDAg
Fw0yNjExMjQwMzE3MjVaGA8yMTI2MTAzMTAzMTcyNVowKjEZMBcGA1UEAwwQQ29y
cCBUZXN0IFJTQSBDQTENMAsGA1UECgwEQ29ycDCCASIwDQYJKoZIhvcNAQEBBQAD
ggEPADCCAQoCggEBAOdH6z6acN2m5nWAxijpjVT+X2EF/Q+6s/CRxoRQua4X+o6/
BuLaOELDt+BqTE9jhnQSO7hNMyUCY1IeEm9ITKSkZFFdgrePSw0I8qsg4Oa5XtEi
mohRH4KD8S+41qsVoJJ4q0A2vOEDpu2TfGMMCHMkQnQsOeAlCHkQ6yu3rwbkJrFC
Attu6H8eYEZYWx41Gu+NtEWLz7EM0crzYXaU1FxVKumJITsvs/GVbWL0NjO2rFBn
I03urSQK0wJYHbsnxKXnySe8IPf+S+k8T4VtpYuCml2Z2ejDUbLguSe8gHgzoO9T
Hjc58pQrPn5kxEHNV/e6uOZ5ofyT7R74hyTW2iMCAwEAAaNjMGEwHQYDVR0OBBYE
FBNNPnr4H5gT4Avu5jq325JQ151cMB8GA1UdIwQYMBaAFBNNPnr4H5gT4Avu5jq3
25JQ151cMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMA0GCSqGSIb3
DQEBCwUAA4IBAQBZY3OSlNQSxO+pr521p+IGn+6Y7Tc/E7mzyAk9YfwCKsJD7Gvv
Qw8yp0xJ5/vGPnERgLTruO374vHDsjTW7Dzbywbdj3ZjN7kKTQJ3XcvSYT7Djgv/
skFYxGNn55pMlKvs66cSMrEtFroAhYaGDORB8G0mycB75dAePOGJ4bGyeuYdtzEu
Nd8yv3p6p4xUbUAeTNMPSyruEuJdd4p5uJT+Qyb/QQU4c/T26SjhV60yE2PnNhCB
5pQ7UhUCdHtDzdqUbG3qnQfJyGlS6bLDLCt25pfnsGA2f3vUZLLg/CW3HYVeIqxC
VCLGejCZp1LNiej8zq2Zudyb2I/o55RUxk0+
-----END CERTIFICATE-----
";
    const RSA_CA_KEY: &str = r"-----BEGIN RSA PRIVATE KEY-----
MIIEogIBAAKCAQEA50frPppw3abmdYDGKOmNVP5fYQX9D7qz8JHGhFC5rhf6jr8G
4to4QsO34GpMT2OGdBI7uE0zJQJjUh4Sb0hMpKRkUV2Ct49LDQjyqyDg5rle0SKa
iFEfgoPxL7jWqxWgknirQDa84QOm7ZN8YwwIcyRCdCw54CUIeRDrK7evBuQmsUIC
227ofx5gRlhbHjUa7420RYvPsQzRyvNhdpTUXFUq6YkhOy+z8ZVtYvQ2M7asUGcj
Te6tJArTAlgduyfEpefJJ7wg9/5L6TxPhW2li4KaXZnZ6MNRsuC5J7yAeDOg71Me
NznylCs+fmTEQc1X97q45nmh/JPtHviHJNbaIwIDAQABAoIBAFLfL0joWAbkNfHm
qZqhTTYmS5Ddb3cCZFWQNnzU3COojew2QMZqgPxTWwC7tgpAVD4lBmccqnXZbDNR
eTOMyYG5MgUBp8QUQUUzbpipGE00IOh5KLwtrUe79WEvLyRwhG/Xcy14L6fFAjxg
u5JWDnULihBMhJRvUKDo0guBLuMdkOqbtrc9zfAvhMmd6K76QY2S5TxLvaMzdT5x
IJZfS5ykO+tFPPsB7gHop+21GxQIF9Myfohw3AOFC+gL3uaK3Hv0tgU/BOOy5O98
gtAusKnkwkMDZ5c/hE0p1cgljmpnrNQC4I7QRxyovppaDE4eve6BzNDRoA8nGrG7
MuZDMyECgYEA8/BQeaN4NbQQ1mgZvFAvt8kVH90+VzzERm2i+ss0tmUgKBvvDybb
iuLEAvpsED1YB8VHkczs90YwxPWayOASLAMyAw86OJS/vLT7sFN8plKiPw7RyLTW
gpF4OAfbHmjFUQczjWJ4i1JKDcvf9A/7CzDpKZGjogCpJrO7owTLlJMCgYEA8rdj
DMGy0BMg7r/KA7tseh8hIUN/2NtbJf4V3BK74Au5sqvs5cMaRfLZM3uLLmYNwVH8
LJQaEgCByqqjrkmHs7S9L+UxkrdA82gVjsJLKjuvMzmznsubfSIEaEqF/Vd6WxLD
JcKHq3f/C+zuz/P0dvOrmOr/1JDXOvf6OLc/LjECgYBp/90YXj5YJ7zBTk8Qk0+I
7ynsxLjYM6GecPnHPRHUyDCm/SxuSxZPTaabHLJkhCOCjOlCo+e8s5VxoL/31dZP
pbvPtIg6GfkPSR2tSzn5FCNIf2oNavdjmU7CGjfPCPvk79oo78ct0z42rIbOiTsv
a7uFwrF2Lg9Sr/szJVxJXQKBgDW77dzMITc5lOfmY+Xxn3Fl5OLFW895uLMvjk1b
hGZ0khcBQwAW8oEb44QnTMfn5hGvgeGopCDqJdHldzlFpBpf4CZzWkc99M4uc99Y
GmXuMrpnguGb9/97AXjJTuKodDknbTa1221VsoxEVxaIzs1q4smG9T5tFolCjw3x
W7ZxAoGAZ5bB6gKNJWxuJh6F5tpieEYW0kqc+kt/KQj5u7tbQOhdmy9Yya+I53X8
oOeBE6uXLp92u97Buh2Rzrtw/IA2elrq97X2rGyg9+DQH41DyuPCqPeiG6hCwofH
1NmuuqtCB9NtzqMlQVQvpCyuWus99Art7G8fHwp6M0tPluTUn3Y=
-----END RSA PRIVATE KEY-----
";
    const EC_CA_CERT: &str = r"-----BEGIN CERTIFICATE-----
MIIB1zCCAV6gAwIBAgIUBljuUMQVA5BNMZFwRTTP3+PNo2UwCgYIKoZIzj0EAwMw
GjEYMBYGA1UEAwwPQ29ycCBUZXN0IEVDIENBMCAXDTI2MTEyNDAzMTcyNVoYDzIx
MjYxMDMxMDMxNzI1WjAaMRgwFgYDVQQDDA9Db3JwIFRlc3QgRUMgQ0EwdjAQBgcq
hkjOPQIBBgUrgQQAIgNiAAThZ+7103KrkhfLzKDh0xLgy4V78IqgBBtl5GmO1EOS
sH8WDQAgegZUAPQPBR5YCQXpGl5FG+u9t8m4tqH8xOBIjVLxvZvk37C7dgFW/wWw
IAo2aSwDAvsV4d+ZZ/luQNejYzBhMB0GA1UdDgQWBBTddy3KOMQfQC4LoOhJzvC4
Uu2qDDAfBgNVHSMEGDAWgBTddy3KOMQfQC4LoOhJzvC4Uu2qDDAPBgNVHRMBAf8E
BTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQDAwNnADBkAjAtYJMZZaHL
l1KBKf9hEn4PWNsbUXqf77iDGdb0jVIGZnqvosqqIChjVCzC2WQ5miwCMBm24qvl
leV74gyqqNpvyvOiwzK/w953/B0DipvW/7RJU4KFTxsTSW3D2mDXPprMkQ==
-----END CERTIFICATE-----
";
    const EC_CA_KEY: &str = r"-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDBfxt9+iM4jp8dgfUHXnzJwIknLt8DZY8HIWXf5Afjxf22L3V27MbdU
ZbMdcB82Ge6gBwYFK4EEACKhZANiAAThZ+7103KrkhfLzKDh0xLgy4V78IqgBBtl
5GmO1EOSsH8WDQAgegZUAPQPBR5YCQXpGl5FG+u9t8m4tqH8xOBIjVLxvZvk37C7
dgFW/wWwIAo2aSwDAvsV4d+ZZ/luQNc=
-----END EC PRIVATE KEY-----
";

    /// A fresh, empty directory for one test.
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("signet-tls-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A newly created CA in its own directory.
    pub(crate) fn new_ca(tag: &str) -> CertificateAuthority {
        let dir = temp_dir(tag);
        CertificateAuthority::load_or_create(&dir.join("ca.crt"), &dir.join("ca.key"))
            .unwrap()
            .0
    }

    /// Verifies a chain for `name` with rustls' WebPKI verifier trusting only `root`.
    pub(crate) fn verify(
        root: &CertificateDer<'static>,
        chain: &[CertificateDer<'static>],
        name: &str,
    ) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root.clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        verifier
            .verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    fn write(path: &Path, text: &str) {
        fs::write(path, text).unwrap();
    }

    #[test]
    fn create_then_reload_keeps_the_fingerprint() {
        let dir = temp_dir("reload");
        let (cert, key) = (dir.join("sub/dir/ca.crt"), dir.join("keys/ca.key"));
        let (ca, created) = CertificateAuthority::load_or_create(&cert, &key).unwrap();
        assert!(created);
        let (again, created) = CertificateAuthority::load_or_create(&cert, &key).unwrap();
        assert!(!created);
        assert_eq!(ca.fingerprint_sha256(), again.fingerprint_sha256());
        assert_eq!(
            CertificateAuthority::load(&cert, &key).unwrap().cert_pem(),
            ca.cert_pem()
        );

        // Independent fingerprint: decode the file with x509-parser's PEM reader and hash it.
        let text = fs::read(&cert).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(&text).unwrap();
        let expected: Vec<String> = Sha256::digest(&pem.contents)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert_eq!(ca.fingerprint_sha256(), expected.join(":"));
        assert_eq!(ca.fingerprint_sha256().len(), 32 * 3 - 1);
        assert_eq!(ca.cert_der().as_ref(), &pem.contents[..]);
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("mode");
        let key = dir.join("k/ca.key");
        CertificateAuthority::load_or_create(&dir.join("c/ca.crt"), &key).unwrap();
        let mode = fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(dir.join("k")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn created_ca_has_the_promised_fields() {
        let ca = new_ca("fields");
        let (_, x509) = X509Certificate::from_der(ca.cert_der()).unwrap();
        let subject = x509.subject();
        assert_eq!(
            subject.iter_common_name().next().unwrap().as_str().unwrap(),
            "signet CA"
        );
        assert_eq!(
            subject
                .iter_organization()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "signet"
        );
        let bc = x509.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, Some(0));
        let ku = x509.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
        assert!(!ku.digital_signature() && !ku.key_encipherment());
        assert_eq!(
            x509.public_key()
                .algorithm
                .parameters
                .as_ref()
                .unwrap()
                .as_oid()
                .unwrap(),
            x509_parser::oid_registry::OID_EC_P256
        );
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let nb = x509.validity().not_before.timestamp();
        let na = x509.validity().not_after.timestamp();
        assert!((now - 86_400 - 60..=now - 86_400 + 60).contains(&nb));
        let years = (na - nb) as f64 / (365.25 * 86_400.0);
        assert!((9.99..10.01).contains(&years), "{years}");
        let debug = format!("{ca:?}");
        let key_pem = fs::read_to_string(ca.key_path()).unwrap();
        assert!(!debug.contains(key_pem.lines().nth(1).unwrap()));
        assert!(!debug.contains("PRIVATE"));
    }

    #[test]
    fn one_missing_file_is_named() {
        let dir = temp_dir("half");
        let (cert, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        CertificateAuthority::load_or_create(&cert, &key).unwrap();
        fs::remove_file(&key).unwrap();
        let err = CertificateAuthority::load_or_create(&cert, &key).unwrap_err();
        assert!(matches!(&err, TlsError::CaHalfMissing { missing, .. } if *missing == key));
        assert!(
            err.to_string().starts_with(&key.display().to_string()),
            "{err}"
        );
        assert!(!key.exists(), "nothing is created when one file is missing");

        let dir = temp_dir("half2");
        let (cert, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        write(&key, RSA_CA_KEY);
        let err = CertificateAuthority::load_or_create(&cert, &key).unwrap_err();
        assert!(matches!(&err, TlsError::CaHalfMissing { missing, .. } if *missing == cert));
        let err = CertificateAuthority::load(&cert, &key).unwrap_err();
        assert!(matches!(&err, TlsError::Read { path, .. } if *path == cert));
    }

    #[test]
    fn user_supplied_rsa_and_ec_cas_work() {
        let dir = temp_dir("user");
        for (tag, cert_pem, key_pem) in [
            ("rsa", RSA_CA_CERT, RSA_CA_KEY),
            ("ec", EC_CA_CERT, EC_CA_KEY),
        ] {
            let (cert, key) = (
                dir.join(format!("{tag}.crt")),
                dir.join(format!("{tag}.key")),
            );
            write(&cert, cert_pem);
            write(&key, key_pem);
            let (ca, created) = CertificateAuthority::load_or_create(&cert, &key).unwrap();
            assert!(!created);
            let (chain, _) = ca.mint_leaf("api.example.test").unwrap();
            verify(ca.cert_der(), &chain, "api.example.test")
                .unwrap_or_else(|e| panic!("{tag}: {e}"));
        }
        // A key that belongs to another certificate is refused, naming both files.
        let (cert, key) = (dir.join("rsa.crt"), dir.join("ec.key"));
        let err = CertificateAuthority::load(&cert, &key).unwrap_err();
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        // Garbage in the key file: the message names the file and quotes nothing of it.
        write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0c2VjcmV0\n-----END PRIVATE KEY-----\n",
        );
        let msg = CertificateAuthority::load(&cert, &key)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(&key.display().to_string()) && !msg.contains("c2Vj"),
            "{msg}"
        );
    }
}
