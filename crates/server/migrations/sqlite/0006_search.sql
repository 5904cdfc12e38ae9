-- Search: a trigram index of message text. FTS5 with the `trigram` tokenizer matches any
-- substring of three characters or more, whatever the script (Korean has no spaces between
-- the parts of a word, so word tokenizers miss `안녕하세요` for `안녕하`), case-insensitively.
-- External content: the text lives once, in `messages`; the index holds only trigrams and is
-- kept in step by the triggers below, in the transaction that writes the message. An edit
-- re-indexes the new text; a delete turns the body into '' (a tombstone), which has no
-- trigrams, so tombstones leave the index. Shorter queries are answered without the index
-- (see `store::SEARCH_SCAN_WINDOW`).
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'trigram'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
-- Messages stored before this migration.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
