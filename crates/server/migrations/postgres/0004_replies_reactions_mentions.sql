-- Replies, reactions and mentions, as in migrations/sqlite.
-- A reply names the `seq` of the message it answers, in the same room; its preview is read from
-- that message's current row whenever the reply is read, so it never goes stale.
ALTER TABLE messages ADD COLUMN reply_to_seq BIGINT;
-- One row per user, emoji and message. `id` orders them: an emoji is listed where it was first
-- used, and its users in the order they reacted. Written under the room row's lock, like `rev`.
CREATE TABLE reactions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id    BIGINT NOT NULL REFERENCES rooms(id),
    seq        BIGINT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    emoji      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (room_id, seq, user_id, emoji)
);
CREATE INDEX reactions_message ON reactions(room_id, seq, id);
-- The members a message mentions; `unreadMentions` is one range scan of `mentions_user`.
CREATE TABLE mentions (
    room_id BIGINT NOT NULL REFERENCES rooms(id),
    seq     BIGINT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (room_id, seq, user_id)
);
CREATE INDEX mentions_user ON mentions(user_id, room_id, seq);
