//! The objects of the wire contract, as the SDK's callers see them: typed ids, [`User`],
//! [`Room`], [`Message`] (shared with the server through `sotong-model` and re-exported here),
//! [`Sent`], and the events a subscription yields.
//!
//! The contract lets the server add fields and event types at any time, so every type here
//! ignores unknown fields, and an event of an unknown `type` is skipped (logged at `debug`)
//! rather than treated as an error. The public event enums are shaped for Rust callers
//! (`RoomEvent::Message(Message)`); the shared body types ([`RoomEventBody`],
//! [`NotificationBody`]) carry the wire's `{"type": …, …}` layout, and serde converts between
//! the two.
//!
//! Values only: nothing here reaches the connection, the registry or the HTTP client.

pub use sotong_model::{
    Activity, Attachment, AttachmentId, ChangeKind, ImageSize, Message, MessageId, PresenceState,
    Reaction, ReplyPreview, ResyncReason, Room, RoomId, RoomKind, Seq, User, UserId, UserPresence,
};
pub(crate) use sotong_model::{ErrorBody, NotificationBody, PresenceBody, RoomEventBody};

use serde::{Deserialize, Serialize};

/// What [`Client::send`](crate::Client::send) resolves with: the message as stored, with the
/// `client-msg-id` it was sent under, so an application can match it to the pending copy it
/// shows (see [`PendingSend`](crate::PendingSend)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The stored message's id (`RECEIPT` header `message-id`).
    pub message_id: MessageId,
    /// The stored message's position in its room (`RECEIPT` header `seq`).
    pub seq: Seq,
    /// The idempotency key the SDK sent with it, also on every retry.
    pub client_msg_id: String,
}

/// An event on a room's topic, in the room's `seq` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RoomEventBody", into = "RoomEventBody")]
#[non_exhaustive]
pub enum RoomEvent {
    /// A stored message, the caller's own ones included.
    Message(Message),
    /// Someone in the room is typing (never sent back to the typing connection).
    Typing {
        /// The room.
        room_id: RoomId,
        /// Who is typing.
        user: User,
    },
    /// A message of the room was edited or deleted; `message` is its whole current state (a
    /// tombstone when deleted). Not in `seq` order: keep, per message, the state with the
    /// highest [`Message::rev`] (after a reconnect a change may come twice).
    Changed {
        /// What happened to it.
        change: ChangeKind,
        /// The message as it is now.
        message: Message,
    },
}

/// An event of the user's rooms that this client does not subscribe to: what
/// `/user/queue/notifications` says, plus the messages of a room whose last subscriber has
/// just gone (see [`Client::notifications`](crate::Client::notifications)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NotificationBody", into = "NotificationBody")]
#[non_exhaustive]
pub enum Notification {
    /// A new message in a room this client does not subscribe to.
    Message {
        /// The room.
        room_id: RoomId,
        /// The stored message.
        message: Message,
        /// The room's unread count for this user, this message included, as the server counted
        /// it when it sent the notification.
        ///
        /// `None` when the server did not count it for this client: the message was on its
        /// way to the room's subscribers when the last of them went, so the SDK passed it on
        /// here (it is not counted by the server for a connection that is subscribed). An
        /// application that keeps counts can add one for a message from someone else; the
        /// next notification with a count, or [`Client::rooms`](crate::Client::rooms), has
        /// the server's figure.
        unread: Option<u64>,
        /// Whether the message mentions this user (`@username`): an application alerts for
        /// it even where it would otherwise stay quiet.
        mention: bool,
        /// The user muted the room and the message does not mention them: an application
        /// counts it but makes no sound, toast or desktop alert for it. Always `false` for a
        /// message the SDK passed on itself (`unread` is `None`).
        muted: bool,
    },
    /// A message of a room this client does not subscribe to was edited or deleted.
    Changed {
        /// The room.
        room_id: RoomId,
        /// What happened to it.
        change: ChangeKind,
        /// The message as it is now.
        message: Message,
    },
    /// The user was added to a room (a new direct room included), or its members changed.
    Room(Room),
    /// The user marked a room read up to `seq` on another connection.
    Read {
        /// The room.
        room_id: RoomId,
        /// The new read mark.
        seq: Seq,
    },
    /// Someone who shares a room with the user (or the user, on another connection) changed
    /// their display name: show the new one wherever the application shows that user.
    User(User),
    /// Events of the user's rooms may have been lost on their way to this client (the server
    /// lost its link to its other nodes for a while): room lists, unread counts and the
    /// history shown may be stale. Reload the rooms ([`Client::rooms`](crate::Client::rooms))
    /// and re-fetch the history of open rooms after the last `seq` held. Room subscriptions
    /// catch up by themselves; this is for what the application keeps.
    Resync {
        /// Why (`broker` today; a newer server may give a reason this SDK does not know, as
        /// [`ResyncReason::Other`], which calls for the same).
        reason: ResyncReason,
    },
}

