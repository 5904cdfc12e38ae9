//! The connection task: the one owner of the WebSocket, its only writer, and the state machine
//! that keeps it alive.
//!
//! [`Client`](crate::Client) handles talk to it over a bounded `mpsc` of [`Command`]s; dropped
//! [`Subscription`]s tell it over an unbounded channel (a `Drop` cannot wait for room in a
//! bounded one, and there is at most one notice per subscription).
//!
//! # One connection's life
//!
//! 1. Open the socket, `CONNECT` with the token and `heart-beat`, wait for `CONNECTED`.
//! 2. Restore: `SUBSCRIBE` `/user/queue/errors`, every held room with `since-seq` = the last
//!    `seq` it delivered, then `/user/queue/notifications`, each with a receipt. Room topics
//!    go before the notification queue so that, once both are in place, a message of a held
//!    room can only arrive on its topic.
//! 3. When every restore receipt is in (so every replay is delivered): state `Connected`,
//!    then the queued requests go out, oldest first, each with the `client-msg-id` it had
//!    from the start, so a retry of a send that was stored before the drop gets the stored
//!    message's receipt instead of a second copy (contract rule 4).
//! 4. Serve until the socket drops, the server sends `ERROR`, or heart-beats stop.
//!
//! Then back off (capped exponential, full jitter; see [`backoff`](crate::backoff)) and start
//! again. `ERROR token_expired` / `unauthorized` asks the token provider first; a provider
//! that fails, or a fresh token that is refused too, ends the client with [`Error::Auth`].
//!
//! When the last subscriber of a room goes, the task sends `UNSUBSCRIBE`; the room's messages
//! that still come on its topic before the server has handled it, and those the dropped stream
//! never yielded, go to the notifications (the registry's "never both, never neither").
//!
//! While offline the task keeps serving commands: new subscriptions join the registry and go
//! out with the restore, sends wait in the queue. A caller that gives up on a send (drops the
//! future) does not cancel it: it is idempotent and may already be stored.

use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::model::{
    parse_notification, parse_room_event, Activity, ErrorBody, MessageId, Notification,
    PresenceBody, RoomEvent, RoomId, Sent, Seq, UserId, UserPresence,
};
use crate::registry::{Delivery, Registry, Removed, Wire};
use crate::subscription::{Carried, Parts, Subscription, Topic};
use crate::token::Auth;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use sotong_stomp::{
    encode, negotiate_heart_beat, parse_heart_beat, Command as Stomp, Decoder, Frame, Version,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn, Instrument};

/// The notification queue: events of the user's rooms this client does not subscribe to.
pub(crate) const NOTIFICATIONS: &str = "/user/queue/notifications";
/// The presence queue (sotong).
pub(crate) const PRESENCE: &str = "/user/queue/presence";
/// The error queue: non-fatal errors of this connection.
pub(crate) const ERRORS: &str = "/user/queue/errors";
/// Commands waiting for the task; senders wait (back-pressure) when it is full.
const COMMAND_QUEUE: usize = 256;
/// How long one socket write may take before the connection counts as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `close` waits for the server's receipt of `DISCONNECT`.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server counts as gone after this many agreed intervals of silence (STOMP 1.2
/// "Heart-beating": the receiver "SHOULD be tolerant"). Three, not two: sotong's server
/// currently sends its heart-beats about two intervals apart instead of one.
const HEARTBEAT_TOLERANCE: u32 = 3;
/// `ERROR` codes that mean "this token is no good": refresh, then reconnect.
const AUTH_CODES: [&str; 2] = ["token_expired", "unauthorized"];

/// Where the client's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The first connection is being opened.
    Connecting,
    /// Connected, every subscription restored and caught up; requests go out at once.
    Connected,
    /// The connection dropped; the client is waiting to retry or reconnecting. Sends wait.
    Reconnecting,
    /// Closed for good (see [`Client::close`](crate::Client::close) and [`Error::Auth`]).
    Closed,
}

/// Settings of the connection task, fixed at connect time.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) heartbeat: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) subscriber_buffer: usize,
}

/// What the task and the handles share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) auth: Arc<Auth>,
    /// Why the client ended, once it has.
    pub(crate) end: OnceLock<Error>,
}

impl Shared {
    /// The error for a request the task can no longer answer.
    pub(crate) fn end_reason(&self) -> Error {
        self.end.get().cloned().unwrap_or(Error::Closed)
    }
}

