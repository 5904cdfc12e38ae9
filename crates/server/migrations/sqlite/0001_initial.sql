-- sotong's schema. Times are Unix milliseconds (messages, activity) or seconds (session expiry).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE login_sessions (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    expires_at INTEGER NOT NULL
);
CREATE INDEX login_sessions_user ON login_sessions(user_id);

CREATE TABLE rooms (
    id            INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    name          TEXT    NOT NULL,
    -- "lowid:highid" for direct rooms, so one pair has one room whoever asks.
    direct_key    TEXT    UNIQUE,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_activity INTEGER NOT NULL
);

CREATE TABLE members (
    room_id       INTEGER NOT NULL REFERENCES rooms(id),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    unread        INTEGER NOT NULL DEFAULT 0,
    joined_at     INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX members_user ON members(user_id);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    room_id       INTEGER NOT NULL REFERENCES rooms(id),
    seq           INTEGER NOT NULL,
    sender_id     INTEGER NOT NULL REFERENCES users(id),
    body          TEXT    NOT NULL,
    sent_at       INTEGER NOT NULL,
    client_msg_id TEXT,
    UNIQUE (room_id, seq)
);
CREATE UNIQUE INDEX messages_client_msg_id
    ON messages(room_id, sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
