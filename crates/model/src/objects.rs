//! The objects of the contract: [`User`], [`Room`] (with its [`RoomKind`]) and [`Message`]
//! (with what a message may carry: a [`ReplyPreview`], [`Reaction`]s, mentions and
//! [`Attachment`]s).
//!
//! These are what HTTP answers and STOMP bodies carry, not storage rows: a store maps its rows
//! onto them, so a schema change never leaks onto the wire. Unknown fields are ignored when
//! reading, so a newer server may add some.

use crate::ids::{AttachmentId, MessageId, RoomId, Seq, UserId};
use serde::{Deserialize, Serialize};

/// A user as every client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Lower-case username, 3–32 chars of `a-z 0-9 _ . -`.
    pub username: String,
    /// Free-form name shown in user interfaces.
    pub display_name: String,
}

/// Whether a room is a one-to-one conversation or a named group.
///
/// Non-exhaustive with an [`Other`](RoomKind::Other) catch-all, so that a kind added by a
/// newer server reaches an older client as `Other` instead of making the whole room (and the
/// room list around it) unreadable. The server itself only ever deals in the kinds it knows:
/// it reads kinds from storage with [`RoomKind::from_name`], which never answers `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RoomKind {
    /// Exactly two members; one room per pair.
    Direct,
    /// A named room with any number of members.
    Group,
    /// A kind this version does not know yet. Only ever read, never sent.
    #[serde(other)]
    Other,
}

impl RoomKind {
    /// The name on the wire and in storage; `None` for [`Other`](RoomKind::Other), which
    /// stands for some name this version does not know.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            RoomKind::Direct => Some("direct"),
            RoomKind::Group => Some("group"),
            RoomKind::Other => None,
        }
    }

    /// The kind of a known name; `None` for any other, never [`Other`](RoomKind::Other). For
    /// a store reading its rows, where an unknown kind is damage, not news.
    pub fn from_name(name: &str) -> Option<RoomKind> {
        match name {
            "direct" => Some(RoomKind::Direct),
            "group" => Some(RoomKind::Group),
            _ => None,
        }
    }
}

/// A room as one member (the viewer) sees it: names, unread counts and read marks are per
/// viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Room {
    /// The room's id.
    pub id: RoomId,
    /// Direct or group.
    pub kind: RoomKind,
    /// The group's name, or for a direct room the other member's display name.
    pub name: String,
    /// Every current member, the viewer included.
    pub members: Vec<User>,
    /// The newest message, if any.
    pub last_message: Option<Message>,
    /// Messages from others after the viewer's read mark.
    pub unread: u64,
    /// The highest `seq` the viewer has marked read.
    pub last_read_seq: Seq,
    /// The room's latest revision: how many edits and deletes its messages have had. A client
    /// whose highest seen `rev` is lower has changes to fetch (`GET …/changes?after=`). 0 from
    /// a server without edits.
    #[serde(default)]
    pub last_rev: u64,
    /// Messages after the viewer's read mark that mention the viewer (tombstones excluded):
    /// what the room list marks with `@` beside the unread count. 0 from a server without
    /// mentions.
    #[serde(default)]
    pub unread_mentions: u64,
    /// The viewer muted the room: no Web Push and no sound or toast for its messages, except
    /// those that mention the viewer. Sent only when true (older clients see no change).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub muted: bool,
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The message's id.
    pub id: MessageId,
    /// The room it was posted in.
    pub room_id: RoomId,
    /// Its position in the room.
    pub seq: Seq,
    /// Who posted it.
    pub sender: User,
    /// The text, as posted.
    pub text: String,
    /// When the server committed it: RFC 3339 with milliseconds, UTC.
    pub sent_at: String,
    /// The sender's idempotency key, if it gave one.
    pub client_msg_id: Option<String>,
    /// When the text was last edited (the commit time of the edit, RFC 3339 with milliseconds,
    /// UTC); `None` for a message never edited.
    #[serde(default)]
    pub edited_at: Option<String>,
    /// When the message was deleted; `Some` makes it a tombstone: same `id`, `seq`, `sender`
    /// and `sentAt`, empty `text`, kept in history so that `seq` has no gap.
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// The room revision of the message's last edit or delete; 0 for a message never changed.
    /// A client keeps the message with the highest `rev` it has seen.
    #[serde(default)]
    pub rev: u64,
    /// The earlier message of the same room this one answers, as a short preview; absent for
    /// a message that answers none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyPreview>,
    /// The reactions on the message, in the order each emoji was first used; absent when
    /// there are none. Changing them takes a `rev` like an edit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The members the text mentions with `@username`, as the server found them when the
    /// text was posted or last edited; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// The files sent with the message; absent when none (and on a tombstone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// What a reply shows of the message it answers. Read from the store, it is the answered
