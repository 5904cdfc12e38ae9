//! Where a message goes on one connection: the contract's delivery rules (rules 3 and 6) as
//! plain data, decided once per message per connection.
//!
//! This module owns [`Routing`], the connection's view of its room topics: for each subscribed
//! room its *seq filter* and its topic subscriptions, and for each room whose topic
//! subscription ended the mark of what it sent. It reaches no I/O: no socket, no store, no hub,
//! nothing async. The session asks it where a message goes ([`Routing::route`]) and does what
//! the answer says, in the same task that handles SUBSCRIBE and UNSUBSCRIBE, so the state
//! cannot change under a decision.
//!
//! # The rules
//!
//! The hub gives the session one item per message for its user, whatever the connection
//! subscribes to. For each, [`Routing::route`] picks one [`Route`]:
//! - subscribed to the room's topic: on the topic, through the room's seq filter;
//! - otherwise as a notification (nowhere, when the connection subscribes to neither).
//!
//! One decision per message per connection gives "one route per connection, never both, never
//! neither" (rule 3). On the topic each subscription to the room gets its own MESSAGE frame
//! (STOMP): a connection may subscribe one room twice, say from two components.
//!
//! **The seq filter.** It is shared by all the room's subscriptions and remembers the last
//! `seq` sent on the room's topic (`delivered`):
//! - `seq <= delivered` was sent already (by a `since-seq` replay): skipped, so no duplicate;
//! - `seq == delivered + 1`: sent;
//! - `seq > delivered + 1`: the messages in between are read from the store and sent first.
//!   The store commits `seq = n` only after every smaller `seq` of the room, so they are there.
//!   This keeps rule 6 (seq order) even when two publishers race, or when a publication was
//!   lost between nodes.
//!
//! **`since-seq`.** A `since-seq: N` subscription enters the filter *before* the store is read,
//! so every message committed after that point is also in the session's queue: the replay
//! ([`Replay`]) reads everything after N, the filter then drops what the replay already sent.
//! No gap, no duplicate.
//!
//! **Live from.** A subscription without `since-seq` is live from the room's last `seq` when it
//! began. A message committed before that (still in the queue when the SUBSCRIBE was handled)
//! goes where it would have gone when it was published: to the notification queue. So a
//! publisher that loses a race cannot make a message vanish between the two routes.
//!
//! **Left marks.** The same race at the other end: after an UNSUBSCRIBE, a late publication
//! that the filter had already sent by filling a gap (or a replay had sent) would otherwise
//! come again as a notification. Each ended topic subscription leaves a mark of the `seq`s it
//! sent ([`TopicSent`]), whether it ended by UNSUBSCRIBE or by a leave, and the mark outlives a
//! new subscription to the room (whose live-from point routes such a late one to the
//! notifications, where the mark stops it).
//!
//! **Joining.** A further subscription to a room already subscribed joins its filter. With
//! `since-seq: N` it alone first gets the stored messages in `N < seq <= delivered`, and it
//! skips live ones up to `N` ([`RoomSubscriber::holds`]); either way every later message
//! reaches every subscription of the room once, in seq order.
//!
//! **Room heads.** Every few seconds the node tells each connection the last `seq` its rooms
//! had in the store a while ago (see `heads`). A room whose filter is behind that head lost a
//! publication (its node died between commit and publish): [`Routing::behind`] says from
//! where, and the session fills the gap from the store as for any other gap.
//!
//! On one node none of these races happen in practice: the group commit publishes in commit
//! order (see `rooms`). They matter for publications that travel between nodes.

use crate::model::{RoomId, Seq};
use std::collections::HashMap;

/// Most rooms remembered as left (see [`TopicSent`]). Only late publications need the marks;
/// losing them all at once merely lets such a rare late copy through as a notification.
const MAX_LEFT_ROOMS: usize = 1024;

/// Where one message goes on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// On the room's topic: one frame for each subscription that [`Routing::send_on_topic`]
    /// names.
    Topic,
    /// On the room's topic, once the stored messages with `after < seq < before` (which the
    /// filter has not sent, and which the store holds already) have gone out first, each
    /// through [`Routing::send_on_topic`].
    FillGapThenTopic {
        /// The filter's `delivered`: the last `seq` sent on the topic.
        after: Seq,
        /// The `seq` of the message that found the gap.
        before: Seq,
    },
    /// On the notification queue, one frame for each subscription to it (none: nowhere).
    Notification,
    /// Nowhere: the connection has it already.
    Skip,
}

