-- Presence: whether others see the user's presence at all (a user may hide it), and when its
-- last connection closed (Unix milliseconds), so that "last seen" survives a restart.
ALTER TABLE users ADD COLUMN presence_visible BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN last_seen_at BIGINT;
