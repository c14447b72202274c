//! Where the `awsv4` signer's keys come from: the table's own `access_key`/`secret_key`, or a
//! [`CredentialsProvider`] (built by `crate::aws` from a profile of the AWS shared files, a
//! `credential_process` or an STS AssumeRole), asked at sign time. The signer never reads a file,
//! runs a process or opens a socket itself.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::{AwsV4, AwsV4Config};
use crate::auth::{AuthError, BodyNeed, BuildContext, BuildError, SignContext, Signer};
use crate::secret::Secret;

/// One set of AWS credentials. Every part prints as `***`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// Access key id.
    pub access_key: Secret,
    /// Secret access key.
    pub secret_key: Secret,
    /// Session token of temporary credentials.
    pub session_token: Option<Secret>,
    /// When temporary credentials stop working; `None` for long-term keys.
    pub expires_at: Option<SystemTime>,
}

/// Why no credentials can be had right now (the message names the profile, never a secret).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CredentialsFailure(pub String);

/// The future of a set of credentials.
pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<AwsCredentials>, CredentialsFailure>> + Send + 'a>>;

/// Hands out the credentials to sign with, obtaining or renewing them when needed.
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// Credentials valid for a request signed at `now` (after any wait for a renewal).
    fn credentials(&self, now: SystemTime) -> CredentialsFuture<'_>;
    /// The credentials at hand when they need no renewal at `now`, without waiting.
    fn current(&self, now: SystemTime) -> Option<Arc<AwsCredentials>>;
    /// The region the source names (a profile's `region`), for a table without one.
    fn region(&self) -> Option<String>;
    /// Where the credentials come from, for `explain` and `check`, without secrets (empty for
    /// the table's own keys).
    fn describe(&self) -> String;
}

/// Builds the provider of an `awsv4` table that names a `profile` or a `role_arn`.
pub trait CredentialsProviders {
    /// The provider for `cfg`, the table of profile (or inline key path) `name`.
    fn provider(
        &self,
        cfg: &AwsV4Config,
        name: &str,
    ) -> Result<Arc<dyn CredentialsProvider>, BuildError>;
}

/// Builds no providers: for contexts that only take literal keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiteralKeysOnly;

impl CredentialsProviders for LiteralKeysOnly {
    fn provider(&self, _: &AwsV4Config, _: &str) -> Result<Arc<dyn CredentialsProvider>, BuildError> {
        Err(BuildError::table(
            "`profile` and `role_arn` need signet's AWS credential sources, absent here",
        ))
    }
}

/// The table's own keys: always at hand, never renewed.
#[derive(Debug)]
pub struct StaticCredentials(Arc<AwsCredentials>);

impl StaticCredentials {
    /// Fixed credentials.
    pub fn new(credentials: AwsCredentials) -> Self {
        StaticCredentials(Arc::new(credentials))
    }

    /// The `access_key`, `secret_key` and `session_token` of `cfg`.
    pub fn of_table(cfg: &AwsV4Config) -> Result<Self, BuildError> {
        let (Some(access_key), Some(secret_key)) = (&cfg.access_key, &cfg.secret_key) else {
            return Err(missing_keys(cfg));
        };
        Ok(Self::new(AwsCredentials {
            access_key: access_key.clone(),
            secret_key: secret_key.clone(),
            session_token: cfg.session_token.clone(),
            expires_at: None,
        }))
    }
}

impl CredentialsProvider for StaticCredentials {
    fn credentials(&self, _now: SystemTime) -> CredentialsFuture<'_> {
        let credentials = self.0.clone();
        Box::pin(async move { Ok(credentials) })
    }

    fn current(&self, _now: SystemTime) -> Option<Arc<AwsCredentials>> {
        Some(self.0.clone())
    }

    fn region(&self) -> Option<String> {
        None
    }

    fn describe(&self) -> String {
        String::new()
    }
}

fn missing_keys(cfg: &AwsV4Config) -> BuildError {
    match (&cfg.access_key, &cfg.secret_key) {
        (Some(_), None) => BuildError::at("secret_key", "`secret_key` is missing"),
        (None, Some(_)) => BuildError::at("access_key", "`access_key` is missing"),
        _ => BuildError::table(
            "awsv4 needs `access_key` and `secret_key`, or `profile` (a profile of the AWS \
             shared config and credentials files)",
        ),
    }
}