impl TryFrom<RoomEventBody> for RoomEvent {
    type Error = String;

    fn try_from(wire: RoomEventBody) -> Result<Self, Self::Error> {
        match wire {
            RoomEventBody::Message { message } => Ok(RoomEvent::Message(message)),
            RoomEventBody::Typing { room_id, user } => Ok(RoomEvent::Typing { room_id, user }),
            RoomEventBody::Changed { change, message } => {
                Ok(RoomEvent::Changed { change, message })
            }
            _ => Err("unknown room event type".into()),
        }
    }
}

impl From<RoomEvent> for RoomEventBody {
    fn from(event: RoomEvent) -> Self {
        match event {
            RoomEvent::Message(message) => RoomEventBody::Message { message },
            RoomEvent::Typing { room_id, user } => RoomEventBody::Typing { room_id, user },
            RoomEvent::Changed { change, message } => RoomEventBody::Changed { change, message },
        }
    }
}

impl TryFrom<NotificationBody> for Notification {
    type Error = String;

    fn try_from(wire: NotificationBody) -> Result<Self, Self::Error> {
        match wire {
            NotificationBody::Message {
                room_id,
                message,
                unread,
                mention,
                muted,
            } => Ok(Notification::Message {
                room_id,
                message,
                unread,
                mention,
                muted,
            }),
            NotificationBody::Changed {
                room_id,
                change,
                message,
            } => Ok(Notification::Changed {
                room_id,
                change,
                message,
            }),
            NotificationBody::Room { room } => Ok(Notification::Room(room)),
            NotificationBody::Read { room_id, seq } => Ok(Notification::Read { room_id, seq }),
            NotificationBody::Resync { reason } => Ok(Notification::Resync { reason }),
            NotificationBody::User { user } => Ok(Notification::User(user)),
            _ => Err("unknown notification type".into()),
        }
    }
}

impl From<Notification> for NotificationBody {
    fn from(event: Notification) -> Self {
        match event {
            Notification::Message {
                room_id,
                message,
                unread,
                mention,
                muted,
            } => NotificationBody::Message {
                room_id,
                message,
                unread,
                mention,
                muted,
            },
            Notification::Changed {
                room_id,
                change,
                message,
            } => NotificationBody::Changed {
                room_id,
                change,
                message,
            },
            Notification::Room(room) => NotificationBody::Room { room },
            Notification::Read { room_id, seq } => NotificationBody::Read { room_id, seq },
            Notification::Resync { reason } => NotificationBody::Resync { reason },
            Notification::User(user) => NotificationBody::User { user },
        }
    }
}

/// Parses a room-topic body; `Ok(None)` for an event type this SDK does not know.
pub(crate) fn parse_room_event(body: &[u8]) -> Result<Option<RoomEvent>, serde_json::Error> {
    Ok(serde_json::from_slice::<RoomEventBody>(body)?
        .try_into()
        .ok())
}

