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
//! One decision per message per connection gives "one copy per connection, never both, never
//! neither" (rule 3). The seq filter of a room subscription remembers the last `seq` sent
//! (`delivered`):
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
//! filter had already sent by filling a gap would otherwise come again as a notification. The
//! task remembers the last `seq` each left room's topic sent (`left`) and drops those.
//!
//! On one node none of these races happen in practice: the group commit publishes in commit
//! order (see `rooms`). They matter for publications that travel between nodes.

use crate::auth::{bearer, Credential, Identity};
use crate::broker::{ConnectionId, UserEvent};
use crate::error::Error;
use crate::hub::{Mailbox, Outbound, RenderedMessage, RenderedTyping};
use crate::model::{RoomId, Seq};
use crate::server::App;
use crate::store::Page;
#[cfg(doc)]
use axum::extract::ws::WebSocket;
use axum::extract::ws::{CloseFrame, Message as WsMessage};
use bytes::BytesMut;
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
        receipt: Option<String>,
    },
}

impl Close {
    fn fatal(code: &'static str, message: impl Into<String>) -> Self {
        Close::Fatal {
            code,
            message: message.into(),
            receipt: None,
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

/// A room topic subscription and its seq filter.
#[derive(Debug)]
struct RoomSubscription {
    id: String,
    /// The last `seq` sent on this subscription (or that the client said it holds).
    delivered: Seq,
    /// For a subscription without `since-seq`: the room's last `seq` when it began. Messages
    /// up to it were committed before the subscription existed, so they take the route they
    /// had then (the notification queue), not the topic.
    live_after: Option<Seq>,
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
    let limits = app.config.limits.clone();
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
            _ = app.shutdown.cancelled() => {
                finish(&mut socket, Version::V1_2, Close::fatal("shutting_down", "the server is shutting down")).await;
                return;
            }
        };
        match next {
            Some(Ok(WsMessage::Text(text))) => inbox.extend_from_slice(text.as_bytes()),
            Some(Ok(WsMessage::Binary(bytes))) => inbox.extend_from_slice(&bytes),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
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

    let Some((registration, queue)) = app.hub.register(
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
    let connected = Frame::new(Command::Connected)
        .with_header("version", version.as_str())
        .with_header(
            "heart-beat",
            format!("{},{}", limits.heartbeat_min_ms, limits.heartbeat_want_ms),
        )
        .with_header("server", concat!("sotong/", env!("CARGO_PKG_VERSION")))
        .with_header("session", conn_id.to_string())
        .with_header("user-name", identity.user.username.clone());

    app.metrics.connections.inc();
    let mut session = Session {
        app: app.clone(),
        socket,
        mailbox: registration.mailbox().clone(),
        version,
        identity,
        conn_id,
        subscriptions: HashMap::new(),
        rooms: HashMap::new(),
        left: HashMap::new(),
        out: Vec::new(),
        next_event: 0,
        last_write: Instant::now(),
    };
    session.out.push(connected);
    let close = session
        .serve(decoder, inbox, queue, send_every, expect_every)
        .await;
    // Whatever was queued before the end (a DISCONNECT's RECEIPT, say) goes out first.
    let _ = session.flush().await;
    let subscriptions = session.subscriptions.len() as i64;
    app.metrics.subscriptions.dec_by(subscriptions);
    app.metrics.connections.dec();
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
    let version = Version::negotiate(frame.header("accept-version"))
        .ok_or_else(|| Close::fatal("malformed", "supported versions are 1.0, 1.1 and 1.2"))?;
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
        .auth
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
    let client_beats = match frame.header("heart-beat") {
        Some(value) => parse_heart_beat(value)
            .ok_or_else(|| Close::fatal("malformed", "heart-beat must be two numbers: cx,cy"))?,
        None => (0, 0),
    };
    let limits = &app.config.limits;
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

/// Sends the closing ERROR (if any) and closes the socket, without waiting long for a peer
/// that does not read.
async fn finish<T: Transport>(socket: &mut T, version: Version, close: Close) {
    let work = async {
        if let Close::Fatal {
            code,
            message,
            receipt,
        } = &close
        {
            let mut frame = Frame::new(Command::Error)
                .with_header("message", *code)
                .with_header("content-type", "text/plain");
            if let Some(receipt) = receipt {
                frame = frame.with_header("receipt-id", receipt.clone());
            }
            let frame = frame.with_body(message.clone().into_bytes());
            let _ = socket.feed(ws_message(&frame, version)).await;
        }
        let code = match &close {
            Close::Clean => 1000,
            Close::Fatal {
                code: "shutting_down",
                ..
            } => 1001,
            Close::Fatal { .. } => 1008,
        };
        let _ = socket
            .send(WsMessage::Close(Some(CloseFrame {
                code,
                reason: "".into(),
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

struct Session<T> {
    app: Arc<App>,
    socket: T,
    mailbox: Arc<Mailbox>,
    version: Version,
    identity: Identity,
    conn_id: ConnectionId,
    /// Subscription id -> what it points at.
    subscriptions: HashMap<String, Target>,
    /// Room -> its topic subscription (at most one per room per connection).
    rooms: HashMap<RoomId, RoomSubscription>,
    /// Rooms whose topic subscription ended on this connection -> the last `seq` it sent.
    /// A late publication at or below it went out on the topic already (gap filling sends
    /// ahead of publications), so it must not come again as a notification.
    left: HashMap<RoomId, Seq>,
    /// Frames waiting for the next flush.
    out: Vec<Frame>,
    next_event: u64,
    last_write: Instant,
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
        let frame_timeout = Duration::from_millis(self.app.config.limits.frame_timeout_ms);
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
            // Frames already buffered (several may arrive in one WebSocket message).
            loop {
                match decoder.decode(&mut inbox) {
                    Ok(Some(frame)) => {
                        self.app.metrics.frames_in.inc();
                        if let Err(close) = self.handle_frame(frame).await {
                            return close;
                        }
                        expiry.as_mut().reset(self.expiry_instant());
                    }
                    Ok(None) => break,
                    Err(err) => return Close::fatal(fatal_code(&err), err.to_string()),
                }
            }
            // Whatever is queued already leaves in the same write: a sender's own copy of its
            // message is queued before its RECEIPT is, so the two share one syscall.
            for _ in 0..OUTBOUND_BATCH {
                let Ok(item) = queue.try_recv() else { break };
                if let Err(close) = self.handle_outbound(item).await {
                    return close;
                }
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
                _ = self.app.shutdown.cancelled() => {
                    return Close::fatal("shutting_down", "the server is shutting down");
                }
                msg = self.socket.next() => {
                    last_read = Instant::now();
                    match msg {
                        Some(Ok(WsMessage::Text(text))) => inbox.extend_from_slice(text.as_bytes()),
                        Some(Ok(WsMessage::Binary(bytes))) => inbox.extend_from_slice(&bytes),
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                        Some(Ok(WsMessage::Close(_))) | None => return Close::Clean,
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
    async fn flush(&mut self) -> Result<(), Close> {
        let mailbox = self.mailbox.clone();
        if self.out.is_empty() {
            return Ok(());
        }
        let frames = std::mem::take(&mut self.out);
        let count = frames.len() as u64;
        let write = async {
            for frame in &frames {
                self.socket.feed(ws_message(frame, self.version)).await?;
            }
            self.socket.flush().await
        };
        let result = tokio::select! {
            r = tokio::time::timeout(WRITE_TIMEOUT, write) => r,
            kick = mailbox.kicked() => return Err(Close::fatal(kick.code(), "the connection could not keep up with its messages")),
        };
        match result {
            Ok(Ok(())) => {
                self.app.metrics.frames_out.inc_by(count);
                self.last_write = Instant::now();
                Ok(())
            }
            _ => Err(Close::Clean),
        }
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
        let Some(sub) = self.subscription_of(Target::Errors) else {
            return;
        };
        let body = serde_json::json!({
            "type": "error",
            "code": err.code(),
            "message": err.to_string(),
            "destination": destination,
        });
        let id = self.event_id("err");
        let mut out = Frame::new(Command::Message)
            .with_header("destination", ERRORS)
            .with_header("subscription", sub)
            .with_header("message-id", id)
            .with_header("content-type", "application/json");
        if let Some(receipt) = frame.header("receipt") {
            out = out.with_header("receipt-id", receipt);
        }
        self.out.push(out.with_body(body.to_string().into_bytes()));
    }

    fn subscription_of(&self, target: Target) -> Option<String> {
        self.subscriptions
            .iter()
            .find(|(_, t)| **t == target)
            .map(|(id, _)| id.clone())
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
            Command::Connect | Command::Stomp => {
                Err(Error::Invalid("this connection is connected already".into()))
            }
            Command::Ack | Command::Nack | Command::Begin | Command::Commit | Command::Abort => {
                Err(Error::Invalid(format!(
                    "{} is not supported: subscriptions are ack:auto and SENDs are not transactional",
                    frame.command.as_str()
                )))
            }
            Command::Connected | Command::Message | Command::Receipt | Command::Error => {
                return Err(Close::Fatal {
                    code: "malformed",
                    message: format!("{} is a server frame", frame.command.as_str()),
                    receipt: frame.header("receipt").map(str::to_string),
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
            Err(err) => {
                self.error_event(&err, &frame);
                Ok(())
            }
        }
    }

    async fn subscribe(&mut self, frame: &Frame) -> Result<(), Error> {
        let id = frame
            .header("id")
            .ok_or_else(|| Error::Invalid("SUBSCRIBE needs an id header".into()))?
            .to_string();
        let destination = frame
            .header("destination")
            .ok_or_else(|| Error::Invalid("SUBSCRIBE needs a destination header".into()))?;
        if self.subscriptions.contains_key(&id) {
            return Err(Error::Invalid(format!("subscription id {id} is in use")));
        }
        if let Some(ack) = frame.header("ack") {
            if ack != "auto" {
                return Err(Error::Invalid("only ack:auto is supported".into()));
            }
        }
        let max = self.app.config.limits.max_subscriptions;
        if self.subscriptions.len() >= max {
            return Err(Error::TooLarge(format!(
                "at most {max} subscriptions per connection"
            )));
        }
        let target = subscription_target(destination)
            .ok_or_else(|| Error::NotFound(format!("no destination {destination}")))?;
        if let Some(existing) = self.subscription_of(target) {
            return Err(Error::Invalid(format!(
                "already subscribed to {destination} as subscription {existing}"
            )));
        }
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
                .chat
                .require_member(self.identity.user.id, room)
                .await?;
            // Read after the membership check and before anything else this task does, so any
            // message committed later is still ahead of us in the queue (see the module doc).
            let last = self.app.chat.store().last_seq(room).await?;
            self.left.remove(&room);
            self.rooms.insert(
                room,
                RoomSubscription {
                    id: id.clone(),
                    delivered: last,
                    live_after: since.is_none().then_some(last),
                },
            );
        }
        self.subscriptions.insert(id.clone(), target);
        self.app.metrics.subscriptions.inc();
        if let (Target::Room(room), Some(since)) = (target, since) {
            if let Err(err) = self.replay(room, since).await {
                // Leave no half-made subscription behind.
                self.rooms.remove(&room);
                self.subscriptions.remove(&id);
                self.app.metrics.subscriptions.dec();
                return Err(err);
            }
        }
        self.receipt(frame);
        Ok(())
    }

    /// Sends every stored message of `room` after `since`, then arms the seq filter.
    async fn replay(&mut self, room: RoomId, since: Seq) -> Result<(), Error> {
        let last = self.app.chat.store().last_seq(room).await?;
        let mut delivered = since.min(last);
        let mut cursor = since;
        loop {
            let page = self
                .app
                .chat
                .store()
                .messages(
                    room,
                    Page {
                        before: None,
                        after: Some(cursor),
                        limit: REPLAY_PAGE,
                    },
                )
                .await?;
            let full = page.len() == REPLAY_PAGE as usize;
            for message in page {
                cursor = message.seq;
                delivered = message.seq;
                self.push_room_message(&RenderedMessage::new(&message));
            }
            if let Some(sub) = self.rooms.get_mut(&room) {
                sub.delivered = delivered;
            }
            if !full {
                return Ok(());
            }
            // A long replay goes out page by page instead of piling up in memory.
            if self.flush().await.is_err() {
                return Err(Error::Invalid(
                    "the connection closed during the replay".into(),
                ));
            }
        }
    }

    fn unsubscribe(&mut self, frame: &Frame) -> Result<(), Error> {
        let id = frame
            .header("id")
            .ok_or_else(|| Error::Invalid("UNSUBSCRIBE needs an id header".into()))?;
        let target = self
            .subscriptions
            .remove(id)
            .ok_or_else(|| Error::Invalid(format!("no subscription {id}")))?;
        if let Target::Room(room) = target {
            if let Some(sub) = self.rooms.remove(&room) {
                if self.left.len() >= MAX_LEFT_ROOMS {
                    // Only late publications need the marks; losing them all at once merely
                    // lets such a rare late copy through as a notification.
                    self.left.clear();
                }
                self.left.insert(room, sub.delivered);
            }
        }
        self.app.metrics.subscriptions.dec();
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
        if let Err(wait) = self
            .app
            .user_budgets
            .sends
            .try_take(&self.identity.user.id, 1)
        {
            return Err(Error::throttled("too many frames sent; slow down", wait));
        }
        let user = self.identity.user.clone();
        match target {
            SendTarget::Post(room) => {
                let text = message_text(frame)?;
                let message = self
                    .app
                    .chat
                    .post_message(&user, room, &text, frame.header("client-msg-id"))
                    .await?;
                if let Some(receipt) = frame.header("receipt") {
                    self.out.push(
                        Frame::new(Command::Receipt)
                            .with_header("receipt-id", receipt)
                            .with_header("message-id", message.id.to_string())
                            .with_header("seq", message.seq.to_string()),
                    );
                }
                return Ok(());
            }
            SendTarget::Typing(room) => {
                self.app.chat.typing(&user, room, self.conn_id).await?;
            }
            SendTarget::Read(room) => {
                #[derive(serde::Deserialize)]
                struct Read {
                    seq: Seq,
                }
                let read: Read = serde_json::from_slice(&frame.body)
                    .map_err(|_| Error::Invalid(r#"the body must be {"seq": N}"#.into()))?;
                self.app
                    .chat
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
                let identity = self.app.auth.authenticate(token).await?;
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
            None => match self.left.get(&room) {
                Some(&sent) if seq <= sent => return Ok(()),
                Some(_) => {
                    self.left.remove(&room);
                    false
                }
                None => false,
            },
        };
        if on_topic {
            self.push_room_message(message);
            self.observe_latency(message);
            return Ok(());
        }
        if let Some(sub) = self.subscription_of(Target::Notifications) {
            let body = format!(
                r#"{{"type":"message","roomId":{room},"message":{},"unread":{unread}}}"#,
                message.message_json
            );
            self.out.push(
                Frame::new(Command::Message)
                    .with_header("destination", NOTIFICATIONS)
                    .with_header("subscription", sub)
                    .with_header("message-id", message.message.id.to_string())
                    .with_header("content-type", "application/json")
                    .with_body(body.into_bytes()),
            );
            self.observe_latency(message);
        }
        Ok(())
    }

    /// Sends the stored messages strictly between `delivered` and `upto` (see module doc).
    async fn fill_gap(&mut self, room: RoomId, delivered: Seq, upto: Seq) {
        self.app.metrics.gap_fills.inc();
        let mut cursor = delivered;
        while cursor + 1 < upto {
            let page = self
                .app
                .chat
                .store()
                .messages(
                    room,
                    Page {
                        before: Some(upto),
                        after: Some(cursor),
                        limit: REPLAY_PAGE,
                    },
                )
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

    /// Queues a message on its room topic and advances the room's seq filter.
    fn push_room_message(&mut self, message: &RenderedMessage) {
        let room = message.room_id();
        let Some(sub) = self.rooms.get_mut(&room) else {
            return;
        };
        sub.delivered = sub.delivered.max(message.seq());
        let frame = Frame::new(Command::Message)
            .with_header("destination", format!("/topic/rooms/{room}"))
            .with_header("subscription", sub.id.clone())
            .with_header("message-id", message.message.id.to_string())
            .with_header("seq", message.seq().to_string())
            .with_header("content-type", "application/json")
            .with_body(message.topic_body.clone());
        self.out.push(frame);
    }

    fn observe_latency(&self, message: &RenderedMessage) {
        let age_ms = crate::model::now_millis().saturating_sub(message.sent_at_millis);
        self.app
            .metrics
            .delivery_latency
            .observe((age_ms.max(0) as f64) / 1000.0);
    }

    fn deliver_typing(&mut self, typing: &RenderedTyping) {
        if typing.origin == self.conn_id {
            return;
        }
        let Some(sub) = self.rooms.get(&typing.room_id).map(|s| s.id.clone()) else {
            return;
        };
        let id = self.event_id("typing");
        self.out.push(
            Frame::new(Command::Message)
                .with_header("destination", format!("/topic/rooms/{}", typing.room_id))
                .with_header("subscription", sub)
                .with_header("message-id", id)
                .with_header("content-type", "application/json")
                .with_body(typing.body.clone()),
        );
    }

    fn deliver_user_event(&mut self, event: &UserEvent) -> Result<(), Close> {
        let body = match event {
            UserEvent::Room(room) => serde_json::json!({ "type": "room", "room": room }),
            UserEvent::Read { room_id, seq } => {
                serde_json::json!({ "type": "read", "roomId": room_id, "seq": seq })
            }
            UserEvent::Left { room_id } => {
                if let Some(sub) = self.rooms.remove(room_id) {
                    self.subscriptions.remove(&sub.id);
                    self.app.metrics.subscriptions.dec();
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
                return Ok(());
            }
            UserEvent::TokenRevoked { token_hash } => {
                if self.identity.credential
                    == (Credential::Session {
                        token_hash: token_hash.clone(),
                    })
                {
                    return Err(Close::fatal(
                        "unauthorized",
                        "the token was revoked (logged out)",
                    ));
                }
                return Ok(());
            }
        };
        if let Some(sub) = self.subscription_of(Target::Notifications) {
            let id = self.event_id("event");
            self.out.push(
                Frame::new(Command::Message)
                    .with_header("destination", NOTIFICATIONS)
                    .with_header("subscription", sub)
                    .with_header("message-id", id)
                    .with_header("content-type", "application/json")
                    .with_body(body.to_string().into_bytes()),
            );
        }
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
}