/// The stored messages a new `since-seq` subscription gets first, by itself:
/// `after < seq <= upto`. `upto` is the room's last `seq` when the subscription entered the
/// filter; everything later comes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Replay {
    /// The `since-seq` the client holds up to.
    pub(super) after: Seq,
    /// The last `seq` the replay sends.
    pub(super) upto: Seq,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TopicSent {
    after: Seq,
    upto: Seq,
}

impl TopicSent {
    fn covers(self, seq: Seq) -> bool {
        self.after < seq && seq <= self.upto
    }
}

/// A connection's delivery routing: each subscribed room's seq filter and topic subscriptions,
/// and the left marks of ended ones (see the module doc). Subscriptions are known here by their
/// id; what their frames look like is the session's subscription table's business.
#[derive(Debug, Default)]
pub(super) struct Routing {
    /// Room -> its seq filter and its topic subscriptions (one or more).
    rooms: HashMap<RoomId, RoomSubscription>,
    /// Rooms whose topic subscription ended on this connection (by UNSUBSCRIBE or a leave) ->
    /// what it sent. A late publication in that range went out on the topic already (a replay
    /// or a gap fill sends ahead of publications), so it must not come again as a
    /// notification. The mark outlives a new subscription to the room, whose live-from point
    /// sends such a late one to the notification route too.
    left: HashMap<RoomId, TopicSent>,
}

impl Routing {
    /// Where message `seq` of `room` goes. Forgets a left mark that a later message has made
    /// useless; the caller does the rest: a [`Route::Topic`] message (after a gap fill) is
    /// sent through [`Routing::send_on_topic`].
    pub(super) fn route(&mut self, room: RoomId, seq: Seq) -> Route {
        if let Some(shared) = self.rooms.get(&room) {
            let committed_before = shared.live_after.is_some_and(|first| seq <= first);
            if !committed_before {
                return if seq <= shared.delivered {
                    Route::Skip
                } else if seq > shared.delivered + 1 {
                    Route::FillGapThenTopic {
                        after: shared.delivered,
                        before: seq,
                    }
                } else {
                    Route::Topic
                };
            }
        }
        match self.left.get(&room) {
            Some(sent) if sent.covers(seq) => return Route::Skip,
            // A later message has come, so the late copies the mark guarded are past.
            Some(sent) if seq > sent.upto && !self.rooms.contains_key(&room) => {
                self.left.remove(&room);
            }
            _ => {}
        }
        Route::Notification
    }

