//! The subscription registry: which destinations this client wants, who listens to each, and
//! how far each room has been delivered. Owned by the connection task; no I/O.
//!
//! # Reference counting
//!
//! Every local subscriber of a room shares one entry, and so one STOMP `SUBSCRIBE` (the server
//! refuses a second one per destination anyway). [`Registry::add_room`] says whether the caller
//! is the first, [`Registry::remove`] whether it was the last; the connection task turns those
//! into `SUBSCRIBE` / `UNSUBSCRIBE`.
//!
//! # No gap, no duplicate
//!
//! Each room entry keeps `last_seq`, the highest `seq` handed to its subscribers (or, before
//! the first message, the room's latest `seq` when the entry was created). A message event
//! with `seq <= last_seq` is a duplicate (a `since-seq` replay overlapping live delivery) and
//! is dropped here, so a subscriber sees each message once. After a reconnect the connection
//! re-subscribes with `since-seq: last_seq`, so nothing committed meanwhile is missed.
//!
//! # Slow subscribers
//!
//! Each subscriber has a bounded buffer. A subscriber whose buffer is full when an event
//! arrives is dropped from the entry and its stream ends with [`Error::Lagged`] after the
//! events it already has. The connection never waits for a subscriber (that would stall every
//! other one and, in the end, get the connection closed by the server as a slow consumer), and
//! never drops an event silently for a subscriber that stays.

use crate::error::Error;
use crate::model::{Notification, RoomEvent, RoomId, Seq};
use crate::subscription::{Parts, Topic};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

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

/// The outcome of delivering a room event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Handed to the subscribers (some may have been dropped as slow, not all).
    Delivered,
    /// `seq` at or below what was delivered already; dropped.
    Duplicate,
    /// No entry for the room.
    Unheld,
    /// Every subscriber is gone (slow or dropped); the entry is removed. `wire` as in
    /// [`Removed::Last`].
    Emptied { wire: bool },
}

#[derive(Debug)]
struct Subscriber<T> {
    id: u64,
    events: mpsc::Sender<T>,
    end: oneshot::Sender<Error>,
}

impl<T> Subscriber<T> {
    fn finish(self, reason: Error) {
        // The stream may be gone already; then nobody needs the reason.
        let _ = self.end.send(reason);
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
        self.subscribers.push(Subscriber { id, events, end });
        Parts {
            id,
            events: rx,
            end: end_rx,
        }
    }

    fn remove(&mut self, id: u64) -> bool {
        let before = self.subscribers.len();
        self.subscribers.retain(|s| s.id != id);
        self.subscribers.len() != before
    }

