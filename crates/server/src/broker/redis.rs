//! [`RedisBroker`]: publications between nodes through Redis pub/sub, one channel per user.
//!
//! # Channels: one per user, subscribed on demand
//!
//! A publication is addressed to users, so each user has a channel, `{prefix}:user:{id}`. A
//! node subscribes to a user's channel while it holds at least one connection of that user and
//! unsubscribes when the last one goes (the hub reports both through
//! [`Hub::watch_presence`]), so a node hears only of the users it serves: a node with none of
//! a room's members connected receives nothing of that room. What arrives on user X's channel
//! is the publication as X alone must hear it ([`Publication::for_user`]: a message with X's
//! unread count), and the receiving node hands it to X's local connections only.
//!
//! # Cost per message
//!
//! A message to a room of N members costs, on the node that commits it, N small JSON payloads
//! (the message with one member's unread count each) and N `PUBLISH` commands sent in one
//! pipeline: one round trip to Redis, shared with whatever else was waiting to go. Redis looks
//! up N channels and sends one copy to each node subscribed to each one: a node that holds k of
//! the N members receives k payloads and parses each; a node that holds none receives nothing.
//! A `PUBLISH` to a channel nobody listens to (a member offline everywhere) is one hash lookup
//! in Redis. A channel per room would cost one `PUBLISH` instead of N, but every node would
//! then have to track every room membership of its users as it changes; a node already knows
//! which users it serves, which is all a channel per user needs.
//!
//! # Never waiting for Redis
//!
//! [`Broker::publish`] delivers to this node's hub at once and puts the publication in a
//! bounded queue; it never waits for Redis, so a `RECEIPT` waits for the commit and never for
//! a network round trip. One task drains the queue in order (the commit pipeline publishes in
//! commit order, so the other nodes see one node's messages in commit order too). A full
//! queue, or Redis failing, loses the publication for the other nodes only: it is logged and
//! counted (`sotong_redis_publish_failures_total`), and their clients catch up as after any
//! lost publication (sessions fill gaps from the store; reconnecting clients use `since-seq`).
//!
//! # Delivered once: locally at once, never through Redis
//!
//! A node delivers its own publications to its own connections itself, when they are
//! published, and skips them when Redis echoes them back (each payload names the node that
//! sent it). Local delivery so neither waits for a round trip to Redis nor stops when Redis is
//! down: a single node keeps working, and each node keeps serving its own users, while Redis
//! restarts.
//!
//! # Losing a node
//!
//! A node killed between a commit and its publication leaves messages that no other node
//! heard of. Each node beats in a sorted set in Redis; when one stops beating, every other node
//! tells its connections to resync (`peers`), since a connection that follows a room only
//! through its notifications has no room head check to catch up with.
//!
//! # Losing Redis
//!
//! The subscription connection pings Redis every few seconds; when it is lost (Redis restarts,
//! `CLIENT KILL`, a network cut) the broker reconnects with exponential back-off and
//! subscribes again to the channel of every user connected here, logging both. Once subscribed
//! again it asks the hub to tell every connection here to resync
//! ([`Hub::tell_everyone_to_resync`]): a connection that follows a room only through its
//! notifications has no room head check to catch up with, so its client must reload. The first
//! connection tells nobody (nothing was missed before it). Publishing goes
//! through a [`ConnectionManager`], which reconnects by itself. Publications made while the
//! connection is down are lost for the other nodes, as above. `sotong_redis_connected` is 1
//! while the subscription connection is up.
//!
//! # Heard before `CONNECTED`
//!
//! A user's channel is subscribed a round trip after the user's first connection here
//! arrived; a publication made on another node within that round trip would not be heard. So
//! the broker tells the hub which users it hears ([`Hub::hear`], once the `SUBSCRIBE` is
//! confirmed) and whether its link is up, and a session sends `CONNECTED` only once its user
//! is heard (at most a couple of seconds; not at all while Redis is down, since the resync
//! once it is back covers that connection). Before an `UNSUBSCRIBE` the broker first forgets
//! the user ([`Hub::forget_heard`]), so a connection arriving meanwhile waits for the
//! subscription that follows.
//!
//! The broker reaches the hub it feeds, the [`publication`](crate::publication) types and the
//! metrics; never sessions, STOMP, the store or the room rules.

mod peers;
mod presence;
mod showing;

