//! The plan of a batch of messages: what the batch's transaction read under the rooms' locks
//! goes in, what it must write and answer comes out. Plain data, no database, so the rules
//! are tested on their own: in the batch's order, a message from a non-member is refused, a
//! retried one answers its first copy (stored earlier, on any node, or earlier in this batch),
//! and a new one takes its room's next `seq`, leaves every other member one more unread and
//! marks everything up to it read for its sender.

use super::super::NewMessage;
use crate::model::Message;
use std::collections::HashMap;

/// A membership as read under the room's lock, and as the plan leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    pub(super) room: i64,
    pub(super) user: i64,
    pub(super) unread: i64,
    pub(super) last_read_seq: i64,
    /// Whether the member muted the room (read, never written by the batch).
    pub(super) muted: bool,
}

/// What the transaction read under the rooms' locks.
#[derive(Debug, Default)]
pub(super) struct Locked {
    /// Each existing room of the batch and its `last_seq`.
    pub(super) last_seqs: HashMap<i64, i64>,
    /// The members of those rooms.
    pub(super) members: Vec<Member>,
    /// Stored messages with a room, sender and `client_msg_id` of the batch's.
    pub(super) earlier: Vec<Message>,
    /// The messages the batch's replies answer, by (room, seq), as stored now.
    pub(super) answered: HashMap<(i64, i64), Message>,
    /// The pending attachments the batch names: id → (room, uploader).
    pub(super) pending: HashMap<i64, (i64, i64)>,
}

/// What becomes of one message of the batch.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    /// The sender is not a member of the room (or there is no such room): nothing stored.
    NotMember,
    /// An attachment is not the sender's pending upload to the room (or an earlier message
    /// of the batch takes it): nothing stored.
    InvalidAttachment,
    /// A retry of a message stored before this batch: that one is the answer.
    Earlier(Box<Message>),
    /// A retry of the message at this index of the batch: its copy is the answer.
    SameAs(usize),
    /// A reply to a `seq` no message of the room has: nothing stored.
    ReplyNotFound,
    /// A reply to a deleted message: nothing stored.
    ReplyDeleted,
    /// Stored with this `seq`; every member's unread count right after it.
    New {
        /// The room's next `seq`.
        seq: i64,
        /// (user, unread) for every member, the sender's 0.
        recipients: Vec<(i64, i64)>,
        /// The members who muted the room.
        muted: Vec<i64>,
    },
}

/// A message to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NewRow {
    /// Its index in the batch (for the sender, text and `client_msg_id`).
    pub(super) index: usize,
    pub(super) room: i64,
    pub(super) seq: i64,
}

/// What the transaction writes, and what each message's answer is.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// One per message of the batch, in its order.
    pub(super) outcomes: Vec<Outcome>,
    /// The messages to insert, in the batch's order.
    pub(super) rows: Vec<NewRow>,
    /// Each room that got messages, with its new `last_seq`.
    pub(super) rooms: Vec<(i64, i64)>,
    /// The members of those rooms as they are after the batch.
    pub(super) members: Vec<Member>,
}

/// Plans `batch` over what was read under the locks (see the module doc).
pub(super) fn plan(batch: &[NewMessage], locked: &Locked) -> Plan {
    let mut last_seqs = locked.last_seqs.clone();
    let mut members: HashMap<i64, Vec<Member>> = HashMap::new();
    for member in &locked.members {
        members.entry(member.room).or_default().push(member.clone());
    }
    let earlier: HashMap<(i64, i64, &str), &Message> = locked
        .earlier
        .iter()
        .filter_map(|m| {
            let key = m.client_msg_id.as_deref()?;
            Some(((m.room_id.0, m.sender.id.0, key), m))
        })
        .collect();
    // Retries of messages new in this batch: their key and the first copy's index.
    let mut firsts: HashMap<(i64, i64, &str), usize> = HashMap::new();
    // Attachments taken by messages before this one in the batch.
    let mut claimed = std::collections::HashSet::new();
    let mut plan = Plan::default();
    let mut moved_rooms = Vec::new();

    for (index, new) in batch.iter().enumerate() {
        let room = new.room_id.0;
        let sender = new.sender.id.0;
        let Some(room_members) = members
            .get_mut(&room)
            .filter(|ms| ms.iter().any(|m| m.user == sender))
        else {
            plan.outcomes.push(Outcome::NotMember);
            continue;
        };
        if let Some(key) = new.client_msg_id.as_deref() {
            if let Some(message) = earlier.get(&(room, sender, key)) {
                plan.outcomes
                    .push(Outcome::Earlier(Box::new((*message).clone())));
                continue;
            }
            if let Some(&first) = firsts.get(&(room, sender, key)) {
                plan.outcomes.push(Outcome::SameAs(first));
                continue;
            }
        }
        if let Some(answered) = new.reply_to {
            let key = (room, i64::try_from(answered.0).unwrap_or(i64::MAX));
            match locked.answered.get(&key) {
                None => {
                    plan.outcomes.push(Outcome::ReplyNotFound);
                    continue;
                }
                Some(original) if original.is_deleted() => {
                    plan.outcomes.push(Outcome::ReplyDeleted);
                    continue;
                }
                Some(_) => {}
            }
        }
        if !claim_attachments(new, &locked.pending, &mut claimed) {
            plan.outcomes.push(Outcome::InvalidAttachment);
            continue;
        }
        if let Some(key) = new.client_msg_id.as_deref() {
            firsts.insert((room, sender, key), index);
        }
        let last_seq = last_seqs.entry(room).or_insert(0);
        *last_seq += 1;
        let seq = *last_seq;
        if !moved_rooms.contains(&room) {
            moved_rooms.push(room);
        }
        let mut recipients = Vec::with_capacity(room_members.len());
        let mut muted = Vec::new();
        for member in room_members.iter_mut() {
            if member.muted {
                muted.push(member.user);
            }
            if member.user == sender {
                member.unread = 0;
                member.last_read_seq = seq;
            } else {
                member.unread += 1;
            }
            recipients.push((member.user, member.unread));
        }
        plan.rows.push(NewRow { index, room, seq });
        plan.outcomes.push(Outcome::New {
            seq,
            recipients,
            muted,
        });
    }

    for room in moved_rooms {
        if let Some(&last_seq) = last_seqs.get(&room) {
            plan.rooms.push((room, last_seq));
        }
        if let Some(room_members) = members.remove(&room) {
            plan.members.extend(room_members);
        }
    }
    plan
}

