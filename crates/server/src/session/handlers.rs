//! The client's frames: SUBSCRIBE, UNSUBSCRIBE, SEND, ACK/NACK, DISCONNECT, and the answers
//! they get (RECEIPTs, and error events on `/user/queue/errors` for what is refused).
//!
//! This module owns what each frame does to the session: rights checks through `rooms`, the
//! per-user send budget, the subscription table and the routing state kept in step. It queues
//! frames and never writes to the socket itself (a `since-seq` replay flushes through the
//! session's writer); it decides no message's route (that is `routing`).

use super::close::Close;
use super::destination::{send_target, subscription_target, SendTarget, Target};
use super::frames::message_head;
use super::subscriptions::Subscription;
use super::{Session, Transport, ERRORS};
use crate::auth::bearer;
use crate::error::Error;
use crate::hub::render_body;
use crate::model::{Activity, AttachmentId, ErrorBody, PresenceBody, PresenceWatch, Seq};
use crate::rooms::{Draft, ReplyTarget};
use sotong_stomp::{Command, Frame, Version};
use tracing::debug;

/// Most subscriptions of one connection to one destination. Each gets its own copy of every
/// frame, so this bounds how much one delivered message can multiply into (a few components
/// of one app subscribing the same room is the use; hundreds is an attack on memory).
const MAX_SUBSCRIPTIONS_PER_DESTINATION: usize = 16;

/// The text of a SEND to a room: `{"text": …}` JSON, or the body itself as `text/plain`.
/// Without a content-type, a JSON object is read as JSON and anything else as plain text.
fn message_text(frame: &Frame) -> Result<String, Error> {
    Ok(message_draft(frame)?.text)
}

/// A SEND to a room as a draft: the text (as [`message_text`] reads it), the `client-msg-id`
/// header, and the message it answers: `replyTo` in a JSON body, or the `reply-to` header of a
/// plain-text one.
fn message_draft(frame: &Frame) -> Result<Draft, Error> {
    let body = std::str::from_utf8(&frame.body)
        .map_err(|_| Error::Invalid("the body is not valid UTF-8".into()))?;
    let content_type = frame
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let plain = |text: &str| -> Result<Draft, Error> {
        Ok(Draft {
            text: text.to_string(),
            client_msg_id: frame.header("client-msg-id").map(str::to_string),
            reply_to: frame
                .header("reply-to")
                .map(ReplyTarget::from_header)
                .transpose()?,
            attachments: Vec::new(),
        })
    };
    if content_type.starts_with("text/plain") {
        return plain(body);
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => match map.get("text") {
            Some(serde_json::Value::String(text)) => json_draft(frame, text.clone(), &map),
            None if map.contains_key("attachments") => json_draft(frame, String::new(), &map),
            _ => Err(Error::Invalid(
                r#"the JSON body needs a string "text""#.into(),
            )),
        },
        _ if content_type.starts_with("application/json") => Err(Error::Invalid(
            r#"the body must be a JSON object {"text": …}"#.into(),
        )),
        _ => plain(body),
    }
}