use super::{Broker, BrokerError, BrokerHealth, Publication};
use crate::hub::{Hub, Presence};
use crate::metrics::Metrics;
use crate::model::{Activity, ResyncReason, RoomId, UserId};
use async_trait::async_trait;
use futures_util::future::try_join_all;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Publications waiting for Redis before new ones are dropped (for the other nodes only). At
/// a few hundred bytes each this bounds the memory a Redis outage can take, and it is several
/// seconds of a busy node's messages: a hiccup loses nothing, an outage loses what the store
/// gives back anyway.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;

/// Most publications sent in one pipeline (one round trip).
const MAX_PUBLICATIONS_PER_PIPELINE: usize = 256;

/// Most `SUBSCRIBE`s (or `UNSUBSCRIBE`s) in flight at once, after a reconnection with many
/// users here. One command per channel: the client matches one reply to one command, and a
/// command naming several channels gets one reply per channel.
const CHANNELS_AT_ONCE: usize = 1024;

/// First wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often the subscription connection checks that Redis still answers, and how long any
/// answer may take: a connection cut without a reset (a dead peer, a dropped route) is
/// noticed within their sum.
const PING_EVERY: Duration = Duration::from_secs(10);
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach Redis and how to name the channels.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Start of every channel name: nodes that share it hear each other, so two deployments
    /// (or two test runs) on one Redis stay apart with different prefixes.
    pub channel_prefix: String,
    /// See [`DEFAULT_QUEUE_CAPACITY`].
    pub queue_capacity: usize,
    /// How often this node tells the others it lives; a node silent for three beats counts as
    /// stopped, and every other node tells its connections to resync (see `peers`).
    pub heartbeat: Duration,
    /// How long this node's presence records live unless refreshed (see `presence`).
    pub presence_ttl: Duration,
}

/// See [`RedisSettings::presence_ttl`].
pub const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(30);

/// See [`RedisSettings::heartbeat`].
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);

impl RedisSettings {
    /// Settings for `url` with the default prefix (`sotong`) and queue.
    pub fn new(url: impl Into<String>) -> Self {
        RedisSettings {
            url: url.into(),
            channel_prefix: "sotong".into(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            heartbeat: DEFAULT_HEARTBEAT,
            presence_ttl: DEFAULT_PRESENCE_TTL,
        }
    }
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisBrokerError {
    /// The URL is not a Redis URL, or the client refused its settings.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The hub reports its users to another broker already; one hub has one broker.
    #[error("the hub already reports its users to another broker")]
    HubTaken,
}

/// Identifies the node that sent a payload, so that it skips its own (random per broker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct NodeId(u64);

/// What travels on a user's channel.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// The node that published it.
    node: NodeId,
    /// The publication as the channel's user must hear it.
    publication: Publication,
}

/// Names the channels of one prefix.
#[derive(Debug, Clone)]
struct Channels {
    /// `{prefix}:user:`.
    user_prefix: String,
    /// `{prefix}:presence`: presence changes, heard by every node.
    presence: String,
}

impl Channels {
    fn new(prefix: &str) -> Self {
        Channels {
            user_prefix: format!("{prefix}:user:"),
            presence: format!("{prefix}:presence"),
        }
    }

    fn of_user(&self, user: UserId) -> String {
        format!("{}{user}", self.user_prefix)
    }

