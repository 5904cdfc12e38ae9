//! [`App`]: the parts one server node shares between its HTTP handlers and its STOMP sessions,
//! built once by [`App::open`].
//!
//! The fields are private. Handlers and sessions reach the node through its services, so that
//! each rule lives in one place whichever way a client comes in:
//! - [`Chat`] (rooms, messages, read marks, typing), [`Users`] (finding people) and
//!   [`PresenceTracker`] (who is online) for what clients ask of the chat;
//! - [`Auth`] for accounts, tokens, sign-in throttles and revocations;
//! - [`UserBudgets`] for what one user may make the server do for others;
//! - [`Hub`] for this node's connections, [`Admission`] for the connection caps;
//! - [`Metrics`], the [`Config`], and the shutdown token and session tracker of [`run`](crate::run).
//!
//! The store and the broker are handed to those services here and are not reachable from
//! outside: nothing at the edges (HTTP, STOMP) reads or writes the store, or publishes, itself.
//!
//! This module reaches the services it builds, never the edges that use it (`http`,
//! `session`, `server`), so the modules form no import circle.

use crate::attachments::{Attachments, UploadLimits};
use crate::auth::Auth;
use crate::broker::{Broker, BrokerHealth, MemoryBroker, RedisBroker, RedisSettings};
use crate::client_addr::TrustedProxies;
use crate::config::Config;
use crate::files::Files;
use crate::hub::Hub;
use crate::limits::{raise_open_file_limit, Admission, ConnectionCaps};
use crate::metrics::Metrics;
use crate::presence::{PresenceTimings, PresenceTracker};
use crate::push::Push;
use crate::rooms::Chat;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};
use crate::throttle::UserBudgets;
use crate::users::Users;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    config: Config,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    broker: Arc<dyn Broker>,
    chat: Chat,
    presence: PresenceTracker,
    attachments: Attachments,
    push: Option<Push>,
    users: Users,
    auth: Auth,
    budgets: UserBudgets,
    admission: Admission,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    sessions: TaskTracker,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("listen", &self.config.listen)
            .finish_non_exhaustive()
    }
}

/// Opens the attachments' storage, builds their service with its cleanup task, and hands the
/// storage to the room rules (a deleted message's files are deleted after its commit).
fn attachments_service(
    config: &Config,
    store: Arc<dyn Store>,
    chat: Chat,
    shutdown: &CancellationToken,
) -> Result<(Chat, Attachments), ServerError> {
    let files = Files::open(config.files_url.as_deref(), &config.data_dir)
        .map_err(|err| ServerError::Config(err.to_string()))?;
    tracing::info!(files = files.describe(), "attachments storage opened");
    let attachments = Attachments::new(
        store,
        files.clone(),
        UploadLimits {
            max_upload_bytes: config.max_upload_bytes,
            pending_ttl: Duration::from_secs(config.upload_ttl_secs),
        },
        config.data_dir.join("upload-spool"),
    )
    .map_err(|err| ServerError::Config(format!("--data-dir: {err}")))?;
    attachments.spawn_cleanup(
        Duration::from_millis(config.upload_cleanup_ms),
        shutdown.clone(),
    );
    Ok((chat.with_files(files), attachments))
}

