//! Schemes that authenticate a connection with a challenge-response handshake (NTLM,
//! Negotiate): one view of their credentials and their handshake state, for the code that
//! runs the legs on a pinned connection (`upstream::exchange`, `net::parent`).

use http::{HeaderMap, HeaderName, HeaderValue};

use super::negotiate::{self, Negotiate};
use super::ntlm::{self, Ntlm, Offer, Word};
use super::{AuthError, SignContext};

/// The credentials of a connection-authenticating scheme.
#[derive(Debug, Clone, Copy)]
pub enum ConnAuth<'a> {
    /// NTLMv2.
    Ntlm(&'a Ntlm),
    /// SPNEGO / Kerberos.
    Negotiate(&'a Negotiate),
}

impl<'a> ConnAuth<'a> {
    /// Tells these credentials apart from other profiles' (a connection authenticated with
    /// one serves only requests under the same one).
    pub fn id(self) -> u64 {
        match self {
            ConnAuth::Ntlm(n) => n.id(),
            ConnAuth::Negotiate(n) => n.id(),
        }
    }

    /// Whether a challenge is answered at all.
    pub fn answers_challenges(self) -> bool {
        match self {
            ConnAuth::Ntlm(n) => n.answers_challenges(),
            ConnAuth::Negotiate(_) => true,
        }
    }

    /// Whether every request authenticates again (Negotiate: a Kerberos token costs no round
    /// trip), rather than once per connection (NTLM).
    pub fn per_request(self) -> bool {
        matches!(self, ConnAuth::Negotiate(_))
    }

    /// The scheme's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            ConnAuth::Ntlm(_) => "NTLM",
            ConnAuth::Negotiate(_) => "Negotiate",
        }
    }

    /// A handshake that has not started.
    pub fn start(self) -> Handshake {
        match self {
            ConnAuth::Ntlm(_) => Handshake::Ntlm(ntlm::Handshake::Start(Word::Ntlm)),
            ConnAuth::Negotiate(_) => Handshake::Negotiate(negotiate::Handshake::Start),
        }
    }

    /// Whether a 401/407 offers this scheme at all.
    pub fn offered(self, headers: &HeaderMap, header: &HeaderName) -> bool {
        match self {
            ConnAuth::Ntlm(_) => ntlm::offer(headers, header) != Offer::None,
            ConnAuth::Negotiate(_) => negotiate::token(headers, header).is_some(),
        }
    }
}

/// Where a handshake with one peer stands.
#[derive(Debug)]
pub enum Handshake {
    /// NTLM's three messages.
    Ntlm(ntlm::Handshake),
    /// Negotiate's tokens.
    Negotiate(negotiate::Handshake),
}

impl Handshake {
    /// The header value to send next, moving the handshake on. `host` names the peer (the
    /// Kerberos service name); `server_cert` is its TLS certificate, for channel binding.
    pub async fn next_header(
        &mut self,
        auth: ConnAuth<'_>,
        host: &str,
        server_cert: Option<&[u8]>,
        cx: &SignContext<'_>,
    ) -> Result<Option<HeaderValue>, AuthError> {
        match (self, auth) {
            (Handshake::Ntlm(state), ConnAuth::Ntlm(ntlm)) => {
                state.next_header(ntlm, server_cert, cx)
            }
            (Handshake::Negotiate(state), ConnAuth::Negotiate(negotiate)) => {
                state.next_header(negotiate, host, server_cert).await
            }
            _ => Ok(None),
        }
    }

    /// Takes in a 401/407's challenge headers; `true` when the handshake can go on.
    pub fn on_challenge(&mut self, headers: &HeaderMap, header: &HeaderName) -> bool {
        match self {
            Handshake::Ntlm(state) => state.on_challenge(headers, header),
            Handshake::Negotiate(state) => state.on_challenge(headers, header),
        }
    }

    /// Takes in the final (not challenged) answer: checks the server's proof where the
    /// scheme has one.
    pub fn finish(&mut self, headers: &HeaderMap, header: &HeaderName) -> Result<(), AuthError> {
        match self {
            Handshake::Ntlm(_) => Ok(()),
            Handshake::Negotiate(state) => state.finish(headers, header),
        }
    }

    /// Whether the next leg will be challenged (so a streamed body should wait).
    pub fn awaits_challenge(&self) -> bool {
        matches!(self, Handshake::Ntlm(ntlm::Handshake::Negotiated(..)))
    }
}
