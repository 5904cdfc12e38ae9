//! Message search on SQLite: candidates from an FTS5 trigram index or, for a query with no
//! word of three characters, from a bounded scan of the searcher's latest messages; the final
//! word check and the page cut are the store's shared rules (`pick_page`).
//!
//! The index lives in a file of its own, `search.db` beside `sotong.db`, written by the
//! [`Indexer`] after the messages' commit, on connections of its own: indexing never takes the
//! messages' write lock, so no sender waits for it. Trigram indexing costs about as much CPU
//! as the rest of storing a message; run in the messages' transaction (migration 0006), and
//! later in batches on the messages' writer (migration 0010), it held that writer for
//! milliseconds at a time, and the ramps of BENCHMARKS.md fell by a factor of three.
//!
//! Two marks in the index's file say what it holds (`search_progress`): every message with
//! `id <= indexed_upto`, with its text as of every edit up to `changes_upto` in the store's
//! edit log (`search_changes`, migration 0011). A search reads the marks, then the messages
//! above the first and the messages edited after the second beside the index, so a message is
//! found by its text from the moment its send or edit is acknowledged.
//!
//! The file is derived data: it commits without waiting for the disk (what a crash loses is
//! indexed again from the messages), is rebuilt when missing, and is started afresh when it
//! knows of messages the store does not have (a store restored from an older copy).

use super::open_connection;
use super::writer::Writer;
use super::{attach_extras, kind_from, message_from};
use crate::model::{RoomKind, RoomSummary};
use crate::store::{pick_page, FoundMessages, MessageSearch, StoreError, SEARCH_SCAN_WINDOW};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, TransactionBehavior};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// The index's file name, beside the store's.
const INDEX_FILE: &str = "search.db";

/// The schema name under which reading connections attach the index's file.
pub(super) const INDEX_SCHEMA: &str = "search";

/// How long new messages gather before the indexer takes them: long enough that a busy
/// server indexes hundreds per transaction (the index's flush and merges cost per transaction
/// more than per message), short enough that the scan above the mark stays small.
const INDEX_GATHER: Duration = Duration::from_millis(100);

/// Most messages (and most edits) indexed per transaction: a backlog (a new index over a
/// large store) is indexed in steps, each a bounded read of the store.
const INDEX_CHUNK: i64 = 1000;

/// The index's own file and a connection that reads the store's, used by one indexing run at
/// a time.
struct IndexFiles {
    /// `search.db`, the only connection that writes it.
    index: Connection,
    /// `sotong.db`, for reading messages and the edit log.
    store: Connection,
}

/// Opens the index's file at `index_path` (creating it and its schema when missing) and a
/// reading connection to the store at `store_path`.
fn open_files(store_path: &Path, index_path: &Path) -> Result<IndexFiles, StoreError> {
    let index = Connection::open(index_path)?;
    index.pragma_update(None, "journal_mode", "WAL")?;
    // Derived data: a crash may lose the last runs, marks and index together, and they are
    // indexed again (see `make_durable` for the one moment this is not enough).
    index.pragma_update(None, "synchronous", "NORMAL")?;
    index.busy_timeout(Duration::from_secs(10))?;
    // Contentless (the text lives once, in the store), with deletes (SQLite 3.43+), so that
    // an edit replaces a message's trigrams without the old text at hand.
    index.execute_batch(
        "CREATE VIRTUAL TABLE IF NOT EXISTS message_index USING fts5(\
             body, content = '', contentless_delete = 1, tokenize = 'trigram'); \
         CREATE TABLE IF NOT EXISTS search_progress ( \
             only_row INTEGER PRIMARY KEY CHECK (only_row = 1), \
             indexed_upto INTEGER NOT NULL, \
             changes_upto INTEGER NOT NULL); \
         INSERT OR IGNORE INTO search_progress VALUES (1, 0, 0);",
    )?;
    let store = open_connection(store_path)?;
    let files = IndexFiles { index, store };
    if files.ahead_of_the_store()? {
        tracing::warn!("the search index holds messages the store does not; it is built again");
        files.index.execute_batch(
            "BEGIN IMMEDIATE; \
             INSERT INTO message_index (message_index) VALUES ('delete-all'); \
             UPDATE search_progress SET indexed_upto = 0, changes_upto = 0; \
             COMMIT;",
        )?;
    }
    Ok(files)
}

