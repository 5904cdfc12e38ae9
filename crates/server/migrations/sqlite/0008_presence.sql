-- Presence: whether others see the user's presence at all (a user may hide it), and when its
-- last connection closed (Unix milliseconds), so that "last seen" survives a restart.
ALTER TABLE users ADD COLUMN presence_visible INTEGER NOT NULL DEFAULT 1
    CHECK (presence_visible IN (0, 1));
ALTER TABLE users ADD COLUMN last_seen_at INTEGER;
