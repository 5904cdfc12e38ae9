//! The message writer: one thread that owns one SQLite connection and stores batches of
//! messages, each batch in one transaction.
//!
//! Storing a message takes three or four statements. Run through the async pool, every
//! statement is a round trip to the pool's worker thread and back, two thread wake-ups each,
//! and on a small VM a wake-up costs more than the statement itself. Here the whole batch runs
//! on this thread with statements prepared once and cached, so a batch costs one hand-over in
//! and one answer out, however many messages and statements it holds.
//!
//! The other writes (users, rooms, members, read marks) stay on the async pool. They and this
//! thread take the same in-process write lock around every write transaction, so the two
//! connections never contend inside SQLite (no `SQLITE_BUSY`, no busy-wait sleeps) and a
//! read-then-write transaction on either side always sees the latest commit.

use super::super::{Inserted, NewMessage, StoreError};
use crate::model::{now_millis, rfc3339_millis, Message, MessageId, RoomId, Seq, User, UserId};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::sync::{oneshot, Mutex};

/// What one batch comes back as: a result per message, or the failure of the whole batch.
pub(super) type BatchResult = Result<Vec<Result<Inserted, StoreError>>, StoreError>;

enum Request {
    Store {
        batch: Vec<NewMessage>,
        reply: oneshot::Sender<BatchResult>,
    },
    /// Finish the work queued before this, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// The handle to the writer thread; cloning it shares the thread.
#[derive(Clone)]
pub(super) struct MessageWriter {
    requests: mpsc::Sender<Request>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(err))
    }
}

fn closed() -> StoreError {
    StoreError::Backend("the store is closed".into())
}

impl MessageWriter {
    /// Opens a connection to the (already migrated) database at `path` and starts the thread.
    pub(super) fn start(path: &Path, write_lock: Arc<Mutex<()>>) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        // The same durability as the pool's connections: WAL, and a commit is on disk when
        // COMMIT returns (synchronous = FULL is a per-connection setting).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(16);
        let (requests, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("sotong-sqlite-writer".into())
            .spawn(move || serve(conn, inbox, write_lock))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(MessageWriter { requests })
    }

    /// Stores `batch` in one transaction; answers after the commit.
    pub(super) async fn store(&self, batch: Vec<NewMessage>) -> BatchResult {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Store { batch, reply })
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Lets the queued batches finish, then closes the connection.
    pub(super) async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.requests.send(Request::Close(reply)).is_ok() {
            let _ = done.await;
        }
    }
}

fn serve(mut conn: Connection, inbox: mpsc::Receiver<Request>, write_lock: Arc<Mutex<()>>) {
    while let Ok(request) = inbox.recv() {
        match request {
            Request::Store { batch, reply } => {
                let result = {
                    let _writing = write_lock.blocking_lock();
                    store_batch(&mut conn, &batch)
                };
                if let Err(err) = &result {
                    tracing::error!(error = %err, messages = batch.len(), "group commit failed");
                }
                // A caller that went away (its connection closed) no longer needs the answer;
                // the messages are stored all the same.
                let _ = reply.send(result);
            }
            Request::Close(reply) => {
                drop(conn);
                let _ = reply.send(());
                return;
            }
        }
    }
}

fn store_batch(conn: &mut Connection, batch: &[NewMessage]) -> BatchResult {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(batch.len());
    for new in batch {
        results.push(store_one(&tx, new)?);
    }
    tx.commit()?;
    Ok(results)
}

/// Reads a row of `message_columns!()`, by position.
fn message_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: MessageId(row.get(0)?),
        room_id: RoomId(row.get(1)?),
        // Read as `u64`, which rusqlite checks: a negative `seq` is a damaged row.
        seq: Seq(row.get(2)?),
        text: row.get(3)?,
        sent_at: rfc3339_millis(row.get(4)?),
        client_msg_id: row.get(5)?,
        sender: User {
            id: UserId(row.get(6)?),
            username: row.get(7)?,
            display_name: row.get(8)?,
        },
    })
}

/// Stores one message inside the batch's transaction. The outer error fails the batch; the
/// inner one refuses this message only, before anything of it was written.
fn store_one(
    tx: &rusqlite::Transaction<'_>,
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
        if let Some(message) = earlier {
            return Ok(Ok(Inserted {
                message,
                created: false,
                recipients: Vec::new(),
            }));
        }
    }
    let now = now_millis();
    let seq: Option<u64> = tx
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
            "INSERT INTO messages (room_id, seq, sender_id, body, sent_at, client_msg_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        )?
        .query_row(
            params![room, seq, sender, new.text, now, new.client_msg_id],
            |row| row.get(0),
        )?;
    // Everyone else has one more unread; the sender has read up to its own message.
    let mut recipients = Vec::new();
    {
        let mut members = tx.prepare_cached(
            "UPDATE members SET \
               unread = CASE WHEN user_id = ?2 THEN 0 ELSE unread + 1 END, \
               last_read_seq = CASE WHEN user_id = ?2 THEN ?3 ELSE last_read_seq END \
             WHERE room_id = ?1 RETURNING user_id, unread",
        )?;
        let mut rows = members.query(params![room, sender, seq])?;
        while let Some(row) = rows.next()? {
            let unread: i64 = row.get(1)?;
            recipients.push((UserId(row.get(0)?), unread.max(0) as u64));
        }
    }
    Ok(Ok(Inserted {
        message: Message {
            id: MessageId(id),
            room_id: new.room_id,
            seq: Seq(seq),
            sender: new.sender.clone(),
            text: new.text.clone(),
            sent_at: rfc3339_millis(now),
            client_msg_id: new.client_msg_id.clone(),
        },
        created: true,
        recipients,
    }))
}
