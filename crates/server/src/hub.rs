//! The [`Hub`]: which connections of which users live on this node, and handing each of them
//! what a [`Publication`] addresses to its user.
//!
//! The hub does not decide *how* a connection receives a message (room topic or notification
//! queue); it gives every connection of every addressed user one [`Outbound`] item and the
//! connection's session decides from its own subscription state, in the same task that
//! processes its SUBSCRIBE and UNSUBSCRIBE frames. That is what makes rule 3 ("one copy per
//! connection: topic or notifications, never both, never neither") true by construction:
//! there is one decision per connection per message, made against state that cannot change
//! under it.
//!
//! Back-pressure: each connection has a bounded queue. The hub never waits on it; when it is
//! full the connection is a slow consumer and is told to close (`slow_consumer`). Nothing is
//! dropped silently: the client learns why, and catches up with `since-seq` when it returns.
//!
//! Events that take a right away ([`UserEvent::is_control`]: a room left, a token revoked) do
//! not queue behind messages: they go on a second, small *control* lane that the session reads
//! first, even while it is busy writing a long `since-seq` replay to a slow socket. A right
//! that is gone must stop the frames it guarded at once, not after everything queued before.
//!
//! Presence: a broker that listens only for the users connected here (the Redis broker
//! subscribes one channel per user) learns of them through [`Hub::watch_presence`], a feed of
//! "first connection of this user here" and "last one gone". The hub sends into it and never
//! learns who reads it, so the direction stays broker → hub.
//!
//! Hearing: such a broker hears of a user only once its subscription for that user has taken
//! effect, a round trip after the user's first connection arrived. It tells the hub which users
//! it hears ([`Hub::hear`], [`Hub::forget_heard`]) and whether its link is up at all
//! ([`Hub::link_up`], [`Hub::link_down`]); a session waits for [`Hub::until_heard`] before its
//! `CONNECTED`, so that a client that follows its rooms through notifications alone misses
//! nothing published after it was told it is connected. Without a watching broker (one node,
//! the memory broker) there is nothing to wait for; with its link down there is no point (the
//! broker's resync once it is back covers the connection).
//!
//! Room heads: each connection tells its mailbox which rooms it watches on a topic
//! ([`Mailbox::watch_topics`]), so the node can ask the store for the last `seq` of all
//! of them at once ([`Hub::topic_rooms`]) and hand each connection the heads of its rooms
//! ([`Hub::hand_room_heads`]); see `heads` for why.
//!
//! Resync: a broker that lost its link to the other nodes for a while tells every connection
//! here, once the link is back, that it may have missed their publications
//! ([`Hub::tell_everyone_to_resync`]); each session passes that on to its client, which
//! reloads what it shows.

use crate::model::{
    message_event_json, ChangeKind, Message, NotificationBody, PresenceBody, ResyncReason,
    RoomEventBody, RoomId, Seq, User, UserId,
};
use crate::publication::{ConnectionId, Publication, UserEvent};
use bytes::Bytes;
use std::collections::VecDeque;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

/// A message rendered once per node and shared by every connection that receives it.
#[derive(Debug)]
pub struct RenderedMessage {
    /// The message.
    pub message: Message,
    /// The room topic body, `{"type":"message","message":{…}}`.
    pub topic_body: Bytes,
    /// The message object alone, for notification bodies that add a per-user unread count.
    pub message_json: String,
    /// `sentAt` as Unix milliseconds, parsed once, for the delivery latency metric.
    pub sent_at_millis: i64,
}

impl RenderedMessage {
    /// Renders `message` once for every connection that receives it.
    pub fn new(message: &Message) -> Self {
        let message_json = serde_json::to_string(message).unwrap_or_else(|_| "null".into());
        let topic_body = message_event_json(&message_json);
        let sent_at_millis = time::OffsetDateTime::parse(
            &message.sent_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or_else(|_| crate::model::now_millis());
        RenderedMessage {
            message: message.clone(),
            topic_body: Bytes::from(topic_body),
            message_json,
            sent_at_millis,
        }
    }

    /// The room of the message.
    pub fn room_id(&self) -> RoomId {
        self.message.room_id
    }

    /// The message's `seq`.
    pub fn seq(&self) -> Seq {
        self.message.seq
    }
}

/// An edit or delete rendered once per node: both bodies, since each connection picks one.
#[derive(Debug)]
pub struct RenderedChange {
    /// The message as it is now.
    pub message: Message,
    /// The room topic body, `{"type":"changed","change":…,"message":{…}}`.
    pub topic_body: Bytes,
    /// The notification body, `{"type":"changed","roomId":…,"change":…,"message":{…}}`.
    pub notification_body: Bytes,
}

impl RenderedChange {
    /// Renders a change of `message` once for every connection that receives it.
    pub fn new(change: ChangeKind, message: &Message) -> Self {
        RenderedChange {
            message: message.clone(),
            topic_body: render_body(&RoomEventBody::Changed {
                change,
                message: message.clone(),
            }),
            notification_body: render_body(&NotificationBody::Changed {
                room_id: message.room_id,
                change,
                message: message.clone(),
            }),
        }
    }

