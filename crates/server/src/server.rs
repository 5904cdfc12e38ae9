//! Wiring and lifecycle: [`App`] holds the shared parts, [`run`] serves until the shutdown
//! token fires, then drains.
//!
//! Connections are accepted here rather than by `axum::serve`, whose loop has no header-read
//! timeout, no connection caps and logs every failed `accept`: each TCP connection takes a slot
//! of the total cap and of its address's HTTP cap (refused at once when none is left), and is
//! served as HTTP/1.1 by hyper with a header-read timeout that also ends idle keep-alive
//! connections. An upgraded WebSocket keeps its total slot and leaves the HTTP cap for the
//! WebSocket caps in [`http`].
//!
//! Shutdown order: stop accepting, let open HTTP connections finish their request, let every
//! session notice the token, finish the frame it is handling (so an in-flight commit completes and its RECEIPT
//! goes out), send `ERROR shutting_down` and close; then close the store. axum does not wait
//! for upgraded WebSocket tasks, so sessions run on a [`TaskTracker`] that `run` waits on.

use crate::auth::Auth;
use crate::broker::{Broker, MemoryBroker};
use crate::client_addr::TrustedProxies;
use crate::config::Config;
use crate::http;
use crate::hub::Hub;
use crate::limits::{raise_open_file_limit, AcceptBackoff, ConnectionCaps};
use crate::metrics::Metrics;
use crate::rooms::Chat;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};
use crate::throttle::{IpConnections, KeyedBuckets, UserBudgets};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long sessions get to close after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is not acceptable.
    #[error("configuration: {0}")]
    Config(String),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The listener failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything a request or session needs, shared by all of them.
pub struct App {
    /// The validated configuration.
    pub config: Config,
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// This node's connections.
    pub hub: Arc<Hub>,
    /// How publications reach every node.
    pub broker: Arc<dyn Broker>,
    /// Room rules.
    pub chat: Chat,
    /// Accounts and tokens.
    pub auth: Auth,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Fires when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// Every session task, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Open WebSockets per IP.
    pub ip_connections: Arc<IpConnections>,
    /// WebSockets per IP whose `CONNECT` has not been answered yet.
    pub pending_connections: Arc<IpConnections>,
    /// Plain HTTP connections per IP (by TCP peer; trusted proxies are exempt).
    pub http_connections: Arc<IpConnections>,
    /// Slots of the total connection cap.
    pub connection_slots: Arc<Semaphore>,
    /// The connection caps in force.
    pub caps: ConnectionCaps,
    /// Whose forwarding headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// Login and registration attempts per IP.
    pub auth_attempts: KeyedBuckets<IpAddr>,
    /// Failed logins per username and address (a guess reserves a token before the check).
    pub failed_logins: KeyedBuckets<(String, IpAddr)>,
    /// Per-user budgets of messages, new rooms and members added.
    pub user_budgets: UserBudgets,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("listen", &self.config.listen)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens the store and builds the parts.
    ///
    /// # Errors
    /// An invalid configuration or a store that cannot be opened.
    pub async fn open(
        config: Config,
        shutdown: CancellationToken,
    ) -> Result<Arc<App>, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        let open_files = raise_open_file_limit();
        let caps = ConnectionCaps::new(&config.limits, open_files);
        tracing::info!(
            open_files = open_files.map_or_else(|| "unknown".to_string(), |n| n.to_string()),
            max_connections = caps.total,
            http_per_ip = caps.http_per_ip,
            pending_per_ip = caps.pending_per_ip,
            websockets_per_ip = caps.websockets_per_ip,
            "connection limits"
        );
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&config.data_dir).await?);
        let hub = Arc::new(Hub::new());
        let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new(hub.clone()));
        let metrics = Arc::new(Metrics::new());
        let chat = Chat::new(
            store.clone(),
            broker.clone(),
            metrics.clone(),
            config.limits.max_message_chars,
            Duration::from_millis(config.commit_window_ms),
        );
        let auth = Auth::new(
            store.clone(),
            config.jwt_secret(),
            config.auth.session_ttl_secs,
        );
        Ok(Arc::new(App {
            store,
            hub,
            broker,
            chat,
            auth,
            metrics,
            shutdown,
            tasks: TaskTracker::new(),
            ip_connections: Arc::new(IpConnections::default()),
            pending_connections: Arc::new(IpConnections::default()),
            http_connections: Arc::new(IpConnections::default()),
            connection_slots: Arc::new(Semaphore::new(caps.total)),
            caps,
            trusted_proxies: TrustedProxies::new(config.trusted_proxies.clone()),
            auth_attempts: KeyedBuckets::new(
                config.limits.auth_attempts_per_minute,
                config.limits.auth_attempts_per_minute,
            ),
            failed_logins: KeyedBuckets::new(config.limits.failed_logins_per_user, 1),
            user_budgets: UserBudgets::new(&config.limits),
            config,
        }))
    }
}

