//! Auth schemes: one file per scheme behind one [`Scheme`] enum built from the config.
//!
//! Every scheme answers three questions for the proxy: how much of the body it must see
//! ([`Scheme::body_need`]), how to add its credentials ([`Scheme::sign`]), and whether it needs a
//! pinned HTTP/1.1 upstream connection ([`Scheme::needs_http1`]). Time and randomness come in a
//! [`SignContext`] so that signers reproduce published vectors exactly.

pub mod apikey;
pub mod awsv4;
pub mod basic;
pub mod bearer;
pub mod context;
pub mod digest;
pub mod edgegrid;
pub mod hawk;
pub mod ntlm;
pub mod ntlm_msg;
#[cfg(test)]
mod ntlm_vectors;
pub mod oauth1;
pub mod oauth2;
pub mod query;

pub use context::{AuthError, BodyNeed, Clock, Entropy, OsEntropy, SignContext, SystemClock};

use std::path::Path;

use bytes::Bytes;

use crate::config::AuthSpec;
use crate::proxy::upstream::Dialer;

/// What building a scheme needs besides its table: its name and where its files live.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext<'a> {
    /// The profile name, or the key path of an inline table.
    pub name: &'a str,
    /// The config's directory (token stores live here unless configured otherwise).
    pub base_dir: &'a Path,
    /// How token endpoints are reached: as upstreams are, through the parent proxy if any.
    pub dialer: &'a Dialer,
}

/// A ready-to-use auth scheme.
#[derive(Debug)]
pub enum Scheme {
    /// `apikey`.
    ApiKey(apikey::ApiKey),
    /// `bearer`.
    Bearer(bearer::Bearer),
    /// `basic`.
    Basic(basic::Basic),
    /// `digest`.
    Digest(Box<digest::Digest>),
    /// `oauth1`.
    OAuth1(Box<oauth1::OAuth1>),
    /// `edgegrid`.
    EdgeGrid(edgegrid::EdgeGrid),
    /// `awsv4`.
    AwsV4(Box<awsv4::AwsV4>),
    /// `hawk`.
    Hawk(Box<hawk::Hawk>),
    /// `ntlm`.
    Ntlm(Box<ntlm::Ntlm>),
    /// `oauth2`.
    OAuth2(oauth2::OAuth2),
}

impl Scheme {
    /// Builds a scheme from its config table. `Ok(None)` is `type = "none"`. The error text names
    /// the offending key and never a secret.
    pub fn build(spec: &AuthSpec, bx: BuildContext<'_>) -> Result<Option<Scheme>, String> {
        Ok(Some(match spec.clone() {
            AuthSpec::None => return Ok(None),
            AuthSpec::ApiKey(cfg) => Scheme::ApiKey(apikey::ApiKey::new(cfg)?),
            AuthSpec::Bearer(cfg) => Scheme::Bearer(bearer::Bearer::new(cfg)?),
            AuthSpec::Basic(cfg) => Scheme::Basic(basic::Basic::new(cfg)?),
            AuthSpec::Digest(cfg) => Scheme::Digest(Box::new(digest::Digest::new(cfg)?)),
            AuthSpec::OAuth1(cfg) => Scheme::OAuth1(Box::new(oauth1::OAuth1::new(*cfg)?)),
            AuthSpec::EdgeGrid(cfg) => Scheme::EdgeGrid(edgegrid::EdgeGrid::new(cfg)?),
            AuthSpec::AwsV4(cfg) => Scheme::AwsV4(Box::new(awsv4::AwsV4::new(cfg)?)),
            AuthSpec::Hawk(cfg) => Scheme::Hawk(Box::new(hawk::Hawk::new(cfg)?)),
            AuthSpec::Ntlm(cfg) => Scheme::Ntlm(Box::new(ntlm::Ntlm::new(cfg)?)),
            AuthSpec::OAuth2(cfg) => {
                Scheme::OAuth2(oauth2::OAuth2::new(&cfg, bx.name, bx.base_dir, bx.dialer)?)
            }
        }))
    }

