//! [`Attachments`]: the rules of files sent with messages (the contract's "Attachments"):
//! uploads streamed to storage within a size limit, types found from the bytes, images decoded
//! within limits and stored re-encoded without metadata (with a thumbnail), reads only by the
//! room's members (the uploader alone before sending), and the cleanup of uploads never sent.
//!
//! It reaches the store (the rows that say who may read what) and the files storage (the
//! bytes); never sessions, HTTP or STOMP. Sending an attachment with a message is the room
//! rules' (`rooms`), inside the message's transaction.

use crate::error::Error;
use crate::files::{Files, FilesError};
use crate::model::{now_millis, Attachment, AttachmentId, ImageSize, RoomId, User, UserId};
use crate::store::{NewAttachment, Store, StoredAttachment};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use image::{DynamicImage, ImageDecoder, ImageFormat};
use std::io::{BufReader, Cursor, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The most pixels an image may have to be decoded: more is a decompression bomb.
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;
/// The most memory one image's decoder may ask for (40 megapixels of 16-bit RGBA, and some).
const MAX_DECODE_ALLOC: u64 = 400 * 1024 * 1024;
/// The largest side of a thumbnail.
pub const THUMBNAIL_SIDE: u32 = 320;
/// Images decoded at once on a node: each may take hundreds of megabytes and a core.
const DECODERS: usize = 2;
/// Bytes looked at to find a file's type.
const SNIFF_BYTES: usize = 512;
/// The longest file name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Pending uploads deleted per query of the cleanup.
const CLEANUP_BATCH: u32 = 100;
/// Quality of re-encoded JPEGs and their thumbnails.
const JPEG_QUALITY: u8 = 85;

/// Upload settings.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// The largest upload, in bytes (`--max-upload-bytes`).
    pub max_upload_bytes: u64,
    /// How long an upload may wait to be sent before the cleanup deletes it.
    pub pending_ttl: Duration,
}

/// The attachments service.
#[derive(Clone)]
pub struct Attachments {
    store: Arc<dyn Store>,
    files: Files,
    limits: UploadLimits,
    /// Bounds the images being decoded at once.
    decoders: Arc<Semaphore>,
    /// Where images wait to be decoded: on disk beside the data, not in a memory-backed /tmp.
    spool_dir: PathBuf,
}

impl std::fmt::Debug for Attachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachments")
            .field("files", &self.files)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A stored file on its way to a client.
pub struct Download {
    /// The served type (a safe one: never HTML or SVG).
    pub content_type: String,
    /// The cleaned file name.
    pub name: String,
    /// Whether it is a re-encoded image (or its thumbnail), shown inline.
    pub inline: bool,
    /// Its size in bytes.
    pub size: u64,
    /// The bytes.
    pub body: BoxStream<'static, Result<Bytes, FilesError>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// What an upload's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniffed {
    /// An image the server decodes.
    Image(ImageFormat),
    /// Any other file, with the type it is served as.
    Other(&'static str),
}

/// Why an image was refused.
#[derive(Debug)]
enum ImageRefusal {
    /// Over [`MAX_IMAGE_PIXELS`] or the decoder's allocation limit.
    TooLarge,
    /// Not decodable.
    Bad(String),
}

/// A decoded image, re-encoded.
struct Processed {
    content_type: &'static str,
    bytes: Vec<u8>,
    thumbnail: Vec<u8>,
    size: ImageSize,
}

/// A re-encoded image once stored: its type, its stored size in bytes, its pixel size.
struct StoredImage {
    content_type: &'static str,
    bytes: u64,
    size: ImageSize,
}

impl From<FilesError> for Error {
    fn from(err: FilesError) -> Self {
        match err {
            FilesError::NotFound => Error::NotFound("the file is gone".into()),
            err => Error::backend(err),
        }
    }
}

impl Attachments {
    /// The service over the store and the files storage; uploaded images wait for their
    /// decoder in unnamed temporary files in `spool_dir` (created if needed).
    ///
    /// # Errors
    /// When `spool_dir` cannot be created.
    pub fn new(
        store: Arc<dyn Store>,
        files: Files,
        limits: UploadLimits,
        spool_dir: PathBuf,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&spool_dir)?;
        Ok(Attachments {
            store,
            files,
            limits,
            decoders: Arc::new(Semaphore::new(DECODERS)),
            spool_dir,
        })
    }

    /// The largest upload accepted, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.limits.max_upload_bytes
    }

