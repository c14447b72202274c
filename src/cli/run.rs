//! `signet run`: the proxy and, when configured, the admin endpoint; reloads on `SIGHUP` and
//! config changes, and a graceful stop on `SIGTERM` or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;

use super::access_line;
use super::banner;
use super::reload::{Listening, Reloader, WATCH_INTERVAL};
use super::{Failure, current_thread};
use crate::admin::Admin;
use crate::config::{Config, GatewayConfig, LogFormat};
use crate::proxy::Signet;
use crate::proxy::access;

/// A gateway and its listening socket.
type GatewayListener<L> = (Arc<GatewayConfig>, L);

pub(super) fn run_proxy(
    mut config: Config,
    listen: Option<SocketAddr>,
    gateways: Vec<GatewayConfig>,
    log_format: Option<LogFormat>,
) -> Result<(), Failure> {
    let log_format = log_format.unwrap_or(config.log.format);
    init_logging(log_format);
    // Writes the access lines gathered per thread, also when `run` ends early.
    let _flushing = (log_format == LogFormat::Text).then(access_line::Flushing::start);
    log_panics();
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let as_loaded = config.clone();
    fit_connections_to_open_files(&mut config);
    // `--gateway` listeners come on top of the file's (a reload compares the file's only).
    config.gateways.extend(gateways);
    let addr = match listen {
        // The config's own listen address was checked when it was loaded.
        Some(addr) if !addr.ip().is_loopback() && config.proxy.client_auth.is_none() => {
            return Err(Failure::User(format!(
                "--listen {addr}: a non-loopback address needs [proxy] client_auth in {}, \
                 or signet would be an open proxy",
                config.file.display()
            )));
        }
        Some(addr) => addr,
        None => config
            .proxy
            .listen
            .parse()
            .map_err(|e| Failure::User(format!("[proxy] listen: {e}")))?,
    };
    // The start-up, the admin endpoint and Ctrl-C run on this runtime.
    let main = current_thread()?;
    // From here on a SIGHUP or SIGTERM is answered, not the end of the process.
    let mut signals = main.block_on(async { Signals::new() })?;
    let (signet, listener, gateways, admin, listening) = main.block_on(async {
        let signet = Signet::build(&config)?;
        let listener = signet.bind(addr).await?;
        let local = listener.local_addr().map_err(|e| Failure::Runtime(e.to_string()))?;
        let gateways = bind_gateways(&signet, &config.gateways).await?;
        tracing::info!(listen = %local, config = %config.file.display(), rules = config.hosts.len(), "signet is running");
        banner::proxy(&signet, &config, local);
        write_access_lines(&signet, log_format);
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
                tracing::info!(listen = %admin_local, "admin endpoint: / /healthz /ca.crt /proxy.pac /metrics");
                banner::admin(admin_local);
                let state = Arc::new(state);
                let recent = state.recent().clone();
                signet
                    .access_log()
                    .listen(move |record| recent.push(record.into()));
                let task = AbortOnDrop(tokio::spawn(state.clone().serve(listener)));
                Some((state, task, admin_local))
            }
        };
        let listening = Listening {
            proxy: local,
            admin: admin.as_ref().map(|(_, _, addr)| *addr),
        };
        let listener = listener.into_std().map_err(|e| Failure::Runtime(e.to_string()))?;
        Ok::<_, Failure>((signet, listener, gateways, admin, listening))
    })?;
    let (admin, _admin_task) = admin.map(|(state, task, _)| (state, task)).unzip();

    start_workers(&signet, listener, &gateways)?;
    let drain = config.proxy.limits().drain;
    let reloader = Reloader::new(
        as_loaded,
        signet.clone(),
        admin,
        listening,
        listen.is_some(),
    );
    let stop = main.block_on(async {
        serve_until_stopped(&mut signals, reloader).await;
        Ok::<_, Failure>(stop_gracefully(&signet, &mut signals.stop, drain).await)
    })?;
    if let Stop::Forced(open) = stop {
        return Err(Failure::Runtime(format!(
            "stopped by a second signal; {open} client connections were cut"
        )));
    }
    flush_state(&signet);
    access_line::flush();
    tracing::info!("stopped");
    Ok(())
}

