//! The start-up lines of `signet run`: what to paste into a client, and what it must trust.

use std::net::SocketAddr;

use crate::config::Config;
use crate::proxy::Signet;

/// The proxy URL to give clients, the CA they must trust for intercepted hosts, and how.
pub(super) fn proxy(signet: &Signet, config: &Config, local: SocketAddr) {
    let user = match &config.proxy.client_auth {
        Some(auth) => format!("{}:PASSWORD@", auth.username),
        None => String::new(),
    };
    let url = format!("http://{user}{local}");
    tracing::info!(
        "proxy URL: {url} (export https_proxy={url} http_proxy={url}; {} rule(s))",
        config.hosts.len()
    );
    let ca = config.ca.cert.display();
    let fingerprint = signet.current().leaves().ca().fingerprint_sha256();
    tracing::info!(
        ca = %ca,
        sha256 = %fingerprint,
        "CA: {ca} (SHA-256 {fingerprint}); clients of intercepted hosts must trust it, \
         e.g. curl --cacert {ca} (see README \"Trusting signet's CA\")"
    );
}

/// Where the admin endpoint answers.
pub(super) fn admin(local: SocketAddr) {
    tracing::info!(
        "admin URL: http://{local}/ (metrics http://{local}/metrics, PAC http://{local}/proxy.pac)"
    );
}