    fn user_of(&self, channel: &str) -> Option<UserId> {
        channel.strip_prefix(&self.user_prefix)?.parse().ok()
    }
}

/// Carries publications between nodes through Redis (see the module doc).
#[derive(Debug)]
pub struct RedisBroker {
    hub: Arc<Hub>,
    queue: mpsc::Sender<Publication>,
    /// Whether the last publication found the queue full (so that a spell is logged once).
    overflowing: AtomicBool,
    metrics: Arc<Metrics>,
    /// Whether the subscription connection is up (set by the subscription task).
    connected: Arc<AtomicBool>,
    /// Who is connected where, shared by the nodes.
    presence: presence::PresenceRecords,
    /// For reading which rooms other nodes show their users (`showing`).
    reader: ConnectionManager,
    showing_keys: showing::ShowingKeys,
    /// Stops the subscription task when the broker goes; the publishing task stops when the
    /// queue's sender (above) goes.
    _stop: DropGuard,
}

impl RedisBroker {
    /// Starts the broker for `hub`: one task publishing the queue, one listening to the
    /// channels of the users connected to `hub`. It does not wait for Redis: while Redis cannot
    /// be reached both tasks retry and log, and this node serves its own users meanwhile.
    /// Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// A URL the Redis client refuses, or a hub that reports to another broker already.
    pub fn start(
        hub: Arc<Hub>,
        settings: &RedisSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, RedisBrokerError> {
        let client = redis::Client::open(settings.url.as_str())?;
        let publisher = ConnectionManager::new_lazy_with_config(
            client.clone(),
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(REPLY_TIMEOUT))
                .set_response_timeout(Some(REPLY_TIMEOUT))
                .set_max_delay(MAX_BACKOFF),
        )?;
        let (users_here, presence) = hub.watch_presence().ok_or(RedisBrokerError::HubTaken)?;
        let shown_changes = hub.watch_showing().ok_or(RedisBrokerError::HubTaken)?;
        let node = NodeId(rand::random());
        let channels = Channels::new(&settings.channel_prefix);
        let (queue, waiting) = mpsc::channel(settings.queue_capacity.max(1));
        let stop = CancellationToken::new();
        tokio::spawn(peers::watch(
            publisher.clone(),
            format!("{}:nodes", settings.channel_prefix),
            node,
            hub.clone(),
            settings.heartbeat,
            stop.clone(),
        ));
        let records = presence::PresenceRecords::new(
            publisher.clone(),
            &settings.channel_prefix,
            node.0,
            settings.presence_ttl,
        );
        let showing_keys = showing::ShowingKeys::new(&settings.channel_prefix);
        tokio::spawn(showing::keep(
            publisher.clone(),
            hub.clone(),
            shown_changes,
            showing_keys.clone(),
            node,
            stop.clone(),
        ));
        let reader = publisher.clone();
        tokio::spawn(publish_in_order(
            publisher,
            waiting,
            channels.clone(),
            node,
            metrics.clone(),
        ));
        let connected = Arc::new(AtomicBool::new(false));
        let subscriber = Subscriber {
            connected: connected.clone(),
            client,
            hub: hub.clone(),
            channels,
            node,
            metrics: metrics.clone(),
            presence,
            subscribed: HashSet::new(),
        };
        tokio::spawn(subscriber.run(users_here, stop.clone()));
        tracing::info!(
            redis = %redacted(&settings.url),
            prefix = %settings.channel_prefix,
            "publications go to the other nodes through Redis"
        );
        Ok(RedisBroker {
            hub,
            queue,
            overflowing: AtomicBool::new(false),
            metrics,
            connected,
            presence: records,
            reader,
            showing_keys,
            _stop: stop.drop_guard(),
        })
    }
}

#[async_trait]
impl Broker for RedisBroker {
    /// Delivers to this node's connections, then queues the publication for the other nodes.
    /// A full queue (Redis slow or down) is counted and logged once per spell, not returned:
    /// the caller's part (local delivery) is done, and an error per message would flood the
    /// log for as long as Redis is away.
    async fn publish(&self, publication: Publication) -> Result<(), BrokerError> {
        self.hub.deliver(&publication);
        match self.queue.try_send(publication) {
            Ok(()) => {
                if self.overflowing.load(Ordering::Relaxed)
                    && self.overflowing.swap(false, Ordering::Relaxed)
                {
                    tracing::info!("the queue to Redis has room again");
                }
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.redis_publish_failures.inc();
                if !self.overflowing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "the queue to Redis is full: the other nodes miss publications until it \
                         drains (their clients catch up from the store)"
                    );
                }
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.redis_publish_failures.inc();
                Err(BrokerError(
                    "the Redis publisher has stopped: the other nodes miss this publication".into(),
                ))
            }
        }
    }

    async fn report_presence(
        &self,
        user: UserId,
        here: Option<Activity>,
    ) -> Result<(Option<Activity>, Option<Activity>), BrokerError> {
        self.presence
            .report(user, here)
            .await
            .map_err(|err| BrokerError(Box::new(err)))
    }

    async fn presence_of(&self, users: &[UserId]) -> Result<Vec<Option<Activity>>, BrokerError> {
        self.presence
            .read(users)
            .await
            .map_err(|err| BrokerError(Box::new(err)))
    }

    async fn refresh_presence(&self, here: &[(UserId, Activity)]) -> Result<(), BrokerError> {
        self.presence
            .refresh(here)
            .await
            .map_err(|err| BrokerError(Box::new(err)))
    }

    async fn lapsed_presence(&self) -> Result<Vec<UserId>, BrokerError> {
        self.presence
            .lapsed()
            .await
            .map_err(|err| BrokerError(Box::new(err)))
    }

    /// This node's hub first; the others' entries in Redis for the rest (see `showing`).
    async fn showing(&self, room: RoomId, users: &[UserId]) -> Vec<UserId> {
        let (mut shown, elsewhere): (Vec<UserId>, Vec<UserId>) =
            users.iter().partition(|user| self.hub.shows(**user, room));
        let mut redis = self.reader.clone();
        shown.extend(showing::showing(&mut redis, &self.showing_keys, room, &elsewhere).await);
        shown
    }

    /// Up while the subscription connection is: it pings Redis every few seconds, so a lost
    /// Redis shows here within `PING_EVERY` plus `REPLY_TIMEOUT`.
    fn health(&self) -> BrokerHealth {
        if self.connected.load(Ordering::Relaxed) {
            BrokerHealth::Ok
        } else {
            BrokerHealth::Unreachable
        }
    }
}

