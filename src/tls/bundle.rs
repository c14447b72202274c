//! The system's trust roots and signet's CA in one PEM file, for clients that take a single
//! bundle (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`): a file with signet's CA alone makes every
//! host signet does not intercept fail verification.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{CertificateAuthority, TlsError};

/// The system roots (as rustls-native-certs finds them: `SSL_CERT_FILE`, `SSL_CERT_DIR`, or the
/// platform's store) followed by signet's CA, as PEM, and how many system roots it holds.
pub fn bundle_pem(ca: &CertificateAuthority) -> Result<(String, usize), TlsError> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let mut out = String::new();
    for cert in &found.certs {
        out.push_str(&pem("CERTIFICATE", cert.as_ref()));
    }
    out.push_str(ca.cert_pem());
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok((out, found.certs.len()))
}

/// `der` as a PEM block of `label`, 64 base64 characters a line (RFC 7468).
fn pem(label: &str, der: &[u8]) -> String {
    let text = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_lines_are_64_characters() {
        // 48 bytes of 0xff are 64 base64 characters: one full line; one byte more, a second.
        let out = pem("CERTIFICATE", &[0xff; 49]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1], "/".repeat(64));
        assert_eq!(lines[2], "/w==");
        assert_eq!(lines[3], "-----END CERTIFICATE-----");
    }
}
