//! [`SqliteStore`]: the embedded default store, one file under `--data-dir`.
//!
//! Durability: WAL journal with `synchronous = FULL`, so a transaction is on disk when
//! `COMMIT` returns and survives `kill -9` and power loss alike; every write answers only
//! after its commit.
//!
//! One write path: every write (a batch of messages from the group commit, see `rooms`, as
//! well as users, sessions, rooms, members and read marks) is a request on the queue of
//! `writer::Writer`, the thread that owns the only writing connection. It runs each request
//! as one transaction with cached prepared statements: one transaction and one fsync per
//! batch of messages, no thread hand-over per statement. Reads go to `readers::Readers`, a
//! few connections of their own that, thanks to WAL, never wait for the writer. The one write
//! outside that queue is the search index's, into a file of its own (`search.db`, see `search`):
//! derived data, written after the messages' commit, that never takes their write lock.
//!
//! Everything runs on `rusqlite`, so a row has one decoder (`message_from`, `user_at`).
//! `sqlx` is used for one thing only: applying the migrations at open. Existing databases
//! record their applied migrations in its `_sqlx_migrations` table, and keeping its migrator
//! keeps that record meaningful: a data directory from an earlier version opens with its data.
//!
//! This module owns SQL and nothing else: it never reaches sessions, STOMP or the broker.

use super::{
    direct_key, group_reactions, like_prefix, reply_preview, seq_to_column, Change, Changed,
    Credentials, FoundMessages, Inserted, MarkedRead, MessageChange, MessageSearch, NewAttachment,
    NewMessage, NewPushSubscription, Page, PresenceRow, PushSubscriptionId, RoomCursor, RoomsPage,
    Store, StoreError, StoredAttachment, StoredPushSubscription,
};
use crate::model::{
    now_millis, rfc3339_millis, AttachmentId, Message, MessageId, ReadMark, ReplyPreview, Room,
    RoomId, RoomKind, Seq, User, UserId,
};
use async_trait::async_trait;
use readers::Readers;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use writer::Writer;

mod attachments;
mod push;
mod readers;
mod writer;

/// Prepared statements kept per connection: more than the store has, so none is ever
/// prepared twice.
const STATEMENT_CACHE: usize = 64;

/// The embedded SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    /// Runs every write, one transaction each, on the only writing connection.
    writer: Writer,
    /// Runs reads on connections of their own.
    readers: Arc<Readers>,
    /// Indexes new messages for search after their commit.
    indexer: Arc<search::Indexer>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(err))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database `sotong.db` in `dir` and runs migrations;
    /// the search index is `search.db` beside it, built from the messages when missing.
    ///
    /// # Errors
    /// When the folder cannot be created or the database cannot be opened or migrated.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let path = dir.join("sotong.db");
        migrate(&path).await?;
        let writer = Writer::start(&path)?;
        let index_path = search::index_path(&path);
        Ok(SqliteStore {
            indexer: Arc::new(search::Indexer::start(&path, &index_path, writer.clone())?),
            writer,
            readers: Arc::new(Readers::new(&path, &index_path)),
        })
    }

    /// Indexes every message stored so far for search, now, instead of at the indexer's next
    /// run: for benchmarks and tests that time or inspect the index itself (a search finds a
    /// message the moment it is stored either way).
    ///
    /// # Errors
    /// When the store is closed or the index cannot be written.
    pub async fn index_search_now(&self) -> Result<(), StoreError> {
        self.indexer.index_all().await
    }
}

/// Creates the database if needed and applies the migrations not yet recorded in
/// `_sqlx_migrations`, on a connection that is closed again before the store starts.
async fn migrate(path: &Path) -> Result<(), StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let migrated = sqlx::migrate!("./migrations/sqlite").run(&pool).await;
    pool.close().await;
    Ok(migrated?)
}

/// Opens a connection to the database at `path`, set up like every other one: WAL, and a
/// commit is on disk when COMMIT returns (`synchronous = FULL` is a per-connection setting).
fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The columns of a message with its sender, with `m` the message and `u` the sender, in the
/// order [`message_from`] reads them. A macro so that statements can splice it into literals
/// with `concat!` (and so be prepared once and cached).
macro_rules! message_columns {
    () => {
        "m.id, m.room_id, m.seq, m.body, m.sent_at, m.client_msg_id, \
         u.id, u.username, u.display_name, m.edited_at, m.deleted_at, m.rev"
    };
}

/// Message search, which splices `message_columns!()` (so declared after it).
mod search;

/// The columns of a user, in the order [`user_at`] reads them.
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.display_name"
    };
}

/// Reads a user from the three columns of `user_columns!()` starting at `first`.
fn user_at(row: &Row<'_>, first: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(row.get(first)?),
        username: row.get(first + 1)?,
        display_name: row.get(first + 2)?,
    })
}

/// Reads a row that starts with the columns of `message_columns!()`.
fn message_from(row: &Row<'_>) -> rusqlite::Result<Message> {
    message_from_at(row, 0)
}

/// Reads the columns of `message_columns!()` starting at `first`, without what the message
/// carries besides its row (see [`attach_extras`]).
fn message_from_at(row: &Row<'_>, first: usize) -> rusqlite::Result<Message> {
    Ok(Message {
        id: MessageId(row.get(first)?),
        room_id: RoomId(row.get(first + 1)?),
        seq: seq_from(row.get(first + 2)?)?,
        text: row.get(first + 3)?,
        sent_at: rfc3339_millis(row.get(first + 4)?),
        client_msg_id: row.get(first + 5)?,
        sender: user_at(row, first + 6)?,
        edited_at: row.get::<_, Option<i64>>(first + 9)?.map(rfc3339_millis),
        deleted_at: row.get::<_, Option<i64>>(first + 10)?.map(rfc3339_millis),
        rev: rev_from(row.get(first + 11)?)?,
        reply_to: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        attachments: Vec::new(),
    })
}