/// The URL without its password, for logs.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// The publishing task: drains the queue in order, each batch in one pipeline, until the
/// broker is dropped.
async fn publish_in_order(
    mut connection: ConnectionManager,
    mut queue: mpsc::Receiver<Publication>,
    channels: Channels,
    node: NodeId,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(MAX_PUBLICATIONS_PER_PIPELINE);
    let mut failing = false;
    while queue
        .recv_many(&mut batch, MAX_PUBLICATIONS_PER_PIPELINE)
        .await
        > 0
    {
        let publications = batch.len() as u64;
        let mut pipeline = redis::pipe();
        let mut commands = 0usize;
        for publication in batch.drain(..) {
            if let Publication::Presence(_) = publication {
                // Every node hears presence, on one channel: one PUBLISH per change.
                match serde_json::to_vec(&Envelope { node, publication }) {
                    Ok(payload) => {
                        pipeline
                            .cmd("PUBLISH")
                            .arg(&channels.presence)
                            .arg(payload)
                            .ignore();
                        commands += 1;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "cannot serialise a presence change");
                    }
                }
                continue;
            }
            for user in publication.addressees() {
                let Some(publication) = publication.for_user(user) else {
                    continue;
                };
                match serde_json::to_vec(&Envelope { node, publication }) {
                    Ok(payload) => {
                        pipeline
                            .cmd("PUBLISH")
                            .arg(channels.of_user(user))
                            .arg(payload)
                            .ignore();
                        commands += 1;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, user = %user, "cannot serialise a publication");
                    }
                }
            }
        }
        if commands == 0 {
            continue;
        }
        match pipeline.query_async::<()>(&mut connection).await {
            Ok(()) => {
                metrics.redis_published.inc_by(publications);
                if failing {
                    failing = false;
                    tracing::info!("publishing to Redis again");
                }
            }
            Err(err) => {
                metrics.redis_publish_failures.inc_by(publications);
                // Once per outage, not once per batch: the counter tells how many.
                if !failing {
                    failing = true;
                    tracing::warn!(
                        error = %err,
                        publications,
                        "publishing to Redis failed: the other nodes miss these publications \
                         (their clients catch up from the store); retrying with the next ones"
                    );
                }
            }
        }
    }
}