    /// The room of the message.
    pub fn room_id(&self) -> RoomId {
        self.message.room_id
    }
}

/// A typing indicator rendered once per node.
#[derive(Debug)]
pub struct RenderedTyping {
    /// The room.
    pub room_id: RoomId,
    /// `{"type":"typing","roomId":…,"user":{…}}`.
    pub body: Bytes,
    /// The connection that typed (it does not hear itself).
    pub origin: ConnectionId,
}

/// A member's new read mark, rendered once per node.
#[derive(Debug)]
pub struct RenderedRead {
    /// The room.
    pub room_id: RoomId,
    /// `{"type":"read","roomId":…,"userId":…,"seq":…}`.
    pub body: Bytes,
}

/// One item in a connection's queue.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A committed message, with the receiving user's unread count in that room and whether
    /// that user muted the room.
    Message(Arc<RenderedMessage>, u64, bool),
    /// A message was edited or deleted.
    Changed(Arc<RenderedChange>),
    /// Someone is typing.
    Typing(Arc<RenderedTyping>),
    /// A member's read mark moved.
    Read(Arc<RenderedRead>),
    /// An event about the user itself.
    User(Arc<UserEvent>),
    /// The room's last `seq` in the store, a while ago: a connection whose topic of the room
    /// is behind it fills the gap from the store (a publication was lost).
    RoomHead(RoomId, Seq),
    /// A watched user's presence changed: `{"type":"presence","users":[…]}`, rendered once.
    /// The session passes it on only if it still watches that user when it gets there (a
    /// room left in between may have ended the watch).
    Presence(UserId, Bytes),
    /// Publications from other nodes may have been lost on their way here (the broker lost
    /// its link to them for a while, or a node died before publishing what it committed):
    /// the connection tells its client to resync, saying why.
    Resync(ResyncReason),
}

/// Why the hub asked a connection to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// Its queue was full: it does not read fast enough.
    SlowConsumer,
}

impl Kick {
    /// The STOMP `ERROR` `message` code.
    pub fn code(self) -> &'static str {
        match self {
            Kick::SlowConsumer => "slow_consumer",
        }
    }
}

/// Room for control events (leaves, revocations) waiting for one connection. A user cannot
/// cause more than a few at a time; a connection that lets this many pile up is not reading
/// its control lane and is closed, which is always safe (it re-checks everything on return).
const CONTROL_CAPACITY: usize = 64;

/// The hub's handle on one connection: its queues and the signal to close it.
#[derive(Debug)]
pub struct Mailbox {
    /// The connection.
    pub id: ConnectionId,
    tx: mpsc::Sender<Outbound>,
    /// The control lane: a few events behind a lock and a wake-up rather than a channel,
    /// since nearly every connection never gets one and a channel costs ~800 bytes each.
    control: Mutex<VecDeque<Arc<UserEvent>>>,
    control_ready: Notify,
    kicked: CancellationToken,
    reason: OnceLock<Kick>,
    /// The rooms whose topic the connection subscribes to, as its session last said.
    topic_rooms: Mutex<Vec<RoomId>>,
    /// The users whose presence the connection watches (see [`Hub::watch_users`]).
    watching: Mutex<Vec<UserId>>,
    /// The connection's user, and where to say that the rooms it shows changed (when a
    /// broker asked, see [`Hub::watch_showing`]).
    user: UserId,
    showing_feed: Option<mpsc::UnboundedSender<UserId>>,
}

/// What a session reads from the hub: its messages in order, and a control lane that goes
/// ahead of them (see the module doc).
#[derive(Debug)]
pub struct Queues {
    /// Messages, typing and the user's other events, in publication order.
    pub outbound: mpsc::Receiver<Outbound>,
    /// Control events ([`UserEvent::is_control`]), read before anything else.
    pub control: ControlLane,
}

/// The receiving end of a connection's control lane.
#[derive(Debug)]
pub struct ControlLane {
    mailbox: Arc<Mailbox>,
}

/// Nothing is waiting on the control lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoControlEvent;

impl ControlLane {
    /// The oldest waiting control event, if any.
    ///
    /// # Errors
    /// [`NoControlEvent`] when none is waiting.
    pub fn try_recv(&mut self) -> Result<Arc<UserEvent>, NoControlEvent> {
        self.mailbox
            .control_events()
            .pop_front()
            .ok_or(NoControlEvent)
    }

    /// The next control event, when there is one. Cancel-safe: an event is taken only in the
    /// poll that returns it.
    pub async fn recv(&mut self) -> Option<Arc<UserEvent>> {
        loop {
            if let Ok(event) = self.try_recv() {
                return Some(event);
            }
            // A push between the look above and this wait leaves a permit: no lost wake-up.
            self.mailbox.control_ready.notified().await;
        }
    }
}

