//! The hub's items on one connection: messages, typing indicators, the user's events and
//! resync requests, each
//! turned into the frames its route calls for.
//!
//! This module owns carrying out a decision: it asks `routing` where a message goes and queues
//! one frame per subscription on that route (filling a gap from the store first when the
//! filter asks). It decides no route itself and never writes to the socket (the I/O loop
//! flushes what it queues).

use super::close::Close;
use super::destination::Target;
use super::frames::{change_frame, message_head, room_message_frame};
use super::routing::Route;
use super::{Session, Transport, NOTIFICATIONS, PRESENCE};
use crate::hub::{
    render_body, Outbound, RenderedChange, RenderedMessage, RenderedRead, RenderedTyping,
};
use crate::model::{message_notification_json, NotificationBody, ResyncReason, Room};
use crate::publication::UserEvent;
use bytes::Bytes;

impl<T: Transport> Session<T> {
    /// Routes one hub item to this connection.
    pub(super) async fn handle_outbound(&mut self, item: Outbound) -> Result<(), Close> {
        match item {
            Outbound::Message(message, unread, muted) => {
                self.deliver_message(&message, unread, muted).await
            }
            Outbound::Changed(change) => {
                self.deliver_change(&change);
                Ok(())
            }
            Outbound::Typing(typing) => {
                self.deliver_typing(&typing);
                Ok(())
            }
            Outbound::Read(read) => {
                self.deliver_read(&read);
                Ok(())
            }
            Outbound::User(event) => {
                if matches!(*event, UserEvent::Room(_)) {
                    // A room mate may have left: presence is for room mates only. Checked
                    // before this connection's next item, so no presence of someone it no
                    // longer shares a room with gets through after this event.
                    self.recheck_presence_watch().await;
                }
                self.deliver_user_event(&event)
            }
            Outbound::RoomHead(room, head) => {
                self.catch_up_to_head(room, head).await;
                Ok(())
            }
            Outbound::Resync(reason) => {
                self.deliver_resync(reason);
                Ok(())
            }
            Outbound::Presence(user, body) => {
                if self.mailbox.watches(user) {
                    self.deliver_presence(body);
                }
                Ok(())
            }
        }
    }

    /// A committed message: on its room topic, or as a notification, or nowhere, as
    /// `routing` decides.
    async fn deliver_message(
        &mut self,
        message: &RenderedMessage,
        unread: u64,
        muted: bool,
    ) -> Result<(), Close> {
        let room = message.room_id();
        match self.routing.route(room, message.seq()) {
            Route::Skip => {
                self.app.metrics().duplicate_publications.inc();
                Ok(())
            }
            Route::FillGapThenTopic { after, before } => {
                self.app.metrics().reordered_publications.inc();
                self.fill_gap(room, after, before).await;
                self.push_room_message(message);
                self.observe_latency(message);
                Ok(())
            }
            Route::Topic => {
                self.push_room_message(message);
                self.observe_latency(message);
                Ok(())
            }
            Route::Notification => {
                let mention = message.message.mentions.contains(&self.identity.user.id);
                // A mention comes through a muted room: only the rest is marked quiet.
                let quiet = muted && !mention;
                let body =
                    message_notification_json(room, &message.message_json, unread, mention, quiet);
                let message_id = message.message.id.to_string();
                if self.push_to_each(
                    Target::Notifications,
                    NOTIFICATIONS,
                    &message_id,
                    Bytes::from(body),
                ) {
                    self.observe_latency(message);
                }
                Ok(())
            }
        }
    }

    /// Queues a message on its room topic, one frame per subscription that does not hold it
    /// yet, and advances the room's seq filter.
    pub(super) fn push_room_message(&mut self, message: &RenderedMessage) {
        for id in self.routing.send_on_topic(message.room_id(), message.seq()) {
            if let Some(sub) = self.subscriptions.get(id) {
                self.out
                    .push(room_message_frame(self.version, sub, message));
            }
        }
    }

    /// An edit or delete: like a message, on the room topic when the connection subscribes
    /// to the room (one frame per subscription, with the `rev` header), else as a
    /// notification; never both. It passes no seq filter: a change may repeat what a
    /// `since-rev` replay sent, and a client keeps the state with the highest `rev`.
    fn deliver_change(&mut self, change: &RenderedChange) {
        let room = change.room_id();
        let message_id = format!("change-{}-{}", room, change.message.rev);
        if self.routing.is_subscribed(room) {
            let destination = format!("/topic/rooms/{room}");
            for subscriber in self.routing.topic_subscribers(room) {
                if let Some(sub) = self.subscriptions.get(subscriber) {
                    self.out.push(change_frame(
                        self.version,
                        &destination,
                        sub,
                        &message_id,
                        change,
                    ));
                }
            }
        } else {
            self.push_to_each(
                Target::Notifications,
                NOTIFICATIONS,
                &message_id,
                change.notification_body.clone(),
            );
        }
    }