impl App {
    /// Opens the store (PostgreSQL with `database_url`, else SQLite in `data_dir`) and builds
    /// the parts.
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
        let store: Arc<dyn Store> = match &config.database_url {
            // The URL may carry a password: it is never logged.
            Some(url) => {
                let store = PostgresStore::connect(url).await?;
                tracing::info!(store = "postgresql", "store opened");
                Arc::new(store)
            }
            None => {
                let store = SqliteStore::open(&config.data_dir).await?;
                tracing::info!(store = "sqlite", data_dir = %config.data_dir.display(), "store opened");
                Arc::new(store)
            }
        };
        let hub = Arc::new(Hub::new());
        let metrics = Arc::new(Metrics::new());
        let broker: Arc<dyn Broker> = match &config.redis_url {
            Some(url) => {
                let settings = RedisSettings {
                    channel_prefix: config.redis_channel_prefix.clone(),
                    heartbeat: Duration::from_millis(config.node_heartbeat_ms),
                    presence_ttl: Duration::from_millis(config.presence_ttl_ms),
                    ..RedisSettings::new(url.clone())
                };
                Arc::new(
                    RedisBroker::start(hub.clone(), &settings, metrics.clone())
                        .map_err(|err| ServerError::Config(format!("--redis-url: {err}")))?,
                )
            }
            None => Arc::new(MemoryBroker::new(hub.clone())),
        };
        let push = if config.push.enabled {
            Some(
                Push::start(
                    config.push.clone(),
                    store.clone(),
                    broker.clone(),
                    metrics.clone(),
                )
                .await
                .map_err(|err| ServerError::Config(format!("push: {err}")))?,
            )
        } else {
            None
        };
        let chat = Chat::new(
            store.clone(),
            broker.clone(),
            metrics.clone(),
            config.limits.max_message_chars,
            Duration::from_millis(config.commit_window_ms),
            push.clone(),
        )
        .with_edit_window(config.edit_window_secs.map(Duration::from_secs));
        let (chat, attachments) = attachments_service(&config, store.clone(), chat, &shutdown)?;
        let auth = Auth::new(store.clone(), broker.clone(), &config);
        if config.room_head_check_ms > 0 {
            crate::heads::spawn(
                store.clone(),
                hub.clone(),
                Duration::from_millis(config.room_head_check_ms),
                shutdown.clone(),
            );
        }
        let presence = PresenceTracker::start(
            store.clone(),
            broker.clone(),
            hub.clone(),
            metrics.clone(),
            PresenceTimings {
                grace: Duration::from_millis(config.presence_grace_ms),
                interval: Duration::from_millis(config.presence_interval_ms),
                refresh: Duration::from_millis(config.presence_ttl_ms / 3),
            },
            shutdown.clone(),
        );
        Ok(Arc::new(App {
            presence,
            users: Users::new(store.clone()),
            store,
            hub,
            broker,
            chat,
            attachments,
            push,
            auth,
            budgets: UserBudgets::new(&config.limits),
            admission: Admission::new(caps, TrustedProxies::new(config.trusted_proxies.clone())),
            metrics,
            shutdown,
            sessions: TaskTracker::new(),
            config,
        }))
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The room rules: every message, room and read mark goes through them.
    pub fn chat(&self) -> &Chat {
        &self.chat
    }

    /// Presence: who is online, away or offline, and who watches them.
    pub fn presence(&self) -> &PresenceTracker {
        &self.presence
    }

    /// Uploading and reading attachments.
    pub fn attachments(&self) -> &Attachments {
        &self.attachments
    }

    /// Web Push, unless turned off (`--push false`).
    pub fn push(&self) -> Option<&Push> {
        self.push.as_ref()
    }

    /// Finding other users.
    pub fn users(&self) -> &Users {
        &self.users
    }

    /// Accounts, tokens and their revocation.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Per-user budgets, shared by HTTP and STOMP so that switching buys nothing.
    pub fn budgets(&self) -> &UserBudgets {
        &self.budgets
    }

    /// This node's connections, by user.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The connection caps and who may forward a client's address.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Prometheus metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Fires when the server begins to shut down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Every session task, so that shutdown can wait for them.
    pub fn sessions(&self) -> &TaskTracker {
        &self.sessions
    }

    /// Whether the store answers, for `/healthz`.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn check_store(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Whether publications reach the other nodes, for `/healthz` (always for one node).
    pub fn broker_reachable(&self) -> bool {
        self.broker.health() == BrokerHealth::Ok
    }

    /// Closes the store, after the last session has gone.
    pub(crate) async fn close(&self) {
        self.store.close().await;
    }
}
