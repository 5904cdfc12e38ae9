//! Message search on PostgreSQL: `ILIKE` per word, which the `pg_trgm` GIN index
//! (`messages_body_trgm`, migration 0006) answers for words of three characters or more;
//! a query with no such word is answered from a bounded scan of the searcher's latest
//! messages. The final word check and the page cut are the store's shared rules
//! (`pick_page`).

use super::{attach_extras, kind_from_column, MessageRow};
use crate::model::{Message, RoomId, RoomKind, RoomSummary};
use crate::store::{
    like_contains, pick_page, FoundMessages, MessageSearch, StoreError, SEARCH_SCAN_WINDOW,
};
use sqlx::{PgPool, Row};
use std::collections::HashMap;

/// Runs `search` on the pool.
pub(super) async fn search(
    pool: &PgPool,
    search: &MessageSearch,
) -> Result<FoundMessages, StoreError> {
    // With a word the index can look up, every word is checked by `ILIKE` (exact, and
    // case-insensitive for every script): one more than a page tells whether there is a next
    // one. Without, the latest messages are scanned and checked here, up to the window.
    let indexed = search.indexed_words().next().is_some();
    let taken = if indexed {
        search.limit + 1
    } else {
        SEARCH_SCAN_WINDOW
    };
    let mut sql = String::from(
        "SELECT m.id, m.body FROM messages m \
         WHERE m.room_id IN (SELECT room_id FROM members WHERE user_id = $1) \
           AND m.deleted_at IS NULL",
    );
    let mut n = 1;
    let patterns: Vec<String> = if indexed {
        search.words.iter().map(|w| like_contains(w)).collect()
    } else {
        Vec::new()
    };
    for _ in &patterns {
        n += 1;
        // Each word its own condition: the GIN index answers `body ILIKE const`, not `ALL`.
        sql.push_str(&format!(" AND m.body ILIKE ${n}"));
    }
    if search.room.is_some() {
        n += 1;
        sql.push_str(&format!(" AND m.room_id = ${n}"));
    }
    if search.sender.is_some() {
        n += 1;
        sql.push_str(&format!(" AND m.sender_id = ${n}"));
    }
    if search.before.is_some() {
        n += 1;
        sql.push_str(&format!(" AND m.id < ${n}"));
    }
    sql.push_str(&format!(" ORDER BY m.id DESC LIMIT ${}", n + 1));
    let mut query = sqlx::query(&sql).bind(search.user.0);
    for pattern in &patterns {
        query = query.bind(pattern);
    }
    if let Some(room) = search.room {
        query = query.bind(room.0);
    }
    if let Some(sender) = search.sender {
        query = query.bind(sender.0);
    }
    if let Some(before) = search.before {
        query = query.bind(before.0);
    }
    let candidates: Vec<(i64, String)> = query
        .bind(i64::from(taken))
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let more = candidates.len() >= taken as usize;
    let (ids, next) = pick_page(&candidates, &search.words, search.limit, more);
    Ok(FoundMessages {
        hits: load_hits(pool, search, &ids).await?,
        next,
    })
}

/// The messages with `ids`, newest first, each with its room as the searcher sees it.
async fn load_hits(
    pool: &PgPool,
    search: &MessageSearch,
    ids: &[i64],
) -> Result<Vec<(RoomSummary, Message)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query_as::<_, MessageRow>(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m JOIN users u ON u.id = m.sender_id \
         WHERE m.id = ANY($1) ORDER BY m.id DESC"
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut messages = rows
        .into_iter()
        .map(Message::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    attach_extras(&mut conn, &mut messages).await?;
    let room_ids: Vec<i64> = messages.iter().map(|m| m.room_id.0).collect();
    let rows = sqlx::query(
        "SELECT r.id, r.kind, r.name, \
           (SELECT u.display_name FROM members mb JOIN users u ON u.id = mb.user_id \
            WHERE mb.room_id = r.id AND mb.user_id <> $2 \
            ORDER BY mb.joined_at, u.id LIMIT 1) AS other \
         FROM rooms r WHERE r.id = ANY($1)",
    )
    .bind(&room_ids)
    .bind(search.user.0)
    .fetch_all(&mut *conn)
    .await?;
    let mut rooms = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let kind = kind_from_column(row.try_get::<&str, _>("kind")?)?;
        let other: Option<String> = row.try_get("other")?;
        let name = match (kind, other) {
            (RoomKind::Direct, Some(other)) => other,
            _ => row.try_get("name")?,
        };
        rooms.insert(
            id,
            RoomSummary {
                id: RoomId(id),
                kind,
                name,
            },
        );
    }
    Ok(messages
        .into_iter()
        .filter_map(|m| rooms.get(&m.room_id.0).cloned().map(|room| (room, m)))
        .collect())
}
