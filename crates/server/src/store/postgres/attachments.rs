//! The PostgreSQL statements of attachments (see `store::attachments`): small functions that
//! the message paths of `postgres.rs` call in one line each.

use super::super::attachments::{attach, image_size};
use super::super::{NewAttachment, StoreError, StoredAttachment};
use crate::model::{Attachment, AttachmentId, Message, MessageId, RoomId, UserId};
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use std::collections::HashMap;

/// The columns of an attachment, as [`attachment_from`] reads them.
macro_rules! attachment_columns {
    () => {
        "a.id, a.name, a.content_type, a.size, a.width, a.height, a.room_id, a.uploader_id, \
         a.object_key, a.thumbnail_key, a.message_id"
    };
}

fn attachment_from(row: &PgRow) -> Result<StoredAttachment, StoreError> {
    let size: i64 = row.try_get("size")?;
    Ok(StoredAttachment {
        attachment: Attachment {
            id: AttachmentId(row.try_get("id")?),
            name: row.try_get("name")?,
            content_type: row.try_get("content_type")?,
            size: u64::try_from(size).unwrap_or(0),
            image: image_size(row.try_get("width")?, row.try_get("height")?),
        },
        room_id: RoomId(row.try_get("room_id")?),
        uploader: UserId(row.try_get("uploader_id")?),
        object_key: row.try_get("object_key")?,
        thumbnail_key: row.try_get("thumbnail_key")?,
        message_id: row.try_get::<Option<i64>, _>("message_id")?.map(MessageId),
    })
}

/// The pending attachments among `ids`, locked for the batch: id → (room, uploader).
pub(super) async fn pending(
    conn: impl PgExecutor<'_>,
    ids: &[i64],
) -> Result<HashMap<i64, (i64, i64)>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    sqlx::query(
        "SELECT id, room_id, uploader_id FROM attachments \
         WHERE id = ANY($1) AND message_id IS NULL ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|row| {
        Ok((
            row.try_get("id")?,
            (row.try_get("room_id")?, row.try_get("uploader_id")?),
        ))
    })
    .collect()
}

/// Links attachments to the messages just stored: (attachment, message) pairs.
pub(super) async fn link(
    conn: impl PgExecutor<'_>,
    links: &[(i64, i64)],
) -> Result<(), StoreError> {
    if links.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE attachments a SET message_id = t.message_id \
         FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS t(id, message_id) WHERE a.id = t.id",
    )
    .bind(links.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(links.iter().map(|l| l.1).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Loads the attachments of a page of messages in one query and puts them on their messages.
pub(super) async fn load(
    conn: impl PgExecutor<'_>,
    messages: &mut [Message],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let loaded = of_messages(conn, messages.iter().map(|m| m.id.0).collect()).await?;
    attach(messages, loaded);
    Ok(())
}

/// The attachments of the messages `ids`, in one query, each with its message's id.
pub(super) async fn of_messages(
    conn: impl PgExecutor<'_>,
    ids: Vec<i64>,
) -> Result<Vec<(MessageId, Attachment)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM attachments a WHERE a.message_id = ANY($1) ORDER BY a.id"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let mut loaded = Vec::with_capacity(rows.len());
    for row in &rows {
        let stored = attachment_from(row)?;
        if let Some(message) = stored.message_id {
            loaded.push((message, stored.attachment));
        }
    }
    Ok(loaded)
}

/// Deletes a deleted message's attachment rows; returns their objects' keys.
pub(super) async fn remove_of_message(
    conn: impl PgExecutor<'_>,
    message: MessageId,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query(concat!(
        "DELETE FROM attachments a WHERE a.message_id = $1 RETURNING ",
        attachment_columns!()
    ))
    .bind(message.0)
    .fetch_all(conn)
    .await?;
    let mut keys = Vec::new();
    for row in &rows {
        keys.extend(attachment_from(row)?.object_keys());
    }
    Ok(keys)
}

/// Stores a pending attachment's row when the uploader is a member of its room.
pub(super) async fn insert(
    conn: impl PgExecutor<'_>,
    new: &NewAttachment,
) -> Result<StoredAttachment, StoreError> {
    let row = sqlx::query(concat!(
        "INSERT INTO attachments AS a (room_id, uploader_id, name, content_type, size, width, \
           height, object_key, thumbnail_key, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, ",
        db_now_millis!(),
        " WHERE EXISTS (SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2) \
         RETURNING ",
        attachment_columns!()
    ))
    .bind(new.room_id.0)
    .bind(new.uploader.0)
    .bind(&new.name)
    .bind(&new.content_type)
    .bind(i64::try_from(new.size).unwrap_or(i64::MAX))
    .bind(new.image.map(|i| i64::from(i.width)))
    .bind(new.image.map(|i| i64::from(i.height)))
    .bind(&new.object_key)
    .bind(&new.thumbnail_key)
    .fetch_optional(conn)
    .await?;
    row.as_ref()
        .map(attachment_from)
        .transpose()?
        .ok_or(StoreError::NotMember)
}

/// One attachment's row.
pub(super) async fn get(
    conn: impl PgExecutor<'_>,
    id: AttachmentId,
) -> Result<Option<StoredAttachment>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM attachments a WHERE a.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(attachment_from).transpose()
}

/// Deletes up to `limit` pending rows created before `created_before`; returns them.
pub(super) async fn delete_pending(
    conn: impl PgExecutor<'_>,
    created_before: i64,
    limit: u32,
) -> Result<Vec<StoredAttachment>, StoreError> {
    let rows = sqlx::query(concat!(
        "DELETE FROM attachments a WHERE a.id IN (SELECT id FROM attachments \
           WHERE message_id IS NULL AND created_at < $1 ORDER BY created_at LIMIT $2 \
           FOR UPDATE SKIP LOCKED) RETURNING ",
        attachment_columns!()
    ))
    .bind(created_before)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    rows.iter().map(attachment_from).collect()
}
