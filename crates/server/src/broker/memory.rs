//! [`MemoryBroker`]: the single-node broker; a publication goes straight into the local hub.
//!
//! It reaches the hub it feeds and nothing else.

use super::{Broker, BrokerError, Publication};
use crate::hub::Hub;
use crate::model::{Activity, RoomId, UserId};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Hands every publication to this process's hub. The default, and the test double.
///
/// It counts nothing in `/metrics`: a publication here is a function call into the hub, never
/// lost, never late and never out of order, so the `sotong_redis_*` counts (published,
/// received, failures) stay 0 on a single node, and `sotong_messages_stored_total` already
/// counts what it carries.
#[derive(Debug, Clone)]
pub struct MemoryBroker {
    hub: Arc<Hub>,
    /// Each connected user's activity: on one node, this node's part is the whole.
    presence: Arc<Mutex<HashMap<UserId, Activity>>>,
}

impl MemoryBroker {
    /// A broker feeding `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        MemoryBroker {
            hub,
            presence: Arc::default(),
        }
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn publish(&self, publication: Publication) -> Result<(), BrokerError> {
        self.hub.deliver(&publication);
        Ok(())
    }

    async fn report_presence(
        &self,
        user: UserId,
        here: Option<Activity>,
    ) -> Result<(Option<Activity>, Option<Activity>), BrokerError> {
        // One insert or remove per critical section: a poisoned lock is still consistent.
        let mut presence = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        let before = match here {
            Some(activity) => presence.insert(user, activity),
            None => presence.remove(&user),
        };
        Ok((before, here))
    }

    async fn presence_of(&self, users: &[UserId]) -> Result<Vec<Option<Activity>>, BrokerError> {
        let presence = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        Ok(users
            .iter()
            .map(|user| presence.get(user).copied())
            .collect())
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
