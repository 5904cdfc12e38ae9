//! One STOMP connection: CONNECT, then a loop over the client's frames, the hub's queue and
//! the heart-beat timers. The session task is the connection's only writer.
//!
//! # Delivery, by construction
//!
//! The hub gives this task one [`Outbound::Message`] per message for its user, whatever the
//! connection subscribes to. The task decides, against its own subscription table and in the
//! same sequence as it handles SUBSCRIBE and UNSUBSCRIBE, where the message goes:
//! - subscribed to the room's topic: on the topic, through the room's *seq filter*;
//! - otherwise, subscribed to `/user/queue/notifications`: as a notification;
//! - otherwise nowhere (the connection asked for neither).
//!
//! One decision per message per connection gives "one route per connection, never both, never
//! neither" (rule 3). On the chosen route each subscription to it gets its own MESSAGE frame
//! (STOMP): a connection may subscribe one room twice, say from two components. The room's
//! *seq filter* is shared by all its subscriptions and remembers the last `seq` sent on the
//! room's topic (`delivered`):
//! - `seq <= delivered` was sent already (by a `since-seq` replay): skipped, so no duplicate;
//! - `seq == delivered + 1`: sent;
//! - `seq > delivered + 1`: the messages in between are read from the store and sent first.
//!   The store commits `seq = n` only after every smaller `seq` of the room, so they are there.
//!   This keeps rule 6 (seq order) even when two publishers race, or when a publication was
//!   lost between nodes.
//!
//! A `since-seq: N` subscription enters the table *before* the store is read, so every message
//! committed after that point is also in this task's queue: the replay reads everything after
//! N, the filter then drops what the replay already sent. No gap, no duplicate.
//!
//! A subscription without `since-seq` is live from the room's last `seq` when it began. A
//! message committed before that (still in this task's queue when the SUBSCRIBE was handled)
//! goes where it would have gone when it was published: to the notification queue. So a
//! publisher that loses a race cannot make a message vanish between the two routes.
//!
//! The same race at the other end: after an UNSUBSCRIBE, a late publication that the seq
//! filter had already sent by filling a gap (or a replay had sent) would otherwise come again as
//! a notification. The task remembers which `seq`s each ended topic subscription sent
//! (`left`), whether it ended by UNSUBSCRIBE or by a leave, and keeps the mark through a new
//! subscription to the room (whose live-from point routes such a late one to notifications).
//!
//! A replay is bounded by the room's last `seq` when the subscription began (later messages
//! come through the hub, which addresses members only) and re-checks the rights before every
//! page. Leaves and revocations come on the hub's control lane, which this task reads before
//! its queue and while a flush waits on a slow socket: a right taken away stops the frames it
//! guarded at once, not after everything queued before it.
//!
//! A further subscription to a room already subscribed joins its filter. With `since-seq: N`
//! it alone first gets the stored messages in `N < seq <= delivered`, and it skips live ones up
//! to `N` (`RoomSubscriber::holds`); either way every later message reaches every subscription
//! of the room once, in seq order.
//!
//! On one node none of these races happen in practice: the group commit publishes in commit
//! order (see `rooms`). They matter for publications that travel between nodes.