impl Mailbox {
    fn push(&self, item: Outbound) {
        let result = match item {
            Outbound::User(event) if event.is_control() => {
                let mut events = self.control_events();
                if events.len() >= CONTROL_CAPACITY {
                    Err(true)
                } else {
                    events.push_back(event);
                    drop(events);
                    self.control_ready.notify_one();
                    Ok(())
                }
            }
            item => self.tx.try_send(item).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => true,
                mpsc::error::TrySendError::Closed(_) => false,
            }),
        };
        // Full: a slow consumer. Closed: the session has ended and is about to unregister.
        if result == Err(true) {
            self.kick(Kick::SlowConsumer);
        }
    }

    /// Queues a room head unless the queue is full. Never a kick: a connection with a full
    /// queue is busy with newer messages already, and the next check tells it again.
    fn offer_room_head(&self, room: RoomId, head: Seq) {
        let _ = self.tx.try_send(Outbound::RoomHead(room, head));
    }

    fn topic_rooms(&self) -> std::sync::MutexGuard<'_, Vec<RoomId>> {
        // Every critical section replaces or reads the list: a poisoned lock is consistent.
        self.topic_rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The users whose presence the connection watches now.
    pub fn watched(&self) -> Vec<UserId> {
        self.watching().clone()
    }

    /// Whether the connection watches `user`'s presence now.
    pub fn watches(&self, user: UserId) -> bool {
        self.watching().contains(&user)
    }

    fn watching(&self) -> std::sync::MutexGuard<'_, Vec<UserId>> {
        // Every critical section replaces or reads the list: a poisoned lock is consistent.
        self.watching.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn control_events(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<UserEvent>>> {
        // Every critical section is one push or pop: a poisoned lock is still consistent.
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the hub which rooms the connection subscribes to on a topic now (for the room
    /// head check). Cheap when nothing changed: the list is compared before it is replaced.
    pub fn watch_topics(&self, rooms: impl ExactSizeIterator<Item = RoomId>) {
        let mut watched = self.topic_rooms();
        if rooms.len() == watched.len() {
            let rooms: Vec<RoomId> = rooms.collect();
            if rooms.iter().all(|room| watched.contains(room)) {
                return;
            }
            *watched = rooms;
        } else {
            *watched = rooms.collect();
        }
        drop(watched);
        self.report_showing();
    }

    fn report_showing(&self) {
        if let Some(feed) = &self.showing_feed {
            // A watcher that has gone no longer needs to know.
            let _ = feed.send(self.user);
        }
    }

    /// Asks the connection to close for `reason` (the first reason given wins).
    pub fn kick(&self, reason: Kick) {
        let _ = self.reason.set(reason);
        self.kicked.cancel();
    }

    /// Resolves when the connection has been kicked.
    pub async fn kicked(&self) -> Kick {
        self.kicked.cancelled().await;
        self.reason.get().copied().unwrap_or(Kick::SlowConsumer)
    }
}

/// A change in which users have connections on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The user's first connection here registered.
    Arrived(UserId),
    /// The user's last connection here went away.
    Gone(UserId),
}

impl Presence {
    /// The user whose presence changed.
    pub fn user(self) -> UserId {
        match self {
            Presence::Arrived(user) | Presence::Gone(user) => user,
        }
    }
}

/// This node's connections by user.
#[derive(Debug)]
pub struct Hub {
    users: RwLock<HashMap<UserId, Vec<Arc<Mailbox>>>>,
    /// Who watches whose presence here: watched user -> the connections watching it. A
    /// presence change is one lookup and one queued item per watching connection.
    watchers: RwLock<HashMap<UserId, Vec<Arc<Mailbox>>>>,
    next_id: AtomicU64,
    /// Where presence changes go, once a broker asked for them. Sent to while the `users`
    /// write lock is held, so the feed's order is the map's.
    presence: OnceLock<mpsc::UnboundedSender<Presence>>,
    /// Which users the watching broker hears of, and whether its link is up.
    hearing: Mutex<Hearing>,
    /// Woken whenever `hearing` changes, for the sessions waiting in [`Hub::until_heard`].
    hearing_changed: Notify,
    /// Where changes to the rooms users are shown go, once a broker asked for them.
    showing: OnceLock<mpsc::UnboundedSender<UserId>>,
}

/// What the watching broker hears of: its link to the other nodes, and the users whose
/// publications from the other nodes reach this node now.
#[derive(Debug, Default)]
struct Hearing {
    link: Link,
    users: HashSet<UserId>,
}

/// The state of the watching broker's link to the other nodes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Not connected yet since start: worth waiting for (a connection is a round trip away).
    #[default]
    Connecting,
    /// Connected: a user is heard once the broker says so.
    Up,
    /// Lost: nobody is heard, and nobody waits (the broker's resync covers them).
    Down,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// An empty hub. Connection ids start at a random 32-bit prefix so that they stay unique
    /// across nodes and restarts.
    pub fn new() -> Self {
        Hub {
            users: RwLock::new(HashMap::new()),
            watchers: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(u64::from(rand::random::<u32>()) << 32),
            presence: OnceLock::new(),
            hearing: Mutex::new(Hearing::default()),
            hearing_changed: Notify::new(),
            showing: OnceLock::new(),
        }
    }

    /// Starts reporting which users' shown rooms change: a feed of the user each time one of
    /// their connections here subscribes to or leaves a room's topic, or goes. The watcher
    /// reads [`Hub::rooms_shown`] for the user's rooms now. A hub reports to one watcher; a
    /// second call gets `None`. Connections registered before the call are not reported:
    /// call it before serving.
    pub fn watch_showing(&self) -> Option<mpsc::UnboundedReceiver<UserId>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.showing.set(tx).ok()?;
        Some(rx)
    }

    /// Whether a connection of `user` on this node shows `room` (subscribes to its topic).
    pub fn shows(&self, user: UserId, room: RoomId) -> bool {
        self.read()
            .get(&user)
            .into_iter()
            .flatten()
            .any(|mailbox| mailbox.topic_rooms().contains(&room))
    }

    /// The rooms `user`'s connections on this node show, each once.
    pub fn rooms_shown(&self, user: UserId) -> HashSet<RoomId> {
        self.read()
            .get(&user)
            .into_iter()
            .flatten()
            .flat_map(|mailbox| mailbox.topic_rooms().clone())
            .collect()
    }

    /// Starts reporting presence changes: returns the users connected here now and the feed
    /// of every change after that (none is missed between the two). A hub reports to one
    /// watcher; a second call gets `None`.
    ///
    /// The feed is unbounded because the hub must never wait (it sends from `Drop`); it holds
    /// at most one item per connection opened or closed since the watcher last read it.
    pub fn watch_presence(&self) -> Option<(Vec<UserId>, mpsc::UnboundedReceiver<Presence>)> {
        let users = self.write();
        let (tx, rx) = mpsc::unbounded_channel();
        self.presence.set(tx).ok()?;
        let here = users
            .iter()
            .filter(|(_, connections)| !connections.is_empty())
            .map(|(user, _)| *user)
            .collect();
        Some((here, rx))
    }

    /// Whether `user` has a connection on this node.
    pub fn is_present(&self, user: UserId) -> bool {
        self.read().get(&user).is_some_and(|c| !c.is_empty())
    }

    /// Every user with a connection on this node.
    pub fn users_here(&self) -> Vec<UserId> {
        self.read()
            .iter()
            .filter(|(_, connections)| !connections.is_empty())
            .map(|(user, _)| *user)
            .collect()
    }

    /// The watching broker's link to the other nodes is up: from now on a session waits until
    /// the broker hears its user ([`Hub::until_heard`]).
    pub fn link_up(&self) {
        self.change_hearing(|hearing| hearing.link = Link::Up);
    }

    /// The watching broker's link to the other nodes is lost: nobody is heard, and sessions
    /// stop waiting (they are told to resync once the link is back).
    pub fn link_down(&self) {
        self.change_hearing(|hearing| {
            hearing.link = Link::Down;
            hearing.users.clear();
        });
    }

    /// The watching broker's subscriptions for `users` have taken effect: what the other
    /// nodes publish to them from now on reaches this node.
    pub fn hear(&self, users: &[UserId]) {
        self.change_hearing(|hearing| hearing.users.extend(users.iter().copied()));
    }

    /// The watching broker is about to stop hearing of `users` (their last connection here
    /// went away). Called *before* it unsubscribes, so that a connection of theirs arriving
    /// meanwhile waits for the subscription that follows instead of trusting this one.
    pub fn forget_heard(&self, users: &[UserId]) {
        self.change_hearing(|hearing| {
            for user in users {
                hearing.users.remove(user);
            }
        });
    }

    /// Waits, at most `within`, until publications from other nodes to `user` reach this node
    /// (see the module doc); returns whether they do. Returns at once when no broker watches
    /// presence (a single node), when the broker's link is down, or when `user` is heard
    /// already.
    pub async fn until_heard(&self, user: UserId, within: Duration) -> bool {
        if self.presence.get().is_none() {
            return true;
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.hearing_changed.notified();
            tokio::pin!(changed);
            // Registered before the look below: a change in between still wakes this wait.
            changed.as_mut().enable();
            {
                let hearing = self.hearing();
                if hearing.link == Link::Down || hearing.users.contains(&user) {
                    return hearing.users.contains(&user);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }

    fn change_hearing(&self, change: impl FnOnce(&mut Hearing)) {
        change(&mut self.hearing());
        self.hearing_changed.notify_waiters();
    }

    fn hearing(&self) -> std::sync::MutexGuard<'_, Hearing> {
        // Every critical section is one small update or a look: a poisoned lock is consistent.
        self.hearing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn report(&self, change: Presence) {
        if let Some(feed) = self.presence.get() {
            // A watcher that has gone no longer needs to know.
            let _ = feed.send(change);
        }
    }

    /// Registers a connection of `user` with a queue of `capacity` items (and a small control
    /// lane beside it), unless the user has
    /// `max_per_user` connections on this node already (`None`). The connection is
    /// unregistered when the returned [`Registration`] is dropped.
    pub fn register(
        self: &Arc<Self>,
        user: UserId,
        capacity: usize,
        max_per_user: usize,
    ) -> Option<(Registration, Queues)> {
        let (tx, outbound) = mpsc::channel(capacity.max(1));
        let mailbox = Arc::new(Mailbox {
            id: ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed)),
            tx,
            control: Mutex::new(VecDeque::new()),
            control_ready: Notify::new(),
            kicked: CancellationToken::new(),
            reason: OnceLock::new(),
            topic_rooms: Mutex::new(Vec::new()),
            watching: Mutex::new(Vec::new()),
            user,
            showing_feed: self.showing.get().cloned(),
        });
        {
            let mut users = self.write();
            let connections = users.entry(user).or_default();
            if connections.len() >= max_per_user {
                if connections.is_empty() {
                    users.remove(&user);
                }
                return None;
            }
            connections.push(mailbox.clone());
            if connections.len() == 1 {
                self.report(Presence::Arrived(user));
            }
        }
        let registration = Registration {
            hub: self.clone(),
            user,
            mailbox,
        };
        let control = ControlLane {
            mailbox: registration.mailbox.clone(),
        };
        Some((registration, Queues { outbound, control }))
    }

    /// Connections on this node.
    pub fn connection_count(&self) -> usize {
        self.read().values().map(Vec::len).sum()
    }

    /// Every room whose topic some connection here subscribes to, each once.
    pub fn topic_rooms(&self) -> Vec<RoomId> {
        let users = self.read();
        let mut rooms = std::collections::HashSet::new();
        for mailbox in users.values().flatten() {
            rooms.extend(mailbox.topic_rooms().iter().copied());
        }
        rooms.into_iter().collect()
    }

    /// Hands every connection the head of each room it watches on a topic (rooms missing
    /// from `heads` are skipped). A connection with a full queue is skipped, never kicked.
    pub fn hand_room_heads(&self, heads: &HashMap<RoomId, Seq>) {
        if heads.is_empty() {
            return;
        }
        let users = self.read();
        for mailbox in users.values().flatten() {
            let rooms = mailbox.topic_rooms().clone();
            for room in rooms {
                if let Some(head) = heads.get(&room) {
                    mailbox.offer_room_head(room, *head);
                }
            }
        }
    }

    /// Tells every connection on this node that publications from other nodes may have been
    /// lost on their way here, so that each tells its client to resync (a broker calls this
    /// once its link to the other nodes is back after a loss, or when another node died).
    /// It queues like a message: a
    /// connection with a full queue is kicked as a slow consumer, and its client catches up
    /// when it returns, so no connection misses both.
    pub fn tell_everyone_to_resync(&self, reason: ResyncReason) -> usize {
        let users = self.read();
        let mut told = 0;
        for mailbox in users.values().flatten() {
            mailbox.push(Outbound::Resync(reason));
            told += 1;
        }
        told
    }

    /// Makes `mailbox`'s connection watch the presence of `users` (each once) instead of
    /// whom it watched before; `[]` watches nobody. Who may be watched is the caller's check.
    pub fn watch_users(&self, mailbox: &Arc<Mailbox>, users: &[UserId]) {
        let mut watchers = self.watchers_mut();
        let mut watching = mailbox.watching();
        for user in watching.drain(..) {
            unwatch(&mut watchers, user, mailbox.id);
        }
        let mut seen = HashSet::with_capacity(users.len());
        for user in users.iter().filter(|user| seen.insert(**user)) {
            watchers.entry(*user).or_default().push(mailbox.clone());
            watching.push(*user);
        }
    }

    /// Stops `mailbox`'s connection watching the presence of `users`, and keeps the rest.
    pub fn unwatch_users(&self, mailbox: &Arc<Mailbox>, users: &[UserId]) {
        let mut watchers = self.watchers_mut();
        let mut watching = mailbox.watching();
        watching.retain(|user| !users.contains(user));
        for user in users {
            unwatch(&mut watchers, *user, mailbox.id);
        }
    }

    /// How many connections here watch `user`'s presence.
    pub fn watcher_count(&self, user: UserId) -> usize {
        self.watchers_read().get(&user).map_or(0, Vec::len)
    }

    /// Hands `publication` to every local connection of every user it addresses.
    pub fn deliver(&self, publication: &Publication) {
        match publication {
            Publication::Presence(presence) => {
                let watchers = self.watchers_read();
                let Some(watching) = watchers.get(&presence.user_id) else {
                    return;
                };
                let body = render_body(&PresenceBody::Presence {
                    users: vec![presence.clone()],
                });
                for mailbox in watching {
                    mailbox.push(Outbound::Presence(presence.user_id, body.clone()));
                }
            }
            Publication::Message {
                message,
                recipients,
                muted,
            } => {
                let rendered = Arc::new(RenderedMessage::new(message));
                let users = self.read();
                for (user, unread) in recipients {
                    let muted = muted.contains(user);
                    for mailbox in users.get(user).into_iter().flatten() {
                        mailbox.push(Outbound::Message(rendered.clone(), *unread, muted));
                    }
                }
            }
            Publication::Changed {
                change,
                message,
                recipients,
            } => {
                let rendered = Arc::new(RenderedChange::new(*change, message));
                let users = self.read();
                let mut seen = HashSet::with_capacity(recipients.len());
                for user in recipients.iter().filter(|user| seen.insert(**user)) {
                    for mailbox in users.get(user).into_iter().flatten() {
                        mailbox.push(Outbound::Changed(rendered.clone()));
                    }
                }
            }
            Publication::Typing {
                room_id,
                user,
                members,
                origin,
            } => {
                let rendered = Arc::new(render_typing(*room_id, user, *origin));
                let users = self.read();
                for member in members {
                    for mailbox in users.get(member).into_iter().flatten() {
                        if mailbox.id != *origin {
                            mailbox.push(Outbound::Typing(rendered.clone()));
                        }
                    }
                }
            }
            Publication::Read {
                room_id,
                user_id,
                seq,
                members,
            } => {
                let rendered = Arc::new(RenderedRead {
                    room_id: *room_id,
                    body: render_body(&RoomEventBody::Read {
                        room_id: *room_id,
                        user_id: *user_id,
                        seq: *seq,
                    }),
                });
                let users = self.read();
                for member in members {
                    for mailbox in users.get(member).into_iter().flatten() {
                        mailbox.push(Outbound::Read(rendered.clone()));
                    }
                }
            }
            Publication::ToUser {
                user_id,
                event,
                except,
            } => {
                let event = Arc::new(event.clone());
                let users = self.read();
                for mailbox in users.get(user_id).into_iter().flatten() {
                    if Some(mailbox.id) != *except {
                        mailbox.push(Outbound::User(event.clone()));
                    }
                }
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<UserId, Vec<Arc<Mailbox>>>> {
        // A panic while holding this lock cannot leave the map half-updated (every critical
        // section is a single insert/remove), so a poisoned lock is still consistent.
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<UserId, Vec<Arc<Mailbox>>>> {
        self.users.write().unwrap_or_else(|p| p.into_inner())
    }

    fn watchers_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<UserId, Vec<Arc<Mailbox>>>> {
        // As `read`: every critical section leaves the map whole.
        self.watchers.read().unwrap_or_else(|p| p.into_inner())
    }

    fn watchers_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<UserId, Vec<Arc<Mailbox>>>> {
        self.watchers.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Takes connection `id` off `user`'s watchers, and the entry with it when it was the last.
fn unwatch(watchers: &mut HashMap<UserId, Vec<Arc<Mailbox>>>, user: UserId, id: ConnectionId) {
    if let Some(list) = watchers.get_mut(&user) {
        list.retain(|m| m.id != id);
        if list.is_empty() {
            watchers.remove(&user);
        }
    }
}

/// A connection's place in the hub; dropping it unregisters the connection.
#[derive(Debug)]
pub struct Registration {
    hub: Arc<Hub>,
    user: UserId,
    mailbox: Arc<Mailbox>,
}

impl Registration {
    /// The connection's mailbox (its id and kick signal).
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.watch_users(&self.mailbox, &[]);
        let mut users = self.hub.write();
        if let Some(list) = users.get_mut(&self.user) {
            list.retain(|m| m.id != self.mailbox.id);
            if list.is_empty() {
                users.remove(&self.user);
                self.hub.report(Presence::Gone(self.user));
            }
        }
        drop(users);
        if !self.mailbox.topic_rooms().is_empty() {
            self.mailbox.report_showing();
        }
    }
}

fn render_typing(room_id: RoomId, user: &User, origin: ConnectionId) -> RenderedTyping {
    let body = RoomEventBody::Typing {
        room_id,
        user: user.clone(),
    };
    RenderedTyping {
        room_id,
        body: render_body(&body),
        origin,
    }
}

/// Renders an event body (one of `sotong_model`'s `*Body` types) as JSON. Serialising these
/// plain objects cannot fail; should it ever, the body is `null`, which clients skip as
/// unreadable, rather than a panic on the delivery path.
pub(crate) fn render_body(body: &impl serde::Serialize) -> Bytes {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"null"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::message;

    #[tokio::test]
    async fn every_connection_of_every_recipient_gets_one_item() {
        let hub = Arc::new(Hub::new());
        let (_a1, mut rx_a1) = hub.register(UserId(1), 8, 8).expect("room");
        let (_a2, mut rx_a2) = hub.register(UserId(1), 8, 8).expect("room");
        let (_c, mut rx_c) = hub.register(UserId(3), 8, 8).expect("room");
        hub.deliver(&Publication::Message {
            message: message(7, 1),
            recipients: vec![(UserId(1), 0), (UserId(2), 1)],
            muted: Vec::new(),
        });
        for rx in [&mut rx_a1.outbound, &mut rx_a2.outbound] {
            match rx.try_recv() {
                Ok(Outbound::Message(m, 0, _)) => assert_eq!(m.seq(), Seq(1)),
                other => panic!("unexpected {other:?}"),
            }
            assert!(rx.try_recv().is_err(), "exactly one item");
        }
        assert!(rx_c.outbound.try_recv().is_err(), "not a recipient");
    }

    #[tokio::test]
    async fn a_full_queue_kicks_the_connection_as_a_slow_consumer() {
        let hub = Arc::new(Hub::new());
        let (reg, _rx) = hub.register(UserId(1), 2, 8).expect("room");
        for seq in 1..=3 {
            hub.deliver(&Publication::Message {
                message: message(7, seq),
                recipients: vec![(UserId(1), 0)],
                muted: Vec::new(),
            });
        }
        assert_eq!(reg.mailbox().kicked().await, Kick::SlowConsumer);
    }

    #[tokio::test]
    async fn dropping_the_registration_unregisters() {
        let hub = Arc::new(Hub::new());
        let (reg, _rx) = hub.register(UserId(1), 2, 8).expect("room");
        assert_eq!(hub.connection_count(), 1);
        drop(reg);
        assert_eq!(hub.connection_count(), 0);
    }

    #[tokio::test]
    async fn connections_per_user_are_capped() {
        let hub = Arc::new(Hub::new());
        let first = hub.register(UserId(1), 2, 2).expect("first");
        let _second = hub.register(UserId(1), 2, 2).expect("second");
        assert!(hub.register(UserId(1), 2, 2).is_none());
        assert!(hub.register(UserId(2), 2, 2).is_some(), "per user");
        drop(first);
        assert!(
            hub.register(UserId(1), 2, 2).is_some(),
            "a slot is free again"
        );
    }

    #[tokio::test]
    async fn typing_skips_the_origin_connection() {
        let hub = Arc::new(Hub::new());
        let (a1, mut rx_a1) = hub.register(UserId(1), 8, 8).expect("room");
        let (_a2, mut rx_a2) = hub.register(UserId(1), 8, 8).expect("room");
        hub.deliver(&Publication::Typing {
            room_id: RoomId(7),
            user: message(7, 1).sender,
            members: vec![UserId(1)],
            origin: a1.mailbox().id,
        });
        assert!(rx_a1.outbound.try_recv().is_err());
        assert!(matches!(rx_a2.outbound.try_recv(), Ok(Outbound::Typing(_))));
    }

    #[tokio::test]
    async fn control_events_skip_the_message_queue() {
        let hub = Arc::new(Hub::new());
        let (reg, mut queues) = hub.register(UserId(1), 4, 8).expect("room");
        for seq in 1..=3 {
            hub.deliver(&Publication::Message {
                message: message(7, seq),
                recipients: vec![(UserId(1), 0)],
                muted: Vec::new(),
            });
        }
        for event in [
            UserEvent::Left { room_id: RoomId(7) },
            UserEvent::TokenRevoked {
                token_hash: vec![1, 2],
            },
            UserEvent::Read {
                room_id: RoomId(7),
                seq: Seq(3),
            },
        ] {
            hub.deliver(&Publication::ToUser {
                user_id: UserId(1),
                event,
                except: None,
            });
        }
        // The leave and the revocation wait behind nothing; the read mark keeps its place.
        assert!(matches!(
            *queues.control.try_recv().expect("left"),
            UserEvent::Left { .. }
        ));
        assert!(matches!(
            *queues.control.try_recv().expect("revoked"),
            UserEvent::TokenRevoked { .. }
        ));
        assert!(queues.control.try_recv().is_err());
        for seq in 1..=3 {
            match queues.outbound.try_recv() {
                Ok(Outbound::Message(m, _, _)) => assert_eq!(m.seq(), Seq(seq)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(matches!(
            queues.outbound.try_recv(),
            Ok(Outbound::User(event)) if matches!(*event, UserEvent::Read { .. })
        ));
        assert!(!reg.mailbox().kicked.is_cancelled());
    }

    #[tokio::test]
    async fn room_heads_go_to_the_connections_that_watch_the_room() {
        let hub = Arc::new(Hub::new());
        let (a, mut rx_a) = hub.register(UserId(1), 8, 8).expect("room");
        let (b, mut rx_b) = hub.register(UserId(2), 8, 8).expect("room");
        let (_c, mut rx_c) = hub.register(UserId(3), 8, 8).expect("room");
        a.mailbox().watch_topics([RoomId(7), RoomId(8)].into_iter());
        b.mailbox().watch_topics([RoomId(8)].into_iter());
        let mut rooms = hub.topic_rooms();
        rooms.sort_by_key(|room| room.0);
        assert_eq!(rooms, [RoomId(7), RoomId(8)]);
        hub.hand_room_heads(&HashMap::from([(RoomId(8), Seq(4))]));
        assert!(matches!(
            rx_a.outbound.try_recv(),
            Ok(Outbound::RoomHead(RoomId(8), Seq(4)))
        ));
        assert!(rx_a.outbound.try_recv().is_err(), "room 7 has no head");
        assert!(matches!(
            rx_b.outbound.try_recv(),
            Ok(Outbound::RoomHead(RoomId(8), Seq(4)))
        ));
        assert!(rx_c.outbound.try_recv().is_err(), "watches nothing");
        drop(a);
        assert_eq!(hub.topic_rooms(), [RoomId(8)]);
    }

    #[tokio::test]
    async fn every_connection_is_told_to_resync_once() {
        let hub = Arc::new(Hub::new());
        let (_a1, mut rx_a1) = hub.register(UserId(1), 8, 8).expect("room");
        let (_a2, mut rx_a2) = hub.register(UserId(1), 8, 8).expect("room");
        let (_b, mut rx_b) = hub.register(UserId(2), 8, 8).expect("room");
        assert_eq!(hub.tell_everyone_to_resync(ResyncReason::Broker), 3);
        for rx in [&mut rx_a1, &mut rx_a2, &mut rx_b] {
            assert!(matches!(
                rx.outbound.try_recv(),
                Ok(Outbound::Resync(ResyncReason::Broker))
            ));
            assert!(rx.outbound.try_recv().is_err(), "exactly one");
        }
    }

    #[tokio::test]
    async fn a_full_queue_skips_a_room_head_without_a_kick() {
        let hub = Arc::new(Hub::new());
        let (a, _rx) = hub.register(UserId(1), 1, 8).expect("room");
        a.mailbox().watch_topics([RoomId(7)].into_iter());
        hub.hand_room_heads(&HashMap::from([(RoomId(7), Seq(1))]));
        hub.hand_room_heads(&HashMap::from([(RoomId(7), Seq(2))]));
        assert!(!a.mailbox().kicked.is_cancelled());
    }

    #[tokio::test]
    async fn presence_reports_the_first_connection_and_the_last_one_gone() {
        let hub = Arc::new(Hub::new());
        let (early, _rx) = hub.register(UserId(9), 2, 8).expect("room");
        let (here, mut feed) = hub.watch_presence().expect("first watcher");
        assert_eq!(here, vec![UserId(9)]);
        assert!(hub.watch_presence().is_none(), "one watcher");
        let (a1, _rx1) = hub.register(UserId(1), 2, 8).expect("room");
        let (a2, _rx2) = hub.register(UserId(1), 2, 8).expect("room");
        assert_eq!(feed.try_recv(), Ok(Presence::Arrived(UserId(1))));
        assert!(
            feed.try_recv().is_err(),
            "a second connection changes nothing"
        );
        drop(a1);
        assert!(feed.try_recv().is_err(), "one connection is still here");
        assert!(hub.is_present(UserId(1)));
        drop(a2);
        assert_eq!(feed.try_recv(), Ok(Presence::Gone(UserId(1))));
        assert!(!hub.is_present(UserId(1)));
        assert!(hub.register(UserId(2), 2, 0).is_none());
        assert!(
            feed.try_recv().is_err(),
            "a refused connection is never here"
        );
        assert_eq!(hub.users_here(), vec![UserId(9)]);
        drop(early);
        assert_eq!(feed.try_recv(), Ok(Presence::Gone(UserId(9))));
    }

    #[tokio::test]
    async fn without_a_watching_broker_nobody_waits_to_be_heard() {
        let hub = Arc::new(Hub::new());
        let (_a, _rx) = hub.register(UserId(1), 2, 8).expect("room");
        let waited = tokio::time::timeout(
            Duration::from_millis(1),
            hub.until_heard(UserId(1), Duration::from_secs(60)),
        )
        .await;
        assert_eq!(waited, Ok(true), "no wait at all");
    }

    #[tokio::test]
    async fn a_session_waits_until_its_user_is_heard_or_the_link_is_down() {
        let hub = Arc::new(Hub::new());
        let _feed = hub.watch_presence().expect("first watcher");
        let within = Duration::from_millis(50);
        // Not connected yet: worth waiting, and the wait is bounded.
        assert!(!hub.until_heard(UserId(1), within).await);

        hub.link_up();
        let waiting = {
            let hub = hub.clone();
            tokio::spawn(async move { hub.until_heard(UserId(1), Duration::from_secs(60)).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "waits while the user is not heard");
        hub.hear(&[UserId(2)]);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "another user heard changes nothing");
        hub.hear(&[UserId(1)]);
        assert_eq!(waiting.await.ok(), Some(true));
        assert!(hub.until_heard(UserId(1), within).await, "heard: no wait");

        hub.forget_heard(&[UserId(1)]);
        assert!(
            !hub.until_heard(UserId(1), within).await,
            "forgotten: waits"
        );

        hub.hear(&[UserId(1)]);
        hub.link_down();
        let long = Duration::from_secs(60);
        let waited = tokio::time::timeout(within, hub.until_heard(UserId(1), long)).await;
        assert_eq!(waited, Ok(false), "nobody is heard, and nobody waits");
    }
}