/// Checks which credential keys of the table go together.
pub fn check_sources(cfg: &mut AwsV4Config) -> Result<(), BuildError> {
    // `session_token = "${AWS_SESSION_TOKEN:-}"` with the variable unset means no token.
    cfg.session_token = cfg.session_token.take().filter(|t| !t.expose().is_empty());
    for (key, value) in [("access_key", &cfg.access_key), ("secret_key", &cfg.secret_key)] {
        if value.as_ref().is_some_and(|v| v.expose().is_empty()) {
            return Err(BuildError::at(key, format!("`{key}` is empty")));
        }
    }
    match (&cfg.profile, &cfg.access_key, &cfg.secret_key) {
        (Some(p), _, _) if p.trim().is_empty() => {
            return Err(BuildError::at("profile", "`profile` is empty"));
        }
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(BuildError::at(
                "profile",
                "`profile` takes the keys from the AWS files: drop `access_key`/`secret_key`",
            ));
        }
        (Some(_), None, None) if cfg.session_token.is_some() => {
            return Err(BuildError::at(
                "session_token",
                "`session_token` goes with `access_key`; a profile has its own aws_session_token",
            ));
        }
        (Some(_), None, None) => {}
        (None, _, _) => {
            StaticCredentials::of_table(cfg)?;
        }
    }
    match &cfg.role_arn {
        Some(arn) if !arn.starts_with("arn:") => Err(BuildError::at(
            "role_arn",
            format!("`role_arn` is not an ARN: {arn:?}"),
        )),
        Some(_) => Ok(()),
        None if cfg.role_session_name.is_some() => Err(BuildError::at(
            "role_session_name",
            "`role_session_name` needs `role_arn`",
        )),
        None if cfg.external_id.is_some() => {
            Err(BuildError::at("external_id", "`external_id` needs `role_arn`"))
        }
        None => Ok(()),
    }
}

/// Whether the table's credentials come from somewhere other than its own keys.
fn needs_provider(cfg: &AwsV4Config) -> bool {
    cfg.profile.is_some() || cfg.role_arn.is_some() || cfg.sts_endpoint.is_some()
}

impl Default for AwsV4Config {
    /// No keys; region and service from the request; the header form.
    fn default() -> Self {
        AwsV4Config {
            access_key: None,
            secret_key: None,
            session_token: None,
            profile: None,
            role_arn: None,
            role_session_name: None,
            external_id: None,
            sts_endpoint: None,
            region: None,
            service: None,
            add_to: super::AddTo::Header,
            expires: super::default_expires(),
        }
    }
}

impl AwsV4 {
    /// A signer with the table's own keys (`access_key`, `secret_key`, `session_token`).
    pub fn new(mut cfg: AwsV4Config) -> Result<Self, BuildError> {
        check_sources(&mut cfg)?;
        let credentials = Arc::new(StaticCredentials::of_table(&cfg)?);
        Self::with_credentials(cfg, credentials)
    }

    /// Signs `req` in place with the credentials at hand, never waiting for a renewal (the
    /// table's own keys always are at hand).
    pub fn sign(
        &self,
        req: &mut http::request::Parts,
        body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        let credentials = self.credentials.current(cx.now).ok_or_else(|| {
            AuthError::TokenEndpoint("the AWS credentials are not obtained yet".into())
        })?;
        self.sign_with(req, body, cx, &credentials)
    }
}

impl Signer for AwsV4 {
    type Config = AwsV4Config;

    fn build(mut cfg: AwsV4Config, bx: &BuildContext<'_>) -> Result<Self, BuildError> {
        check_sources(&mut cfg)?;
        let provider: Arc<dyn CredentialsProvider> = if needs_provider(&cfg) {
            bx.aws.provider(&cfg, bx.name)?
        } else {
            Arc::new(StaticCredentials::of_table(&cfg)?)
        };
        if cfg.region.is_none() {
            cfg.region = provider.region();
        }
        AwsV4::with_credentials(cfg, provider)
    }

    fn body_need(&self, req: &http::request::Parts) -> BodyNeed {
        AwsV4::body_need(self, req)
    }

    /// Signs with the provider's credentials, obtaining or renewing them first when needed.
    async fn sign(
        &self,
        req: &mut http::request::Parts,
        body: Option<&mut Bytes>,
        cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        let credentials = self
            .credentials
            .credentials(cx.now)
            .await
            .map_err(|e| AuthError::TokenEndpoint(e.to_string()))?;
        self.sign_with(req, body, cx, &credentials)
    }

    fn describe(&self) -> String {
        AwsV4::describe(self)
    }

    fn credential_in_query(&self) -> bool {
        self.cfg.add_to == super::AddTo::Query
    }
}