/// In text, signet writes its access lines itself, where the filter lets them through: fixed
/// once `signet run` has set it up (RUST_LOG is read at start), so asked once.
fn write_access_lines(signet: &Signet, log_format: LogFormat) {
    if log_format == LogFormat::Text
        && tracing::enabled!(target: access::TARGET, tracing::Level::INFO)
    {
        signet.access_log().write_with(access_line::write);
    }
}

/// Binds every gateway, in order, and logs where each listens.
async fn bind_gateways(
    signet: &Signet,
    gateways: &[GatewayConfig],
) -> Result<Vec<GatewayListener<std::net::TcpListener>>, Failure> {
    let mut bound = Vec::with_capacity(gateways.len());
    for gateway in gateways {
        let listener = signet.bind_gateway(gateway).await?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        tracing::info!(listen = %local, upstream = %gateway.upstream, "gateway is running: send requests to http://{local}/");
        let listener = listener
            .into_std()
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        bound.push((Arc::new(gateway.clone()), listener));
    }
    Ok(bound)
}

/// One single-threaded runtime per CPU, all accepting from the same listening sockets (the
/// proxy's and every gateway's): a client connection, its requests and its upstream
/// connections then stay on one thread, instead of waking tasks on other threads at every
/// step of every request. Each worker holds its own copy of the sockets, which close once they
/// all stop accepting.
fn start_workers(
    signet: &Arc<Signet>,
    listener: std::net::TcpListener,
    gateways: &[GatewayListener<std::net::TcpListener>],
) -> Result<(), Failure> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cannot = |e: std::io::Error| Failure::Runtime(format!("cannot listen: {e}"));
    for n in 0..workers {
        let runtime = current_thread()?;
        let (listener, gateways) = {
            // Registers the sockets with that runtime's own I/O driver.
            let _in_runtime = runtime.enter();
            let own = |l: &std::net::TcpListener| {
                l.try_clone().and_then(tokio::net::TcpListener::from_std)
            };
            let gateways = gateways
                .iter()
                .map(|(gateway, l)| Ok((gateway.clone(), own(l)?)))
                .collect::<std::io::Result<Vec<_>>>();
            (own(&listener).map_err(cannot)?, gateways.map_err(cannot)?)
        };
        let signet = signet.clone();
        std::thread::Builder::new()
            .name(format!("signet-{n}"))
            .spawn(move || runtime.block_on(serve_all(signet, listener, gateways)))
            .map_err(|e| Failure::Runtime(format!("cannot start a worker thread: {e}")))?;
    }
    Ok(())
}

/// One worker's share: the proxy port and every gateway, until they all stop.
async fn serve_all(
    signet: Arc<Signet>,
    listener: tokio::net::TcpListener,
    gateways: Vec<GatewayListener<tokio::net::TcpListener>>,
) {
    let gateways: Vec<_> = gateways
        .into_iter()
        .map(|(gateway, l)| tokio::spawn(signet.clone().serve_gateway(gateway, l)))
        .collect();
    signet.serve(listener).await;
    for gateway in gateways {
        let _ = gateway.await;
    }
}

/// Writes what the worker threads leave to be written: the jar file and the token stores.
fn flush_state(signet: &Signet) {
    let current = signet.current();
    if let Some(cookies) = current.cookies() {
        cookies.flush();
    }
    current
        .policy()
        .flush_token_stores(std::time::Duration::from_secs(5));
}

/// Serves until `SIGTERM` or Ctrl-C, reloading the config on `SIGHUP` and when its file changes.
async fn serve_until_stopped(signals: &mut Signals, mut reloader: Reloader) {
    let mut watch = tokio::time::interval(WATCH_INTERVAL);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = signals.stop.next() => return,
            () = signals.hangup.next() => reloader.reload("SIGHUP").await,
            _ = watch.tick() => {
                if reloader.file_changed().await {
                    reloader.reload("config file changed").await;
                }
            }
        }
    }
}