/// The index's marks, read on `conn` from the index's file attached as `schema` (`main` on
/// the index's own connection): messages up to the first, edits up to the second.
fn read_marks(conn: &Connection, schema: &str) -> rusqlite::Result<(i64, i64)> {
    conn.prepare_cached(&format!(
        "SELECT indexed_upto, changes_upto FROM {schema}.search_progress"
    ))?
    .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
}

impl IndexFiles {
    /// The marks (see [`read_marks`]).
    fn marks(&self) -> rusqlite::Result<(i64, i64)> {
        read_marks(&self.index, "main")
    }

    /// Whether the marks pass the store's newest message or edit.
    fn ahead_of_the_store(&self) -> rusqlite::Result<bool> {
        let (upto, changes_upto) = self.marks()?;
        let (newest, newest_change): (i64, i64) = self.store.query_row(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM messages), \
               (SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'search_changes')",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(upto > newest || changes_upto > newest_change)
    }

    /// Indexes up to [`INDEX_CHUNK`] new messages and re-indexes up to as many edited ones,
    /// moving the marks past them in the same transaction. Returns whether more are waiting
    /// and whether edits were read.
    fn index_pending(&mut self) -> Result<(bool, bool), StoreError> {
        let tx = self
            .index
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (upto, changes_upto) = read_marks(&tx, "main")?;
        // New messages and edits from one snapshot of the store: an edit of a message read
        // as new here is already in its text.
        let read = self.store.unchecked_transaction()?;
        let new: Vec<(i64, String)> = read
            .prepare_cached("SELECT id, body FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2")?
            .query_map(params![upto, INDEX_CHUNK], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let edits: Vec<(i64, i64, String)> = read
            .prepare_cached(
                "SELECT c.id, c.message_id, m.body FROM search_changes c \
                 JOIN messages m ON m.id = c.message_id \
                 WHERE c.id > ?1 ORDER BY c.id LIMIT ?2",
            )?
            .query_map(params![changes_upto, INDEX_CHUNK], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        read.finish()?;

        let mut insert =
            tx.prepare_cached("INSERT INTO message_index (rowid, body) VALUES (?1, ?2)")?;
        // A tombstone ('') has no trigrams and is not indexed.
        for (id, body) in new.iter().filter(|(_, body)| !body.is_empty()) {
            insert.execute(params![id, body])?;
        }
        // Edited messages the index already holds get their text as it is now; those above
        // the mark were just indexed with it, or will be.
        let mut remove = tx.prepare_cached("DELETE FROM message_index WHERE rowid = ?1")?;
        let mut done = HashSet::new();
        for (_, id, body) in edits.iter().filter(|(_, id, _)| *id <= upto) {
            if done.insert(*id) {
                remove.execute([id])?;
                if !body.is_empty() {
                    insert.execute(params![id, body])?;
                }
            }
        }
        drop((insert, remove));
        let new_upto = new.last().map_or(upto, |(id, _)| *id);
        let new_changes_upto = edits.last().map_or(changes_upto, |(change, _, _)| *change);
        tx.prepare_cached("UPDATE search_progress SET indexed_upto = ?1, changes_upto = ?2")?
            .execute([new_upto, new_changes_upto])?;
        tx.commit()?;
        let chunk = usize::try_from(INDEX_CHUNK).unwrap_or(usize::MAX);
        Ok((
            new.len() >= chunk || edits.len() >= chunk,
            !edits.is_empty(),
        ))
    }

    /// Puts every run so far on disk (one commit with `synchronous = FULL` writes the log
    /// before it too), so that the store's edit log may drop what the marks passed: a crash
    /// that took back an edit's re-indexing after its log row is gone would leave the index
    /// with the old text for good.
    fn make_durable(&self) -> Result<i64, StoreError> {
        self.index.pragma_update(None, "synchronous", "FULL")?;
        let flushed = self.index.execute_batch(
            "BEGIN IMMEDIATE; UPDATE search_progress SET changes_upto = changes_upto; COMMIT;",
        );
        self.index.pragma_update(None, "synchronous", "NORMAL")?;
        flushed?;
        Ok(self.marks()?.1)
    }
}

/// The task that indexes new messages and edits after their commit, in the index's own file;
/// it stops when this is dropped (the last clone of the store) or stopped.
pub(super) struct Indexer {
    files: Arc<Mutex<IndexFiles>>,
    /// The store's writer, for dropping the edit log's indexed rows.
    store_writer: Writer,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Indexer {
    /// Opens the index's file at `index_path` beside the store at `store_path` and starts the task,
    /// which first indexes whatever is not yet indexed (a new file, or what a crash left).
    pub(super) fn start(
        store_path: &Path,
        index_path: &Path,
        store_writer: Writer,
    ) -> Result<Self, StoreError> {
        let files = Arc::new(Mutex::new(open_files(store_path, index_path)?));
        let wake = Arc::new(Notify::new());
        wake.notify_one();
        let task = tokio::spawn(run(
            Arc::clone(&files),
            store_writer.clone(),
            Arc::clone(&wake),
        ));
        Ok(Indexer {
            files,
            store_writer,
            wake,
            task,
        })
    }

    /// Tells the task that messages were stored or edited: it indexes them within
    /// [`INDEX_GATHER`].
    pub(super) fn stored(&self) {
        self.wake.notify_one();
    }

    /// Indexes everything not yet indexed, now.
    pub(super) async fn index_all(&self) -> Result<(), StoreError> {
        index_all(Arc::clone(&self.files), &self.store_writer).await
    }

    /// Stops the task; a run under way is either committed or never was.
    pub(super) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs indexing steps until nothing is waiting, on a blocking thread, then drops the edit
/// log's rows the index has on disk.
async fn index_all(files: Arc<Mutex<IndexFiles>>, store_writer: &Writer) -> Result<(), StoreError> {
    let edits_upto = tokio::task::spawn_blocking(move || {
        let mut files = files.lock().unwrap_or_else(PoisonError::into_inner);
        let mut edited = false;
        loop {
            let (more, edits) = files.index_pending()?;
            edited |= edits;
            if !more {
                break;
            }
        }
        edited.then(|| files.make_durable()).transpose()
    })
    .await
    .map_err(|e| StoreError::Backend(Box::new(e)))??;
    if let Some(upto) = edits_upto {
        store_writer
            .write(move |tx| {
                tx.prepare_cached("DELETE FROM search_changes WHERE id <= ?1")?
                    .execute([upto])?;
                Ok(())
            })
            .await?;
    }
    Ok(())
}

async fn run(files: Arc<Mutex<IndexFiles>>, store_writer: Writer, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        tokio::time::sleep(INDEX_GATHER).await;
        if let Err(err) = index_all(Arc::clone(&files), &store_writer).await {
            // The messages stay above the mark, found by the scan, and are indexed on the
            // next run.
            tracing::warn!(error = %err, "search indexing failed; retried with the next message");
        }
    }
}

/// The index's file beside the store's at `store_path`.
pub(super) fn index_path(store_path: &Path) -> PathBuf {
    store_path.with_file_name(INDEX_FILE)
}

/// An FTS5 string for `word`: in double quotes, a quote doubled, so that no character of a
/// query is FTS5 syntax (`AND`, `*`, `^`, column filters).
fn fts_string(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

/// Runs `search` on a reading connection (one with the index's file attached).
pub(super) fn search(
    conn: &Connection,
    search: &MessageSearch,
) -> Result<FoundMessages, StoreError> {
    let indexed: Vec<String> = search.indexed_words().map(fts_string).collect();
    let snapshot = conn.unchecked_transaction()?;
    let (candidates, more) = if indexed.is_empty() {
        let scan = candidates(&snapshot, search, Source::Scan, SEARCH_SCAN_WINDOW)?;
        let more = scan.len() >= SEARCH_SCAN_WINDOW as usize;
        (scan, more)
    } else {
        // The marks first, the index with them: the store's snapshot, taken at its first
        // read below, is then at least as new, and holds every message the index does.
        let (upto, changes_upto) = read_marks(&snapshot, INDEX_SCHEMA)?;
        let window = SEARCH_SCAN_WINDOW;
        let recent = candidates(&snapshot, search, Source::Unindexed(upto), window)?;
        if recent.len() >= window as usize {
            // A backlog as large as a scan window (a new index over a large store): this
            // page is cut from it, and the next one goes on below it.
            (recent, true)
        } else {
            // Without a short word the index's candidates nearly all match (an edit not
            // yet re-indexed may not): one more than a page tells whether there is a next
            // one. With one, candidates are checked here, up to the window.
            let taken = if search.has_short_words() {
                window
            } else {
                search.limit + 1
            };
            let edited = Source::Edited(upto, changes_upto);
            let parts = [
                (recent, window),
                (candidates(&snapshot, search, edited, window)?, window),
                (
                    candidates(&snapshot, search, Source::Index(indexed.join(" ")), taken)?,
                    taken,
                ),
            ];
            merge(parts)
        }
    };
    let (ids, next) = pick_page(&candidates, &search.words, search.limit, more);
    let hits = load_hits(&snapshot, search, &ids)?;
    snapshot.finish()?;
    Ok(FoundMessages { hits, next })
}

/// Joins candidate lists (each newest first, read with the `LIMIT` beside it) into one,
/// newest first, each message once, and says whether more may lie below it. A list that
/// filled its limit is complete only down to its last id, so the joined list stops there:
/// what lies below is read again on the next page, and nothing is skipped.
fn merge<const N: usize>(parts: [(Vec<(i64, String)>, u32); N]) -> (Vec<(i64, String)>, bool) {
    let cut = parts
        .iter()
        .filter(|(list, limit)| list.len() >= *limit as usize)
        .filter_map(|(list, _)| list.last().map(|(id, _)| *id))
        .max();
    let mut joined: Vec<(i64, String)> = parts.into_iter().flat_map(|(list, _)| list).collect();
    joined.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
    joined.dedup_by_key(|(id, _)| *id);
    if let Some(cut) = cut {
        joined.retain(|(id, _)| *id >= cut);
    }
    (joined, cut.is_some())
}

/// Where a search's candidates come from.
enum Source {
    /// The searcher's latest messages, every one.
    Scan,
    /// Messages not yet in the index: above its mark.
    Unindexed(i64),
    /// Indexed messages (up to the first mark) edited after the second mark: the index may
    /// still hold their old text.
    Edited(i64, i64),
    /// The index's matches for this FTS5 query.
    Index(String),
}

/// Up to `taken` candidates (id, text) from `source` that pass the search's filters, newest
/// first.
fn candidates(
    conn: &Connection,
    search: &MessageSearch,
    source: Source,
    taken: u32,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut args: Vec<Value> = vec![Value::Integer(search.user.0)];
    let mut key = "m.id";
    let mut sql = match source {
        Source::Scan => "SELECT m.id, m.body FROM messages m WHERE 1".to_string(),
        Source::Unindexed(upto) => {
            args.push(Value::Integer(upto));
            "SELECT m.id, m.body FROM messages m WHERE m.id > ?2".to_string()
        }
        Source::Edited(upto, changes_upto) => {
            args.extend([Value::Integer(upto), Value::Integer(changes_upto)]);
            "SELECT m.id, m.body FROM messages m WHERE m.id <= ?2 AND m.id IN \
             (SELECT message_id FROM search_changes WHERE id > ?3)"
                .to_string()
        }
        Source::Index(query) => {
            args.push(Value::Text(query));
            key = "f.rowid";
            format!(
                "SELECT m.id, m.body FROM {INDEX_SCHEMA}.message_index f \
                 JOIN messages m ON m.id = f.rowid WHERE message_index MATCH ?2"
            )
        }
    };
    sql.push_str(
        " AND m.room_id IN (SELECT room_id FROM members WHERE user_id = ?1) \
         AND m.deleted_at IS NULL",
    );
    if let Some(room) = search.room {
        args.push(Value::Integer(room.0));
        sql.push_str(&format!(" AND m.room_id = ?{}", args.len()));
    }
    if let Some(sender) = search.sender {
        args.push(Value::Integer(sender.0));
        sql.push_str(&format!(" AND m.sender_id = ?{}", args.len()));
    }
    if let Some(before) = search.before {
        args.push(Value::Integer(before.0));
        sql.push_str(&format!(" AND {key} < ?{}", args.len()));
    }
    args.push(Value::Integer(i64::from(taken)));
    sql.push_str(&format!(" ORDER BY {key} DESC LIMIT ?{}", args.len()));
    Ok(conn
        .prepare(&sql)?
        .query_map(params_from_iter(args), |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// The messages with `ids`, in that order, each with its room as the searcher sees it.
fn load_hits(
    conn: &Connection,
    search: &MessageSearch,
    ids: &[i64],
) -> Result<Vec<(RoomSummary, crate::model::Message)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let json = format!(
        "[{}]",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    );
    let mut messages = conn
        .prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m JOIN users u ON u.id = m.sender_id \
             WHERE m.id IN (SELECT value FROM json_each(?1)) ORDER BY m.id DESC"
        ))?
        .query_map([&json], message_from)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    attach_extras(conn, &mut messages)?;
    let rooms: HashMap<i64, RoomSummary> = conn
        .prepare_cached(
            "SELECT r.id, r.kind, r.name, \
               (SELECT u.display_name FROM members mb JOIN users u ON u.id = mb.user_id \
                WHERE mb.room_id = r.id AND mb.user_id <> ?2 \
                ORDER BY mb.joined_at, u.id LIMIT 1) \
             FROM rooms r WHERE r.id IN \
               (SELECT DISTINCT m.room_id FROM messages m \
                WHERE m.id IN (SELECT value FROM json_each(?1)))",
        )?
        .query_map(rusqlite::params![json, search.user.0], |row| {
            let kind = kind_from(&row.get::<_, String>(1)?)?;
            let other: Option<String> = row.get(3)?;
            let name = match (kind, other) {
                (RoomKind::Direct, Some(other)) => other,
                _ => row.get(2)?,
            };
            Ok((
                row.get::<_, i64>(0)?,
                RoomSummary {
                    id: crate::model::RoomId(row.get(0)?),
                    kind,
                    name,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(messages
        .into_iter()
        .filter_map(|m| rooms.get(&m.room_id.0).cloned().map(|room| (room, m)))
        .collect())
}

#[cfg(test)]
impl Indexer {
    /// Checks the index against the store (for tests): FTS5's check of its structure, one
    /// row per message with text up to the mark, and each of those found by its whole text as
    /// it is now (so no edit was missed).
    pub(super) fn assert_agrees_with_store(&self) {
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files
            .index
            .execute(
                "INSERT INTO message_index (message_index) VALUES ('integrity-check')",
                [],
            )
            .expect("the index's structure is sound");
        let (upto, _) = files.marks().expect("marks");
        let messages: Vec<(i64, String)> = files
            .store
            .prepare("SELECT id, body FROM messages WHERE id <= ?1 AND body <> ''")
            .and_then(|mut s| {
                s.query_map([upto], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .expect("messages");
        let rows: usize = files
            .index
            .query_row("SELECT COUNT(*) FROM message_index", [], |row| row.get(0))
            .expect("rows");
        assert_eq!(rows, messages.len(), "one row per message with text");
        let mut find = files
            .index
            .prepare("SELECT rowid FROM message_index WHERE message_index MATCH ?1")
            .expect("query");
        for (id, body) in messages.iter().filter(|(_, b)| b.chars().count() >= 3) {
            let found: Vec<i64> = find
                .query_map([fts_string(body)], |row| row.get(0))
                .and_then(Iterator::collect)
                .expect("found");
            assert!(found.contains(id), "message {id} is found by {body:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fts_string, merge};

    fn list(ids: &[i64]) -> Vec<(i64, String)> {
        ids.iter().map(|&id| (id, format!("m{id}"))).collect()
    }

    #[test]
    fn joined_candidates_stop_where_a_cut_list_stops() {
        // Nothing cut: all of them, newest first, each once.
        let (joined, more) = merge([(list(&[9, 8]), 5), (list(&[8, 3]), 5), (list(&[7]), 5)]);
        let ids: Vec<i64> = joined.iter().map(|(id, _)| *id).collect();
        assert_eq!((ids, more), (vec![9, 8, 7, 3], false));
        // The index's list filled its limit at 6: 4 and 2 from the others wait for the next
        // page, which starts below 6 and reads them again.
        let (joined, more) = merge([(list(&[9, 4]), 5), (list(&[2]), 5), (list(&[8, 7, 6]), 3)]);
        let ids: Vec<i64> = joined.iter().map(|(id, _)| *id).collect();
        assert_eq!((ids, more), (vec![9, 8, 7, 6], true));
    }

    #[test]
    fn query_words_are_fts5_strings_never_syntax() {
        assert_eq!(fts_string("hello"), "\"hello\"");
        assert_eq!(fts_string("a\"b OR c"), "\"a\"\"b OR c\"");
        assert_eq!(fts_string("안녕하"), "\"안녕하\"");
    }
}