    /// Stores an upload of `uploader` to `room` as a pending attachment. `content_length` is
    /// the request's, when it gave one: over the limit, nothing is read. `claimed_type` is the
    /// request's `Content-Type`, used only to refuse a claimed image that is not one.
    ///
    /// # Errors
    /// `Invalid` (name, empty body), `NotFound`/`Forbidden` (room), `TooLarge`,
    /// `TypeMismatch`, `BadImage`, `ImageTooLarge`, backend failures.
    pub async fn upload<S, E>(
        &self,
        uploader: &User,
        room: RoomId,
        name: &str,
        claimed_type: Option<&str>,
        content_length: Option<u64>,
        body: S,
    ) -> Result<Attachment, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let name = clean_name(name)?;
        let max = self.limits.max_upload_bytes;
        if content_length.is_some_and(|length| length > max) {
            return Err(too_large(max));
        }
        self.require_member(uploader.id, room).await?;
        let mut body = Counted { body, read: 0, max };
        let head = body.head().await?;
        if head.is_empty() {
            return Err(Error::Invalid("the file is empty".into()));
        }
        let sniffed = sniff(&head);
        if claims_image(&name, claimed_type) && !matches!(sniffed, Sniffed::Image(_)) {
            return Err(Error::TypeMismatch(
                "the file is not the image its name or type says".into(),
            ));
        }
        let key = new_object_key();
        let new = match sniffed {
            Sniffed::Image(format) => {
                let processed = self.store_image(&key, format, head, &mut body).await?;
                NewAttachment {
                    room_id: room,
                    uploader: uploader.id,
                    name,
                    content_type: processed.content_type.to_string(),
                    size: processed.bytes,
                    image: Some(processed.size),
                    object_key: key.clone(),
                    thumbnail_key: Some(format!("{key}.thumb")),
                }
            }
            Sniffed::Other(content_type) => {
                let size = self.store_stream(&key, head, &mut body).await?;
                NewAttachment {
                    room_id: room,
                    uploader: uploader.id,
                    name,
                    content_type: content_type.to_string(),
                    size,
                    image: None,
                    object_key: key.clone(),
                    thumbnail_key: None,
                }
            }
        };
        let keys = [new.object_key.clone()]
            .into_iter()
            .chain(new.thumbnail_key.clone())
            .collect::<Vec<_>>();
        match self.store.insert_attachment(new).await {
            Ok(stored) => Ok(stored.attachment),
            Err(err) => {
                // Left the room meanwhile, or the store failed: the bytes have no row.
                self.files.delete_logged(&keys).await;
                Err(err.into())
            }
        }
    }

    /// Streams a non-image to storage, counting; over the limit the partial object is
    /// removed. Returns the size.
    async fn store_stream<S, E>(
        &self,
        key: &str,
        head: Bytes,
        body: &mut Counted<S>,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let mut upload = self.files.begin(key).await?;
        let mut chunk = Some(head);
        while let Some(bytes) = chunk {
            if let Err(err) = upload.write(bytes).await {
                upload.abort().await;
                return Err(err.into());
            }
            chunk = match body.next_chunk().await {
                Ok(next) => next,
                Err(err) => {
                    upload.abort().await;
                    return Err(err);
                }
            };
        }
        if let Err(err) = upload.finish().await {
            self.files.delete_logged(&[key.to_string()]).await;
            return Err(err.into());
        }
        Ok(body.read)
    }

    /// Spools an image to a temporary file (never whole in memory), decodes it under the
    /// decoder semaphore, and stores it re-encoded with its thumbnail.
    async fn store_image<S, E>(
        &self,
        key: &str,
        format: ImageFormat,
        head: Bytes,
        body: &mut Counted<S>,
    ) -> Result<StoredImage, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let spool = tempfile::tempfile_in(&self.spool_dir).map_err(Error::backend)?;
        let mut writer = tokio::fs::File::from_std(spool.try_clone().map_err(Error::backend)?);
        let mut chunk = Some(head);
        while let Some(bytes) = chunk {
            writer.write_all(&bytes).await.map_err(Error::backend)?;
            chunk = body.next_chunk().await?;
        }
        writer.flush().await.map_err(Error::backend)?;
        drop(writer);
        let _permit = self
            .decoders
            .acquire()
            .await
            .map_err(|_| Error::Backend("the server is shutting down".into()))?;
        let processed = tokio::task::spawn_blocking(move || process_image(spool, format))
            .await
            .map_err(Error::backend)?
            .map_err(|refusal| match refusal {
                ImageRefusal::TooLarge => {
                    Error::ImageTooLarge(format!("an image has at most {MAX_IMAGE_PIXELS} pixels"))
                }
                ImageRefusal::Bad(why) => {
                    Error::BadImage(format!("the image cannot be decoded: {why}"))
                }
            })?;
        let Processed {
            content_type,
            bytes,
            thumbnail,
            size,
        } = processed;
        let stored = StoredImage {
            content_type,
            bytes: bytes.len() as u64,
            size,
        };
        // Each buffer moves into storage: an image is never held twice.
        let thumbnail_key = format!("{key}.thumb");
        self.files.put(key, bytes).await?;
        if let Err(err) = self.files.put(&thumbnail_key, thumbnail).await {
            self.files.delete_logged(&[key.to_string()]).await;
            return Err(err.into());
        }
        Ok(stored)
    }

    async fn require_member(&self, user: UserId, room: RoomId) -> Result<(), Error> {
        if self.store.room_kind(room).await?.is_none() {
            return Err(Error::NotFound(format!("no room {room}")));
        }
        if !self.store.is_member(room, user).await? {
            return Err(Error::Forbidden(format!(
                "you are not a member of room {room}"
            )));
        }
        Ok(())
    }

    /// Opens attachment `id` (or its thumbnail) for `viewer`: a member of its room, or before
    /// it is sent, its uploader alone.
    ///
    /// # Errors
    /// `NotFound` (no such attachment, someone else's unsent upload, no thumbnail),
    /// `Forbidden` (not a member of its room), backend failures.
    pub async fn open(
        &self,
        viewer: UserId,
        id: AttachmentId,
        thumbnail: bool,
    ) -> Result<Download, Error> {
        let not_found = || Error::NotFound(format!("no attachment {id}"));
        let stored = self.store.attachment(id).await?.ok_or_else(not_found)?;
        if stored.message_id.is_none() && stored.uploader != viewer {
            return Err(not_found());
        }
        if !self.store.is_member(stored.room_id, viewer).await? {
            return Err(Error::Forbidden(
                "you are not a member of this attachment's room".into(),
            ));
        }
        let inline = stored.attachment.image.is_some();
        let (key, content_type) = if thumbnail {
            let key = stored
                .thumbnail_key
                .clone()
                .ok_or_else(|| Error::NotFound(format!("attachment {id} has no thumbnail")))?;
            (key, thumbnail_type(&stored))
        } else {
            (
                stored.object_key.clone(),
                stored.attachment.content_type.clone(),
            )
        };
        let (size, body) = self.files.get(&key).await?;
        Ok(Download {
            content_type,
            name: stored.attachment.name,
            inline,
            size,
            body,
        })
    }

    /// Deletes the uploads that waited longer than the TTL without being sent, with their
    /// bytes; returns how many.
    ///
    /// # Errors
    /// Backend failures of the store (storage failures are logged).
    pub async fn clean_up_pending(&self) -> Result<usize, Error> {
        let ttl = i64::try_from(self.limits.pending_ttl.as_millis()).unwrap_or(i64::MAX);
        let before = now_millis().saturating_sub(ttl);
        let mut deleted = 0;
        loop {
            let expired = self
                .store
                .delete_pending_attachments(before, CLEANUP_BATCH)
                .await?;
            let keys: Vec<String> = expired
                .iter()
                .flat_map(StoredAttachment::object_keys)
                .collect();
            self.files.delete_logged(&keys).await;
            deleted += expired.len();
            if expired.len() < CLEANUP_BATCH as usize {
                return Ok(deleted);
            }
        }
    }

    /// Runs [`Attachments::clean_up_pending`] every `period` until `shutdown`.
    pub fn spawn_cleanup(&self, period: Duration, shutdown: CancellationToken) {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match service.clean_up_pending().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "unsent uploads deleted"),
                    Err(err) => err.log(),
                }
            }
        });
    }
}

