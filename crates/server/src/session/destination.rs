//! What a destination names: the parsing of SUBSCRIBE and SEND destinations into typed targets.
//!
//! This module owns the destination grammar of the contract (`/topic/rooms/{id}`,
//! `/user/queue/…`, `/app/presence[/watch]`, `/app/rooms/{id}[/typing|/read|/messages/{seq}/edit|/messages/{seq}/delete|/messages/{seq}/react]`, `/app/token`) and nothing else: it
//! reaches no session state, no rights and no I/O. Whether the user may use a room is the
//! frame handlers' question.

use super::{ERRORS, NOTIFICATIONS, PRESENCE};
use crate::model::{RoomId, Seq};

/// Where a subscription points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// A room's topic, `/topic/rooms/{id}`.
    Room(RoomId),
    /// The user's notification queue.
    Notifications,
    /// The connection's error queue.
    Errors,
    /// The presence of the users the connection watches.
    Presence,
}

/// What the destination of a SUBSCRIBE names.
pub(super) fn subscription_target(destination: &str) -> Option<Target> {
    match destination {
        NOTIFICATIONS => Some(Target::Notifications),
        ERRORS => Some(Target::Errors),
        PRESENCE => Some(Target::Presence),
        _ => destination
            .strip_prefix("/topic/rooms/")
            .and_then(|id| id.parse().ok())
            .map(Target::Room),
    }
}

/// What the destination of a SEND names.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SendTarget {
    /// Post a message to the room.
    Post(RoomId),
    /// A typing indicator in the room.
    Typing(RoomId),
    /// Mark the room read up to a `seq`.
    Read(RoomId),
    /// Edit message `seq` of the room, `/app/rooms/{id}/messages/{seq}/edit`.
    Edit(RoomId, Seq),
    /// Delete message `seq` of the room, `/app/rooms/{id}/messages/{seq}/delete`.
    Delete(RoomId, Seq),
    /// Add or take back a reaction to message `seq` of the room,
    /// `/app/rooms/{id}/messages/{seq}/react`.
    React(RoomId, Seq),
    /// Swap the connection's token.
    Token,
    /// Report the connection's activity, `/app/presence`.
    Presence,
    /// Replace the list of users whose presence the connection watches,
    /// `/app/presence/watch`.
    WatchPresence,
}

/// What the destination of a SEND names, or nothing for a destination the contract lacks.
pub(super) fn send_target(destination: &str) -> Option<SendTarget> {
    match destination {
        "/app/token" => return Some(SendTarget::Token),
        "/app/presence" => return Some(SendTarget::Presence),
        "/app/presence/watch" => return Some(SendTarget::WatchPresence),
        _ => {}
    }
    let rest = destination.strip_prefix("/app/rooms/")?;
    let (id, action) = match rest.split_once('/') {
        Some((id, action)) => (id, Some(action)),
        None => (rest, None),
    };
    let room: RoomId = id.parse().ok()?;
    match action {
        None => Some(SendTarget::Post(room)),
        Some("typing") => Some(SendTarget::Typing(room)),
        Some("read") => Some(SendTarget::Read(room)),
        Some(action) => {
            let (seq, verb) = action.strip_prefix("messages/")?.split_once('/')?;
            let seq: Seq = seq.parse().ok()?;
            match verb {
                "edit" => Some(SendTarget::Edit(room, seq)),
                "delete" => Some(SendTarget::Delete(room, seq)),
                "react" => Some(SendTarget::React(room, seq)),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_parsed_strictly() {
        assert_eq!(
            subscription_target("/topic/rooms/12"),
            Some(Target::Room(RoomId(12)))
        );
        assert_eq!(
            subscription_target(NOTIFICATIONS),
            Some(Target::Notifications)
        );
        assert_eq!(subscription_target("/topic/rooms/x"), None);
        assert_eq!(subscription_target("/topic/rooms/"), None);
        assert_eq!(
            send_target("/app/rooms/3"),
            Some(SendTarget::Post(RoomId(3)))
        );
        assert_eq!(
            send_target("/app/rooms/3/typing"),
            Some(SendTarget::Typing(RoomId(3)))
        );
        assert_eq!(
            send_target("/app/rooms/3/read"),
            Some(SendTarget::Read(RoomId(3)))
        );
        assert_eq!(send_target("/app/token"), Some(SendTarget::Token));
        assert_eq!(send_target("/app/presence"), Some(SendTarget::Presence));
        assert_eq!(
            send_target("/app/presence/watch"),
            Some(SendTarget::WatchPresence)
        );
        assert_eq!(send_target("/app/presence/other"), None);
        assert_eq!(subscription_target(PRESENCE), Some(Target::Presence));
        assert_eq!(
            send_target("/app/rooms/3/messages/7/edit"),
            Some(SendTarget::Edit(RoomId(3), Seq(7)))
        );
        assert_eq!(
            send_target("/app/rooms/3/messages/7/delete"),
            Some(SendTarget::Delete(RoomId(3), Seq(7)))
        );
        assert_eq!(
            send_target("/app/rooms/3/messages/7/react"),
            Some(SendTarget::React(RoomId(3), Seq(7)))
        );
        assert_eq!(send_target("/app/rooms/3/messages/7"), None);
        assert_eq!(send_target("/app/rooms/3/messages/x/edit"), None);
        assert_eq!(send_target("/app/rooms/3/messages/7/pin"), None);
        assert_eq!(send_target("/app/rooms/3/other"), None);
        assert_eq!(send_target("/app/rooms/abc"), None);
    }
}
