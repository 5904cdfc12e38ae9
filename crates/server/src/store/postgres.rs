//! [`PostgresStore`]: the store on a PostgreSQL database (`--database-url postgres://…`), for
//! one node or many on the same database.
//!
//! Several nodes write at once, so what SQLite gets from its single writer is made explicit
//! here, with the room's row as the room's lock:
//! - **gap-free `seq` per room.** A batch of messages locks the rows of its rooms in id order
//!   (`SELECT … FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE`), reads each room's
//!   `last_seq` and members under that lock, and stores the messages with the next `seq`s. Two
//!   nodes locking overlapping rooms take the locks in the same order, so they queue instead
//!   of deadlocking. No `SEQUENCE`: those have gaps by design.
//! - **idempotent retries.** The `client-msg-id` check runs under the same lock, so a retry
//!   that lands on another node finds the first copy (`created: false`) instead of failing
//!   the batch on the unique index.
//! - **one clock.** `sentAt` and room activity come from the database's clock, read once per
//!   batch after the locks are held, so a room's messages are stamped in `seq` order whichever
//!   node stored them.
//! - **one direct room per pair.** Its key is unique; a second node opening it at the same
//!   moment meets `ON CONFLICT DO NOTHING` and answers the first node's room.
//! - **membership and read marks under the room's lock.** Adding or removing members takes
//!   the room's lock (`FOR UPDATE`), a read mark shares it (`FOR SHARE`), so none of them
//!   interleaves with a batch that counts the room's unread.
//!
//! One write path: the group commit's batch is one transaction of at most four statements,
//! whatever its size (lock the rooms; read their members; look up earlier copies of retried
//! messages, when there are any; one statement that stores every message with `UNNEST` and
//! moves the rooms and the members). The batch's planning (which message is refused, a
//! duplicate or new, and each member's unread after each message) is plain Rust in
//! `batch`, tested without a database.
//!
//! Reads are set-based: a page of rooms is three queries whatever its length (the rooms with
//! the viewer's marks; their members; their last messages), users by name one.
//!
//! This module owns SQL and nothing else: it never reaches sessions, STOMP or the broker.

use super::{
    direct_key, group_reactions, kind_from_column, like_prefix, reply_preview, seq_from_column,
    seq_to_column, unread_from_column, Change, Changed, Credentials, FoundMessages, Inserted,
    MarkedRead, MessageChange, MessageSearch, NewAttachment, NewMessage, NewPushSubscription, Page,
    PresenceRow, PushSubscriptionId, RoomCursor, RoomsPage, Store, StoreError, StoredAttachment,
    StoredPushSubscription,
};
use crate::model::{
    rfc3339_millis, AttachmentId, Message, MessageId, ReadMark, ReplyPreview, Room, RoomId,
    RoomKind, Seq, User, UserId,
};
use async_trait::async_trait;
use batch::{Locked, Member, Outcome};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::PgConnection;
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

mod batch;

/// Most connections one node holds: the group commit needs one, and reads a few each.
const POOL_SIZE: u32 = 16;

/// How long a query waits for a connection before it fails with `unavailable`: a free one
/// from the pool, or a new one while the database is down (connection attempts are retried
/// with back-off within this time, each bounded by it too). Short, so that a send while the
/// database is unreachable is refused within seconds and its client can retry, instead of
/// holding the sender (and the group commit behind it) for as long as the outage lasts. On a
/// healthy database a query waits this long only when all [`POOL_SIZE`] connections stay busy
/// for the whole time; failing fast then sheds load that the clients retry with back-off.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest the group commit's transaction may take, from acquiring its connection to the
/// commit's answer. A batch is a few statements that take milliseconds; one that takes
/// seconds waits on a database that stopped answering without closing the connection (a
/// silent network cut, a stuck server). Every message of the node waits behind the batch, so
/// it is given up: its posters get `unavailable`, and the dropped connection makes the server
/// roll the transaction back. Had the commit reached the server before that, the messages are
/// stored whole and a retry with the same `client-msg-id` gets them.
const BATCH_DEADLINE: Duration = Duration::from_secs(5);

/// Runs a commit (a batch of messages, or one change) under [`BATCH_DEADLINE`]: a database that
/// stops answering mid-transaction fails it as [`StoreError::Backend`] instead of holding the
/// commit pipeline.
async fn within_batch_deadline<T>(
    commit: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(BATCH_DEADLINE, commit)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Backend(
                format!("the database did not answer within {BATCH_DEADLINE:?}").into(),
            ))
        })
}

/// The server ends a session that leaves a transaction open this long: a node that lost its
/// network in the middle of a batch would otherwise hold the locks on its rooms' rows until
/// the server notices the dead connection (hours, with default TCP keepalive), and every other
/// node's messages to those rooms would wait on them. Every transaction here runs its
/// statements back to back, so a healthy node never comes near it.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "10s";

/// The database's clock as Unix milliseconds. `clock_timestamp()`, not `now()`: `now()` is
/// when the transaction began, which may be before it waited for a room's lock, and then a
/// later `seq` could carry an earlier time.
macro_rules! db_now_millis {
    () => {
        "FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    };
}

/// The columns of a message with its sender, with `m` the message and `u` the sender, named
/// as [`MessageRow`] reads them. A macro so that statements can splice it with `concat!` and
/// stay `'static` (and so prepared once per connection).
macro_rules! message_columns {
    () => {
        "m.id, m.room_id, m.seq, m.body, m.sent_at, m.client_msg_id, \
         u.id AS sender_id, u.username AS sender_username, \
         u.display_name AS sender_display_name, m.edited_at, m.deleted_at, m.rev"
    };
}

mod attachments;
mod push;
/// Message search, which splices `message_columns!()` (so declared after it).
mod search;

/// The store on PostgreSQL.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) and
    /// applies the migrations it has not had yet. The database must exist. Nodes starting
    /// together are safe: the migrator holds an advisory lock while it works.
    ///
    /// # Errors
    /// A URL that does not parse, a database that cannot be reached, or a failed migration.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?
            .application_name("sotong")
            .options([(
                "idle_in_transaction_session_timeout",
                IDLE_IN_TRANSACTION_TIMEOUT,
            )]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        if let Err(err) = sqlx::migrate!("./migrations/postgres").run(&pool).await {
            pool.close().await;
            return Err(err.into());
        }
        Ok(PostgresStore { pool })
    }
}

