-- Edits and deletes, as in migrations/sqlite. Each room numbers its changes with `last_rev`
-- (1, 2, 3… per room, no gaps; taken under the room row's lock like `last_seq`), and a changed
-- message carries the `rev` of its last change (0: never changed). A deleted message keeps its
-- row (its `seq`, sender and time) with an empty body: a tombstone.
ALTER TABLE rooms ADD COLUMN last_rev BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN deleted_at BIGINT;
ALTER TABLE messages ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX messages_room_rev ON messages(room_id, rev) WHERE rev > 0;
