//! `ntlm`: NTLMv2 (MS-NLMP). The config is checked now; the handshake comes with the
//! challenge-response pipeline.

use serde::Deserialize;

use crate::secret::Secret;

/// `type = "ntlm"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtlmConfig {
    /// User name.
    pub username: String,
    /// Password.
    pub password: Secret,
    /// Domain.
    pub domain: Option<String>,
    /// Workstation name.
    pub workstation: Option<String>,
    /// Answer a 401 challenge and replay the request.
    #[serde(default = "yes")]
    pub retry: bool,
}

fn yes() -> bool {
    true
}
