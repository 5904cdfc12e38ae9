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
//! [`MemoryBroker`] (one node, the default) hands publications straight to the local hub.
//! [`RedisBroker`] (`--redis-url`) delivers to the local hub the same way and sends each
//! publication, serialized, to the other nodes through one Redis channel per user, which a
//! node subscribes to while that user is connected to it; what it receives goes into its hub.
//! Connection ids carry a random per-process prefix so they stay unique across nodes.
//!
//! Presence: a broker also keeps who is connected with which activity across the nodes
//! ([`Broker::report_presence`]): in memory on one node, in Redis records that lapse unless
//! their node refreshes them between nodes. Presence changes are a [`Publication`] addressed
//! to every node (one per change; see `presence`).
//!
//! A broker reaches the hub it feeds and the [`publication`](crate::publication) types, never
//! sessions, STOMP, the store or the room rules.

pub mod memory;
pub mod redis;

pub use self::redis::{RedisBroker, RedisSettings};
pub use memory::MemoryBroker;

pub use crate::publication::{ConnectionId, Publication, UserEvent};

use crate::model::{Activity, RoomId, UserId};
use async_trait::async_trait;

/// A broker failure; the publication did not reach (all) other nodes.
#[derive(Debug, thiserror::Error)]
#[error("broker failure: {0}")]
pub struct BrokerError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Whether a broker can reach the other nodes, for `/healthz`.
///
/// A broker that cannot still serves this node's own connections (it delivers locally
/// first), so an unreachable broker makes a node *degraded*, not unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerHealth {
    /// Publications reach the other nodes (always, for the single-node memory broker).
    Ok,
    /// The connection to the other nodes is down: they miss this node's publications, and
    /// this node misses theirs, until it comes back (clients catch up from the store).
    Unreachable,
}

impl BrokerHealth {
    /// The word `/healthz` reports: `ok` or `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerHealth::Ok => "ok",
            BrokerHealth::Unreachable => "unreachable",
        }
    }
}

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

    /// Records this node's part of `user`'s presence (`None`: no connection of the user here)
    /// and returns the user's best activity over every node (`None`: offline everywhere)
    /// before and after, read in the same step: whether the user's state changed at all, so
    /// that the node whose write changed it publishes it, once.
    ///
    /// # Errors
    /// When the shared record cannot be reached; the caller treats the user as this node
    /// alone sees it.
    async fn report_presence(
        &self,
        user: UserId,
        here: Option<Activity>,
    ) -> Result<(Option<Activity>, Option<Activity>), BrokerError>;

    /// Each of `users`' best activity over every node, in the order given.
    ///
    /// # Errors
    /// When the shared record cannot be reached.
    async fn presence_of(&self, users: &[UserId]) -> Result<Vec<Option<Activity>>, BrokerError>;

    /// Keeps this node's records of `here` alive (a shared record lapses unless refreshed, so
    /// that a node that dies does not leave its users online). Nothing to do on one node.
    ///
    /// # Errors
    /// When the shared record cannot be reached.
    async fn refresh_presence(&self, here: &[(UserId, Activity)]) -> Result<(), BrokerError> {
        let _ = here;
        Ok(())
    }

    /// Users whose last record lapsed (their node died) and who are offline now, each handed
    /// to one node only, which tells their watchers. Nothing on one node.
    ///
    /// # Errors
    /// When the shared record cannot be reached.
    async fn lapsed_presence(&self) -> Result<Vec<UserId>, BrokerError> {
        Ok(Vec::new())
    }

    /// Whether publications reach the other nodes now. Cheap (no round trip): `/healthz` and
    /// load balancers ask often.
    fn health(&self) -> BrokerHealth {
        BrokerHealth::Ok
    }

    /// Which of `users` have a connection, on any node, that shows `room` (subscribes to its
    /// topic): Web Push leaves them alone. When the answer cannot be had, nobody (a push too
    /// many rather than one missed).
    async fn showing(&self, room: RoomId, users: &[UserId]) -> Vec<UserId>;
}
