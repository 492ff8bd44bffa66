//! `clickledger serve`: the reference tracking server around an embedded ledger.
//!
//! Tracking links (`/c/...`), impression pixels (`/i/...`) and postbacks (`/postback`)
//! on axum, served by hyper's HTTP/1 connections with a header-read timeout, tower
//! middleware for limits, tracing and panics, and a graceful shutdown: stop accepting,
//! finish the requests in flight, sync, return. docs/SERVER.md describes the endpoints,
//! the status codes and the durability rule; `durable.rs` holds that rule.
//!
//! [`Server::open`] opens the ledger (its lock refuses a second server on the same
//! directory) and binds the socket; [`Server::run`] serves until the shutdown future
//! completes. Tests start servers in-process on `127.0.0.1:0` through the same two calls.

mod answer;
pub(crate) mod bench;
pub(crate) mod demo;
mod durable;
pub(crate) mod landing;
mod limits;
mod metrics;
mod routes;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clickledger::log::io::Io;
use clickledger::{Durability, Ledger, LedgerError, NewProgram, Options, ProgramId};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub(crate) use durable::{CLICK_SYNC_INTERVAL_DEFAULT, CLICK_SYNC_MS_RANGE};

/// Default time a client has to send a request's headers: generous for any real client,
/// short enough that idle half-open connections do not pile up.
pub(crate) const HEADER_READ_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

/// Default time between two checkpoints while serving: a restart after a crash replays
/// at most an hour of log (a clean stop takes a checkpoint, so its restart replays none).
pub(crate) const CHECKPOINT_INTERVAL_DEFAULT: Duration = Duration::from_secs(3600);

/// How long a shutdown waits for requests in flight before it stops anyway.
pub(crate) const DRAIN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// How the server runs.
#[derive(Clone, Debug)]
pub(crate) struct ServeConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The ledger's data directory.
    pub data: PathBuf,
    /// A click is durable at most this long after its answer (the ledger's interval level).
    pub click_sync_interval: Duration,
    /// Time a client has to send its request's headers.
    pub header_read_timeout: Duration,
    /// Time a client has to send a POST body once its headers are in.
    pub body_read_timeout: Duration,
    /// How long a shutdown waits for requests in flight.
    pub drain_timeout: Duration,
    /// Register the demo program when the ledger has no program.
    pub demo: bool,
    /// The file operations under the ledger's log: the real disk, or a simulated one
    /// that fails on demand (tests of the 503 path).
    pub io: Io,
    /// How often a checkpoint is taken while serving (and one at shutdown), so that a
    /// restart replays only the log since; `None`: never.
    pub checkpoint_interval: Option<Duration>,
    /// Drop clicks older than this many days at each checkpoint (`Options::retention_days`).
    pub retention_days: Option<u32>,
}

impl ServeConfig {
    /// The defaults of `clickledger serve` with no flags, on `data`.
    pub(crate) fn new(listen: SocketAddr, data: PathBuf) -> ServeConfig {
        ServeConfig {
            listen,
            data,
            click_sync_interval: CLICK_SYNC_INTERVAL_DEFAULT,
            header_read_timeout: HEADER_READ_TIMEOUT_DEFAULT,
            body_read_timeout: limits::BODY_READ_TIMEOUT,
            drain_timeout: DRAIN_TIMEOUT_DEFAULT,
            demo: true,
            io: Io::Os,
            checkpoint_interval: Some(CHECKPOINT_INTERVAL_DEFAULT),
            retention_days: None,
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// Another process holds the data directory.
    #[error(
        "the ledger in {} is in use by another process (a running `clickledger serve`, or \
         a run); a second server on one data directory is refused: stop the other one, \
         or pass --data with another directory",
        dir.display()
    )]
    InUse {
        /// The data directory.
        dir: PathBuf,
    },
    /// The directory holds a ledger a simulation or replay wrote.
    #[error(
        "data directory {} holds the ledger of `{command}`, which is not a server's (a \
         later run of that tool may replace it): pass --data with a new directory",
        dir.display()
    )]
    RunLedger {
        /// The data directory.
        dir: PathBuf,
        /// The command that wrote it.
        command: String,
    },
    /// The ledger failed to open, or failed while serving.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The syncer or the final sync failed.
    #[error("the ledger failed while serving: {0}")]
    Durable(#[from] durable::DurableError),
}

/// A program as the tracking links see it, fixed while the server runs (the ledger's
/// lock keeps `clickledger program` from changing programs under a running server).
pub(crate) struct ProgramRoute {
    pub id: ProgramId,
    pub name: String,
    pub domains: Vec<String>,
    /// The default landing URL, parsed; `None` when unset or not an http(s) URL.
    pub default_landing: Option<url::Url>,
}

/// What every handler shares.
pub(crate) struct App {
    pub ledger: Arc<Ledger>,
    pub programs: HashMap<String, ProgramRoute>,
    /// Set on the first ledger failure: health checks fail from then on.
    pub failed: AtomicBool,
    /// Time a client has to send a POST body.
    pub body_read_timeout: Duration,
    pub metrics: PrometheusHandle,
}

