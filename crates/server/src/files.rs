//! [`Files`]: where attachments' bytes live, behind one small API (put a stream, put bytes,
//! get a stream, delete) over the `object_store` crate: a local folder by default
//! (`--files-url`, `file://…`, the folder `files/` of `--data-dir`) or S3-compatible storage
//! (`s3://BUCKET/PREFIX`, configured by the usual `AWS_*` environment variables), which several
//! nodes share.
//!
//! Plain storage: it knows nothing of rooms, users or rules (the `attachments` service does),
//! and reaches no other part of the server.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use std::path::Path;
use std::sync::Arc;

/// Size of one part of a streamed upload: what one upload holds in memory at most (S3 wants
/// parts of at least 5 MiB, except the last).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once: with [`PART_BYTES`], bounds an upload's buffers.
const PARTS_IN_FLIGHT: usize = 2;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// `--files-url` cannot be used.
    #[error("--files-url: {0}")]
    Config(String),
    /// No object under that key.
    #[error("no such stored file")]
    NotFound,
    /// The storage failed.
    #[error("file storage: {0}")]
    Storage(#[source] object_store::Error),
}

impl From<object_store::Error> for FilesError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => FilesError::NotFound,
            err => FilesError::Storage(err),
        }
    }
}

/// The attachments' storage.
#[derive(Clone)]
pub struct Files {
    store: Arc<dyn ObjectStore>,
    /// What it is, for the log (never with credentials).
    description: String,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("store", &self.description)
            .finish()
    }
}

impl Files {
    /// Opens the storage `url` names: `file:///folder` (created if needed) or
    /// `s3://bucket/prefix` (credentials, region and endpoint from `AWS_*` variables); without
    /// a URL, the folder `files` of `data_dir`.
    ///
    /// # Errors
    /// [`FilesError::Config`] for another scheme, a folder that cannot be created, or S3
    /// settings that do not build a client.
    pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Files, FilesError> {
        match url {
            None => Files::local(&data_dir.join("files")),
            Some(url) => {
                if let Some(folder) = url.strip_prefix("file://") {
                    Files::local(Path::new(folder))
                } else if let Some(rest) = url.strip_prefix("s3://") {
                    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                    if bucket.is_empty() {
                        return Err(FilesError::Config("s3:// needs a bucket".into()));
                    }
                    let s3 = AmazonS3Builder::from_env()
                        .with_bucket_name(bucket)
                        .build()
                        .map_err(|e| FilesError::Config(e.to_string()))?;
                    let prefix = prefix.trim_matches('/');
                    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                        Arc::new(s3)
                    } else {
                        Arc::new(PrefixStore::new(s3, prefix))
                    };
                    Ok(Files {
                        store,
                        description: format!("s3://{bucket}/{prefix}"),
                    })
                } else {
                    Err(FilesError::Config(
                        "a file:// folder or an s3://bucket/prefix".into(),
                    ))
                }
            }
        }
    }

    fn local(folder: &Path) -> Result<Files, FilesError> {
        std::fs::create_dir_all(folder)
            .map_err(|e| FilesError::Config(format!("{}: {e}", folder.display())))?;
        let store = LocalFileSystem::new_with_prefix(folder)
            .map_err(|e| FilesError::Config(e.to_string()))?;
        Ok(Files {
            store: Arc::new(store),
            description: folder.display().to_string(),
        })
    }

    /// What the storage is, for the log.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Starts writing the object `key` in parts; nothing is visible under `key` before
    /// [`Upload::finish`].
    ///
    /// # Errors
    /// The storage's failure.
    pub async fn begin(&self, key: &str) -> Result<Upload, FilesError> {
        let upload = self.store.put_multipart(&ObjectPath::from(key)).await?;
        Ok(Upload {
            writer: WriteMultipart::new_with_chunk_size(upload, PART_BYTES),
        })
    }

    /// Stores `bytes` under `key` at once (re-encoded images and thumbnails, bounded in size).
    ///
    /// # Errors
    /// The storage's failure.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), FilesError> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The object `key` as a stream of chunks, with its size.
    ///
    /// # Errors
    /// [`FilesError::NotFound`], or the storage's failure.
    pub async fn get(
        &self,
        key: &str,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, FilesError>>), FilesError> {
        let got = self.store.get(&ObjectPath::from(key)).await?;
        let size = got.meta.size;
        Ok((size, got.into_stream().map_err(FilesError::from).boxed()))
    }

    /// Deletes the object `key`; one that is not there is deleted already.
    ///
    /// # Errors
    /// The storage's failure.
    pub async fn delete(&self, key: &str) -> Result<(), FilesError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Deletes objects after the rows that named them are gone; a failure is logged, not
    /// fatal (the object is then an orphan nobody can read).
    pub async fn delete_logged(&self, keys: &[String]) {
        for key in keys {
            if let Err(err) = self.delete(key).await {
                tracing::warn!(key = %key, error = %err, "a stored file could not be deleted");
            }
        }
    }
}

/// An object being written in parts: at most a few parts of [`PART_BYTES`] in memory.
pub struct Upload {
    writer: WriteMultipart,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload").finish_non_exhaustive()
    }
}

impl Upload {
    /// Adds a chunk, waiting while too many parts are in flight (back-pressure on the body).
    ///
    /// # Errors
    /// The storage's failure.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), FilesError> {
        self.writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        self.writer.put(chunk);
        Ok(())
    }

    /// Completes the object.
    ///
    /// # Errors
    /// The storage's failure.
    pub async fn finish(self) -> Result<(), FilesError> {
        self.writer.finish().await?;
        Ok(())
    }

    /// Gives up: nothing is stored (parts written so far are removed).
    pub async fn abort(self) {
        if let Err(err) = self.writer.abort().await {
            tracing::warn!(error = %err, "an aborted upload could not be cleaned up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_streamed_object_reads_back_and_an_aborted_one_is_not_there() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = Files::open(None, dir.path()).expect("files");
        let mut upload = files.begin("a/one").await.expect("begin");
        upload
            .write(Bytes::from_static(b"hello "))
            .await
            .expect("write");
        upload
            .write(Bytes::from_static(b"world"))
            .await
            .expect("write");
        upload.finish().await.expect("finish");
        let (size, stream) = files.get("a/one").await.expect("get");
        let chunks: Vec<Bytes> = stream.try_collect().await.expect("read");
        assert_eq!(size, 11);
        assert_eq!(chunks.concat(), b"hello world");

        let mut aborted = files.begin("a/two").await.expect("begin");
        aborted
            .write(Bytes::from_static(b"partial"))
            .await
            .expect("write");
        aborted.abort().await;
        assert!(matches!(
            files.get("a/two").await,
            Err(FilesError::NotFound)
        ));
        files.delete("a/one").await.expect("delete");
        files.delete("a/one").await.expect("deleting twice is fine");
        assert!(matches!(
            files.get("a/one").await,
            Err(FilesError::NotFound)
        ));
    }

    #[test]
    fn only_file_and_s3_urls_are_storage() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(Files::open(Some("ftp://x/y"), dir.path()).is_err());
        assert!(Files::open(Some("s3:///prefix"), dir.path()).is_err());
        let url = format!("file://{}", dir.path().join("elsewhere").display());
        assert!(Files::open(Some(&url), dir.path()).is_ok());
    }
}
