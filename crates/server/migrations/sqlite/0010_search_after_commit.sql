-- Search: new messages are indexed after their commit, in batches, instead of by a trigger in
-- the transaction that stores them. Indexing a message's trigrams cost about as much CPU as
-- the rest of storing it, on the one writer every message waits for; in batches it costs a
-- fraction, off the path a sender waits on.
--
-- `search_progress.indexed_upto`: every message with `id <= indexed_upto` is in the index,
-- none above it is. The indexer (`store::sqlite::search::index_pending`) moves it forward in
-- the same transaction that indexes, so the two never disagree. Message ids only grow: one
-- writer, and a message row is never deleted (a delete leaves a tombstone), so no id returns. A search reads the index up to this mark and scans the few
-- messages above it, so a message is found the moment its commit is acknowledged.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
CREATE TABLE search_progress (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    indexed_upto INTEGER NOT NULL
);
-- Until now the triggers indexed every message.
INSERT INTO search_progress (only_row, indexed_upto)
    VALUES (1, COALESCE((SELECT MAX(id) FROM messages), 0));
-- An edit (or a delete's tombstone) of an indexed message re-indexes it at once, as before;
-- one above the mark is indexed later with the text it has then. An external-content index
-- must be told the old text to remove a row, so a row it never held must not be removed.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN old.id <= (SELECT indexed_upto FROM search_progress) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_upto FROM search_progress) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
-- Who muted a room now comes back from the members update that storing a message makes; the
-- index that served the separate read has no reader left.
DROP INDEX members_muted;
