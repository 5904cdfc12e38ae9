//! The bodies of the STOMP `MESSAGE` frames the server sends, one type per destination, each
//! an object tagged by its `"type"`.
//!
//! A reader meets event types newer than itself: each body type has an `Other` catch-all that
//! an unknown `"type"` becomes, so the reader can skip it. `Other` is only ever read; the
//! server never sends it.
//!
//! Message events are the hot path: the server renders a message's JSON once and places that
//! text in the body of every connection that receives it. [`message_event_json`] and
//! [`message_notification_json`] build those bodies around the pre-rendered text, with exactly
//! the bytes serde would write for the same event (the tests hold them to it).

use crate::ids::{RoomId, Seq, UserId};
use crate::objects::{Message, Room, User};
use serde::{Deserialize, Serialize};

/// The body of an event on a room's topic, `/topic/rooms/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum RoomEventBody {
    /// `{"type":"message","message":{…}}`: a stored message.
    Message {
        /// The message.
        message: Message,
    },
    /// `{"type":"typing","roomId":…,"user":{…}}`: someone in the room is typing.
    Typing {
        /// The room.
        #[serde(rename = "roomId")]
        room_id: RoomId,
        /// Who is typing.
        user: User,
    },
    /// `{"type":"changed","change":"edited"|"deleted","message":{…}}`: a stored message was
    /// edited or deleted; `message` is its whole current state (a tombstone when deleted).
    /// The frame's `rev` header is the message's `rev`.
    Changed {
        /// What happened to it.
        change: ChangeKind,
        /// The message as it is now.
        message: Message,
    },
    /// `{"type":"read","roomId":…,"userId":…,"seq":…}`: a member's read mark in the room
    /// moved forward. Sent only to topic subscriptions that asked for it (`receipts: true` on
    /// SUBSCRIBE), so that a plain STOMP client that shows every body of the topic never meets
    /// it.
    Read {
        /// The room.
        #[serde(rename = "roomId")]
        room_id: RoomId,
        /// The member who read.
        #[serde(rename = "userId")]
        user_id: UserId,
        /// The member's read mark now.
        seq: Seq,
    },
    /// An event type this version does not know.
    #[serde(other)]
    Other,
}

/// What a [`RoomEventBody::Changed`] or [`NotificationBody::Changed`] did to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ChangeKind {
    /// Its author changed its text.
    Edited,
    /// Its author deleted it: the message is a tombstone now.
    Deleted,
    /// Someone added or took back a reaction: the message's `reactions` changed.
    Reacted,
    /// A change this version does not know; the message carried is still its current state.
    #[serde(other)]
    Other,
}

/// The body of an event on `/user/queue/notifications`: what happens in a user's rooms that a
/// connection does not follow on the rooms' topics, and changes to the user's rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum NotificationBody {
    /// `{"type":"message","roomId":…,"message":{…},"unread":…}`: a new message in a room the
    /// connection does not subscribe to.
    Message {
        /// The room.
        #[serde(rename = "roomId")]
        room_id: RoomId,
        /// The stored message.
        message: Message,
        /// The receiving user's unread count in the room, this message included. The server
        /// always sends it; it is optional because an SDK that passes a message on by itself
        /// has no count to give.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unread: Option<u64>,
        /// Whether the message mentions the receiving user: a client alerts for it even in a
        /// room it would otherwise keep quiet. Left out when false.
        #[serde(default, skip_serializing_if = "is_false")]
        mention: bool,
        /// The receiving user muted the room and the message does not mention them: a client
        /// keeps quiet (no sound, toast or desktop notification) but still counts it unread.
        /// Left out when false.
        #[serde(default, skip_serializing_if = "is_false")]
        muted: bool,
    },
    /// `{"type":"changed","roomId":…,"change":…,"message":{…}}`: a message was edited or
    /// deleted in a room the connection does not subscribe to.
    Changed {
        /// The room.
        #[serde(rename = "roomId")]
        room_id: RoomId,
        /// What happened to it.
        change: ChangeKind,
        /// The message as it is now.
        message: Message,
    },
    /// `{"type":"room","room":{…}}`: the user was added to a room, or its members changed, as
    /// the user sees it.
    Room {
        /// The room.
        room: Room,
    },
    /// `{"type":"read","roomId":…,"seq":…}`: the user marked a room read on another
    /// connection.
    Read {
        /// The room.
        #[serde(rename = "roomId")]
        room_id: RoomId,
        /// The read mark now in force.
        seq: Seq,
    },
    /// `{"type":"user","user":{…}}`: a user who shares a room with the receiving user (or the
    /// receiving user itself, on another connection) changed its display name. Clients show
    /// the new name wherever they show that user: members, direct rooms' names, senders.
    User {
        /// The user as it is now.
        user: User,
    },
    /// `{"type":"resync","reason":"broker"|"node"}`: events addressed to the user may have been
    /// lost on their way to this connection, so whatever the client keeps of the user's rooms
    /// (the room list, unread counts, the history of open rooms) may be stale. The client
    /// reloads the room list and re-fetches open rooms' history with `since-seq`.
    Resync {
        /// Why the events may have been lost.
        reason: ResyncReason,
    },
    /// An event type this version does not know.
    #[serde(other)]
    Other,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