/// Whether every attachment of `new` is its sender's pending upload to its room, not taken by
/// an earlier message of the batch; if so, they are taken now.
fn claim_attachments(
    new: &NewMessage,
    pending: &HashMap<i64, (i64, i64)>,
    claimed: &mut std::collections::HashSet<i64>,
) -> bool {
    let owner = (new.room_id.0, new.sender.id.0);
    let valid = new
        .attachments
        .iter()
        .all(|id| pending.get(&id.0) == Some(&owner) && !claimed.contains(&id.0));
    if valid {
        claimed.extend(new.attachments.iter().map(|id| id.0));
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MessageId, RoomId, Seq, User, UserId};

    fn user(id: i64) -> User {
        User {
            id: UserId(id),
            username: format!("u{id}"),
            display_name: format!("U{id}"),
        }
    }

    fn message(room: i64, sender: i64, key: Option<&str>) -> NewMessage {
        NewMessage {
            room_id: RoomId(room),
            sender: user(sender),
            text: "hi".into(),
            client_msg_id: key.map(str::to_string),
            reply_to: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    fn member(room: i64, user: i64, unread: i64, last_read_seq: i64) -> Member {
        Member {
            room,
            user,
            unread,
            last_read_seq,
            muted: false,
        }
    }

    /// A member who muted the room.
    fn muting(member: Member) -> Member {
        Member {
            muted: true,
            ..member
        }
    }

    #[test]
    fn new_messages_take_the_next_seqs_and_move_unread_in_batch_order() {
        let locked = Locked {
            last_seqs: HashMap::from([(10, 4), (20, 0)]),
            members: vec![
                member(10, 1, 0, 4),
                muting(member(10, 2, 3, 1)),
                member(20, 1, 0, 0),
                member(20, 3, 0, 0),
            ],
            earlier: Vec::new(),
            answered: HashMap::new(),
            pending: HashMap::new(),
        };
        let batch = [
            message(10, 1, None),
            message(20, 3, None),
            message(10, 2, None),
            message(10, 1, None),
        ];
        let plan = plan(&batch, &locked);
        assert_eq!(
            plan.outcomes,
            [
                Outcome::New {
                    seq: 5,
                    recipients: vec![(1, 0), (2, 4)],
                    muted: vec![2]
                },
                Outcome::New {
                    seq: 1,
                    recipients: vec![(1, 1), (3, 0)],
                    muted: Vec::new()
                },
                Outcome::New {
                    seq: 6,
                    recipients: vec![(1, 1), (2, 0)],
                    muted: vec![2]
                },
                Outcome::New {
                    seq: 7,
                    recipients: vec![(1, 0), (2, 1)],
                    muted: vec![2]
                },
            ]
        );
        let seqs: Vec<_> = plan.rows.iter().map(|r| (r.index, r.room, r.seq)).collect();
        assert_eq!(seqs, [(0, 10, 5), (1, 20, 1), (2, 10, 6), (3, 10, 7)]);
        assert_eq!(plan.rooms, [(10, 7), (20, 1)]);
        assert_eq!(
            plan.members,
            [
                member(10, 1, 0, 7),
                muting(member(10, 2, 1, 6)),
                member(20, 1, 1, 0),
                member(20, 3, 0, 1),
            ]
        );
    }

    #[test]
    fn outsiders_are_refused_and_retries_answer_their_first_copy() {
        let stored = Message {
            id: MessageId(99),
            room_id: RoomId(10),
            seq: Seq(2),
            sender: user(1),
            text: "first".into(),
            sent_at: "2026-01-01T00:00:00.000Z".into(),
            client_msg_id: Some("k1".into()),
            edited_at: None,
            deleted_at: None,
            rev: 0,
            reply_to: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            attachments: Vec::new(),
        };
        let locked = Locked {
            last_seqs: HashMap::from([(10, 2)]),
            members: vec![member(10, 1, 0, 2), member(10, 2, 0, 2)],
            earlier: vec![stored.clone()],
            answered: HashMap::new(),
            pending: HashMap::new(),
        };
        let batch = [
            message(10, 1, Some("k1")),
            message(10, 9, Some("k1")),
            message(30, 1, None),
            message(10, 2, Some("k1")),
            message(10, 2, Some("k1")),
        ];
        let plan = plan(&batch, &locked);
        assert_eq!(
            plan.outcomes,
            [
                Outcome::Earlier(Box::new(stored)),
                Outcome::NotMember,
                Outcome::NotMember,
                Outcome::New {
                    seq: 3,
                    recipients: vec![(1, 1), (2, 0)],
                    muted: Vec::new(),
                },
                Outcome::SameAs(3),
            ]
        );
        assert_eq!(plan.rows.len(), 1);
        assert_eq!(plan.rooms, [(10, 3)]);
    }

    #[test]
    fn attachments_must_be_the_senders_pending_uploads_to_the_room_and_are_taken_once() {
        let locked = Locked {
            last_seqs: HashMap::from([(10, 0)]),
            members: vec![member(10, 1, 0, 0), member(10, 2, 0, 0)],
            earlier: Vec::new(),
            answered: HashMap::new(),
            pending: HashMap::from([(7, (10, 1)), (8, (10, 2)), (9, (20, 1))]),
        };
        let with = |sender: i64, ids: &[i64]| NewMessage {
            attachments: ids
                .iter()
                .map(|&id| crate::model::AttachmentId(id))
                .collect(),
            ..message(10, sender, None)
        };
        let batch = [
            with(1, &[8]),
            with(1, &[9]),
            with(1, &[6]),
            with(1, &[7]),
            with(1, &[7]),
        ];
        let plan = plan(&batch, &locked);
        let invalid = |o: &Outcome| matches!(o, Outcome::InvalidAttachment);
        let outcomes: Vec<bool> = plan.outcomes.iter().map(invalid).collect();
        assert_eq!(outcomes, [true, true, true, false, true]);
        assert_eq!(plan.rows.len(), 1);
        assert_eq!(plan.rooms, [(10, 1)]);
    }

    #[test]
    fn a_batch_with_nothing_new_writes_nothing() {
        let plan = plan(&[message(10, 1, None)], &Locked::default());
        assert_eq!(plan.outcomes, [Outcome::NotMember]);
        assert!(plan.rows.is_empty() && plan.rooms.is_empty() && plan.members.is_empty());
    }

    #[test]
    fn replies_to_missing_or_deleted_messages_are_refused_and_take_no_seq() {
        let answered = |seq: u64, deleted: bool| {
            let mut original = Message {
                id: MessageId(seq as i64),
                room_id: RoomId(10),
                seq: Seq(seq),
                sender: user(2),
                text: "original".into(),
                sent_at: "2026-01-01T00:00:00.000Z".into(),
                client_msg_id: None,
                edited_at: None,
                deleted_at: None,
                rev: 0,
                reply_to: None,
                reactions: Vec::new(),
                mentions: Vec::new(),
                attachments: Vec::new(),
            };
            if deleted {
                original.deleted_at = Some("2024-01-01T00:00:00.000Z".into());
            }
            ((10, seq as i64), original)
        };
        let locked = Locked {
            last_seqs: HashMap::from([(10, 3)]),
            members: vec![member(10, 1, 0, 3)],
            earlier: Vec::new(),
            answered: HashMap::from([answered(1, false), answered(2, true)]),
            pending: HashMap::new(),
        };
        let reply = |seq: u64| NewMessage {
            reply_to: Some(Seq(seq)),
            ..message(10, 1, None)
        };
        let plan = plan(&[reply(1), reply(2), reply(3)], &locked);
        assert!(matches!(plan.outcomes[0], Outcome::New { seq: 4, .. }));
        assert_eq!(plan.outcomes[1], Outcome::ReplyDeleted);
        assert_eq!(plan.outcomes[2], Outcome::ReplyNotFound);
        assert_eq!(plan.rooms, [(10, 4)]);
    }
}
