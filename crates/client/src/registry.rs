//! The subscription registry: which destinations this client wants, who listens to each, and
//! where each message of each room went. Owned by the connection task; no I/O.
//!
//! # Reference counting
//!
//! Every local subscriber of a room shares one entry, and so one STOMP `SUBSCRIBE` (the server
//! refuses a second one per destination anyway). [`Registry::add_room`] says whether the caller
//! is the first, [`Registry::remove`] whether it was the last; the connection task turns those
//! into `SUBSCRIBE` / `UNSUBSCRIBE`.
//!
//! # Routing: one stream per message, never both, never neither
//!
//! Like the web app, the SDK shows a message of a room either to that room's subscribers (the
//! room is on screen) or on the notification stream, and it *routes* each message exactly
//! once. The server already sends each message to a connection once, on the room's topic or
//! on the notification queue; the registry keeps that true per client at the moments the
//! server's answer and the client's wishes disagree:
//!
//! - **A room is held** (it has subscribers): its topic messages go to them. A notification
//!   for it is not passed on: it was sent before the server handled the `SUBSCRIBE`, and the
//!   `since-seq` replay brings it on the topic.
//! - **The last subscriber goes** (its stream is dropped, or it fell behind): the room is
//!   released. Its topic messages that are still on their way (the server has not handled the
//!   `UNSUBSCRIBE` yet) become notifications, and so do the messages the dropped stream had
//!   buffered but never yielded. Such a notification has `unread: None`: the server counts
//!   unread messages only for what it sends as a notification itself.
//! - **A room is released or not held**: the registry remembers, per room, which `seq`s it
//!   routed on the current connection ([`Routed`]). A message routed once (on either stream)
//!   is not routed again: the server's own notifications after the `UNSUBSCRIBE` cannot repeat
//!   a message the topic brought. When the room is subscribed again, the new subscription
//!   resumes right after what was routed (`since-seq`), and passes over the few `seq`s that
//!   went to the notifications out of order; so a message shown as a notification is not
//!   shown again on the room stream, and nothing routed to neither in between. (The room's
//!   history page, read over HTTP, still holds it: that is the room being opened.)
//!
//! The memory is per connection: notifications are live only (the contract's rule 7), so after
//! a reconnect a room not held starts afresh and a new subscription anchors at the room's
//! latest `seq`, as the first one does.
//!
//! # No gap, no duplicate on a room stream
//!
//! Each room entry keeps `last_seq`, the highest `seq` routed (or, before the first message,
//! where the subscription started). A message event with `seq <= last_seq` is a duplicate (a
//! `since-seq` replay overlapping live delivery) and is dropped here, so a subscriber sees
//! each message once. After a reconnect the connection re-subscribes with
//! `since-seq: last_seq`, so nothing committed meanwhile is missed.
//!
//! # Slow subscribers
//!
//! Each subscriber has a bounded buffer. A subscriber whose buffer is full when an event
//! arrives is dropped from the entry and its stream ends with [`Error::Lagged`] after the
//! events it already has. The connection never waits for a subscriber (that would stall every
//! other one and, in the end, get the connection closed by the server as a slow consumer), and
//! never drops an event silently for a subscriber that stays. When the last subscriber of a
//! room falls behind, the room is released as above: the message it could not take and the
//! ones after it become notifications.
//!
//! # Dropped streams
//!
//! A dropped [`Subscription`](crate::Subscription) closes its channel and hands its receiving
//! end back with the drop notice. Until the notice is handled the subscriber stays in its
//! entry, and events for it are kept aside (`stash`), so when it turns out to have been the
//! last one, every message it never yielded is still there, in order, for the notifications.

use crate::error::Error;
use crate::model::{Message, Notification, RoomEvent, RoomId, Seq, UserId, UserPresence};
use crate::subscription::{Parts, Topic};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// How many `seq`s routed out of order a room remembers above its floor (see [`Routed`]).
/// Notifications of one room arrive in `seq` order but for publisher races, so in practice
/// only a handful are ever held.
const ROUTED_MEMORY: usize = 64;

/// Where a room's subscription stands on the current connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wire {
    /// Not subscribed on this connection (offline, or not sent yet).
    Idle,
    /// `SUBSCRIBE` sent; waiting for the `RECEIPT` with this id.
    Subscribing(String),
    /// The `RECEIPT` came: caught up, live from here.
    Live,
}

/// The outcome of removing one subscriber.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Removed {
    /// Unknown subscriber (already removed).
    Unknown,
    /// Others still listen.
    Kept,
    /// That was the last one; the entry is gone. `wire` tells whether the server holds a
    /// subscription to undo.
    Last { wire: bool },
}

/// The outcome of delivering a room-topic event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Handed to the subscribers (some may have been dropped as slow, not all).
    Delivered,
    /// Routed already (at or below what was delivered, or sent as a notification); dropped.
    Duplicate,
    /// The room is not held: the message went to the notification stream.
    Rerouted,
    /// The room is not held and the event is not a message (a typing indicator): nobody
    /// would show it.
    Ignored,
    /// Every subscriber fell behind; the entry is removed and the event, if a message, went to
    /// the notifications. `wire` as in [`Removed::Last`].
    Emptied { wire: bool },
}

