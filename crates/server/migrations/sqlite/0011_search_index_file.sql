-- Search: the index moves out of this file into `search.db` beside it, written by a thread
-- of its own (`store::sqlite::search`). Indexing in this file, even after the commit and in
-- batches, held its one write lock for milliseconds at a time, and every batch of messages
-- waited behind it. The index is derived data: the new file is built from `messages` when it
-- is missing, and may be deleted at any time.
DROP TRIGGER messages_fts_update;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
DROP TABLE search_progress;
-- What the index must read again: one row per edit (a delete's tombstone is an edit of the
-- body to ''), written in the edit's own transaction. The indexer keeps how far it has read
-- in its own file and removes the rows it has made durable there. AUTOINCREMENT, so that an
-- id is never handed out twice even after the rows below it are gone.
CREATE TABLE search_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL
);
CREATE TRIGGER search_changes_edit AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO search_changes (message_id) VALUES (new.id);
END;
