//! `none` (`noauth`): the request goes untouched. The scheme of requests under no rule too, so
//! that every request takes the same path through the proxy.

use bytes::Bytes;
use serde::Deserialize;

use super::{AuthError, BuildContext, BuildError, SignContext, Signer};

/// `type = "none"` takes no keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoAuthConfig {}

/// Adds nothing.
#[derive(Debug)]
pub struct NoAuth;

impl Signer for NoAuth {
    type Config = NoAuthConfig;

    fn build(_cfg: NoAuthConfig, _bx: &BuildContext<'_>) -> Result<Self, BuildError> {
        Ok(NoAuth)
    }

    async fn sign(
        &self,
        _req: &mut http::request::Parts,
        _body: Option<&mut Bytes>,
        _cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "none".into()
    }
}