/// A `rev` read from a row; like a `seq`, a negative one is a damaged row.
fn rev_from(value: i64) -> rusqlite::Result<u64> {
    u64::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, value))
}

/// A `seq` read from a row. SQL integers are signed; a negative `seq` is a damaged row.
fn seq_from(value: i64) -> rusqlite::Result<Seq> {
    Seq::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, value))
}

/// A room's kind read from a row: the one place kinds come from storage, so the server never
/// holds [`RoomKind::Other`]. The schema allows only the kinds the server knows; any other
/// name is a damaged row.
fn kind_from(name: &str) -> rusqlite::Result<RoomKind> {
    RoomKind::from_name(name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown room kind {name:?}").into(),
        )
    })
}

/// Whether the statement broke a UNIQUE or PRIMARY KEY constraint.
fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// The ids of `messages` as one JSON array, for `json_each`: one statement for a whole page.
fn json_ids(messages: &[Message]) -> String {
    let ids: Vec<String> = messages.iter().map(|m| m.id.0.to_string()).collect();
    format!("[{}]", ids.join(","))
}

/// Fills in what a message carries besides its row: reply previews, reactions, mentions.
/// One statement each for the whole page, whatever its length; called wherever messages are
/// read, so every page, replay and event carries them.
fn attach_extras(conn: &Connection, messages: &mut [Message]) -> rusqlite::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids = json_ids(messages);
    let mut previews = load_reply_previews(conn, &ids)?;
    let mut reactions = load_reactions(conn, &ids)?;
    let mut mentions = load_mentions(conn, &ids)?;
    attachments::load(conn, messages)?;
    for message in messages.iter_mut() {
        message.reply_to = previews.remove(&message.id.0);
        message.reactions = group_reactions(reactions.remove(&message.id.0).unwrap_or_default());
        message.mentions = mentions.remove(&message.id.0).unwrap_or_default();
    }
    Ok(())
}

/// The previews of the messages that the messages with these ids answer, by replying id: each
/// read from the answered message's current row.
fn load_reply_previews(
    conn: &Connection,
    ids: &str,
) -> rusqlite::Result<HashMap<i64, ReplyPreview>> {
    let mut statement = conn.prepare_cached(concat!(
        "SELECT r.id, ",
        message_columns!(),
        " FROM messages r \
         JOIN messages m ON m.room_id = r.room_id AND m.seq = r.reply_to_seq \
         JOIN users u ON u.id = m.sender_id \
         WHERE r.id IN (SELECT value FROM json_each(?1)) AND r.reply_to_seq IS NOT NULL"
    ))?;
    let rows = statement.query_map(params![ids], |row| {
        Ok((row.get::<_, i64>(0)?, message_from_at(row, 1)?))
    })?;
    let (replies, mut originals): (Vec<i64>, Vec<Message>) = rows
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    attachments::load(conn, &mut originals)?;
    Ok(replies
        .into_iter()
        .zip(originals.iter().map(reply_preview))
        .collect())
}

/// The reaction rows of the messages with these ids, by message id, in the order they were
/// stored.
fn load_reactions(
    conn: &Connection,
    ids: &str,
) -> rusqlite::Result<HashMap<i64, Vec<(String, UserId)>>> {
    let mut statement = conn.prepare_cached(
        "SELECT m.id, r.emoji, r.user_id FROM messages m \
         JOIN reactions r ON r.room_id = m.room_id AND r.seq = m.seq \
         WHERE m.id IN (SELECT value FROM json_each(?1)) ORDER BY r.id",
    )?;
    let mut rows = statement.query(params![ids])?;
    let mut reactions: HashMap<i64, Vec<(String, UserId)>> = HashMap::new();
    while let Some(row) = rows.next()? {
        reactions
            .entry(row.get(0)?)
            .or_default()
            .push((row.get(1)?, UserId(row.get(2)?)));
    }
    Ok(reactions)
}

/// The mentioned users of the messages with these ids, by message id.
fn load_mentions(conn: &Connection, ids: &str) -> rusqlite::Result<HashMap<i64, Vec<UserId>>> {
    let mut statement = conn.prepare_cached(
        "SELECT m.id, mn.user_id FROM messages m \
         JOIN mentions mn ON mn.room_id = m.room_id AND mn.seq = m.seq \
         WHERE m.id IN (SELECT value FROM json_each(?1)) ORDER BY m.id, mn.user_id",
    )?;
    let mut rows = statement.query(params![ids])?;
    let mut mentions: HashMap<i64, Vec<UserId>> = HashMap::new();
    while let Some(row) = rows.next()? {
        mentions
            .entry(row.get(0)?)
            .or_default()
            .push(UserId(row.get(1)?));
    }
    Ok(mentions)
}

/// Stores the mentions of message `seq` of `room`.
fn insert_mentions(
    tx: &Transaction<'_>,
    room: i64,
    seq: i64,
    mentions: &[UserId],
) -> rusqlite::Result<()> {
    if mentions.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO mentions (room_id, seq, user_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
    )?;
    for user in mentions {
        insert.execute(params![room, seq, user.0])?;
    }
    Ok(())
}

