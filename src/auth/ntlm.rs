//! `ntlm`: NTLMv2 (MS-NLMP) over HTTP, for origins (`401` / `WWW-Authenticate`) and parent
//! proxies (`407` / `Proxy-Authenticate`). NTLMv1 is never offered.
//!
//! NTLM authenticates a connection, not a request: the proxy runs the three messages on one
//! pinned upstream connection (see `upstream::exchange`). This file holds the credentials and the
//! handshake state, and turns challenges into header values; the message bytes are built in
//! [`super::ntlm_msg`].

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::ntlm_msg::{self, Challenge, ClientInput};
use super::{AuthError, BuildContext, BuildError, SignContext, Signer};
use crate::secret::Secret;

/// `type = "ntlm"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtlmConfig {
    /// User name (`DOMAIN\user` is split when `domain` is absent).
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

/// The word before the token: `NTLM`, or `Negotiate` carrying a raw NTLM token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// `NTLM`.
    Ntlm,
    /// `Negotiate` (SPNEGO servers accept a bare NTLMSSP token).
    Negotiate,
}

impl Word {
    fn as_str(self) -> &'static str {
        match self {
            Word::Ntlm => "NTLM",
            Word::Negotiate => "Negotiate",
        }
    }
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// NTLM credentials, ready to answer challenges.
pub struct Ntlm {
    user: String,
    domain: String,
    workstation: String,
    /// NTOWFv2; the password itself is not kept.
    response_key: [u8; 16],
    retry: bool,
    id: u64,
}

impl std::fmt::Debug for Ntlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ntlm")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("workstation", &self.workstation)
            .field("response_key", &"***")
            .finish()
    }
}