/// message's current state; on a live event it is that state when the reply was sent, and a
/// client that holds the answered message shows its own, newer copy instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyPreview {
    /// The answered message's `seq` in the same room.
    pub seq: Seq,
    /// Who wrote it.
    pub sender: User,
    /// Its text, cut to the first 200 characters; `""` once it is deleted.
    pub text: String,
    /// When it was last edited, if ever.
    #[serde(default)]
    pub edited_at: Option<String>,
    /// When it was deleted, if it was.
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// How many files it carries (0 when none), so a quote of a bare image says so.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attachments: u32,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reaction {
    /// The emoji, as the users sent it.
    pub emoji: String,
    /// How many users reacted with it; the length of `user_ids`.
    pub count: u64,
    /// Who reacted, in the order they did. Ids, not users, so that a busy message stays
    /// small; a client names them from the room's members.
    pub user_ids: Vec<UserId>,
}

/// One member's read mark in a room (`GET /api/rooms/{id}/reads`): a client counts, for each
/// message, the members other than its sender whose mark is below its `seq` (they have not
/// read it), which is how "seen by" and a group's unread numbers are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadMark {
    /// The member.
    pub user_id: UserId,
    /// The last `seq` the member has read (0: nothing yet).
    pub seq: Seq,
}

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Its id: `GET /api/attachments/{id}` (and `/thumbnail` for an image).
    pub id: AttachmentId,
    /// The file name the uploader gave, cleaned of paths and control characters.
    pub name: String,
    /// The type the server found in the content (never the uploader's claim), e.g.
    /// `image/png`, `application/pdf`, `application/octet-stream` when unknown.
    pub content_type: String,
    /// Its size in bytes, as served.
    pub size: u64,
    /// Width and height for an image the server could decode (it then has a thumbnail);
    /// absent for any other file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSize>,
}

