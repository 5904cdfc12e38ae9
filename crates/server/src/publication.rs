//! What travels between nodes: a [`Publication`], addressed to users, and the
//! [`UserEvent`]s and [`ConnectionId`]s it carries.
//!
//! The types are apart from the [`Broker`](crate::broker::Broker) that carries them and the
//! [`Hub`](crate::hub::Hub) that hands them to connections, so that each of those reaches this
//! module and neither reaches the other's internals (a broker feeds the hub; the hub never
//! reaches a broker). They reach nothing but the wire's model.

use crate::model::{Message, Room, RoomId, Seq, User, UserId};
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
            UserEvent::Left { .. } | UserEvent::TokenRevoked { .. }
        )
    }
}