/// A request from a handle to the task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Subscribe to a room. Without an anchor the task answers `NeedAnchor` unless the room is
    /// held already (then the caller joins it) or this connection routed its messages lately
    /// (then the subscription resumes after them; see the registry).
    Subscribe {
        room: RoomId,
        anchor: Option<Seq>,
        /// The room's `lastRev` read with the anchor: where the room's changes stand.
        anchor_rev: Option<u64>,
        reply: oneshot::Sender<Result<SubscribeAnswer>>,
    },
    /// Listen to the notifications.
    Notifications {
        reply: oneshot::Sender<Result<Subscription<Notification>>>,
    },
    /// Watch the presence of `users` (the whole list from now on).
    WatchPresence {
        users: Vec<UserId>,
        reply: oneshot::Sender<Result<Subscription<UserPresence>>>,
    },
    /// A `SEND` that expects a `RECEIPT`, queued while offline.
    Send { request: Request, reply: Reply },
    /// A typing indicator: best effort, dropped while offline.
    Typing { room: RoomId },
    /// This connection's activity (presence): best effort, dropped while offline.
    Activity { activity: Activity },
    /// `DISCONNECT` and end.
    Close { reply: oneshot::Sender<()> },
}

impl Command {
    fn fail(self, reason: &Error) {
        match self {
            Command::Subscribe { reply, .. } => {
                let _ = reply.send(Err(reason.clone()));
            }
            Command::Notifications { reply } => {
                let _ = reply.send(Err(reason.clone()));
            }
            Command::WatchPresence { reply, .. } => {
                let _ = reply.send(Err(reason.clone()));
            }
            Command::Send { reply, .. } => reply.fail(reason.clone()),
            Command::Typing { .. } | Command::Activity { .. } => {}
            Command::Close { reply } => {
                let _ = reply.send(());
            }
        }
    }
}

/// The answer to [`Command::Subscribe`].
#[derive(Debug)]
pub(crate) enum SubscribeAnswer {
    Subscribed(Subscription<RoomEvent>),
    NeedAnchor,
}

/// A subscription's stream was dropped.
#[derive(Debug)]
pub(crate) struct Dropped {
    pub(crate) topic: Topic,
    pub(crate) id: u64,
    /// A room stream's channel, closed, with the events it never yielded (see the registry).
    pub(crate) leftovers: Option<mpsc::Receiver<RoomEvent>>,
}

/// A `SEND` to make, with its JSON body.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) destination: String,
    pub(crate) body: String,
    pub(crate) client_msg_id: Option<String>,
}

/// Who waits for a request's `RECEIPT`.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A message post: resolves with the stored `seq` and id.
    Sent(oneshot::Sender<Result<Sent>>),
    /// Anything else: resolves when acknowledged.
    Done(oneshot::Sender<Result<()>>),
}

impl Reply {
    fn fail(self, reason: Error) {
        match self {
            Reply::Sent(tx) => {
                let _ = tx.send(Err(reason));
            }
            Reply::Done(tx) => {
                let _ = tx.send(Err(reason));
            }
        }
    }

    fn succeed(self, receipt: &Frame, request: &Request) {
        match self {
            Reply::Done(tx) => {
                let _ = tx.send(Ok(()));
            }
            Reply::Sent(tx) => {
                let seq = receipt
                    .header("seq")
                    .and_then(|s| s.trim().parse::<Seq>().ok());
                let id = receipt
                    .header("message-id")
                    .and_then(|s| s.trim().parse::<MessageId>().ok());
                let result = match (seq, id) {
                    (Some(seq), Some(message_id)) => Ok(Sent {
                        message_id,
                        seq,
                        client_msg_id: request.client_msg_id.clone().unwrap_or_default(),
                    }),
                    _ => Err(Error::Protocol(
                        "a SEND's RECEIPT has no valid seq / message-id headers".into(),
                    )),
                };
                let _ = tx.send(result);
            }
        }
    }
}

/// A queued or in-flight request.
#[derive(Debug)]
struct Outgoing {
    request: Request,
    reply: Reply,
    /// Sent on the current connection (its receipt is awaited).
    in_flight: bool,
}

/// What a receipt id stands for.
#[derive(Debug)]
enum Pending {
    Subscribe(Target),
    Request(u64),
    Disconnect,
}

/// What a `SUBSCRIBE` points at.
#[derive(Debug, Clone, Copy)]
enum Target {
    Errors,
    Notifications,
    Room(RoomId),
}

/// Why a connection ended.
#[derive(Debug)]
enum Ended {
    /// The client is done (closed, or every handle dropped).
    Stop(Error),
    /// The socket dropped, a write failed, or heart-beats stopped: reconnect.
    Lost(Error),
    /// An `ERROR` frame; the server closes after it.
    Fatal { code: String, message: String },
}

/// Why an attempt failed, as far as retrying goes.
enum Failure {
    Auth(String),
    Retry(Error),
}

/// Starts the connection task. Returns the command sender, the state, and a receiver that
/// resolves when the first connection is up and restored (or failed).
pub(crate) fn spawn(
    settings: Settings,
    shared: Arc<Shared>,
) -> (
    mpsc::Sender<Command>,
    watch::Receiver<State>,
    oneshot::Receiver<Result<()>>,
) {
    let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let (drops_tx, drops) = mpsc::unbounded_channel();
    let (state, state_rx) = watch::channel(State::Connecting);
    let (first_tx, first_rx) = oneshot::channel();
    let span = tracing::info_span!("sotong_client", url = %settings.url);
    let driver = Driver {
        registry: Registry::new(settings.subscriber_buffer),
        settings: Arc::new(settings),
        shared,
        waiters: HashMap::new(),
        outgoing: BTreeMap::new(),
        next_request: 0,
        commands,
        keepalive: commands_tx.downgrade(),
        drops_tx,
        drops,
        state,
        first: Some(first_tx),
        close_reply: None,
    };
    tokio::spawn(driver.run().instrument(span));
    (commands_tx, state_rx, first_rx)
}