/// A user as stored.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    display_name: String,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId(row.id),
            username: row.username,
            display_name: row.display_name,
        }
    }
}

/// A message with its sender, as `message_columns!()` names them.
#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    room_id: i64,
    seq: i64,
    body: String,
    sent_at: i64,
    client_msg_id: Option<String>,
    sender_id: i64,
    sender_username: String,
    sender_display_name: String,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    rev: i64,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        Ok(Message {
            id: MessageId(row.id),
            room_id: RoomId(row.room_id),
            seq: seq_from_column(row.seq)?,
            sender: User {
                id: UserId(row.sender_id),
                username: row.sender_username,
                display_name: row.sender_display_name,
            },
            text: row.body,
            sent_at: rfc3339_millis(row.sent_at),
            client_msg_id: row.client_msg_id,
            edited_at: row.edited_at.map(rfc3339_millis),
            deleted_at: row.deleted_at.map(rfc3339_millis),
            rev: rev_from_column(row.rev)?,
            reply_to: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            attachments: Vec::new(),
        })
    }
}

/// A room with the viewer's read mark and unread count (`None` for a non-member).
#[derive(sqlx::FromRow)]
struct RoomRow {
    id: i64,
    kind: String,
    name: String,
    last_activity: i64,
    last_read_seq: Option<i64>,
    unread: Option<i64>,
    last_rev: i64,
    muted: Option<bool>,
}

/// A `rev` read from a column; a negative one is a damaged row.
fn rev_from_column(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("damaged row: negative rev {value}").into()))
}

/// Whether the statement broke a UNIQUE or PRIMARY KEY constraint.
fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// `users` without duplicates, first occurrence first.
fn distinct(users: impl IntoIterator<Item = UserId>) -> Vec<UserId> {
    let mut seen = HashSet::new();
    users.into_iter().filter(|u| seen.insert(*u)).collect()
}

fn ids(users: &[UserId]) -> Vec<i64> {
    users.iter().map(|u| u.0).collect()
}

/// Fills in what a message carries besides its row: reply previews, reactions, mentions.
/// One query each for the whole page, whatever its length; called wherever messages are read,
/// so every page, replay and event carries them.
async fn attach_extras(
    conn: &mut PgConnection,
    messages: &mut [Message],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = messages.iter().map(|m| m.id.0).collect();
    let mut previews = load_reply_previews(conn, &ids).await?;
    let mut reactions = load_reactions(conn, &ids).await?;
    let mut mentions = load_mentions(conn, &ids).await?;
    attachments::load(&mut *conn, messages).await?;
    for message in messages.iter_mut() {
        message.reply_to = previews.remove(&message.id.0);
        message.reactions = group_reactions(reactions.remove(&message.id.0).unwrap_or_default());
        message.mentions = mentions.remove(&message.id.0).unwrap_or_default();
    }
    Ok(())
}

/// The previews of the messages that the messages with these ids answer, by replying id: each
/// read from the answered message's current row.
async fn load_reply_previews(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, ReplyPreview>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT r.id AS reply_id, ",
        message_columns!(),
        " FROM messages r \
         JOIN messages m ON m.room_id = r.room_id AND m.seq = r.reply_to_seq \
         JOIN users u ON u.id = m.sender_id \
         WHERE r.id = ANY($1) AND r.reply_to_seq IS NOT NULL"
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut replies = Vec::with_capacity(rows.len());
    let mut originals = Vec::with_capacity(rows.len());
    for row in rows {
        replies.push(row.try_get::<i64, _>("reply_id")?);
        originals.push(Message::try_from(
            <MessageRow as sqlx::FromRow<_>>::from_row(&row)?,
        )?);
    }
    attachments::load(&mut *conn, &mut originals).await?;
    Ok(replies
        .into_iter()
        .zip(originals.iter().map(reply_preview))
        .collect())
}

/// The reaction rows of the messages with these ids, by message id, in the order they were
/// stored.
async fn load_reactions(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<(String, UserId)>>, StoreError> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT m.id, r.emoji, r.user_id FROM messages m \
         JOIN reactions r ON r.room_id = m.room_id AND r.seq = m.seq \
         WHERE m.id = ANY($1) ORDER BY r.id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut reactions: HashMap<i64, Vec<(String, UserId)>> = HashMap::new();
    for (id, emoji, user) in rows {
        reactions.entry(id).or_default().push((emoji, UserId(user)));
    }
    Ok(reactions)
}

/// The mentioned users of the messages with these ids, by message id.
async fn load_mentions(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<UserId>>, StoreError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT m.id, mn.user_id FROM messages m \
         JOIN mentions mn ON mn.room_id = m.room_id AND mn.seq = m.seq \
         WHERE m.id = ANY($1) ORDER BY m.id, mn.user_id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut mentions: HashMap<i64, Vec<UserId>> = HashMap::new();
    for (id, user) in rows {
        mentions.entry(id).or_default().push(UserId(user));
    }
    Ok(mentions)
}

impl PostgresStore {
    /// [`attach_extras`] on a connection of the pool.
    async fn with_extras(&self, mut messages: Vec<Message>) -> Result<Vec<Message>, StoreError> {
        if !messages.is_empty() {
            let mut conn = self.pool.acquire().await?;
            attach_extras(&mut conn, &mut messages).await?;
        }
        Ok(messages)
    }