use crate::app::App;
use crate::auth::{bearer, Credential, Identity};
use crate::error::Error;
use crate::hub::{render_body, ControlLane, Mailbox, Outbound, RenderedMessage, RenderedTyping};
use crate::model::{message_notification_json, ErrorBody, NotificationBody, Room, RoomId, Seq};
use crate::publication::{ConnectionId, UserEvent};
#[cfg(doc)]
use axum::extract::ws::WebSocket;
use axum::extract::ws::{CloseFrame, Message as WsMessage};
use bytes::{Bytes, BytesMut};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use sotong_stomp::{
    encode, negotiate_heart_beat, parse_heart_beat, Command, Decoder, Frame, Version,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{debug, info, warn, Instrument};

/// The notification queue: events for all of the user's rooms it is not viewing.
pub const NOTIFICATIONS: &str = "/user/queue/notifications";
/// The error queue: non-fatal errors of this connection.
pub const ERRORS: &str = "/user/queue/errors";
/// Pages read from the store while replaying `since-seq` or filling a gap.
const REPLAY_PAGE: u32 = 200;
/// Items taken from the queue before the socket is flushed.
const OUTBOUND_BATCH: usize = 64;
/// Most subscriptions of one connection to one destination. Each gets its own copy of every
/// frame, so this bounds how much one delivered message can multiply into (a few components
/// of one app subscribing the same room is the use; hundreds is an attack on memory).
const MAX_SUBSCRIPTIONS_PER_DESTINATION: usize = 16;
/// Most rooms remembered as left (see `Session::left`).
const MAX_LEFT_ROOMS: usize = 1024;
/// How long one flush may take before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Heart-beats may arrive this much later than agreed before the connection counts as dead
/// (STOMP 1.2 "Heart-beating": "to take into account timing inaccuracies, the receiver
/// SHOULD be tolerant").
const HEARTBEAT_TOLERANCE: u32 = 2;

/// Why a session ends.
#[derive(Debug)]
enum Close {
    /// DISCONNECT or the peer closed.
    Clean,
    /// An `ERROR` frame with a code from the contract, then close.
    Fatal {
        code: &'static str,
        message: String,
        /// Further headers of the `ERROR` frame (`receipt-id`, or `version` when no version is
        /// in common).
        headers: Vec<(&'static str, String)>,
    },
}

impl Close {
    fn fatal(code: &'static str, message: impl Into<String>) -> Self {
        Close::Fatal {
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }
}

/// Where a subscription points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Room(RoomId),
    Notifications,
    Errors,
}

/// One subscription of this connection.
#[derive(Debug)]
struct Subscription {
    target: Target,
    /// The `subscription` header of its MESSAGE frames: the client's id, or none for a STOMP 1.0
    /// SUBSCRIBE without one (1.0 sends the header only "if the subscription had an id").
    header: Option<String>,
    /// `ack:client` or `ack:client-individual`: on 1.2 its MESSAGE frames carry an `ack` header.
    client_ack: bool,
}

/// One subscription to a room topic: its id, and the `seq` up to which it holds the messages
/// already (from its own `since-seq` replay), so the shared filter skips them for it alone.
#[derive(Debug)]
struct RoomSubscriber {
    id: String,
    holds: Seq,
}

/// A connection's view of one room: the seq filter shared by every subscription to the room's
/// topic, and those subscriptions (each gets its own MESSAGE frame, in subscription order).
#[derive(Debug)]
struct RoomSubscription {
    subscribers: Vec<RoomSubscriber>,
    /// The last `seq` sent on this room's topic (or that the client said it holds).
    delivered: Seq,
    /// For a subscription without `since-seq`: the room's last `seq` when it began. Messages
    /// up to it were committed before the subscription existed, so they take the route they
    /// had then (the notification queue), not the topic.
    live_after: Option<Seq>,
}

/// What an ended topic subscription to a room covered: the messages with
/// `after < seq <= upto` went out on the topic (or the client said it held them), so a late
/// copy of one must not also come as a notification. Those up to `after` were committed before
/// the subscription began and took the notification route (see `RoomSubscription::live_after`).
#[derive(Debug, Clone, Copy)]
struct TopicSent {
    after: Seq,
    upto: Seq,
}

impl TopicSent {
    fn covers(self, seq: Seq) -> bool {
        self.after < seq && seq <= self.upto
    }
}

/// What a session talks over: WebSocket messages in and out. axum's [`WebSocket`] is one; tests
/// and fuzzers use in-memory channel pairs.
pub trait Transport:
    Stream<Item = Result<WsMessage, axum::Error>> + Sink<WsMessage, Error = axum::Error> + Unpin + Send
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<WsMessage, axum::Error>>
        + Sink<WsMessage, Error = axum::Error>
        + Unpin
        + Send
{
}

/// Runs one WebSocket connection to its end.
pub async fn run<T: Transport>(socket: T, app: Arc<App>, peer: SocketAddr) {
    let span = tracing::info_span!("session", %peer, conn = tracing::field::Empty, user = tracing::field::Empty);
    run_inner(socket, app).instrument(span).await;
}

async fn run_inner<T: Transport>(mut socket: T, app: Arc<App>) {
    let limits = app.config().limits.clone();
    let mut decoder = Decoder::new(sotong_stomp::Limits {
        max_frame_bytes: limits.max_frame_bytes,
        max_body_bytes: limits.max_frame_bytes,
        ..sotong_stomp::Limits::default()
    });
    let mut inbox = BytesMut::new();

    // CONNECT must come first, and soon.
    let deadline = Instant::now() + Duration::from_millis(limits.connect_timeout_ms);
    let connect = loop {
        match decoder.decode(&mut inbox) {
            Ok(Some(frame)) => break frame,
            Ok(None) => {}
            Err(err) => {
                let close = Close::fatal(fatal_code(&err), err.to_string());
                finish(&mut socket, Version::V1_2, close).await;
                return;
            }
        }
        let next = tokio::select! {
            msg = socket.next() => msg,
            _ = tokio::time::sleep_until(deadline) => {
                finish(&mut socket, Version::V1_2, Close::fatal("heartbeat_timeout", "no CONNECT frame in time")).await;
                return;
            }
            _ = app.shutdown().cancelled() => {
                finish(&mut socket, Version::V1_2, Close::fatal("shutting_down", "the server is shutting down")).await;
                return;
            }
        };
        match next {
            Some(Ok(WsMessage::Text(text))) => inbox.extend_from_slice(text.as_bytes()),
            Some(Ok(WsMessage::Binary(bytes))) => inbox.extend_from_slice(&bytes),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            Some(Err(err)) if is_too_big(&err) => {
                finish(&mut socket, Version::V1_2, too_big_close(&app)).await;
                return;
            }
            Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => return,
        }
    };

    let (identity, version, heart_beat) = match accept_connect(&app, &connect).await {
        Ok(accepted) => accepted,
        Err(close) => {
            finish(&mut socket, Version::V1_2, close).await;
            return;
        }
    };
    decoder.set_version(version);

    let Some((registration, queues)) = app.hub().register(
        identity.user.id,
        limits.outbound_queue,
        limits.max_connections_per_user,
    ) else {
        let close = Close::fatal(
            "too_many_connections",
            format!(
                "at most {} connections per user",
                limits.max_connections_per_user
            ),
        );
        finish(&mut socket, version, close).await;
        return;
    };
    let conn_id = registration.mailbox().id;
    tracing::Span::current().record("conn", tracing::field::display(conn_id));
    tracing::Span::current().record("user", identity.user.username.as_str());
    info!("connected");

    let (send_every, expect_every) = heart_beat;
    let mut connected = Frame::new(Command::Connected).with_header("version", version.as_str());
    // STOMP 1.0 has no heart-beats: its CONNECTED names none (and `accept_connect` agreed none).
    if version > Version::V1_0 {
        connected = connected.with_header(
            "heart-beat",
            format!("{},{}", limits.heartbeat_min_ms, limits.heartbeat_want_ms),
        );
    }
    let connected = connected
        .with_header("server", concat!("sotong/", env!("CARGO_PKG_VERSION")))
        .with_header("session", conn_id.to_string())
        .with_header("user-name", identity.user.username.clone());

    app.metrics().connections.inc();
    let mut session = Session {
        app: app.clone(),
        socket,
        mailbox: registration.mailbox().clone(),
        control: queues.control,
        closing: None,
        version,
        identity,
        conn_id,
        subscriptions: SubscriptionTable::default(),
        rooms: HashMap::new(),
        left: HashMap::new(),
        out: Vec::new(),
        held_receipt: None,
        next_event: 0,
        last_write: Instant::now(),
    };
    session.out.push(connected);
    let close = session
        .serve(decoder, inbox, queues.outbound, send_every, expect_every)
        .await;
    // Whatever was queued before the end (a DISCONNECT's RECEIPT, say) goes out first, unless
    // the peer does not read: then the ERROR and the close follow without a long wait.
    let _ = tokio::time::timeout(Duration::from_secs(2), session.flush()).await;
    let subscriptions = session.subscriptions.len() as i64;
    app.metrics().subscriptions.dec_by(subscriptions);
    app.metrics().connections.dec();
    match &close {
        Close::Clean => info!("disconnected"),
        Close::Fatal { code, message, .. } => info!(code, message = %message, "closed"),
    }
    let version = session.version;
    finish(&mut session.socket, version, close).await;
    drop(registration);
}

/// Checks CONNECT: version, token, heart-beats.
async fn accept_connect(
    app: &App,
    frame: &Frame,
) -> Result<(Identity, Version, (u64, u64)), Close> {
    if !matches!(frame.command, Command::Connect | Command::Stomp) {
        return Err(Close::fatal(
            "malformed",
            "the first frame must be CONNECT or STOMP",
        ));
    }
    let version = Version::negotiate(frame.header("accept-version")).ok_or_else(|| {
        // STOMP 1.2 "Protocol Negotiation": the ERROR lists the server's versions in `version`.
        Close::Fatal {
            code: "malformed",
            message: "supported versions are 1.0, 1.1 and 1.2".into(),
            headers: vec![("version", "1.0,1.1,1.2".into())],
        }
    })?;
    let token = frame
        .header("Authorization")
        .or_else(|| frame.header("authorization"))
        .and_then(bearer)
        .or_else(|| frame.header("passcode").filter(|p| !p.is_empty()))
        .ok_or_else(|| {
            Close::fatal(
                "unauthorized",
                "CONNECT needs Authorization: Bearer <token> or a passcode",
            )
        })?;
    let identity = app
        .auth()
        .authenticate(token)
        .await
        .map_err(|err| match err {
            Error::TokenExpired => Close::fatal("token_expired", "the token has expired"),
            Error::Backend(_) => {
                err.log();
                Close::fatal("unavailable", "the server could not check the token")
            }
            _ => Close::fatal("unauthorized", "the token is not valid"),
        })?;
    if version == Version::V1_0 {
        // 1.0 has no heart-beating (a `heart-beat` header means nothing there): no beats either
        // way, and no silence limit.
        return Ok((identity, version, (0, 0)));
    }
    let client_beats = match frame.header("heart-beat") {
        Some(value) => parse_heart_beat(value)
            .ok_or_else(|| Close::fatal("malformed", "heart-beat must be two numbers: cx,cy"))?,
        None => (0, 0),
    };
    let limits = &app.config().limits;
    let beats = negotiate_heart_beat(
        client_beats,
        (limits.heartbeat_min_ms, limits.heartbeat_want_ms),
    );
    Ok((identity, version, beats))
}

/// The error code for a frame the decoder rejected.
fn fatal_code(err: &sotong_stomp::ParseError) -> &'static str {
    if err.code() == "too_large" {
        "too_large"
    } else {
        "malformed"
    }
}

/// Whether a socket error is a WebSocket message above the WebSocket layer's own cap (the hard
/// cap, several times `max_frame_bytes`, set at the upgrade).
fn is_too_big(err: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(cause) = source {
        if let Some(ws) = cause.downcast_ref::<tungstenite::Error>() {
            return matches!(ws, tungstenite::Error::Capacity(_));
        }
        source = cause.source();
    }
    false
}

/// The end of a connection that sent a WebSocket message above the hard cap: `ERROR too_large`
/// (then close 1009), like a STOMP frame above `max_frame_bytes`, instead of a bare close.
fn too_big_close(app: &App) -> Close {
    Close::fatal(
        "too_large",
        format!(
            "a WebSocket message above the limit (frames have at most {} bytes)",
            app.config().limits.max_frame_bytes
        ),
    )
}

/// Sends the closing ERROR (if any) and closes the socket, without waiting long for a peer
/// that does not read.
async fn finish<T: Transport>(socket: &mut T, version: Version, close: Close) {
    let work = async {
        if let Close::Fatal {
            code,
            message,
            headers,
        } = &close
        {
            let mut frame = Frame::new(Command::Error)
                .with_header("message", *code)
                .with_header("content-type", "text/plain");
            for (name, value) in headers {
                frame = frame.with_header(*name, value.clone());
            }
            let frame = frame.with_body(message.clone().into_bytes());
            let _ = socket.feed(ws_message(&frame, version)).await;
        }
        // RFC 6455 7.4.1: 1001 going away, 1009 too big to process, 1008 policy violation.
        let (code, reason) = match &close {
            Close::Clean => (1000, ""),
            Close::Fatal {
                code: "shutting_down",
                ..
            } => (1001, "shutting_down"),
            Close::Fatal {
                code: "too_large", ..
            } => (1009, "too_large"),
            Close::Fatal { code, .. } => (1008, *code),
        };
        let _ = socket
            .send(WsMessage::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), work).await;
}

fn ws_message(frame: &Frame, version: Version) -> WsMessage {
    let mut buf = BytesMut::with_capacity(256 + frame.body.len());
    encode(frame, version, &mut buf);
    let bytes = buf.freeze();
    // Frames are text whenever their bodies are (always, for sotong's JSON): no copy either way.
    match axum::extract::ws::Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => WsMessage::Text(text),
        Err(_) => WsMessage::Binary(bytes),
    }
}