/// A draft from a JSON SEND body: its `replyTo` and `attachments` (ids), beside the `text`.
fn json_draft(
    frame: &Frame,
    text: String,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<Draft, Error> {
    let attachments = match map.get("attachments") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(ids) => <Vec<AttachmentId> as serde::Deserialize>::deserialize(ids)
            .map_err(|_| Error::Invalid(r#""attachments" is a list of attachment ids"#.into()))?,
    };
    Ok(Draft {
        text,
        client_msg_id: frame.header("client-msg-id").map(str::to_string),
        reply_to: map
            .get("replyTo")
            .filter(|value| !value.is_null())
            .map(ReplyTarget::from_json)
            .transpose()?,
        attachments,
    })
}

impl<T: Transport> Session<T> {
    /// Handles one client frame. A refused frame becomes an error event (rule 5) and the
    /// connection goes on; `Err` ends the connection.
    pub(super) async fn handle_frame(&mut self, frame: Frame) -> Result<(), Close> {
        debug!(command = frame.command.as_str(), "frame");
        let result = match frame.command {
            Command::Subscribe => self.subscribe(&frame).await,
            Command::Unsubscribe => self.unsubscribe(&frame),
            Command::Send => self.send(&frame).await,
            Command::Disconnect => {
                self.receipt(&frame);
                return Err(Close::Clean);
            }
            Command::Connect | Command::Stomp => Err(Error::Invalid(
                "this connection is connected already".into(),
            )),
            Command::Ack | Command::Nack => {
                // Every message is stored before it is sent, so nothing waits on an ACK and a
                // NACK redelivers nothing (the client recovers with since-seq). Both are
                // accepted whatever they name, an unknown id included.
                self.receipt(&frame);
                Ok(())
            }
            Command::Begin | Command::Commit | Command::Abort => Err(Error::Invalid(format!(
                "{} is not supported: SENDs are not transactional",
                frame.command.as_str()
            ))),
            Command::Connected | Command::Message | Command::Receipt | Command::Error => {
                return Err(Close::Fatal {
                    code: "malformed",
                    message: format!("{} is a server frame", frame.command.as_str()),
                    headers: frame
                        .header("receipt")
                        .map(|receipt| ("receipt-id", receipt.to_string()))
                        .into_iter()
                        .collect(),
                });
            }
        };
        if matches!(frame.command, Command::Subscribe | Command::Unsubscribe) {
            // The room head check asks the store about the rooms watched here.
            self.mailbox.watch_topics(self.routing.rooms());
        }
        match result {
            Ok(()) => Ok(()),
            Err(Error::Unauthorized) | Err(Error::TokenExpired)
                if frame.header("destination") == Some("/app/token") =>
            {
                self.error_event(&Error::Invalid("the new token is not valid".into()), &frame);
                Ok(())
            }
            // A connection about to close says why in its ERROR, not in an error event too.
            Err(_) if self.closing.is_some() => Ok(()),
            Err(err) => {
                self.error_event(&err, &frame);
                Ok(())
            }
        }
    }

    /// Queues a RECEIPT when the frame asked for one.
    pub(super) fn receipt(&mut self, frame: &Frame) {
        if let Some(receipt) = frame.header("receipt") {
            self.out
                .push(Frame::new(Command::Receipt).with_header("receipt-id", receipt));
        }
    }

    /// Queues the RECEIPT of a committed edit or delete, when the frame asked for one: with the
    /// message's `seq` and its `rev` now (unchanged when the change changed nothing).
    fn change_receipt(&mut self, frame: &Frame, message: &crate::model::Message) {
        if let Some(receipt) = frame.header("receipt") {
            self.out.push(
                Frame::new(Command::Receipt)
                    .with_header("receipt-id", receipt)
                    .with_header("seq", message.seq.to_string())
                    .with_header("rev", message.rev.to_string()),
            );
        }
    }

    /// Reports a non-fatal error on `/user/queue/errors` (rule 5); the connection goes on.
    pub(super) fn error_event(&mut self, err: &Error, frame: &Frame) {
        err.log();
        let destination = frame.header("destination").unwrap_or("");
        debug!(code = err.code(), %err, destination, "request refused");
        let body = render_body(&ErrorBody {
            code: err.code().to_string(),
            message: err.to_string(),
            destination: destination.to_string(),
        });
        let id = self.event_id("err");
        for sub in self.subscriptions.values() {
            if sub.target != Target::Errors {
                continue;
            }
            let mut out = message_head(self.version, ERRORS, sub, &id)
                .with_header("content-type", "application/json");
            if let Some(receipt) = frame.header("receipt") {
                out = out.with_header("receipt-id", receipt);
            }
            self.out.push(out.with_body(body.clone()));
        }
    }

    /// SUBSCRIBE: checks the frame, the caps and (for a room) membership, enters the
    /// subscription in the table and, for a room, in the routing state, then sends the
    /// `since-seq` replay it is owed, if any.
    async fn subscribe(&mut self, frame: &Frame) -> Result<(), Error> {
        let destination = frame
            .header("destination")
            .ok_or_else(|| Error::Invalid("SUBSCRIBE needs a destination header".into()))?;
        // STOMP 1.0 makes `id` optional; such a subscription is known by its destination.
        let (id, header) = match frame.header("id") {
            Some(id) => (id.to_string(), Some(id.to_string())),
            None if self.version == Version::V1_0 => (destination.to_string(), None),
            None => return Err(Error::Invalid("SUBSCRIBE needs an id header".into())),
        };
        if self.subscriptions.contains_key(&id) {
            return Err(Error::Invalid(match header {
                Some(_) => format!("subscription id {id} is in use"),
                None => format!("already subscribed to {destination} without an id"),
            }));
        }
        let client_ack = match frame.header("ack") {
            None | Some("auto") => false,
            Some("client" | "client-individual") => true,
            Some(_) => {
                return Err(Error::Invalid(
                    "ack must be auto, client or client-individual".into(),
                ))
            }
        };
        let receipts = match frame.header("receipts") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(Error::Invalid("receipts must be true or false".into())),
        };
        let subscription = Subscription {
            target: Target::Errors,
            header,
            client_ack,
            receipts,
        };
        let max = self.app.config().limits.max_subscriptions;
        if self.subscriptions.len() >= max {
            return Err(Error::TooLarge(format!(
                "at most {max} subscriptions per connection"
            )));
        }
        let target = subscription_target(destination)
            .ok_or_else(|| Error::NotFound(format!("no destination {destination}")))?;
        let same = self
            .subscriptions
            .values()
            .filter(|sub| sub.target == target)
            .count();
        if same >= MAX_SUBSCRIPTIONS_PER_DESTINATION {
            return Err(Error::TooLarge(format!(
                "at most {MAX_SUBSCRIPTIONS_PER_DESTINATION} subscriptions to {destination} per connection"
            )));
        }
        let subscription = Subscription {
            target,
            ..subscription
        };
        let since = match frame.header("since-seq") {
            Some(value) => Some(
                value
                    .trim()
                    .parse::<Seq>()
                    .map_err(|_| Error::Invalid("since-seq must be a whole number".into()))?,
            ),
            None => None,
        };
        let since_rev = match frame.header("since-rev") {
            Some(value) => Some(
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| Error::Invalid("since-rev must be a whole number".into()))?,
            ),
            None => None,
        };
        // The changes owed before the replay: those of messages the client holds (`seq <=
        // since-seq`) that it has not seen (`rev > since-rev`).
        let changes_owed =
            match (target, since_rev, since) {
                (Target::Room(_), Some(rev), Some(seq)) => Some((rev, seq)),
                (Target::Room(_), Some(_), None) => return Err(Error::Invalid(
                    "since-rev needs since-seq: the changes owed are those of the messages held"
                        .into(),
                )),
                _ => None,
            };
        let replay = match target {
            Target::Room(room) => {
                self.app
                    .chat()
                    .require_member(self.identity.user.id, room)
                    .await?;
                let replay = if self.routing.is_subscribed(room) {
                    self.routing.join(room, id.clone(), since)
                } else {
                    // Read after the membership check and before anything else this task
                    // does, so any message committed later is still ahead of us in the queue
                    // (see `routing`).
                    let last = self.app.chat().last_seq(room).await?;
                    self.routing.open(room, id.clone(), since, last)
                };
                replay.map(|replay| (room, replay))
            }
            Target::Notifications | Target::Errors | Target::Presence => None,
        };
        self.subscriptions.insert(id.clone(), subscription);
        self.app.metrics().subscriptions.inc();
        if let (Target::Room(room), Some((after_rev, upto))) = (target, changes_owed) {
            if let Err(err) = self.replay_changes(room, &id, after_rev, upto).await {
                self.remove_subscription(&id);
                return Err(err);
            }
        }
        if let Some((room, replay)) = replay {
            if let Err(err) = self.replay(room, &id, replay).await {
                // Leave no half-made subscription behind (a leave may have ended it already).
                self.remove_subscription(&id);
                return Err(err);
            }
        }
        self.receipt(frame);
        Ok(())
    }

    /// Ends one subscription, in the table and in the routing state.
    fn remove_subscription(&mut self, id: &str) {
        let Some(sub) = self.subscriptions.remove(id) else {
            return;
        };
        self.app.metrics().subscriptions.dec();
        if let Target::Room(room) = sub.target {
            self.routing.unsubscribe(room, id);
        }
    }

    /// UNSUBSCRIBE by `id`, or (STOMP 1.0, where `id` is optional) by `destination`: then every
    /// subscription to that destination ends.
    fn unsubscribe(&mut self, frame: &Frame) -> Result<(), Error> {
        let ids: Vec<String> = match (frame.header("id"), frame.header("destination")) {
            (Some(id), _) => {
                if !self.subscriptions.contains_key(id) {
                    return Err(Error::Invalid(format!("no subscription {id}")));
                }
                vec![id.to_string()]
            }
            (None, Some(destination)) => {
                let target = subscription_target(destination)
                    .ok_or_else(|| Error::Invalid(format!("no subscription to {destination}")))?;
                let ids: Vec<String> = self
                    .subscriptions
                    .iter()
                    .filter(|(_, sub)| sub.target == target)
                    .map(|(id, _)| id.clone())
                    .collect();
                if ids.is_empty() {
                    return Err(Error::Invalid(format!("no subscription to {destination}")));
                }
                ids
            }
            (None, None) => {
                return Err(Error::Invalid(
                    "UNSUBSCRIBE needs an id (or, in STOMP 1.0, a destination) header".into(),
                ))
            }
        };
        for id in &ids {
            self.remove_subscription(id);
        }
        self.receipt(frame);
        Ok(())
    }

    /// SEND: a message, an edit or delete, a typing indicator, a read mark or a new token,
    /// within the user's send budget. The RECEIPT of a stored message is held until the sender's own copy is queued.
    async fn send(&mut self, frame: &Frame) -> Result<(), Error> {
        let destination = frame
            .header("destination")
            .ok_or_else(|| Error::Invalid("SEND needs a destination header".into()))?;
        let target = send_target(destination)
            .ok_or_else(|| Error::NotFound(format!("no destination {destination}")))?;
        // One budget per user, shared with the HTTP API: more connections buy no more sends.
        if let Err(wait) = self.app.budgets().sends.try_take(&self.identity.user.id, 1) {
            return Err(Error::throttled("too many frames sent; slow down", wait));
        }
        let user = self.identity.user.clone();
        match target {
            SendTarget::Post(room) => {
                let draft = message_draft(frame)?;
                let message = self.app.chat().post(&user, room, draft).await?;
                if let Some(receipt) = frame.header("receipt") {
                    // Held back until the own copy is queued (see `serve`).
                    self.held_receipt = Some(
                        Frame::new(Command::Receipt)
                            .with_header("receipt-id", receipt)
                            .with_header("message-id", message.id.to_string())
                            .with_header("seq", message.seq.to_string()),
                    );
                }
                return Ok(());
            }
            SendTarget::Edit(room, seq) => {
                let text = message_text(frame)?;
                let message = self
                    .app
                    .chat()
                    .edit_message(&user, room, seq, &text)
                    .await?;
                self.change_receipt(frame, &message);
                return Ok(());
            }
            SendTarget::Delete(room, seq) => {
                let message = self.app.chat().delete_message(&user, room, seq).await?;
                self.change_receipt(frame, &message);
                return Ok(());
            }
            SendTarget::React(room, seq) => {
                #[derive(serde::Deserialize)]
                struct React {
                    emoji: String,
                    add: bool,
                }
                let react: React = serde_json::from_slice(&frame.body).map_err(|_| {
                    Error::Invalid(r#"the body must be {"emoji": "…", "add": true|false}"#.into())
                })?;
                let message = self
                    .app
                    .chat()
                    .react(&user, room, seq, &react.emoji, react.add)
                    .await?;
                self.change_receipt(frame, &message);
                return Ok(());
            }
            SendTarget::Typing(room) => {
                self.app.chat().typing(&user, room, self.conn_id).await?;
            }
            SendTarget::Read(room) => {
                #[derive(serde::Deserialize)]
                struct Read {
                    seq: Seq,
                }
                let read: Read = serde_json::from_slice(&frame.body)
                    .map_err(|_| Error::Invalid(r#"the body must be {"seq": N}"#.into()))?;
                self.app
                    .chat()
                    .mark_read(user.id, room, read.seq, Some(self.conn_id))
                    .await?;
            }
            SendTarget::Presence => {
                #[derive(serde::Deserialize)]
                struct Report {
                    state: Activity,
                }
                let report: Report = serde_json::from_slice(&frame.body).map_err(|_| {
                    Error::Invalid(r#"the body must be {"state": "active"|"away"}"#.into())
                })?;
                self.app
                    .presence()
                    .report(user.id, self.conn_id, report.state);
            }
            SendTarget::WatchPresence => {
                let watch: PresenceWatch = serde_json::from_slice(&frame.body).map_err(|_| {
                    Error::Invalid(r#"the body must be {"userIds": [id, …]}"#.into())
                })?;
                let users = self
                    .app
                    .presence()
                    .watch(user.id, &self.mailbox, &watch.user_ids)
                    .await?;
                self.deliver_presence(render_body(&PresenceBody::Presence { users }));
            }
            SendTarget::Token => {
                let token = frame
                    .header("Authorization")
                    .or_else(|| frame.header("authorization"))
                    .and_then(bearer)
                    .ok_or_else(|| {
                        Error::Invalid("send the new token as Authorization: Bearer <token>".into())
                    })?;
                let identity = self.app.auth().authenticate(token).await?;
                if identity.user.id != user.id {
                    return Err(Error::Forbidden(
                        "the new token belongs to another user".into(),
                    ));
                }
                self.identity = identity;
            }
        }
        self.receipt(frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(body: &str, content_type: Option<&str>) -> Frame {
        let mut frame = Frame::new(Command::Send).with_header("destination", "/app/rooms/1");
        if let Some(ct) = content_type {
            frame = frame.with_header("content-type", ct);
        }
        frame.with_body(body.as_bytes().to_vec())
    }

    #[test]
    fn message_text_accepts_json_and_plain_text() {
        assert_eq!(message_text(&send(r#"{"text":"hi"}"#, None)).unwrap(), "hi");
        assert_eq!(
            message_text(&send(r#"{"text":"hi"}"#, Some("application/json"))).unwrap(),
            "hi"
        );
        assert_eq!(message_text(&send("hello", None)).unwrap(), "hello");
        assert_eq!(
            message_text(&send(r#"{"text":"x"}"#, Some("text/plain"))).unwrap(),
            r#"{"text":"x"}"#
        );
        assert!(message_text(&send("hello", Some("application/json"))).is_err());
        assert!(message_text(&send(r#"{"txt":"x"}"#, None)).is_err());
        assert!(message_text(&Frame::new(Command::Send).with_body(vec![0xff, 0xfe])).is_err());
    }

    #[test]
    fn replies_come_from_the_json_body_or_the_plain_text_header() {
        let draft = message_draft(&send(r#"{"text":"hi","replyTo":5}"#, None)).unwrap();
        assert_eq!(draft.reply_to.map(|r| r.seq), Some(Seq(5)));
        let draft = message_draft(&send(
            r#"{"text":"hi","replyTo":{"roomId":3,"seq":2}}"#,
            Some("application/json"),
        ))
        .unwrap();
        assert_eq!(
            draft.reply_to,
            Some(ReplyTarget {
                room: Some(crate::model::RoomId(3)),
                seq: Seq(2)
            })
        );
        assert_eq!(
            message_draft(&send(r#"{"text":"hi"}"#, None))
                .unwrap()
                .reply_to,
            None
        );
        assert!(message_draft(&send(r#"{"text":"hi","replyTo":"5"}"#, None)).is_err());
        let plain = send("hi", Some("text/plain")).with_header("reply-to", "4");
        assert_eq!(
            message_draft(&plain).unwrap().reply_to.map(|r| r.seq),
            Some(Seq(4))
        );
        let bad = send("hi", Some("text/plain")).with_header("reply-to", "-4");
        assert!(matches!(message_draft(&bad), Err(Error::Invalid(_))));
    }

    #[test]
    fn attachments_come_from_a_json_body_only() {
        let json =
            message_draft(&send(r#"{"attachments":[4,7]}"#, Some("application/json"))).unwrap();
        assert_eq!(json.text, "", "no text with attachments is empty text");
        assert_eq!(json.attachments, [AttachmentId(4), AttachmentId(7)]);
        let plain = send(r#"{"attachments":[4]}"#, Some("text/plain"));
        assert!(message_draft(&plain).unwrap().attachments.is_empty());
        let prose = send(r#"my "attachments" are late"#, None);
        assert!(message_draft(&prose).unwrap().attachments.is_empty());
        assert!(message_draft(&send(r#"{"attachments":"x"}"#, None)).is_err());
        assert!(message_text(&send(r#"{"other":1}"#, None)).is_err());
    }
}
