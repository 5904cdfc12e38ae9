//! Stored messages read back onto a room topic: the `since-seq` replay owed to a new
//! subscription, and the gap fill the seq filter asks for.
//!
//! This module owns reading stored messages page by page (through `rooms`, never the store
//! itself) for this connection and queueing what it reads in seq order. The replay re-checks the rights before every page and flushes each page
//! through the session's writer; neither decides a route (the `routing` state says what is
//! owed and who gets it).

use super::frames::{change_frame, room_message_frame};
use super::routing::Replay;
use super::{Close, Session, Transport, REPLAY_PAGE};
use crate::error::Error;
use crate::hub::{RenderedChange, RenderedMessage};
use crate::model::{ChangeKind, RoomId, Seq};
use tracing::warn;

impl<T: Transport> Session<T> {
    /// Sends the stored messages of `room` in the range of `replay`, page by page, to
    /// subscription `id` alone (the room's other subscriptions, if any, hold them already).
    ///
    /// `replay.upto` is the room's last `seq` when the subscription entered the table.
    /// Everything committed later reaches this connection through the hub, which addresses
    /// members only, so a replay never sends a message committed after it began, however long
    /// a slow reader makes it last. Before every page the rights are checked again: the
    /// control lane is read (a leave ends the subscription, a revoked token the connection),
    /// the token must not have expired, and the user must still be a member.
    pub(super) async fn replay(
        &mut self,
        room: RoomId,
        id: &str,
        replay: Replay,
    ) -> Result<(), Error> {
        let Replay { after, upto } = replay;
        let mut cursor = after;
        while cursor < upto {
            if let Err(close) = self.drain_control() {
                self.closing = Some(close);
                return Err(Error::Unauthorized);
            }
            if !self.subscriptions.contains_key(id) {
                return Err(Error::Forbidden(format!(
                    "you left room {room}; its replay has ended"
                )));
            }
            if self.identity.expires_at <= time::OffsetDateTime::now_utc().unix_timestamp() {
                self.closing = Some(Close::fatal(
                    "token_expired",
                    "the token has expired; refresh it and reconnect",
                ));
                return Err(Error::TokenExpired);
            }
            self.app
                .chat()
                .require_member(self.identity.user.id, room)
                .await?;
            let page = self
                .app
                .chat()
                .messages_between(room, cursor, upto + 1, REPLAY_PAGE)
                .await?;
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            if let Some(sub) = self.subscriptions.get(id) {
                for message in page {
                    let rendered = RenderedMessage::new(&message);
                    self.out
                        .push(room_message_frame(self.version, sub, &rendered));
                }
            }
            cursor = last;
            // A long replay goes out page by page instead of piling up in memory.
            if let Err(close) = self.flush().await {
                self.closing = Some(close);
                return Err(Error::Invalid(
                    "the connection closed during the replay".into(),
                ));
            }
        }
        Ok(())
    }

    /// The `since-rev` replay: for every message of `room` with `seq <= upto` changed after
    /// revision `after_rev`, a `changed` event with its current state, ascending by `rev`, to
    /// subscription `id` alone, page by page. It runs after the subscription entered the
    /// routing state, so a change committed meanwhile also comes live (a client keeps the
    /// highest `rev`; a repeat is harmless) and none is lost.
    pub(super) async fn replay_changes(
        &mut self,
        room: RoomId,
        id: &str,
        after_rev: u64,
        upto: Seq,
    ) -> Result<(), Error> {
        let destination = format!("/topic/rooms/{room}");
        let mut cursor = after_rev;
        loop {
            let page = self
                .app
                .chat()
                .changes_upto(room, cursor, upto, REPLAY_PAGE)
                .await?;
            let Some(last) = page.last().map(|m| m.rev) else {
                break;
            };
            if let Some(sub) = self.subscriptions.get(id) {
                for message in &page {
                    let change = replayed_change_kind(message);
                    let rendered = RenderedChange::new(change, message);
                    let message_id = format!("change-{}-{}", room, message.rev);
                    self.out.push(change_frame(
                        self.version,
                        &destination,
                        sub,
                        &message_id,
                        &rendered,
                    ));
                }
            }
            cursor = last;
            if let Err(close) = self.flush().await {
                self.closing = Some(close);
                return Err(Error::Invalid(
                    "the connection closed during the replay".into(),
                ));
            }
            if page.len() < REPLAY_PAGE as usize {
                break;
            }
        }
        Ok(())
    }

    /// A room's head from the store (see `routing`): when the topic is behind it, sends the
    /// stored messages up to it, as a gap fill. Counted apart from the gaps that live
    /// publications find, since each one means a publication was lost.
    pub(super) async fn catch_up_to_head(&mut self, room: RoomId, head: Seq) {
        if let Some(delivered) = self.routing.behind(room, head) {
            self.app.metrics().room_head_catch_ups.inc();
            self.fill_gap(room, delivered, head + 1).await;
        }
    }

    /// Sends the stored messages of `room` strictly between `after` (the filter's
    /// `delivered`) and `before` on the topic, through the seq filter (see `routing`). A store
    /// error is logged and leaves the gap: the client recovers with `since-seq`.
    pub(super) async fn fill_gap(&mut self, room: RoomId, after: Seq, before: Seq) {
        self.app.metrics().gap_fills.inc();
        let mut cursor = after;
        while cursor + 1 < before {
            let page = self
                .app
                .chat()
                .messages_between(room, cursor, before, REPLAY_PAGE)
                .await;
            let page = match page {
                Ok(page) if !page.is_empty() => page,
                Ok(_) => break,
                Err(err) => {
                    warn!(error = %err, %room, "could not fill a gap; the client recovers with since-seq");
                    break;
                }
            };
            for message in page {
                cursor = message.seq;
                self.push_room_message(&RenderedMessage::new(&message));
            }
        }
    }
}

/// The `change` a replayed `changed` event names, from the message's current state (the store
/// keeps the state, not the kind of its last change): a tombstone was deleted; a message
/// never edited changed only by reactions; an edited one is named `edited`, even when a
/// reaction came after the edit. The body is the whole current state in every case, and a
/// client applies it by `rev`, so the name never changes what a client shows.
fn replayed_change_kind(message: &crate::model::Message) -> ChangeKind {
    if message.is_deleted() {
        ChangeKind::Deleted
    } else if message.edited_at.is_none() {
        ChangeKind::Reacted
    } else {
        ChangeKind::Edited
    }
}