    /// Records that message `seq` of `room` goes out on the topic (the filter moves past it)
    /// and names the subscriptions that get a frame of it, in subscription order: every one
    /// that does not hold it already. Nothing when the room has no topic subscription.
    pub(super) fn send_on_topic(
        &mut self,
        room: RoomId,
        seq: Seq,
    ) -> impl Iterator<Item = &str> + '_ {
        let shared = self.rooms.get_mut(&room).map(|shared| {
            shared.delivered = shared.delivered.max(seq);
            &*shared
        });
        shared.into_iter().flat_map(move |shared| {
            shared
                .subscribers
                .iter()
                .filter(move |subscriber| seq > subscriber.holds)
                .map(|subscriber| subscriber.id.as_str())
        })
    }

    /// The filter's `delivered` when `room`'s topic is behind `head` (the room's last `seq` in
    /// the store): the stored messages `delivered < seq <= head` are owed. Nothing when the
    /// topic has them all, or the connection does not subscribe to the room.
    pub(super) fn behind(&self, room: RoomId, head: Seq) -> Option<Seq> {
        let shared = self.rooms.get(&room)?;
        (head > shared.delivered).then_some(shared.delivered)
    }

    /// The rooms whose topic the connection subscribes to.
    pub(super) fn rooms(&self) -> impl ExactSizeIterator<Item = RoomId> + '_ {
        self.rooms.keys().copied()
    }

    /// Whether the connection subscribes to `room`'s topic.
    pub(super) fn is_subscribed(&self, room: RoomId) -> bool {
        self.rooms.contains_key(&room)
    }

    /// Every subscription to `room`'s topic, in subscription order: where room events that
    /// have no `seq` (typing) go, one frame each.
    pub(super) fn topic_subscribers(&self, room: RoomId) -> impl Iterator<Item = &str> + '_ {
        self.rooms.get(&room).into_iter().flat_map(|shared| {
            shared
                .subscribers
                .iter()
                .map(|subscriber| subscriber.id.as_str())
        })
    }

    /// The first topic subscription `id` to `room` (it has none, see
    /// [`Routing::is_subscribed`]), begun when the room's last `seq` was `last`. Without
    /// `since-seq` it is live after `last`; with `since-seq: N` it holds nothing yet and is
    /// owed the [`Replay`] of `N < seq <= last`.
    pub(super) fn open(
        &mut self,
        room: RoomId,
        id: String,
        since: Option<Seq>,
        last: Seq,
    ) -> Option<Replay> {
        self.rooms.insert(
            room,
            RoomSubscription {
                subscribers: vec![RoomSubscriber {
                    id,
                    holds: Seq::ZERO,
                }],
                delivered: last,
                live_after: since.is_none().then_some(last),
            },
        );
        since
            .filter(|&since| since < last)
            .map(|after| Replay { after, upto: last })
    }

    /// A further topic subscription `id` to `room`, which has one already (see
    /// [`Routing::is_subscribed`]; otherwise nothing changes). It joins the room's filter:
    /// without `since-seq` it holds what the filter delivered; with `since-seq: N` it holds up
    /// to `N` and is owed the [`Replay`] of `N < seq <= delivered`.
    pub(super) fn join(&mut self, room: RoomId, id: String, since: Option<Seq>) -> Option<Replay> {
        let shared = self.rooms.get_mut(&room)?;
        let delivered = shared.delivered;
        if since.is_some() {
            // A message up to `delivered` is now on the topic (replayed, or held by the client),
            // so a late one at or below it must not also come as a notification.
            shared.live_after = None;
        }
        shared.subscribers.push(RoomSubscriber {
            id,
            holds: since.unwrap_or(delivered),
        });
        since
            .filter(|&since| since < delivered)
            .map(|after| Replay {
                after,
                upto: delivered,
            })
    }

    /// Ends topic subscription `id` to `room`. The last one of a room takes the room's seq
    /// filter with it and leaves its left mark.
    pub(super) fn unsubscribe(&mut self, room: RoomId, id: &str) {
        let Some(shared) = self.rooms.get_mut(&room) else {
            return;
        };
        shared.subscribers.retain(|subscriber| subscriber.id != id);
        if shared.subscribers.is_empty() {
            self.end_room(room);
        }
    }

    /// Ends every topic subscription to `room` (the user left it), dropping its seq filter and
    /// leaving its left mark. An earlier mark that this one overlaps or continues is merged
    /// in; a disjoint one gives way. Returns the ids of the subscriptions that ended, or
    /// nothing when the room had none.
    pub(super) fn end_room(&mut self, room: RoomId) -> Option<impl Iterator<Item = String>> {
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
            self.left.clear();
        }
        self.left.insert(room, sent);
        Some(
            shared
                .subscribers
                .into_iter()
                .map(|subscriber| subscriber.id),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: RoomId = RoomId(7);
    const OTHER: RoomId = RoomId(8);

    /// The subscriptions that get a frame of `seq`, as the session would send it.
    fn send(routing: &mut Routing, seq: Seq) -> Vec<String> {
        routing
            .send_on_topic(ROOM, seq)
            .map(str::to_string)
            .collect()
    }

    /// What the session does with every message of `seqs`, in order: the stored messages of a
    /// gap first, then the message itself. Returns (seq, subscription) per topic frame, and
    /// the seqs that went as notifications.
    fn deliver(routing: &mut Routing, seqs: &[u64]) -> (Vec<(Seq, String)>, Vec<Seq>) {
        let mut topic = Vec::new();
        let mut notified = Vec::new();
        for seq in seqs.iter().copied().map(Seq) {
            match routing.route(ROOM, seq) {
                Route::Skip => {}
                Route::Notification => notified.push(seq),
                Route::FillGapThenTopic { after, before } => {
                    for stored in (after.0 + 1..before.0).map(Seq) {
                        topic.extend(send(routing, stored).into_iter().map(|id| (stored, id)));
                    }
                    topic.extend(send(routing, seq).into_iter().map(|id| (seq, id)));
                }
                Route::Topic => topic.extend(send(routing, seq).into_iter().map(|id| (seq, id))),
            }
        }
        (topic, notified)
    }

    fn on(id: &str, seqs: impl IntoIterator<Item = u64>) -> Vec<(Seq, String)> {
        seqs.into_iter()
            .map(|seq| (Seq(seq), id.to_string()))
            .collect()
    }

    #[test]
    fn a_room_not_subscribed_goes_to_the_notifications() {
        let mut routing = Routing::default();
        routing.open(OTHER, "o".into(), None, Seq(0));
        assert_eq!(routing.route(ROOM, Seq(1)), Route::Notification);
        assert!(!routing.is_subscribed(ROOM));
        assert_eq!(send(&mut routing, Seq(1)), Vec::<String>::new());
    }

    #[test]
    fn the_next_seq_goes_on_the_topic_once() {
        let mut routing = Routing::default();
        assert_eq!(routing.open(ROOM, "a".into(), None, Seq(5)), None);
        assert_eq!(routing.route(ROOM, Seq(6)), Route::Topic);
        assert_eq!(send(&mut routing, Seq(6)), ["a"]);
        assert_eq!(
            routing.route(ROOM, Seq(6)),
            Route::Skip,
            "a duplicate is skipped"
        );
        assert_eq!(routing.route(ROOM, Seq(7)), Route::Topic);
    }

    #[test]
    fn a_since_seq_replay_is_not_sent_again_live() {
        let mut routing = Routing::default();
        let replay = routing.open(ROOM, "a".into(), Some(Seq(2)), Seq(5));
        assert_eq!(
            replay,
            Some(Replay {
                after: Seq(2),
                upto: Seq(5)
            })
        );
        let (topic, notified) = deliver(&mut routing, &[3, 4, 5, 6]);
        assert_eq!(topic, on("a", [6]), "3 to 5 came with the replay");
        assert!(notified.is_empty());
    }

    #[test]
    fn a_since_seq_at_or_past_the_last_seq_replays_nothing() {
        let mut routing = Routing::default();
        assert_eq!(routing.open(ROOM, "a".into(), Some(Seq(5)), Seq(5)), None);
        assert_eq!(routing.open(OTHER, "b".into(), Some(Seq(9)), Seq(5)), None);
    }

    #[test]
    fn a_gap_is_filled_from_the_store_before_the_message() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), None, Seq(5));
        assert_eq!(
            routing.route(ROOM, Seq(9)),
            Route::FillGapThenTopic {
                after: Seq(5),
                before: Seq(9)
            }
        );
        let (topic, _) = deliver(&mut routing, &[9, 7, 8, 10]);
        assert_eq!(topic, on("a", [6, 7, 8, 9, 10]), "in seq order, each once");
    }

    #[test]
    fn a_room_head_past_the_filter_asks_for_the_rest() {
        let mut routing = Routing::default();
        assert_eq!(routing.behind(ROOM, Seq(3)), None, "not subscribed");
        routing.open(ROOM, "a".into(), None, Seq(5));
        assert_eq!(routing.behind(ROOM, Seq(5)), None, "up to date");
        assert_eq!(routing.behind(ROOM, Seq(4)), None, "an old head");
        assert_eq!(routing.behind(ROOM, Seq(7)), Some(Seq(5)));
        let (topic, _) = deliver(&mut routing, &[6, 7]);
        assert_eq!(topic, on("a", [6, 7]));
        assert_eq!(routing.behind(ROOM, Seq(7)), None, "filled");
        assert_eq!(routing.rooms().collect::<Vec<_>>(), [ROOM]);
    }

    #[test]
    fn a_message_committed_before_a_live_subscription_goes_to_the_notifications() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), None, Seq(5));
        let (topic, notified) = deliver(&mut routing, &[4, 5, 6]);
        assert_eq!(topic, on("a", [6]));
        assert_eq!(
            notified,
            [Seq(4), Seq(5)],
            "the route they had when they were published"
        );
    }

    #[test]
    fn a_late_copy_after_unsubscribe_is_not_sent_twice() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), Some(Seq(0)), Seq(3));
        routing.unsubscribe(ROOM, "a");
        assert!(!routing.is_subscribed(ROOM));
        let (topic, notified) = deliver(&mut routing, &[2, 3]);
        assert!(topic.is_empty());
        assert!(notified.is_empty(), "the replay sent them on the topic");
    }

    #[test]
    fn a_later_message_retires_the_left_mark() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), Some(Seq(0)), Seq(3));
        routing.unsubscribe(ROOM, "a");
        assert_eq!(routing.route(ROOM, Seq(4)), Route::Notification);
        assert_eq!(
            routing.route(ROOM, Seq(3)),
            Route::Notification,
            "the mark is gone once a later message came"
        );
    }

    #[test]
    fn a_left_mark_covers_only_what_the_topic_sent() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), None, Seq(5));
        assert_eq!(send(&mut routing, Seq(6)), ["a"]);
        routing.unsubscribe(ROOM, "a");
        assert_eq!(
            routing.route(ROOM, Seq(5)),
            Route::Notification,
            "before it began"
        );
        assert_eq!(
            routing.route(ROOM, Seq(6)),
            Route::Skip,
            "sent on the topic"
        );
    }

    #[test]
    fn a_left_mark_outlives_a_new_live_subscription() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), Some(Seq(0)), Seq(3));
        routing.unsubscribe(ROOM, "a");
        routing.open(ROOM, "b".into(), None, Seq(3));
        assert_eq!(
            routing.route(ROOM, Seq(3)),
            Route::Skip,
            "the replay of `a` sent it"
        );
        assert_eq!(
            routing.route(ROOM, Seq(5)),
            Route::FillGapThenTopic {
                after: Seq(3),
                before: Seq(5)
            }
        );
        assert_eq!(
            routing.route(ROOM, Seq(2)),
            Route::Skip,
            "a subscribed room keeps its mark"
        );
    }

    #[test]
    fn left_marks_that_continue_each_other_merge() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), Some(Seq(0)), Seq(3));
        routing.unsubscribe(ROOM, "a");
        routing.open(ROOM, "b".into(), None, Seq(3));
        assert_eq!(send(&mut routing, Seq(4)), ["b"]);
        routing.unsubscribe(ROOM, "b");
        assert_eq!(routing.route(ROOM, Seq(2)), Route::Skip);
        assert_eq!(routing.route(ROOM, Seq(4)), Route::Skip);
    }

    #[test]
    fn a_disjoint_left_mark_gives_way() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), Some(Seq(0)), Seq(3));
        routing.unsubscribe(ROOM, "a");
        routing.open(ROOM, "b".into(), None, Seq(5));
        assert_eq!(send(&mut routing, Seq(6)), ["b"]);
        routing.unsubscribe(ROOM, "b");
        assert_eq!(routing.route(ROOM, Seq(2)), Route::Notification);
        assert_eq!(routing.route(ROOM, Seq(6)), Route::Skip);
    }

    #[test]
    fn left_marks_are_bounded() {
        let mut routing = Routing::default();
        for room in 0..MAX_LEFT_ROOMS as i64 {
            routing.open(RoomId(room), "a".into(), Some(Seq(0)), Seq(1));
            routing.end_room(RoomId(room));
        }
        assert_eq!(routing.left.len(), MAX_LEFT_ROOMS);
        assert_eq!(routing.route(RoomId(0), Seq(1)), Route::Skip);
        routing.open(RoomId(i64::MAX), "a".into(), Some(Seq(0)), Seq(1));
        routing.end_room(RoomId(i64::MAX));
        assert_eq!(
            routing.left.len(),
            1,
            "all forgotten at once, the new one kept"
        );
        assert_eq!(routing.route(RoomId(0), Seq(1)), Route::Notification);
        assert_eq!(routing.route(RoomId(i64::MAX), Seq(1)), Route::Skip);
    }

    #[test]
    fn a_leave_ends_every_subscription_of_the_room_and_leaves_a_mark() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), Some(Seq(0)), Seq(3));
        routing.join(ROOM, "b".into(), None);
        let ended: Vec<String> = routing.end_room(ROOM).into_iter().flatten().collect();
        assert_eq!(ended, ["a", "b"]);
        assert!(routing.end_room(ROOM).is_none(), "nothing left to end");
        assert_eq!(routing.route(ROOM, Seq(3)), Route::Skip);
    }

    #[test]
    fn the_last_unsubscribe_of_a_room_ends_its_filter() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), None, Seq(0));
        routing.join(ROOM, "b".into(), None);
        routing.unsubscribe(ROOM, "a");
        assert!(routing.is_subscribed(ROOM));
        assert_eq!(send(&mut routing, Seq(1)), ["b"]);
        routing.unsubscribe(ROOM, "b");
        assert!(!routing.is_subscribed(ROOM));
        assert_eq!(routing.route(ROOM, Seq(1)), Route::Skip);
        assert_eq!(routing.route(ROOM, Seq(2)), Route::Notification);
    }

    #[test]
    fn two_subscriptions_to_one_room_each_get_one_copy() {
        let mut routing = Routing::default();
        routing.open(ROOM, "b".into(), None, Seq(0));
        assert_eq!(routing.join(ROOM, "a".into(), None), None);
        let (topic, notified) = deliver(&mut routing, &[1, 1, 3]);
        let expected: Vec<(Seq, String)> = [1, 2, 3]
            .into_iter()
            .map(Seq)
            .flat_map(|seq| [(seq, "b".to_string()), (seq, "a".to_string())])
            .collect();
        assert_eq!(
            topic, expected,
            "subscription order, each message once per subscription"
        );
        assert!(notified.is_empty());
        let typing: Vec<&str> = routing.topic_subscribers(ROOM).collect();
        assert_eq!(typing, ["b", "a"]);
        assert_eq!(routing.topic_subscribers(OTHER).count(), 0);
    }

    #[test]
    fn a_since_seq_subscription_joins_an_existing_filter() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), None, Seq(5));
        deliver(&mut routing, &[6, 7]);
        let replay = routing.join(ROOM, "b".into(), Some(Seq(2)));
        assert_eq!(
            replay,
            Some(Replay {
                after: Seq(2),
                upto: Seq(7)
            }),
            "b alone gets 3 to 7"
        );
        let (topic, _) = deliver(&mut routing, &[7, 8]);
        assert_eq!(topic, [on("a", [8]), on("b", [8])].concat());
    }

    #[test]
    fn a_since_seq_join_ahead_of_the_filter_skips_what_it_holds() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), None, Seq(5));
        assert_eq!(routing.join(ROOM, "b".into(), Some(Seq(7))), None);
        let (topic, _) = deliver(&mut routing, &[6, 7, 8]);
        assert_eq!(
            topic,
            [on("a", [6, 7]), on("a", [8]), on("b", [8])].concat(),
            "b holds up to 7"
        );
    }

    #[test]
    fn a_since_seq_join_puts_the_room_on_the_topic_up_to_the_filter() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), None, Seq(5));
        assert_eq!(routing.route(ROOM, Seq(5)), Route::Notification);
        routing.join(ROOM, "b".into(), Some(Seq(0)));
        assert_eq!(
            routing.route(ROOM, Seq(5)),
            Route::Skip,
            "replayed to b, so not a notification any more"
        );
        routing.unsubscribe(ROOM, "a");
        routing.unsubscribe(ROOM, "b");
        assert_eq!(
            routing.route(ROOM, Seq(1)),
            Route::Skip,
            "the mark covers the replay"
        );
    }

    #[test]
    fn a_live_join_keeps_the_live_from_point() {
        let mut routing = Routing::default();
        routing.open(ROOM, "a".into(), None, Seq(5));
        routing.join(ROOM, "b".into(), None);
        assert_eq!(routing.route(ROOM, Seq(5)), Route::Notification);
    }

    #[test]
    fn a_join_to_a_room_not_subscribed_changes_nothing() {
        let mut routing = Routing::default();
        assert_eq!(routing.join(ROOM, "a".into(), Some(Seq(0))), None);
        assert!(!routing.is_subscribed(ROOM));
    }
}
