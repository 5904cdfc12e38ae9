//! The connection's subscription table: every SUBSCRIBE still in force, by id, with what its
//! MESSAGE frames need (target, `subscription` header, ack mode).
//!
//! This module owns the table's layout and order and nothing else: it reaches no I/O and makes
//! no delivery decision (that is `routing`, which knows room subscriptions by their ids).

use super::destination::Target;

/// One subscription of this connection.
#[derive(Debug)]
pub(super) struct Subscription {
    /// Where it points.
    pub(super) target: Target,
    /// The `subscription` header of its MESSAGE frames: the client's id, or none for a STOMP 1.0
    /// SUBSCRIBE without one (1.0 sends the header only "if the subscription had an id").
    pub(super) header: Option<String>,
    /// `ack:client` or `ack:client-individual`: on 1.2 its MESSAGE frames carry an `ack` header.
    pub(super) client_ack: bool,
    /// `receipts: true` on a room topic: it also gets the room's read mark events, which a
    /// plain STOMP client (one that shows every body of the topic) never asked for.
    pub(super) receipts: bool,
}

/// A connection's subscriptions by id, kept sorted by id in one vector: a destination's
/// several subscriptions get their frames in a stable order without a sort per delivery, and
/// the handful most connections hold cost a few hundred bytes (a `BTreeMap` node is ~800,
/// paid by every connection).
#[derive(Debug, Default)]
pub(super) struct SubscriptionTable {
    entries: Vec<(String, Subscription)>,
}

impl SubscriptionTable {
    fn position(&self, id: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(key, _)| key.as_str().cmp(id))
    }

    /// The subscription `id`.
    pub(super) fn get(&self, id: &str) -> Option<&Subscription> {
        self.position(id).ok().map(|i| &self.entries[i].1)
    }

    /// Whether subscription `id` exists.
    pub(super) fn contains_key(&self, id: &str) -> bool {
        self.position(id).is_ok()
    }

    /// Adds subscription `id`, or replaces the one of that id.
    pub(super) fn insert(&mut self, id: String, subscription: Subscription) {
        match self.position(&id) {
            Ok(i) => self.entries[i].1 = subscription,
            Err(i) => self.entries.insert(i, (id, subscription)),
        }
    }

    /// Removes subscription `id`, returning it if it existed.
    pub(super) fn remove(&mut self, id: &str) -> Option<Subscription> {
        self.position(id).ok().map(|i| self.entries.remove(i).1)
    }

    /// How many subscriptions there are.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// In id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&String, &Subscription)> {
        self.entries.iter().map(|(id, sub)| (id, sub))
    }

    /// In id order.
    pub(super) fn values(&self) -> impl Iterator<Item = &Subscription> {
        self.entries.iter().map(|(_, sub)| sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscription_table_keeps_ids_in_order() {
        let sub = |target| Subscription {
            target,
            header: None,
            client_ack: false,
            receipts: false,
        };
        let mut table = SubscriptionTable::default();
        for id in ["n2", "e", "n10", "n1"] {
            table.insert(id.into(), sub(Target::Notifications));
        }
        table.insert("e".into(), sub(Target::Errors));
        let ids: Vec<&str> = table.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["e", "n1", "n10", "n2"]);
        assert_eq!(table.get("e").map(|s| s.target), Some(Target::Errors));
        assert!(table.remove("n10").is_some() && table.remove("n10").is_none());
        assert!(!table.contains_key("n10") && table.contains_key("n2"));
        assert_eq!(table.len(), 3);
        assert_eq!(table.values().count(), 3);
    }
}