#[derive(Debug)]
struct Subscriber<T> {
    id: u64,
    events: mpsc::Sender<T>,
    end: oneshot::Sender<Error>,
    /// Events published after the stream was dropped (its channel is closed) and before the
    /// connection handled its drop notice; see the module doc.
    stash: Vec<T>,
}

impl<T> Subscriber<T> {
    fn finish(self, reason: Error) {
        // The stream may be gone already; then nobody needs the reason.
        let _ = self.end.send(reason);
    }

    fn is_open(&self) -> bool {
        !self.events.is_closed()
    }
}

/// The subscribers of one destination.
#[derive(Debug)]
struct Fanout<T> {
    subscribers: Vec<Subscriber<T>>,
}

impl<T: Clone> Fanout<T> {
    fn new() -> Self {
        Fanout {
            subscribers: Vec::new(),
        }
    }

    fn add(&mut self, id: u64, capacity: usize) -> Parts<T> {
        let (events, rx) = mpsc::channel(capacity);
        let (end, end_rx) = oneshot::channel();
        self.subscribers.push(Subscriber {
            id,
            events,
            end,
            stash: Vec::new(),
        });
        Parts {
            id,
            events: rx,
            end: end_rx,
        }
    }

    fn remove(&mut self, id: u64) -> Option<Subscriber<T>> {
        let index = self.subscribers.iter().position(|s| s.id == id)?;
        Some(self.subscribers.remove(index))
    }

    /// Whether a subscriber whose stream is still alive remains.
    fn has_open(&self) -> bool {
        self.subscribers.iter().any(Subscriber::is_open)
    }

    /// Hands `item` to every subscriber, dropping the ones that cannot take it (see module doc).
    fn publish(&mut self, item: &T, capacity: usize) {
        let subscribers = std::mem::take(&mut self.subscribers);
        for mut subscriber in subscribers {
            match subscriber.events.try_send(item.clone()) {
                Ok(()) => self.subscribers.push(subscriber),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    warn!(
                        subscriber = subscriber.id,
                        capacity, "dropping a subscriber that does not keep up"
                    );
                    subscriber.finish(Error::Lagged { capacity });
                }
                // The stream was dropped; its notice is on its way and settles what it missed.
                Err(mpsc::error::TrySendError::Closed(item)) => {
                    subscriber.stash.push(item);
                    self.subscribers.push(subscriber);
                }
            }
        }
    }

    fn end_all(&mut self, reason: &Error) {
        for subscriber in self.subscribers.drain(..) {
            subscriber.finish(reason.clone());
        }
    }
}

#[derive(Debug)]
struct RoomEntry {
    fanout: Fanout<RoomEvent>,
    /// The highest `seq` routed, or where the subscription started.
    last_seq: Seq,
    /// `seq`s above `last_seq` that went to the notifications already (out of order, before the
    /// room was held); passed over when the topic brings them.
    skip: BTreeSet<Seq>,
    /// Messages that dropped streams never yielded, kept while only dropped streams remain;
    /// they go to the notifications if the room is released.
    orphans: BTreeMap<Seq, Message>,
    wire: Wire,
    /// The highest `rev` seen of the room (from its `lastRev` when subscribing began, changed
    /// events, and messages replayed in their current state): the `since-rev` to resubscribe
    /// with, so that the changes made while away come first.
    last_rev: u64,
}

/// What this client routed of a room it does not hold, on the current connection.
///
/// Every `seq` at or below `floor` was routed (or is older than the subscription it comes
/// from: the history page's business); `above` holds routed `seq`s beyond the floor. The floor
/// moves up over `above` as the gaps fill, and when `above` outgrows [`ROUTED_MEMORY`] (a room
/// never held: its floor is unknown until then).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Routed {
    floor: Option<Seq>,
    above: BTreeSet<Seq>,
}

impl Routed {
    fn contains(&self, seq: Seq) -> bool {
        self.floor.is_some_and(|floor| seq <= floor) || self.above.contains(&seq)
    }

    fn insert(&mut self, seq: Seq) {
        if self.contains(seq) {
            return;
        }
        self.above.insert(seq);
        while self.above.len() > ROUTED_MEMORY {
            if let Some(oldest) = self.above.pop_first() {
                self.floor = Some(self.floor.map_or(oldest, |floor| floor.max(oldest)));
            }
        }
        while let Some(floor) = self.floor {
            // A seq comes from the network: at u64::MAX there is no next one to fold in.
            let Some(next) = floor.0.checked_add(1).map(Seq) else {
                break;
            };
            if !self.above.remove(&next) {
                break;
            }
            self.floor = Some(next);
        }
    }
}

/// Every destination this client subscribes to, with its local subscribers.
#[derive(Debug)]
pub(crate) struct Registry {
    rooms: HashMap<RoomId, RoomEntry>,
    /// Rooms not held whose messages were routed on this connection (module doc).
    routed: HashMap<RoomId, Routed>,
    notifications: Fanout<Notification>,
    /// Presence subscribers, and the users they watch (the union, sent as one watch list).
    presence: Fanout<UserPresence>,
    watched: Vec<UserId>,
    capacity: usize,
    next_id: u64,
}