/// The start of a MESSAGE frame for `sub`: `destination`, `subscription` (unless a 1.0
/// subscription had no id), `message-id`, and on 1.2 for a client-ack subscription the `ack`
/// header the spec requires (unique per frame: the message and the subscription). 1.0 and 1.1
/// clients ACK by `message-id`.
fn message_head(
    version: Version,
    destination: &str,
    sub: &Subscription,
    message_id: &str,
) -> Frame {
    let mut frame = Frame::new(Command::Message).with_header("destination", destination);
    if let Some(id) = &sub.header {
        frame = frame.with_header("subscription", id.clone());
    }
    frame = frame.with_header("message-id", message_id);
    if sub.client_ack && version >= Version::V1_2 {
        let ack = match &sub.header {
            Some(id) => format!("{message_id}/{id}"),
            None => message_id.to_string(),
        };
        frame = frame.with_header("ack", ack);
    }
    frame
}

/// A message event on its room topic, for one subscription.
fn room_message_frame(version: Version, sub: &Subscription, message: &RenderedMessage) -> Frame {
    let destination = format!("/topic/rooms/{}", message.room_id());
    message_head(version, &destination, sub, &message.message.id.to_string())
        .with_header("seq", message.seq().to_string())
        .with_header("content-type", "application/json")
        .with_body(message.topic_body.clone())
}

/// What the destination of a SUBSCRIBE names.
fn subscription_target(destination: &str) -> Option<Target> {
    match destination {
        NOTIFICATIONS => Some(Target::Notifications),
        ERRORS => Some(Target::Errors),
        _ => destination
            .strip_prefix("/topic/rooms/")
            .and_then(|id| id.parse().ok())
            .map(Target::Room),
    }
}

/// What the destination of a SEND names.
#[derive(Debug, PartialEq, Eq)]
enum SendTarget {
    Post(RoomId),
    Typing(RoomId),
    Read(RoomId),
    Token,
}

fn send_target(destination: &str) -> Option<SendTarget> {
    if destination == "/app/token" {
        return Some(SendTarget::Token);
    }
    let rest = destination.strip_prefix("/app/rooms/")?;
    let (id, action) = match rest.split_once('/') {
        Some((id, action)) => (id, Some(action)),
        None => (rest, None),
    };
    let room: RoomId = id.parse().ok()?;
    match action {
        None => Some(SendTarget::Post(room)),
        Some("typing") => Some(SendTarget::Typing(room)),
        Some("read") => Some(SendTarget::Read(room)),
        Some(_) => None,
    }
}

/// The text of a SEND to a room: `{"text": …}` JSON, or the body itself as `text/plain`.
/// Without a content-type, a JSON object is read as JSON and anything else as plain text.
fn message_text(frame: &Frame) -> Result<String, Error> {
    let body = std::str::from_utf8(&frame.body)
        .map_err(|_| Error::Invalid("the body is not valid UTF-8".into()))?;
    let content_type = frame
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("text/plain") {
        return Ok(body.to_string());
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => match map.get("text") {
            Some(serde_json::Value::String(text)) => Ok(text.clone()),
            _ => Err(Error::Invalid(
                r#"the JSON body needs a string "text""#.into(),
            )),
        },
        _ if content_type.starts_with("application/json") => Err(Error::Invalid(
            r#"the body must be a JSON object {"text": …}"#.into(),
        )),
        _ => Ok(body.to_string()),
    }
}

/// A connection's subscriptions by id, kept sorted by id in one vector: a destination's
/// several subscriptions get their frames in a stable order without a sort per delivery, and
/// the handful most connections hold cost a few hundred bytes (a `BTreeMap` node is ~800,
/// paid by every connection).
#[derive(Debug, Default)]
struct SubscriptionTable {
    entries: Vec<(String, Subscription)>,
}

impl SubscriptionTable {
    fn position(&self, id: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(key, _)| key.as_str().cmp(id))
    }

    fn get(&self, id: &str) -> Option<&Subscription> {
        self.position(id).ok().map(|i| &self.entries[i].1)
    }

    fn contains_key(&self, id: &str) -> bool {
        self.position(id).is_ok()
    }

    fn insert(&mut self, id: String, subscription: Subscription) {
        match self.position(&id) {
            Ok(i) => self.entries[i].1 = subscription,
            Err(i) => self.entries.insert(i, (id, subscription)),
        }
    }

    fn remove(&mut self, id: &str) -> Option<Subscription> {
        self.position(id).ok().map(|i| self.entries.remove(i).1)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// In id order.
    fn iter(&self) -> impl Iterator<Item = (&String, &Subscription)> {
        self.entries.iter().map(|(id, sub)| (id, sub))
    }

    /// In id order.
    fn values(&self) -> impl Iterator<Item = &Subscription> {
        self.entries.iter().map(|(_, sub)| sub)
    }
}

struct Session<T> {
    app: Arc<App>,
    socket: T,
    mailbox: Arc<Mailbox>,
    /// The hub's control lane (leaves, revocations): read before the message queue, and
    /// while a flush waits on a slow socket.
    control: ControlLane,
    /// Set when a frame's handling found that the connection must end (a replay that met a
    /// revoked or expired token); the I/O loop closes with it after that frame.
    closing: Option<Close>,
    version: Version,
    identity: Identity,
    conn_id: ConnectionId,
    /// Subscription id (for a 1.0 SUBSCRIBE without one, its destination) -> the subscription.
    /// Kept in id order: a destination's several subscriptions get their frames in a stable
    /// order without a sort per delivered message.
    subscriptions: SubscriptionTable,
    /// Room -> its seq filter and its topic subscriptions (one or more).
    rooms: HashMap<RoomId, RoomSubscription>,
    /// Rooms whose topic subscription ended on this connection (by UNSUBSCRIBE or a leave) ->
    /// what it sent. A late publication in that range went out on the topic already (a replay
    /// or a gap fill sends ahead of publications), so it must not come again as a
    /// notification. The mark outlives a new subscription to the room, whose live-from point
    /// sends such a late one to the notification route too.
    left: HashMap<RoomId, TopicSent>,
    /// Frames waiting for the next flush.
    out: Vec<Frame>,
    /// The RECEIPT of the SEND just handled: it waits until the sender's own copy of the
    /// message (already in the queue, see `serve`) has been queued ahead of it.
    held_receipt: Option<Frame>,
    next_event: u64,
    last_write: Instant,
}

/// The close a control event demands of a connection signed in as `identity`: a revoked
/// login token ends every connection that it authenticated.
fn revocation(identity: &Identity, event: &UserEvent) -> Option<Close> {
    match (event, &identity.credential) {
        (UserEvent::TokenRevoked { token_hash }, Credential::Session { token_hash: mine })
            if token_hash == mine =>
        {
            Some(Close::fatal(
                "unauthorized",
                "the token was revoked (logged out)",
            ))
        }
        _ => None,
    }
}