/// How `signet run` ended.
enum Stop {
    /// Every connection finished, or the drain timeout closed what was left.
    Drained,
    /// A second signal came first; this many connections were still open.
    Forced(usize),
}

/// Stops accepting, and lets the connections being served finish their requests, for at most
/// `within`; a second signal stops at once.
async fn stop_gracefully(
    signet: &Signet,
    stop: &mut StopSignal,
    within: std::time::Duration,
) -> Stop {
    let drain = signet.drain();
    drain.stop();
    let open = drain.active();
    tracing::info!(
        connections = open,
        drain_timeout_secs = within.as_secs(),
        "stopping: no new connections; requests in flight may finish (a second signal stops at once)"
    );
    tokio::select! {
        () = drain.drained() => {
            if open > 0 {
                tracing::info!("every request in flight finished");
            }
            Stop::Drained
        }
        () = tokio::time::sleep(within) => {
            tracing::warn!(connections = drain.active(), "drain timeout ([proxy] drain_timeout): closing what is still open");
            Stop::Drained
        }
        () = stop.next() => {
            let open = drain.active();
            tracing::warn!(connections = open, "second signal: stopping now");
            Stop::Forced(open)
        }
    }
}

/// The signals `signet run` answers, taken over from their default action (which ends the
/// process).
struct Signals {
    stop: StopSignal,
    hangup: Hangup,
}

impl Signals {
    fn new() -> Result<Self, Failure> {
        Ok(Signals {
            stop: StopSignal::new()?,
            hangup: Hangup::new()?,
        })
    }
}

/// Ctrl-C, and on Unix `SIGTERM` as service managers send it.
struct StopSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

/// `SIGHUP` (never, where there is none).
struct Hangup {
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
fn unix_signal(
    kind: tokio::signal::unix::SignalKind,
) -> Result<tokio::signal::unix::Signal, Failure> {
    tokio::signal::unix::signal(kind)
        .map_err(|e| Failure::Runtime(format!("cannot handle signals: {e}")))
}

impl StopSignal {
    fn new() -> Result<Self, Failure> {
        Ok(StopSignal {
            #[cfg(unix)]
            term: unix_signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl Hangup {
    fn new() -> Result<Self, Failure> {
        Ok(Hangup {
            #[cfg(unix)]
            hup: unix_signal(tokio::signal::unix::SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        self.hup.recv().await;
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    }
}

/// The log on stderr: `RUST_LOG` as the filter (default `signet=info`, which includes the
/// access log), lines as text or JSON. In text, the access log writes its own lines
/// ([`access_line`]).
pub(super) fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("signet=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// Panics go to the log at ERROR, with the client connection they hit (whose task ends; the
/// others go on).
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        match crate::proxy::CLIENT.try_with(|client| *client) {
            Ok(client) => tracing::error!(%client, %location, "panic: {message}"),
            Err(_) => tracing::error!(%location, "panic: {message}"),
        }
    }));
}

/// Raises the open-file limit to what the system allows, and keeps `max_connections` below
/// what it can hold (two descriptors per connection: the client's and the upstream's, plus a
/// margin for listeners, files and the resolver), so that signet waits for a place instead of
/// failing to accept.
fn fit_connections_to_open_files(config: &mut Config) {
    let Some(files) = raise_open_file_limit() else {
        return;
    };
    let fit = usize::try_from(files.saturating_sub(64) / 2)
        .unwrap_or(usize::MAX)
        .max(1);
    let wanted = config.proxy.max_connections;
    if wanted > fit {
        // Worth a line when someone asked for more; the default is a ceiling, not a wish.
        if wanted == crate::net::Limits::DEFAULT.max_connections {
            tracing::debug!(
                max_connections = fit,
                open_files = files,
                "max_connections fitted to the open-file limit"
            );
        } else {
            tracing::info!(
                max_connections = fit,
                configured = wanted,
                open_files = files,
                "lowered max_connections to what the open-file limit holds"
            );
        }
        config.proxy.max_connections = fit;
    }
}

/// The soft open-file limit after raising it to the hard one; `None` where it cannot be read.
#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
