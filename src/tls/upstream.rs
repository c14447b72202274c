//! TLS towards upstream servers: which roots to trust, which client certificate to present, and
//! how to explain a failed handshake in a few words.

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::TrustAnchor;
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};

use super::{ClientIdentity, TlsError, provider};

/// One upstream TLS profile, its files loaded: roots to trust besides the system's, and the
/// client certificate to present (mTLS).
#[derive(Debug, Clone, Default)]
pub struct TlsProfile {
    /// Trust anchors added to the system roots.
    pub extra_roots: Vec<TrustAnchor<'static>>,
    /// The client certificate, when the profile has one.
    pub identity: Option<ClientIdentity>,
}

/// Every certificate of a PEM file as a trust anchor; none, or one that cannot anchor, is an
/// error naming the file.
pub fn read_trust_anchors(path: &Path) -> Result<Vec<TrustAnchor<'static>>, TlsError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in super::read_certs(path)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| TlsError::Certificate {
            path: path.to_path_buf(),
            reason: format!(
                "certificate #{} is not usable as a trust anchor: {e}",
                i + 1
            ),
        })?;
    }
    Ok(roots.roots)
}

/// Builds rustls client configurations for upstream connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpstreamTls;

impl UpstreamTls {
    /// A client config trusting the system roots plus the profile's, presenting its client
    /// certificate when it has one (mTLS) and advertising `alpn` in order.
    ///
    /// System certificates that fail to load are logged and skipped; having no root at all
    /// (none from the system and none in the profile) is an error.
    pub fn client_config(
        profile: &TlsProfile,
        alpn: &[&[u8]],
    ) -> Result<Arc<ClientConfig>, TlsError> {
        let mut roots = system_roots().clone();
        roots.roots.extend(profile.extra_roots.iter().cloned());
        if roots.is_empty() {
            return Err(TlsError::NoRoots);
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Client {
                reason: e.to_string(),
            })?
            .with_root_certificates(roots);
        let mut config = match &profile.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => builder.with_client_cert_resolver(identity.resolver()),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// The system trust store, read once per process: reading it takes many file reads.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for err in &found.errors {
            tracing::warn!("skipping part of the system trust store: {err}");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::warn!("ignored {ignored} unparsable system root certificates");
        }
        tracing::debug!("loaded {added} system root certificates");
        roots
    })
}

/// Turns the error of an upstream TLS handshake (or of the first read after it) into a short
/// reason for humans, such as "certificate not trusted for host X".
pub fn describe_handshake_error(host: &str, err: &io::Error) -> String {
    let mut cause = err
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return describe_rustls(host, tls);
        }
        cause = e.source();
    }
    match err.kind() {
        io::ErrorKind::UnexpectedEof => {
            format!("{host} closed the connection during the TLS handshake")
        }
        io::ErrorKind::ConnectionReset => {
            format!("{host} reset the connection during the TLS handshake")
        }
        io::ErrorKind::TimedOut => format!("TLS handshake with {host} timed out"),
        _ => format!("TLS handshake with {host} failed: {err}"),
    }
}

fn describe_rustls(host: &str, err: &rustls::Error) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(cert) => describe_certificate(host, cert),
        E::NoCertificatesPresented => format!("{host} presented no certificate"),
        E::AlertReceived(AlertDescription::CertificateRequired) => {
            format!("{host} requires a client certificate")
        }
        E::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied,
        ) => format!("{host} rejected signet's client certificate (or its absence)"),
        E::AlertReceived(AlertDescription::HandshakeFailure)
        | E::PeerIncompatible(_)
        | E::AlertReceived(AlertDescription::ProtocolVersion) => {
            format!("{host} shares no TLS version or cipher suite with signet")
        }
        E::AlertReceived(AlertDescription::NoApplicationProtocol) | E::NoApplicationProtocol => {
            format!("{host} supports none of the offered protocols (ALPN)")
        }
        E::AlertReceived(alert) => format!("{host} aborted the TLS handshake ({alert:?})"),
        E::InvalidMessage(_) => {
            format!("{host} did not answer with TLS (is it plain HTTP on that port?)")
        }
        other => format!("TLS handshake with {host} failed: {other}"),
    }
}

fn describe_certificate(host: &str, err: &CertificateError) -> String {
    use CertificateError as C;
    match err {
        C::UnknownIssuer => format!("certificate not trusted for host {host}"),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            format!("certificate is for another name than {host}")
        }
        C::Expired | C::ExpiredContext { .. } => format!("certificate of {host} expired"),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            format!("certificate of {host} is not valid yet (check the clock)")
        }
        C::Revoked => format!("certificate of {host} was revoked"),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            format!("certificate of {host} is not meant for TLS servers")
        }
        C::BadSignature
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            format!("certificate of {host} has a bad or unsupported signature")
        }
        other => format!("certificate of {host} rejected: {other}"),
    }
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