fn room_view(conn: &Connection, room: RoomId, viewer: UserId) -> rusqlite::Result<Option<Room>> {
    let Some((kind, mut name, last_read, unread, last_rev, muted)) = conn
        .prepare_cached(
            "SELECT r.kind, r.name, mb.last_read_seq, mb.unread, r.last_rev, mb.muted \
             FROM rooms r LEFT JOIN members mb ON mb.room_id = r.id AND mb.user_id = ?1 \
             WHERE r.id = ?2",
        )?
        .query_row(params![viewer.0, room.0], |row| {
            Ok((
                kind_from(&row.get::<_, String>(0)?)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<i64>>(2)?,
                row.get::<_, Option<i64>>(3)?,
                rev_from(row.get(4)?)?,
                row.get::<_, Option<i64>>(5)?.unwrap_or(0) != 0,
            ))
        })
        .optional()?
    else {
        return Ok(None);
    };

    let members = conn
        .prepare_cached(concat!(
            "SELECT ",
            user_columns!(),
            " FROM members mb JOIN users u ON u.id = mb.user_id \
             WHERE mb.room_id = ?1 ORDER BY mb.joined_at, u.id"
        ))?
        .query_map(params![room.0], |row| user_at(row, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    if kind == RoomKind::Direct {
        if let Some(other) = members.iter().find(|u| u.id != viewer) {
            name = other.display_name.clone();
        }
    }

    let mut last_message = conn
        .prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m JOIN users u ON u.id = m.sender_id \
             WHERE m.room_id = ?1 ORDER BY m.seq DESC LIMIT 1"
        ))?
        .query_row(params![room.0], message_from)
        .optional()?;
    attach_extras(conn, last_message.as_mut_slice())?;
    // Deleting a message deletes its mentions, so tombstones never count.
    let unread_mentions: i64 = match last_read {
        Some(mark) => conn
            .prepare_cached(
                "SELECT COUNT(*) FROM mentions WHERE user_id = ?1 AND room_id = ?2 AND seq > ?3",
            )?
            .query_row(params![viewer.0, room.0, mark], |row| row.get(0))?,
        None => 0,
    };

    Ok(Some(Room {
        id: room,
        kind,
        name,
        members,
        last_message,
        unread: unread.unwrap_or(0).max(0) as u64,
        last_read_seq: seq_from(last_read.unwrap_or(0))?,
        last_rev,
        unread_mentions: unread_mentions.max(0) as u64,
        muted,
    }))
}

/// Stores one message inside the batch's transaction. The outer error fails the batch; the
/// inner one refuses this message only, before anything of it was written.
fn insert_message(
    tx: &Transaction<'_>,
    new: &NewMessage,
) -> rusqlite::Result<Result<Inserted, StoreError>> {
    let room = new.room_id.0;
    let sender = new.sender.id.0;
    // Three statements per message (four with a client-msg-id); the membership check rides
    // on the first of them. A non-member finds no earlier message and bumps no seq.
    if let Some(client_msg_id) = &new.client_msg_id {
        let earlier = tx
            .prepare_cached(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m JOIN users u ON u.id = m.sender_id \
                 WHERE m.room_id = ?1 AND m.sender_id = ?2 AND m.client_msg_id = ?3 \
                 AND EXISTS (SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2)"
            ))?
            .query_row(params![room, sender, client_msg_id], message_from)
            .optional()?;
        if let Some(mut message) = earlier {
            attach_extras(tx, std::slice::from_mut(&mut message))?;
            return Ok(Ok(Inserted {
                message,
                created: false,
                recipients: Vec::new(),
                muted: Vec::new(),
            }));
        }
    }
    // The answered message, read in this transaction, so a delete committed before it is
    // seen. A non-member learns nothing about the room's messages: membership first.
    let mut reply_to = None;
    if let Some(answered) = new.reply_to {
        let member = tx
            .prepare_cached("SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2")?
            .exists(params![room, sender])?;
        if !member {
            return Ok(Err(StoreError::NotMember));
        }
        let Some(mut original) = message_at(tx, room, seq_to_column(answered))? else {
            return Ok(Err(StoreError::ReplyNotFound));
        };
        attachments::load(tx, std::slice::from_mut(&mut original))?;
        if original.is_deleted() {
            return Ok(Err(StoreError::ReplyDeleted));
        }
        reply_to = Some(reply_preview(&original));
    }
    if let Err(refused) = attachments::check_pending(tx, room, sender, &new.attachments)? {
        return Ok(Err(refused));
    }
    let now = now_millis();
    let seq: Option<i64> = tx
        .prepare_cached(
            "UPDATE rooms SET last_seq = last_seq + 1, last_activity = ?1 WHERE id = ?2 \
             AND EXISTS (SELECT 1 FROM members WHERE room_id = ?2 AND user_id = ?3) \
             RETURNING last_seq",
        )?
        .query_row(params![now, room, sender], |row| row.get(0))
        .optional()?;
    let Some(seq) = seq else {
        return Ok(Err(StoreError::NotMember));
    };
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO messages \
               (room_id, seq, sender_id, body, sent_at, client_msg_id, reply_to_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        )?
        .query_row(
            params![
                room,
                seq,
                sender,
                new.text,
                now,
                new.client_msg_id,
                new.reply_to.map(seq_to_column)
            ],
            |row| row.get(0),
        )?;
    insert_mentions(tx, room, seq, &new.mentions)?;
    // Everyone else has one more unread; the sender has read up to its own message.
    let mut recipients = Vec::new();
    let mut muted = Vec::new();
    {
        let mut members = tx.prepare_cached(
            "UPDATE members SET \
               unread = CASE WHEN user_id = ?2 THEN 0 ELSE unread + 1 END, \
               last_read_seq = CASE WHEN user_id = ?2 THEN ?3 ELSE last_read_seq END \
             WHERE room_id = ?1 RETURNING user_id, unread, muted",
        )?;
        let mut rows = members.query(params![room, sender, seq])?;
        while let Some(row) = rows.next()? {
            let user = UserId(row.get(0)?);
            let unread: i64 = row.get(1)?;
            recipients.push((user, unread.max(0) as u64));
            if row.get::<_, bool>(2)? {
                muted.push(user);
            }
        }
    }
    let mut message = Message {
        id: MessageId(id),
        room_id: new.room_id,
        seq: seq_from(seq)?,
        sender: new.sender.clone(),
        text: new.text.clone(),
        sent_at: rfc3339_millis(now),
        client_msg_id: new.client_msg_id.clone(),
        edited_at: None,
        deleted_at: None,
        rev: 0,
        reply_to,
        reactions: Vec::new(),
        mentions: new.mentions.clone(),
        attachments: Vec::new(),
    };
    attachments::link(tx, &mut message, &new.attachments)?;
    Ok(Ok(Inserted {
        message,
        created: true,
        recipients,
        muted,
    }))
}

