//! `signet run`: the proxy and, when configured, the admin endpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use super::Failure;
use crate::admin::Admin;
use crate::config::Config;
use crate::proxy::Signet;

pub(super) fn run_proxy(config: Config, listen: Option<SocketAddr>) -> Result<(), Failure> {
    init_logging();
    let addr = match listen {
        Some(addr) => addr,
        None => config
            .proxy
            .listen
            .parse()
            .map_err(|e| Failure::User(format!("[proxy] listen: {e}")))?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let signet = Signet::build(&config)?;
        let listener = signet.bind(addr).await?;
        let local = listener.local_addr().map_err(|e| Failure::Runtime(e.to_string()))?;
        tracing::info!(listen = %local, config = %config.file.display(), rules = config.hosts.len(), "signet is running");
        let signet = Arc::new(signet);
        let admin = match &config.admin {
            None => None,
            Some(admin) => {
                let addr: SocketAddr = admin
                    .listen
                    .parse()
                    .map_err(|e| Failure::User(format!("[admin] listen: {e}")))?;
                let state = Admin::new(&config, signet.clone(), local).map_err(Failure::User)?;
                let listener = state.bind(addr).await?;
                let admin_local = listener.local_addr().map_err(|e| Failure::Runtime(e.to_string()))?;
                tracing::info!(listen = %admin_local, "admin endpoint: /healthz /ca.crt /proxy.pac /metrics");
                Some(tokio::spawn(Arc::new(state).serve(listener)))
            }
        };
        let _admin = admin.map(AbortOnDrop);
        tokio::select! {
            () = signet.serve(listener) => Ok(()),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("shutting down");
                Ok(())
            }
        }
    })
}

pub(super) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("signet=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
