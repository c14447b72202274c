//! Signers: one file per scheme, each a [`Signer`], listed once in the registry at the bottom
//! of this file, which generates the config enum ([`AuthSpec`]), the built enum ([`Scheme`]),
//! the type names (read by config errors and metrics) and the dispatch.
//!
//! A signer is a pure function of the request head, the body it asked for and a
//! [`SignContext`] (time and randomness), so that it reproduces published vectors exactly. It
//! never reaches for a socket: the `oauth2` signer gets its tokens from a [`TokenProvider`], the
//! `awsv4` signer its keys from a [`CredentialsProvider`].
//! Adding a scheme is one file and one registry line (which also declares its module).
//!
//! Every signer reads request heads and bodies that come from outside, so none of them may
//! unwrap, expect or index without a check (tests may).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

// The schemes' own modules are declared by the registry at the bottom; these are their helpers.
pub mod challenger;
mod mac;
pub mod ntlm_msg;
#[cfg(test)]
mod ntlm_vectors;
pub mod query;
mod signed;

pub use crate::context::{Clock, Entropy, OsEntropy, SignContext, SystemClock};
pub use awsv4::credentials::{
    AwsCredentials, CredentialsFailure, CredentialsFuture, CredentialsProvider,
    CredentialsProviders,
};
pub use oauth2::{TokenFailure, TokenProvider, TokenProviders};
pub use signed::SignedDetail;

use std::fmt;
use std::future::Future;
use std::path::Path;

use bytes::Bytes;
use serde::de::DeserializeOwned;

/// Compatibility path for `auth::context::…`.
pub mod context {
    pub use super::{AuthError, BodyNeed};
    pub use crate::context::{Clock, Entropy, OsEntropy, SignContext, SystemClock};
}

/// A scheme could not sign a request.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The request cannot be signed as it is (the message says why).
    #[error("{0}")]
    Unsignable(String),
    /// The scheme needs the whole body but it was larger than the buffer limit.
    #[error(
        "the request body is larger than the {limit}-byte buffer limit and {scheme} must hash it"
    )]
    BodyTooLarge {
        /// The scheme's type name.
        scheme: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// A key or other credential in the config is unusable (the message says why).
    #[error("{0}")]
    BadCredential(String),
    /// No token could be had from the token endpoint (the message carries the OAuth error).
    #[error("{0}")]
    TokenEndpoint(String),
}

/// A scheme's table cannot be built: which key, and why. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// The offending key inside the auth table, when one is to blame.
    pub key: Option<&'static str>,
    /// Why.
    pub reason: String,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            Some(key) if !self.reason.starts_with('`') => write!(f, "{key}: {}", self.reason),
            _ => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for BuildError {}

impl BuildError {
    /// `key` is wrong: `reason`.
    pub fn at(key: &'static str, reason: impl Into<String>) -> Self {
        BuildError {
            key: Some(key),
            reason: reason.into(),
        }
    }

    /// The table as a whole is wrong: `reason`.
    pub fn table(reason: impl Into<String>) -> Self {
        BuildError {
            key: None,
            reason: reason.into(),
        }
    }
}

/// How much of the request body a scheme needs to see before it can sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyNeed {
    /// The body streams through untouched.
    None,
    /// The whole body must be buffered; past the limit the request is refused with 413.
    Required,
    /// Buffer the body if it fits within the limit; otherwise sign without it (e.g. AWS's
    /// `UNSIGNED-PAYLOAD`).
    Preferred,
    /// Only the first this many bytes (EdgeGrid's `max_body`): the scheme gets at least those
    /// (the whole body when it is shorter), and the rest streams after them.
    Prefix(usize),
}

/// A change the body needs on its way upstream because its framing carries signatures
/// (aws-chunked uploads). A signer hands one back in the request's extensions; the proxy runs
/// the body through it, whether buffered or streaming.
#[derive(Debug, Clone)]
pub struct BodyRewrite(Box<awsv4::chunked::AwsChunked>);

/// Why a body could not be rewritten: it is malformed or incomplete.
pub type BodyRewriteError = awsv4::chunked::ChunkError;

