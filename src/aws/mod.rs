//! AWS credentials the way the AWS CLI reads them, behind the `awsv4` auth type: profiles of the
//! shared config and credentials files, `credential_process`, STS AssumeRole (signed by signet's
//! own SigV4 signer, sent through the dialer), and the life cycle of temporary credentials. The
//! signer sees only the [`crate::auth::CredentialsProvider`] built here.

pub mod ini;
pub mod process;
pub mod profile;
pub mod provider;
pub mod source;
pub mod sts;
pub mod xml;

pub use provider::{AwsCredentialSource, AwsSources};

use std::fmt;
use std::sync::Arc;

/// Where `AWS_*` variables and `HOME` are read: the process environment, or a fixed map in
/// tests (which run in parallel in one process and must not change its environment).
#[derive(Clone)]
pub struct Env(Arc<Lookup>);

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Env {
    /// The process environment.
    pub fn process() -> Env {
        Env(Arc::new(|key| std::env::var(key).ok()))
    }

    /// Variables from `lookup`.
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Env {
        Env(Arc::new(lookup))
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<String> {
        (self.0)(key)
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env")
    }
}
