//! Fixtures shared by the unit tests of several modules. Test code only.

use crate::model::{Message, MessageId, RoomId, Seq, User, UserId};

/// Message `seq` of `room`, from alice (user 1), as the store would return it.
pub(crate) fn message(room: i64, seq: u64) -> Message {
    Message {
        id: MessageId(i64::try_from(seq).unwrap_or(i64::MAX)),
        room_id: RoomId(room),
        seq: Seq(seq),
        sender: User {
            id: UserId(1),
            username: "alice".into(),
            display_name: "Alice".into(),
        },
        text: "hi".into(),
        sent_at: "2026-01-01T00:00:00.000Z".into(),
        client_msg_id: None,
        edited_at: None,
        deleted_at: None,
        rev: 0,
        reply_to: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        attachments: Vec::new(),
    }
}
