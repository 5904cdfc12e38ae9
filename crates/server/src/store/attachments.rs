//! What the store keeps of attachments: the rows that say which stored file belongs to which
//! room and uploader, and to which message once sent. The bytes are the files store's
//! (module `files`); the rules (who may upload or read) are the `attachments` service's.

use crate::model::{Attachment, AttachmentId, ImageSize, Message, MessageId, RoomId, UserId};

/// Most attachments one message may carry.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 10;

/// A file that has been stored and is waiting to be sent.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// The room it was uploaded to (and may only be sent to).
    pub room_id: RoomId,
    /// Who uploaded it: the only one who may send it, or read it before it is sent.
    pub uploader: UserId,
    /// The cleaned file name.
    pub name: String,
    /// The type found in its bytes.
    pub content_type: String,
    /// Its size as stored (and served).
    pub size: u64,
    /// Width and height of a decoded image.
    pub image: Option<ImageSize>,
    /// Where its bytes are in the files store.
    pub object_key: String,
    /// Where an image's thumbnail is.
    pub thumbnail_key: Option<String>,
}

/// An attachment row with what deciding access and serving it needs.
#[derive(Debug, Clone)]
pub struct StoredAttachment {
    /// What clients see of it.
    pub attachment: Attachment,
    /// The room it belongs to.
    pub room_id: RoomId,
    /// Who uploaded it.
    pub uploader: UserId,
    /// Where its bytes are.
    pub object_key: String,
    /// Where an image's thumbnail is.
    pub thumbnail_key: Option<String>,
    /// The message that carries it; `None` while pending.
    pub message_id: Option<MessageId>,
}

impl StoredAttachment {
    /// Every stored object of the attachment, for deleting them.
    pub fn object_keys(&self) -> Vec<String> {
        let mut keys = vec![self.object_key.clone()];
        keys.extend(self.thumbnail_key.clone());
        keys
    }
}

/// Why a message's attachments cannot be sent with it (the whole message is refused).
pub(crate) fn invalid_attachment() -> super::StoreError {
    super::StoreError::InvalidAttachment(
        "an attachment is not an unsent upload of yours to this room".into(),
    )
}

/// Width and height from two nullable columns: both or none.
pub(crate) fn image_size(width: Option<i64>, height: Option<i64>) -> Option<ImageSize> {
    match (width, height) {
        (Some(w), Some(h)) => Some(ImageSize {
            width: u32::try_from(w).unwrap_or(0),
            height: u32::try_from(h).unwrap_or(0),
        }),
        _ => None,
    }
}

/// Hands loaded `(message id, attachment)` pairs, in id order, to their messages of a page.
pub(crate) fn attach(messages: &mut [Message], loaded: Vec<(MessageId, Attachment)>) {
    // What was loaded is the whole truth: a message loaded again (after a change) must not
    // keep, or double, what it carried before.
    for message in messages.iter_mut() {
        message.attachments.clear();
    }
    for (message_id, attachment) in loaded {
        if let Some(message) = messages.iter_mut().find(|m| m.id == message_id) {
            message.attachments.push(attachment);
        }
    }
}

/// The attachments of a message to send, each once, in the order given.
///
/// # Errors
/// The most a message may carry, when there are more.
pub fn checked_ids(ids: &[AttachmentId]) -> Result<Vec<AttachmentId>, usize> {
    let mut distinct: Vec<AttachmentId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !distinct.contains(id) {
            distinct.push(*id);
        }
    }
    if distinct.len() > MAX_ATTACHMENTS_PER_MESSAGE {
        return Err(MAX_ATTACHMENTS_PER_MESSAGE);
    }
    Ok(distinct)
}
