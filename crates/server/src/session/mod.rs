//! One STOMP connection: CONNECT, then a loop over the client's frames, the hub's queue and
//! the heart-beat timers. The session task is the connection's only writer: every frame this
//! connection gets is queued by this task and written by its I/O loop, in order.
//!
//! # How the parts fit
//!
//! - [`run`] (here) takes a [`Transport`] through the handshake (`connect`), registers the
//!   connection with the hub, then runs the `Session`'s I/O loop until a `Close` reason
//!   (`close`), which it reports last.
//! - The I/O loop (here) reads the client's frames and hands them to `handlers` (SUBSCRIBE,
//!   UNSUBSCRIBE, SEND, …); it reads the hub's queue and hands each item to `delivery`; it
//!   reads the hub's control lane first of all and hands it to `control`. Those only queue
//!   frames; the loop writes them out in batches, and beats the heart.
//! - `delivery` asks `routing` where each message goes: the contract's delivery rules (one
//!   route per connection, seq order, no gap, no duplicate) live there alone, as plain data
//!   with no I/O. `replay` reads stored pages for a `since-seq` replay or a gap fill.
//! - `subscriptions` (the table of SUBSCRIBEs in force), `destination` (what a destination
//!   names) and `frames` (what a frame looks like on the wire) are plain data too.
//!
//! Because one task handles the client's SUBSCRIBE and UNSUBSCRIBE and routes the hub's
//! messages, each routing decision is made against state that cannot change under it. This
//! module reaches the rest of the server only through the [`App`]: the hub for its queues,
//! `rooms` for rights, posting and stored pages, `auth` for tokens. It never reaches the HTTP
//! edge, the server's accept loop, the store or the broker.

mod close;
mod connect;
mod control;
mod delivery;
mod destination;
mod frames;
mod handlers;
mod replay;
mod routing;
mod subscriptions;

use crate::app::App;
use crate::auth::Identity;
use crate::hub::{ControlLane, Mailbox, Outbound};
use crate::publication::ConnectionId;
use axum::extract::ws::Message as WsMessage;
#[cfg(doc)]
use axum::extract::ws::WebSocket;
use bytes::BytesMut;
use close::{fatal_code, finish, is_too_big, too_big_close, Close};
use connect::{accept_connect, connected_frame, read_first_frame};
use control::revocation;
use frames::ws_message;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use routing::Routing;
use sotong_stomp::{Decoder, Frame, Version};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use subscriptions::SubscriptionTable;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tracing::{debug, info, warn, Instrument};

/// The notification queue: events for all of the user's rooms it is not viewing.
pub const NOTIFICATIONS: &str = "/user/queue/notifications";
/// The error queue: non-fatal errors of this connection.
pub const ERRORS: &str = "/user/queue/errors";
/// The presence queue: changes of the users this connection watches.
pub const PRESENCE: &str = "/user/queue/presence";
/// Pages read from the store while replaying `since-seq` or filling a gap.
const REPLAY_PAGE: u32 = 200;
/// Items taken from the queue before the socket is flushed.
const OUTBOUND_BATCH: usize = 64;
/// How long one flush may take before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Heart-beats may arrive this much later than agreed before the connection counts as dead
/// (STOMP 1.2 "Heart-beating": "to take into account timing inaccuracies, the receiver
/// SHOULD be tolerant").
const HEARTBEAT_TOLERANCE: u32 = 2;
/// Longest a new connection waits, before its `CONNECTED`, for publications from other nodes
/// to its user to reach this node (see `hub`'s "Hearing"): a round trip to Redis, normally.
/// Past it the connection goes on, as it does while Redis is down.
const HEARD_WITHIN: Duration = Duration::from_secs(2);

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

    let connect = match read_first_frame(&mut socket, &app, &mut decoder, &mut inbox).await {
        Ok(frame) => frame,
        Err(Some(close)) => {
            finish(&mut socket, Version::V1_2, close).await;
            return;
        }
        Err(None) => return,
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
    // A client told it is connected misses nothing published afterwards on another node.
    if !app.hub().until_heard(identity.user.id, HEARD_WITHIN).await {
        debug!("connected before publications from other nodes are heard here");
    }
    info!("connected");
    app.presence().connected(identity.user.id, conn_id);

    let (send_every, expect_every) = heart_beat;
    let connected = connected_frame(version, &limits, conn_id, &identity);

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
        routing: Routing::default(),
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
    app.presence()
        .disconnected(session.identity.user.id, conn_id);
}

/// One connected STOMP session: its socket, its subscriptions and routing state, and the
/// frames waiting to be written. Only its own task touches it.
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
    /// Each subscribed room's seq filter and topic subscriptions, and the marks of ended ones:
    /// where each message goes (see `routing`).
    routing: Routing,
    /// Frames waiting for the next flush.
    out: Vec<Frame>,
    /// The RECEIPT of the SEND just handled: it waits until the sender's own copy of the
    /// message (already in the queue, see `serve`) has been queued ahead of it.
    held_receipt: Option<Frame>,
    next_event: u64,
    last_write: Instant,
}

/// A timer every `ms` milliseconds that does not burst after a stall, or none for 0 (no
/// heart-beats agreed).
fn interval_every(ms: u64) -> Option<Interval> {
    (ms > 0).then(|| {
        let mut timer = tokio::time::interval(Duration::from_millis(ms));
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        timer
    })
}