impl Registry {
    /// An empty registry whose subscribers buffer up to `capacity` events each.
    pub(crate) fn new(capacity: usize) -> Self {
        Registry {
            rooms: HashMap::new(),
            routed: HashMap::new(),
            notifications: Fanout::new(),
            presence: Fanout::new(),
            watched: Vec::new(),
            capacity: capacity.max(1),
            next_id: 0,
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds a subscriber to `room`. Returns the subscriber and whether it created the entry
    /// (so a `SUBSCRIBE` is needed), or `None` when a new entry needs an `anchor` and none
    /// was given.
    ///
    /// A new entry resumes where this connection's routing of the room stands (module doc);
    /// only a room with no such record starts at `anchor`, the room's latest `seq` when
    /// subscribing began. An existing entry ignores `anchor`.
    pub(crate) fn add_room(
        &mut self,
        room: RoomId,
        anchor: Option<Seq>,
    ) -> Option<(Parts<RoomEvent>, bool)> {
        let id = self.next_id();
        let capacity = self.capacity;
        if let Some(entry) = self.rooms.get_mut(&room) {
            return Some((entry.fanout.add(id, capacity), false));
        }
        let mut routed = self.routed.remove(&room).unwrap_or_default();
        let (last_seq, skip) = match (routed.floor, anchor) {
            (Some(floor), _) => (floor, routed.above),
            (None, Some(anchor)) => (
                anchor,
                routed.above.split_off(&Seq(anchor.0.saturating_add(1))),
            ),
            (None, None) => {
                if routed != Routed::default() {
                    self.routed.insert(room, routed);
                }
                return None;
            }
        };
        debug!(%room, since = %last_seq, skip = skip.len(), "holding a room");
        let entry = self.rooms.entry(room).or_insert(RoomEntry {
            fanout: Fanout::new(),
            last_seq,
            skip,
            orphans: BTreeMap::new(),
            wire: Wire::Idle,
            last_rev: 0,
        });
        Some((entry.fanout.add(id, capacity), true))
    }

    /// Adds a subscriber to the notifications.
    pub(crate) fn add_notifications(&mut self) -> Parts<Notification> {
        let id = self.next_id();
        self.notifications.add(id, self.capacity)
    }

    /// Adds a presence subscriber and makes `users` the watch list (each once).
    pub(crate) fn add_presence(&mut self, users: &[UserId]) -> Parts<UserPresence> {
        let mut watched = Vec::with_capacity(users.len());
        for user in users {
            if !watched.contains(user) {
                watched.push(*user);
            }
        }
        self.watched = watched;
        let id = self.next_id();
        self.presence.add(id, self.capacity)
    }

    /// The users watched, when presence is wanted at all (`None`: never asked, or the last
    /// presence subscriber is gone).
    pub(crate) fn watched(&self) -> Option<&[UserId]> {
        self.presence.has_open().then_some(self.watched.as_slice())
    }

    /// Hands a presence change (or the answer to a watch list) to every presence subscriber.
    pub(crate) fn deliver_presence(&mut self, users: Vec<UserPresence>) {
        for user in users {
            self.presence.publish(&user, self.capacity);
        }
    }

    /// Whether some local subscriber wants `room`.
    pub(crate) fn holds(&self, room: RoomId) -> bool {
        self.rooms.contains_key(&room)
    }

    /// Where `room`'s subscription stands on the wire (`None` when not held).
    pub(crate) fn wire(&self, room: RoomId) -> Option<&Wire> {
        self.rooms.get(&room).map(|e| &e.wire)
    }

    /// Records a change of `room`'s wire state.
    pub(crate) fn set_wire(&mut self, room: RoomId, wire: Wire) {
        if let Some(entry) = self.rooms.get_mut(&room) {
            entry.wire = wire;
        }
    }

    /// Records that the client has seen `room` up to revision `rev` (never backwards).
    pub(crate) fn note_rev(&mut self, room: RoomId, rev: u64) {
        if let Some(entry) = self.rooms.get_mut(&room) {
            entry.last_rev = entry.last_rev.max(rev);
        }
    }

    /// The `since-rev` to (re)subscribe `room` with: the highest `rev` seen (0 for a room not
    /// held, which then gets the changes of every message it holds).
    pub(crate) fn last_rev(&self, room: RoomId) -> u64 {
        self.rooms.get(&room).map_or(0, |e| e.last_rev)
    }

    /// The `since-seq` to (re)subscribe `room` with.
    pub(crate) fn last_seq(&self, room: RoomId) -> Option<Seq> {
        self.rooms.get(&room).map(|e| e.last_seq)
    }

    /// Every held room, for restoring after a reconnect (ascending ids, so the order is stable).
    pub(crate) fn rooms(&self) -> Vec<RoomId> {
        let mut rooms: Vec<RoomId> = self.rooms.keys().copied().collect();
        rooms.sort();
        rooms
    }

    /// The connection dropped: nothing is subscribed on the wire any more, and what was routed
    /// of rooms not held no longer says where a new subscription should start (module doc).
    pub(crate) fn disconnected(&mut self) {
        for entry in self.rooms.values_mut() {
            entry.wire = Wire::Idle;
        }
        self.routed.clear();
    }

    /// Removes one subscriber (its stream was dropped). `leftovers` is the receiving end of
    /// its channel: what it holds was never yielded, and goes to the notifications if the
    /// room is released.
    pub(crate) fn remove(
        &mut self,
        topic: Topic,
        id: u64,
        leftovers: Option<mpsc::Receiver<RoomEvent>>,
    ) -> Removed {
        let room = match topic {
            Topic::Notifications => {
                return match self.notifications.remove(id) {
                    Some(_) => Removed::Kept,
                    None => Removed::Unknown,
                };
            }
            Topic::Presence => {
                return match self.presence.remove(id) {
                    Some(_) => Removed::Kept,
                    None => Removed::Unknown,
                };
            }
            Topic::Room(room) => room,
        };
        let Some(entry) = self.rooms.get_mut(&room) else {
            return Removed::Unknown;
        };
        let Some(subscriber) = entry.fanout.remove(id) else {
            // Dropped as slow already: its stream ended with `Lagged`, which tells the caller
            // to reopen the room; what it still buffered is not routed again.
            return Removed::Unknown;
        };
        if entry.fanout.has_open() {
            // The room is still on screen.
            return Removed::Kept;
        }
        // The buffered events came before the stashed ones.
        let mut unread = Vec::new();
        if let Some(mut events) = leftovers {
            while let Ok(event) = events.try_recv() {
                unread.push(event);
            }
        }
        unread.extend(subscriber.stash);
        for event in unread {
            if let RoomEvent::Message(message) = event {
                entry.orphans.insert(message.seq, message);
            }
        }
        if !entry.fanout.subscribers.is_empty() {
            // Only dropped streams remain; the last notice releases the room.
            return Removed::Kept;
        }
        let wire = self.release(room);
        Removed::Last { wire }
    }

    /// Forgets `room`'s entry: its orphaned messages go to the notifications, and what it
    /// routed is remembered if the server still sends its messages (module doc). Returns
    /// whether the server holds a subscription to undo.
    fn release(&mut self, room: RoomId) -> bool {
        let Some(entry) = self.rooms.remove(&room) else {
            return false;
        };
        let wire = entry.wire != Wire::Idle;
        if !entry.orphans.is_empty() {
            debug!(%room, count = entry.orphans.len(), "unread messages of a released room go to the notifications");
        }
        for message in entry.orphans.into_values() {
            self.notifications
                .publish(&passed_on(room, message), self.capacity);
        }
        if wire {
            // On the wire, the server keeps sending this room's messages, on the topic until
            // it handles the UNSUBSCRIBE and as notifications after: the routing stays whole.
            self.routed.insert(
                room,
                Routed {
                    floor: Some(entry.last_seq),
                    above: entry.skip,
                },
            );
        }
        wire
    }

    /// Hands a room-topic event to the room's subscribers, dropping duplicates, or to the
    /// notifications when the room is no longer held (module doc).
    pub(crate) fn deliver_room(&mut self, room: RoomId, event: RoomEvent) -> Delivery {
        let capacity = self.capacity;
        let Some(entry) = self.rooms.get_mut(&room) else {
            return match event {
                RoomEvent::Message(message) => {
                    let seq = message.seq;
                    if self.route_notification(room, seq, passed_on(room, message)) {
                        debug!(%room, %seq, "message of a released room rerouted to the notifications");
                        Delivery::Rerouted
                    } else {
                        Delivery::Duplicate
                    }
                }
                // A change on its way to the room's subscribers when the last of them went:
                // passed on here, as the server would have for a connection not subscribed.
                RoomEvent::Changed { change, message } => {
                    let event = Notification::Changed {
                        room_id: room,
                        change,
                        message,
                    };
                    self.notifications.publish(&event, capacity);
                    Delivery::Rerouted
                }
                _ => Delivery::Ignored,
            };
        };
        if let RoomEvent::Changed { message, .. } = &event {
            entry.last_rev = entry.last_rev.max(message.rev);
        }
        if let RoomEvent::Message(message) = &event {
            entry.last_rev = entry.last_rev.max(message.rev);
            let seq = message.seq;
            if seq <= entry.last_seq {
                debug!(%room, %seq, last = %entry.last_seq, "duplicate message dropped");
                return Delivery::Duplicate;
            }
            if seq.0 > entry.last_seq.0 + 1 {
                // The server fills gaps itself (see its delivery rules), so this is a server bug.
                warn!(%room, %seq, last = %entry.last_seq, "gap in room seq");
            }
            entry.last_seq = seq;
            let notified = entry.skip.remove(&seq);
            entry.skip = entry.skip.split_off(&seq);
            if notified {
                debug!(%room, %seq, "message already routed as a notification passed over");
                return Delivery::Duplicate;
            }
        }
        entry.fanout.publish(&event, capacity);
        if !entry.fanout.subscribers.is_empty() {
            return Delivery::Delivered;
        }
        // Every subscriber fell behind on this event, so none has it.
        let wire = self.release(room);
        if let RoomEvent::Message(message) = event {
            self.notifications
                .publish(&passed_on(room, message), capacity);
        }
        Delivery::Emptied { wire }
    }

    /// Hands a notification to the notification subscribers. A message of a room this client
    /// holds is not passed on: the room's topic delivers it (its `since-seq` replay included);
    /// nor is a message routed already (module doc). Returns whether it was passed on.
    pub(crate) fn deliver_notification(&mut self, event: Notification) -> bool {
        let Notification::Message {
            room_id, message, ..
        } = &event
        else {
            self.notifications.publish(&event, self.capacity);
            return true;
        };
        let (room, seq) = (*room_id, message.seq);
        if self.holds(room) {
            return false;
        }
        let passed = self.route_notification(room, seq, event);
        if !passed {
            debug!(%room, %seq, "notification of a message routed already dropped");
        }
        passed
    }

    /// Publishes `event`, message `seq` of a room not held, as a notification unless that
    /// message was routed already.
    fn route_notification(&mut self, room: RoomId, seq: Seq, event: Notification) -> bool {
        let routed = self.routed.entry(room).or_default();
        if routed.contains(seq) {
            return false;
        }
        routed.insert(seq);
        self.notifications.publish(&event, self.capacity);
        true
    }

    /// Ends every subscriber of `room` with `reason` and forgets the room.
    pub(crate) fn end_room(&mut self, room: RoomId, reason: &Error) {
        if let Some(entry) = self.rooms.get_mut(&room) {
            entry.fanout.end_all(reason);
            self.release(room);
        }
    }

    /// Ends every subscriber with `reason` (the client is closing).
    pub(crate) fn end_all(&mut self, reason: &Error) {
        for (_, mut entry) in self.rooms.drain() {
            entry.fanout.end_all(reason);
        }
        self.routed.clear();
        self.notifications.end_all(reason);
        self.presence.end_all(reason);
    }
}

/// A message the SDK passes on as a notification itself (its room's last subscriber went):
/// the server did not count it for this client, nor say whether it mentions or is muted.
fn passed_on(room: RoomId, message: Message) -> Notification {
    Notification::Message {
        room_id: room,
        message,
        unread: None,
        mention: false,
        muted: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Dropped;
    use crate::model::{MessageId, User, UserId};
    use crate::subscription::Subscription;

    fn msg(room: i64, seq: u64) -> Message {
        Message {
            id: MessageId(room * 1000 + seq as i64),
            room_id: RoomId(room),
            seq: Seq(seq),
            sender: User {
                id: UserId(1),
                username: "alice".into(),
                display_name: "Alice".into(),
            },
            text: format!("m{seq}"),
            sent_at: String::new(),
            client_msg_id: None,
            edited_at: None,
            deleted_at: None,
            rev: 0,
            reply_to: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    fn message(room: i64, seq: u64) -> RoomEvent {
        RoomEvent::Message(msg(room, seq))
    }

    fn notification(room: i64, seq: u64, unread: u64) -> Notification {
        Notification::Message {
            room_id: RoomId(room),
            message: msg(room, seq),
            unread: Some(unread),
            mention: false,
            muted: false,
        }
    }

    fn seqs(parts: &mut Parts<RoomEvent>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Ok(event) = parts.events.try_recv() {
            if let RoomEvent::Message(m) = event {
                out.push(m.seq.0);
            }
        }
        out
    }

    /// The notifications' messages so far, as (room, seq, unread).
    fn notes(parts: &mut Parts<Notification>) -> Vec<(i64, u64, Option<u64>)> {
        let mut out = Vec::new();
        while let Ok(event) = parts.events.try_recv() {
            if let Notification::Message {
                room_id,
                message,
                unread,
                ..
            } = event
            {
                out.push((room_id.0, message.seq.0, unread));
            }
        }
        out
    }

    fn hold(registry: &mut Registry, room: i64, anchor: u64) -> Parts<RoomEvent> {
        let (parts, _) = registry
            .add_room(RoomId(room), Some(Seq(anchor)))
            .expect("an anchor was given");
        parts
    }

    /// Drops `parts` as a [`Subscription`] would be dropped and hands the notice to `registry`.
    fn drop_stream(registry: &mut Registry, parts: Parts<RoomEvent>, room: i64) -> Removed {
        let (drops, mut notices) = mpsc::unbounded_channel();
        drop(Subscription::new(
            parts,
            Topic::Room(RoomId(room)),
            drops,
            None,
        ));
        let Dropped {
            topic,
            id,
            leftovers,
        } = notices.try_recv().expect("a drop notice");
        registry.remove(topic, id, leftovers)
    }

    #[test]
    fn subscribers_of_a_room_share_one_entry() {
        let mut registry = Registry::new(8);
        let room = RoomId(1);
        let (a, first_a) = registry.add_room(room, Some(Seq(0))).unwrap();
        let (b, first_b) = registry.add_room(room, Some(Seq(99))).unwrap();
        assert!(first_a && !first_b);
        // The second anchor is ignored: the entry exists.
        assert_eq!(registry.last_seq(room), Some(Seq(0)));
        registry.set_wire(room, Wire::Live);
        assert_eq!(
            registry.remove(Topic::Room(room), a.id, None),
            Removed::Kept
        );
        assert_eq!(
            registry.remove(Topic::Room(room), a.id, None),
            Removed::Unknown
        );
        assert_eq!(
            registry.remove(Topic::Room(room), b.id, None),
            Removed::Last { wire: true }
        );
        assert!(!registry.holds(room));
        let (c, first_c) = registry.add_room(room, Some(Seq(5))).unwrap();
        assert!(first_c);
        assert_eq!(
            registry.remove(Topic::Room(room), c.id, None),
            Removed::Last { wire: false }
        );
    }

    #[test]
    fn every_subscriber_gets_each_message_once_in_order() {
        let mut registry = Registry::new(16);
        let room = RoomId(1);
        let mut a = hold(&mut registry, 1, 2);
        let mut b = hold(&mut registry, 1, 2);
        // 1 and 2 are before the anchor; 4 arrives live before the replay sends 3 and 4 again.
        for seq in [1, 2, 3, 4, 4, 3, 5] {
            registry.deliver_room(room, message(1, seq));
        }
        assert_eq!(seqs(&mut a), [3, 4, 5]);
        assert_eq!(seqs(&mut b), [3, 4, 5]);
        assert_eq!(
            registry.deliver_room(room, message(1, 5)),
            Delivery::Duplicate
        );
    }

    #[test]
    fn last_seq_survives_a_disconnect() {
        let mut registry = Registry::new(16);
        let room = RoomId(3);
        let _a = hold(&mut registry, 3, 0);
        registry.set_wire(room, Wire::Live);
        registry.deliver_room(room, message(3, 1));
        registry.deliver_room(room, message(3, 2));
        registry.disconnected();
        assert_eq!(registry.wire(room), Some(&Wire::Idle));
        assert_eq!(registry.rooms(), [room]);
        assert_eq!(registry.last_seq(room), Some(Seq(2)));
    }

    #[test]
    fn messages_still_on_the_topic_after_the_last_subscriber_become_notifications_once() {
        let mut registry = Registry::new(16);
        let mut n = registry.add_notifications();
        let room = RoomId(1);
        let mut view = hold(&mut registry, 1, 0);
        registry.set_wire(room, Wire::Live);
        for seq in 1..=2 {
            assert_eq!(
                registry.deliver_room(room, message(1, seq)),
                Delivery::Delivered
            );
        }
        assert_eq!(seqs(&mut view), [1, 2]);
        // The stream was read to the end, then dropped: the server still holds the topic.
        assert_eq!(
            drop_stream(&mut registry, view, 1),
            Removed::Last { wire: true }
        );
        // Before the server handles the UNSUBSCRIBE the topic brings 3 and 4 (4 twice: a gap
        // fill racing the live copy); typing there is nobody's business now.
        for seq in [3, 4, 4] {
            registry.deliver_room(room, message(1, seq));
        }
        let typing = RoomEvent::Typing {
            room_id: room,
            user: msg(1, 1).sender,
        };
        assert_eq!(registry.deliver_room(room, typing), Delivery::Ignored);
        // After it, the server's own notifications: a late copy of 4 (its seq filter is gone
        // with the subscription), then 5 with the server's count.
        assert!(!registry.deliver_notification(notification(1, 4, 2)));
        assert!(registry.deliver_notification(notification(1, 5, 3)));
        assert_eq!(
            notes(&mut n),
            [(1, 3, None), (1, 4, None), (1, 5, Some(3))],
            "each once, in order; the rerouted ones without a server count"
        );
    }

    #[tokio::test]
    async fn what_a_dropped_last_stream_never_yielded_becomes_notifications() {
        let mut registry = Registry::new(16);
        let mut n = registry.add_notifications();
        let room = RoomId(1);
        let (drops, mut notices) = mpsc::unbounded_channel();
        let view = Subscription::new(hold(&mut registry, 1, 0), Topic::Room(room), drops, None);
        registry.set_wire(room, Wire::Live);
        for seq in 1..=3 {
            registry.deliver_room(room, message(1, seq));
        }
        let mut view = view;
        use futures_util::StreamExt;
        let first = view.next().await.expect("an item").expect("an event");
        assert!(matches!(first, RoomEvent::Message(m) if m.seq == Seq(1)));
        // Dropped with 2 and 3 unread; 4 comes before the connection handles the notice.
        drop(view);
        assert_eq!(
            registry.deliver_room(room, message(1, 4)),
            Delivery::Delivered,
            "kept aside for the dropped stream"
        );
        let Dropped {
            topic,
            id,
            leftovers,
        } = notices.try_recv().expect("a notice");
        assert_eq!(
            registry.remove(topic, id, leftovers),
            Removed::Last { wire: true }
        );
        registry.deliver_room(room, message(1, 5));
        assert_eq!(
            notes(&mut n),
            [(1, 2, None), (1, 3, None), (1, 4, None), (1, 5, None)]
        );
    }

    #[test]
    fn a_stream_that_stays_keeps_the_room_on_screen() {
        let mut registry = Registry::new(16);
        let mut n = registry.add_notifications();
        let room = RoomId(1);
        let old = hold(&mut registry, 1, 0);
        let mut stays = hold(&mut registry, 1, 0);
        registry.set_wire(room, Wire::Live);
        registry.deliver_room(room, message(1, 1));
        // The old stream goes with 1 unread: the other one has it, so it is not a notification.
        assert_eq!(drop_stream(&mut registry, old, 1), Removed::Kept);
        registry.deliver_room(room, message(1, 2));
        assert_eq!(seqs(&mut stays), [1, 2]);
        assert!(notes(&mut n).is_empty());
    }

    #[test]
    fn streams_dropped_together_give_their_unread_messages_once() {
        let mut registry = Registry::new(16);
        let mut n = registry.add_notifications();
        let room = RoomId(1);
        let (drops, mut notices) = mpsc::unbounded_channel();
        let early = Subscription::new(
            hold(&mut registry, 1, 0),
            Topic::Room(room),
            drops.clone(),
            None,
        );
        registry.set_wire(room, Wire::Live);
        registry.deliver_room(room, message(1, 1));
        let late = Subscription::new(hold(&mut registry, 1, 0), Topic::Room(room), drops, None);
        registry.deliver_room(room, message(1, 2));
        // Both go before the connection hears of either: 1 only the early one had, 2 both.
        drop(early);
        drop(late);
        registry.deliver_room(room, message(1, 3));
        let mut removed = Vec::new();
        while let Ok(Dropped {
            topic,
            id,
            leftovers,
        }) = notices.try_recv()
        {
            removed.push(registry.remove(topic, id, leftovers));
        }
        assert_eq!(removed, [Removed::Kept, Removed::Last { wire: true }]);
        assert_eq!(notes(&mut n), [(1, 1, None), (1, 2, None), (1, 3, None)]);
    }

    #[test]
    fn subscribing_again_resumes_after_what_was_routed() {
        let mut registry = Registry::new(16);
        let mut n = registry.add_notifications();
        let room = RoomId(1);
        let mut view = hold(&mut registry, 1, 0);
        registry.set_wire(room, Wire::Live);
        registry.deliver_room(room, message(1, 1));
        assert_eq!(seqs(&mut view), [1]);
        assert_eq!(
            drop_stream(&mut registry, view, 1),
            Removed::Last { wire: true }
        );
        registry.deliver_room(room, message(1, 2));
        // Two publishers raced: the server's notification of 4 overtook 3's.
        assert!(registry.deliver_notification(notification(1, 4, 2)));
        assert_eq!(notes(&mut n), [(1, 2, None), (1, 4, Some(2))]);

        // Opened again, with no anchor (or a newer one, read before 3 and 4 came): it
        // resumes after 2, the last message routed in order, and passes over 4.
        let (mut again, first) = registry.add_room(room, None).expect("resumable");
        assert!(first);
        assert_eq!(registry.last_seq(room), Some(Seq(2)), "the since-seq");
        // The replay: 3 to 5; the late notification of 3 is not passed on.
        assert!(!registry.deliver_notification(notification(1, 3, 2)));
        for seq in 3..=5 {
            registry.deliver_room(room, message(1, seq));
        }
        assert_eq!(seqs(&mut again), [3, 5], "4 was a notification already");
        assert!(notes(&mut n).is_empty());
    }

    #[test]
    fn a_notification_racing_the_first_subscribe_is_not_replayed() {
        let mut registry = Registry::new(16);
        let mut n = registry.add_notifications();
        let room = RoomId(7);
        // A room never held: its first subscribe needs the room's latest seq.
        assert!(registry.add_room(room, None).is_none());
        // It read seq 6 as the latest; 7 and 8 came as notifications before the subscribe.
        assert!(registry.deliver_notification(notification(7, 7, 1)));
        assert!(registry.deliver_notification(notification(7, 8, 2)));
        let mut view = hold(&mut registry, 7, 6);
        assert_eq!(registry.last_seq(room), Some(Seq(6)));
        for seq in 7..=9 {
            registry.deliver_room(room, message(7, seq));
        }
        assert_eq!(seqs(&mut view), [9]);
        assert_eq!(notes(&mut n), [(7, 7, Some(1)), (7, 8, Some(2))]);
    }

    #[test]
    fn routing_is_remembered_for_the_connection_only() {
        let mut registry = Registry::new(16);
        let room = RoomId(1);
        let view = hold(&mut registry, 1, 4);
        registry.set_wire(room, Wire::Live);
        drop_stream(&mut registry, view, 1);
        registry.disconnected();
        // Notifications are live only, so after a reconnect the room starts afresh.
        assert!(registry.add_room(room, None).is_none());
        // Offline, a released room leaves no record either.
        let view = hold(&mut registry, 1, 4);
        assert_eq!(
            drop_stream(&mut registry, view, 1),
            Removed::Last { wire: false }
        );
        assert!(registry.add_room(room, None).is_none());
    }

    #[test]
    fn routed_seqs_fold_into_the_floor_and_stay_bounded() {
        let mut routed = Routed {
            floor: Some(Seq(10)),
            above: BTreeSet::new(),
        };
        routed.insert(Seq(12));
        assert!(routed.contains(Seq(9)) && routed.contains(Seq(12)));
        assert!(!routed.contains(Seq(11)));
        routed.insert(Seq(11));
        assert_eq!(routed.floor, Some(Seq(12)));
        assert!(routed.above.is_empty());

        // A room never held has no floor until its memory is full.
        let mut fresh = Routed::default();
        for seq in (100..100 + ROUTED_MEMORY as u64 + 5).rev() {
            fresh.insert(Seq(seq));
        }
        assert!(fresh.above.is_empty(), "{fresh:?}");
        assert_eq!(fresh.floor, Some(Seq(100 + ROUTED_MEMORY as u64 + 4)));
        let mut gappy = Routed::default();
        for seq in (0..=ROUTED_MEMORY as u64 * 2).step_by(2) {
            gappy.insert(Seq(seq));
        }
        assert_eq!(gappy.above.len(), ROUTED_MEMORY);
    }

    #[test]
    fn routed_seqs_at_the_top_of_the_range_do_not_overflow() {
        // Seqs come from the network; the largest one must not make the floor overflow.
        let mut routed = Routed {
            floor: Some(Seq(u64::MAX - 2)),
            above: BTreeSet::new(),
        };
        routed.insert(Seq(u64::MAX));
        routed.insert(Seq(u64::MAX - 1));
        assert_eq!(routed.floor, Some(Seq(u64::MAX)));
        assert!(routed.above.is_empty());
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_dropped_with_lagged_and_others_go_on() {
        use futures_util::StreamExt;
        let mut registry = Registry::new(2);
        let mut n = registry.add_notifications();
        let room = RoomId(1);
        let slow = hold(&mut registry, 1, 0);
        let mut fast = hold(&mut registry, 1, 0);
        let (drops, _drops_rx) = mpsc::unbounded_channel();
        let mut slow = Subscription::new(slow, Topic::Room(room), drops, None);
        for seq in 1..=2 {
            assert_eq!(
                registry.deliver_room(room, message(1, seq)),
                Delivery::Delivered
            );
            assert_eq!(seqs(&mut fast), [seq]);
        }
        // The slow one's buffer (2) is full: the third message drops it, the fast one gets it.
        registry.deliver_room(room, message(1, 3));
        assert_eq!(seqs(&mut fast), [3]);
        let mut got = Vec::new();
        while let Some(item) = slow.next().await {
            got.push(item.map(|e| match e {
                RoomEvent::Message(m) => m.seq.0,
                _ => 0,
            }));
        }
        assert!(matches!(
            got.as_slice(),
            [Ok(1), Ok(2), Err(Error::Lagged { capacity: 2 })]
        ));
        // When the last subscriber falls behind the entry goes, and the wire subscription with
        // it; the message it could not take goes to the notifications, and so do later ones.
        registry.set_wire(room, Wire::Live);
        registry.deliver_room(room, message(1, 4));
        registry.deliver_room(room, message(1, 5));
        assert_eq!(
            registry.deliver_room(room, message(1, 6)),
            Delivery::Emptied { wire: true }
        );
        assert!(!registry.holds(room));
        assert_eq!(
            registry.deliver_room(room, message(1, 7)),
            Delivery::Rerouted
        );
        assert_eq!(notes(&mut n), [(1, 6, None), (1, 7, None)]);
    }

    #[test]
    fn notifications_skip_rooms_held_on_their_topic() {
        let mut registry = Registry::new(8);
        let mut n = registry.add_notifications();
        let _room = hold(&mut registry, 1, 0);
        assert!(!registry.deliver_notification(notification(1, 1, 1)));
        assert!(registry.deliver_notification(notification(2, 1, 1)));
        registry.deliver_notification(Notification::Read {
            room_id: RoomId(1),
            seq: Seq(1),
        });
        let mut got = Vec::new();
        while let Ok(event) = n.events.try_recv() {
            got.push(event);
        }
        assert_eq!(got.len(), 2);
        assert!(matches!(
            got[0],
            Notification::Message {
                room_id: RoomId(2),
                ..
            }
        ));
        assert!(matches!(got[1], Notification::Read { .. }));
    }

    #[tokio::test]
    async fn ending_gives_every_stream_the_reason() {
        use futures_util::StreamExt;
        let mut registry = Registry::new(8);
        let parts = hold(&mut registry, 1, 0);
        let notes = registry.add_notifications();
        let (drops, mut drops_rx) = mpsc::unbounded_channel();
        let mut room = Subscription::new(parts, Topic::Room(RoomId(1)), drops.clone(), None);
        let mut notes = Subscription::new(notes, Topic::Notifications, drops, None);
        registry.end_all(&Error::Closed);
        assert!(matches!(room.next().await, Some(Err(Error::Closed))));
        assert!(room.next().await.is_none());
        assert!(matches!(notes.next().await, Some(Err(Error::Closed))));
        drop(room);
        let dropped = drops_rx.recv().await.expect("a drop notice");
        assert_eq!(dropped.topic, Topic::Room(RoomId(1)));
        assert!(
            dropped.leftovers.is_none(),
            "an ended stream has nothing left"
        );
    }
}
