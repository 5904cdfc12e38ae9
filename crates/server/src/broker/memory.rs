//! [`MemoryBroker`]: the single-node broker; a publication goes straight into the local hub.
//!
//! It reaches the hub it feeds and nothing else.

use super::{Broker, BrokerError, Publication};
use crate::hub::Hub;
use crate::model::{RoomId, UserId};
use async_trait::async_trait;
use std::sync::Arc;

/// Hands every publication to this process's hub. The default, and the test double.
///
/// It counts nothing in `/metrics`: a publication here is a function call into the hub, never
/// lost, never late and never out of order, so the `sotong_redis_*` counts (published,
/// received, failures) stay 0 on a single node, and `sotong_messages_stored_total` already
/// counts what it carries.
#[derive(Debug, Clone)]
pub struct MemoryBroker {
    hub: Arc<Hub>,
}

impl MemoryBroker {
    /// A broker feeding `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        MemoryBroker { hub }
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn publish(&self, publication: Publication) -> Result<(), BrokerError> {
        self.hub.deliver(&publication);
        Ok(())
    }

    /// One node: its hub knows every connection.
    async fn showing(&self, room: RoomId, users: &[UserId]) -> Vec<UserId> {
        users
            .iter()
            .copied()
            .filter(|user| self.hub.shows(*user, room))
            .collect()
    }
}