/// Reads message `seq` of `room` inside a transaction, without its extras.
fn message_at(tx: &Transaction<'_>, room: i64, seq: i64) -> rusqlite::Result<Option<Message>> {
    tx.prepare_cached(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m JOIN users u ON u.id = m.sender_id \
         WHERE m.room_id = ?1 AND m.seq = ?2"
    ))?
    .query_row(params![room, seq], message_from)
    .optional()
}

/// Applies one edit or delete inside the writer's transaction (see [`Store::change_message`]).
fn change_message(tx: &Transaction<'_>, change: &MessageChange) -> Result<Changed, StoreError> {
    let room = change.room_id.0;
    let exists = tx
        .prepare_cached("SELECT 1 FROM rooms WHERE id = ?1")?
        .exists(params![room])?;
    if !exists {
        return Err(StoreError::NotFound(format!("no room {}", change.room_id)));
    }
    let recipients: Vec<UserId> = tx
        .prepare_cached("SELECT user_id FROM members WHERE room_id = ?1")?
        .query_map(params![room], |row| Ok(UserId(row.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if !recipients.contains(&change.actor) {
        return Err(StoreError::NotMember);
    }
    let seq = seq_to_column(change.seq);
    let (mut message, sent_at) = tx
        .prepare_cached(concat!(
            "SELECT ",
            message_columns!(),
            ", m.sent_at FROM messages m JOIN users u ON u.id = m.sender_id \
             WHERE m.room_id = ?1 AND m.seq = ?2"
        ))?
        .query_row(params![room, seq], |row| {
            Ok((message_from(row)?, row.get::<_, i64>(12)?))
        })
        .optional()?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "no message {} in room {}",
                change.seq, change.room_id
            ))
        })?;
    attach_extras(tx, std::slice::from_mut(&mut message))?;
    let now = now_millis();
    if super::plan_change(&message, change, sent_at, now)? == super::Plan::Unchanged {
        return Ok(Changed {
            message,
            changed: false,
            recipients,
            removed_objects: Vec::new(),
        });
    }
    let rev: i64 = tx
        .prepare_cached(
            "UPDATE rooms SET last_rev = last_rev + 1 WHERE id = ?1 RETURNING last_rev",
        )?
        .query_row(params![room], |row| row.get(0))?;
    let removed_objects = match &change.change {
        Change::Delete => attachments::remove_of_message(tx, message.id)?,
        Change::Edit(_) | Change::React { .. } => Vec::new(),
    };
    match &change.change {
        Change::Edit(text) => {
            tx.prepare_cached(
                "UPDATE messages SET body = ?3, edited_at = ?4, rev = ?5 \
                 WHERE room_id = ?1 AND seq = ?2",
            )?
            .execute(params![room, seq, text, now, rev])?;
            // The new text's mentions replace the old ones.
            tx.prepare_cached("DELETE FROM mentions WHERE room_id = ?1 AND seq = ?2")?
                .execute(params![room, seq])?;
            insert_mentions(tx, room, seq, &change.mentions)?;
        }
        Change::Delete => {
            tx.prepare_cached(
                "UPDATE messages SET body = '', deleted_at = ?3, rev = ?4 \
                 WHERE room_id = ?1 AND seq = ?2",
            )?
            .execute(params![room, seq, now, rev])?;
            // A tombstone carries no reactions and mentions nobody.
            tx.prepare_cached("DELETE FROM reactions WHERE room_id = ?1 AND seq = ?2")?
                .execute(params![room, seq])?;
            tx.prepare_cached("DELETE FROM mentions WHERE room_id = ?1 AND seq = ?2")?
                .execute(params![room, seq])?;
        }
        Change::React { emoji, add } => {
            if *add {
                tx.prepare_cached(
                    "INSERT INTO reactions (room_id, seq, user_id, emoji, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![room, seq, change.actor.0, emoji, now])?;
            } else {
                tx.prepare_cached(
                    "DELETE FROM reactions \
                     WHERE room_id = ?1 AND seq = ?2 AND user_id = ?3 AND emoji = ?4",
                )?
                .execute(params![room, seq, change.actor.0, emoji])?;
            }
            tx.prepare_cached("UPDATE messages SET rev = ?3 WHERE room_id = ?1 AND seq = ?2")?
                .execute(params![room, seq, rev])?;
        }
    };
    let mut message = message_at(tx, room, seq)?
        .ok_or_else(|| StoreError::Backend("a changed message was not found again".into()))?;
    attach_extras(tx, std::slice::from_mut(&mut message))?;
    Ok(Changed {
        message,
        changed: true,
        recipients,
        removed_objects,
    })
}