    /// The rooms of `rows` as their viewer sees them, in the order of `rows`: four queries
    /// (members, last messages, unread mentions, and the last messages' extras) for all of
    /// them together.
    async fn views(&self, rows: Vec<RoomRow>, viewer: UserId) -> Result<Vec<Room>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let room_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let members = sqlx::query(
            "SELECT mb.room_id, u.id, u.username, u.display_name \
             FROM members mb JOIN users u ON u.id = mb.user_id \
             WHERE mb.room_id = ANY($1) ORDER BY mb.room_id, mb.joined_at, u.id",
        )
        .bind(&room_ids)
        .fetch_all(&self.pool);
        // `last_seq` is the room's highest `seq`: both move in one transaction.
        let last_messages = sqlx::query_as::<_, MessageRow>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM rooms r JOIN messages m ON m.room_id = r.id AND m.seq = r.last_seq \
             JOIN users u ON u.id = m.sender_id WHERE r.id = ANY($1)"
        ))
        .bind(&room_ids)
        .fetch_all(&self.pool);
        // Mentions of the viewer after its read mark; a deleted message's are deleted.
        let unread_mentions = sqlx::query_as::<_, (i64, i64)>(
            "SELECT mn.room_id, COUNT(*) FROM mentions mn \
             JOIN members mb ON mb.room_id = mn.room_id AND mb.user_id = mn.user_id \
             WHERE mn.user_id = $1 AND mn.room_id = ANY($2) AND mn.seq > mb.last_read_seq \
             GROUP BY mn.room_id",
        )
        .bind(viewer.0)
        .bind(&room_ids)
        .fetch_all(&self.pool);
        let (members, last_messages, unread_mentions) =
            tokio::try_join!(members, last_messages, unread_mentions)?;
        let mut unread_mentions_of: HashMap<i64, i64> = unread_mentions.into_iter().collect();

        let mut members_of: HashMap<i64, Vec<User>> = HashMap::new();
        for row in members {
            members_of
                .entry(row.try_get("room_id")?)
                .or_default()
                .push(User {
                    id: UserId(row.try_get("id")?),
                    username: row.try_get("username")?,
                    display_name: row.try_get("display_name")?,
                });
        }
        let last_messages = self
            .with_extras(
                last_messages
                    .into_iter()
                    .map(Message::try_from)
                    .collect::<Result<Vec<_>, _>>()?,
            )
            .await?;
        let mut last_message_of: HashMap<i64, Message> = HashMap::new();
        for message in last_messages {
            last_message_of.insert(message.room_id.0, message);
        }
        rows.into_iter()
            .map(|row| -> Result<Room, StoreError> {
                let kind = kind_from_column(&row.kind)?;
                let members = members_of.remove(&row.id).unwrap_or_default();
                let name = match members.iter().find(|u| u.id != viewer) {
                    Some(other) if kind == RoomKind::Direct => other.display_name.clone(),
                    _ => row.name,
                };
                Ok(Room {
                    id: RoomId(row.id),
                    kind,
                    name,
                    members,
                    last_message: last_message_of.remove(&row.id),
                    unread: unread_from_column(row.unread.unwrap_or(0)),
                    last_read_seq: seq_from_column(row.last_read_seq.unwrap_or(0))?,
                    last_rev: rev_from_column(row.last_rev)?,
                    unread_mentions: unread_from_column(
                        unread_mentions_of.remove(&row.id).unwrap_or(0),
                    ),
                    muted: row.muted.unwrap_or(false),
                })
            })
            .collect()
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: Option<&str>,
    ) -> Result<User, StoreError> {
        let origin = if password_hash.is_some() {
            "password"
        } else {
            "jwt"
        };
        sqlx::query_as::<_, UserRow>(concat!(
            "INSERT INTO users (username, display_name, password_hash, created_at, origin) \
             VALUES ($1, $2, $3, ",
            db_now_millis!(),
            ", $4) RETURNING id, username, display_name"
        ))
        .bind(username)
        .bind(display_name)
        .bind(password_hash)
        .bind(origin)
        .fetch_one(&self.pool)
        .await
        .map(User::from)
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("the username {username} is taken"))
            } else {
                StoreError::from(e)
            }
        })
    }

    async fn user_credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, display_name, password_hash FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> Result<Credentials, StoreError> {
            Ok(Credentials {
                user: User {
                    id: UserId(row.try_get("id")?),
                    username: row.try_get("username")?,
                    display_name: row.try_get("display_name")?,
                },
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    async fn upsert_user(
        &self,
        username: &str,
        display_name: Option<&str>,
    ) -> Result<User, StoreError> {
        let taken = || StoreError::Conflict(format!("{username} is a password account"));
        // Most sign-ins change nothing: answer those from a read, without a write.
        let existing =
            sqlx::query("SELECT id, username, display_name, origin FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(row) = existing {
            if row.try_get::<String, _>("origin")? != "jwt" {
                return Err(taken());
            }
            let user = User {
                id: UserId(row.try_get("id")?),
                username: row.try_get("username")?,
                display_name: row.try_get("display_name")?,
            };
            if display_name.is_none_or(|d| d == user.display_name) {
                return Ok(user);
            }
        }
        // The WHERE keeps a password account untouched even if one was registered since the
        // read above: then no row comes back, and the answer is the same refusal.
        sqlx::query_as::<_, UserRow>(concat!(
            "INSERT INTO users (username, display_name, password_hash, created_at, origin) \
             VALUES ($1, COALESCE($2, $1), NULL, ",
            db_now_millis!(),
            ", 'jwt') \
             ON CONFLICT (username) DO UPDATE SET \
               display_name = COALESCE($2, users.display_name) \
             WHERE users.origin = 'jwt' \
             RETURNING id, username, display_name"
        ))
        .bind(username)
        .bind(display_name)
        .fetch_optional(&self.pool)
        .await?
        .map(User::from)
        .ok_or_else(taken)
    }

    async fn update_display_name(
        &self,
        user: UserId,
        display_name: &str,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query_as::<_, UserRow>(
            "UPDATE users SET display_name = $2 WHERE id = $1 \
             RETURNING id, username, display_name",
        )
        .bind(user.0)
        .bind(display_name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }

    async fn update_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: Option<&[u8]>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE users SET password_hash = $2 WHERE id = $1 AND origin = 'password'",
        )
        .bind(user.0)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no password account {user}")));
        }
        let ended = sqlx::query(
            "DELETE FROM login_sessions WHERE user_id = $1 \
             AND ($2::BYTEA IS NULL OR token_hash <> $2)",
        )
        .bind(user.0)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ended.rows_affected())
    }

    async fn contact_ids(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT other.user_id FROM members mine \
             JOIN members other ON other.room_id = mine.room_id \
             WHERE mine.user_id = $1",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<User>, StoreError> {
        let users = sqlx::query_as::<_, UserRow>(
            "SELECT id, username, display_name FROM users \
             WHERE username LIKE $1 ESCAPE '\\' ORDER BY username LIMIT $2",
        )
        .bind(like_prefix(prefix))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(users.into_iter().map(User::from).collect())
    }

    async fn users_by_username(&self, usernames: &[String]) -> Result<Vec<User>, StoreError> {
        let users = sqlx::query_as::<_, UserRow>(
            "SELECT id, username, display_name FROM users WHERE username = ANY($1)",
        )
        .bind(usernames)
        .fetch_all(&self.pool)
        .await?;
        Ok(users.into_iter().map(User::from).collect())
    }

    async fn create_session(
        &self,
        token_hash: &[u8],
        user: UserId,
        expires_at_unix: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(expires_at_unix)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &[u8]) -> Result<Option<(User, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, s.expires_at FROM login_sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> Result<(User, i64), StoreError> {
            let user = User {
                id: UserId(row.try_get("id")?),
                username: row.try_get("username")?,
                display_name: row.try_get("display_name")?,
            };
            Ok((user, row.try_get("expires_at")?))
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM login_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn revoke_tokens(&self, user: UserId, valid_after: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE users SET tokens_valid_after = \
             GREATEST(COALESCE(tokens_valid_after, $2), $2) WHERE id = $1",
        )
        .bind(user.0)
        .bind(valid_after)
        .execute(&mut *tx)
        .await?;
        let ended = sqlx::query("DELETE FROM login_sessions WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ended.rows_affected())
    }

    async fn tokens_valid_after(&self, user: UserId) -> Result<Option<i64>, StoreError> {
        let after: Option<Option<i64>> =
            sqlx::query_scalar("SELECT tokens_valid_after FROM users WHERE id = $1")
                .bind(user.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(after.flatten())
    }

    async fn direct_room(&self, a: UserId, b: UserId) -> Result<(RoomId, bool), StoreError> {
        let key = direct_key(a, b);
        if let Some(id) = self.find_direct_room(a, b).await? {
            return Ok((id, false));
        }
        // The room and its two members in one statement. When another node created the room
        // since the read above, the conflict inserts nothing (neither the room nor members)
        // and returns no row, and the room is that node's, committed by now.
        let created: Option<i64> = sqlx::query_scalar(concat!(
            "WITH room AS ( \
               INSERT INTO rooms (kind, name, direct_key, created_at, last_activity) \
               SELECT 'direct', '', $1, clock.now, clock.now \
               FROM (SELECT ",
            db_now_millis!(),
            " AS now) clock \
               ON CONFLICT (direct_key) DO NOTHING RETURNING id, created_at), \
             added AS ( \
               INSERT INTO members (room_id, user_id, joined_at) \
               SELECT room.id, pair.user_id, room.created_at \
               FROM room, UNNEST($2::BIGINT[]) AS pair(user_id)) \
             SELECT id FROM room"
        ))
        .bind(&key)
        .bind(vec![a.0, b.0])
        .fetch_optional(&self.pool)
        .await?;
        match created {
            Some(id) => Ok((RoomId(id), true)),
            None => {
                let id = self
                    .find_direct_room(a, b)
                    .await?
                    .ok_or_else(|| StoreError::Backend("the direct room vanished".into()))?;
                Ok((id, false))
            }
        }
    }

    async fn find_direct_room(&self, a: UserId, b: UserId) -> Result<Option<RoomId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM rooms WHERE direct_key = $1")
            .bind(direct_key(a, b))
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(RoomId))
    }

    async fn create_group(
        &self,
        name: &str,
        creator: UserId,
        members: &[UserId],
    ) -> Result<RoomId, StoreError> {
        let members = distinct(std::iter::once(creator).chain(members.iter().copied()));
        let id: i64 = sqlx::query_scalar(concat!(
            "WITH room AS ( \
               INSERT INTO rooms (kind, name, created_at, last_activity) \
               SELECT 'group', $1, clock.now, clock.now FROM (SELECT ",
            db_now_millis!(),
            " AS now) clock RETURNING id, created_at), \
             added AS ( \
               INSERT INTO members (room_id, user_id, joined_at) \
               SELECT room.id, m.user_id, room.created_at \
               FROM room, UNNEST($2::BIGINT[]) AS m(user_id)) \
             SELECT id FROM room"
        ))
        .bind(name)
        .bind(ids(&members))
        .fetch_one(&self.pool)
        .await?;
        Ok(RoomId(id))
    }

    async fn room_kind(&self, room: RoomId) -> Result<Option<RoomKind>, StoreError> {
        let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM rooms WHERE id = $1")
            .bind(room.0)
            .fetch_optional(&self.pool)
            .await?;
        kind.map(|k| kind_from_column(&k)).transpose()
    }

    async fn room(&self, room: RoomId, viewer: UserId) -> Result<Option<Room>, StoreError> {
        let row = sqlx::query_as::<_, RoomRow>(
            "SELECT r.id, r.kind, r.name, r.last_activity, mb.last_read_seq, mb.unread, r.last_rev, mb.muted \
             FROM rooms r LEFT JOIN members mb ON mb.room_id = r.id AND mb.user_id = $2 \
             WHERE r.id = $1",
        )
        .bind(room.0)
        .bind(viewer.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(self.views(vec![row], viewer).await?.pop())
    }

    async fn rooms_of(
        &self,
        user: UserId,
        after: Option<RoomCursor>,
        limit: u32,
    ) -> Result<RoomsPage, StoreError> {
        // One row more than asked tells whether there is a next page.
        let mut rows = sqlx::query_as::<_, RoomRow>(
            "SELECT r.id, r.kind, r.name, r.last_activity, mb.last_read_seq, mb.unread, r.last_rev, mb.muted \
             FROM rooms r JOIN members mb ON mb.room_id = r.id \
             WHERE mb.user_id = $1 \
               AND ($2::BIGINT IS NULL OR r.last_activity < $2 \
                    OR (r.last_activity = $2 AND r.id < $3)) \
             ORDER BY r.last_activity DESC, r.id DESC LIMIT $4",
        )
        .bind(user.0)
        .bind(after.map(|c| c.last_activity))
        .bind(after.map(|c| c.room.0))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = match (more, rows.last()) {
            (true, Some(last)) => Some(RoomCursor {
                last_activity: last.last_activity,
                room: RoomId(last.id),
            }),
            _ => None,
        };
        Ok(RoomsPage {
            rooms: self.views(rows, user).await?,
            next,
        })
    }

    async fn rename_group(&self, room: RoomId, name: &str) -> Result<bool, StoreError> {
        let renamed = sqlx::query("UPDATE rooms SET name = $2 WHERE id = $1 AND kind = 'group'")
            .bind(room.0)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(renamed.rows_affected() > 0)
    }

    async fn add_members(&self, room: RoomId, users: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        let users = distinct(users.iter().copied());
        let mut tx = self.pool.begin().await?;
        // New members start with everything before them read; the lock keeps a message from
        // being stored between reading `last_seq` and adding them.
        let last_seq: i64 =
            sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1 FOR UPDATE")
                .bind(room.0)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound("no such room".into()))?;
        let added: Vec<i64> = sqlx::query_scalar(concat!(
            "INSERT INTO members (room_id, user_id, last_read_seq, joined_at) \
             SELECT $1, m.user_id, $2, ",
            db_now_millis!(),
            " FROM UNNEST($3::BIGINT[]) AS m(user_id) \
             ON CONFLICT DO NOTHING RETURNING user_id"
        ))
        .bind(room.0)
        .bind(last_seq)
        .bind(ids(&users))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let added: HashSet<i64> = added.into_iter().collect();
        Ok(users.into_iter().filter(|u| added.contains(&u.0)).collect())
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Under the room's lock: a batch storing a message to this room has either counted
        // the member out already or will not see it at all.
        sqlx::query("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE")
            .bind(room.0)
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query("DELETE FROM members WHERE room_id = $1 AND user_id = $2")
            .bind(room.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed.rows_affected() > 0)
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let member: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2")
                .bind(room.0)
                .bind(user.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(member.is_some())
    }

    async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        let members: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM members WHERE room_id = $1")
                .bind(room.0)
                .fetch_all(&self.pool)
                .await?;
        Ok(members.into_iter().map(UserId).collect())
    }

    async fn read_marks(&self, room: RoomId) -> Result<Vec<ReadMark>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT user_id, last_read_seq FROM members WHERE room_id = $1 ORDER BY user_id",
        )
        .bind(room.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(user_id, seq)| {
                Ok(ReadMark {
                    user_id: UserId(user_id),
                    seq: seq_from_column(seq)?,
                })
            })
            .collect()
    }

    async fn insert_messages(
        &self,
        batch: Vec<NewMessage>,
    ) -> Result<Vec<Result<Inserted, StoreError>>, StoreError> {
        within_batch_deadline(self.store_batch(batch)).await
    }

    async fn change_message(&self, change: MessageChange) -> Result<Changed, StoreError> {
        within_batch_deadline(self.apply_change(change)).await
    }

    async fn changes(
        &self,
        room: RoomId,
        after_rev: u64,
        upto: Option<Seq>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query_as::<_, MessageRow>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m JOIN users u ON u.id = m.sender_id \
             WHERE m.room_id = $1 AND m.rev > $2 AND ($3::BIGINT IS NULL OR m.seq <= $3) \
             ORDER BY m.rev ASC LIMIT $4"
        ))
        .bind(room.0)
        .bind(i64::try_from(after_rev).unwrap_or(i64::MAX))
        .bind(upto.map(seq_to_column))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let messages = rows
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        self.with_extras(messages).await
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
                 WHERE m.room_id = $1 AND ($2::BIGINT IS NULL OR m.seq < $2) \
                   AND ($3::BIGINT IS NULL OR m.seq > $3) \
                 ORDER BY m.seq ASC LIMIT $4"
            )
        } else {
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m JOIN users u ON u.id = m.sender_id \
                 WHERE m.room_id = $1 AND ($2::BIGINT IS NULL OR m.seq < $2) \
                   AND ($3::BIGINT IS NULL OR m.seq > $3) \
                 ORDER BY m.seq DESC LIMIT $4"
            )
        };
        let rows = sqlx::query_as::<_, MessageRow>(sql)
            .bind(room.0)
            .bind(page.before.map(seq_to_column))
            .bind(page.after.map(seq_to_column))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        let mut messages = rows
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        if !ascending {
            messages.reverse();
        }
        self.with_extras(messages).await
    }

    async fn last_seq(&self, room: RoomId) -> Result<Seq, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1")
            .bind(room.0)
            .fetch_optional(&self.pool)
            .await?;
        seq_from_column(seq.unwrap_or(0))
    }

    async fn last_seqs(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, Seq)>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rooms.iter().map(|room| room.0).collect();
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, last_seq FROM rooms WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(id, seq)| Ok((RoomId(id), seq_from_column(seq)?)))
            .collect()
    }

    async fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: Seq,
    ) -> Result<MarkedRead, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Shared with other read marks, exclusive of a batch storing to the room: the batch
        // writes each member's unread and mark as it counted them under its lock, and would
        // otherwise overwrite a mark moved in between.
        let last_seq: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1 FOR SHARE")
                .bind(room.0)
                .fetch_optional(&mut *tx)
                .await?;
        let last_seq = last_seq.ok_or(StoreError::NotMember)?;
        // Seqs have no gaps, and every message a member sends moves its own read mark to that
        // message, so everything after the mark is from others: unread is a subtraction, not a
        // count over the room's history.
        // The row lock taken here holds until the commit, so `before` is the mark this
        // update replaces (a concurrent mark of the same member waits for it).
        let before: i64 = sqlx::query_scalar(
            "SELECT last_read_seq FROM members WHERE room_id = $1 AND user_id = $2 FOR UPDATE",
        )
        .bind(room.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotMember)?;
        let mark: i64 = sqlx::query_scalar(
            "UPDATE members SET \
               last_read_seq = GREATEST(last_read_seq, LEAST($3, $4)), \
               unread = GREATEST(0, $4 - GREATEST(last_read_seq, LEAST($3, $4))) \
             WHERE room_id = $1 AND user_id = $2 RETURNING last_read_seq",
        )
        .bind(room.0)
        .bind(user.0)
        .bind(seq_to_column(seq))
        .bind(last_seq)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotMember)?;
        tx.commit().await?;
        Ok(MarkedRead {
            mark: seq_from_column(mark)?,
            advanced: mark > before,
        })
    }

    async fn search_messages(&self, search: MessageSearch) -> Result<FoundMessages, StoreError> {
        search::search(&self.pool, &search).await
    }

    async fn insert_attachment(&self, new: NewAttachment) -> Result<StoredAttachment, StoreError> {
        attachments::insert(&self.pool, &new).await
    }

    async fn attachment(&self, id: AttachmentId) -> Result<Option<StoredAttachment>, StoreError> {
        attachments::get(&self.pool, id).await
    }

    async fn delete_pending_attachments(
        &self,
        created_before: i64,
        limit: u32,
    ) -> Result<Vec<StoredAttachment>, StoreError> {
        attachments::delete_pending(&self.pool, created_before, limit).await
    }

    async fn presence_settings(&self, users: &[UserId]) -> Result<Vec<PresenceRow>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = users.iter().map(|user| user.0).collect();
        let rows: Vec<(i64, bool, Option<i64>)> = sqlx::query_as(
            "SELECT id, presence_visible, last_seen_at FROM users WHERE id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, visible, last_seen_at)| PresenceRow {
                user: UserId(id),
                visible,
                last_seen_at,
            })
            .collect())
    }

    async fn set_presence_visible(&self, user: UserId, visible: bool) -> Result<bool, StoreError> {
        let changed = sqlx::query("UPDATE users SET presence_visible = $2 WHERE id = $1")
            .bind(user.0)
            .bind(visible)
            .execute(&self.pool)
            .await?;
        Ok(changed.rows_affected() > 0)
    }

    async fn set_last_seen(&self, user: UserId, at_millis: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_seen_at = $2 WHERE id = $1")
            .bind(user.0)
            .bind(at_millis)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sharing_a_room(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = candidates.iter().map(|user| user.0).collect();
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT theirs.user_id FROM members mine \
             JOIN members theirs ON theirs.room_id = mine.room_id \
             WHERE mine.user_id = $1 AND theirs.user_id = ANY($2)",
        )
        .bind(user.0)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(UserId).collect())
    }

    async fn set_muted(&self, room: RoomId, user: UserId, muted: bool) -> Result<(), StoreError> {
        push::set_muted(&self.pool, room, user, muted).await
    }

    async fn upsert_push_subscription(
        &self,
        new: NewPushSubscription,
    ) -> Result<PushSubscriptionId, StoreError> {
        push::upsert_subscription(&self.pool, &new).await
    }

    async fn push_subscriptions_of(
        &self,
        users: &[UserId],
    ) -> Result<Vec<StoredPushSubscription>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        push::subscriptions_of(&self.pool, users).await
    }

    async fn delete_push_subscription(
        &self,
        user: UserId,
        endpoint: &str,
    ) -> Result<bool, StoreError> {
        push::delete_subscription(&self.pool, user, endpoint).await
    }

    async fn delete_push_subscription_by_id(
        &self,
        id: PushSubscriptionId,
    ) -> Result<(), StoreError> {
        push::delete_subscription_by_id(&self.pool, id).await
    }

    async fn record_push_outcome(
        &self,
        id: PushSubscriptionId,
        succeeded: bool,
        at: i64,
    ) -> Result<(), StoreError> {
        push::record_outcome(&self.pool, id, succeeded, at).await
    }

    async fn vapid_private_key(&self, candidate: &str) -> Result<String, StoreError> {
        push::vapid_private_key(&self.pool, candidate).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

impl PostgresStore {
    /// The group commit's batch as one transaction (see the module doc).
    async fn store_batch(
        &self,
        batch: Vec<NewMessage>,
    ) -> Result<Vec<Result<Inserted, StoreError>>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut rooms: Vec<i64> = batch.iter().map(|m| m.room_id.0).collect();
        rooms.sort_unstable();
        rooms.dedup();
        let mut tx = self.pool.begin().await?;

        // 1. The rooms' locks, in id order, and their last seqs. Everything below is read
        // after the locks are held, so it sees every batch committed before this one.
        let locked =
            sqlx::query("SELECT id, last_seq FROM rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE")
                .bind(&rooms)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|row| -> Result<(i64, i64), StoreError> {
                    Ok((row.try_get("id")?, row.try_get("last_seq")?))
                })
                .collect::<Result<HashMap<i64, i64>, StoreError>>()?;

        // 2. Their members, with the counts the batch moves.
        let members = sqlx::query(
            "SELECT room_id, user_id, unread, last_read_seq, muted FROM members \
             WHERE room_id = ANY($1) ORDER BY room_id, user_id",
        )
        .bind(&rooms)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|row| -> Result<Member, StoreError> {
            Ok(Member {
                room: row.try_get("room_id")?,
                user: row.try_get("user_id")?,
                unread: row.try_get("unread")?,
                last_read_seq: row.try_get("last_read_seq")?,
                muted: row.try_get("muted")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        // 3. Earlier copies of retried messages, from any node.
        let retried: Vec<&NewMessage> =
            batch.iter().filter(|m| m.client_msg_id.is_some()).collect();
        let mut earlier = Vec::new();
        if !retried.is_empty() {
            let rows = sqlx::query_as::<_, MessageRow>(concat!(
                "SELECT ",
                message_columns!(),
                " FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[]) \
                   AS k(room_id, sender_id, client_msg_id) \
                 JOIN messages m ON m.room_id = k.room_id AND m.sender_id = k.sender_id \
                   AND m.client_msg_id = k.client_msg_id \
                 JOIN users u ON u.id = m.sender_id"
            ))
            .bind(retried.iter().map(|m| m.room_id.0).collect::<Vec<_>>())
            .bind(retried.iter().map(|m| m.sender.id.0).collect::<Vec<_>>())
            .bind(
                retried
                    .iter()
                    .map(|m| m.client_msg_id.clone())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                earlier.push(Message::try_from(row)?);
            }
            attach_extras(&mut tx, &mut earlier).await?;
        }

        // 3b. The messages replies answer, read under the locks: a delete committed before
        // this batch is seen, one after it waits for the batch.
        let replies: Vec<&NewMessage> = batch.iter().filter(|m| m.reply_to.is_some()).collect();
        let mut answered = HashMap::new();
        if !replies.is_empty() {
            let rows = sqlx::query_as::<_, MessageRow>(concat!(
                "SELECT ",
                message_columns!(),
                " FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS k(room_id, seq) \
                 JOIN messages m ON m.room_id = k.room_id AND m.seq = k.seq \
                 JOIN users u ON u.id = m.sender_id"
            ))
            .bind(replies.iter().map(|m| m.room_id.0).collect::<Vec<_>>())
            .bind(
                replies
                    .iter()
                    .map(|m| m.reply_to.map_or(0, seq_to_column))
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut *tx)
            .await?;
            let mut originals = rows
                .into_iter()
                .map(Message::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            attachments::load(&mut *tx, &mut originals).await?;
            for original in originals {
                answered.insert((original.room_id.0, seq_to_column(original.seq)), original);
            }
        }

        // 3b. The pending attachments the batch names, locked.
        let named: Vec<i64> = batch
            .iter()
            .flat_map(|m| m.attachments.iter().map(|id| id.0))
            .collect();
        let pending = attachments::pending(&mut *tx, &named).await?;

        let plan = batch::plan(
            &batch,
            &Locked {
                last_seqs: locked,
                members,
                earlier,
                answered: answered.clone(),
                pending,
            },
        );
        // The mentions of the new messages, one row each.
        let mut mention_rows: (Vec<i64>, Vec<i64>, Vec<i64>) = Default::default();
        for row in &plan.rows {
            for user in &batch[row.index].mentions {
                mention_rows.0.push(row.room);
                mention_rows.1.push(row.seq);
                mention_rows.2.push(user.0);
            }
        }

        // 4. One statement writes it all: the messages, the rooms' seqs and activity, and
        // the members' unread counts and marks, with one reading of the database's clock.
        let mut stored: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
        if !plan.rows.is_empty() {
            let written = sqlx::query(concat!(
                "WITH clock AS MATERIALIZED (SELECT ",
                db_now_millis!(),
                " AS now), \
                 moved_rooms AS ( \
                   UPDATE rooms r SET last_seq = t.last_seq, last_activity = clock.now \
                   FROM UNNEST($6::BIGINT[], $7::BIGINT[]) AS t(id, last_seq), clock \
                   WHERE r.id = t.id), \
                 moved_members AS ( \
                   UPDATE members mb SET unread = t.unread, last_read_seq = t.last_read_seq \
                   FROM UNNEST($8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[]) \
                     AS t(room_id, user_id, unread, last_read_seq) \
                   WHERE mb.room_id = t.room_id AND mb.user_id = t.user_id), \
                 mentioned AS ( \
                   INSERT INTO mentions (room_id, seq, user_id) \
                   SELECT * FROM UNNEST($13::BIGINT[], $14::BIGINT[], $15::BIGINT[])) \
                 INSERT INTO messages \
                   (room_id, seq, sender_id, body, sent_at, client_msg_id, reply_to_seq) \
                 SELECT t.room_id, t.seq, t.sender_id, t.body, clock.now, t.client_msg_id, \
                   t.reply_to_seq \
                 FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], \
                   $12::BIGINT[]) \
                   AS t(room_id, seq, sender_id, body, client_msg_id, reply_to_seq), clock \
                 RETURNING id, room_id, seq, sent_at"
            ))
            .bind(plan.rows.iter().map(|r| r.room).collect::<Vec<_>>())
            .bind(plan.rows.iter().map(|r| r.seq).collect::<Vec<_>>())
            .bind(
                plan.rows
                    .iter()
                    .map(|r| batch[r.index].sender.id.0)
                    .collect::<Vec<_>>(),
            )
            .bind(
                plan.rows
                    .iter()
                    .map(|r| batch[r.index].text.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                plan.rows
                    .iter()
                    .map(|r| batch[r.index].client_msg_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(plan.rooms.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(plan.rooms.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(plan.members.iter().map(|m| m.room).collect::<Vec<_>>())
            .bind(plan.members.iter().map(|m| m.user).collect::<Vec<_>>())
            .bind(plan.members.iter().map(|m| m.unread).collect::<Vec<_>>())
            .bind(
                plan.members
                    .iter()
                    .map(|m| m.last_read_seq)
                    .collect::<Vec<_>>(),
            )
            .bind(
                plan.rows
                    .iter()
                    .map(|r| batch[r.index].reply_to.map(seq_to_column))
                    .collect::<Vec<_>>(),
            )
            .bind(&mention_rows.0)
            .bind(&mention_rows.1)
            .bind(&mention_rows.2)
            .fetch_all(&mut *tx)
            .await?;
            for row in written {
                stored.insert(
                    (row.try_get("room_id")?, row.try_get("seq")?),
                    (row.try_get("id")?, row.try_get("sent_at")?),
                );
            }
        }
        // 5. The new messages' attachments, linked and read back for their answers.
        let mut links = Vec::new();
        for row in &plan.rows {
            if let Some(&(id, _)) = stored.get(&(row.room, row.seq)) {
                links.extend(batch[row.index].attachments.iter().map(|a| (a.0, id)));
            }
        }
        attachments::link(&mut *tx, &links).await?;
        let mut linked = attachments::of_messages(
            &mut *tx,
            links.iter().map(|&(_, message)| message).collect(),
        )
        .await?;
        tx.commit().await?;

        // The answers, in the batch's order.
        let mut results: Vec<Result<Inserted, StoreError>> = Vec::with_capacity(batch.len());
        for (new, outcome) in batch.into_iter().zip(plan.outcomes) {
            let result = match outcome {
                Outcome::NotMember => Err(StoreError::NotMember),
                Outcome::ReplyNotFound => Err(StoreError::ReplyNotFound),
                Outcome::ReplyDeleted => Err(StoreError::ReplyDeleted),
                Outcome::InvalidAttachment => Err(super::attachments::invalid_attachment()),
                Outcome::Earlier(message) => Ok(Inserted {
                    message: *message,
                    created: false,
                    recipients: Vec::new(),
                    muted: Vec::new(),
                }),
                Outcome::SameAs(first) => match results.get(first) {
                    Some(Ok(inserted)) => Ok(Inserted {
                        message: inserted.message.clone(),
                        created: false,
                        recipients: Vec::new(),
                        muted: Vec::new(),
                    }),
                    _ => Err(StoreError::Backend(
                        "a retried message's first copy was not stored".into(),
                    )),
                },
                Outcome::New {
                    seq,
                    recipients,
                    muted,
                } => {
                    let (id, sent_at) =
                        stored.get(&(new.room_id.0, seq)).copied().ok_or_else(|| {
                            StoreError::Backend("a stored message was not returned".into())
                        })?;
                    Ok(Inserted {
                        message: Message {
                            id: MessageId(id),
                            room_id: new.room_id,
                            seq: seq_from_column(seq)?,
                            sender: new.sender,
                            text: new.text,
                            sent_at: rfc3339_millis(sent_at),
                            client_msg_id: new.client_msg_id,
                            edited_at: None,
                            deleted_at: None,
                            rev: 0,
                            reply_to: new
                                .reply_to
                                .and_then(|seq| answered.get(&(new.room_id.0, seq_to_column(seq))))
                                .map(reply_preview),
                            reactions: Vec::new(),
                            mentions: new.mentions,
                            attachments: take_attachments(&mut linked, MessageId(id)),
                        },
                        created: true,
                        recipients: recipients
                            .into_iter()
                            .map(|(user, unread)| (UserId(user), unread_from_column(unread)))
                            .collect(),
                        muted: muted.into_iter().map(UserId).collect(),
                    })
                }
            };
            results.push(result);
        }
        Ok(results)
    }
}

/// Takes the attachments of `message` out of `loaded`.
fn take_attachments(
    loaded: &mut Vec<(MessageId, crate::model::Attachment)>,
    message: MessageId,
) -> Vec<crate::model::Attachment> {
    let (mine, others) = std::mem::take(loaded)
        .into_iter()
        .partition(|(id, _)| *id == message);
    *loaded = others;
    mine.into_iter().map(|(_, attachment)| attachment).collect()
}

impl PostgresStore {
    /// One edit or delete in one transaction under the room row's lock (`FOR UPDATE`, the
    /// same lock a batch of messages takes), so the room's `rev`s have no gaps whichever node
    /// writes (see [`Store::change_message`]).
    async fn apply_change(&self, change: MessageChange) -> Result<Changed, StoreError> {
        let room = change.room_id.0;
        let seq = seq_to_column(change.seq);
        let mut tx = self.pool.begin().await?;
        let locked: Option<i64> =
            sqlx::query_scalar("SELECT last_rev FROM rooms WHERE id = $1 FOR UPDATE")
                .bind(room)
                .fetch_optional(&mut *tx)
                .await?;
        if locked.is_none() {
            return Err(StoreError::NotFound(format!("no room {}", change.room_id)));
        }
        let recipients: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM members WHERE room_id = $1")
                .bind(room)
                .fetch_all(&mut *tx)
                .await?;
        let recipients: Vec<UserId> = recipients.into_iter().map(UserId).collect();
        if !recipients.contains(&change.actor) {
            return Err(StoreError::NotMember);
        }
        let select = concat!(
            "SELECT ",
            message_columns!(),
            ", ",
            db_now_millis!(),
            " AS now FROM messages m JOIN users u ON u.id = m.sender_id \
             WHERE m.room_id = $1 AND m.seq = $2"
        );
        let row = sqlx::query(select)
            .bind(room)
            .bind(seq)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "no message {} in room {}",
                    change.seq, change.room_id
                ))
            })?;
        let now: i64 = row.try_get("now")?;
        let sent_at: i64 = row.try_get("sent_at")?;
        let mut message = Message::try_from(<MessageRow as sqlx::FromRow<_>>::from_row(&row)?)?;
        attach_extras(&mut tx, std::slice::from_mut(&mut message)).await?;
        if super::plan_change(&message, &change, sent_at, now)? == super::Plan::Unchanged {
            return Ok(Changed {
                message,
                changed: false,
                recipients,
                removed_objects: Vec::new(),
            });
        }
        let rev: i64 = sqlx::query_scalar(
            "UPDATE rooms SET last_rev = last_rev + 1 WHERE id = $1 RETURNING last_rev",
        )
        .bind(room)
        .fetch_one(&mut *tx)
        .await?;
        let (text, edited_at, deleted_at) = match &change.change {
            Change::Edit(text) => (text.clone(), Some(now), None),
            Change::Delete => (String::new(), None, Some(now)),
            Change::React { .. } => (message.text.clone(), None, None),
        };
        sqlx::query(
            "UPDATE messages SET body = $3, rev = $4, \
               edited_at = COALESCE($5, edited_at), deleted_at = COALESCE($6, deleted_at) \
             WHERE room_id = $1 AND seq = $2",
        )
        .bind(room)
        .bind(seq)
        .bind(&text)
        .bind(rev)
        .bind(edited_at)
        .bind(deleted_at)
        .execute(&mut *tx)
        .await?;
        let mut removed_objects = Vec::new();
        match &change.change {
            Change::Edit(_) => {
                // The new text's mentions replace the old ones.
                sqlx::query("DELETE FROM mentions WHERE room_id = $1 AND seq = $2")
                    .bind(room)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO mentions (room_id, seq, user_id) \
                     SELECT $1, $2, m.user_id FROM UNNEST($3::BIGINT[]) AS m(user_id) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(room)
                .bind(seq)
                .bind(ids(&change.mentions))
                .execute(&mut *tx)
                .await?;
            }
            Change::Delete => {
                // A tombstone carries no files or reactions and mentions nobody; the files'
                // stored bytes go after the commit.
                removed_objects = attachments::remove_of_message(&mut *tx, message.id).await?;
                sqlx::query(
                    "WITH gone AS (DELETE FROM mentions WHERE room_id = $1 AND seq = $2) \
                     DELETE FROM reactions WHERE room_id = $1 AND seq = $2",
                )
                .bind(room)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            }
            Change::React { emoji, add: true } => {
                sqlx::query(
                    "INSERT INTO reactions (room_id, seq, user_id, emoji, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(room)
                .bind(seq)
                .bind(change.actor.0)
                .bind(emoji)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Change::React { emoji, add: false } => {
                sqlx::query(
                    "DELETE FROM reactions \
                     WHERE room_id = $1 AND seq = $2 AND user_id = $3 AND emoji = $4",
                )
                .bind(room)
                .bind(seq)
                .bind(change.actor.0)
                .bind(emoji)
                .execute(&mut *tx)
                .await?;
            }
        }
        message.text = text;
        message.rev = rev_from_column(rev)?;
        if let Some(at) = edited_at {
            message.edited_at = Some(rfc3339_millis(at));
        }
        if let Some(at) = deleted_at {
            message.deleted_at = Some(rfc3339_millis(at));
        }
        attach_extras(&mut tx, std::slice::from_mut(&mut message)).await?;
        tx.commit().await?;
        Ok(Changed {
            message,
            changed: true,
            recipients,
            removed_objects,
        })
    }
}

#[cfg(test)]
mod tests;
