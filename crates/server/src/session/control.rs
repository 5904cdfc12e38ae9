//! The hub's control lane on one connection: a room left ends its topic subscriptions, a
//! revoked login token ends the connection.
//!
//! Leaves and revocations come on this lane rather than behind the messages: the I/O loop reads
//! it before its queue, between the pages of a replay, and while a flush waits on a slow
//! socket, so a right taken away stops the frames it guarded at once, not after everything
//! queued before it.
//!
//! This module owns what a control event does to the session. It queues frames (the error
//! event of a leave) but never writes to the socket itself, and it reaches no store.

use super::close::Close;
use super::{Session, Transport};
use crate::auth::{Credential, Identity};
use crate::error::Error;
use crate::publication::UserEvent;
use sotong_stomp::{Command, Frame};

/// The close a control event demands of a connection signed in as `identity`: a revoked
/// login token ends every connection that it authenticated; revoking every token of the user
/// (but a kept one) ends every other connection of the user, JWT ones included.
pub(super) fn revocation(identity: &Identity, event: &UserEvent) -> Option<Close> {
    match (event, &identity.credential) {
        (UserEvent::TokenRevoked { token_hash }, Credential::Session { token_hash: mine })
            if token_hash == mine =>
        {
            Some(Close::fatal(
                "unauthorized",
                "the token was revoked (logged out)",
            ))
        }
        (UserEvent::TokensRevoked { keep }, credential) => {
            let kept = matches!(
                (keep, credential),
                (Some(keep), Credential::Session { token_hash }) if keep == token_hash
            );
            (!kept).then(|| {
                Close::fatal(
                    "unauthorized",
                    "every token of this user was revoked (logged out everywhere)",
                )
            })
        }
        _ => None,
    }
}

impl<T: Transport> Session<T> {
    /// Handles every control event waiting on the lane.
    pub(super) fn drain_control(&mut self) -> Result<(), Close> {
        while let Ok(event) = self.control.try_recv() {
            self.handle_control(&event)?;
        }
        Ok(())
    }

    /// A room left ends its subscription; a revoked token ends the connection.
    pub(super) fn handle_control(&mut self, event: &UserEvent) -> Result<(), Close> {
        if let Some(close) = revocation(&self.identity, event) {
            return Err(close);
        }
        if let UserEvent::Left { room_id } = event {
            // Room mates met only in that room are watched no more; spawned, so that the
            // session does not wait for the store here.
            let presence = self.app.presence().clone();
            let (user, mailbox) = (self.identity.user.id, self.mailbox.clone());
            tokio::spawn(async move {
                if let Err(err) = presence.recheck(user, &mailbox).await {
                    tracing::warn!(user = %user, error = %err, "presence watch not rechecked");
                }
            });
            if let Some(ended) = self.routing.end_room(*room_id) {
                for id in ended {
                    if self.subscriptions.remove(&id).is_some() {
                        self.app.metrics().subscriptions.dec();
                    }
                }
                self.mailbox.watch_topics(self.routing.rooms());
                let destination = format!("/topic/rooms/{room_id}");
                let frame =
                    Frame::new(Command::Unsubscribe).with_header("destination", destination);
                self.error_event(
                    &Error::Forbidden(format!(
                        "you left room {room_id}; its subscription has ended"
                    )),
                    &frame,
                );
            }
        }
        Ok(())
    }
}
