//! The SQLite statements of attachments (see `store::attachments`): small functions that the
//! message paths of `sqlite.rs` call in one line each.

use super::super::attachments::{attach, image_size, invalid_attachment};
use super::super::{NewAttachment, StoreError, StoredAttachment};
use crate::model::{now_millis, Attachment, AttachmentId, Message, MessageId, RoomId, UserId};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

/// The columns of an attachment, in the order [`attachment_from`] reads them.
macro_rules! attachment_columns {
    () => {
        "a.id, a.name, a.content_type, a.size, a.width, a.height, a.room_id, a.uploader_id, \
         a.object_key, a.thumbnail_key, a.message_id"
    };
}

/// The same columns unqualified, for `RETURNING` (which names only the changed table).
macro_rules! returned_columns {
    () => {
        "id, name, content_type, size, width, height, room_id, uploader_id, \
         object_key, thumbnail_key, message_id"
    };
}

fn attachment_from(row: &Row<'_>) -> rusqlite::Result<StoredAttachment> {
    let size: i64 = row.get(3)?;
    Ok(StoredAttachment {
        attachment: Attachment {
            id: AttachmentId(row.get(0)?),
            name: row.get(1)?,
            content_type: row.get(2)?,
            size: u64::try_from(size).unwrap_or(0),
            image: image_size(row.get(4)?, row.get(5)?),
        },
        room_id: RoomId(row.get(6)?),
        uploader: UserId(row.get(7)?),
        object_key: row.get(8)?,
        thumbnail_key: row.get(9)?,
        message_id: row.get::<_, Option<i64>>(10)?.map(MessageId),
    })
}

/// The ids as a JSON array, for `json_each`: a set as one parameter.
fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
    format!("[{}]", ids.join(","))
}

/// Whether every one of `ids` (distinct) is `sender`'s pending upload to `room`; the inner
/// error refuses the message.
pub(super) fn check_pending(
    tx: &Transaction<'_>,
    room: i64,
    sender: i64,
    ids: &[AttachmentId],
) -> rusqlite::Result<Result<(), StoreError>> {
    if ids.is_empty() {
        return Ok(Ok(()));
    }
    let found: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM attachments WHERE id IN (SELECT value FROM json_each(?1)) \
             AND room_id = ?2 AND uploader_id = ?3 AND message_id IS NULL",
        )?
        .query_row(
            params![id_list(ids.iter().map(|id| id.0)), room, sender],
            |row| row.get(0),
        )?;
    if usize::try_from(found).ok() == Some(ids.len()) {
        return Ok(Ok(()));
    }
    // A sender who is no longer a member is refused as such, whatever it attached.
    let member = tx
        .prepare_cached("SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2")?
        .exists(params![room, sender])?;
    Ok(Err(if member {
        invalid_attachment()
    } else {
        StoreError::NotMember
    }))
}

/// Links checked pending attachments to their new message and puts them on it.
pub(super) fn link(
    tx: &Transaction<'_>,
    message: &mut Message,
    ids: &[AttachmentId],
) -> rusqlite::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    tx.prepare_cached(
        "UPDATE attachments SET message_id = ?1 WHERE id IN (SELECT value FROM json_each(?2))",
    )?
    .execute(params![message.id.0, id_list(ids.iter().map(|id| id.0))])?;
    load(tx, std::slice::from_mut(message))
}

/// Deletes a deleted message's attachment rows; returns their objects' keys.
pub(super) fn remove_of_message(
    tx: &Transaction<'_>,
    message: MessageId,
) -> rusqlite::Result<Vec<String>> {
    let removed = tx
        .prepare_cached(concat!(
            "DELETE FROM attachments WHERE message_id = ?1 RETURNING ",
            returned_columns!()
        ))?
        .query_map(params![message.0], attachment_from)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(removed
        .iter()
        .flat_map(StoredAttachment::object_keys)
        .collect())
}

/// Loads the attachments of a page of messages in one query and puts them on their messages.
pub(super) fn load(conn: &Connection, messages: &mut [Message]) -> rusqlite::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let loaded = conn
        .prepare_cached(concat!(
            "SELECT ",
            attachment_columns!(),
            " FROM attachments a WHERE a.message_id IN (SELECT value FROM json_each(?1)) \
             ORDER BY a.id"
        ))?
        .query_map(
            params![id_list(messages.iter().map(|m| m.id.0))],
            attachment_from,
        )?
        .filter_map(|row| match row {
            Ok(stored) => stored.message_id.map(|m| Ok((m, stored.attachment))),
            Err(err) => Some(Err(err)),
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    attach(messages, loaded);
    Ok(())
}

/// Stores a pending attachment's row when the uploader is a member of its room.
pub(super) fn insert(
    tx: &Transaction<'_>,
    new: &NewAttachment,
) -> Result<StoredAttachment, StoreError> {
    let width = new.image.map(|i| i64::from(i.width));
    let height = new.image.map(|i| i64::from(i.height));
    let stored = tx
        .prepare_cached(concat!(
            "INSERT INTO attachments (room_id, uploader_id, name, content_type, size, \
               width, height, object_key, thumbnail_key, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
             WHERE EXISTS (SELECT 1 FROM members WHERE room_id = ?1 AND user_id = ?2) \
             RETURNING ",
            returned_columns!()
        ))?
        .query_row(
            params![
                new.room_id.0,
                new.uploader.0,
                new.name,
                new.content_type,
                i64::try_from(new.size).unwrap_or(i64::MAX),
                width,
                height,
                new.object_key,
                new.thumbnail_key,
                now_millis()
            ],
            attachment_from,
        )
        .optional()?;
    stored.ok_or(StoreError::NotMember)
}

/// One attachment's row.
pub(super) fn get(
    conn: &Connection,
    id: AttachmentId,
) -> rusqlite::Result<Option<StoredAttachment>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        attachment_columns!(),
        " FROM attachments a WHERE a.id = ?1"
    ))?
    .query_row(params![id.0], attachment_from)
    .optional()
}

/// Deletes up to `limit` pending rows created before `created_before`; returns them.
pub(super) fn delete_pending(
    tx: &Transaction<'_>,
    created_before: i64,
    limit: u32,
) -> rusqlite::Result<Vec<StoredAttachment>> {
    tx.prepare_cached(concat!(
        "DELETE FROM attachments WHERE id IN (SELECT id FROM attachments \
           WHERE message_id IS NULL AND created_at < ?1 ORDER BY created_at LIMIT ?2) \
         RETURNING ",
        returned_columns!()
    ))?
    .query_map(params![created_before, i64::from(limit)], attachment_from)?
    .collect()
}
