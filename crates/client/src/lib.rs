//! # sotong-client
//!
//! The Rust SDK of the sotong chat server: one STOMP 1.2 connection over WebSocket per
//! client, shared by every part of the application.
//!
//! - [`Client::connect`] opens the connection; the [`Client`] handle is cheap to clone.
//! - [`Client::room`]`(id).`[`subscribe`](RoomHandle::subscribe)`()` gives a
//!   [`Subscription`], a `Stream` of [`RoomEvent`]s in `seq` order; dropping it unsubscribes.
//!   Subscribers of one room share one STOMP subscription.
//! - [`Client::notifications`] gives the events of the user's other rooms ([`Notification`]).
//!   Each message goes to one of the two: the room's subscribers while it has some, the
//!   notifications otherwise, never both and never neither, also while the last subscriber
//!   of a room is going (see [`Client::notifications`]).
//! - [`Client::send`] returns a [`PendingSend`]: its `client-msg-id` is known at once (to show
//!   the message as pending and match the stored copy), and it resolves when the server has
//!   stored the message, with its [`Seq`] ([`Sent`]).
//! - [`Client::edit_message`] and [`Client::delete_message`] change the user's own messages
//!   (acknowledged after the commit, answered with the message as stored); everyone hears of it
//!   as [`RoomEvent::Changed`] or [`Notification::Changed`], each carrying the message's whole
//!   current state (a tombstone for a delete) and its `rev`. [`Client::changes_after`] pages the
//!   changes an application that follows a room through notifications has not seen.
//! - [`Client::watch_presence`] gives a [`Subscription`] of [`UserPresence`]: the state of each
//!   watched user (who shares a room with this one), then each change, restored after reconnects.
//! - The connection comes back by itself after a drop (backoff with jitter), restores every
//!   subscription with `since-seq` and `since-rev` (nothing lost, nothing doubled, edits and
//!   deletes made meanwhile included) before re-sending what had
//!   no receipt yet, and asks a [`TokenProvider`] for a new token when the old one expires.
//!   [`Client::state`] tells where it stands.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use sotong_client::{Client, Notification};
//!
//! # async fn demo() -> sotong_client::Result<()> {
//! let client = Client::builder("ws://127.0.0.1:8080/ws", "a token")
//!     .token_provider(|| async { Ok("a fresh token".to_string()) })
//!     .connect()
//!     .await?;
//! let mut notifications = client.notifications().await?;
//! while let Some(event) = notifications.next().await {
//!     if let Notification::Message { room_id, message, unread, mention, muted } = event? {
//!         // `None`: sent here as the room was being closed, not counted by the server.
//!         let unread = unread.map_or("?".to_string(), |n| n.to_string());
//!         // A muted room stays quiet unless the message mentions you.
//!         let alert = match (mention, muted) {
//!             (true, _) => " (mentions you)",
//!             (false, true) => " (muted)",
//!             (false, false) => "",
//!         };
//!         println!("{room_id}: {}{alert} ({unread} unread)", message.text);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The wire contract is the project's `contract.md`; `docs/protocol.md` adds sotong's own
//! behaviour (one subscription per destination per connection, receipts of `since-seq`
//! subscriptions after the replay).
//!
//! # Layout
//!
//! - `client.rs`: [`Client`], [`ClientBuilder`], [`RoomHandle`], [`PendingSend`]: handles that
//!   send commands to the connection task and await the answers.
//! - `connection.rs`: the connection task, the socket's only owner and writer: connect, restore,
//!   serve, reconnect; receipts, heart-beats, [`State`].
//! - `registry.rs`: subscriptions by destination, reference counts, fan-out to the local
//!   streams, per-room last `seq` (duplicates dropped), the routing of each message to one
//!   stream (room or notifications, never both, never neither), the slow-subscriber policy.
//! - `subscription.rs`: [`Subscription`], the `Stream` a caller holds; its `Drop` unsubscribes.
//! - `backoff.rs`: reconnect delays, capped exponential with full jitter.
//! - `token.rs`: the current token and the [`TokenProvider`] that renews it.
//! - `http.rs`: the HTTP API helpers ([`Client::rooms`], [`RoomHandle::history`], …), plain
//!   `http://` only.
//! - `model.rs`: typed ids ([`RoomId`], [`Seq`], …), [`Message`], [`Room`], [`User`] (the
//!   wire's objects, shared with the server through `sotong-model`) and the event enums.
//! - `error.rs`: [`Error`], by what the caller can do about it.

mod backoff;
mod client;
mod connection;
mod error;
mod http;
mod model;
mod registry;
mod subscription;
mod token;

pub use client::{Client, ClientBuilder, PendingSend, RoomHandle};
pub use connection::State;
pub use error::{BoxError, Error, Result};
pub use http::{Download, HistoryQuery, Login, UploadBody};
pub use model::{
    Activity, Attachment, AttachmentId, ChangeKind, ImageSize, Message, MessageId, Notification,
    PresenceState, Reaction, ReplyPreview, ResyncReason, Room, RoomEvent, RoomId, RoomKind, Sent,
    Seq, User, UserId, UserPresence,
};
pub use subscription::Subscription;
pub use token::TokenProvider;