impl BodyRewrite {
    pub(crate) fn new(chunked: awsv4::chunked::AwsChunked) -> Self {
        BodyRewrite(Box::new(chunked))
    }

    /// The rewrite a signer left in `req`, taken out of it.
    pub fn take(req: &mut http::request::Parts) -> Option<BodyRewrite> {
        req.extensions.remove::<BodyRewrite>()
    }

    /// Reads the next bytes of the body; appends what goes upstream to `out`.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut bytes::BytesMut,
    ) -> Result<(), BodyRewriteError> {
        self.0.feed(input, out)
    }

    /// The body ended: appends its last bytes, or fails when it was cut short.
    pub fn finish(&mut self, out: &mut bytes::BytesMut) -> Result<(), BodyRewriteError> {
        self.0.finish(out)
    }

    /// Rewrites a whole body at once.
    pub fn apply(mut self, body: &[u8]) -> Result<Bytes, BodyRewriteError> {
        let mut out = bytes::BytesMut::with_capacity(body.len() + body.len() / 512 + 128);
        self.feed(body, &mut out)?;
        self.finish(&mut out)?;
        Ok(out.freeze())
    }
}

/// What building a scheme needs besides its table.
#[derive(Clone, Copy)]
pub struct BuildContext<'a> {
    /// The profile name, or the key path of an inline table.
    pub name: &'a str,
    /// The config's directory (token stores live here unless configured otherwise).
    pub base_dir: &'a Path,
    /// Where the `oauth2` scheme gets its tokens.
    pub tokens: &'a dyn TokenProviders,
    /// Where the `awsv4` scheme gets the credentials of a profile or a role.
    pub aws: &'a dyn CredentialsProviders,
}

/// One auth scheme: built once from its config table, then asked to sign each request.
pub trait Signer: Sized + Send + Sync + fmt::Debug {
    /// The scheme's table in the config (Postman's field names).
    type Config: DeserializeOwned + Clone + fmt::Debug;

    /// Checks the table and builds the scheme.
    fn build(cfg: Self::Config, bx: &BuildContext<'_>) -> Result<Self, BuildError>;

    /// How much of the body the scheme must see before signing this request.
    fn body_need(&self, _req: &http::request::Parts) -> BodyNeed {
        BodyNeed::None
    }

    /// Adds the credentials. `req.uri` is absolute and names the real destination; `body` is
    /// the buffered body when [`Signer::body_need`] asked for it and it fit the limit.
    fn sign(
        &self,
        req: &mut http::request::Parts,
        body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> impl Future<Output = Result<(), AuthError>> + Send;

    /// Whether an upstream answer can make this scheme replay the request (a challenge, a
    /// refresh). The proxy then keeps the body, within the buffer limit, so that the replay
    /// carries the identical bytes.
    fn may_replay(&self) -> bool {
        false
    }

    /// Looks at the upstream's answer to a request this scheme signed; `true` asks for the
    /// original request to be signed again and sent once more. Called at most once a request.
    fn wants_replay(&self, _sent: &http::request::Parts, _answer: &http::response::Parts) -> bool {
        false
    }

    /// Takes `challenge` (a `WWW-Authenticate` value) as the upstream's answer to `sent`, so
    /// that the next [`Signer::sign`] answers it (`signet sign --challenge`); `false` when the
    /// scheme answers no challenges.
    fn accept_challenge(
        &self,
        _sent: &http::request::Parts,
        _challenge: &str,
    ) -> Option<Result<(), AuthError>> {
        None
    }

    /// The credentials, when the scheme authenticates connections rather than requests (NTLM,
    /// Negotiate): its requests then need an HTTP/1.1 connection pinned to the client's.
    fn connection_auth(&self) -> Option<challenger::ConnAuth<'_>> {
        None
    }

    /// One line for `explain` and `check`, without secrets.
    fn describe(&self) -> String;

    /// Whether the scheme puts its credential in the query string (the access log then leaves
    /// the query out).
    fn credential_in_query(&self) -> bool {
        false
    }
}

/// A signer that never waits (every scheme but `oauth2`, whose token may need fetching, and
/// those that answer challenges): implementing this one gives its [`Signer`].
pub trait SyncSigner: Sized + Send + Sync + fmt::Debug {
    /// The scheme's table in the config (Postman's field names).
    type Config: DeserializeOwned + Clone + fmt::Debug;