fn too_large(max: u64) -> Error {
    Error::TooLarge(format!("a file has at most {max} bytes"))
}

/// A request body read chunk by chunk, counting bytes against the limit.
struct Counted<S> {
    body: S,
    read: u64,
    max: u64,
}

impl<S, E> Counted<S>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    /// The next chunk, `None` at the end.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match self.body.next().await {
            None => Ok(None),
            Some(Err(err)) => Err(Error::Invalid(format!("the upload broke off: {err}"))),
            Some(Ok(chunk)) => {
                self.read += chunk.len() as u64;
                if self.read > self.max {
                    return Err(too_large(self.max));
                }
                Ok(Some(chunk))
            }
        }
    }

    /// At least [`SNIFF_BYTES`] from the start (less for a shorter body).
    async fn head(&mut self) -> Result<Bytes, Error> {
        let mut head = Vec::new();
        while head.len() < SNIFF_BYTES {
            match self.next_chunk().await? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok(Bytes::from(head))
    }
}

/// A fresh, unguessable object key.
fn new_object_key() -> String {
    let random: u128 = rand::random();
    format!("attachments/{random:032x}")
}

/// The uploader's name made safe to store and show: no folders, no control or bidirectional
/// formatting characters, 1 to 255 bytes.
///
/// # Errors
/// `Invalid` when nothing is left or it is too long.
pub fn clean_name(raw: &str) -> Result<String, Error> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return Err(Error::Invalid("a file needs a name".into()));
    }
    if cleaned.len() > MAX_NAME_BYTES {
        return Err(Error::Invalid(format!(
            "a file name has at most {MAX_NAME_BYTES} bytes"
        )));
    }
    Ok(cleaned)
}