/// Adds `user` to `room` unless it is a member already; `true` when added.
fn insert_member(
    tx: &Transaction<'_>,
    room: i64,
    user: UserId,
    last_read_seq: i64,
    now: i64,
) -> rusqlite::Result<bool> {
    let added = tx
        .prepare_cached(
            "INSERT INTO members (room_id, user_id, last_read_seq, joined_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?
        .execute(params![room, user.0, last_read_seq, now])?;
    Ok(added > 0)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: Option<&str>,
    ) -> Result<User, StoreError> {
        let username = username.to_string();
        let display_name = display_name.to_string();
        let password_hash = password_hash.map(str::to_string);
        self.writer
            .write(move |tx| {
                let origin = if password_hash.is_some() {
                    "password"
                } else {
                    "jwt"
                };
                tx.prepare_cached(
                    "INSERT INTO users (username, display_name, password_hash, created_at, origin) \
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id, username, display_name",
                )?
                .query_row(
                    params![username, display_name, password_hash, now_millis(), origin],
                    |row| user_at(row, 0),
                )
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict(format!("the username {username} is taken"))
                    } else {
                        StoreError::from(e)
                    }
                })
            })
            .await
    }

    async fn user_credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError> {
        let username = username.to_string();
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT id, username, display_name, password_hash FROM users \
                         WHERE username = ?1",
                    )?
                    .query_row(params![username], |row| {
                        Ok(Credentials {
                            user: user_at(row, 0)?,
                            password_hash: row.get(3)?,
                        })
                    })
                    .optional()?)
            })
            .await
    }

    async fn upsert_user(
        &self,
        username: &str,
        display_name: Option<&str>,
    ) -> Result<User, StoreError> {
        let username = username.to_string();
        let display_name = display_name.map(str::to_string);
        let taken = {
            let username = username.clone();
            move || StoreError::Conflict(format!("{username} is a password account"))
        };
        let existing = {
            let username = username.clone();
            self.readers
                .read(move |conn| {
                    Ok(conn
                        .prepare_cached(
                            "SELECT id, username, display_name, origin FROM users \
                             WHERE username = ?1",
                        )?
                        .query_row(params![username], |row| {
                            Ok((user_at(row, 0)?, row.get::<_, String>(3)?))
                        })
                        .optional()?)
                })
                .await?
        };
        if let Some((user, origin)) = existing {
            if origin != "jwt" {
                return Err(taken());
            }
            if display_name
                .as_deref()
                .is_none_or(|d| d == user.display_name)
            {
                return Ok(user);
            }
        }
        // The WHERE keeps a password account untouched even if one was registered since the
        // read above: then no row comes back, and the answer is the same refusal.
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO users (username, display_name, password_hash, created_at, origin) \
                     VALUES (?1, COALESCE(?2, ?1), NULL, ?3, 'jwt') \
                     ON CONFLICT (username) DO UPDATE SET \
                       display_name = COALESCE(?2, users.display_name) \
                     WHERE users.origin = 'jwt' \
                     RETURNING id, username, display_name",
                )?
                .query_row(params![username, display_name, now_millis()], |row| {
                    user_at(row, 0)
                })
                .optional()?
                .ok_or_else(taken)
            })
            .await
    }

    async fn update_display_name(
        &self,
        user: UserId,
        display_name: &str,
    ) -> Result<Option<User>, StoreError> {
        let display_name = display_name.to_string();
        self.writer
            .write(move |tx| {
                Ok(tx
                    .prepare_cached(
                        "UPDATE users SET display_name = ?2 WHERE id = ?1 \
                         RETURNING id, username, display_name",
                    )?
                    .query_row(params![user.0, display_name], |row| user_at(row, 0))
                    .optional()?)
            })
            .await
    }

    async fn update_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: Option<&[u8]>,
    ) -> Result<u64, StoreError> {
        let password_hash = password_hash.to_string();
        let keep = keep.map(<[u8]>::to_vec);
        self.writer
            .write(move |tx| {
                let updated = tx
                    .prepare_cached(
                        "UPDATE users SET password_hash = ?2 \
                         WHERE id = ?1 AND origin = 'password'",
                    )?
                    .execute(params![user.0, password_hash])?;
                if updated == 0 {
                    return Err(StoreError::NotFound(format!("no password account {user}")));
                }
                let ended = tx
                    .prepare_cached(
                        "DELETE FROM login_sessions WHERE user_id = ?1 \
                         AND (?2 IS NULL OR token_hash <> ?2)",
                    )?
                    .execute(params![user.0, keep])?;
                Ok(ended as u64)
            })
            .await
    }

    async fn contact_ids(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT DISTINCT other.user_id FROM members mine \
                         JOIN members other ON other.room_id = mine.room_id \
                         WHERE mine.user_id = ?1",
                    )?
                    .query_map(params![user.0], |row| Ok(UserId(row.get(0)?)))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<User>, StoreError> {
        let pattern = like_prefix(prefix);
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT id, username, display_name FROM users \
                         WHERE username LIKE ?1 ESCAPE '\\' ORDER BY username LIMIT ?2",
                    )?
                    .query_map(params![pattern, i64::from(limit)], |row| user_at(row, 0))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn users_by_username(&self, usernames: &[String]) -> Result<Vec<User>, StoreError> {
        let usernames = usernames.to_vec();
        self.readers
            .read(move |conn| {
                let mut by_name = conn.prepare_cached(
                    "SELECT id, username, display_name FROM users WHERE username = ?1",
                )?;
                let mut users = Vec::with_capacity(usernames.len());
                for name in &usernames {
                    if let Some(user) = by_name
                        .query_row(params![name], |row| user_at(row, 0))
                        .optional()?
                    {
                        users.push(user);
                    }
                }
                Ok(users)
            })
            .await
    }

    async fn create_session(
        &self,
        token_hash: &[u8],
        user: UserId,
        expires_at_unix: i64,
    ) -> Result<(), StoreError> {
        let token_hash = token_hash.to_vec();
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO login_sessions (token_hash, user_id, expires_at) \
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![token_hash, user.0, expires_at_unix])?;
                Ok(())
            })
            .await
    }

    async fn session_user(&self, token_hash: &[u8]) -> Result<Option<(User, i64)>, StoreError> {
        let token_hash = token_hash.to_vec();
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        user_columns!(),
                        ", s.expires_at FROM login_sessions s \
                         JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1"
                    ))?
                    .query_row(params![token_hash], |row| {
                        Ok((user_at(row, 0)?, row.get(3)?))
                    })
                    .optional()?)
            })
            .await
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<bool, StoreError> {
        let token_hash = token_hash.to_vec();
        self.writer
            .write(move |tx| {
                let deleted = tx
                    .prepare_cached("DELETE FROM login_sessions WHERE token_hash = ?1")?
                    .execute(params![token_hash])?;
                Ok(deleted > 0)
            })
            .await
    }

    async fn revoke_tokens(&self, user: UserId, valid_after: i64) -> Result<u64, StoreError> {
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "UPDATE users SET tokens_valid_after = \
                     MAX(COALESCE(tokens_valid_after, ?2), ?2) WHERE id = ?1",
                )?
                .execute(params![user.0, valid_after])?;
                let ended = tx
                    .prepare_cached("DELETE FROM login_sessions WHERE user_id = ?1")?
                    .execute(params![user.0])?;
                Ok(ended as u64)
            })
            .await
    }

    async fn tokens_valid_after(&self, user: UserId) -> Result<Option<i64>, StoreError> {
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT tokens_valid_after FROM users WHERE id = ?1")?
                    .query_row(params![user.0], |row| row.get::<_, Option<i64>>(0))
                    .optional()?
                    .flatten())
            })
            .await
    }

    async fn direct_room(&self, a: UserId, b: UserId) -> Result<(RoomId, bool), StoreError> {
        let key = direct_key(a, b);
        self.writer
            .write(move |tx| {
                if let Some(id) = tx
                    .prepare_cached("SELECT id FROM rooms WHERE direct_key = ?1")?
                    .query_row(params![key], |row| row.get::<_, i64>(0))
                    .optional()?
                {
                    return Ok((RoomId(id), false));
                }
                let now = now_millis();
                let id: i64 = tx
                    .prepare_cached(
                        "INSERT INTO rooms (kind, name, direct_key, created_at, last_activity) \
                         VALUES ('direct', '', ?1, ?2, ?2) RETURNING id",
                    )?
                    .query_row(params![key, now], |row| row.get(0))?;
                let mut member = tx.prepare_cached(
                    "INSERT INTO members (room_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
                )?;
                for user in [a, b] {
                    member.execute(params![id, user.0, now])?;
                }
                Ok((RoomId(id), true))
            })
            .await
    }

    async fn find_direct_room(&self, a: UserId, b: UserId) -> Result<Option<RoomId>, StoreError> {
        let key = direct_key(a, b);
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT id FROM rooms WHERE direct_key = ?1")?
                    .query_row(params![key], |row| Ok(RoomId(row.get(0)?)))
                    .optional()?)
            })
            .await
    }

    async fn create_group(
        &self,
        name: &str,
        creator: UserId,
        members: &[UserId],
    ) -> Result<RoomId, StoreError> {
        let name = name.to_string();
        let members = members.to_vec();
        self.writer
            .write(move |tx| {
                let now = now_millis();
                let id: i64 = tx
                    .prepare_cached(
                        "INSERT INTO rooms (kind, name, created_at, last_activity) \
                         VALUES ('group', ?1, ?2, ?2) RETURNING id",
                    )?
                    .query_row(params![name, now], |row| row.get(0))?;
                for user in std::iter::once(creator).chain(members) {
                    insert_member(tx, id, user, 0, now)?;
                }
                Ok(RoomId(id))
            })
            .await
    }

    async fn room_kind(&self, room: RoomId) -> Result<Option<RoomKind>, StoreError> {
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT kind FROM rooms WHERE id = ?1")?
                    .query_row(params![room.0], |row| kind_from(&row.get::<_, String>(0)?))
                    .optional()?)
            })
            .await
    }

    async fn room(&self, room: RoomId, viewer: UserId) -> Result<Option<Room>, StoreError> {
        self.readers
            .read(move |conn| Ok(room_view(conn, room, viewer)?))
            .await
    }

    async fn rooms_of(
        &self,
        user: UserId,
        after: Option<RoomCursor>,
        limit: u32,
    ) -> Result<RoomsPage, StoreError> {
        self.readers
            .read(move |conn| {
                // One row more than asked tells whether there is a next page.
                let rows: Vec<(i64, i64)> = conn
                    .prepare_cached(
                        "SELECT r.id, r.last_activity FROM rooms r \
                         JOIN members mb ON mb.room_id = r.id \
                         WHERE mb.user_id = ?1 \
                           AND (?2 IS NULL OR r.last_activity < ?2 \
                                OR (r.last_activity = ?2 AND r.id < ?3)) \
                         ORDER BY r.last_activity DESC, r.id DESC LIMIT ?4",
                    )?
                    .query_map(
                        params![
                            user.0,
                            after.map(|c| c.last_activity),
                            after.map(|c| c.room.0),
                            i64::from(limit) + 1
                        ],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )?
                    .collect::<rusqlite::Result<_>>()?;
                let more = rows.len() > limit as usize;
                let mut rooms = Vec::with_capacity(rows.len().min(limit as usize));
                let mut next = None;
                for &(id, last_activity) in rows.iter().take(limit as usize) {
                    if let Some(room) = room_view(conn, RoomId(id), user)? {
                        rooms.push(room);
                    }
                    next = Some(RoomCursor {
                        last_activity,
                        room: RoomId(id),
                    });
                }
                Ok(RoomsPage {
                    rooms,
                    next: if more { next } else { None },
                })
            })
            .await
    }

    async fn rename_group(&self, room: RoomId, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.writer
            .write(move |tx| {
                let renamed = tx
                    .prepare_cached("UPDATE rooms SET name = ?2 WHERE id = ?1 AND kind = 'group'")?
                    .execute(params![room.0, name])?;
                Ok(renamed > 0)
            })
            .await
    }

    async fn add_members(&self, room: RoomId, users: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        let users = users.to_vec();
        self.writer
            .write(move |tx| {
                let last_seq: i64 = tx
                    .prepare_cached("SELECT last_seq FROM rooms WHERE id = ?1")?
                    .query_row(params![room.0], |row| row.get(0))
                    .optional()?
                    .ok_or_else(|| StoreError::NotFound("no such room".into()))?;
                let now = now_millis();
                let mut added = Vec::new();
                for user in users {
                    if insert_member(tx, room.0, user, last_seq, now)? {
                        added.push(user);
                    }
                }
                Ok(added)
            })
            .await
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| {
                let removed = tx
                    .prepare_cached("DELETE FROM members WHERE room_id = ?1 AND user_id = ?2")?
                    .execute(params![room.0, user.0])?;
                Ok(removed > 0)
            })
            .await
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2")?
                    .exists(params![room.0, user.0])?)
            })
            .await
    }

    async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT user_id FROM members WHERE room_id = ?1")?
                    .query_map(params![room.0], |row| Ok(UserId(row.get(0)?)))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn read_marks(&self, room: RoomId) -> Result<Vec<ReadMark>, StoreError> {
        self.readers
            .read(move |conn| {
                let rows = conn
                    .prepare_cached(
                        "SELECT user_id, last_read_seq FROM members WHERE room_id = ?1 \
                         ORDER BY user_id",
                    )?
                    .query_map(params![room.0], |row| {
                        Ok((UserId(row.get(0)?), row.get::<_, i64>(1)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                rows.into_iter()
                    .map(|(user_id, seq)| {
                        Ok(ReadMark {
                            user_id,
                            seq: seq_from(seq)?,
                        })
                    })
                    .collect()
            })
            .await
    }

    async fn insert_messages(
        &self,
        batch: Vec<NewMessage>,
    ) -> Result<Vec<Result<Inserted, StoreError>>, StoreError> {
        let results = self
            .writer
            .write(move |tx| {
                let mut results = Vec::with_capacity(batch.len());
                for new in &batch {
                    results.push(insert_message(tx, new)?);
                }
                Ok(results)
            })
            .await?;
        self.indexer.stored();
        Ok(results)
    }

    async fn change_message(&self, change: MessageChange) -> Result<Changed, StoreError> {
        let text_changed = !matches!(change.change, Change::React { .. });
        let changed = self
            .writer
            .write(move |tx| change_message(tx, &change))
            .await?;
        if text_changed && changed.changed {
            // The edit log has a row for the index (migration 0011).
            self.indexer.stored();
        }
        Ok(changed)
    }

    async fn changes(
        &self,
        room: RoomId,
        after_rev: u64,
        upto: Option<Seq>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let after = i64::try_from(after_rev).unwrap_or(i64::MAX);
        self.readers
            .read(move |conn| {
                let mut messages = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages m JOIN users u ON u.id = m.sender_id \
                         WHERE m.room_id = ?1 AND m.rev > ?2 AND (?3 IS NULL OR m.seq <= ?3) \
                         ORDER BY m.rev ASC LIMIT ?4"
                    ))?
                    .query_map(
                        params![room.0, after, upto.map(seq_to_column), i64::from(limit)],
                        message_from,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                attach_extras(conn, &mut messages)?;
                Ok(messages)
            })
            .await
    }

    async fn messages(&self, room: RoomId, page: Page) -> Result<Vec<Message>, StoreError> {
        // Paging forward from `after` reads ascending; otherwise the newest page below
        // `before` (or overall) is read descending and turned around.
        let ascending = page.after.is_some();
        let sql = if ascending {
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m JOIN users u ON u.id = m.sender_id \
                 WHERE m.room_id = ?1 AND (?2 IS NULL OR m.seq < ?2) \
                   AND (?3 IS NULL OR m.seq > ?3) \
                 ORDER BY m.seq ASC LIMIT ?4"
            )
        } else {
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m JOIN users u ON u.id = m.sender_id \
                 WHERE m.room_id = ?1 AND (?2 IS NULL OR m.seq < ?2) \
                   AND (?3 IS NULL OR m.seq > ?3) \
                 ORDER BY m.seq DESC LIMIT ?4"
            )
        };
        let mut messages = self
            .readers
            .read(move |conn| {
                let mut messages = conn
                    .prepare_cached(sql)?
                    .query_map(
                        params![
                            room.0,
                            page.before.map(seq_to_column),
                            page.after.map(seq_to_column),
                            i64::from(page.limit)
                        ],
                        message_from,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                attach_extras(conn, &mut messages)?;
                Ok(messages)
            })
            .await?;
        if !ascending {
            messages.reverse();
        }
        Ok(messages)
    }

    async fn last_seq(&self, room: RoomId) -> Result<Seq, StoreError> {
        let seq: Option<i64> = self
            .readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT last_seq FROM rooms WHERE id = ?1")?
                    .query_row(params![room.0], |row| row.get(0))
                    .optional()?)
            })
            .await?;
        Ok(seq_from(seq.unwrap_or(0))?)
    }

    async fn last_seqs(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, Seq)>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for the whole set: the ids travel as one JSON array.
        let ids = rooms
            .iter()
            .map(|room| room.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let ids = format!("[{ids}]");
        let rows: Vec<(i64, i64)> = self
            .readers
            .read(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT id, last_seq FROM rooms WHERE id IN (SELECT value FROM json_each(?1))",
                )?;
                let rows = statement
                    .query_map(params![ids], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        rows.into_iter()
            .map(|(id, seq)| Ok((RoomId(id), seq_from(seq)?)))
            .collect()
    }

    async fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: Seq,
    ) -> Result<MarkedRead, StoreError> {
        self.writer
            .write(move |tx| {
                // The one writer holds the database, so the mark read here is the one replaced.
                let before: i64 = tx
                    .prepare_cached(
                        "SELECT last_read_seq FROM members WHERE room_id = ?1 AND user_id = ?2",
                    )?
                    .query_row(params![room.0, user.0], |row| row.get(0))
                    .optional()?
                    .ok_or(StoreError::NotMember)?;
                let mark: i64 = tx
                    .prepare_cached(
                        "UPDATE members SET last_read_seq = \
                           MAX(last_read_seq, MIN(?1, (SELECT last_seq FROM rooms WHERE id = ?2))) \
                         WHERE room_id = ?2 AND user_id = ?3 RETURNING last_read_seq",
                    )?
                    .query_row(params![seq_to_column(seq), room.0, user.0], |row| {
                        row.get(0)
                    })
                    .optional()?
                    .ok_or(StoreError::NotMember)?;
                // Seqs have no gaps, and every message a member sends moves its own read mark
                // to that message, so everything after the mark is from others: unread is a
                // subtraction, not a count over the room's history (which let a loop of read
                // marks on a long room slow everyone's writes down).
                tx.prepare_cached(
                    "UPDATE members SET \
                       unread = MAX(0, (SELECT last_seq FROM rooms WHERE id = ?1) - ?2) \
                     WHERE room_id = ?1 AND user_id = ?3",
                )?
                .execute(params![room.0, mark, user.0])?;
                Ok(MarkedRead {
                    mark: seq_from(mark)?,
                    advanced: mark > before,
                })
            })
            .await
    }

    async fn search_messages(&self, search: MessageSearch) -> Result<FoundMessages, StoreError> {
        self.readers
            .read(move |conn| search::search(conn, &search))
            .await
    }

    async fn insert_attachment(&self, new: NewAttachment) -> Result<StoredAttachment, StoreError> {
        self.writer
            .write(move |tx| attachments::insert(tx, &new))
            .await
    }

    async fn attachment(&self, id: AttachmentId) -> Result<Option<StoredAttachment>, StoreError> {
        self.readers
            .read(move |conn| Ok(attachments::get(conn, id)?))
            .await
    }

    async fn delete_pending_attachments(
        &self,
        created_before: i64,
        limit: u32,
    ) -> Result<Vec<StoredAttachment>, StoreError> {
        self.writer
            .write(move |tx| Ok(attachments::delete_pending(tx, created_before, limit)?))
            .await
    }

    async fn presence_settings(&self, users: &[UserId]) -> Result<Vec<PresenceRow>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids = json_id_list(users.iter().map(|user| user.0));
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT id, presence_visible, last_seen_at FROM users \
                         WHERE id IN (SELECT value FROM json_each(?1))",
                    )?
                    .query_map(params![ids], |row| {
                        Ok(PresenceRow {
                            user: UserId(row.get(0)?),
                            visible: row.get::<_, i64>(1)? != 0,
                            last_seen_at: row.get(2)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn set_presence_visible(&self, user: UserId, visible: bool) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| {
                let changed = tx
                    .prepare_cached("UPDATE users SET presence_visible = ?2 WHERE id = ?1")?
                    .execute(params![user.0, i64::from(visible)])?;
                Ok(changed > 0)
            })
            .await
    }

    async fn set_last_seen(&self, user: UserId, at_millis: i64) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| {
                tx.prepare_cached("UPDATE users SET last_seen_at = ?2 WHERE id = ?1")?
                    .execute(params![user.0, at_millis])?;
                Ok(())
            })
            .await
    }

    async fn sharing_a_room(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids = json_id_list(candidates.iter().map(|user| user.0));
        self.readers
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT DISTINCT theirs.user_id FROM members mine \
                         JOIN members theirs ON theirs.room_id = mine.room_id \
                         WHERE mine.user_id = ?1 \
                           AND theirs.user_id IN (SELECT value FROM json_each(?2))",
                    )?
                    .query_map(params![user.0, ids], |row| Ok(UserId(row.get(0)?)))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn set_muted(&self, room: RoomId, user: UserId, muted: bool) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| push::set_muted(tx, room, user, muted))
            .await
    }

    async fn upsert_push_subscription(
        &self,
        new: NewPushSubscription,
    ) -> Result<PushSubscriptionId, StoreError> {
        self.writer
            .write(move |tx| Ok(push::upsert_subscription(tx, &new, now_millis())?))
            .await
    }

    async fn push_subscriptions_of(
        &self,
        users: &[UserId],
    ) -> Result<Vec<StoredPushSubscription>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let users = users.to_vec();
        self.readers
            .read(move |conn| Ok(push::subscriptions_of(conn, &users)?))
            .await
    }

    async fn delete_push_subscription(
        &self,
        user: UserId,
        endpoint: &str,
    ) -> Result<bool, StoreError> {
        let endpoint = endpoint.to_string();
        self.writer
            .write(move |tx| Ok(push::delete_subscription(tx, user, &endpoint)?))
            .await
    }

    async fn delete_push_subscription_by_id(
        &self,
        id: PushSubscriptionId,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| Ok(push::delete_subscription_by_id(tx, id)?))
            .await
    }

    async fn record_push_outcome(
        &self,
        id: PushSubscriptionId,
        succeeded: bool,
        at: i64,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| Ok(push::record_outcome(tx, id, succeeded, at)?))
            .await
    }

    async fn vapid_private_key(&self, candidate: &str) -> Result<String, StoreError> {
        let candidate = candidate.to_string();
        self.writer
            .write(move |tx| Ok(push::vapid_private_key(tx, &candidate, now_millis())?))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn close(&self) {
        self.indexer.stop();
        self.writer.close().await;
        self.readers.close();
    }
}

#[cfg(test)]
mod tests;

/// Ids as one JSON array, for `json_each`: one statement for a whole set.
fn json_id_list(ids: impl Iterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
    format!("[{}]", ids.join(","))
}
