//! Read receipts' pacing: how often a member's moving read mark is told to the room.
//!
//! A client marks a room read as messages scroll past, easily dozens of times a second while
//! a long backlog goes by; told one by one, each mark would be a frame to every connection of
//! every member. So each (room, member) has a window: the first advance is told at once and
//! opens the window; advances within it only raise the pending mark; when the window closes
//! the pending mark (the highest) is told and a new window opens, until one closes with
//! nothing pending. At most one event per member, room and window, and the last one always
//! carries the latest mark.
//!
//! This type only keeps the windows; `Chat` publishes and sleeps.

use crate::model::{RoomId, Seq, UserId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long a window lasts: short enough that "Seen" follows a reader closely, long enough
/// that a scroll through a backlog costs a few events, not one per message.
pub(crate) const RECEIPT_WINDOW: Duration = Duration::from_millis(250);

/// The open windows, by room and member, each with the highest mark waiting to be told.
#[derive(Debug, Default)]
pub(crate) struct ReceiptWindows {
    open: Mutex<HashMap<(RoomId, UserId), Option<Seq>>>,
}

/// What to do with a new mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// No window was open: tell it now and close the window (now open) after its time.
    TellNow,
    /// A window is open: the mark waits for it to close.
    Wait,
}

impl ReceiptWindows {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(RoomId, UserId), Option<Seq>>> {
        // Every critical section is one map operation: a poisoned map is still consistent.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A member's mark moved to `seq`.
    pub(crate) fn offer(&self, room: RoomId, user: UserId, seq: Seq) -> Offer {
        let mut open = self.lock();
        match open.get_mut(&(room, user)) {
            Some(pending) => {
                *pending = Some(pending.map_or(seq, |p| p.max(seq)));
                Offer::Wait
            }
            None => {
                open.insert((room, user), None);
                Offer::TellNow
            }
        }
    }

    /// The window of (`room`, `user`) has run its time: the mark to tell now, which keeps a
    /// new window open, or `None`, which closes it.
    pub(crate) fn close(&self, room: RoomId, user: UserId) -> Option<Seq> {
        let mut open = self.lock();
        match open.get_mut(&(room, user)) {
            Some(pending @ Some(_)) => pending.take(),
            _ => {
                open.remove(&(room, user));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_marks_is_told_first_and_last() {
        let windows = ReceiptWindows::default();
        let (room, user) = (RoomId(1), UserId(2));
        assert_eq!(windows.offer(room, user, Seq(1)), Offer::TellNow);
        for seq in 2..=50 {
            assert_eq!(windows.offer(room, user, Seq(seq)), Offer::Wait);
        }
        assert_eq!(
            windows.offer(RoomId(9), user, Seq(1)),
            Offer::TellNow,
            "another room has its own window"
        );
        assert_eq!(windows.close(room, user), Some(Seq(50)));
        assert_eq!(
            windows.offer(room, user, Seq(51)),
            Offer::Wait,
            "still open"
        );
        assert_eq!(windows.close(room, user), Some(Seq(51)));
        assert_eq!(windows.close(room, user), None, "nothing pending: closed");
        assert_eq!(windows.offer(room, user, Seq(52)), Offer::TellNow);
    }

    #[test]
    fn a_pending_mark_never_goes_back() {
        let windows = ReceiptWindows::default();
        let (room, user) = (RoomId(1), UserId(2));
        windows.offer(room, user, Seq(1));
        windows.offer(room, user, Seq(9));
        windows.offer(room, user, Seq(4));
        assert_eq!(windows.close(room, user), Some(Seq(9)));
    }
}