/// Why the subscription connection ended.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("the connection closed")]
    Closed,
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// Waits for a reply from Redis, at most [`REPLY_TIMEOUT`].
async fn reply<T>(
    request: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Lost> {
    Ok(timeout(REPLY_TIMEOUT, request)
        .await
        .map_err(|_| Lost::Timeout(REPLY_TIMEOUT))??)
}

/// The subscription side: which users' channels this node listens to, and handing what
/// arrives on them to the hub.
struct Subscriber {
    client: redis::Client,
    hub: Arc<Hub>,
    channels: Channels,
    node: NodeId,
    metrics: Arc<Metrics>,
    /// Shared with the broker, for [`Broker::health`].
    connected: Arc<AtomicBool>,
    presence: mpsc::UnboundedReceiver<Presence>,
    /// The users whose channel the current connection is subscribed to.
    subscribed: HashSet<UserId>,
}

impl Subscriber {
    /// Connects, listens, and reconnects with back-off when the connection is lost, until
    /// `stop` fires. `users_here` are the users connected when the hub began to report.
    async fn run(mut self, users_here: Vec<UserId>, stop: CancellationToken) {
        let mut backoff = MIN_BACKOFF;
        let mut reconnecting = false;
        // The first connection starts from the hub's users at the time it began to report;
        // every later one asks the hub again (the feed reconciles whatever changed between).
        let mut first = Some(users_here);
        loop {
            let users = match first.take() {
                Some(users) => users,
                None => {
                    // What the feed says up to now, the hub's map says too; anything later
                    // stays in the feed and is reconciled once connected.
                    while self.presence.try_recv().is_ok() {}
                    self.hub.users_here()
                }
            };
            let lost = tokio::select! {
                () = stop.cancelled() => break,
                lost = self.listen(users, reconnecting, &mut backoff) => lost,
            };
            let Err(lost) = lost;
            self.hub.link_down();
            self.subscribed.clear();
            self.connected.store(false, Ordering::Relaxed);
            self.metrics.redis_connected.set(0);
            self.metrics.redis_subscribed_users.set(0);
            tracing::warn!(
                error = %lost,
                retry_in_ms = backoff.as_millis() as u64,
                "Redis subscription connection is down, retrying: publications from other nodes \
                 miss this node's connections meanwhile (they come back from the store)"
            );
            reconnecting = true;
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.hub.link_down();
        self.connected.store(false, Ordering::Relaxed);
        self.metrics.redis_connected.set(0);
        self.metrics.redis_subscribed_users.set(0);
    }

    /// One connection's life: subscribe to `users`' channels, then deliver what arrives and
    /// follow the hub's presence changes until the connection fails.
    async fn listen(
        &mut self,
        users: Vec<UserId>,
        reconnecting: bool,
        backoff: &mut Duration,
    ) -> Result<Infallible, Lost> {
        let (mut sink, mut stream) = reply(self.client.get_async_pubsub()).await?.split();
        // Presence changes of every user, whoever is connected here.
        reply(sink.subscribe(&self.channels.presence)).await?;
        // Up before the subscriptions: a connection arriving now waits to be heard.
        self.hub.link_up();
        self.reconcile(&sink, users).await?;
        self.connected.store(true, Ordering::Relaxed);
        self.metrics.redis_connected.set(1);
        *backoff = MIN_BACKOFF;
        if reconnecting {
            self.metrics.redis_reconnects.inc();
            // Subscribed again: whatever the other nodes publish from now on arrives. What
            // they published meanwhile did not; every connection here tells its client.
            let told = self.hub.tell_everyone_to_resync(ResyncReason::Broker);
            tracing::info!(
                users = self.subscribed.len(),
                connections_told_to_resync = told,
                "Redis subscription connection is back; channels subscribed again"
            );
        } else {
            tracing::info!(
                users = self.subscribed.len(),
                "Redis subscription connection is up"
            );
        }
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => self.deliver(&message),
                    None => return Err(Lost::Closed),
                },
                change = self.presence.recv() => {
                    // The hub keeps the feed's sender as long as it lives, and this task holds
                    // the hub: the feed cannot end while the task runs.
                    let Some(change) = change else { return Err(Lost::Closed) };
                    let mut users = vec![change.user()];
                    while let Ok(change) = self.presence.try_recv() {
                        users.push(change.user());
                    }
                    self.reconcile(&sink, users).await?;
                }
                _ = ping.tick() => {
                    reply(sink.ping::<redis::Value>()).await?;
                }
            }
        }
    }

    /// Subscribes to the channel of each of `users` that has a connection here and is not
    /// subscribed yet, and unsubscribes from those that have none left. The hub is asked
    /// rather than the feed believed, so a late or repeated presence change does no harm.
    async fn reconcile(&mut self, sink: &PubSubSink, users: Vec<UserId>) -> Result<(), Lost> {
        let mut seen = HashSet::with_capacity(users.len());
        let (mut join, mut leave) = (Vec::new(), Vec::new());
        for user in users {
            if !seen.insert(user) {
                continue;
            }
            match (self.hub.is_present(user), self.subscribed.contains(&user)) {
                (true, false) => join.push(user),
                (false, true) => leave.push(user),
                _ => {}
            }
        }
        for chunk in join.chunks(CHANNELS_AT_ONCE) {
            let names = chunk.iter().map(|u| self.channels.of_user(*u));
            reply(try_join_all(names.map(|name| {
                let mut sink = sink.clone();
                async move { sink.subscribe(name).await }
            })))
            .await?;
            self.subscribed.extend(chunk.iter().copied());
            self.hub.hear(chunk);
        }
        if !leave.is_empty() {
            // Forgotten first, then looked at again: a user who came back before this point
            // keeps the subscription (and is heard again); one who comes back after it waits
            // for the next reconcile, which its arrival in the feed brings.
            self.hub.forget_heard(&leave);
            let (back, gone): (Vec<UserId>, Vec<UserId>) = leave
                .into_iter()
                .partition(|user| self.hub.is_present(*user));
            self.hub.hear(&back);
            leave = gone;
        }
        for chunk in leave.chunks(CHANNELS_AT_ONCE) {
            let names = chunk.iter().map(|u| self.channels.of_user(*u));
            reply(try_join_all(names.map(|name| {
                let mut sink = sink.clone();
                async move { sink.unsubscribe(name).await }
            })))
            .await?;
            for user in chunk {
                self.subscribed.remove(user);
            }
        }
        self.metrics
            .redis_subscribed_users
            .set(i64::try_from(self.subscribed.len()).unwrap_or(i64::MAX));
        Ok(())
    }

    /// Hands a presence change from another node to the connections here that watch its user.
    fn deliver_presence(&self, message: &redis::Msg) {
        match serde_json::from_slice::<Envelope>(message.get_payload_bytes()) {
            Ok(envelope) if envelope.node == self.node => {}
            Ok(Envelope {
                publication: publication @ Publication::Presence(_),
                ..
            }) => {
                self.metrics.redis_received.inc();
                self.hub.deliver(&publication);
            }
            Ok(_) => tracing::debug!("a publication other than presence on the presence channel"),
            Err(err) => {
                tracing::warn!(error = %err, "an unreadable presence change from Redis; skipped");
            }
        }
    }

    /// Hands a payload from another node to the connections here of its channel's user.
    fn deliver(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        if channel == self.channels.presence {
            self.deliver_presence(message);
            return;
        }
        let Some(user) = self.channels.user_of(channel) else {
            tracing::debug!(channel, "a message on a channel this broker does not name");
            return;
        };
        let envelope: Envelope = match serde_json::from_slice(message.get_payload_bytes()) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(channel, error = %err, "an unreadable publication from Redis; skipped");
                return;
            }
        };
        if envelope.node == self.node {
            // Delivered here when it was published.
            return;
        }
        // Only this user's part, whatever else the payload names.
        if let Some(publication) = envelope.publication.for_user(user) {
            self.metrics.redis_received.inc();
            self.hub.deliver(&publication);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Outbound;
    use crate::model::Seq;

    fn message(seq: u64) -> Publication {
        Publication::Message {
            message: crate::test_support::message(7, seq),
            recipients: vec![(UserId(1), 0)],
            muted: Vec::new(),
        }
    }

    /// Nothing listens on port 1: Redis is "down" for the whole test.
    #[tokio::test]
    async fn without_redis_local_connections_are_served_and_nothing_waits() {
        let hub = Arc::new(Hub::new());
        let metrics = Arc::new(Metrics::new());
        let settings = RedisSettings {
            queue_capacity: 1,
            ..RedisSettings::new("redis://127.0.0.1:1")
        };
        let broker = RedisBroker::start(hub.clone(), &settings, metrics.clone()).expect("starts");
        let (_alice, mut queues) = hub.register(UserId(1), 256, 8).expect("room");
        for seq in 1..=100 {
            // The publishing task cannot run before this test yields: the queue (1) is full
            // after the first, and every later one must still return at once.
            broker.publish(message(seq)).await.expect("never an error");
        }
        for seq in 1..=100 {
            match queues.outbound.try_recv() {
                Ok(Outbound::Message(m, _, _)) => assert_eq!(m.seq(), Seq(seq)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(metrics.redis_publish_failures.get(), 99);
        assert_eq!(metrics.redis_connected.get(), 0);
        assert_eq!(broker.health(), BrokerHealth::Unreachable);
        assert!(matches!(
            RedisBroker::start(hub, &settings, metrics),
            Err(RedisBrokerError::HubTaken)
        ));
    }

    #[test]
    fn channel_names_round_trip() {
        let channels = Channels::new("run-1");
        let name = channels.of_user(UserId(42));
        assert_eq!(name, "run-1:user:42");
        assert_eq!(channels.user_of(&name), Some(UserId(42)));
        assert_eq!(channels.user_of("run-2:user:42"), None);
        assert_eq!(channels.user_of("run-1:user:x"), None);
    }

    #[test]
    fn logs_never_show_the_password() {
        assert_eq!(
            redacted("redis://u:secret@redis:6379/0"),
            "redis://…@redis:6379/0"
        );
        assert_eq!(redacted("redis://127.0.0.1"), "redis://127.0.0.1");
    }
}
