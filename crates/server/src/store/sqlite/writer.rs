//! The writer: one thread that owns the database's only writing connection and runs every
//! write of the store, each as one transaction.
//!
//! Why a thread and not the async pool: storing a message takes three or four statements.
//! Run through an async pool, every statement is a round trip to the pool's worker thread and
//! back, two thread wake-ups each, and on a small VM a wake-up costs more than the statement
//! itself. Here a whole write (a batch of messages, a new group with its members) runs on this
//! thread with statements prepared once and cached, so it costs one hand-over in and one answer
//! out, however many statements it holds.
//!
//! Why the only writer: SQLite has one writer anyway. With every write queued here,
//! transactions wait in this queue instead of in SQLite's lock (no `SQLITE_BUSY`, no busy-wait
//! sleeps), and a read-then-write transaction always sees the latest commit. Nothing else
//! ever opens a write transaction, so no lock in the process is needed to keep it that way.
//!
//! The writer knows connections and transactions, nothing of users, rooms or messages: the
//! store hands it each write as a function to run.

use super::super::StoreError;
use super::open_connection;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// One write, ready to run on the writer's connection; it answers its caller itself.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Request {
    Write(Job),
    /// Finish the work queued before this, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// The handle to the writer thread; cloning it shares the thread, which ends when the store
/// is closed or the last handle is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    requests: mpsc::Sender<Request>,
}

fn closed() -> StoreError {
    StoreError::Backend("the store is closed".into())
}

impl Writer {
    /// Opens the writing connection to the (already migrated) database at `path` and starts
    /// the thread.
    pub(super) fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = open_connection(path)?;
        let (requests, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("sotong-sqlite-writer".into())
            .spawn(move || serve(conn, inbox))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Writer { requests })
    }

    /// Runs `write` in an immediate transaction on the writer's connection and answers after
    /// the commit (on disk: `synchronous = FULL`). An error from `write` rolls back everything
    /// it did.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // A caller that went away (its connection closed) no longer needs the answer;
            // the write is committed all the same.
            let _ = reply.send(in_transaction(conn, write));
        });
        self.requests
            .send(Request::Write(job))
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Lets the queued writes finish, then closes the connection.
    pub(super) async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.requests.send(Request::Close(reply)).is_ok() {
            let _ = done.await;
        }
    }
}

fn in_transaction<T>(
    conn: &mut Connection,
    write: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // On an error the transaction is dropped unfinished, which rolls it back.
    let value = write(&tx)?;
    tx.commit()?;
    Ok(value)
}

fn serve(mut conn: Connection, inbox: mpsc::Receiver<Request>) {
    while let Ok(request) = inbox.recv() {
        match request {
            Request::Write(job) => job(&mut conn),
            Request::Close(reply) => {
                drop(conn);
                let _ = reply.send(());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer_on_scratch_table() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("w.db");
        let conn = open_connection(&path).expect("open");
        conn.execute("CREATE TABLE t (v INTEGER NOT NULL)", [])
            .expect("table");
        drop(conn);
        (dir, Writer::start(&path).expect("writer"))
    }

    #[tokio::test]
    async fn a_failed_write_leaves_nothing_behind() {
        let (_dir, writer) = writer_on_scratch_table();
        let refused = writer
            .write(|tx| {
                tx.execute("INSERT INTO t (v) VALUES (1)", [])?;
                Err::<(), _>(StoreError::NotMember)
            })
            .await;
        assert!(matches!(refused, Err(StoreError::NotMember)));
        let count: i64 = writer
            .write(|tx| Ok(tx.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
            .await
            .expect("count");
        assert_eq!(count, 0, "rolled back");
        writer.close().await;
    }

    #[tokio::test]
    async fn writes_queued_before_close_are_committed_and_later_ones_refused() {
        let (_dir, writer) = writer_on_scratch_table();
        let queued: Vec<_> = (0..10)
            .map(|v| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(move |tx| Ok(tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?))
                        .await
                })
            })
            .collect();
        for write in queued {
            assert_eq!(write.await.expect("task").expect("written"), 1);
        }
        writer.close().await;
        let late = writer.write(|_| Ok(())).await;
        assert!(matches!(late, Err(StoreError::Backend(_))));
    }
}