/// Why a [`NotificationBody::Resync`] was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ResyncReason {
    /// The node lost its link to the other nodes for a while (the Redis broker reconnected):
    /// what they published meanwhile did not reach this connection.
    Broker,
    /// Another node stopped without a word (it crashed or was killed): messages it had
    /// committed but not yet published reached nobody on the other nodes.
    Node,
    /// A reason this version does not know; a client resyncs all the same.
    #[serde(other)]
    Other,
}

/// The body of an event on `/user/queue/errors`:
/// `{"type":"error","code":…,"message":…,"destination":…}`, a refused frame or an ended
/// subscription. The connection goes on.
///
/// Reading does not require the `"type"`, and `message` and `destination` may be missing: the
/// `code` is what a client acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "error")]
pub struct ErrorBody {
    /// What went wrong, machine-readable (`forbidden`, `not_found`, …).
    pub code: String,
    /// What went wrong, for people.
    #[serde(default)]
    pub message: String,
    /// The destination of the refused frame, or of the subscription that ended.
    #[serde(default)]
    pub destination: String,
}

/// The body of [`RoomEventBody::Message`] around `message_json`, the message already rendered
/// by serde: `{"type":"message","message":…}`.
pub fn message_event_json(message_json: &str) -> String {
    format!(r#"{{"type":"message","message":{message_json}}}"#)
}

/// The body of [`NotificationBody::Message`] with an unread count, around `message_json`, the
/// message already rendered by serde: `{"type":"message","roomId":…,"message":…,"unread":…}`,
/// with `"mention":true` after the count when the message mentions the receiving user, and
/// `"muted":true` after that when the user muted the room (and is not mentioned).
pub fn message_notification_json(
    room_id: RoomId,
    message_json: &str,
    unread: u64,
    mention: bool,
    muted: bool,
) -> String {
    let mention = if mention { r#","mention":true"# } else { "" };
    let muted = if muted { r#","muted":true"# } else { "" };
    format!(
        r#"{{"type":"message","roomId":{room_id},"message":{message_json},"unread":{unread}{mention}{muted}}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::tests::{alice, message};
    use crate::RoomKind;
    use serde_json::json;

    fn round_trip<T>(value: &T) -> T
    where
        T: Serialize + for<'de> Deserialize<'de>,
    {
        serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
    }

    #[test]
    fn room_events_are_tagged_camel_case_and_round_trip() {
        let typing = RoomEventBody::Typing {
            room_id: RoomId(3),
            user: alice(),
        };
        assert_eq!(
            serde_json::to_value(&typing).unwrap(),
            json!({
                "type": "typing", "roomId": 3,
                "user": { "id": 1, "username": "alice", "displayName": "Alice" }
            })
        );
        assert_eq!(round_trip(&typing), typing);
        let posted = RoomEventBody::Message { message: message() };
        assert_eq!(round_trip(&posted), posted);
        let read = RoomEventBody::Read {
            room_id: RoomId(3),
            user_id: UserId(2),
            seq: Seq(9),
        };
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            json!({ "type": "read", "roomId": 3, "userId": 2, "seq": 9 })
        );
        assert_eq!(round_trip(&read), read);
    }

    #[test]
    fn notifications_are_tagged_camel_case_and_round_trip() {
        let read = NotificationBody::Read {
            room_id: RoomId(3),
            seq: Seq(7),
        };
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            json!({ "type": "read", "roomId": 3, "seq": 7 })
        );
        let room = NotificationBody::Room {
            room: Room {
                id: RoomId(3),
                kind: RoomKind::Group,
                name: "Team".into(),
                members: vec![alice()],
                last_message: None,
                unread: 0,
                last_read_seq: Seq::ZERO,
                last_rev: 0,
                unread_mentions: 0,
                muted: false,
            },
        };
        assert_eq!(serde_json::to_value(&room).unwrap()["type"], "room");
        let counted = NotificationBody::Message {
            room_id: RoomId(3),
            message: message(),
            unread: Some(4),
            mention: false,
            muted: false,
        };
        let resync = NotificationBody::Resync {
            reason: ResyncReason::Broker,
        };
        assert_eq!(
            serde_json::to_value(&resync).unwrap(),
            json!({ "type": "resync", "reason": "broker" })
        );
        assert_eq!(
            serde_json::from_str::<NotificationBody>(r#"{"type":"resync","reason":"moon"}"#)
                .unwrap(),
            NotificationBody::Resync {
                reason: ResyncReason::Other
            }
        );
        for event in [read, room, counted, resync] {
            assert_eq!(round_trip(&event), event);
        }
    }

    #[test]
    fn changes_are_tagged_changed_on_both_destinations() {
        let mut tombstone = message();
        tombstone.text = String::new();
        tombstone.deleted_at = Some("2024-01-01T00:01:00.000Z".into());
        tombstone.rev = 3;
        let on_topic = RoomEventBody::Changed {
            change: ChangeKind::Deleted,
            message: tombstone.clone(),
        };
        let json = serde_json::to_value(&on_topic).unwrap();
        assert_eq!(json["type"], "changed");
        assert_eq!(json["change"], "deleted");
        assert_eq!(json["message"]["deletedAt"], "2024-01-01T00:01:00.000Z");
        assert_eq!(json["message"]["rev"], 3);
        assert_eq!(round_trip(&on_topic), on_topic);
        let notified = NotificationBody::Changed {
            room_id: RoomId(3),
            change: ChangeKind::Edited,
            message: message(),
        };
        let json = serde_json::to_value(&notified).unwrap();
        assert_eq!(json["type"], "changed");
        assert_eq!(json["roomId"], 3);
        assert_eq!(json["change"], "edited");
        assert_eq!(round_trip(&notified), notified);
        let future: RoomEventBody = serde_json::from_value(json!({
            "type": "changed", "change": "pinned", "message": serde_json::to_value(message()).unwrap()
        }))
        .unwrap();
        assert_eq!(
            future,
            RoomEventBody::Changed {
                change: ChangeKind::Other,
                message: message()
            }
        );
    }

    #[test]
    fn a_renamed_user_is_a_user_event() {
        let renamed = NotificationBody::User { user: alice() };
        let json = serde_json::to_value(&renamed).unwrap();
        assert_eq!(
            json,
            json!({
                "type": "user",
                "user": { "id": 1, "username": "alice", "displayName": "Alice" }
            })
        );
        assert_eq!(
            serde_json::from_value::<NotificationBody>(json).unwrap(),
            renamed
        );
    }

    #[test]
    fn a_message_without_a_count_leaves_the_field_out() {
        let uncounted = NotificationBody::Message {
            room_id: RoomId(3),
            message: message(),
            unread: None,
            mention: false,
            muted: false,
        };
        let json = serde_json::to_value(&uncounted).unwrap();
        assert!(json.get("unread").is_none(), "{json}");
        assert_eq!(
            serde_json::from_value::<NotificationBody>(json).unwrap(),
            uncounted
        );
    }

    #[test]
    fn unknown_types_and_fields_are_tolerated() {
        assert_eq!(
            serde_json::from_str::<RoomEventBody>(r#"{"type":"reaction","x":1}"#).unwrap(),
            RoomEventBody::Other
        );
        assert_eq!(
            serde_json::from_str::<NotificationBody>(r#"{"type":"presence"}"#).unwrap(),
            NotificationBody::Other
        );
        let read: NotificationBody =
            serde_json::from_str(r#"{"type":"read","roomId":3,"seq":7,"by":"phone"}"#).unwrap();
        assert_eq!(
            read,
            NotificationBody::Read {
                room_id: RoomId(3),
                seq: Seq(7)
            }
        );
        assert!(serde_json::from_str::<RoomEventBody>("not json").is_err());
        assert!(serde_json::from_str::<RoomEventBody>(r#"{"message":{}}"#).is_err());
    }

    #[test]
    fn error_bodies_are_tagged_and_read_leniently() {
        let refused = ErrorBody {
            code: "forbidden".into(),
            message: "you are not a member of room 3".into(),
            destination: "/topic/rooms/3".into(),
        };
        assert_eq!(
            serde_json::to_value(&refused).unwrap(),
            json!({
                "type": "error", "code": "forbidden",
                "message": "you are not a member of room 3", "destination": "/topic/rooms/3"
            })
        );
        assert_eq!(round_trip(&refused), refused);
        let bare: ErrorBody = serde_json::from_str(r#"{"code":"x","future":1}"#).unwrap();
        assert_eq!(
            bare,
            ErrorBody {
                code: "x".into(),
                message: String::new(),
                destination: String::new(),
            }
        );
    }

    #[test]
    fn prerendered_message_bodies_are_what_serde_writes() {
        let mut message = message();
        message.client_msg_id = Some("c-1 \"quoted\"".into());
        message.sender.id = UserId(-1);
        let message_json = serde_json::to_string(&message).unwrap();
        assert_eq!(
            message_event_json(&message_json),
            serde_json::to_string(&RoomEventBody::Message {
                message: message.clone()
            })
            .unwrap()
        );
        for (mention, muted) in [(false, false), (true, false), (false, true)] {
            assert_eq!(
                message_notification_json(RoomId(3), &message_json, 4, mention, muted),
                serde_json::to_string(&NotificationBody::Message {
                    room_id: RoomId(3),
                    message: message.clone(),
                    unread: Some(4),
                    mention,
                    muted,
                })
                .unwrap()
            );
        }
    }
}