    /// Checks the table and builds the scheme.
    fn new(cfg: Self::Config) -> Result<Self, BuildError>;

    /// See [`Signer::body_need`].
    fn body_need(&self, _req: &http::request::Parts) -> BodyNeed {
        BodyNeed::None
    }

    /// See [`Signer::sign`].
    fn sign(
        &self,
        req: &mut http::request::Parts,
        body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError>;

    /// See [`Signer::describe`].
    fn describe(&self) -> String;

    /// See [`Signer::credential_in_query`].
    fn credential_in_query(&self) -> bool {
        false
    }
}

impl<T: SyncSigner> Signer for T {
    type Config = T::Config;

    fn build(cfg: T::Config, _bx: &BuildContext<'_>) -> Result<Self, BuildError> {
        T::new(cfg)
    }

    fn body_need(&self, req: &http::request::Parts) -> BodyNeed {
        SyncSigner::body_need(self, req)
    }

    async fn sign(
        &self,
        req: &mut http::request::Parts,
        body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        SyncSigner::sign(self, req, body, cx)
    }

    fn describe(&self) -> String {
        SyncSigner::describe(self)
    }

    fn credential_in_query(&self) -> bool {
        SyncSigner::credential_in_query(self)
    }
}

/// Generates the registry from one line per scheme: `Variant ["type", "alias"…] module::Type`,
/// the module being the scheme's file (or folder) in `src/auth/`.
macro_rules! schemes {
    ($($variant:ident [$name:literal $(, $alias:literal)*] $module:ident :: $ty:ident,)+) => {
        $(pub mod $module;)+
        schemes!(@registry $($variant [$name $(, $alias)*] $module::$ty,)+);
    };
    (@registry $($variant:ident [$name:literal $(, $alias:literal)*] $signer:ty,)+) => {
        /// One auth table, by `type`, as written in the config. Type names are Postman's.
        #[derive(Debug, Clone)]
        pub enum AuthSpec {
            $(
                #[doc = concat!("`", $name, "`.")]
                $variant(Box<<$signer as Signer>::Config>),
            )+
        }

        /// A ready-to-use auth scheme.
        #[derive(Debug)]
        pub enum Scheme {
            $(
                #[doc = concat!("`", $name, "`.")]
                $variant(Box<$signer>),
            )+
        }

        /// Every type name the config accepts.
        pub const TYPE_NAMES: &[&str] = &[$($name, $($alias,)*)+];

        /// One name per scheme, in [`Scheme::index`] order (metrics count by it).
        pub const SCHEME_NAMES: &[&str] = &[$($name,)+];

        impl AuthSpec {
            /// Parses the table of `type = kind`; `None` when no scheme has that name.
            pub fn parse(
                kind: &str,
                table: toml::Value,
            ) -> Option<Result<AuthSpec, serde_path_to_error::Error<toml::de::Error>>> {
                Some(match kind {
                    $($name $(| $alias)* => serde_path_to_error::deserialize(table)
                        .map(|cfg| AuthSpec::$variant(Box::new(cfg))),)+
                    _ => return None,
                })
            }

            /// The type name (the first of its spellings).
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(AuthSpec::$variant(_) => $name,)+
                }
            }
        }

        impl Scheme {
            /// Builds the scheme of `spec`.
            pub fn build(spec: &AuthSpec, bx: &BuildContext<'_>) -> Result<Scheme, BuildError> {
                Ok(match spec {
                    $(AuthSpec::$variant(cfg) => {
                        Scheme::$variant(Box::new(<$signer>::build((**cfg).clone(), bx)?))
                    })+
                })
            }

