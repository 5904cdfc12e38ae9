//! The JSON objects of the sotong wire contract, defined once for the server and every Rust
//! client.
//!
//! This crate owns what travels between the two: the typed ids ([`UserId`], [`RoomId`],
//! [`MessageId`]) and a message's position in its room ([`Seq`]); the objects HTTP answers
//! and STOMP bodies carry ([`User`], [`Room`] and its [`RoomKind`], [`Message`]); and the
//! bodies of the events on each destination ([`RoomEventBody`] on `/topic/rooms/{id}`,
//! [`NotificationBody`] on `/user/queue/notifications`, [`ErrorBody`] on
//! `/user/queue/errors`). Everything is camelCase on the wire, and every reader ignores
//! fields it does not know, so the server can add fields and event types without breaking
//! older clients. A new event type is added here, once, and both ends see it.
//!
//! It must never reach further than serde: no async runtime, no STOMP frames, no storage, no
//! server or SDK code. Rules about the values (how a username is normalised, who may read a
//! room) belong to the server; how a caller consumes events belongs to the SDK.
//!
//! - `ids.rs`: the typed ids and [`Seq`], with the arithmetic the delivery rules need.
//! - `objects.rs`: [`User`], [`Room`], [`RoomKind`], [`Message`].
//! - `presence.rs`: who is online, away or offline ([`PresenceBody`], [`Activity`]).
//! - `events.rs`: the event bodies, and the server's shortcut for message bodies built around
//!   a message rendered once.

mod events;
mod ids;
mod objects;
mod presence;
mod search;

pub use events::{
    message_event_json, message_notification_json, ChangeKind, ErrorBody, NotificationBody,
    ResyncReason, RoomEventBody,
};
pub use ids::{AttachmentId, MessageId, RoomId, Seq, UserId};
pub use objects::{
    Attachment, ImageSize, Message, Reaction, ReadMark, ReplyPreview, Room, RoomKind, User,
};
pub use presence::{Activity, PresenceBody, PresenceState, PresenceWatch, UserPresence};
pub use search::{RoomSummary, SearchHit, SearchResults, SnippetPart};
