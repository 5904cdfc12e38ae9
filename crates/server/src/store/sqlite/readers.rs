//! The readers: a few connections that only read, used on Tokio's blocking threads so that
//! a query never stalls the runtime.
//!
//! A read takes a connection, runs all its statements on one blocking thread (one hand-over
//! in, one answer out, however many statements: a room view takes three) and puts the
//! connection back. Thanks to WAL, readers never wait for the writer, nor it for them.
//! Connections are opened on first need, at most [`READERS`] of them, and keep their prepared
//! statements cached.

use super::super::StoreError;
use super::open_connection;
use super::search::INDEX_SCHEMA;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use tokio::sync::Semaphore;

/// Most reads at once, and so most reading connections.
const READERS: usize = 4;

/// The reading connections.
pub(super) struct Readers {
    path: PathBuf,
    /// The search index's file, attached to every reading connection.
    index_path: PathBuf,
    /// One permit per connection that may exist; closed when the store closes.
    permits: Semaphore,
    /// Connections not in use right now.
    idle: Mutex<Vec<Connection>>,
}

fn closed() -> StoreError {
    StoreError::Backend("the store is closed".into())
}

impl Readers {
    /// Readers of the database at `path`, with the search index's file at `index_path`
    /// attached to each; no connection is opened yet.
    pub(super) fn new(path: &Path, index_path: &Path) -> Self {
        Readers {
            path: path.to_path_buf(),
            index_path: index_path.to_path_buf(),
            permits: Semaphore::new(READERS),
            idle: Mutex::new(Vec::with_capacity(READERS)),
        }
    }

    /// Runs `read` on a reading connection, on a blocking thread.
    pub(super) async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| closed())?;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let (path, index_path) = (self.path.clone(), self.index_path.clone());
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let conn = match idle {
                Some(conn) => conn,
                None => open_reader(&path, &index_path)?,
            };
            let result = read(&conn);
            Ok::<_, StoreError>((conn, result))
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))??;
        // After `close` the connection is dropped instead of kept.
        if !self.permits.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
        result
    }

    /// Refuses further reads and closes the idle connections (a read still running closes
    /// its own when it ends).
    pub(super) fn close(&self) {
        self.permits.close();
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A reading connection to the store at `path` with the search index at `index_path`
/// attached as [`INDEX_SCHEMA`].
fn open_reader(path: &Path, index_path: &Path) -> rusqlite::Result<Connection> {
    let conn = open_connection(path)?;
    conn.execute(
        &format!("ATTACH DATABASE ?1 AS {INDEX_SCHEMA}"),
        [index_path.to_string_lossy()],
    )?;
    Ok(conn)
}