            /// The position of the scheme's name in [`SCHEME_NAMES`].
            pub fn index(&self) -> usize {
                #[allow(clippy::enum_variant_names)]
                enum Index { $($variant,)+ }
                match self {
                    $(Scheme::$variant(_) => Index::$variant as usize,)+
                }
            }

            /// The type name, as in the config.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Scheme::$variant(_) => $name,)+
                }
            }

            /// See [`Signer::body_need`].
            pub fn body_need(&self, req: &http::request::Parts) -> BodyNeed {
                match self { $(Scheme::$variant(s) => <$signer as Signer>::body_need(s, req),)+ }
            }

            /// See [`Signer::sign`].
            pub async fn sign(
                &self,
                req: &mut http::request::Parts,
                body: Option<&mut Bytes>,
                cx: &SignContext<'_>,
            ) -> Result<(), AuthError> {
                match self { $(Scheme::$variant(s) => <$signer as Signer>::sign(s, req, body, cx).await,)+ }
            }

            /// See [`Signer::may_replay`].
            pub fn may_replay(&self) -> bool {
                match self { $(Scheme::$variant(s) => <$signer as Signer>::may_replay(s),)+ }
            }

            /// See [`Signer::wants_replay`].
            pub fn wants_replay(
                &self,
                sent: &http::request::Parts,
                answer: &http::response::Parts,
            ) -> bool {
                match self { $(Scheme::$variant(s) => <$signer as Signer>::wants_replay(s, sent, answer),)+ }
            }

            /// See [`Signer::accept_challenge`].
            pub fn accept_challenge(
                &self,
                sent: &http::request::Parts,
                challenge: &str,
            ) -> Option<Result<(), AuthError>> {
                match self { $(Scheme::$variant(s) => <$signer as Signer>::accept_challenge(s, sent, challenge),)+ }
            }

            /// See [`Signer::connection_auth`].
            pub fn connection_auth(&self) -> Option<challenger::ConnAuth<'_>> {
                match self { $(Scheme::$variant(s) => <$signer as Signer>::connection_auth(s),)+ }
            }

            /// Whether requests under this scheme must use HTTP/1.1 on a connection pinned to
            /// the client's.
            pub fn needs_http1(&self) -> bool {
                self.connection_auth().is_some()
            }

            /// See [`Signer::describe`].
            pub fn describe(&self) -> String {
                match self { $(Scheme::$variant(s) => <$signer as Signer>::describe(s),)+ }
            }

            /// See [`Signer::credential_in_query`].
            pub fn credential_in_query(&self) -> bool {
                match self { $(Scheme::$variant(s) => <$signer as Signer>::credential_in_query(s),)+ }
            }
        }
    };
}

// The registry: one line per scheme, in the order type names are listed in messages.
schemes! {
    None ["none", "noauth"] none::NoAuth,
    ApiKey ["apikey"] apikey::ApiKey,
    Bearer ["bearer"] bearer::Bearer,
    Jwt ["jwt"] jwt::Jwt,
    Asap ["asap"] asap::Asap,
    Basic ["basic"] basic::Basic,
    Digest ["digest"] digest::Digest,
    OAuth1 ["oauth1"] oauth1::OAuth1,
    OAuth2 ["oauth2"] oauth2::OAuth2,
    Hawk ["hawk"] hawk::Hawk,
    AwsV4 ["awsv4"] awsv4::AwsV4,
    Ntlm ["ntlm"] ntlm::Ntlm,
    Negotiate ["negotiate"] negotiate::Negotiate,
    EdgeGrid ["edgegrid"] edgegrid::EdgeGrid,
}

impl Scheme {
    /// The scheme that adds nothing: requests under no rule, or `auth = "none"`.
    pub fn none() -> Scheme {
        Scheme::None(Box::new(none::NoAuth))
    }

    /// The NTLM credentials, when the scheme is `ntlm`.
    pub fn ntlm(&self) -> Option<&ntlm::Ntlm> {
        match self.connection_auth() {
            Some(challenger::ConnAuth::Ntlm(ntlm)) => Some(ntlm),
            _ => None,
        }
    }
}