/// Characters that reorder text on screen ("gpj.exe" shown as "exe.jpg").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether the name or the claimed type says "raster image".
fn claims_image(name: &str, claimed_type: Option<&str>) -> bool {
    let lower = name.to_ascii_lowercase();
    let by_name = [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|ext| lower.ends_with(ext));
    let by_type = claimed_type.is_some_and(|t| {
        let t = t
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        matches!(
            t.as_str(),
            "image/png" | "image/jpeg" | "image/jpg" | "image/gif" | "image/webp"
        )
    });
    by_name || by_type
}

/// The type of a file from its first bytes. Only a few types are served as themselves;
/// markup (HTML, SVG, XML) and anything unknown is `application/octet-stream`.
fn sniff(head: &[u8]) -> Sniffed {
    if let Some(kind) = infer::get(head) {
        return match kind.mime_type() {
            "image/png" => Sniffed::Image(ImageFormat::Png),
            "image/jpeg" => Sniffed::Image(ImageFormat::Jpeg),
            "image/gif" => Sniffed::Image(ImageFormat::Gif),
            "image/webp" => Sniffed::Image(ImageFormat::WebP),
            "application/pdf" => Sniffed::Other("application/pdf"),
            "application/zip" => Sniffed::Other("application/zip"),
            "application/gzip" => Sniffed::Other("application/gzip"),
            "application/x-7z-compressed" => Sniffed::Other("application/x-7z-compressed"),
            "audio/mpeg" => Sniffed::Other("audio/mpeg"),
            "audio/ogg" => Sniffed::Other("audio/ogg"),
            "audio/x-wav" => Sniffed::Other("audio/wav"),
            "video/mp4" => Sniffed::Other("video/mp4"),
            "video/webm" => Sniffed::Other("video/webm"),
            _ => Sniffed::Other("application/octet-stream"),
        };
    }
    if looks_like_text(head) {
        let first = head.iter().find(|b| !b.is_ascii_whitespace());
        // Markup is never text/plain either: a browser that ignored nosniff could render it.
        if first == Some(&b'<') {
            return Sniffed::Other("application/octet-stream");
        }
        return Sniffed::Other("text/plain");
    }
    Sniffed::Other("application/octet-stream")
}