/// Serves on `listener` until `shutdown` fires, then drains and returns.
///
/// # Errors
/// An invalid configuration, a store that cannot be opened, or a failing listener.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let app = App::open(config, shutdown.clone()).await?;
    let addr = listener.local_addr()?;
    let router = http::router(app.clone());
    tracing::info!(data_dir = %app.config.data_dir.display(), "store: embedded SQLite");
    tracing::info!("listening on http://{addr}");
    let connections = TaskTracker::new();
    accept_loop(&listener, &app, router, &connections).await;
    // Open HTTP connections finish the request they are serving (hyper's graceful shutdown);
    // idle ones close at once.
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = connections.len(),
            "some HTTP connections did not close in time"
        );
    }

    tracing::info!(
        sessions = app.tasks.len(),
        "shutting down: closing sessions"
    );
    app.tasks.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, app.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = app.tasks.len(),
            "some sessions did not close in time"
        );
    }
    app.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Accepts connections until shutdown, each on its own task tracked by `connections`.
async fn accept_loop(
    listener: &TcpListener,
    app: &Arc<App>,
    router: Router,
    connections: &TaskTracker,
) {
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = app.shutdown.cancelled() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                backoff.on_success();
                accepted
            }
            Err(err) => {
                let failure = backoff.on_error(&err, Instant::now());
                if let Some(suppressed) = failure.log {
                    tracing::error!(
                        error = %err,
                        suppressed,
                        pause_ms = failure.pause.as_millis() as u64,
                        "accept failed; pausing (the same error is logged at most every 10 s)"
                    );
                }
                if !failure.pause.is_zero() {
                    tokio::select! {
                        () = tokio::time::sleep(failure.pause) => {}
                        () = app.shutdown.cancelled() => return,
                    }
                }
                continue;
            }
        };
        let Ok(total_slot) = app.connection_slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "refused a connection: the server holds its maximum");
            continue;
        };
        // A trusted proxy carries many clients on its connections; they are told apart (and
        // capped) by the address it forwards, once a request has been read.
        let http_slot = if app.trusted_proxies.contains(peer.ip()) {
            None
        } else {
            match app
                .http_connections
                .open(peer.ip().to_canonical(), app.caps.http_per_ip)
            {
                Some(slot) => Some(slot),
                None => {
                    tracing::debug!(%peer, "refused a connection: too many from this address");
                    continue;
                }
            }
        };
        let app = app.clone();
        let router = router.clone();
        connections.spawn(async move {
            serve_connection(tcp, peer, app, router, total_slot).await;
            drop(http_slot);
        });
    }
}

/// One connection's slot of the total cap, shared by the HTTP connection and, after an
/// upgrade, by its WebSocket session (which keeps the descriptor open after hyper lets go).
#[derive(Debug, Clone)]
pub struct ConnectionSlot(
    /// Released when the last holder is dropped.
    pub Arc<OwnedSemaphorePermit>,
);

/// Serves HTTP/1.1 on one connection until it closes, upgrades, or the server shuts down.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Arc<App>,
    router: Router,
    total_slot: OwnedSemaphorePermit,
) {
    // Chat frames are small and latency matters more than packet count: without TCP_NODELAY,
    // Nagle's algorithm holds a frame back until the previous one is acknowledged, and the
    // peer's delayed ACK makes that up to 40 ms.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
    let slot = ConnectionSlot(Arc::new(total_slot));
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(slot.clone());
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(
            app.config.limits.header_read_timeout_ms,
        ))
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = app.shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        // Timeouts, resets and malformed requests: the client's problem, not the operator's.
        tracing::debug!(%peer, error = %err, "HTTP connection ended with an error");
    }
}