impl Ntlm {
    /// Checks the config and derives the NTLMv2 key.
    pub fn new(cfg: NtlmConfig) -> Result<Self, BuildError> {
        let (domain, user) = match (&cfg.domain, cfg.username.split_once('\\')) {
            (None, Some((domain, user))) => (domain.to_owned(), user.to_owned()),
            (domain, _) => (domain.clone().unwrap_or_default(), cfg.username.clone()),
        };
        if user.is_empty() {
            return Err(BuildError::at("username", "empty"));
        }
        let nt_hash = ntlm_msg::nt_hash(cfg.password.expose());
        Ok(Ntlm {
            response_key: ntlm_msg::ntowf_v2(&nt_hash, &user, &domain),
            user,
            domain,
            workstation: cfg.workstation.unwrap_or_default(),
            retry: cfg.retry,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Tells these credentials apart from other `ntlm` profiles' (a connection authenticated
    /// with one serves only requests under the same one).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether a challenge is answered at all (`retry = false` sends only the first message).
    pub fn answers_challenges(&self) -> bool {
        self.retry
    }

    /// The NEGOTIATE message and its header value.
    pub fn negotiate(&self, word: Word) -> (Vec<u8>, HeaderValue) {
        let message = ntlm_msg::negotiate_message();
        let value = header_value(word, &message);
        (message, value)
    }

    /// The AUTHENTICATE header value answering `challenge` (raw type-2 bytes), after
    /// `negotiate` was sent. `bindings` is the TLS server certificate (DER) for channel binding.
    pub fn authenticate(
        &self,
        word: Word,
        negotiate: &[u8],
        challenge: &[u8],
        server_cert: Option<&[u8]>,
        cx: &SignContext<'_>,
    ) -> Result<HeaderValue, AuthError> {
        let challenge =
            Challenge::parse(challenge).map_err(|e| AuthError::Unsignable(e.to_string()))?;
        let mut client_challenge = [0u8; 8];
        cx.fill(&mut client_challenge);
        let mut random_session_key = [0u8; 16];
        cx.fill(&mut random_session_key);
        let input = ClientInput {
            user: &self.user,
            domain: &self.domain,
            workstation: &self.workstation,
            response_key: self.response_key,
            client_challenge,
            time: filetime(cx.now),
            random_session_key,
            channel_bindings: server_cert
                .map(tls_server_end_point)
                .map(|data| ntlm_msg::channel_bindings_hash(&data)),
            negotiate,
        };
        let message = ntlm_msg::authenticate_message(&challenge, &input)
            .map_err(|e| AuthError::Unsignable(e.to_string()))?;
        Ok(header_value(word, &message))
    }

    /// One line for `explain`, without the password.
    pub fn describe(&self) -> String {
        if self.domain.is_empty() {
            format!("ntlm (NTLMv2) username={}", self.user)
        } else {
            format!("ntlm (NTLMv2) username={}\\{}", self.domain, self.user)
        }
    }
}

fn header_value(word: Word, message: &[u8]) -> HeaderValue {
    super::mac::base64_header(word.as_str(), message)
}

/// What a 401/407 offers for NTLM in the `header` (`WWW-Authenticate` or `Proxy-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// A CHALLENGE message under this word.
    Challenge(Word, Vec<u8>),
    /// The scheme is offered without a token (start a handshake with this word).
    Start(Word),
    /// Neither NTLM nor Negotiate.
    None,
}

/// Reads the NTLM offer from challenge headers; a token under `prefer` wins, then any token,
/// then a bare `NTLM`, then a bare `Negotiate`.
pub fn offer(headers: &HeaderMap, header: &HeaderName) -> Offer {
    let mut bare = Vec::new();
    for value in headers.get_all(header) {
        let Ok(value) = value.to_str() else { continue };
        // A header may list several challenges separated by commas; NTLM tokens never hold one.
        for item in value.split(',') {
            let mut words = item.trim().splitn(2, ' ');
            let word = match words.next().unwrap_or("") {
                w if w.eq_ignore_ascii_case("NTLM") => Word::Ntlm,
                w if w.eq_ignore_ascii_case("Negotiate") => Word::Negotiate,
                _ => continue,
            };
            match words.next().map(str::trim).filter(|t| !t.is_empty()) {
                Some(token) => {
                    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(token) {
                        return Offer::Challenge(word, bytes);
                    }
                }
                None => bare.push(word),
            }
        }
    }
    if bare.contains(&Word::Ntlm) {
        Offer::Start(Word::Ntlm)
    } else if bare.contains(&Word::Negotiate) {
        Offer::Start(Word::Negotiate)
    } else {
        Offer::None
    }
}

/// Where an NTLM handshake with one peer stands.
#[derive(Debug, Clone)]
pub enum Handshake {
    /// Nothing sent yet; start with this word.
    Start(Word),
    /// The NEGOTIATE message went out.
    Negotiated(Word, Vec<u8>),
    /// The peer's CHALLENGE came back: answer it next.
    Challenged(Word, Vec<u8>, Vec<u8>),
    /// The AUTHENTICATE message went out; the next answer tells whether it worked.
    Answered,
}

impl Handshake {
    /// The header value to send next, moving the handshake on.
    pub fn next_header(
        &mut self,
        ntlm: &Ntlm,
        server_cert: Option<&[u8]>,
        cx: &SignContext<'_>,
    ) -> Result<Option<HeaderValue>, AuthError> {
        match std::mem::replace(self, Handshake::Answered) {
            Handshake::Start(word) => {
                let (message, value) = ntlm.negotiate(word);
                *self = Handshake::Negotiated(word, message);
                Ok(Some(value))
            }
            Handshake::Challenged(word, negotiate, challenge) => ntlm
                .authenticate(word, &negotiate, &challenge, server_cert, cx)
                .map(Some),
            other => {
                *self = other;
                Ok(None)
            }
        }
    }

    /// Takes in a 401/407's challenge headers; `true` when the handshake can go on.
    pub fn on_challenge(&mut self, headers: &HeaderMap, header: &HeaderName) -> bool {
        let next = match (&*self, offer(headers, header)) {
            (Handshake::Negotiated(sent, negotiate), Offer::Challenge(word, challenge))
                if *sent == word =>
            {
                Handshake::Challenged(word, negotiate.clone(), challenge)
            }
            // The peer wants the other word (e.g. only `Negotiate`): start over with it.
            (Handshake::Negotiated(sent, _), Offer::Start(word)) if *sent != word => {
                Handshake::Start(word)
            }
            _ => return false,
        };
        *self = next;
        true
    }
}

/// Windows FILETIME (100 ns ticks since 1601), little-endian.
fn filetime(now: std::time::SystemTime) -> [u8; 8] {
    let epoch_1601 =
        std::time::SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(11_644_473_600);
    let since = now.duration_since(epoch_1601).unwrap_or_default();
    let ticks = since.as_secs() * 10_000_000 + u64::from(since.subsec_nanos()) / 100;
    ticks.to_le_bytes()
}

/// RFC 5929 `tls-server-end-point` application data: the certificate hashed with its signature
/// algorithm's hash, SHA-256 when that is MD5 or SHA-1.
pub fn tls_server_end_point(cert_der: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let hash = match signature_hash(cert_der) {
        SigHash::Sha384 => sha2::Sha384::digest(cert_der).to_vec(),
        SigHash::Sha512 => sha2::Sha512::digest(cert_der).to_vec(),
        SigHash::Sha256 => sha2::Sha256::digest(cert_der).to_vec(),
    };
    let mut data = b"tls-server-end-point:".to_vec();
    data.extend_from_slice(&hash);
    data
}

enum SigHash {
    Sha256,
    Sha384,
    Sha512,
}

fn signature_hash(cert_der: &[u8]) -> SigHash {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let Ok((_, cert)) = X509Certificate::from_der(cert_der) else {
        return SigHash::Sha256;
    };
    match cert.signature_algorithm.algorithm.to_id_string().as_str() {
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => SigHash::Sha384,
        // sha512WithRSAEncryption, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => SigHash::Sha512,
        // RSA-PSS names its hash in the parameters; PSS with SHA-384/512 is rare enough that
        // SHA-256 (the RFC 5929 default) is used, as for every other algorithm.
        _ => SigHash::Sha256,
    }
}

impl Signer for Ntlm {
    type Config = NtlmConfig;

    fn build(cfg: NtlmConfig, _bx: &BuildContext<'_>) -> Result<Self, BuildError> {
        Ntlm::new(cfg)
    }

    /// Outside the proxy (`signet sign`), the first message of the handshake; the proxy runs
    /// the handshake itself on a pinned connection (see [`Signer::connection_auth`]).
    async fn sign(
        &self,
        req: &mut http::request::Parts,
        _body: Option<&mut bytes::Bytes>,
        _cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        let (_, value) = self.negotiate(Word::Ntlm);
        req.headers.insert(http::header::AUTHORIZATION, value);
        Ok(())
    }

    fn may_replay(&self) -> bool {
        true
    }

    fn connection_auth(&self) -> Option<super::challenger::ConnAuth<'_>> {
        Some(super::challenger::ConnAuth::Ntlm(self))
    }

    fn describe(&self) -> String {
        Ntlm::describe(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_prefers_a_token_and_reads_bare_schemes() {
        let mut h = HeaderMap::new();
        h.append(
            "www-authenticate",
            HeaderValue::from_static("Basic realm=\"x\""),
        );
        h.append("www-authenticate", HeaderValue::from_static("Negotiate"));
        let name = http::header::WWW_AUTHENTICATE;
        assert_eq!(offer(&h, &name), Offer::Start(Word::Negotiate));
        h.append("www-authenticate", HeaderValue::from_static("NTLM"));
        assert_eq!(offer(&h, &name), Offer::Start(Word::Ntlm));
        h.append(
            "www-authenticate",
            HeaderValue::from_static("Negotiate TlRMTQ=="),
        );
        assert_eq!(
            offer(&h, &name),
            Offer::Challenge(Word::Negotiate, b"NTLM".to_vec())
        );
    }

    #[test]
    fn domain_backslash_user_is_split() {
        let ntlm = Ntlm::new(NtlmConfig {
            username: "CORP\\alice".into(),
            password: Secret::new("pw"),
            domain: None,
            workstation: None,
            retry: true,
        })
        .unwrap();
        assert_eq!(ntlm.describe(), "ntlm (NTLMv2) username=CORP\\alice");
        assert!(!format!("{ntlm:?}").contains("pw"));
    }

    #[test]
    fn filetime_of_the_unix_epoch() {
        // 116444736000000000 ticks = 1970-01-01, a constant every NTLM implementation shares.
        assert_eq!(
            u64::from_le_bytes(filetime(std::time::SystemTime::UNIX_EPOCH)),
            116_444_736_000_000_000
        );
    }
}