/// UTF-8 without NULs or control characters other than whitespace (a character cut at the end
/// of the sample is fine).
fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(err) if err.error_len().is_none() => {
            std::str::from_utf8(&head[..err.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

/// A thumbnail's type: JPEG for JPEG photos, PNG for the rest.
fn thumbnail_type(stored: &StoredAttachment) -> String {
    if stored.attachment.content_type == "image/jpeg" {
        "image/jpeg".into()
    } else {
        "image/png".into()
    }
}

fn refusal(err: image::ImageError) -> ImageRefusal {
    match err {
        image::ImageError::Limits(_) => ImageRefusal::TooLarge,
        err => ImageRefusal::Bad(err.to_string()),
    }
}

/// Decodes the spooled image within limits, applies its EXIF orientation, and re-encodes it
/// and its thumbnail without metadata (JPEG stays JPEG; PNG, GIF and WebP become PNG).
fn process_image(mut spool: std::fs::File, format: ImageFormat) -> Result<Processed, ImageRefusal> {
    spool
        .seek(SeekFrom::Start(0))
        .map_err(|e| ImageRefusal::Bad(e.to_string()))?;
    let mut reader = image::ImageReader::with_format(BufReader::new(spool), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(ImageRefusal::TooLarge);
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    image.apply_orientation(orientation);
    let jpeg = format == ImageFormat::Jpeg;
    let thumbnail = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let size = ImageSize {
        width: image.width(),
        height: image.height(),
    };
    Ok(Processed {
        content_type: if jpeg { "image/jpeg" } else { "image/png" },
        bytes: encode(&image, jpeg)?,
        thumbnail: encode(&thumbnail, jpeg)?,
        size,
    })
}

/// Encodes `image` as JPEG or PNG: pixels only, no metadata.
fn encode(image: &DynamicImage, jpeg: bool) -> Result<Vec<u8>, ImageRefusal> {
    let mut out = Cursor::new(Vec::new());
    let result = if jpeg {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
        DynamicImage::ImageRgb8(image.to_rgb8()).write_with_encoder(encoder)
    } else {
        image.write_to(&mut out, ImageFormat::Png)
    };
    result.map_err(|e| ImageRefusal::Bad(e.to_string()))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_folders_control_and_bidi_characters() {
        assert_eq!(clean_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_name("C:\\Users\\me\\plan.pdf").unwrap(), "plan.pdf");
        assert_eq!(clean_name("cat\u{202E}gnp.exe").unwrap(), "catgnp.exe");
        assert_eq!(clean_name("a\nb\u{0}.txt").unwrap(), "ab.txt");
        assert!(clean_name("").is_err());
        assert!(clean_name("dir/").is_err());
        assert!(clean_name("..").is_err());
        assert!(clean_name(&"x".repeat(256)).is_err());
        assert!(clean_name(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn types_come_from_the_bytes_and_markup_is_never_served_as_markup() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n0000"),
            Sniffed::Image(ImageFormat::Png)
        );
        assert_eq!(sniff(b"%PDF-1.7\n"), Sniffed::Other("application/pdf"));
        assert_eq!(sniff(b"hello, world\n"), Sniffed::Other("text/plain"));
        for markup in [
            &b"<!DOCTYPE html><html><script>alert(1)</script>"[..],
            b"  <svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
            b"<?xml version=\"1.0\"?><svg/>",
        ] {
            assert_eq!(sniff(markup), Sniffed::Other("application/octet-stream"));
        }
        assert_eq!(
            sniff(&[0, 159, 146, 150]),
            Sniffed::Other("application/octet-stream")
        );
    }

    #[test]
    fn image_claims_come_from_the_name_or_the_declared_type() {
        assert!(claims_image("cat.PNG", None));
        assert!(claims_image("cat", Some("image/jpeg; q=1")));
        assert!(!claims_image("drawing.svg", Some("image/svg+xml")));
        assert!(!claims_image("plan.pdf", Some("application/pdf")));
    }
}
