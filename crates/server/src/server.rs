//! Wiring and lifecycle: [`App`] holds the shared parts, [`run`] serves until the shutdown
//! token fires, then drains.
//!
//! Shutdown order: stop accepting (axum's graceful shutdown), let every session notice the
//! token, finish the frame it is handling (so an in-flight commit completes and its RECEIPT
//! goes out), send `ERROR shutting_down` and close; then close the store. axum does not wait
//! for upgraded WebSocket tasks, so sessions run on a [`TaskTracker`] that `run` waits on.

use crate::auth::Auth;
use crate::broker::{Broker, MemoryBroker};
use crate::config::Config;
use crate::http;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::rooms::Chat;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};
use crate::throttle::{IpConnections, KeyedBuckets, UserBudgets};
use axum::serve::ListenerExt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    let stop = shutdown.clone();
    // Chat frames are small and latency matters more than packet count: without TCP_NODELAY,
    // Nagle's algorithm holds a frame back until the previous one is acknowledged, and the
    // peer's delayed ACK makes that up to 40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { stop.cancelled().await })
    .await?;

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