type Waiter = (
    Subscription<RoomEvent>,
    oneshot::Sender<Result<SubscribeAnswer>>,
);

struct Driver {
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    registry: Registry,
    /// Room subscribers whose `subscribe()` waits for the room's `RECEIPT`.
    waiters: HashMap<RoomId, Vec<Waiter>>,
    /// Requests in creation order: the order they go out in after a reconnect.
    outgoing: BTreeMap<u64, Outgoing>,
    next_request: u64,
    commands: mpsc::Receiver<Command>,
    /// Handed to new subscriptions so they keep the task alive; weak here, so the task ends
    /// when the last handle and subscription are gone.
    keepalive: mpsc::WeakSender<Command>,
    drops_tx: mpsc::UnboundedSender<Dropped>,
    drops: mpsc::UnboundedReceiver<Dropped>,
    state: watch::Sender<State>,
    first: Option<oneshot::Sender<Result<()>>>,
    close_reply: Option<oneshot::Sender<()>>,
}

/// One connection's bookkeeping.
struct Online {
    link: Link,
    receipts: HashMap<String, Pending>,
    /// Receipts of the restore `SUBSCRIBE`s not in yet.
    restoring: HashSet<String>,
    restored: bool,
    next_receipt: u64,
    /// Whether `/user/queue/presence` is subscribed on this connection.
    presence_subscribed: bool,
}

impl Online {
    fn receipt(&mut self) -> String {
        self.next_receipt += 1;
        format!("r{}", self.next_receipt)
    }
}

