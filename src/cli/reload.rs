//! `signet run`'s reloads: on `SIGHUP` and when the config file changes, the config is loaded
//! and everything it makes is built off the serving threads, then swapped in whole; a config
//! that fails keeps the one in force.
//!
//! The file is watched by looking at it once a second (through symlinks: modification time,
//! size, inode and device), which sees writes in place, atomic renames and swapped symlinks
//! alike, costs one `stat` a second, and needs no watcher crate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::admin::Admin;
use crate::config::Config;
use crate::proxy::{Parts, Signet, StartError};

/// How often the config file is looked at.
pub(super) const WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// A changed file is loaded once two looks this far apart agree: an editor or a config manager
/// that writes in several steps is done by then.
const SETTLE: Duration = Duration::from_millis(200);

/// What tells one version of the config file from another.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: (u64, u64),
}

fn stamp(file: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(file).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        inode: {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        },
    })
}

/// The addresses signet listens on, which a reload cannot change.
#[derive(Debug, Clone, Copy)]
pub(super) struct Listening {
    pub(super) proxy: SocketAddr,
    pub(super) admin: Option<SocketAddr>,
}

impl Listening {
    /// A config that would leave a non-loopback listener without `[proxy] client_auth` (an
    /// open proxy) is refused, as at start-up.
    fn check(&self, config: &Config) -> Result<(), String> {
        if config.proxy.client_auth.is_some() {
            return Ok(());
        }
        let mut listeners = [Some(self.proxy), self.admin].into_iter().flatten();
        match listeners.find(|addr| !addr.ip().is_loopback()) {
            Some(addr) => Err(format!(
                "{}: [proxy] client_auth: signet listens on {addr}, which needs it, or signet \
                 would be an open proxy",
                config.file.display()
            )),
            None => Ok(()),
        }
    }
}

/// Reloads one proxy's config.
pub(super) struct Reloader {
    file: PathBuf,
    signet: Arc<Signet>,
    admin: Option<Arc<Admin>>,
    listening: Listening,
    /// The config in force, for what a reload cannot change.
    loaded: Config,
    /// `--listen` was given: the config's `listen` does not apply.
    listen_given: bool,
    seen: Option<Stamp>,
}

impl Reloader {
    pub(super) fn new(
        loaded: Config,
        signet: Arc<Signet>,
        admin: Option<Arc<Admin>>,
        listening: Listening,
        listen_given: bool,
    ) -> Self {
        signet.metrics().loaded(loaded.sha256(), SystemTime::now());
        Reloader {
            file: loaded.file.clone(),
            seen: stamp(&loaded.file),
            signet,
            admin,
            listening,
            loaded,
            listen_given,
        }
    }

    /// Whether the file changed since it was last loaded (and has settled).
    pub(super) async fn file_changed(&mut self) -> bool {
        let mut now = stamp(&self.file);
        if now.is_none() || now == self.seen {
            return false;
        }
        for _ in 0..5 {
            tokio::time::sleep(SETTLE).await;
            let again = stamp(&self.file);
            if again == now {
                break;
            }
            now = again;
        }
        self.seen = now;
        true
    }

    /// Loads the config and puts it in force, or logs why not and keeps the one in force.
    pub(super) async fn reload(&mut self, cause: &'static str) {
        self.seen = stamp(&self.file);
        let file = self.file.clone();
        let signet = self.signet.clone();
        let listening = self.listening;
        // Reading files, resolving secrets and loading keys blocks: not on a runtime thread.
        let built = tokio::task::spawn_blocking(move || build(&file, &signet, listening)).await;
        let (config, parts) = match built {
            Ok(Ok(built)) => built,
            Ok(Err(e)) => {
                self.signet.metrics().reload(false);
                tracing::error!(cause, "reload refused; the config in force stays: {e}");
                return;
            }
            Err(e) => {
                self.signet.metrics().reload(false);
                tracing::error!(cause, error = %e, "reload failed; the config in force stays");
                return;
            }
        };
        if let Some(admin) = &self.admin
            && let Err(e) = admin.reload(&config)
        {
            self.signet.metrics().reload(false);
            tracing::error!(
                cause,
                "reload refused; the config in force stays: [admin]: {e}"
            );
            return;
        }
        let previous = self.signet.current();
        self.signet.swap(parts);
        let current = self.signet.current();
        let kept = current.policy().carried_from(previous.policy());
        drop(previous);
        self.warn_about_restart(&config);
        self.signet.metrics().reload(true);
        self.signet
            .metrics()
            .loaded(config.sha256(), SystemTime::now());
        tracing::info!(
            cause,
            config = %config.file.display(),
            rules = config.hosts.len(),
            kept = ?kept,
            "config reloaded"
        );
        self.loaded = config;
    }

    /// What a reload leaves as it was until the next start.
    fn warn_about_restart(&self, config: &Config) {
        let (old, new) = (&self.loaded, config);
        let changed = [
            (
                "[proxy] listen",
                !self.listen_given && old.proxy.listen != new.proxy.listen,
            ),
            (
                "[admin] listen",
                old.admin.as_ref().map(|a| &a.listen) != new.admin.as_ref().map(|a| &a.listen),
            ),
            ("[[gateway]]", old.gateways != new.gateways),
            ("[log] format", old.log != new.log),
            ("[cookies] jar", old.cookies.jar != new.cookies.jar),
            (
                "[proxy] max_connections",
                old.proxy.max_connections != new.proxy.max_connections,
            ),
            (
                "[proxy] max_connections_per_ip",
                old.proxy.max_connections_per_ip != new.proxy.max_connections_per_ip,
            ),
        ];
        for (key, _) in changed.iter().filter(|(_, changed)| *changed) {
            tracing::warn!("{key} changed: it takes effect when signet is restarted");
        }
    }
}

/// The config at `file` and what it makes of `signet`, built and checked as a whole (and
/// against the addresses signet listens on).
fn build(file: &Path, signet: &Signet, listening: Listening) -> Result<(Config, Parts), String> {
    let config = Config::load(file).map_err(|e| e.to_string())?;
    listening.check(&config)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let parts = signet
        .renewal(&config)
        .map_err(|e: StartError| e.to_string())?;
    Ok((config, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        Config::parse(Path::new("signet.toml"), toml.to_owned(), &|_| None).unwrap()
    }

    #[test]
    fn a_reload_cannot_make_an_open_proxy() {
        let wide = Listening {
            proxy: "0.0.0.0:8080".parse().unwrap(),
            admin: None,
        };
        let err = wide.check(&config("")).unwrap_err();
        assert!(err.contains("signet listens on 0.0.0.0:8080"), "{err}");
        let guarded = "[proxy]\nclient_auth = { username = \"u\", password = \"p\" }\n";
        assert!(wide.check(&config(guarded)).is_ok());

        let admin_wide = Listening {
            proxy: "127.0.0.1:8080".parse().unwrap(),
            admin: Some("[::]:8081".parse().unwrap()),
        };
        assert!(admin_wide.check(&config("")).is_err());
        let local = Listening {
            proxy: "127.0.0.1:8080".parse().unwrap(),
            admin: Some("[::1]:8081".parse().unwrap()),
        };
        assert!(local.check(&config("")).is_ok());
    }
}
