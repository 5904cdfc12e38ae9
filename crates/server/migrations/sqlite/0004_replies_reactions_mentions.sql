-- Replies, reactions and mentions.
-- A reply names the `seq` of the message it answers, in the same room; its preview is read from
-- that message's current row whenever the reply is read, so it never goes stale.
ALTER TABLE messages ADD COLUMN reply_to_seq INTEGER;
-- One row per user, emoji and message. `id` orders them: an emoji is listed where it was first
-- used, and its users in the order they reacted. Deleting a message deletes its rows.
CREATE TABLE reactions (
    id         INTEGER PRIMARY KEY,
    room_id    INTEGER NOT NULL REFERENCES rooms(id),
    seq        INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    emoji      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (room_id, seq, user_id, emoji)
);
CREATE INDEX reactions_message ON reactions(room_id, seq, id);
-- The members a message mentions. `unreadMentions` counts a viewer's rows after their read
-- mark: one range scan of `mentions_user`. A deleted message's rows are deleted with it, so
-- tombstones never count.
CREATE TABLE mentions (
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    seq     INTEGER NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (room_id, seq, user_id)
);
CREATE INDEX mentions_user ON mentions(user_id, room_id, seq);