impl Driver {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.settings.reconnect_min, self.settings.reconnect_max);
        // Set when the current token came from the provider and has not yet carried a
        // connection through its restore. Such a token being refused ends the client, so a
        // provider handing out unusable tokens cannot spin the loop.
        let mut fresh_token = false;
        let end = loop {
            let token = self.shared.auth.current();
            let settings = self.settings.clone();
            let opened = match self
                .offline(async move { Link::open(&settings, &token).await })
                .await
            {
                Ok(opened) => opened,
                Err(stop) => break stop,
            };
            let failure = match opened {
                Ok(link) => {
                    let (ended, restored) = self.online(link).await;
                    if restored {
                        backoff.reset();
                        fresh_token = false;
                    }
                    match ended {
                        Ended::Stop(reason) => break reason,
                        Ended::Lost(err) => Failure::Retry(err),
                        Ended::Fatal { code, message } if AUTH_CODES.contains(&code.as_str()) => {
                            Failure::Auth(format!("{code}: {message}"))
                        }
                        Ended::Fatal { code, message } => {
                            Failure::Retry(Error::Refused { code, message })
                        }
                    }
                }
                Err(OpenError::Auth(why)) => Failure::Auth(why),
                Err(OpenError::Retry(err)) => Failure::Retry(err),
                Err(OpenError::Fatal(err)) => break err,
            };
            if self.first.is_none() {
                self.state.send_replace(State::Reconnecting);
            }
            match failure {
                Failure::Auth(why) => {
                    if fresh_token || !self.shared.auth.can_refresh() {
                        break Error::Auth(why);
                    }
                    info!(reason = %why, "token refused; asking the token provider for a new one");
                    let shared = self.shared.clone();
                    match self
                        .offline(async move { shared.auth.refresh(&why).await })
                        .await
                    {
                        Err(stop) => break stop,
                        Ok(Err(err)) => break err,
                        Ok(Ok(_)) => fresh_token = true,
                    }
                }
                Failure::Retry(err) => {
                    if self.first.is_some() {
                        // The first connection fails fast: `connect` reports it.
                        break err;
                    }
                    let delay = backoff.next_delay(&mut rand::thread_rng());
                    info!(error = %err, ?delay, "connection lost; reconnecting");
                    if let Err(stop) = self.offline(tokio::time::sleep(delay)).await {
                        break stop;
                    }
                }
            }
        };
        self.shutdown(end);
    }

    /// Runs `work` while serving commands, as long as there is no connection.
    async fn offline<F: Future>(&mut self, work: F) -> Result<F::Output, Error> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                Some(dropped) = self.drops.recv() => {
                    // Offline nothing is subscribed on the wire, so there is nothing to undo.
                    let topic = dropped.topic;
                    let removed = self.registry.remove(topic, dropped.id, dropped.leftovers);
                    if let (Removed::Last { .. }, Topic::Room(room)) = (removed, topic) {
                        self.release_waiters(room);
                    }
                }
                out = &mut work => return Ok(out),
                command = self.commands.recv() => {
                    let Some(command) = command else { return Err(Error::Closed) };
                    if let Err(Ended::Stop(reason)) = self.on_command(command, None).await {
                        return Err(reason);
                    }
                }
            }
        }
    }

    /// Serves one open connection until it ends; says whether it got as far as restored.
    async fn online(&mut self, link: Link) -> (Ended, bool) {
        let mut online = Online {
            link,
            receipts: HashMap::new(),
            restoring: HashSet::new(),
            restored: false,
            next_receipt: 0,
            presence_subscribed: false,
        };
        let ended = match self.restore(&mut online).await {
            Ok(()) => self.serve(&mut online).await,
            Err(ended) => ended,
        };
        match &ended {
            Ended::Stop(_) => {}
            Ended::Lost(err) => warn!(error = %err, "connection lost"),
            Ended::Fatal { code, message } => {
                warn!(code, message, "the server closed the connection")
            }
        }
        // The connection is gone: nothing is subscribed, nothing is in flight.
        self.registry.disconnected();
        for outgoing in self.outgoing.values_mut() {
            outgoing.in_flight = false;
        }
        (ended, online.restored)
    }

    async fn restore(&mut self, online: &mut Online) -> Result<(), Ended> {
        self.subscribe_queue(online, ERRORS, Target::Errors).await?;
        for room in self.registry.rooms() {
            self.subscribe_room(online, room, true).await?;
        }
        self.subscribe_queue(online, NOTIFICATIONS, Target::Notifications)
            .await?;
        // Presence only for a client that asked for it: a stock client hears none.
        if self.registry.watched().is_some() {
            self.watch_presence(online).await?;
        }
        Ok(())
    }

    /// Subscribes `/user/queue/presence` (once per connection) and sends the watch list; the
    /// answer (every watched user's state) arrives before further changes.
    async fn watch_presence(&mut self, online: &mut Online) -> Result<(), Ended> {
        if !online.presence_subscribed {
            online.presence_subscribed = true;
            let frame = Frame::new(Stomp::Subscribe)
                .with_header("id", "presence")
                .with_header("destination", PRESENCE);
            online.link.write(&frame).await.map_err(Ended::Lost)?;
        }
        let users = self.registry.watched().unwrap_or_default();
        let body = serde_json::json!({ "userIds": users }).to_string();
        let frame = Frame::new(Stomp::Send)
            .with_header("destination", "/app/presence/watch")
            .with_header("content-type", "application/json")
            .with_body(body.into_bytes());
        online.link.write(&frame).await.map_err(Ended::Lost)
    }

    async fn subscribe_queue(
        &mut self,
        online: &mut Online,
        destination: &str,
        target: Target,
    ) -> Result<(), Ended> {
        let receipt = online.receipt();
        let id = match target {
            Target::Errors => "errors",
            _ => "notifications",
        };
        let frame = Frame::new(Stomp::Subscribe)
            .with_header("id", id)
            .with_header("destination", destination)
            .with_header("receipt", receipt.clone());
        online
            .receipts
            .insert(receipt.clone(), Pending::Subscribe(target));
        online.restoring.insert(receipt);
        online.link.write(&frame).await.map_err(Ended::Lost)
    }

    async fn subscribe_room(
        &mut self,
        online: &mut Online,
        room: RoomId,
        restoring: bool,
    ) -> Result<(), Ended> {
        let Some(since) = self.registry.last_seq(room) else {
            return Ok(());
        };
        let receipt = online.receipt();
        let frame = Frame::new(Stomp::Subscribe)
            .with_header("id", format!("room-{room}"))
            .with_header("destination", format!("/topic/rooms/{room}"))
            .with_header("since-seq", since.to_string())
            // The changes of the messages held that this client has not seen come first.
            .with_header("since-rev", self.registry.last_rev(room).to_string())
            .with_header("receipt", receipt.clone());
        self.registry
            .set_wire(room, Wire::Subscribing(receipt.clone()));
        online
            .receipts
            .insert(receipt.clone(), Pending::Subscribe(Target::Room(room)));
        if restoring {
            online.restoring.insert(receipt);
        }
        debug!(%room, %since, "subscribing");
        online.link.write(&frame).await.map_err(Ended::Lost)
    }

    async fn unsubscribe_room(&mut self, online: &mut Online, room: RoomId) -> Result<(), Ended> {
        debug!(%room, "unsubscribing");
        let frame = Frame::new(Stomp::Unsubscribe).with_header("id", format!("room-{room}"));
        online.link.write(&frame).await.map_err(Ended::Lost)
    }

    async fn serve(&mut self, online: &mut Online) -> Ended {
        // Checking every half interval keeps the longest silence within one interval; checking
        // every interval would let it drift to almost two (a tick just misses the deadline).
        let mut beat = interval_every(online.link.send_every / 2);
        let mut check = interval_every(online.link.expect_every / 2);
        loop {
            // Biased: a dropped subscription is handled before any later command, so its
            // UNSUBSCRIBE reaches the server before whatever the caller does next.
            let step = tokio::select! {
                biased;
                Some(dropped) = self.drops.recv() => self.on_dropped(dropped, online).await,
                frame = online.link.read_frame() => match frame {
                    Ok(frame) => self.on_frame(frame, online).await,
                    Err(err) => Err(Ended::Lost(err)),
                },
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command, Some(online)).await,
                    None => {
                        self.disconnect(online).await;
                        Err(Ended::Stop(Error::Closed))
                    }
                },
                _ = tick(&mut beat) => online.link.heartbeat().await,
                _ = tick(&mut check) => online.link.check_silence(),
            };
            if let Err(ended) = step {
                return ended;
            }
        }
    }

    fn subscription<T: Carried>(&self, parts: Parts<T>, topic: Topic) -> Subscription<T> {
        Subscription::new(
            parts,
            topic,
            self.drops_tx.clone(),
            self.keepalive.upgrade(),
        )
    }

    async fn on_command(
        &mut self,
        command: Command,
        online: Option<&mut Online>,
    ) -> Result<(), Ended> {
        match command {
            Command::Subscribe {
                room,
                anchor,
                anchor_rev,
                reply,
            } => match self.registry.add_room(room, anchor) {
                None => {
                    let _ = reply.send(Ok(SubscribeAnswer::NeedAnchor));
                }
                Some((parts, first)) => {
                    if let Some(rev) = anchor_rev {
                        self.registry.note_rev(room, rev);
                    }
                    let subscription = self.subscription(parts, Topic::Room(room));
                    if !first && self.registry.wire(room) == Some(&Wire::Live) {
                        let _ = reply.send(Ok(SubscribeAnswer::Subscribed(subscription)));
                    } else {
                        self.waiters
                            .entry(room)
                            .or_default()
                            .push((subscription, reply));
                    }
                    if let (true, Some(online)) = (first, online) {
                        self.subscribe_room(online, room, false).await?;
                    }
                }
            },
            Command::Notifications { reply } => {
                let parts = self.registry.add_notifications();
                let _ = reply.send(Ok(self.subscription(parts, Topic::Notifications)));
            }
            Command::WatchPresence { users, reply } => {
                let parts = self.registry.add_presence(&users);
                let _ = reply.send(Ok(self.subscription(parts, Topic::Presence)));
                if let Some(online) = online {
                    self.watch_presence(online).await?;
                }
            }
            Command::Send { request, reply } => {
                self.next_request += 1;
                let id = self.next_request;
                self.outgoing.insert(
                    id,
                    Outgoing {
                        request,
                        reply,
                        in_flight: false,
                    },
                );
                if let Some(online) = online.filter(|o| o.restored) {
                    self.transmit(online, id).await?;
                }
            }
            Command::Typing { room } => {
                if let Some(online) = online.filter(|o| o.restored) {
                    let frame = Frame::new(Stomp::Send)
                        .with_header("destination", format!("/app/rooms/{room}/typing"));
                    online.link.write(&frame).await.map_err(Ended::Lost)?;
                }
            }
            Command::Activity { activity } => {
                if let Some(online) = online {
                    let body = serde_json::json!({ "state": activity }).to_string();
                    let frame = Frame::new(Stomp::Send)
                        .with_header("destination", "/app/presence")
                        .with_header("content-type", "application/json")
                        .with_body(body.into_bytes());
                    online.link.write(&frame).await.map_err(Ended::Lost)?;
                }
            }
            Command::Close { reply } => {
                self.close_reply = Some(reply);
                if let Some(online) = online {
                    self.disconnect(online).await;
                }
                return Err(Ended::Stop(Error::Closed));
            }
        }
        Ok(())
    }

    async fn on_dropped(&mut self, dropped: Dropped, online: &mut Online) -> Result<(), Ended> {
        let topic = dropped.topic;
        let removed = self.registry.remove(topic, dropped.id, dropped.leftovers);
        if let (Removed::Last { wire }, Topic::Room(room)) = (removed, topic) {
            self.release_waiters(room);
            if wire {
                self.unsubscribe_room(online, room).await?;
            }
        }
        Ok(())
    }

    /// The room's entry is gone while `subscribe()` calls may still wait for its receipt (their
    /// subscribers fell behind during the replay): hand them their streams, which yield what
    /// they buffered and then their end.
    fn release_waiters(&mut self, room: RoomId) {
        for (subscription, reply) in self.waiters.remove(&room).unwrap_or_default() {
            let _ = reply.send(Ok(SubscribeAnswer::Subscribed(subscription)));
        }
    }

    /// Sends request `id` with a fresh receipt (and its original `client-msg-id`).
    async fn transmit(&mut self, online: &mut Online, id: u64) -> Result<(), Ended> {
        let Some(outgoing) = self.outgoing.get_mut(&id) else {
            return Ok(());
        };
        let receipt = online.receipt();
        let mut frame = Frame::new(Stomp::Send)
            .with_header("destination", outgoing.request.destination.clone())
            .with_header("content-type", "application/json")
            .with_header("receipt", receipt.clone());
        if let Some(key) = &outgoing.request.client_msg_id {
            frame = frame.with_header("client-msg-id", key.clone());
        }
        let frame = frame.with_body(outgoing.request.body.clone().into_bytes());
        outgoing.in_flight = true;
        online.receipts.insert(receipt, Pending::Request(id));
        online.link.write(&frame).await.map_err(Ended::Lost)
    }

    async fn on_frame(&mut self, frame: Frame, online: &mut Online) -> Result<(), Ended> {
        match frame.command {
            Stomp::Message => self.on_message(frame, online).await,
            Stomp::Receipt => self.on_receipt(frame, online).await,
            Stomp::Error => Err(Ended::Fatal {
                code: frame.header("message").unwrap_or("error").to_string(),
                message: String::from_utf8_lossy(&frame.body).into_owned(),
            }),
            other => {
                debug!(command = other.as_str(), "ignoring an unexpected frame");
                Ok(())
            }
        }
    }

    async fn on_message(&mut self, frame: Frame, online: &mut Online) -> Result<(), Ended> {
        let destination = frame.header("destination").unwrap_or_default();
        if let Some(room) = destination
            .strip_prefix("/topic/rooms/")
            .and_then(|id| id.trim().parse::<RoomId>().ok())
        {
            match parse_room_event(&frame.body) {
                Ok(Some(event)) => {
                    if let Delivery::Emptied { wire } = self.registry.deliver_room(room, event) {
                        self.release_waiters(room);
                        if wire {
                            self.unsubscribe_room(online, room).await?;
                        }
                    }
                }
                Ok(None) => debug!(%room, "skipping a room event of an unknown type"),
                Err(err) => warn!(%room, error = %err, "unreadable room event"),
            }
        } else if destination == NOTIFICATIONS {
            match parse_notification(&frame.body) {
                Ok(Some(event)) => {
                    self.registry.deliver_notification(event);
                }
                Ok(None) => debug!("skipping a notification of an unknown type"),
                Err(err) => warn!(error = %err, "unreadable notification"),
            }
        } else if destination == PRESENCE {
            match serde_json::from_slice::<PresenceBody>(&frame.body) {
                Ok(PresenceBody::Presence { users }) => self.registry.deliver_presence(users),
                Ok(_) => debug!("skipping a presence event of an unknown type"),
                Err(err) => warn!(error = %err, "unreadable presence event"),
            }
        } else if destination == ERRORS {
            match serde_json::from_slice::<ErrorBody>(&frame.body) {
                Ok(event) => {
                    let receipt = frame.header("receipt-id").map(str::to_string);
                    self.on_error_event(event, receipt, online).await?;
                }
                Err(err) => warn!(error = %err, "unreadable error event"),
            }
        } else {
            debug!(destination, "message for an unknown destination");
        }
        Ok(())
    }

    async fn on_error_event(
        &mut self,
        event: ErrorBody,
        receipt: Option<String>,
        online: &mut Online,
    ) -> Result<(), Ended> {
        let refused = Error::refused(event.code.clone(), event.message.clone());
        if let Some(pending) = receipt.as_ref().and_then(|r| online.receipts.remove(r)) {
            let receipt = receipt.unwrap_or_default();
            online.restoring.remove(&receipt);
            match pending {
                Pending::Request(id) => {
                    if let Some(outgoing) = self.outgoing.remove(&id) {
                        debug!(code = %event.code, "request refused");
                        outgoing.reply.fail(refused);
                    }
                }
                Pending::Subscribe(Target::Room(room)) => {
                    if self.registry.wire(room) == Some(&Wire::Subscribing(receipt)) {
                        warn!(%room, code = %event.code, message = %event.message, "subscription refused");
                        self.refuse_room(room, &refused);
                    }
                }
                Pending::Subscribe(target) => {
                    warn!(?target, code = %event.code, message = %event.message, "queue subscription refused");
                }
                Pending::Disconnect => {}
            }
            return self.check_restored(online).await;
        }
        // Without a receipt: the server ended a room subscription (the user left the room), or
        // refused a frame that asked for no receipt (a typing indicator).
        if let Some(room) = event
            .destination
            .strip_prefix("/topic/rooms/")
            .and_then(|id| id.trim().parse::<RoomId>().ok())
            .filter(|room| self.registry.holds(*room))
        {
            warn!(%room, code = %event.code, message = %event.message, "the server ended a subscription");
            self.refuse_room(room, &refused);
        } else {
            warn!(code = %event.code, message = %event.message, destination = %event.destination, "error event");
        }
        Ok(())
    }

    /// Ends `room`'s subscribers, and fails its waiting `subscribe()` calls, with `reason`.
    fn refuse_room(&mut self, room: RoomId, reason: &Error) {
        self.registry.end_room(room, reason);
        for (subscription, reply) in self.waiters.remove(&room).unwrap_or_default() {
            let _ = reply.send(Err(reason.clone()));
            drop(subscription);
        }
    }

    async fn on_receipt(&mut self, frame: Frame, online: &mut Online) -> Result<(), Ended> {
        let Some(receipt) = frame.header("receipt-id") else {
            return Ok(());
        };
        let Some(pending) = online.receipts.remove(receipt) else {
            debug!(receipt, "receipt for nothing pending");
            return Ok(());
        };
        online.restoring.remove(receipt);
        match pending {
            Pending::Request(id) => {
                if let Some(outgoing) = self.outgoing.remove(&id) {
                    outgoing.reply.succeed(&frame, &outgoing.request);
                }
            }
            Pending::Subscribe(Target::Room(room)) => {
                if self.registry.wire(room) == Some(&Wire::Subscribing(receipt.to_string())) {
                    self.registry.set_wire(room, Wire::Live);
                    for (subscription, reply) in self.waiters.remove(&room).unwrap_or_default() {
                        // A caller that gave up drops the subscription with the error value,
                        // which unsubscribes it like any other drop.
                        let _ = reply.send(Ok(SubscribeAnswer::Subscribed(subscription)));
                    }
                }
            }
            Pending::Subscribe(_) | Pending::Disconnect => {}
        }
        self.check_restored(online).await
    }

    /// Once every restore receipt is in: `Connected`, then the queued requests go out.
    async fn check_restored(&mut self, online: &mut Online) -> Result<(), Ended> {
        if online.restored || !online.restoring.is_empty() {
            return Ok(());
        }
        online.restored = true;
        info!(
            rooms = self.registry.rooms().len(),
            queued = self.outgoing.len(),
            "connected"
        );
        self.state.send_replace(State::Connected);
        if let Some(first) = self.first.take() {
            let _ = first.send(Ok(()));
        }
        let queued: Vec<u64> = self
            .outgoing
            .iter()
            .filter(|(_, o)| !o.in_flight)
            .map(|(id, _)| *id)
            .collect();
        for id in queued {
            self.transmit(online, id).await?;
        }
        Ok(())
    }

    /// `DISCONNECT` with a receipt, so the server has handled every earlier frame, then close.
    async fn disconnect(&mut self, online: &mut Online) {
        let receipt = online.receipt();
        online.receipts.insert(receipt.clone(), Pending::Disconnect);
        let frame = Frame::new(Stomp::Disconnect).with_header("receipt", receipt.clone());
        if online.link.write(&frame).await.is_ok() {
            let link = &mut online.link;
            let wait = async {
                while let Ok(frame) = link.read_frame().await {
                    if frame.command == Stomp::Receipt
                        && frame.header("receipt-id") == Some(receipt.as_str())
                    {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, wait).await;
        }
        let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, online.link.ws.close(None)).await;
    }

    /// Ends the client: every subscriber, waiter and request learns `reason`.
    fn shutdown(mut self, reason: Error) {
        match &reason {
            Error::Closed => info!("client closed"),
            other => warn!(reason = %other, "client ended"),
        }
        let _ = self.shared.end.set(reason.clone());
        self.registry.end_all(&reason);
        for (_, waiters) in self.waiters.drain() {
            for (subscription, reply) in waiters {
                let _ = reply.send(Err(reason.clone()));
                drop(subscription);
            }
        }
        for (_, outgoing) in std::mem::take(&mut self.outgoing) {
            outgoing.reply.fail(reason.clone());
        }
        if let Some(first) = self.first.take() {
            let _ = first.send(Err(reason.clone()));
        }
        self.state.send_replace(State::Closed);
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            command.fail(&reason);
        }
        if let Some(reply) = self.close_reply.take() {
            let _ = reply.send(());
        }
    }
}

