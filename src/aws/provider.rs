//! The AWS credential sources seen from the signer: [`AwsSources`] turns an `awsv4` table's
//! `profile` / `role_arn` into a chain of sources (keys, a process, AssumeRoles), each renewing
//! source cached on its own, and hands it to the signer as its
//! [`crate::auth::CredentialsProvider`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Env;
use super::process;
use super::profile::{Plan, Role, SharedFiles};
use super::source::{Fetch, FetchFuture, Renewing};
use super::sts::{Endpoint, StsClient};
use crate::auth::awsv4::AwsV4Config;
use crate::auth::{
    AwsCredentials, BuildError, CredentialsFailure, CredentialsFuture, CredentialsProvider,
    CredentialsProviders,
};
use crate::net::Dialer;

/// One link of a chain: fixed keys, or credentials that are obtained and renewed.
#[derive(Debug, Clone)]
enum Link {
    Fixed(Arc<AwsCredentials>),
    Renewing(Arc<Renewing>),
}

impl Link {
    async fn get(&self, now: SystemTime) -> Result<Arc<AwsCredentials>, String> {
        match self {
            Link::Fixed(c) => Ok(c.clone()),
            Link::Renewing(r) => r.get(now).await,
        }
    }

    fn current(&self, now: SystemTime) -> Option<Arc<AwsCredentials>> {
        match self {
            Link::Fixed(c) => Some(c.clone()),
            Link::Renewing(r) => r.fresh(now),
        }
    }
}

struct ProcessFetch {
    profile: String,
    command: Vec<String>,
    timeout: Duration,
}

impl std::fmt::Debug for ProcessFetch {
    /// The program only: arguments may carry a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let program = self.command.first().map_or("", String::as_str);
        write!(f, "ProcessFetch({}: {program} …)", self.profile)
    }
}

impl Fetch for ProcessFetch {
    fn fetch(&self, _now: SystemTime) -> FetchFuture<'_> {
        Box::pin(async move {
            process::run(&self.command, self.timeout, &self.profile)
                .await
                .map_err(|e| format!("AWS profile {}: {e}", self.profile))
        })
    }
}

#[derive(Debug)]
struct RoleFetch {
    /// The profile or rule that names the role.
    owner: String,
    role: Role,
    source: Link,
    endpoint: Endpoint,
    client: StsClient,
}

impl Fetch for RoleFetch {
    fn fetch(&self, now: SystemTime) -> FetchFuture<'_> {
        Box::pin(async move {
            let source = self.source.get(now).await?;
            let session_name = match &self.role.session_name {
                Some(name) => name.clone(),
                None => {
                    let unix = now
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default();
                    format!("signet-{}", unix.as_secs())
                }
            };
            self.client
                .assume_role(&self.endpoint, &self.role, &session_name, &source, now)
                .await
                .map_err(|e| format!("{}: {e}", self.owner))
        })
    }
}

/// The credentials of one `awsv4` table.
#[derive(Debug)]
pub struct AwsCredentialSource {
    link: Link,
    region: Option<String>,
    description: String,
}