/// The pixel size of an image attachment, after its EXIF orientation was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Message {
    /// Whether the message was deleted (it is a tombstone).
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn alice() -> User {
        User {
            id: UserId(1),
            username: "alice".into(),
            display_name: "Alice".into(),
        }
    }

    pub(crate) fn message() -> Message {
        Message {
            id: MessageId(9),
            room_id: RoomId(3),
            seq: Seq(2),
            sender: alice(),
            text: "hi".into(),
            sent_at: "2024-01-01T00:00:00.000Z".into(),
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

    #[test]
    fn messages_are_camel_case_and_round_trip() {
        let json = serde_json::to_value(message()).unwrap();
        assert_eq!(
            json,
            json!({
                "id": 9, "roomId": 3, "seq": 2,
                "sender": { "id": 1, "username": "alice", "displayName": "Alice" },
                "text": "hi", "sentAt": "2024-01-01T00:00:00.000Z", "clientMsgId": null,
                "editedAt": null, "deletedAt": null, "rev": 0,
            })
        );
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), message());
    }

    #[test]
    fn rooms_are_camel_case_and_round_trip() {
        let room = Room {
            id: RoomId(3),
            kind: RoomKind::Direct,
            name: "Bob".into(),
            members: vec![alice()],
            last_message: Some(message()),
            unread: 4,
            last_read_seq: Seq(1),
            last_rev: 2,
            unread_mentions: 1,
            muted: false,
        };
        let json = serde_json::to_value(&room).unwrap();
        assert!(json.get("muted").is_none(), "muted is sent only when true");
        assert_eq!(json["kind"], "direct");
        assert_eq!(json["lastReadSeq"], 1);
        assert_eq!(json["lastRev"], 2);
        assert_eq!(json["unreadMentions"], 1);
        assert_eq!(json["lastMessage"]["seq"], 2);
        assert_eq!(json["members"][0]["displayName"], "Alice");
        assert_eq!(serde_json::from_value::<Room>(json).unwrap(), room);
    }

    #[test]
    fn a_message_from_a_server_without_edits_reads_as_never_changed() {
        let json = json!({
            "id": 9, "roomId": 3, "seq": 2,
            "sender": { "id": 1, "username": "alice", "displayName": "Alice" },
            "text": "hi", "sentAt": "2024-01-01T00:00:00.000Z", "clientMsgId": null,
        });
        let message: Message = serde_json::from_value(json).unwrap();
        assert_eq!(message, super::tests::message());
        assert!(!message.is_deleted());
    }

    #[test]
    fn rich_parts_are_left_out_when_empty_and_round_trip_when_present() {
        let plain = serde_json::to_value(message()).unwrap();
        for absent in ["replyTo", "reactions", "mentions", "attachments"] {
            assert!(plain.get(absent).is_none(), "{absent} in {plain}");
        }
        let mut rich = message();
        rich.reply_to = Some(ReplyPreview {
            seq: Seq(1),
            sender: alice(),
            text: "earlier".into(),
            edited_at: None,
            deleted_at: None,
            attachments: 0,
        });
        rich.reactions = vec![Reaction {
            emoji: "👍".into(),
            count: 1,
            user_ids: vec![UserId(1)],
        }];
        rich.mentions = vec![UserId(2)];
        rich.attachments = vec![Attachment {
            id: AttachmentId(4),
            name: "cat.png".into(),
            content_type: "image/png".into(),
            size: 1234,
            image: Some(ImageSize {
                width: 640,
                height: 480,
            }),
        }];
        let json = serde_json::to_value(&rich).unwrap();
        assert_eq!(json["replyTo"]["seq"], 1);
        assert!(json["replyTo"].get("attachments").is_none());
        assert_eq!(json["reactions"][0]["userIds"], json!([1]));
        assert_eq!(json["mentions"], json!([2]));
        assert_eq!(json["attachments"][0]["contentType"], "image/png");
        assert_eq!(json["attachments"][0]["image"]["width"], 640);
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), rich);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let user: User = serde_json::from_value(json!({
            "id": 1, "username": "alice", "displayName": "Alice", "avatar": "a.png"
        }))
        .unwrap();
        assert_eq!(user, alice());
        let mut json = serde_json::to_value(message()).unwrap();
        json["pinned"] = json!(true);
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), message());
    }

    #[test]
    fn an_unknown_kind_is_other_and_has_no_name() {
        let room: Room = serde_json::from_value(json!({
            "id": 5, "kind": "channel", "name": "news", "members": [],
            "lastMessage": null, "unread": 0, "lastReadSeq": 0
        }))
        .unwrap();
        assert_eq!(room.kind, RoomKind::Other);
        assert_eq!(RoomKind::Other.as_str(), None);
        assert_eq!(RoomKind::from_name("channel"), None);
        assert_eq!(
            RoomKind::from_name("other"),
            None,
            "never made from storage"
        );
        for kind in [RoomKind::Direct, RoomKind::Group] {
            let name = kind.as_str().unwrap();
            assert_eq!(RoomKind::from_name(name), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
    }
}
