//! Presence: whether a user is online, away or offline, and when it was last seen.
//!
//! Presence is per *user*, never per room: a connection names the users it watches
//! (`/app/presence/watch`) and hears of each of them on `/user/queue/presence`, one frame per
//! change whatever the number of rooms it shares with them. The bodies here are what travels on
//! that destination and what a connection sends to report its own activity.

use crate::ids::UserId;
use serde::{Deserialize, Serialize};

/// A user's state as others see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    /// No connection (or the user hides its presence).
    Offline,
    /// Connected, but no connection reports input lately (a hidden tab, an idle window).
    Away,
    /// At least one connection is in use.
    Online,
}

/// One user's presence: `{"userId","state","lastSeenAt"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPresence {
    /// The user.
    pub user_id: UserId,
    /// Its state now.
    pub state: PresenceState,
    /// When its last connection closed (RFC 3339, milliseconds, UTC), for `offline`; `null`
    /// while connected, for a user never seen, and for a user who hides its presence.
    pub last_seen_at: Option<String>,
}

/// The body of an event on `/user/queue/presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum PresenceBody {
    /// `{"type":"presence","users":[…]}`: the state of every user watched (the answer to a
    /// watch list) or of the one user whose state changed.
    Presence {
        /// The users, each once.
        users: Vec<UserPresence>,
    },
    /// An event type this version does not know.
    #[serde(other)]
    Other,
}

/// What a connection reports of itself, the body of a SEND to `/app/presence`:
/// `{"state":"active"|"away"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    /// Nobody uses this connection lately.
    Away,
    /// Someone uses it.
    Active,
}

impl Activity {
    /// The state a user with this best activity over its connections shows.
    pub fn state(self) -> PresenceState {
        match self {
            Activity::Away => PresenceState::Away,
            Activity::Active => PresenceState::Online,
        }
    }
}

/// The body of a SEND to `/app/presence/watch`: `{"userIds":[…]}`, the whole list of users the
/// connection watches from now on (it replaces the previous one; `[]` watches nobody).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceWatch {
    /// The users to watch.
    pub user_ids: Vec<UserId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_event_reads_and_writes_as_the_contract_says() {
        let body = PresenceBody::Presence {
            users: vec![UserPresence {
                user_id: UserId(2),
                state: PresenceState::Offline,
                last_seen_at: Some("2024-05-01T12:34:56.789Z".into()),
            }],
        };
        let json = serde_json::to_string(&body).expect("serialises");
        assert_eq!(
            json,
            r#"{"type":"presence","users":[{"userId":2,"state":"offline","lastSeenAt":"2024-05-01T12:34:56.789Z"}]}"#
        );
        assert_eq!(
            serde_json::from_str::<PresenceBody>(&json).expect("parses"),
            body
        );
        assert_eq!(
            serde_json::from_str::<PresenceBody>(r#"{"type":"later"}"#).expect("parses"),
            PresenceBody::Other
        );
    }

    #[test]
    fn the_best_activity_wins() {
        assert!(Activity::Active > Activity::Away);
        assert_eq!(Activity::Away.state(), PresenceState::Away);
        assert!(PresenceState::Online > PresenceState::Away);
        let watch: PresenceWatch = serde_json::from_str(r#"{"userIds":[1,2]}"#).expect("parses");
        assert_eq!(watch.user_ids, vec![UserId(1), UserId(2)]);
    }
}
