//! The frames a session writes: MESSAGE heads per subscription, room message events, and the
//! encoding of any frame into one WebSocket message.
//!
//! This module owns how a frame looks on the wire for a given STOMP version and subscription.
//! It reaches no socket, no queue and no session state: callers decide which frames to write
//! and when.

use super::subscriptions::Subscription;
use crate::hub::{RenderedChange, RenderedMessage};
use axum::extract::ws::Message as WsMessage;
use bytes::BytesMut;
use sotong_stomp::{encode, Command, Frame, Version};

/// One frame as one WebSocket message: text whenever the frame is UTF-8, binary otherwise.
pub(super) fn ws_message(frame: &Frame, version: Version) -> WsMessage {
    let mut buf = BytesMut::with_capacity(256 + frame.body.len());
    encode(frame, version, &mut buf);
    let bytes = buf.freeze();
    // Frames are text whenever their bodies are (always, for sotong's JSON): no copy either way.
    match axum::extract::ws::Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => WsMessage::Text(text),
        Err(_) => WsMessage::Binary(bytes),
    }
}

/// The start of a MESSAGE frame for `sub`: `destination`, `subscription` (unless a 1.0
/// subscription had no id), `message-id`, and on 1.2 for a client-ack subscription the `ack`
/// header the spec requires (unique per frame: the message and the subscription). 1.0 and 1.1
/// clients ACK by `message-id`.
pub(super) fn message_head(
    version: Version,
    destination: &str,
    sub: &Subscription,
    message_id: &str,
) -> Frame {
    let mut frame = Frame::new(Command::Message).with_header("destination", destination);
    if let Some(id) = &sub.header {
        frame = frame.with_header("subscription", id.clone());
    }
    frame = frame.with_header("message-id", message_id);
    if sub.client_ack && version >= Version::V1_2 {
        let ack = match &sub.header {
            Some(id) => format!("{message_id}/{id}"),
            None => message_id.to_string(),
        };
        frame = frame.with_header("ack", ack);
    }
    frame
}

/// A message event on its room topic, for one subscription.
pub(super) fn room_message_frame(
    version: Version,
    sub: &Subscription,
    message: &RenderedMessage,
) -> Frame {
    let destination = format!("/topic/rooms/{}", message.room_id());
    message_head(version, &destination, sub, &message.message.id.to_string())
        .with_header("seq", message.seq().to_string())
        .with_header("content-type", "application/json")
        .with_body(message.topic_body.clone())
}

/// A change event on its room topic, for one subscription: headers `seq` (the message's)
/// and `rev` (the change's).
pub(super) fn change_frame(
    version: Version,
    destination: &str,
    sub: &Subscription,
    message_id: &str,
    change: &RenderedChange,
) -> Frame {
    message_head(version, destination, sub, message_id)
        .with_header("seq", change.message.seq.to_string())
        .with_header("rev", change.message.rev.to_string())
        .with_header("content-type", "application/json")
        .with_body(change.topic_body.clone())
}

#[cfg(test)]
mod tests {
    use super::super::destination::Target;
    use super::super::NOTIFICATIONS;
    use super::*;

    #[test]
    fn message_heads_follow_the_version_and_the_ack_mode() {
        let sub = |header: Option<&str>, client_ack| Subscription {
            target: Target::Notifications,
            header: header.map(str::to_string),
            client_ack,
            receipts: false,
        };
        let head = message_head(Version::V1_2, NOTIFICATIONS, &sub(Some("s"), true), "7");
        assert_eq!(head.header("subscription"), Some("s"));
        assert_eq!(head.header("message-id"), Some("7"));
        assert_eq!(head.header("ack"), Some("7/s"));
        let head = message_head(Version::V1_2, NOTIFICATIONS, &sub(Some("s"), false), "7");
        assert_eq!(head.header("ack"), None, "ack:auto has no ack header");
        let head = message_head(Version::V1_1, NOTIFICATIONS, &sub(Some("s"), true), "7");
        assert_eq!(head.header("ack"), None, "1.1 acks by message-id");
        let head = message_head(Version::V1_0, NOTIFICATIONS, &sub(None, true), "7");
        assert_eq!(head.header("subscription"), None, "1.0 without an id");
        assert_eq!(head.header("ack"), None);
    }
}