/// An opened ledger and a bound socket, ready to [`Server::run`].
pub(crate) struct Server {
    app: Arc<App>,
    listener: TcpListener,
    config: ServeConfig,
    /// The demo program registered by this start, with its key (shown once).
    pub demo: Option<NewProgram>,
}

impl Server {
    /// Opens the ledger, registers the demo program on a ledger without programs, and
    /// binds the socket. Fails without serving anything if another process holds the
    /// directory.
    pub(crate) fn open(config: ServeConfig) -> Result<Server, ServeError> {
        if let Some(command) = crate::datadir::run_origin(&config.data) {
            return Err(ServeError::RunLedger {
                dir: config.data.clone(),
                command,
            });
        }
        let options = Options {
            // Clicks are answered at once and synced within the interval; a postback
            // awaits the sync covering it (`durable::convert`).
            durability: Durability::Interval(config.click_sync_interval),
            io: config.io.clone(),
            retention_days: config.retention_days,
            ..Options::default()
        };
        let ledger = match Ledger::open(&config.data, options) {
            Ok(ledger) => ledger,
            Err(LedgerError::Locked { dir }) => return Err(ServeError::InUse { dir }),
            Err(error) => return Err(error.into()),
        };
        let listener = TcpListener::bind(config.listen).map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
        // Registered only once the port is ours: a start that cannot listen must not
        // create a program whose key it never shows.
        let demo = if config.demo && ledger.programs().is_empty() {
            Some(demo::register(&ledger)?)
        } else {
            None
        };
        let app = Arc::new(App {
            programs: program_routes(&ledger),
            ledger: Arc::new(ledger),
            failed: AtomicBool::new(false),
            body_read_timeout: config.body_read_timeout,
            metrics: metrics::handle(),
        });
        Ok(Server {
            app,
            listener,
            config,
            demo,
        })
    }

    /// The address the socket is bound to (the real port when asked for port 0).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.listen)
    }

    /// The ledger, for the banner and for tests.
    pub(crate) fn ledger(&self) -> &Arc<Ledger> {
        &self.app.ledger
    }

    /// Serves until `shutdown` completes, then stops accepting, waits for the requests
    /// in flight (at most the drain timeout), syncs the ledger and returns.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let addr = self.local_addr();
        let bind_error = |source| ServeError::Bind { addr, source };
        self.listener.set_nonblocking(true).map_err(bind_error)?;
        let listener = tokio::net::TcpListener::from_std(self.listener).map_err(bind_error)?;
        let ledger = Arc::clone(&self.app.ledger);
        // Aborted however `run` returns: the task holds the ledger, and with it the lock.
        let checkpoints = self.config.checkpoint_interval.map(|every| {
            let task = tokio::spawn(durable::checkpoint_every(Arc::clone(&ledger), every));
            AbortOnDrop(task)
        });
        let graceful = GracefulShutdown::new();
        serve_until(&listener, &self.app, &self.config, &graceful, shutdown).await;
        drop(listener);
        tracing::info!("shutting down: finishing requests in flight");
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(self.config.drain_timeout) => {
                tracing::warn!("requests still in flight after the drain timeout; stopping");
            }
        }
        durable::sync(&ledger).await?;
        if let Some(checkpoints) = checkpoints {
            drop(checkpoints);
            // The next start then replays nothing; a failure only makes it slower.
            durable::checkpoint(&ledger).await;
        }
        tracing::info!("ledger synced; stopped");
        Ok(())
    }
}

/// A background task stopped when this goes out of scope.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Accepts connections until `shutdown` completes.
async fn serve_until(
    listener: &tokio::net::TcpListener,
    app: &Arc<App>,
    config: &ServeConfig,
    graceful: &GracefulShutdown,
    shutdown: impl Future<Output = ()>,
) {
    let service = TowerToHyperService::new(router(Arc::clone(app)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(limits::REQUEST_HEAD_BYTES_MAX);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
                    let watched = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(error) = watched.await {
                            limits::connection_failed(&error);
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors, mostly: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// The endpoints with the limit, tracing and panic layers.
fn router(app: Arc<App>) -> axum::Router {
    routes::router(app)
        .layer(axum::middleware::from_fn(limits::check_request))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            answer::refusal(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "server",
                "the server failed on this request",
            )
        }))
}

fn program_routes(ledger: &Ledger) -> HashMap<String, ProgramRoute> {
    ledger
        .programs()
        .into_iter()
        .map(|(id, settings)| {
            let default_landing = settings
                .default_landing_url
                .as_deref()
                .and_then(|url| landing::parse(url).ok());
            let route = ProgramRoute {
                id,
                name: settings.name.clone(),
                domains: settings.landing_domains,
                default_landing,
            };
            (settings.name, route)
        })
        .collect()
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("interrupted"),
        () = terminate => tracing::info!("terminated"),
    }
}
