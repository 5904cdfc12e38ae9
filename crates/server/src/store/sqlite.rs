//! [`SqliteStore`]: the embedded default store, one file under `--data-dir`.
//!
//! Durability: WAL journal with `synchronous = FULL`, so a transaction is on disk when
//! `COMMIT` returns and survives `kill -9` and power loss alike. All writes go through a pool
//! of exactly one connection: SQLite has one writer anyway, and funnelling writes through one
//! connection means transactions queue in-process instead of failing with `SQLITE_BUSY` on a
//! lock upgrade. Reads use a separate pool and, thanks to WAL, never wait for the writer.
//!
//! Messages arrive in batches (the group commit is the caller's, see `rooms`) and are stored
//! by [`writer::MessageWriter`], a thread with a connection of its own: one transaction and
//! one fsync per batch, and no thread hand-over per statement.

use super::{Credentials, Inserted, NewMessage, Page, RoomCursor, RoomsPage, Store, StoreError};
use crate::model::{
    now_millis, rfc3339_millis, Message, MessageId, Room, RoomId, RoomKind, Seq, User, UserId,
};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use writer::MessageWriter;

/// The embedded SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Stores batches of messages on a thread of its own.
    messages: MessageWriter,
    /// Held around every write transaction, on the pool and on the message writer alike,
    /// so that SQLite never sees two writers at once.
    write_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Backend(Box::new(err))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Backend(Box::new(err))
    }
}

/// The columns of a message with its sender, with `m` the message and `u` the sender. A macro
/// so that the writer's statements can splice it into literals with `concat!`.
macro_rules! message_columns {
    () => {
        "m.id, m.room_id, m.seq, m.body, m.sent_at, m.client_msg_id, \
         u.id AS sender_id, u.username AS sender_username, u.display_name AS sender_display_name"
    };
}

const MESSAGE_COLUMNS: &str = message_columns!();

mod writer;

impl SqliteStore {
    /// Opens (creating if needed) the database `sotong.db` in `dir` and runs migrations.
    ///
    /// # Errors
    /// When the folder cannot be created or the database cannot be opened or migrated.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let path = dir.join("sotong.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let write_lock = Arc::new(Mutex::new(()));
        let messages = MessageWriter::start(&path, write_lock.clone())?;
        Ok(SqliteStore {
            writer,
            reader,
            messages,
            write_lock,
        })
    }
}

fn user_from(row: &SqliteRow, prefix: &str) -> Result<User, sqlx::Error> {
    let col = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}_{name}")
        }
    };
    Ok(User {
        id: UserId(row.try_get(col("id").as_str())?),
        username: row.try_get(col("username").as_str())?,
        display_name: row.try_get(col("display_name").as_str())?,
    })
}

fn message_from(row: &SqliteRow) -> Result<Message, sqlx::Error> {
    let seq: i64 = row.try_get("seq")?;
    Ok(Message {
        id: MessageId(row.try_get("id")?),
        room_id: RoomId(row.try_get("room_id")?),
        seq: seq_from(seq)?,
        sender: user_from(row, "sender")?,
        text: row.try_get("body")?,
        sent_at: rfc3339_millis(row.try_get("sent_at")?),
        client_msg_id: row.try_get("client_msg_id")?,
    })
}

/// A `seq` read from a row. SQL integers are signed; a negative `seq` is a damaged row.
fn seq_from(value: i64) -> Result<Seq, sqlx::Error> {
    Seq::try_from(value).map_err(|err| sqlx::Error::Decode(Box::new(err)))
}

/// A room's kind read from a row: the one place kinds come from storage, so the server never
/// holds [`RoomKind::Other`]. The schema allows only the kinds the server knows; any other
/// name is a damaged row.
fn kind_from(name: &str) -> Result<RoomKind, sqlx::Error> {
    RoomKind::from_name(name)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown room kind {name:?}").into()))
}