impl CredentialsProvider for AwsCredentialSource {
    fn credentials(&self, now: SystemTime) -> CredentialsFuture<'_> {
        Box::pin(async move { self.link.get(now).await.map_err(CredentialsFailure) })
    }

    fn current(&self, now: SystemTime) -> Option<Arc<AwsCredentials>> {
        self.link.current(now)
    }

    fn region(&self) -> Option<String> {
        self.region.clone()
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// Builds the credential sources of a config's `awsv4` tables that name a profile or a role,
/// asking STS through one dialer (as proxied requests go: through the parent proxy, if any).
pub struct AwsSources {
    client: StsClient,
    /// How long a credential_process or an AssumeRole may take (`[proxy] token_timeout`).
    timeout: Duration,
    env: Env,
}

impl AwsSources {
    /// Sources that reach STS through `dialer`, give up on a process or a request after
    /// `timeout`, and read `AWS_*` variables and `HOME` from `env`.
    pub fn new(dialer: Dialer, timeout: Duration, env: Env) -> Self {
        AwsSources {
            client: StsClient::new(dialer, timeout),
            timeout,
            env,
        }
    }

    /// The chain of `plan`, AssumeRoles going to `endpoint`.
    fn link(&self, plan: Plan, endpoint: &Endpoint) -> Link {
        match plan {
            Plan::Static { credentials, .. } => Link::Fixed(Arc::new(credentials)),
            Plan::Process { profile, command } => Link::Renewing(Arc::new(Renewing::new(
                format!("AWS profile {profile}: credential_process"),
                Box::new(ProcessFetch {
                    profile,
                    command,
                    timeout: self.timeout,
                }),
            ))),
            Plan::AssumeRole {
                profile,
                role,
                source,
            } => Link::Renewing(Arc::new(Renewing::new(
                format!("{profile}: AssumeRole {}", role.arn),
                Box::new(RoleFetch {
                    owner: profile,
                    role,
                    source: self.link(*source, endpoint),
                    endpoint: endpoint.clone(),
                    client: self.client.clone(),
                }),
            ))),
        }
    }
}

/// Where a plan's credentials come from, in words (no secrets, no command lines).
fn describe(plan: &Plan, endpoint: &Endpoint) -> String {
    match plan {
        Plan::Static { profile, .. } => format!("{profile} (keys)"),
        Plan::Process { profile, .. } => format!("AWS profile {profile} (credential_process)"),
        Plan::AssumeRole {
            profile,
            role,
            source,
        } => {
            let external = if role.external_id.is_some() {
                " external_id=set"
            } else {
                ""
            };
            format!(
                "{profile} (role {} at {}{external}) from {}",
                role.arn,
                endpoint.url,
                describe(source, endpoint)
            )
        }
    }
}

impl CredentialsProviders for AwsSources {
    fn provider(
        &self,
        cfg: &AwsV4Config,
        name: &str,
    ) -> Result<Arc<dyn CredentialsProvider>, BuildError> {
        let (plan, profile_region) = match &cfg.profile {
            Some(profile) => {
                let at_profile =
                    |e: super::profile::ProfileError| BuildError::at("profile", e.to_string());
                let files = SharedFiles::load(&self.env).map_err(at_profile)?;
                let resolved = files.resolve(profile, &self.env).map_err(at_profile)?;
                (resolved.plan, resolved.region)
            }
            None => {
                let (Some(access_key), Some(secret_key)) = (&cfg.access_key, &cfg.secret_key)
                else {
                    return Err(BuildError::table(
                        "awsv4 needs `access_key` and `secret_key`, or `profile`",
                    ));
                };
                let credentials = AwsCredentials {
                    access_key: access_key.clone(),
                    secret_key: secret_key.clone(),
                    session_token: cfg.session_token.clone(),
                    expires_at: None,
                };
                let profile = format!("the keys of {name}");
                (
                    Plan::Static {
                        profile,
                        credentials,
                    },
                    None,
                )
            }
        };
        let plan = match &cfg.role_arn {
            Some(arn) => Plan::AssumeRole {
                profile: format!("rule {name}"),
                role: Role {
                    arn: arn.clone(),
                    session_name: cfg.role_session_name.clone(),
                    external_id: cfg.external_id.clone(),
                    duration_seconds: None,
                },
                source: Box::new(plan),
            },
            None => plan,
        };
        if cfg.sts_endpoint.is_some() && !matches!(plan, Plan::AssumeRole { .. }) {
            return Err(BuildError::at(
                "sts_endpoint",
                "`sts_endpoint` is for AssumeRole, and neither the rule nor its profile names a \
                 role_arn",
            ));
        }
        let region = cfg.region.clone().or(profile_region);
        // Only a plan with a role goes to STS: the endpoint variables matter to no other.
        let endpoint = if matches!(plan, Plan::AssumeRole { .. }) {
            let key = match (&cfg.sts_endpoint, &cfg.role_arn) {
                (Some(_), _) => "sts_endpoint",
                (None, Some(_)) => "role_arn",
                (None, None) => "profile",
            };
            Endpoint::resolve(cfg.sts_endpoint.as_deref(), region.as_deref(), &self.env)
                .map_err(|e| BuildError::at(key, e))?
        } else {
            Endpoint::regional(region.as_deref())
        };
        let mut description = format!("credentials: {}", describe(&plan, &endpoint));
        if let Some(profile) = &cfg.profile {
            description = format!("profile={profile} {description}");
        }
        Ok(Arc::new(AwsCredentialSource {
            link: self.link(plan, &endpoint),
            region,
            description,
        }))
    }
}

#[cfg(test)]
#[path = "provider_tests.rs"]
mod tests;
