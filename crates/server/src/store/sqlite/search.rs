//! Message search on SQLite: candidates from the FTS5 trigram index (`messages_fts`,
//! migration 0006) or, for a query with no word of three characters, from a bounded scan of
//! the searcher's latest messages; the final word check and the page cut are the store's
//! shared rules (`pick_page`).
//!
//! The index is written after the commit, not in it (migration 0010): the [`Indexer`] task
//! indexes the messages stored in the last [`INDEX_GATHER`], in transactions of up to
//! [`INDEX_CHUNK`]. Run by a trigger in every batch's transaction, trigram indexing cost
//! about 45 µs of CPU per message on the one writer all senders wait for; in batches, after
//! the commit, it costs about a third of that (each run still holds the writer for a few
//! milliseconds: see BENCHMARKS.md). Searches lose nothing by it: they scan the few messages
//! above the index's mark (`search_progress`) beside the index, in one snapshot.

use super::writer::Writer;
use super::{attach_extras, kind_from, message_from};
use crate::model::{RoomKind, RoomSummary};
use crate::store::{pick_page, FoundMessages, MessageSearch, StoreError, SEARCH_SCAN_WINDOW};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long new messages gather before the indexer takes them: long enough that a busy
/// server indexes a hundred or more per transaction (the index's flush and merges cost per
/// transaction more than per message), short enough that each run holds the writer briefly
/// and the scan above the mark stays small.
pub(super) const INDEX_GATHER: Duration = Duration::from_millis(100);

/// Most messages indexed per transaction, so that one indexing run holds the writer (and so
/// every sender) for milliseconds (about 15 µs a message), not for a whole backlog; message
/// batches queued meanwhile go in between two runs.
const INDEX_CHUNK: i64 = 200;

/// Indexes up to [`INDEX_CHUNK`] messages above the mark and moves the mark past them, in
/// the caller's transaction. Returns whether more are waiting.
pub(super) fn index_pending(tx: &Transaction<'_>) -> Result<bool, StoreError> {
    let upto: i64 = tx
        .prepare_cached("SELECT indexed_upto FROM search_progress")?
        .query_row([], |row| row.get(0))?;
    let newest: Option<i64> = tx
        .prepare_cached(
            "SELECT MAX(id) FROM (SELECT id FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2)",
        )?
        .query_row(params![upto, INDEX_CHUNK], |row| row.get(0))?;
    let Some(newest) = newest else {
        return Ok(false);
    };
    // Tombstones too: an indexed row is what a later delete trigger expects to find.
    let indexed = tx
        .prepare_cached(
            "INSERT INTO messages_fts (rowid, body) \
             SELECT id, body FROM messages WHERE id > ?1 AND id <= ?2",
        )?
        .execute(params![upto, newest])?;
    tx.prepare_cached("UPDATE search_progress SET indexed_upto = ?1")?
        .execute([newest])?;
    Ok(i64::try_from(indexed).unwrap_or(i64::MAX) >= INDEX_CHUNK)
}

/// Indexes every message stored so far, in as many transactions as it takes. They do not
/// wait for the disk: the index and its mark are lost or kept together, and what a crash
/// loses is indexed again from the messages.
pub(super) async fn index_all(writer: &Writer) -> Result<(), StoreError> {
    while writer.write_relaxed(index_pending).await? {}
    Ok(())
}

/// The task that indexes new messages after their commit; it stops when this is dropped (the
/// last clone of the store) or closed.
pub(super) struct Indexer {
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Indexer {
    /// Starts the task, which first indexes whatever an earlier run left (a crash between a
    /// commit and its indexing leaves messages above the mark).
    pub(super) fn start(writer: Writer) -> Self {
        let wake = Arc::new(Notify::new());
        wake.notify_one();
        let task = tokio::spawn(run(writer, Arc::clone(&wake)));
        Indexer { wake, task }
    }

    /// Tells the task that messages were stored: it indexes them within [`INDEX_GATHER`].
    pub(super) fn stored(&self) {
        self.wake.notify_one();
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

async fn run(writer: Writer, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        tokio::time::sleep(INDEX_GATHER).await;
        if let Err(err) = index_all(&writer).await {
            // The messages stay above the mark, found by the scan, and are indexed on the
            // next run.
            tracing::warn!(error = %err, "search indexing failed; retried with the next message");
        }
    }
}

/// An FTS5 string for `word`: in double quotes, a quote doubled, so that no character of a
/// query is FTS5 syntax (`AND`, `*`, `^`, column filters).
fn fts_string(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

/// Runs `search` on a reader connection.
pub(super) fn search(
    conn: &Connection,
    search: &MessageSearch,
) -> Result<FoundMessages, StoreError> {
    let indexed: Vec<String> = search.indexed_words().map(fts_string).collect();
    // The messages above the index's mark and the index itself, read in one snapshot: an
    // indexing run committed in between would otherwise hide its messages from both.
    let snapshot = conn.unchecked_transaction()?;
    let (candidates, taken) = if indexed.is_empty() {
        let candidates = candidates(&snapshot, search, Source::Scan, SEARCH_SCAN_WINDOW)?;
        (candidates, SEARCH_SCAN_WINDOW)
    } else {
        // Without a short word the index's candidates all match: one more than a page tells
        // whether there is a next one. With one, candidates are checked here, up to the
        // window.
        let taken = if search.has_short_words() {
            SEARCH_SCAN_WINDOW
        } else {
            search.limit + 1
        };
        let mut recent = candidates(&snapshot, search, Source::Unindexed, SEARCH_SCAN_WINDOW)?;
        if recent.len() >= SEARCH_SCAN_WINDOW as usize {
            // A backlog as large as a scan window (the indexer fell far behind): this page
            // is cut from it, and the next one goes on below it.
            (recent, SEARCH_SCAN_WINDOW)
        } else {
            // Every unindexed message is newer than every indexed one, so the two lists
            // joined stay newest first; the cursor comes from the index's part.
            let index = Source::Index(indexed.join(" "));
            let unindexed = recent.len() as u32;
            recent.extend(candidates(&snapshot, search, index, taken)?);
            (recent, taken + unindexed)
        }
    };
    let (ids, next) = pick_page(&candidates, &search.words, search.limit, taken);
    let hits = load_hits(&snapshot, search, &ids)?;
    snapshot.finish()?;
    Ok(FoundMessages { hits, next })
}

/// Where a search's candidates come from.
enum Source {
    /// The searcher's latest messages, every one.
    Scan,
    /// Messages not yet in the index (above `search_progress.indexed_upto`).
    Unindexed,
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
    let mut sql = String::from(match source {
        Source::Scan => "SELECT m.id, m.body FROM messages m WHERE 1",
        Source::Unindexed => {
            "SELECT m.id, m.body FROM messages m \
             WHERE m.id > (SELECT indexed_upto FROM search_progress)"
        }
        Source::Index(_) => {
            "SELECT m.id, m.body FROM messages_fts f JOIN messages m ON m.id = f.rowid \
             WHERE messages_fts MATCH ?2"
        }
    });
    let key = match source {
        Source::Index(query) => {
            args.push(Value::Text(query));
            "f.rowid"
        }
        Source::Scan | Source::Unindexed => "m.id",
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
mod tests {
    use super::fts_string;

    #[test]
    fn query_words_are_fts5_strings_never_syntax() {
        assert_eq!(fts_string("hello"), "\"hello\"");
        assert_eq!(fts_string("a\"b OR c"), "\"a\"\"b OR c\"");
        assert_eq!(fts_string("안녕하"), "\"안녕하\"");
    }
}