fn to_i64(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

async fn room_view(
    conn: &mut SqliteConnection,
    room: RoomId,
    viewer: UserId,
) -> Result<Option<Room>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT r.id, r.kind, r.name, mb.last_read_seq, mb.unread \
         FROM rooms r LEFT JOIN members mb ON mb.room_id = r.id AND mb.user_id = ? \
         WHERE r.id = ?",
    )
    .bind(viewer.0)
    .bind(room.0)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let kind = kind_from(row.try_get::<&str, _>("kind")?)?;
    let mut name: String = row.try_get("name")?;
    let last_read: Option<i64> = row.try_get("last_read_seq")?;
    let unread: Option<i64> = row.try_get("unread")?;

    let members = sqlx::query(
        "SELECT u.id, u.username, u.display_name FROM members mb JOIN users u ON u.id = mb.user_id \
         WHERE mb.room_id = ? ORDER BY mb.joined_at, u.id",
    )
    .bind(room.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| user_from(r, ""))
    .collect::<Result<Vec<_>, _>>()?;

    if kind == RoomKind::Direct {
        if let Some(other) = members.iter().find(|u| u.id != viewer) {
            name = other.display_name.clone();
        }
    }

    let last_message = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id \
         WHERE m.room_id = ? ORDER BY m.seq DESC LIMIT 1"
    ))
    .bind(room.0)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| message_from(&r))
    .transpose()?;

    Ok(Some(Room {
        id: room,
        kind,
        name,
        members,
        last_message,
        unread: unread.unwrap_or(0).max(0) as u64,
        last_read_seq: seq_from(last_read.unwrap_or(0))?,
    }))
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: Option<&str>,
    ) -> Result<User, StoreError> {
        let _writing = self.write_lock.lock().await;
        let row = sqlx::query(
            "INSERT INTO users (username, display_name, password_hash, created_at, origin) \
             VALUES (?, ?, ?, ?, ?) RETURNING id, username, display_name",
        )
        .bind(username)
        .bind(display_name)
        .bind(password_hash)
        .bind(now_millis())
        .bind(if password_hash.is_some() {
            "password"
        } else {
            "jwt"
        })
        .fetch_one(&self.writer)
        .await
        .map_err(|e| match e.as_database_error() {
            Some(db) if db.is_unique_violation() => {
                StoreError::Conflict(format!("the username {username} is taken"))
            }
            _ => StoreError::from(e),
        })?;
        Ok(user_from(&row, "")?)
    }

    async fn user_credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, display_name, password_hash FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(Credentials {
                user: user_from(&r, "")?,
                password_hash: r.try_get("password_hash")?,
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
        let existing =
            sqlx::query("SELECT id, username, display_name, origin FROM users WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.reader)
                .await?;
        if let Some(row) = existing {
            if row.try_get::<&str, _>("origin")? != "jwt" {
                return Err(taken());
            }
            let user = user_from(&row, "")?;
            if display_name.is_none_or(|d| d == user.display_name) {
                return Ok(user);
            }
        }
        let _writing = self.write_lock.lock().await;
        // The WHERE keeps a password account untouched even if one was registered since the
        // read above: then no row comes back, and the answer is the same refusal.
        let row = sqlx::query(
            "INSERT INTO users (username, display_name, password_hash, created_at, origin) \
             VALUES (?1, COALESCE(?2, ?1), NULL, ?3, 'jwt') \
             ON CONFLICT (username) DO UPDATE SET display_name = COALESCE(?2, users.display_name) \
             WHERE users.origin = 'jwt' \
             RETURNING id, username, display_name",
        )
        .bind(username)
        .bind(display_name)
        .bind(now_millis())
        .fetch_optional(&self.writer)
        .await?
        .ok_or_else(taken)?;
        Ok(user_from(&row, "")?)
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<User>, StoreError> {
        let escaped: String = prefix
            .to_lowercase()
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let rows = sqlx::query(
            "SELECT id, username, display_name FROM users WHERE username LIKE ? ESCAPE '\\' \
             ORDER BY username LIMIT ?",
        )
        .bind(format!("{escaped}%"))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| user_from(r, ""))
            .collect::<Result<_, _>>()?)
    }

    async fn users_by_username(&self, usernames: &[String]) -> Result<Vec<User>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let mut users = Vec::with_capacity(usernames.len());
        for name in usernames {
            if let Some(row) =
                sqlx::query("SELECT id, username, display_name FROM users WHERE username = ?")
                    .bind(name)
                    .fetch_optional(&mut *conn)
                    .await?
            {
                users.push(user_from(&row, "")?);
            }
        }
        Ok(users)
    }

    async fn create_session(
        &self,
        token_hash: &[u8],
        user: UserId,
        expires_at_unix: i64,
    ) -> Result<(), StoreError> {
        let _writing = self.write_lock.lock().await;
        sqlx::query(
            "INSERT INTO login_sessions (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(expires_at_unix)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &[u8]) -> Result<Option<(User, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, s.expires_at FROM login_sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| Ok((user_from(&r, "")?, r.try_get("expires_at")?)))
            .transpose()
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<bool, StoreError> {
        let _writing = self.write_lock.lock().await;
        let done = sqlx::query("DELETE FROM login_sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn direct_room(&self, a: UserId, b: UserId) -> Result<(RoomId, bool), StoreError> {
        let _writing = self.write_lock.lock().await;
        let key = format!("{}:{}", a.0.min(b.0), a.0.max(b.0));
        let mut tx = self.writer.begin().await?;
        if let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM rooms WHERE direct_key = ?")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?
        {
            return Ok((RoomId(id), false));
        }
        let now = now_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rooms (kind, name, direct_key, created_at, last_activity) \
             VALUES ('direct', '', ?, ?, ?) RETURNING id",
        )
        .bind(&key)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for user in [a, b] {
            sqlx::query("INSERT INTO members (room_id, user_id, joined_at) VALUES (?, ?, ?)")
                .bind(id)
                .bind(user.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((RoomId(id), true))
    }

    async fn find_direct_room(&self, a: UserId, b: UserId) -> Result<Option<RoomId>, StoreError> {
        let key = format!("{}:{}", a.0.min(b.0), a.0.max(b.0));
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM rooms WHERE direct_key = ?")
            .bind(&key)
            .fetch_optional(&self.reader)
            .await?;
        Ok(id.map(RoomId))
    }

    async fn create_group(
        &self,
        name: &str,
        creator: UserId,
        members: &[UserId],
    ) -> Result<RoomId, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut tx = self.writer.begin().await?;
        let now = now_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO rooms (kind, name, created_at, last_activity) VALUES ('group', ?, ?, ?) \
             RETURNING id",
        )
        .bind(name)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for user in std::iter::once(&creator).chain(members) {
            sqlx::query(
                "INSERT INTO members (room_id, user_id, joined_at) VALUES (?, ?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(user.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(RoomId(id))
    }

    async fn room_kind(&self, room: RoomId) -> Result<Option<RoomKind>, StoreError> {
        let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM rooms WHERE id = ?")
            .bind(room.0)
            .fetch_optional(&self.reader)
            .await?;
        Ok(kind.as_deref().map(kind_from).transpose()?)
    }

    async fn room(&self, room: RoomId, viewer: UserId) -> Result<Option<Room>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        Ok(room_view(&mut conn, room, viewer).await?)
    }

    async fn rooms_of(
        &self,
        user: UserId,
        after: Option<RoomCursor>,
        limit: u32,
    ) -> Result<RoomsPage, StoreError> {
        let mut conn = self.reader.acquire().await?;
        // One row more than asked tells whether there is a next page.
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT r.id, r.last_activity FROM rooms r JOIN members mb ON mb.room_id = r.id \
             WHERE mb.user_id = ?1 \
               AND (?2 IS NULL OR r.last_activity < ?2 OR (r.last_activity = ?2 AND r.id < ?3)) \
             ORDER BY r.last_activity DESC, r.id DESC LIMIT ?4",
        )
        .bind(user.0)
        .bind(after.map(|c| c.last_activity))
        .bind(after.map(|c| c.room.0))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let more = rows.len() > limit as usize;
        let mut rooms = Vec::with_capacity(rows.len().min(limit as usize));
        let mut next = None;
        for &(id, last_activity) in rows.iter().take(limit as usize) {
            if let Some(room) = room_view(&mut conn, RoomId(id), user).await? {
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
    }

    async fn add_members(&self, room: RoomId, users: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut tx = self.writer.begin().await?;
        let last_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound("no such room".into()))?;
        let now = now_millis();
        let mut added = Vec::new();
        for user in users {
            let done = sqlx::query(
                "INSERT INTO members (room_id, user_id, last_read_seq, joined_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(room.0)
            .bind(user.0)
            .bind(last_seq)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                added.push(*user);
            }
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let _writing = self.write_lock.lock().await;
        let done = sqlx::query("DELETE FROM members WHERE room_id = ? AND user_id = ?")
            .bind(room.0)
            .bind(user.0)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM members WHERE room_id = ? AND user_id = ?")
                .bind(room.0)
                .bind(user.0)
                .fetch_optional(&self.reader)
                .await?;
        Ok(found.is_some())
    }

    async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT user_id FROM members WHERE room_id = ?")
            .bind(room.0)
            .fetch_all(&self.reader)
            .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    async fn insert_messages(
        &self,
        batch: Vec<NewMessage>,
    ) -> Result<Vec<Result<Inserted, StoreError>>, StoreError> {
        self.messages.store(batch).await
    }

    async fn messages(&self, room: RoomId, page: Page) -> Result<Vec<Message>, StoreError> {
        // Paging forward from `after` reads ascending; otherwise the newest page below
        // `before` (or overall) is read descending and turned around.
        let ascending = page.after.is_some();
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m JOIN users u ON u.id = m.sender_id \
             WHERE m.room_id = ?1 AND (?2 IS NULL OR m.seq < ?2) AND (?3 IS NULL OR m.seq > ?3) \
             ORDER BY m.seq {} LIMIT ?4",
            if ascending { "ASC" } else { "DESC" }
        );
        let rows = sqlx::query(&sql)
            .bind(room.0)
            .bind(page.before.map(to_i64))
            .bind(page.after.map(to_i64))
            .bind(i64::from(page.limit))
            .fetch_all(&self.reader)
            .await?;
        let mut messages = rows
            .iter()
            .map(message_from)
            .collect::<Result<Vec<_>, _>>()?;
        if !ascending {
            messages.reverse();
        }
        Ok(messages)
    }

    async fn last_seq(&self, room: RoomId) -> Result<Seq, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = ?")
            .bind(room.0)
            .fetch_optional(&self.reader)
            .await?;
        Ok(seq_from(seq.unwrap_or(0))?)
    }

    async fn mark_read(&self, room: RoomId, user: UserId, seq: Seq) -> Result<Seq, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut tx = self.writer.begin().await?;
        let mark: Option<i64> = sqlx::query_scalar(
            "UPDATE members SET last_read_seq = \
               MAX(last_read_seq, MIN(?, (SELECT last_seq FROM rooms WHERE id = ?))) \
             WHERE room_id = ? AND user_id = ? RETURNING last_read_seq",
        )
        .bind(to_i64(seq))
        .bind(room.0)
        .bind(room.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(mark) = mark else {
            return Err(StoreError::NotMember);
        };
        // Seqs have no gaps, and every message a member sends moves its own read mark to that
        // message, so everything after the mark is from others: unread is a subtraction, not
        // a count over the room's history (which let a loop of read marks on a long room slow
        // everyone's writes down).
        sqlx::query(
            "UPDATE members SET unread = MAX(0, (SELECT last_seq FROM rooms WHERE id = ?1) - ?2) \
             WHERE room_id = ?1 AND user_id = ?3",
        )
        .bind(room.0)
        .bind(mark)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(seq_from(mark)?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.messages.close().await;
        self.writer.close().await;
        self.reader.close().await;
    }
}