    /// Hands `item` to every subscriber, dropping the ones that cannot take it (see module doc).
    fn publish(&mut self, item: &T, capacity: usize) {
        let subscribers = std::mem::take(&mut self.subscribers);
        for subscriber in subscribers {
            match subscriber.events.try_send(item.clone()) {
                Ok(()) => self.subscribers.push(subscriber),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    warn!(
                        subscriber = subscriber.id,
                        capacity, "dropping a subscriber that does not keep up"
                    );
                    subscriber.finish(Error::Lagged { capacity });
                }
                // The stream was dropped; its Dropped notice is on its way.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
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
    last_seq: Seq,
    wire: Wire,
}

/// Every destination this client subscribes to, with its local subscribers.
#[derive(Debug)]
pub(crate) struct Registry {
    rooms: HashMap<RoomId, RoomEntry>,
    notifications: Fanout<Notification>,
    capacity: usize,
    next_id: u64,
}

impl Registry {
    /// An empty registry whose subscribers buffer up to `capacity` events each.
    pub(crate) fn new(capacity: usize) -> Self {
        Registry {
            rooms: HashMap::new(),
            notifications: Fanout::new(),
            capacity: capacity.max(1),
            next_id: 0,
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds a subscriber to `room`. `anchor` is where a new entry starts (the room's latest
    /// `seq` when subscribing); it is ignored when the room is held already. Returns the
    /// subscriber and whether it created the entry (so a `SUBSCRIBE` is needed).
    pub(crate) fn add_room(&mut self, room: RoomId, anchor: Seq) -> (Parts<RoomEvent>, bool) {
        let id = self.next_id();
        let capacity = self.capacity;
        let mut first = false;
        let entry = self.rooms.entry(room).or_insert_with(|| {
            first = true;
            RoomEntry {
                fanout: Fanout::new(),
                last_seq: anchor,
                wire: Wire::Idle,
            }
        });
        (entry.fanout.add(id, capacity), first)
    }

    /// Adds a subscriber to the notifications.
    pub(crate) fn add_notifications(&mut self) -> Parts<Notification> {
        let id = self.next_id();
        self.notifications.add(id, self.capacity)
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

    /// The connection dropped: nothing is subscribed on the wire any more.
    pub(crate) fn disconnected(&mut self) {
        for entry in self.rooms.values_mut() {
            entry.wire = Wire::Idle;
        }
    }

    /// Removes one subscriber (its stream was dropped).
    pub(crate) fn remove(&mut self, topic: Topic, id: u64) -> Removed {
        match topic {
            Topic::Notifications => {
                if self.notifications.remove(id) {
                    Removed::Kept
                } else {
                    Removed::Unknown
                }
            }
            Topic::Room(room) => {
                let Some(entry) = self.rooms.get_mut(&room) else {
                    return Removed::Unknown;
                };
                if !entry.fanout.remove(id) {
                    return Removed::Unknown;
                }
                if !entry.fanout.subscribers.is_empty() {
                    return Removed::Kept;
                }
                let wire = entry.wire != Wire::Idle;
                self.rooms.remove(&room);
                Removed::Last { wire }
            }
        }
    }

    /// Hands a room-topic event to the room's subscribers, dropping duplicates (module doc).
    pub(crate) fn deliver_room(&mut self, room: RoomId, event: RoomEvent) -> Delivery {
        let capacity = self.capacity;
        let Some(entry) = self.rooms.get_mut(&room) else {
            return Delivery::Unheld;
        };
        if let RoomEvent::Message(message) = &event {
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
        }
        entry.fanout.publish(&event, capacity);
        if entry.fanout.subscribers.is_empty() {
            let wire = entry.wire != Wire::Idle;
            self.rooms.remove(&room);
            return Delivery::Emptied { wire };
        }
        Delivery::Delivered
    }

    /// Hands a notification to the notification subscribers. A message of a room this client
    /// holds is not passed on: the room's topic delivers it (its `since-seq` replay included),
    /// which keeps the contract's "one copy per connection" true per client. Returns whether
    /// it was passed on.
    pub(crate) fn deliver_notification(&mut self, event: Notification) -> bool {
        if let Notification::Message { room_id, .. } = &event {
            if self.holds(*room_id) {
                return false;
            }
        }
        self.notifications.publish(&event, self.capacity);
        true
    }

    /// Ends every subscriber of `room` with `reason` and forgets the room.
    pub(crate) fn end_room(&mut self, room: RoomId, reason: &Error) {
        if let Some(mut entry) = self.rooms.remove(&room) {
            entry.fanout.end_all(reason);
        }
    }

    /// Ends every subscriber with `reason` (the client is closing).
    pub(crate) fn end_all(&mut self, reason: &Error) {
        for (_, mut entry) in self.rooms.drain() {
            entry.fanout.end_all(reason);
        }
        self.notifications.end_all(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Message, MessageId, User, UserId};

    fn message(room: i64, seq: u64) -> RoomEvent {
        RoomEvent::Message(Message {
            id: MessageId(seq as i64),
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
        })
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

    #[test]
    fn subscribers_of_a_room_share_one_entry() {
        let mut registry = Registry::new(8);
        let room = RoomId(1);
        let (a, first_a) = registry.add_room(room, Seq(0));
        let (b, first_b) = registry.add_room(room, Seq(99));
        assert!(first_a && !first_b);
        // The second anchor is ignored: the entry exists.
        assert_eq!(registry.last_seq(room), Some(Seq(0)));
        registry.set_wire(room, Wire::Live);
        assert_eq!(registry.remove(Topic::Room(room), a.id), Removed::Kept);
        assert_eq!(registry.remove(Topic::Room(room), a.id), Removed::Unknown);
        assert_eq!(
            registry.remove(Topic::Room(room), b.id),
            Removed::Last { wire: true }
        );
        assert!(!registry.holds(room));
        let (c, first_c) = registry.add_room(room, Seq(5));
        assert!(first_c);
        assert_eq!(
            registry.remove(Topic::Room(room), c.id),
            Removed::Last { wire: false }
        );
    }

    #[test]
    fn every_subscriber_gets_each_message_once_in_order() {
        let mut registry = Registry::new(16);
        let room = RoomId(1);
        let (mut a, _) = registry.add_room(room, Seq(2));
        let (mut b, _) = registry.add_room(room, Seq(2));
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
        assert_eq!(
            registry.deliver_room(RoomId(2), message(2, 1)),
            Delivery::Unheld
        );
    }

    #[test]
    fn last_seq_survives_a_disconnect() {
        let mut registry = Registry::new(16);
        let room = RoomId(3);
        let (_a, _) = registry.add_room(room, Seq(0));
        registry.set_wire(room, Wire::Live);
        registry.deliver_room(room, message(3, 1));
        registry.deliver_room(room, message(3, 2));
        registry.disconnected();
        assert_eq!(registry.wire(room), Some(&Wire::Idle));
        assert_eq!(registry.rooms(), [room]);
        assert_eq!(registry.last_seq(room), Some(Seq(2)));
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_dropped_with_lagged_and_others_go_on() {
        use futures_util::StreamExt;
        let mut registry = Registry::new(2);
        let room = RoomId(1);
        let (slow, _) = registry.add_room(room, Seq(0));
        let (mut fast, _) = registry.add_room(room, Seq(0));
        let (drops, _drops_rx) = mpsc::unbounded_channel();
        let mut slow = crate::subscription::Subscription::new(slow, Topic::Room(room), drops, None);
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
        // When the last subscriber falls behind the entry goes, and the wire subscription with it.
        registry.set_wire(room, Wire::Live);
        registry.deliver_room(room, message(1, 4));
        registry.deliver_room(room, message(1, 5));
        assert_eq!(
            registry.deliver_room(room, message(1, 6)),
            Delivery::Emptied { wire: true }
        );
        assert!(!registry.holds(room));
    }

    #[test]
    fn notifications_skip_rooms_held_on_their_topic() {
        let mut registry = Registry::new(8);
        let mut n = registry.add_notifications();
        let (_room, _) = registry.add_room(RoomId(1), Seq(0));
        let RoomEvent::Message(m1) = message(1, 1) else {
            unreachable!()
        };
        let RoomEvent::Message(m2) = message(2, 1) else {
            unreachable!()
        };
        for (room, m) in [(1, m1), (2, m2)] {
            registry.deliver_notification(Notification::Message {
                room_id: RoomId(room),
                message: m,
                unread: 1,
            });
        }
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
        let (parts, _) = registry.add_room(RoomId(1), Seq(0));
        let notes = registry.add_notifications();
        let (drops, mut drops_rx) = mpsc::unbounded_channel();
        let mut room = crate::subscription::Subscription::new(
            parts,
            Topic::Room(RoomId(1)),
            drops.clone(),
            None,
        );
        let mut notes =
            crate::subscription::Subscription::new(notes, Topic::Notifications, drops, None);
        registry.end_all(&Error::Closed);
        assert!(matches!(room.next().await, Some(Err(Error::Closed))));
        assert!(room.next().await.is_none());
        assert!(matches!(notes.next().await, Some(Err(Error::Closed))));
        drop(room);
        let dropped = drops_rx.recv().await.expect("a drop notice");
        assert_eq!(dropped.topic, Topic::Room(RoomId(1)));
    }
}
