-- Attachments: files uploaded to a room, then sent with one message. A row is pending while
-- `message_id` is NULL (only its uploader sees it; the cleanup deletes it after
-- `--upload-ttl-secs`); sending links it to its message in the message's transaction. The bytes
-- live in the files store (`--files-url`) under `object_key` (and `thumbnail_key` for an image);
-- the row is what says who may read them. Deleting a message deletes its rows.
CREATE TABLE attachments (
    id            INTEGER PRIMARY KEY,
    room_id       INTEGER NOT NULL REFERENCES rooms(id),
    uploader_id   INTEGER NOT NULL REFERENCES users(id),
    name          TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    object_key    TEXT    NOT NULL,
    thumbnail_key TEXT,
    created_at    INTEGER NOT NULL,
    message_id    INTEGER REFERENCES messages(id)
);
CREATE INDEX attachments_message ON attachments(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX attachments_pending ON attachments(created_at) WHERE message_id IS NULL;