    /// The type name, as in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            Scheme::ApiKey(_) => "apikey",
            Scheme::Bearer(_) => "bearer",
            Scheme::Basic(_) => "basic",
            Scheme::Digest(_) => "digest",
            Scheme::OAuth1(_) => "oauth1",
            Scheme::EdgeGrid(_) => "edgegrid",
            Scheme::AwsV4(_) => "awsv4",
            Scheme::Hawk(_) => "hawk",
            Scheme::Ntlm(_) => "ntlm",
            Scheme::OAuth2(_) => "oauth2",
        }
    }

    /// How much of the body the scheme must see before signing this request.
    pub fn body_need(&self, req: &http::request::Parts) -> BodyNeed {
        match self {
            // NTLM buffers on its own pinned path (see `proxy::pinned`).
            Scheme::ApiKey(_)
            | Scheme::Bearer(_)
            | Scheme::Basic(_)
            | Scheme::Ntlm(_)
            | Scheme::OAuth2(_) => BodyNeed::None,
            Scheme::Digest(s) => s.body_need(req),
            Scheme::OAuth1(s) => s.body_need(req),
            Scheme::EdgeGrid(s) => s.body_need(req),
            Scheme::AwsV4(s) => s.body_need(req),
            Scheme::Hawk(s) => s.body_need(req),
        }
    }

    /// Whether requests under this scheme must use HTTP/1.1 on a connection pinned to the client.
    pub fn needs_http1(&self) -> bool {
        matches!(self, Scheme::Ntlm(_))
    }

    /// The NTLM credentials, when this scheme authenticates connections rather than requests.
    pub fn ntlm(&self) -> Option<&ntlm::Ntlm> {
        match self {
            Scheme::Ntlm(s) => Some(s),
            _ => None,
        }
    }

    /// Whether an upstream answer can make this scheme replay the request (Digest and NTLM
    /// challenges, an OAuth 2.0 refresh). The proxy then keeps the body, within the buffer limit,
    /// so that the replay carries the identical bytes.
    pub fn may_replay(&self) -> bool {
        match self {
            Scheme::Digest(s) => s.may_replay(),
            Scheme::Ntlm(_) => true,
            Scheme::OAuth2(s) => s.may_replay(),
            _ => false,
        }
    }

    /// Looks at the upstream's answer to a request this scheme signed; `true` asks the proxy to
    /// sign the original request again and send it once more. Called at most once per request.
    pub async fn wants_replay(
        &self,
        sent: &http::request::Parts,
        response: &http::response::Parts,
    ) -> bool {
        match self {
            Scheme::Digest(s) => s.wants_replay(sent, response),
            Scheme::OAuth2(s) => s.wants_replay(sent, response),
            _ => false,
        }
    }

    /// Takes `challenge` (a `WWW-Authenticate` value) as the upstream's answer to `sent`, so that
    /// the next [`Scheme::sign`] answers it (`signet sign --challenge`).
    pub fn accept_challenge(
        &self,
        sent: &http::request::Parts,
        challenge: &str,
    ) -> Result<(), String> {
        match self {
            Scheme::Digest(s) => s.accept_challenge(sent, challenge),
            other => Err(format!(
                "--challenge needs a challenge-response rule (digest, ntlm); this one is {}",
                other.type_name()
            )),
        }
    }

    /// Adds the credentials. `req.uri` is absolute and names the real destination; `body` is the
    /// buffered body when [`Scheme::body_need`] asked for it and it fit the limit.
    pub async fn sign(
        &self,
        req: &mut http::request::Parts,
        body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        match self {
            Scheme::ApiKey(s) => s.sign(req),
            Scheme::Bearer(s) => {
                s.sign(req);
                Ok(())
            }
            Scheme::Basic(s) => {
                s.sign(req);
                Ok(())
            }
            Scheme::Digest(s) => s.sign(req, body, cx),
            Scheme::OAuth1(s) => s.sign(req, body, cx),
            Scheme::EdgeGrid(s) => s.sign(req, body, cx),
            Scheme::AwsV4(s) => s.sign(req, body, cx),
            Scheme::Hawk(s) => s.sign(req, body, cx),
            // Outside the proxy (`signet sign`), the first message of the handshake.
            Scheme::Ntlm(s) => {
                let (_, value) = s.negotiate(ntlm::Word::Ntlm);
                req.headers.insert(http::header::AUTHORIZATION, value);
                Ok(())
            }
            Scheme::OAuth2(s) => s.sign(req, cx).await,
        }
    }

    /// One line for `explain` and `check`, without secrets.
    pub fn describe(&self) -> String {
        match self {
            Scheme::ApiKey(s) => s.describe(),
            Scheme::Bearer(s) => s.describe(),
            Scheme::Basic(s) => s.describe(),
            Scheme::Digest(s) => s.describe(),
            Scheme::OAuth1(s) => s.describe(),
            Scheme::EdgeGrid(s) => s.describe(),
            Scheme::AwsV4(s) => s.describe(),
            Scheme::Hawk(s) => s.describe(),
            Scheme::Ntlm(s) => s.describe(),
            Scheme::OAuth2(s) => s.describe(),
        }
    }
}