/// The next tick of `timer`; never, without one.
async fn tick(timer: &mut Option<Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl<T: Transport> Session<T> {
    /// The I/O loop: control events first, then the client's buffered frames, then what the
    /// hub queued, one flush per round; then waits for whichever comes next. Returns why the
    /// session ends.
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
            // A server going away answers nothing more: the select below picks among ready
            // branches at random, so a frame read after the shutdown began stops here.
            if self.app.shutdown().is_cancelled() {
                return Close::fatal("shutting_down", "the server is shutting down");
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

    /// When the token of this connection expires, as a timer deadline.
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

    /// Writes one WebSocket message at once (a heart-beat), unless the peer stalls or the hub
    /// kicked the connection.
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

    /// A fresh `message-id` for an event that is not a stored message (typing, errors, user
    /// events): unique on this connection.
    fn event_id(&mut self, prefix: &str) -> String {
        self.next_event += 1;
        format!("{prefix}-{}", self.next_event)
    }
}

/// Sessions driven through the in-memory transport, with publications handed to the hub
/// directly, so that a message can be put in a connection's queue at a chosen moment: while
/// the session is held up writing a replay to a client that does not read yet, or late, or
/// ahead of one that was never published (what publications between nodes can do).
#[cfg(test)]
mod races {
    use super::*;
    use crate::config::Config;
    use crate::model::{Message, RoomId, Seq, User};
    use crate::publication::{Publication, UserEvent};
    use crate::store::NewMessage;
    use crate::transport::{pair, StompPeer};
    use sotong_stomp::Command;
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
            // No room head checks: the tests alone choose what reaches the queue, and when.
            room_head_check_ms: 0,
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
                    reply_to: None,
                    mentions: Vec::new(),
                    attachments: Vec::new(),
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
                muted: Vec::new(),
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

    struct Client(StompPeer);

    impl Client {
        async fn connect(fixture: &Fixture) -> Client {
            let (transport, peer) = pair(1);
            tokio::spawn(run(
                transport,
                fixture.app.clone(),
                "127.0.0.1:9".parse().expect("an address"),
            ));
            let mut client = Client(StompPeer::new(peer));
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
            self.0.send(frames).await.expect("the session reads");
        }

        async fn next(&mut self) -> Frame {
            self.0.next().await.expect("a frame")
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

    /// A publication that comes again after the replay sent it is dropped, and one that
    /// comes ahead of a message never published is sent after the missing one from the
    /// store: the client sees each `seq` once, in order, and the metrics count both.
    #[tokio::test]
    async fn late_and_early_publications_are_counted_and_the_topic_stays_in_order() {
        let fx = fixture(3).await;
        let mut client = Client::connect(&fx).await;
        client
            .send(&[subscribe("a", topic(fx.room), Some(Seq::ZERO)).with_header("receipt", "done")])
            .await;
        let mut frames = client.until_receipt("done").await;
        let sender = fx.history[0].sender.clone();
        let later: Vec<Message> = fx
            .app
            .chat()
            .store()
            .insert_messages(
                (4..=5)
                    .map(|i| NewMessage {
                        room_id: fx.room,
                        sender: sender.clone(),
                        text: format!("room {i}"),
                        client_msg_id: None,
                        reply_to: None,
                        mentions: Vec::new(),
                        attachments: Vec::new(),
                    })
                    .collect(),
            )
            .await
            .expect("stored")
            .into_iter()
            .map(|r| r.expect("stored").message)
            .collect();

        fx.publish(&fx.history[1]);
        fx.publish(&later[1]);
        let fifth = later[1].id.to_string();
        loop {
            let frame = client.next().await;
            let done = frame.header("message-id") == Some(fifth.as_str());
            frames.push(frame);
            if done {
                break;
            }
        }
        let seqs: Vec<&str> = frames.iter().filter_map(|f| f.header("seq")).collect();
        assert_eq!(seqs, ["1", "2", "3", "4", "5"]);
        let metrics = fx.app.metrics();
        assert_eq!(metrics.duplicate_publications.get(), 1, "seq 2 came again");
        assert_eq!(
            metrics.reordered_publications.get(),
            1,
            "seq 5 came before 4"
        );
        assert_eq!(metrics.gap_fills.get(), 1);
    }

    /// A resync reaches each notification subscription of a connection and counts the
    /// connection once.
    #[tokio::test]
    async fn a_resync_is_counted_once_per_connection_told() {
        let fx = fixture(1).await;
        let mut client = Client::connect(&fx).await;
        client
            .send(&[
                subscribe("n1", NOTIFICATIONS.into(), None),
                subscribe("n2", NOTIFICATIONS.into(), None).with_header("receipt", "done"),
            ])
            .await;
        client.until_receipt("done").await;
        assert_eq!(fx.app.metrics().resyncs.get(), 0);
        assert_eq!(
            fx.app
                .hub()
                .tell_everyone_to_resync(crate::model::ResyncReason::Broker),
            1
        );
        let mut told = Vec::new();
        while told.len() < 2 {
            let frame = client.next().await;
            assert_eq!(frame.command, Command::Message, "{frame:?}");
            told.push(frame.header("subscription").map(str::to_string));
        }
        assert_eq!(told, [Some("n1".to_string()), Some("n2".to_string())]);
        assert_eq!(fx.app.metrics().resyncs.get(), 1);
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
