//! [`Subscription`]: one local subscriber's `Stream` of events; dropping it unsubscribes.
//!
//! The stream is the receiving end of a bounded channel that the connection task fills (see
//! [`registry`](crate::registry) for the fan-out and the slow-subscriber policy). When the
//! task ends a subscriber it first leaves the reason in a one-shot slot and then drops the
//! channel, so the stream yields everything buffered, then `Err(reason)` once, then `None`.
//!
//! Dropping a room's stream hands the receiving end of its channel back to the task with the
//! drop notice: if it was the room's last subscriber, the messages it never yielded go to the
//! notifications instead (see [`registry`](crate::registry), "never both, never neither").

use crate::connection::{Command, Dropped};
use crate::error::Error;
use crate::model::{Notification, RoomEvent, RoomId, UserPresence};
use futures_util::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// What a local subscriber listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Topic {
    /// `/topic/rooms/{id}`.
    Room(RoomId),
    /// `/user/queue/notifications`.
    Notifications,
    /// `/user/queue/presence`.
    Presence,
}

/// The receiving half of a subscriber, as the registry hands it out.
#[derive(Debug)]
pub(crate) struct Parts<T> {
    pub(crate) id: u64,
    pub(crate) events: mpsc::Receiver<T>,
    pub(crate) end: oneshot::Receiver<Error>,
}

/// An event type a [`Subscription`] carries, and what its stream gives back when dropped.
pub(crate) trait Carried: Sized {
    /// The channel's receiving end as the connection wants it back: a room's unread events
    /// may still have to reach the notifications; the notifications' own are simply dropped.
    fn hand_back(events: mpsc::Receiver<Self>) -> Option<mpsc::Receiver<RoomEvent>>;
}

impl Carried for RoomEvent {
    fn hand_back(events: mpsc::Receiver<Self>) -> Option<mpsc::Receiver<RoomEvent>> {
        Some(events)
    }
}

impl Carried for UserPresence {
    fn hand_back(_: mpsc::Receiver<Self>) -> Option<mpsc::Receiver<RoomEvent>> {
        None
    }
}

impl Carried for Notification {
    fn hand_back(_: mpsc::Receiver<Self>) -> Option<mpsc::Receiver<RoomEvent>> {
        None
    }
}

/// A live subscription: a [`Stream`] of `Result<T, Error>`.
///
/// Items are `Ok(event)` in the server's order (for a room: `seq` order, each message once,
/// across reconnects too). The stream ends after one `Err`:
/// - [`Error::Lagged`]: this subscriber did not keep up and was dropped;
/// - [`Error::Refused`]: the server ended the subscription (for instance `forbidden` after
///   the user left the room);
/// - [`Error::Closed`] / [`Error::Auth`]: the client ended.
///
/// Dropping it unsubscribes; the connection sends `UNSUBSCRIBE` when the last local subscriber
/// of a destination goes. When the last subscriber of a room goes, the room's messages that
/// it had not yielded yet, and those still on their way on the room's topic, arrive on
/// [`Client::notifications`](crate::Client::notifications) instead: each message is on one
/// of the two streams, never both and never neither.
#[derive(Debug)]
#[must_use = "a subscription unsubscribes when dropped"]
pub struct Subscription<T> {
    parts: Parts<T>,
    topic: Topic,
    finished: bool,
    drops: mpsc::UnboundedSender<Dropped>,
    /// Turns the channel into what the drop notice carries back.
    hand_back: fn(mpsc::Receiver<T>) -> Option<mpsc::Receiver<RoomEvent>>,
    /// Keeps the connection task alive while this subscription is, even if every
    /// [`Client`](crate::Client) handle is gone.
    _keepalive: Option<mpsc::Sender<Command>>,
}

impl<T> Subscription<T> {
    pub(crate) fn new(
        parts: Parts<T>,
        topic: Topic,
        drops: mpsc::UnboundedSender<Dropped>,
        keepalive: Option<mpsc::Sender<Command>>,
    ) -> Self
    where
        T: Carried,
    {
        Subscription {
            parts,
            topic,
            finished: false,
            drops,
            hand_back: T::hand_back,
            _keepalive: keepalive,
        }
    }

    /// The STOMP destination this subscription listens to.
    pub fn destination(&self) -> String {
        match self.topic {
            Topic::Room(room) => format!("/topic/rooms/{room}"),
            Topic::Notifications => crate::connection::NOTIFICATIONS.to_string(),
            Topic::Presence => crate::connection::PRESENCE.to_string(),
        }
    }
}

impl<T> Stream for Subscription<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is Unpin, so the pin can be dropped.
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        match this.parts.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(Some(Ok(event))),
            Poll::Ready(None) => {
                this.finished = true;
                // The reason is set before the channel is dropped, so it is there by now.
                Poll::Ready(this.parts.end.try_recv().ok().map(Err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        let leftovers = match self.topic {
            Topic::Room(_) if !self.finished => {
                // Closed first: from here the connection keeps this stream's events aside
                // instead of adding to the channel, so what is buffered now comes before
                // anything it keeps, and nothing can slip in behind the hand-back.
                self.parts.events.close();
                let (_, spare) = mpsc::channel(1);
                (self.hand_back)(std::mem::replace(&mut self.parts.events, spare))
            }
            _ => None,
        };
        // The connection task may be gone already; then there is nothing to undo.
        let _ = self.drops.send(Dropped {
            topic: self.topic,
            id: self.parts.id,
            leftovers,
        });
    }
}
