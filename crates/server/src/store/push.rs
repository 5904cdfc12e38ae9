//! What the store keeps for Web Push: browsers' push subscriptions and the VAPID key every node
//! signs with. Sending is the `push` service's; who may subscribe is the HTTP edge's question
//! (a signed-in user, for itself).

use crate::model::UserId;

/// A stored push subscription's id (internal: clients name a subscription by its endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PushSubscriptionId(pub i64);

/// A browser's `PushSubscription`, checked, for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPushSubscription {
    /// Whose device it is.
    pub user: UserId,
    /// The push service's URL for the device (checked against the allow-list).
    pub endpoint: String,
    /// The browser's P-256 public key, base64url (65 bytes uncompressed).
    pub p256dh: String,
    /// The browser's authentication secret, base64url (16 bytes).
    pub auth: String,
}

/// A stored push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPushSubscription {
    /// Its row.
    pub id: PushSubscriptionId,
    /// Whose device it is.
    pub user: UserId,
    /// Where to send.
    pub endpoint: String,
    /// The browser's public key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
}

/// Most push subscriptions one user keeps; subscribing another device drops the oldest, so a
/// client cannot grow the table (or the fan-out of one message) without bound.
pub const MAX_PUSH_SUBSCRIPTIONS_PER_USER: i64 = 10;
