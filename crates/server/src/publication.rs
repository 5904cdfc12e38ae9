//! What travels between nodes: a [`Publication`], addressed to users, and the
//! [`UserEvent`]s and [`ConnectionId`]s it carries.
//!
//! The types are apart from the [`Broker`](crate::broker::Broker) that carries them and the
//! [`Hub`](crate::hub::Hub) that hands them to connections, so that each of those reaches this
//! module and neither reaches the other's internals (a broker feeds the hub; the hub never
//! reaches a broker). They reach nothing but the wire's model.

use crate::model::{ChangeKind, Message, Room, RoomId, Seq, User, UserId, UserPresence};
use serde::{Deserialize, Serialize};

/// Identifies one WebSocket connection, unique across nodes (random prefix + counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Something that happened, addressed to the users who must hear of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Publication {
    /// A message was committed. `recipients` are all members, with their unread counts.
    Message {
        /// The stored message.
        message: Message,
        /// Every member and its unread count after this message.
        recipients: Vec<(UserId, u64)>,
        /// The members who muted the room: their connections keep quiet about it unless it
        /// mentions them (the notification says `"muted":true`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        muted: Vec<UserId>,
    },
    /// A stored message was edited or deleted (committed, with a new `rev`). Delivered like a
    /// message: on the room topic to connections subscribed to it, else as a notification.
    Changed {
        /// What happened.
        change: ChangeKind,
        /// The message as it is now.
        message: Message,
        /// The room's members.
        recipients: Vec<UserId>,
    },
    /// Someone is typing; only connections showing the room (subscribed to its topic) care.
    Typing {
        /// The room.
        room_id: RoomId,
        /// Who types.
        user: User,
        /// The room's members.
        members: Vec<UserId>,
        /// The typing connection, which does not hear itself.
        origin: ConnectionId,
    },
    /// A member's read mark in a room moved forward. Like typing, only connections showing
    /// the room care (and of those only subscriptions that asked for read receipts); never a
    /// notification.
    Read {
        /// The room.
        room_id: RoomId,
        /// The member who read.
        user_id: UserId,
        /// The member's read mark now.
        seq: Seq,
        /// The room's members when the event was published.
        members: Vec<UserId>,
    },
    /// A user's presence changed (as others see it: a user hiding it shows `offline`).
    /// Addressed to no user but to every node, each handing it to its connections that watch
    /// that user: one publication per change, whatever the number of rooms or watchers.
    Presence(UserPresence),
    /// An event for one user's connections (its notification queue).
    ToUser {
        /// The user.
        user_id: UserId,
        /// What happened.
        event: UserEvent,
        /// A connection that already knows (the one that caused it).
        except: Option<ConnectionId>,
    },
}

impl Publication {
    /// The users who must hear of it, each once (none for a presence change, which goes to
    /// every node), in the order the publication names them.
    pub fn addressees(&self) -> Vec<UserId> {
        let mut users: Vec<UserId> = match self {
            Publication::Message { recipients, .. } => {
                recipients.iter().map(|(user, _)| *user).collect()
            }
            Publication::Changed { recipients, .. } => recipients.clone(),
            Publication::Typing { members, .. } | Publication::Read { members, .. } => {
                members.clone()
            }
            Publication::ToUser { user_id, .. } => vec![*user_id],
            Publication::Presence(_) => Vec::new(),
        };
        let mut seen = std::collections::HashSet::with_capacity(users.len());
        users.retain(|user| seen.insert(*user));
        users
    }

    /// The publication as `user` alone must hear it (for a message: with that user's unread
    /// count only), or `None` when it does not address `user`. A broker that carries one
    /// copy per user sends this, so that a node delivers to the connections of that user and
    /// of nobody else.
    pub fn for_user(&self, user: UserId) -> Option<Publication> {
        match self {
            Publication::Message {
                message,
                recipients,
                muted,
            } => {
                let unread = recipients.iter().find(|(u, _)| *u == user)?.1;
                Some(Publication::Message {
                    message: message.clone(),
                    recipients: vec![(user, unread)],
                    muted: muted.iter().copied().filter(|u| *u == user).collect(),
                })
            }
            Publication::Changed {
                change,
                message,
                recipients,
            } => recipients.contains(&user).then(|| Publication::Changed {
                change: *change,
                message: message.clone(),
                recipients: vec![user],
            }),
            Publication::Typing {
                room_id,
                user: typist,
                members,
                origin,
            } => members.contains(&user).then(|| Publication::Typing {
                room_id: *room_id,
                user: typist.clone(),
                members: vec![user],
                origin: *origin,
            }),
            Publication::Read {
                room_id,
                user_id,
                seq,
                members,
            } => members.contains(&user).then(|| Publication::Read {
                room_id: *room_id,
                user_id: *user_id,
                seq: *seq,
                members: vec![user],
            }),
            Publication::ToUser { user_id, .. } => (*user_id == user).then(|| self.clone()),
            Publication::Presence(_) => None,
        }
    }
}

