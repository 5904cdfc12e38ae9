//! Message search on SQLite: candidates from the FTS5 trigram index (`messages_fts`,
//! migration 0006) or, for a query with no word of three characters, from a bounded scan of
//! the searcher's latest messages; the final word check and the page cut are the store's
//! shared rules (`pick_page`).

use super::{attach_extras, kind_from, message_from};
use crate::model::{RoomKind, RoomSummary};
use crate::store::{pick_page, FoundMessages, MessageSearch, StoreError, SEARCH_SCAN_WINDOW};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use std::collections::HashMap;

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
    // Without a short word the index's candidates all match: one more than a page tells
    // whether there is a next one. With one, candidates are checked here, up to the window.
    let taken = if !indexed.is_empty() && !search.has_short_words() {
        search.limit + 1
    } else {
        SEARCH_SCAN_WINDOW
    };
    let mut args: Vec<Value> = vec![Value::Integer(search.user.0)];
    let mut sql = if indexed.is_empty() {
        String::from(
            "SELECT m.id, m.body FROM messages m \
             WHERE m.room_id IN (SELECT room_id FROM members WHERE user_id = ?1)",
        )
    } else {
        args.push(Value::Text(indexed.join(" ")));
        String::from(
            "SELECT m.id, m.body FROM messages_fts f JOIN messages m ON m.id = f.rowid \
             WHERE m.room_id IN (SELECT room_id FROM members WHERE user_id = ?1) \
               AND messages_fts MATCH ?2",
        )
    };
    let key = if indexed.is_empty() {
        "m.id"
    } else {
        "f.rowid"
    };
    sql.push_str(" AND m.deleted_at IS NULL");
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
    let candidates: Vec<(i64, String)> = conn
        .prepare(&sql)?
        .query_map(params_from_iter(args), |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let (ids, next) = pick_page(&candidates, &search.words, search.limit, taken);
    Ok(FoundMessages {
        hits: load_hits(conn, search, &ids)?,
        next,
    })
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
