-- Edits and deletes. Each room numbers its changes with `last_rev` (1, 2, 3… per room, no
-- gaps), next to `last_seq`, which still numbers messages only. A changed message carries the
-- `rev` of its last change (0: never changed), so "what changed since rev R" is one index scan.
-- A deleted message keeps its row (its `seq`, sender and time) with an empty body: a tombstone.
ALTER TABLE rooms ADD COLUMN last_rev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_room_rev ON messages(room_id, rev) WHERE rev > 0;