/// Parses a notification body; `Ok(None)` for an event type this SDK does not know.
pub(crate) fn parse_notification(body: &[u8]) -> Result<Option<Notification>, serde_json::Error> {
    Ok(serde_json::from_slice::<NotificationBody>(body)?
        .try_into()
        .ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = r#"{"id":9,"roomId":3,"seq":2,"sender":{"id":1,"username":"alice",
        "displayName":"Alice"},"text":"hi","sentAt":"2024-01-01T00:00:00.000Z","clientMsgId":null,
        "futureField":true}"#;

    #[test]
    fn room_events_parse_and_round_trip() {
        let body = format!(r#"{{"type":"message","message":{MESSAGE}}}"#);
        let event = parse_room_event(body.as_bytes()).unwrap().unwrap();
        let RoomEvent::Message(message) = &event else {
            panic!("{event:?}")
        };
        assert_eq!((message.room_id, message.seq), (RoomId(3), Seq(2)));
        let again: RoomEvent =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(again, event);

        let typing =
            r#"{"type":"typing","roomId":3,"user":{"id":1,"username":"a","displayName":"A"}}"#;
        assert!(matches!(
            parse_room_event(typing.as_bytes()).unwrap(),
            Some(RoomEvent::Typing {
                room_id: RoomId(3),
                ..
            })
        ));
        assert_eq!(
            parse_room_event(br#"{"type":"reaction","x":1}"#).unwrap(),
            None
        );
        assert!(parse_room_event(b"not json").is_err());

        let changed = format!(r#"{{"type":"changed","change":"deleted","message":{MESSAGE}}}"#);
        assert!(matches!(
            parse_room_event(changed.as_bytes()).unwrap(),
            Some(RoomEvent::Changed {
                change: ChangeKind::Deleted,
                ..
            })
        ));
        let notified =
            format!(r#"{{"type":"changed","roomId":3,"change":"edited","message":{MESSAGE}}}"#);
        assert!(matches!(
            parse_notification(notified.as_bytes()).unwrap(),
            Some(Notification::Changed {
                room_id: RoomId(3),
                change: ChangeKind::Edited,
                ..
            })
        ));
    }

    #[test]
    fn notifications_parse() {
        let body = format!(r#"{{"type":"message","roomId":3,"message":{MESSAGE},"unread":4}}"#);
        assert!(matches!(
            parse_notification(body.as_bytes()).unwrap(),
            Some(Notification::Message {
                room_id: RoomId(3),
                unread: Some(4),
                ..
            })
        ));
        assert_eq!(
            parse_notification(br#"{"type":"read","roomId":3,"seq":7}"#).unwrap(),
            Some(Notification::Read {
                room_id: RoomId(3),
                seq: Seq(7)
            })
        );
        assert_eq!(parse_notification(br#"{"type":"presence"}"#).unwrap(), None);
        assert_eq!(
            parse_notification(br#"{"type":"resync","reason":"broker"}"#).unwrap(),
            Some(Notification::Resync {
                reason: ResyncReason::Broker
            })
        );

        // A message the SDK passed on itself has no server count: on the wire the field is
        // left out, and reading it back gives `None` again.
        let Some(Notification::Message { message, .. }) =
            parse_notification(body.as_bytes()).unwrap()
        else {
            panic!("a message notification")
        };
        let made = Notification::Message {
            room_id: RoomId(3),
            message,
            unread: None,
            mention: false,
            muted: false,
        };
        let json = serde_json::to_value(&made).unwrap();
        assert!(json.get("unread").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<Notification>(json).unwrap(), made);
    }

    #[test]
    fn ids_are_plain_numbers() {
        assert_eq!(serde_json::to_string(&RoomId(7)).unwrap(), "7");
        assert_eq!("12".parse::<Seq>().unwrap(), Seq(12));
        assert_eq!(RoomId(5).to_string(), "5");
    }
}