    fn observe_latency(&self, message: &RenderedMessage) {
        let age_ms = crate::model::now_millis().saturating_sub(message.sent_at_millis);
        self.app
            .metrics()
            .delivery_latency
            .observe((age_ms.max(0) as f64) / 1000.0);
    }

    /// A typing indicator: on the room topic to each of its subscriptions, never to the
    /// connection that typed, never as a notification.
    fn deliver_typing(&mut self, typing: &RenderedTyping) {
        if typing.origin == self.conn_id {
            return;
        }
        if !self.routing.is_subscribed(typing.room_id) {
            return;
        }
        let id = self.event_id("typing");
        let destination = format!("/topic/rooms/{}", typing.room_id);
        // The room's own subscriber list, not a scan of every subscription of the connection.
        for subscriber in self.routing.topic_subscribers(typing.room_id) {
            if let Some(sub) = self.subscriptions.get(subscriber) {
                self.out.push(
                    message_head(self.version, &destination, sub, &id)
                        .with_header("content-type", "application/json")
                        .with_body(typing.body.clone()),
                );
            }
        }
    }

    /// A member's read mark: on the room topic to each subscription that asked for read
    /// receipts (`receipts: true`), never as a notification. A connection not showing the
    /// room needs none: it loads the marks when it opens the room.
    fn deliver_read(&mut self, read: &RenderedRead) {
        if !self.routing.is_subscribed(read.room_id) {
            return;
        }
        let id = self.event_id("read");
        let destination = format!("/topic/rooms/{}", read.room_id);
        for subscriber in self.routing.topic_subscribers(read.room_id) {
            if let Some(sub) = self.subscriptions.get(subscriber) {
                if sub.receipts {
                    self.out.push(
                        message_head(self.version, &destination, sub, &id)
                            .with_header("content-type", "application/json")
                            .with_body(read.body.clone()),
                    );
                }
            }
        }
    }

    /// An event about the user (a room added, a read mark from another device) on the
    /// notification queue.
    fn deliver_user_event(&mut self, event: &UserEvent) -> Result<(), Close> {
        let body = match event {
            UserEvent::Room(room) => NotificationBody::Room {
                room: Room::clone(room),
            },
            UserEvent::Read { room_id, seq } => NotificationBody::Read {
                room_id: *room_id,
                seq: *seq,
            },
            UserEvent::User(user) => NotificationBody::User { user: user.clone() },
            // The hub hands these to the control lane; should one come this way, it acts the same.
            UserEvent::Left { .. }
            | UserEvent::TokenRevoked { .. }
            | UserEvent::TokensRevoked { .. } => {
                return self.handle_control(event);
            }
        };
        let id = self.event_id("event");
        self.push_to_each(
            Target::Notifications,
            NOTIFICATIONS,
            &id,
            render_body(&body),
        );
        Ok(())
    }

    /// Publications may have been lost on their way here: every notification subscription
    /// hears `{"type":"resync","reason":…}` so that its client reloads the room list
    /// and re-fetches open rooms (a connection without one hears nothing; its topic
    /// subscriptions catch up through the room head check by themselves).
    fn deliver_resync(&mut self, reason: ResyncReason) {
        let body = NotificationBody::Resync { reason };
        let id = self.event_id("resync");
        if self.push_to_each(
            Target::Notifications,
            NOTIFICATIONS,
            &id,
            render_body(&body),
        ) {
            self.app.metrics().resyncs.inc();
        }
    }

    /// Narrows the connection's presence watch list to the users it still shares a room with.
    /// A store failure leaves the list as it was (logged): presence a little too wide for a
    /// while rather than a connection lost.
    pub(super) async fn recheck_presence_watch(&mut self) {
        let user = self.identity.user.id;
        if let Err(err) = self.app.presence().recheck(user, &self.mailbox).await {
            tracing::warn!(conn = %self.conn_id, user = %user, error = %err, "presence watch not rechecked");
        }
    }

    /// A watched user's presence changed: one frame per `/user/queue/presence` subscription
    /// (none without one: a client that never asked hears nothing).
    pub(super) fn deliver_presence(&mut self, body: Bytes) {
        let id = self.event_id("presence");
        let size = body.len() as u64;
        let before = self.out.len();
        self.push_to_each(Target::Presence, PRESENCE, &id, body);
        let frames = (self.out.len() - before) as u64;
        self.app.metrics().presence_frames.inc_by(frames);
        self.app.metrics().presence_bytes.inc_by(frames * size);
    }

    /// Queues one MESSAGE with `body` per subscription to `target` (each subscription gets its
    /// own frame, in id order; the body is shared, not copied). Returns whether there was one.
    fn push_to_each(
        &mut self,
        target: Target,
        destination: &str,
        message_id: &str,
        body: Bytes,
    ) -> bool {
        let mut any = false;
        for sub in self.subscriptions.values() {
            if sub.target != target {
                continue;
            }
            self.out.push(
                message_head(self.version, destination, sub, message_id)
                    .with_header("content-type", "application/json")
                    .with_body(body.clone()),
            );
            any = true;
        }
        any
    }
}
