-- Web Push and muting.
--
-- A member may mute a room: no push and the live notification says `"muted":true` (so a client
-- stays silent), unless the message mentions that member.
ALTER TABLE members ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX members_muted ON members(room_id) WHERE muted <> 0;

-- A browser's push subscription (one per device and browser profile). The endpoint is the push
-- service's URL for that device and is unique: a device re-subscribing as another user moves
-- its row. Rows the push service answers `404`/`410` for are deleted. Times are Unix ms.
CREATE TABLE push_subscriptions (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id),
    endpoint        TEXT    NOT NULL UNIQUE,
    p256dh          TEXT    NOT NULL,
    auth            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_success_at INTEGER,
    last_failure_at INTEGER
);
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);

-- The VAPID key pair every node signs with: made by the first node that needs it and kept here,
-- so that all nodes of a cluster (and a restarted one) sign with the same key and the browsers'
-- subscriptions stay valid. One row. `private_key` is the P-256 scalar, base64url.
CREATE TABLE push_vapid (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    private_key TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
