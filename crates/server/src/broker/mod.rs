//! How a publication reaches every node's [`Hub`](crate::hub::Hub): the [`Broker`] seam.
//!
//! A [`Publication`] is addressed to *users*, never to connections: it says which users must
//! hear of it (for a message: every member, with that member's unread count). Each node's hub
//! then hands it to that node's connections of those users, and each connection decides for
//! itself whether it goes on a room topic or the notification queue (see `session`). Because
//! the decision needs nothing but the connection's own state, the delivery rules hold with any
//! number of nodes, as long as the broker delivers every publication to every node that has a
//! connection of an addressed user.
//!
//! [`MemoryBroker`] (one node, the default) hands publications straight to the local hub. A
//! Redis broker (later) would publish the serialized publication and feed what it receives
//! into the hub the same way; `Publication` is `Serialize` for that reason, and connection ids
//! carry a random per-process prefix so they stay unique across nodes.

pub mod memory;

pub use memory::MemoryBroker;

use crate::model::{Message, Room, RoomId, Seq, User, UserId};
use async_trait::async_trait;
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

/// A broker failure; the publication did not reach (all) other nodes.
#[derive(Debug, thiserror::Error)]
#[error("broker failure: {0}")]
pub struct BrokerError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Carries publications to every node's hub.
///
/// Contract: publications from one caller reach each hub in the order they were published;
/// delivery is at most once (a lost publication is recovered by clients through `since-seq`
/// and by sessions through gap filling from the store, never by the broker).
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Delivers `publication` to every node's hub (this node's included).
    ///
    /// # Errors
    /// When the publication could not be handed to the transport.
    async fn publish(&self, publication: Publication) -> Result<(), BrokerError>;
}