/// Events that concern one user rather than a room's audience.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum UserEvent {
    /// The user was added to a room, or a room it is in changed (members), as it sees it.
    Room(Box<Room>),
    /// The user marked a room read on some connection.
    Read {
        /// The room.
        room_id: RoomId,
        /// The read mark now in force.
        seq: Seq,
    },
    /// The user left (or was removed from) a room: drop its subscription there.
    Left {
        /// The room.
        room_id: RoomId,
    },
    /// A user sharing a room with this one (or this one) changed its display name.
    User(User),
    /// Every token of the user was revoked but `keep` (a password change keeps the session
    /// that made it; a log out everywhere keeps none): every connection of the user not
    /// authenticated by `keep` must close, on every node, whatever its credential.
    TokensRevoked {
        /// SHA-256 of the session token that stays valid, if any.
        keep: Option<Vec<u8>>,
    },
    /// A login session token was revoked: connections authenticated by it must close.
    TokenRevoked {
        /// SHA-256 of the revoked token.
        token_hash: Vec<u8>,
    },
}

impl UserEvent {
    /// Whether the event takes a right away (a room, a token). Such events must act before
    /// anything queued ahead of them is sent, so the hub gives them a lane of their own.
    pub fn is_control(&self) -> bool {
        matches!(
            self,
            UserEvent::Left { .. }
                | UserEvent::TokenRevoked { .. }
                | UserEvent::TokensRevoked { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::message;

    #[test]
    fn a_message_for_one_user_carries_that_users_unread_count_only() {
        let publication = Publication::Message {
            message: message(7, 1),
            recipients: vec![(UserId(1), 0), (UserId(2), 4), (UserId(2), 4)],
            muted: vec![UserId(1)],
        };
        assert_eq!(publication.addressees(), vec![UserId(1), UserId(2)]);
        match publication.for_user(UserId(2)) {
            Some(Publication::Message {
                recipients, muted, ..
            }) => {
                assert_eq!(recipients, vec![(UserId(2), 4)]);
                assert!(muted.is_empty(), "another member's mute stays with them");
            }
            other => panic!("unexpected {other:?}"),
        }
        match publication.for_user(UserId(1)) {
            Some(Publication::Message { muted, .. }) => assert_eq!(muted, vec![UserId(1)]),
            other => panic!("unexpected {other:?}"),
        }
        assert!(publication.for_user(UserId(3)).is_none());
    }

    #[test]
    fn a_change_narrows_to_the_user() {
        let changed = Publication::Changed {
            change: ChangeKind::Edited,
            message: message(7, 1),
            recipients: vec![UserId(1), UserId(2)],
        };
        assert_eq!(changed.addressees(), vec![UserId(1), UserId(2)]);
        match changed.for_user(UserId(2)) {
            Some(Publication::Changed { recipients, .. }) => {
                assert_eq!(recipients, vec![UserId(2)]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(changed.for_user(UserId(3)).is_none());
    }

    #[test]
    fn typing_and_user_events_narrow_to_the_user() {
        let typing = Publication::Typing {
            room_id: RoomId(7),
            user: message(7, 1).sender,
            members: vec![UserId(1), UserId(2)],
            origin: ConnectionId(5),
        };
        match typing.for_user(UserId(2)) {
            Some(Publication::Typing { members, .. }) => assert_eq!(members, vec![UserId(2)]),
            other => panic!("unexpected {other:?}"),
        }
        let revoked = Publication::ToUser {
            user_id: UserId(2),
            event: UserEvent::TokenRevoked {
                token_hash: vec![1],
            },
            except: None,
        };
        assert_eq!(revoked.addressees(), vec![UserId(2)]);
        let read = Publication::Read {
            room_id: RoomId(7),
            user_id: UserId(1),
            seq: Seq(4),
            members: vec![UserId(1), UserId(2)],
        };
        assert_eq!(read.addressees(), vec![UserId(1), UserId(2)]);
        match read.for_user(UserId(2)) {
            Some(Publication::Read { members, seq, .. }) => {
                assert_eq!((members, seq), (vec![UserId(2)], Seq(4)));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(read.for_user(UserId(3)).is_none());
        assert!(revoked.for_user(UserId(2)).is_some());
        assert!(revoked.for_user(UserId(1)).is_none());
    }
}