fn interval_every(period: Duration) -> Option<Interval> {
    (!period.is_zero()).then(|| {
        let mut timer = tokio::time::interval(period);
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        timer
    })
}

async fn tick(timer: &mut Option<Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why opening a connection failed.
#[derive(Debug)]
enum OpenError {
    /// The token was refused.
    Auth(String),
    /// Worth another try later.
    Retry(Error),
    /// Never going to work (a bad URL).
    Fatal(Error),
}

/// One open STOMP-over-WebSocket connection.
struct Link {
    ws: Ws,
    decoder: Decoder,
    inbox: BytesMut,
    /// How often this side must send something (zero: never).
    send_every: Duration,
    /// How often the server promised to send something (zero: no promise).
    expect_every: Duration,
    last_read: Instant,
    last_write: Instant,
}

impl Link {
    /// Opens the socket and completes `CONNECT` / `CONNECTED`.
    async fn open(settings: &Settings, token: &str) -> Result<Link, OpenError> {
        let mut request = settings.url.as_str().into_client_request().map_err(|err| {
            OpenError::Fatal(Error::InvalidUrl(format!("{}: {err}", settings.url)))
        })?;
        request.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("v12.stomp"),
        );
        let host = request.uri().host().unwrap_or("localhost").to_string();
        let connecting = tokio_tungstenite::connect_async(request);
        let (ws, _) = tokio::time::timeout(settings.connect_timeout, connecting)
            .await
            .map_err(|_| OpenError::Retry(timed_out("opening the WebSocket")))?
            .map_err(|err| OpenError::Retry(Error::transport(err)))?;
        let mut link = Link {
            ws,
            decoder: Decoder::new(sotong_stomp::Limits {
                max_frame_bytes: 16 << 20,
                max_body_bytes: 16 << 20,
                ..sotong_stomp::Limits::default()
            }),
            inbox: BytesMut::new(),
            send_every: Duration::ZERO,
            expect_every: Duration::ZERO,
            last_read: Instant::now(),
            last_write: Instant::now(),
        };
        let beat = u64::try_from(settings.heartbeat.as_millis()).unwrap_or(u64::MAX);
        let connect = Frame::new(Stomp::Connect)
            .with_header("accept-version", "1.2")
            .with_header("host", host)
            .with_header("heart-beat", format!("{beat},{beat}"))
            .with_header("Authorization", format!("Bearer {token}"));
        link.write(&connect).await.map_err(OpenError::Retry)?;
        let answer = tokio::time::timeout(settings.connect_timeout, link.read_frame())
            .await
            .map_err(|_| OpenError::Retry(timed_out("waiting for CONNECTED")))?
            .map_err(OpenError::Retry)?;
        match answer.command {
            Stomp::Connected => {
                let server = answer
                    .header("heart-beat")
                    .and_then(parse_heart_beat)
                    .unwrap_or((0, 0));
                // `negotiate_heart_beat` answers from the server's side: (server sends, server
                // expects), which is (client expects, client sends).
                let (expect, send) = negotiate_heart_beat((beat, beat), server);
                link.expect_every = Duration::from_millis(expect);
                link.send_every = Duration::from_millis(send);
                debug!(?link.send_every, ?link.expect_every, "CONNECTED");
                Ok(link)
            }
            Stomp::Error => {
                let code = answer.header("message").unwrap_or("error").to_string();
                let message = String::from_utf8_lossy(&answer.body).into_owned();
                if AUTH_CODES.contains(&code.as_str()) {
                    Err(OpenError::Auth(format!("{code}: {message}")))
                } else {
                    Err(OpenError::Retry(Error::Refused { code, message }))
                }
            }
            other => Err(OpenError::Retry(Error::Protocol(format!(
                "expected CONNECTED, got {other}"
            )))),
        }
    }

    async fn write(&mut self, frame: &Frame) -> Result<(), Error> {
        let mut buf = BytesMut::with_capacity(128 + frame.body.len());
        encode(frame, Version::V1_2, &mut buf);
        let message = match String::from_utf8(buf.to_vec()) {
            Ok(text) => WsMessage::text(text),
            Err(err) => WsMessage::binary(err.into_bytes()),
        };
        self.send(message).await
    }

    async fn send(&mut self, message: WsMessage) -> Result<(), Error> {
        tokio::time::timeout(WRITE_TIMEOUT, self.ws.send(message))
            .await
            .map_err(|_| timed_out("writing to the socket"))?
            .map_err(Error::transport)?;
        self.last_write = Instant::now();
        Ok(())
    }

    /// The next frame. Cancel-safe: a partial frame stays in `inbox`.
    async fn read_frame(&mut self) -> Result<Frame, Error> {
        loop {
            match self.decoder.decode(&mut self.inbox) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(err) => return Err(Error::Protocol(format!("unreadable frame: {err}"))),
            }
            let message = match self.ws.next().await {
                Some(Ok(message)) => message,
                Some(Err(err)) => return Err(Error::transport(err)),
                None => return Err(closed("the socket closed")),
            };
            self.last_read = Instant::now();
            match message {
                WsMessage::Text(text) => self.inbox.extend_from_slice(text.as_bytes()),
                WsMessage::Binary(bytes) => self.inbox.extend_from_slice(&bytes),
                WsMessage::Close(_) => return Err(closed("the server closed the socket")),
                WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {}
            }
        }
    }

    /// STOMP 1.2: "a heart-beat is an EOL", sent when nothing else was for half an interval.
    async fn heartbeat(&mut self) -> Result<(), Ended> {
        if self.last_write.elapsed() >= self.send_every / 2 {
            self.send(WsMessage::text("\n"))
                .await
                .map_err(Ended::Lost)?;
        }
        Ok(())
    }

    fn check_silence(&self) -> Result<(), Ended> {
        if !self.expect_every.is_zero()
            && self.last_read.elapsed() > self.expect_every * HEARTBEAT_TOLERANCE
        {
            return Err(Ended::Lost(closed("no heart-beat from the server in time")));
        }
        Ok(())
    }
}

fn timed_out(what: &str) -> Error {
    Error::transport(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("timed out {what}"),
    ))
}

fn closed(what: &str) -> Error {
    Error::transport(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        what.to_string(),
    ))
}
