//! The token machinery seen from the signers: a [`TokenSource`] is the `oauth2` scheme's
//! [`TokenProvider`], and [`Sources`] builds one per `oauth2` table of a config.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::client::TokenClient;
use super::settings::{Grant, Settings};
use super::source::{SourceError, TokenSource};
use crate::auth::oauth2::{OAuth2Config, TokenFailure, TokenFuture};
use crate::auth::{BuildError, TokenProvider, TokenProviders};
use crate::net::Dialer;
use crate::shared::SharedStore;

impl TokenProvider for TokenSource {
    fn token(&self, now: SystemTime) -> TokenFuture<'_> {
        Box::pin(async move {
            self.credential(now).await.map_err(|e| match e {
                SourceError::Store(m) => TokenFailure::Store(m),
                other => TokenFailure::Endpoint(other.to_string()),
            })
        })
    }

    fn reject(&self, sent: &str) {
        TokenSource::reject(self, sent)
    }

    fn can_renew(&self) -> bool {
        TokenSource::can_renew(self)
    }

    fn renews(&self) -> bool {
        !matches!(self.settings().grant, Grant::Fixed(_))
    }

    fn describe(&self) -> String {
        let s = self.settings();
        let mut out = format!("grant={}", s.grant.name());
        if let Some(url) = &s.token_url {
            out.push_str(&format!(" token_url={url}"));
        }
        if let Some(scope) = &s.scope {
            out.push_str(&format!(" scope={scope:?}"));
        }
        if s.send_id_token {
            out.push_str(" token_type=id_token");
        }
        if !matches!(s.grant, Grant::Fixed(_)) {
            out.push_str(&format!(" store={}", s.store_path.display()));
        }
        out
    }
}

/// Builds the token sources of a config's `oauth2` tables, all asking their token endpoints
/// through one dialer (as proxied requests go: through the parent proxy, if any), and keeps
/// them by name for `signet login`, `signet token` and the metrics.
pub struct Sources {
    dialer: Dialer,
    token_timeout: Duration,
    shared: Option<Arc<SharedStore>>,
    built: Mutex<Vec<(String, Arc<TokenSource>)>>,
}

impl Sources {
    /// Sources that reach token endpoints through `dialer`, each token request given up after
    /// `token_timeout` (`[proxy] token_timeout`).
    pub fn new(dialer: Dialer, token_timeout: Duration) -> Self {
        Sources {
            dialer,
            token_timeout,
            shared: None,
            built: Mutex::default(),
        }
    }

    /// Sources whose tokens are shared through `store` with other instances.
    pub fn sharing(mut self, store: Option<Arc<SharedStore>>) -> Self {
        self.shared = store;
        self
    }

    /// Every source built, with the name of its table.
    pub fn into_built(self) -> Vec<(String, Arc<TokenSource>)> {
        self.built.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl TokenProviders for Sources {
    fn provider(
        &self,
        cfg: &OAuth2Config,
        name: &str,
        base_dir: &Path,
    ) -> Result<Arc<dyn TokenProvider>, BuildError> {
        let settings = Settings::new(cfg, name, base_dir)?;
        let mut source = TokenSource::new(
            settings,
            TokenClient::new(self.dialer.clone(), self.token_timeout),
        );
        if let Some(store) = &self.shared {
            source = source.sharing(store.clone());
        }
        let source = Arc::new(source);
        self.built
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_owned(), source.clone()));
        Ok(source)
    }
}