fn interval_every(ms: u64) -> Option<Interval> {
    (ms > 0).then(|| {
        let mut timer = tokio::time::interval(Duration::from_millis(ms));
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

impl<T: Transport> Session<T> {
    async fn serve(
        &mut self,
        mut decoder: Decoder,
        mut inbox: BytesMut,
        mut queue: mpsc::Receiver<Outbound>,
        send_every: u64,
        expect_every: u64,
    ) -> Close {
        let mailbox = self.mailbox.clone();
        let frame_timeout = Duration::from_millis(self.app.config().limits.frame_timeout_ms);
        // When the oldest byte of a still-incomplete frame arrived (slowloris guard).
        let mut partial_since: Option<Instant> = None;
        // Ticking at half the agreed interval and beating after half an interval of silence
        // keeps every gap within the interval (a tick at exactly the interval would race the
        // last write and skip a beat, doubling the gap).
        let mut send_timer = interval_every(send_every / 2);
        let mut check_timer = interval_every(expect_every / 2);
        let silence_limit = Duration::from_millis(expect_every) * HEARTBEAT_TOLERANCE;
        let mut last_read = Instant::now();
        let mut expiry = Box::pin(tokio::time::sleep_until(self.expiry_instant()));

        loop {
            // A right taken away acts before anything else is read or sent.
            if let Err(close) = self.drain_control() {
                return close;
            }
            // Frames already buffered (several may arrive in one WebSocket message).
            loop {
                match decoder.decode(&mut inbox) {
                    Ok(Some(frame)) => {
                        self.app.metrics().frames_in.inc();
                        if let Err(close) = self.handle_frame(frame).await {
                            return close;
                        }
                        if let Some(close) = self.closing.take() {
                            return close;
                        }
                        if let Some(receipt) = self.held_receipt.take() {
                            // The own copy first, then the RECEIPT (contract, rule 1): a stored
                            // message is published before its commit is answered, so its copy
                            // for this connection is in the queue already. Everything queued
                            // goes ahead (at most the queue's capacity), keeping seq order.
                            let all = self.app.config().limits.outbound_queue.max(1);
                            if let Err(close) = self.drain_queue(&mut queue, all).await {
                                return close;
                            }
                            self.out.push(receipt);
                        }
                        expiry.as_mut().reset(self.expiry_instant());
                    }
                    Ok(None) => break,
                    Err(err) => return Close::fatal(fatal_code(&err), err.to_string()),
                }
            }
            // Whatever is queued already leaves in the same write.
            if let Err(close) = self.drain_queue(&mut queue, OUTBOUND_BATCH).await {
                return close;
            }
            if let Err(close) = self.flush().await {
                return close;
            }
            partial_since = match (inbox.is_empty(), partial_since) {
                (true, _) => None,
                (false, None) => Some(Instant::now()),
                (false, since) => since,
            };
            let partial_deadline = partial_since.map(|since| since + frame_timeout);

            tokio::select! {
                kick = mailbox.kicked() => {
                    warn!(code = kick.code(), "closing a slow consumer");
                    return Close::fatal(kick.code(), "the connection could not keep up with its messages");
                }
                _ = self.app.shutdown().cancelled() => {
                    return Close::fatal("shutting_down", "the server is shutting down");
                }
                Some(event) = self.control.recv() => {
                    if let Err(close) = self.handle_control(&event) {
                        return close;
                    }
                }
                msg = self.socket.next() => {
                    last_read = Instant::now();
                    match msg {
                        Some(Ok(WsMessage::Text(text))) => inbox.extend_from_slice(text.as_bytes()),
                        Some(Ok(WsMessage::Binary(bytes))) => inbox.extend_from_slice(&bytes),
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                        Some(Ok(WsMessage::Close(_))) | None => return Close::Clean,
                        Some(Err(err)) if is_too_big(&err) => return too_big_close(&self.app),
                        Some(Err(err)) => {
                            debug!(error = %err, "socket error");
                            return Close::Clean;
                        }
                    }
                }
                item = queue.recv() => {
                    let Some(item) = item else { return Close::Clean };
                    // The rest of what is queued joins it at the top of the loop.
                    if let Err(close) = self.handle_outbound(item).await {
                        return close;
                    }
                }
                _ = tick(&mut send_timer) => {
                    if self.out.is_empty() && self.last_write.elapsed() >= Duration::from_millis(send_every / 2) {
                        // STOMP 1.2: a heart-beat is an EOL.
                        if self.write_raw(WsMessage::Text("\n".into())).await.is_err() {
                            return Close::Clean;
                        }
                    }
                }
                _ = tick(&mut check_timer) => {
                    if last_read.elapsed() > silence_limit {
                        return Close::fatal("heartbeat_timeout", "no heart-beat from the client in time");
                    }
                }
                _ = async {
                    match partial_deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                } => {
                    return Close::fatal("malformed", "a frame stayed incomplete for too long");
                }
                _ = &mut expiry => {
                    return Close::fatal("token_expired", "the token has expired; refresh it and reconnect");
                }
            }
        }
    }

    fn expiry_instant(&self) -> Instant {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let left = self
            .identity
            .expires_at
            .saturating_sub(now)
            .clamp(0, 10 * 365 * 86_400);
        Instant::now() + Duration::from_secs(left as u64)
    }

    /// Writes every queued frame, then flushes once.
    ///
    /// A socket that does not drain can hold a flush for up to [`WRITE_TIMEOUT`]; the control
    /// lane is read meanwhile, so a revoked token ends the connection at once instead of after
    /// the write. Other control events wait for the write, then act before anything else.
    async fn flush(&mut self) -> Result<(), Close> {
        let mailbox = self.mailbox.clone();
        if self.out.is_empty() {
            return Ok(());
        }
        let frames = std::mem::take(&mut self.out);
        let count = frames.len() as u64;
        let version = self.version;
        let mut held = Vec::new();
        let result = {
            let socket = &mut self.socket;
            let write = tokio::time::timeout(WRITE_TIMEOUT, async move {
                for frame in &frames {
                    socket.feed(ws_message(frame, version)).await?;
                }
                socket.flush().await
            });
            tokio::pin!(write);
            loop {
                tokio::select! {
                    r = &mut write => break r,
                    kick = mailbox.kicked() => return Err(Close::fatal(kick.code(), "the connection could not keep up with its messages")),
                    Some(event) = self.control.recv() => {
                        if let Some(close) = revocation(&self.identity, &event) {
                            return Err(close);
                        }
                        held.push(event);
                    }
                }
            }
        };
        for event in held {
            self.handle_control(&event)?;
        }
        match result {
            Ok(Ok(())) => {
                self.app.metrics().frames_out.inc_by(count);
                self.last_write = Instant::now();
                Ok(())
            }
            _ => Err(Close::Clean),
        }
    }

    /// Routes up to `most` items already waiting in the hub's queue, without waiting for more.
    async fn drain_queue(
        &mut self,
        queue: &mut mpsc::Receiver<Outbound>,
        most: usize,
    ) -> Result<(), Close> {
        for _ in 0..most {
            let Ok(item) = queue.try_recv() else { break };
            self.handle_outbound(item).await?;
        }
        Ok(())
    }

    /// Handles every control event waiting on the lane.
    fn drain_control(&mut self) -> Result<(), Close> {
        while let Ok(event) = self.control.try_recv() {
            self.handle_control(&event)?;
        }
        Ok(())
    }

    /// A room left ends its subscription; a revoked token ends the connection.
    fn handle_control(&mut self, event: &UserEvent) -> Result<(), Close> {
        if let Some(close) = revocation(&self.identity, event) {
            return Err(close);
        }
        if let UserEvent::Left { room_id } = event {
            if let Some(sub) = self.end_room(*room_id) {
                for subscriber in &sub.subscribers {
                    if self.subscriptions.remove(&subscriber.id).is_some() {
                        self.app.metrics().subscriptions.dec();
                    }
                }
                let destination = format!("/topic/rooms/{room_id}");
                let frame =
                    Frame::new(Command::Unsubscribe).with_header("destination", destination);
                self.error_event(
                    &Error::Forbidden(format!(
                        "you left room {room_id}; its subscription has ended"
                    )),
                    &frame,
                );
            }
        }
        Ok(())
    }

    async fn write_raw(&mut self, msg: WsMessage) -> Result<(), ()> {
        let mailbox = self.mailbox.clone();
        let result = tokio::select! {
            r = tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(msg)) => r,
            _ = mailbox.kicked() => return Err(()),
        };
        match result {
            Ok(Ok(())) => {
                self.last_write = Instant::now();
                Ok(())
            }
            _ => Err(()),
        }
    }

    fn event_id(&mut self, prefix: &str) -> String {
        self.next_event += 1;
        format!("{prefix}-{}", self.next_event)
    }

    /// Queues a RECEIPT when the frame asked for one.
    fn receipt(&mut self, frame: &Frame) {
        if let Some(receipt) = frame.header("receipt") {
            self.out
                .push(Frame::new(Command::Receipt).with_header("receipt-id", receipt));
        }
    }

    /// Reports a non-fatal error on `/user/queue/errors` (rule 5); the connection goes on.
    fn error_event(&mut self, err: &Error, frame: &Frame) {
        err.log();
        let destination = frame.header("destination").unwrap_or("");
        debug!(code = err.code(), %err, destination, "request refused");
        let body = render_body(&ErrorBody {
            code: err.code().to_string(),
            message: err.to_string(),
            destination: destination.to_string(),
        });
        let id = self.event_id("err");
        for sub in self.subscriptions.values() {
            if sub.target != Target::Errors {
                continue;
            }
            let mut out = message_head(self.version, ERRORS, sub, &id)
                .with_header("content-type", "application/json");
            if let Some(receipt) = frame.header("receipt") {
                out = out.with_header("receipt-id", receipt);
            }
            self.out.push(out.with_body(body.clone()));
        }
    }

    /// Queues one MESSAGE with `body` per subscription to `target` (each subscription gets its
    /// own frame, in id order; the body is shared, not copied). Returns whether there was one.
    fn push_to_each(
        &mut self,
        target: Target,
        destination: &str,
        message_id: &str,
        body: Bytes,
    ) -> bool {
        let mut any = false;
        for sub in self.subscriptions.values() {
            if sub.target != target {
                continue;
            }
            self.out.push(
                message_head(self.version, destination, sub, message_id)
                    .with_header("content-type", "application/json")
                    .with_body(body.clone()),
            );
            any = true;
        }
        any
    }

    async fn handle_frame(&mut self, frame: Frame) -> Result<(), Close> {
        debug!(command = frame.command.as_str(), "frame");
        let result = match frame.command {
            Command::Subscribe => self.subscribe(&frame).await,
            Command::Unsubscribe => self.unsubscribe(&frame),
            Command::Send => self.send(&frame).await,
            Command::Disconnect => {
                self.receipt(&frame);
                return Err(Close::Clean);
            }
            Command::Connect | Command::Stomp => Err(Error::Invalid(
                "this connection is connected already".into(),
            )),
            Command::Ack | Command::Nack => {
                // Every message is stored before it is sent, so nothing waits on an ACK and a
                // NACK redelivers nothing (the client recovers with since-seq). Both are
                // accepted whatever they name, an unknown id included.
                self.receipt(&frame);
                Ok(())
            }
            Command::Begin | Command::Commit | Command::Abort => Err(Error::Invalid(format!(
                "{} is not supported: SENDs are not transactional",
                frame.command.as_str()
            ))),
            Command::Connected | Command::Message | Command::Receipt | Command::Error => {
                return Err(Close::Fatal {
                    code: "malformed",
                    message: format!("{} is a server frame", frame.command.as_str()),
                    headers: frame
                        .header("receipt")
                        .map(|receipt| ("receipt-id", receipt.to_string()))
                        .into_iter()
                        .collect(),
                });
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(Error::Unauthorized) | Err(Error::TokenExpired)
                if frame.header("destination") == Some("/app/token") =>
            {
                self.error_event(&Error::Invalid("the new token is not valid".into()), &frame);
                Ok(())
            }
            // A connection about to close says why in its ERROR, not in an error event too.
            Err(_) if self.closing.is_some() => Ok(()),
            Err(err) => {
                self.error_event(&err, &frame);
                Ok(())
            }
        }
    }

    async fn subscribe(&mut self, frame: &Frame) -> Result<(), Error> {
        let destination = frame
            .header("destination")
            .ok_or_else(|| Error::Invalid("SUBSCRIBE needs a destination header".into()))?;
        // STOMP 1.0 makes `id` optional; such a subscription is known by its destination.
        let (id, header) = match frame.header("id") {
            Some(id) => (id.to_string(), Some(id.to_string())),
            None if self.version == Version::V1_0 => (destination.to_string(), None),
            None => return Err(Error::Invalid("SUBSCRIBE needs an id header".into())),
        };
        if self.subscriptions.contains_key(&id) {
            return Err(Error::Invalid(match header {
                Some(_) => format!("subscription id {id} is in use"),
                None => format!("already subscribed to {destination} without an id"),
            }));
        }
        let client_ack = match frame.header("ack") {
            None | Some("auto") => false,
            Some("client" | "client-individual") => true,
            Some(_) => {
                return Err(Error::Invalid(
                    "ack must be auto, client or client-individual".into(),
                ))
            }
        };
        let subscription = Subscription {
            target: Target::Errors,
            header,
            client_ack,
        };
        let max = self.app.config().limits.max_subscriptions;
        if self.subscriptions.len() >= max {
            return Err(Error::TooLarge(format!(
                "at most {max} subscriptions per connection"
            )));
        }
        let target = subscription_target(destination)
            .ok_or_else(|| Error::NotFound(format!("no destination {destination}")))?;
        let same = self
            .subscriptions
            .values()
            .filter(|sub| sub.target == target)
            .count();
        if same >= MAX_SUBSCRIPTIONS_PER_DESTINATION {
            return Err(Error::TooLarge(format!(
                "at most {MAX_SUBSCRIPTIONS_PER_DESTINATION} subscriptions to {destination} per connection"
            )));
        }
        let subscription = Subscription {
            target,
            ..subscription
        };
        let since = match frame.header("since-seq") {
            Some(value) => Some(
                value
                    .trim()
                    .parse::<Seq>()
                    .map_err(|_| Error::Invalid("since-seq must be a whole number".into()))?,
            ),
            None => None,
        };
        if let Target::Room(room) = target {
            self.app
                .chat()
                .require_member(self.identity.user.id, room)
                .await?;
            if self.rooms.contains_key(&room) {
                return self
                    .subscribe_again(frame, room, id, subscription, since)
                    .await;
            }
            // Read after the membership check and before anything else this task does, so any
            // message committed later is still ahead of us in the queue (see the module doc).
            let last = self.app.chat().last_seq(room).await?;
            self.rooms.insert(
                room,
                RoomSubscription {
                    subscribers: vec![RoomSubscriber {
                        id: id.clone(),
                        holds: Seq::ZERO,
                    }],
                    delivered: last,
                    live_after: since.is_none().then_some(last),
                },
            );
        }
        self.subscriptions.insert(id.clone(), subscription);
        self.app.metrics().subscriptions.inc();
        if let (Target::Room(room), Some(since)) = (target, since) {
            let upto = self.rooms.get(&room).map_or(since, |sub| sub.delivered);
            if let Err(err) = self.replay(room, &id, since, upto).await {
                // Leave no half-made subscription behind (a leave may have ended it already).
                self.remove_subscription(&id);
                return Err(err);
            }
        }
        self.receipt(frame);
        Ok(())
    }

    /// Sends the stored messages of `room` with `since < seq <= upto`, page by page, to
    /// subscription `id` alone (the room's other subscriptions, if any, hold them already).
    ///
    /// `upto` is the room's last `seq` when the subscription entered the table. Everything
    /// committed later reaches this connection through the hub, which addresses members only,
    /// so a replay never sends a message committed after it began, however long a slow reader
    /// makes it last. Before every page the rights are checked again: the control lane is
    /// read (a leave ends the subscription, a revoked token the connection), the token must
    /// not have expired, and the user must still be a member.
    async fn replay(&mut self, room: RoomId, id: &str, since: Seq, upto: Seq) -> Result<(), Error> {
        let mut cursor = since;
        while cursor < upto {
            if let Err(close) = self.drain_control() {
                self.closing = Some(close);
                return Err(Error::Unauthorized);
            }
            if !self.subscriptions.contains_key(id) {
                return Err(Error::Forbidden(format!(
                    "you left room {room}; its replay has ended"
                )));
            }
            if self.identity.expires_at <= time::OffsetDateTime::now_utc().unix_timestamp() {
                self.closing = Some(Close::fatal(
                    "token_expired",
                    "the token has expired; refresh it and reconnect",
                ));
                return Err(Error::TokenExpired);
            }
            self.app
                .chat()
                .require_member(self.identity.user.id, room)
                .await?;
            let page = self
                .app
                .chat()
                .messages_between(room, cursor, upto + 1, REPLAY_PAGE)
                .await?;
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            if let Some(sub) = self.subscriptions.get(id) {
                for message in page {
                    let rendered = RenderedMessage::new(&message);
                    self.out
                        .push(room_message_frame(self.version, sub, &rendered));
                }
            }
            cursor = last;
            // A long replay goes out page by page instead of piling up in memory.
            if let Err(close) = self.flush().await {
                self.closing = Some(close);
                return Err(Error::Invalid(
                    "the connection closed during the replay".into(),
                ));
            }
        }
        Ok(())
    }

    /// A further subscription to a room this connection already subscribes to. It joins the
    /// room's seq filter: live messages after the filter's `delivered` reach every subscription
    /// of the room. With `since-seq: N`, this subscription alone first gets the stored
    /// messages in `N < seq <= delivered`, and skips live ones up to `N` (it holds them).
    async fn subscribe_again(
        &mut self,
        frame: &Frame,
        room: RoomId,
        id: String,
        subscription: Subscription,
        since: Option<Seq>,
    ) -> Result<(), Error> {
        let Some(shared) = self.rooms.get_mut(&room) else {
            return Err(Error::Invalid(format!("no subscription to room {room}")));
        };
        let delivered = shared.delivered;
        if since.is_some() {
            // A message up to `delivered` is now on the topic (replayed, or held by the client),
            // so a late one at or below it must not also come as a notification.
            shared.live_after = None;
        }
        shared.subscribers.push(RoomSubscriber {
            id: id.clone(),
            holds: since.unwrap_or(delivered),
        });
        self.subscriptions.insert(id.clone(), subscription);
        self.app.metrics().subscriptions.inc();
        if let Some(since) = since.filter(|&since| since < delivered) {
            if let Err(err) = self.replay(room, &id, since, delivered).await {
                self.remove_subscription(&id);
                return Err(err);
            }
        }
        self.receipt(frame);
        Ok(())
    }

    /// Ends one subscription. The last one of a room takes the room's seq filter with it and
    /// leaves its `left` mark (see the module doc).
    fn remove_subscription(&mut self, id: &str) {
        let Some(sub) = self.subscriptions.remove(id) else {
            return;
        };
        self.app.metrics().subscriptions.dec();
        let Target::Room(room) = sub.target else {
            return;
        };
        let Some(shared) = self.rooms.get_mut(&room) else {
            return;
        };
        shared.subscribers.retain(|subscriber| subscriber.id != id);
        if shared.subscribers.is_empty() {
            self.end_room(room);
        }
    }

    /// Drops the room's seq filter and leaves its `left` mark (see the module doc). An earlier
    /// mark that this one overlaps or continues is merged in; a disjoint one gives way.
    fn end_room(&mut self, room: RoomId) -> Option<RoomSubscription> {
        let shared = self.rooms.remove(&room)?;
        let mut sent = TopicSent {
            after: shared.live_after.unwrap_or(Seq::ZERO),
            upto: shared.delivered,
        };
        if let Some(earlier) = self.left.get(&room) {
            if sent.after <= earlier.upto {
                sent.after = sent.after.min(earlier.after);
                sent.upto = sent.upto.max(earlier.upto);
            }
        } else if self.left.len() >= MAX_LEFT_ROOMS {
            // Only late publications need the marks; losing them all at once merely lets
            // such a rare late copy through as a notification.
            self.left.clear();
        }
        self.left.insert(room, sent);
        Some(shared)
    }

    /// UNSUBSCRIBE by `id`, or (STOMP 1.0, where `id` is optional) by `destination`: then every
    /// subscription to that destination ends.
    fn unsubscribe(&mut self, frame: &Frame) -> Result<(), Error> {
        let ids: Vec<String> = match (frame.header("id"), frame.header("destination")) {
            (Some(id), _) => {
                if !self.subscriptions.contains_key(id) {
                    return Err(Error::Invalid(format!("no subscription {id}")));
                }
                vec![id.to_string()]
            }
            (None, Some(destination)) => {
                let target = subscription_target(destination)
                    .ok_or_else(|| Error::Invalid(format!("no subscription to {destination}")))?;
                let ids: Vec<String> = self
                    .subscriptions
                    .iter()
                    .filter(|(_, sub)| sub.target == target)
                    .map(|(id, _)| id.clone())
                    .collect();
                if ids.is_empty() {
                    return Err(Error::Invalid(format!("no subscription to {destination}")));
                }
                ids
            }
            (None, None) => {
                return Err(Error::Invalid(
                    "UNSUBSCRIBE needs an id (or, in STOMP 1.0, a destination) header".into(),
                ))
            }
        };
        for id in &ids {
            self.remove_subscription(id);
        }
        self.receipt(frame);
        Ok(())
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), Error> {
        let destination = frame
            .header("destination")
            .ok_or_else(|| Error::Invalid("SEND needs a destination header".into()))?;
        let target = send_target(destination)
            .ok_or_else(|| Error::NotFound(format!("no destination {destination}")))?;
        // One budget per user, shared with the HTTP API: more connections buy no more sends.
        if let Err(wait) = self.app.budgets().sends.try_take(&self.identity.user.id, 1) {
            return Err(Error::throttled("too many frames sent; slow down", wait));
        }
        let user = self.identity.user.clone();
        match target {
            SendTarget::Post(room) => {
                let text = message_text(frame)?;
                let message = self
                    .app
                    .chat()
                    .post_message(&user, room, &text, frame.header("client-msg-id"))
                    .await?;
                if let Some(receipt) = frame.header("receipt") {
                    // Held back until the own copy is queued (see `serve`).
                    self.held_receipt = Some(
                        Frame::new(Command::Receipt)
                            .with_header("receipt-id", receipt)
                            .with_header("message-id", message.id.to_string())
                            .with_header("seq", message.seq.to_string()),
                    );
                }
                return Ok(());
            }
            SendTarget::Typing(room) => {
                self.app.chat().typing(&user, room, self.conn_id).await?;
            }
            SendTarget::Read(room) => {
                #[derive(serde::Deserialize)]
                struct Read {
                    seq: Seq,
                }
                let read: Read = serde_json::from_slice(&frame.body)
                    .map_err(|_| Error::Invalid(r#"the body must be {"seq": N}"#.into()))?;
                self.app
                    .chat()
                    .mark_read(user.id, room, read.seq, Some(self.conn_id))
                    .await?;
            }
            SendTarget::Token => {
                let token = frame
                    .header("Authorization")
                    .or_else(|| frame.header("authorization"))
                    .and_then(bearer)
                    .ok_or_else(|| {
                        Error::Invalid("send the new token as Authorization: Bearer <token>".into())
                    })?;
                let identity = self.app.auth().authenticate(token).await?;
                if identity.user.id != user.id {
                    return Err(Error::Forbidden(
                        "the new token belongs to another user".into(),
                    ));
                }
                self.identity = identity;
            }
        }
        self.receipt(frame);
        Ok(())
    }

    /// Routes one hub item to this connection (see the module doc).
    async fn handle_outbound(&mut self, item: Outbound) -> Result<(), Close> {
        match item {
            Outbound::Message(message, unread) => self.deliver_message(&message, unread).await,
            Outbound::Typing(typing) => {
                self.deliver_typing(&typing);
                Ok(())
            }
            Outbound::User(event) => self.deliver_user_event(&event),
        }
    }

    async fn deliver_message(
        &mut self,
        message: &RenderedMessage,
        unread: u64,
    ) -> Result<(), Close> {
        let room = message.room_id();
        let seq = message.seq();
        let on_topic = match self.rooms.get(&room) {
            Some(sub) if sub.live_after.is_some_and(|first| seq <= first) => false,
            Some(sub) if seq <= sub.delivered => return Ok(()),
            Some(sub) => {
                if seq > sub.delivered + 1 {
                    let delivered = sub.delivered;
                    self.fill_gap(room, delivered, seq).await;
                }
                true
            }
            None => false,
        };
        if !on_topic {
            match self.left.get(&room) {
                Some(sent) if sent.covers(seq) => return Ok(()),
                // A later message has come, so the late copies the mark guarded are past.
                Some(sent) if seq > sent.upto && !self.rooms.contains_key(&room) => {
                    self.left.remove(&room);
                }
                _ => {}
            }
        }
        if on_topic {
            self.push_room_message(message);
            self.observe_latency(message);
            return Ok(());
        }
        let body = message_notification_json(room, &message.message_json, unread);
        let message_id = message.message.id.to_string();
        if self.push_to_each(
            Target::Notifications,
            NOTIFICATIONS,
            &message_id,
            Bytes::from(body),
        ) {
            self.observe_latency(message);
        }
        Ok(())
    }

    /// Sends the stored messages strictly between `delivered` and `upto` (see module doc).
    async fn fill_gap(&mut self, room: RoomId, delivered: Seq, upto: Seq) {
        self.app.metrics().gap_fills.inc();
        let mut cursor = delivered;
        while cursor + 1 < upto {
            let page = self
                .app
                .chat()
                .messages_between(room, cursor, upto, REPLAY_PAGE)
                .await;
            let page = match page {
                Ok(page) if !page.is_empty() => page,
                Ok(_) => break,
                Err(err) => {
                    warn!(error = %err, %room, "could not fill a gap; the client recovers with since-seq");
                    break;
                }
            };
            for message in page {
                cursor = message.seq;
                self.push_room_message(&RenderedMessage::new(&message));
            }
        }
    }

    /// Queues a message on its room topic, one frame per subscription that does not hold it
    /// yet, and advances the room's seq filter.
    fn push_room_message(&mut self, message: &RenderedMessage) {
        let room = message.room_id();
        let seq = message.seq();
        let Some(shared) = self.rooms.get_mut(&room) else {
            return;
        };
        shared.delivered = shared.delivered.max(seq);
        for subscriber in &shared.subscribers {
            if seq <= subscriber.holds {
                continue;
            }
            if let Some(sub) = self.subscriptions.get(&subscriber.id) {
                self.out
                    .push(room_message_frame(self.version, sub, message));
            }
        }
    }

    fn observe_latency(&self, message: &RenderedMessage) {
        let age_ms = crate::model::now_millis().saturating_sub(message.sent_at_millis);
        self.app
            .metrics()
            .delivery_latency
            .observe((age_ms.max(0) as f64) / 1000.0);
    }

    fn deliver_typing(&mut self, typing: &RenderedTyping) {
        if typing.origin == self.conn_id {
            return;
        }
        if !self.rooms.contains_key(&typing.room_id) {
            return;
        }
        let id = self.event_id("typing");
        let destination = format!("/topic/rooms/{}", typing.room_id);
        // The room's own subscriber list, not a scan of every subscription of the connection.
        let Some(shared) = self.rooms.get(&typing.room_id) else {
            return;
        };
        for subscriber in &shared.subscribers {
            if let Some(sub) = self.subscriptions.get(&subscriber.id) {
                self.out.push(
                    message_head(self.version, &destination, sub, &id)
                        .with_header("content-type", "application/json")
                        .with_body(typing.body.clone()),
                );
            }
        }
    }

    fn deliver_user_event(&mut self, event: &UserEvent) -> Result<(), Close> {
        let body = match event {
            UserEvent::Room(room) => NotificationBody::Room {
                room: Room::clone(room),
            },
            UserEvent::Read { room_id, seq } => NotificationBody::Read {
                room_id: *room_id,
                seq: *seq,
            },
            // The hub hands these to the control lane; should one come this way, it acts the same.
            UserEvent::Left { .. } | UserEvent::TokenRevoked { .. } => {
                return self.handle_control(event);
            }
        };
        let id = self.event_id("event");
        self.push_to_each(
            Target::Notifications,
            NOTIFICATIONS,
            &id,
            render_body(&body),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_parsed_strictly() {
        assert_eq!(
            subscription_target("/topic/rooms/12"),
            Some(Target::Room(RoomId(12)))
        );
        assert_eq!(
            subscription_target(NOTIFICATIONS),
            Some(Target::Notifications)
        );
        assert_eq!(subscription_target("/topic/rooms/x"), None);
        assert_eq!(subscription_target("/topic/rooms/"), None);
        assert_eq!(
            send_target("/app/rooms/3"),
            Some(SendTarget::Post(RoomId(3)))
        );
        assert_eq!(
            send_target("/app/rooms/3/typing"),
            Some(SendTarget::Typing(RoomId(3)))
        );
        assert_eq!(
            send_target("/app/rooms/3/read"),
            Some(SendTarget::Read(RoomId(3)))
        );
        assert_eq!(send_target("/app/token"), Some(SendTarget::Token));
        assert_eq!(send_target("/app/rooms/3/other"), None);
        assert_eq!(send_target("/app/rooms/abc"), None);
    }

    fn send(body: &str, content_type: Option<&str>) -> Frame {
        let mut frame = Frame::new(Command::Send).with_header("destination", "/app/rooms/1");
        if let Some(ct) = content_type {
            frame = frame.with_header("content-type", ct);
        }
        frame.with_body(body.as_bytes().to_vec())
    }

    #[test]
    fn message_text_accepts_json_and_plain_text() {
        assert_eq!(message_text(&send(r#"{"text":"hi"}"#, None)).unwrap(), "hi");
        assert_eq!(
            message_text(&send(r#"{"text":"hi"}"#, Some("application/json"))).unwrap(),
            "hi"
        );
        assert_eq!(message_text(&send("hello", None)).unwrap(), "hello");
        assert_eq!(
            message_text(&send(r#"{"text":"x"}"#, Some("text/plain"))).unwrap(),
            r#"{"text":"x"}"#
        );
        assert!(message_text(&send("hello", Some("application/json"))).is_err());
        assert!(message_text(&send(r#"{"txt":"x"}"#, None)).is_err());
        assert!(message_text(&Frame::new(Command::Send).with_body(vec![0xff, 0xfe])).is_err());
    }

    #[test]
    fn the_subscription_table_keeps_ids_in_order() {
        let sub = |target| Subscription {
            target,
            header: None,
            client_ack: false,
        };
        let mut table = SubscriptionTable::default();
        for id in ["n2", "e", "n10", "n1"] {
            table.insert(id.into(), sub(Target::Notifications));
        }
        table.insert("e".into(), sub(Target::Errors));
        let ids: Vec<&str> = table.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["e", "n1", "n10", "n2"]);
        assert_eq!(table.get("e").map(|s| s.target), Some(Target::Errors));
        assert!(table.remove("n10").is_some() && table.remove("n10").is_none());
        assert!(!table.contains_key("n10") && table.contains_key("n2"));
        assert_eq!(table.len(), 3);
        assert_eq!(table.values().count(), 3);
    }

    #[test]
    fn message_heads_follow_the_version_and_the_ack_mode() {
        let sub = |header: Option<&str>, client_ack| Subscription {
            target: Target::Notifications,
            header: header.map(str::to_string),
            client_ack,
        };
        let head = message_head(Version::V1_2, NOTIFICATIONS, &sub(Some("s"), true), "7");
        assert_eq!(head.header("subscription"), Some("s"));
        assert_eq!(head.header("message-id"), Some("7"));
        assert_eq!(head.header("ack"), Some("7/s"));
        let head = message_head(Version::V1_2, NOTIFICATIONS, &sub(Some("s"), false), "7");
        assert_eq!(head.header("ack"), None, "ack:auto has no ack header");
        let head = message_head(Version::V1_1, NOTIFICATIONS, &sub(Some("s"), true), "7");
        assert_eq!(head.header("ack"), None, "1.1 acks by message-id");
        let head = message_head(Version::V1_0, NOTIFICATIONS, &sub(None, true), "7");
        assert_eq!(head.header("subscription"), None, "1.0 without an id");
        assert_eq!(head.header("ack"), None);
    }

    /// Sessions driven through the in-memory transport, with publications handed to the hub
    /// directly, so that a message can be put in a connection's queue at a chosen moment: while
    /// the session is held up writing a replay to a client that does not read yet.
    mod races {
        use super::*;
        use crate::config::Config;
        use crate::model::{Message, User};
        use crate::publication::Publication;
        use crate::store::NewMessage;
        use crate::transport::{pair, ChannelPeer};
        use tokio_util::sync::CancellationToken;

        /// Alice, a member of `room` (with `history` stored) and of `blocker` (three stored
        /// messages, whose `since-seq: 0` replay holds the session up while the client does
        /// not read: the transport buffers one frame).
        struct Fixture {
            app: Arc<App>,
            _dir: tempfile::TempDir,
            alice: User,
            token: String,
            room: RoomId,
            blocker: RoomId,
            history: Vec<Message>,
        }

        async fn fixture(count: usize) -> Fixture {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let config = Config {
                data_dir: dir.path().to_path_buf(),
                ..Config::default()
            };
            let app = App::open(config, CancellationToken::new())
                .await
                .expect("the app opens");
            let alice = app
                .auth()
                .register(
                    "alice",
                    "correct horse",
                    None,
                    std::net::Ipv4Addr::LOCALHOST.into(),
                )
                .await
                .expect("alice");
            let bob = app
                .chat()
                .store()
                .create_user("bob", "Bob", None)
                .await
                .expect("bob");
            let (token, _) = app
                .auth()
                .login(
                    "alice",
                    "correct horse",
                    std::net::Ipv4Addr::LOCALHOST.into(),
                )
                .await
                .expect("login");
            let mut rooms = Vec::new();
            for (name, count) in [("room", count), ("blocker", 3)] {
                let room = app
                    .chat()
                    .create_group(&alice, name, &["bob".to_string()])
                    .await
                    .expect("a group")
                    .id;
                let batch = (1..=count)
                    .map(|i| NewMessage {
                        room_id: room,
                        sender: bob.clone(),
                        text: format!("{name} {i}"),
                        client_msg_id: None,
                    })
                    .collect();
                let stored: Vec<Message> = app
                    .chat()
                    .store()
                    .insert_messages(batch)
                    .await
                    .expect("stored")
                    .into_iter()
                    .map(|r| r.expect("stored").message)
                    .collect();
                rooms.push((room, stored));
            }
            let (blocker, _) = rooms.pop().expect("blocker");
            let (room, history) = rooms.pop().expect("room");
            Fixture {
                app,
                _dir: dir,
                alice,
                token,
                room,
                blocker,
                history,
            }
        }

        impl Fixture {
            /// Puts the publication of a stored message in alice's queue.
            fn publish(&self, message: &Message) {
                self.app.hub().deliver(&Publication::Message {
                    message: message.clone(),
                    recipients: vec![(self.alice.id, 1)],
                });
            }

            fn publish_left(&self, room: RoomId) {
                self.app.hub().deliver(&Publication::ToUser {
                    user_id: self.alice.id,
                    event: UserEvent::Left { room_id: room },
                    except: None,
                });
            }
        }

        struct Client {
            peer: ChannelPeer,
            decoder: Decoder,
            buffer: BytesMut,
        }

        impl Client {
            async fn connect(fixture: &Fixture) -> Client {
                let (transport, peer) = pair(1);
                tokio::spawn(run(
                    transport,
                    fixture.app.clone(),
                    "127.0.0.1:9".parse().expect("an address"),
                ));
                let mut client = Client {
                    peer,
                    decoder: Decoder::new(sotong_stomp::Limits::default()),
                    buffer: BytesMut::new(),
                };
                client.decoder.set_version(Version::V1_2);
                client
                    .send(&[Frame::new(Command::Connect)
                        .with_header("accept-version", "1.2")
                        .with_header("Authorization", format!("Bearer {}", fixture.token))])
                    .await;
                let connected = client.next().await;
                assert_eq!(connected.command, Command::Connected);
                client
            }

            /// Sends `frames` in one WebSocket message: the session handles them all before
            /// it looks at its queue again.
            async fn send(&mut self, frames: &[Frame]) {
                let mut buf = BytesMut::new();
                for frame in frames {
                    encode(frame, Version::V1_2, &mut buf);
                }
                let text = String::from_utf8(buf.to_vec()).expect("text frames");
                self.peer
                    .to_server
                    .send(WsMessage::Text(text.into()))
                    .await
                    .expect("the session reads");
            }

            async fn next(&mut self) -> Frame {
                loop {
                    if let Some(frame) = self.decoder.decode(&mut self.buffer).expect("a frame") {
                        return frame;
                    }
                    match self.peer.from_server.recv().await {
                        Some(WsMessage::Text(text)) => {
                            self.buffer.extend_from_slice(text.as_bytes())
                        }
                        Some(WsMessage::Binary(bytes)) => self.buffer.extend_from_slice(&bytes),
                        Some(_) => {}
                        None => panic!("the session ended"),
                    }
                }
            }

            /// Every frame up to and including the RECEIPT `id`.
            async fn until_receipt(&mut self, id: &str) -> Vec<Frame> {
                let mut frames = Vec::new();
                loop {
                    let frame = self.next().await;
                    let done =
                        frame.command == Command::Receipt && frame.header("receipt-id") == Some(id);
                    frames.push(frame);
                    if done {
                        return frames;
                    }
                }
            }

            /// Every frame the session sends before it answers a DISCONNECT.
            async fn finish(&mut self) -> Vec<Frame> {
                self.send(&[Frame::new(Command::Disconnect).with_header("receipt", "bye")])
                    .await;
                self.until_receipt("bye").await
            }
        }

        fn subscribe(id: &str, destination: String, since: Option<Seq>) -> Frame {
            let frame = Frame::new(Command::Subscribe)
                .with_header("id", id)
                .with_header("destination", destination);
            match since {
                Some(since) => frame.with_header("since-seq", since.to_string()),
                None => frame,
            }
        }

        fn topic(room: RoomId) -> String {
            format!("/topic/rooms/{room}")
        }

        /// The MESSAGE frames that carry message `message`: (on its room topic, as notifications).
        fn copies(frames: &[Frame], message: &Message) -> (usize, usize) {
            let id = message.id.to_string();
            let of = |destination: &str| {
                frames
                    .iter()
                    .filter(|f| {
                        f.command == Command::Message
                            && f.header("destination") == Some(destination)
                            && f.header("message-id") == Some(id.as_str())
                    })
                    .count()
            };
            (of(&topic(message.room_id)), of(NOTIFICATIONS))
        }

        /// A typing indicator reaches each subscription to the room once, and nothing else.
        #[tokio::test]
        async fn typing_reaches_each_subscription_of_the_room() {
            let fx = fixture(1).await;
            let mut client = Client::connect(&fx).await;
            client
                .send(&[
                    subscribe("n", NOTIFICATIONS.into(), None),
                    subscribe("b", topic(fx.room), None),
                    subscribe("a", topic(fx.room), None),
                    subscribe("other", topic(fx.blocker), None).with_header("receipt", "done"),
                ])
                .await;
            client.until_receipt("done").await;
            fx.app.hub().deliver(&Publication::Typing {
                room_id: fx.room,
                user: fx.history[0].sender.clone(),
                members: vec![fx.alice.id],
                origin: ConnectionId(0),
            });
            let mut typing = Vec::new();
            while typing.len() < 2 {
                let frame = client.next().await;
                assert_eq!(frame.command, Command::Message);
                assert_eq!(frame.header("destination"), Some(topic(fx.room).as_str()));
                typing.push(frame.header("subscription").map(str::to_string));
            }
            assert_eq!(typing, [Some("b".to_string()), Some("a".to_string())]);
            let rest = client.finish().await;
            assert!(
                !rest.iter().any(|f| f.command == Command::Message),
                "one frame per subscription: {rest:?}"
            );
        }

        /// A subscription without `since-seq` that ends before its first live message: a
        /// message committed before it began, still queued, goes to the notifications (where
        /// it was addressed), not nowhere.
        #[tokio::test]
        async fn a_queued_message_outlives_a_short_live_subscription() {
            let fx = fixture(3).await;
            let mut client = Client::connect(&fx).await;
            client
                .send(&[
                    subscribe("n", NOTIFICATIONS.into(), None),
                    subscribe("blocker", topic(fx.blocker), Some(Seq::ZERO)),
                    subscribe("a", topic(fx.room), None),
                    Frame::new(Command::Unsubscribe)
                        .with_header("id", "a")
                        .with_header("receipt", "done"),
                ])
                .await;
            let mut frames = vec![client.next().await];
            // The session is writing the blocker's replay; message 3 is published meanwhile.
            fx.publish(&fx.history[2]);
            frames.extend(client.until_receipt("done").await);
            frames.extend(client.finish().await);
            assert_eq!(copies(&frames, &fx.history[2]), (0, 1));
        }

        /// A room subscribed with `since-seq`, unsubscribed and subscribed again without it: a
        /// queued message the replay sent on the topic does not come again as a notification.
        #[tokio::test]
        async fn a_resubscription_does_not_repeat_a_replayed_message() {
            let fx = fixture(3).await;
            let mut client = Client::connect(&fx).await;
            client
                .send(&[
                    subscribe("n", NOTIFICATIONS.into(), None),
                    subscribe("blocker", topic(fx.blocker), Some(Seq::ZERO)),
                    subscribe("a", topic(fx.room), Some(Seq::ZERO)),
                    Frame::new(Command::Unsubscribe).with_header("id", "a"),
                    subscribe("b", topic(fx.room), None).with_header("receipt", "done"),
                ])
                .await;
            let mut frames = vec![client.next().await];
            fx.publish(&fx.history[2]);
            frames.extend(client.until_receipt("done").await);
            frames.extend(client.finish().await);
            assert_eq!(copies(&frames, &fx.history[2]), (1, 0));
        }

        /// A leave that ends a replay: a queued message the replay sent already does not come
        /// again as a notification.
        #[tokio::test]
        async fn a_leave_does_not_repeat_a_replayed_message() {
            // Two pages, so the replay checks the control lane again after the first.
            let fx = fixture(REPLAY_PAGE as usize + 10).await;
            let mut client = Client::connect(&fx).await;
            client
                .send(&[
                    subscribe("n", NOTIFICATIONS.into(), None),
                    subscribe("a", topic(fx.room), Some(Seq::ZERO)).with_header("receipt", "done"),
                ])
                .await;
            let mut frames = vec![client.next().await];
            // The first page is being written; message 1 is published, then the leave.
            fx.publish(&fx.history[0]);
            fx.publish_left(fx.room);
            frames.extend(client.finish().await);
            assert_eq!(copies(&frames, &fx.history[0]), (1, 0));
        }
    }
}
