//! [`Chat`]: the room rules, shared by HTTP handlers and STOMP sessions so that a message
//! posted either way is checked, stored and fanned out the same way.
//!
//! Every operation that others must hear of is *stored first, then published*: the
//! publication goes to the broker only after the store's commit returned, so nobody can see
//! a message that a crash could still lose (delivery rule 1).
//!
//! Messages are not stored one by one: [`Chat::post_message`] checks the rules and hands the
//! message to the commit pipeline (module `commit`), which commits it with the others waiting
//! and publishes them in commit order before answering.
//!
//! The rules reach the store, the broker and the commit pipeline; they never reach sessions,
//! HTTP or STOMP, so both edges get the same answers.

mod receipts;

use crate::broker::{Broker, ConnectionId, Publication, UserEvent};
use crate::commit::{publish_committed, CommitPipeline};
use crate::error::Error;
use crate::files::Files;
use crate::metrics::Metrics;
use crate::model::{
    mentioned_usernames, normalize_name, normalize_username, AttachmentId, Message, ReadMark, Room,
    RoomId, RoomKind, SearchHit, SearchResults, Seq, User, UserId, MAX_GROUP_NAME_CHARS,
};
use crate::push::Push;
pub use crate::store::RoomCursor;
use crate::store::{
    Change, MessageChange, MessageSearch, NewMessage, Page, RoomsPage, Store, StoreError,
};
use receipts::{Offer, ReceiptWindows, RECEIPT_WINDOW};
use std::sync::Arc;
use std::time::Duration;

/// Changes in one page of `GET /api/rooms/{id}/changes` when the caller does not say.
pub const CHANGES_DEFAULT_LIMIT: u32 = 50;
/// The largest page of changes one request may ask for.
pub const CHANGES_MAX_LIMIT: u32 = 200;

/// Default and maximum page sizes of message history.
pub const HISTORY_DEFAULT_LIMIT: u32 = 50;
/// The largest page of history one request may ask for.
pub const HISTORY_MAX_LIMIT: u32 = 200;
/// Rooms in one page of `GET /api/rooms` when the caller does not ask for fewer: a user added
/// to thousands of groups gets its list in pages, not in one answer of megabytes.
pub const ROOMS_MAX_LIMIT: u32 = 200;
/// Hits in one page of `GET /api/search` when the caller does not ask for fewer.
pub const SEARCH_DEFAULT_LIMIT: u32 = 20;
/// The most hits in one page of `GET /api/search`.
pub const SEARCH_MAX_LIMIT: u32 = 50;

/// A message search as a client asks for it (`GET /api/search`), before the rules check it.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// The words to find (`q`).
    pub q: String,
    /// Only this room, of which the caller must be a member.
    pub room: Option<RoomId>,
    /// Only messages from the user with this username.
    pub sender: Option<String>,
    /// The `next` cursor of the previous page.
    pub before: Option<String>,
    /// Hits per page (default [`SEARCH_DEFAULT_LIMIT`], at most [`SEARCH_MAX_LIMIT`]).
    pub limit: Option<u32>,
}
/// Most members a group may be created or extended with in one request.
pub const MAX_MEMBERS_PER_REQUEST: usize = 256;

/// Longest emoji of a reaction, in bytes: enough for the longest emoji sequences (family and
/// flag ZWJ sequences run to about 35 bytes), far too short for a message hidden in one.
pub const MAX_EMOJI_BYTES: usize = 64;

/// The message a new one answers, as the client named it: a `seq` of the same room, or a room
/// and `seq` (`{"roomId","seq"}`), whose room must be the one posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTarget {
    /// The room the client named, if it named one.
    pub room: Option<RoomId>,
    /// The answered message's `seq`.
    pub seq: Seq,
}

impl ReplyTarget {
    /// Reads `replyTo` from a request body: a positive integer, or `{"roomId": N, "seq": N}`.
    ///
    /// # Errors
    /// `Invalid` for anything else (0, negative, fractional, a string, an object without both).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Error> {
        let invalid = || Error::Invalid("replyTo is a message's seq, or {roomId, seq}".into());
        let positive = |value: Option<&serde_json::Value>| {
            value
                .and_then(serde_json::Value::as_u64)
                .filter(|n| *n > 0)
                .ok_or_else(invalid)
        };
        match value {
            serde_json::Value::Object(fields) => Ok(ReplyTarget {
                room: Some(RoomId(
                    i64::try_from(positive(fields.get("roomId"))?).map_err(|_| invalid())?,
                )),
                seq: Seq(positive(fields.get("seq"))?),
            }),
            number => Ok(ReplyTarget {
                room: None,
                seq: Seq(positive(Some(number))?),
            }),
        }
    }

    /// Reads the `reply-to` header of a `text/plain` SEND: a positive integer.
    ///
    /// # Errors
    /// `Invalid` for anything else.
    pub fn from_header(value: &str) -> Result<Self, Error> {
        match value.trim().parse::<u64>() {
            Ok(seq) if seq > 0 => Ok(ReplyTarget {
                room: None,
                seq: Seq(seq),
            }),
            _ => Err(Error::Invalid("reply-to is a message's seq".into())),
        }
    }
}

/// A message as a client posts it, before the rules check it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// The text; mentions are found in it.
    pub text: String,
    /// The sender's idempotency key.
    pub client_msg_id: Option<String>,
    /// The message it answers, if any.
    pub reply_to: Option<ReplyTarget>,
    /// Files uploaded before to the room, to send with the text.
    pub attachments: Vec<AttachmentId>,
}

/// Checks a reaction's emoji: at most [`MAX_EMOJI_BYTES`], and nothing a word or a hidden
/// message is made of (spaces, control characters, ASCII letters or digits).
///
/// # Errors
/// `TooLarge`, `InvalidEmoji`.
pub fn check_emoji(emoji: &str) -> Result<(), Error> {
    if emoji.len() > MAX_EMOJI_BYTES {
        return Err(Error::TooLarge(format!(
            "an emoji has at most {MAX_EMOJI_BYTES} bytes"
        )));
    }
    if emoji.is_empty()
        || emoji
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c.is_ascii_alphanumeric())
    {
        return Err(Error::InvalidEmoji(
            "an emoji has no spaces, control characters, ASCII letters or digits".into(),
        ));
    }
    Ok(())
}

/// Publishes `user`'s read mark `seq` to the members of `room` as they are now; nothing when
/// `user` left meanwhile. A store failure loses only this event: clients reload the marks
/// whenever they open the room.
async fn publish_read(
    store: &dyn Store,
    broker: &dyn Broker,
    room: RoomId,
    user: UserId,
    seq: Seq,
) {
    let members = match store.member_ids(room).await {
        Ok(members) => members,
        Err(err) => {
            tracing::warn!(error = %err, room = %room, "read receipt not published");
            return;
        }
    };
    if !members.contains(&user) {
        return;
    }
    publish_committed(
        broker,
        Publication::Read {
            room_id: room,
            user_id: user,
            seq,
            members,
        },
    )
    .await;
}

/// Room rules over the store and the broker.
#[derive(Clone)]
pub struct Chat {
    store: Arc<dyn Store>,
    broker: Arc<dyn Broker>,
    /// Where messages are committed and published, in batches.
    pipeline: CommitPipeline,
    max_message_chars: usize,
    /// How long after `sentAt` a message may be edited; `None`: always.
    edit_window: Option<Duration>,
    /// Where attachments' bytes are, to delete a deleted message's; `None`: no attachments.
    files: Option<Files>,
    /// The pacing of read mark events (see `receipts`).
    receipts: Arc<ReceiptWindows>,
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat").finish_non_exhaustive()
    }
}

impl Chat {
    /// Builds the service and starts its commit pipeline, which ends when the last clone of
    /// the service is dropped. Must be called inside a Tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        metrics: Arc<Metrics>,
        max_message_chars: usize,
        commit_window: Duration,
        push: Option<Push>,
    ) -> Self {
        let pipeline =
            CommitPipeline::start(store.clone(), broker.clone(), metrics, commit_window, push);
        Chat {
            store,
            broker,
            pipeline,
            max_message_chars,
            edit_window: None,
            files: None,
            receipts: Arc::default(),
        }
    }

    /// The same service with an edit window (`--edit-window-secs`): an edit of a message older
    /// than `window` is refused with `edit_window_closed`. `None`: always editable.
    pub fn with_edit_window(mut self, window: Option<Duration>) -> Self {
        self.edit_window = window;
        self
    }

    /// The same service with the attachments' storage, whose objects a deleted message's
    /// attachments leave behind.
    pub fn with_files(mut self, files: Files) -> Self {
        self.files = Some(files);
        self
    }

    /// The store itself, for tests and tools that seed or inspect state. The server's edges
    /// never use it (`scripts/check-layers` holds them to that): they go through the methods
    /// here, which keep the rules.
    #[doc(hidden)]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The room's newest `seq` (0 when empty): where a live subscription starts.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn last_seq(&self, room: RoomId) -> Result<Seq, Error> {
        Ok(self.store.last_seq(room).await?)
    }

    /// Up to `limit` stored messages of `room` with `after < seq < before`, oldest first: the
    /// pages of a `since-seq` replay or a gap fill. The caller has checked that its user may
    /// read the room.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn messages_between(
        &self,
        room: RoomId,
        after: Seq,
        before: Seq,
        limit: u32,
    ) -> Result<Vec<Message>, Error> {
        let page = Page {
            before: Some(before),
            after: Some(after),
            limit,
        };
        Ok(self.store.messages(room, page).await?)
    }

    async fn publish(&self, publication: Publication) {
        publish_committed(self.broker.as_ref(), publication).await;
    }

    /// Answers `Ok` when `user` is a member of `room`.
    ///
    /// # Errors
    /// `NotFound` without such a room, `Forbidden` for a non-member.
    pub async fn require_member(&self, user: UserId, room: RoomId) -> Result<RoomKind, Error> {
        let kind = self
            .store
            .room_kind(room)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no room {room}")))?;
        if !self.store.is_member(room, user).await? {
            return Err(Error::Forbidden(format!(
                "you are not a member of room {room}"
            )));
        }
        Ok(kind)
    }

    /// Stores a message and fans it out; a repeated `client_msg_id` returns the stored one.
    ///
    /// # Errors
    /// `Invalid` (empty text, bad client id), `TooLarge`, `NotFound`, `Forbidden`.
    pub async fn post_message(
        &self,
        sender: &User,
        room: RoomId,
        text: &str,
        client_msg_id: Option<&str>,
    ) -> Result<Message, Error> {
        let draft = Draft {
            text: text.to_string(),
            client_msg_id: client_msg_id.map(str::to_string),
            ..Draft::default()
        };
        self.post(sender, room, draft).await
    }

    /// Stores a message with what it may carry besides its text (a reply, mentions found in
    /// the text, attachments: the sender's unsent uploads to the room, at most 10, linked to
    /// the message in its transaction) and fans it out; a repeated `client_msg_id` returns the
    /// stored one. With attachments the text may be empty.
    ///
    /// # Errors
    /// `Invalid` (empty text, bad client id, bad reply), `TooLarge` (text, or more than 10
    /// attachments), `NotFound`, `Forbidden`, `ReplyOtherRoom`, `ReplyNotFound`, `Deleted` (a
    /// reply to a deleted message), `MentionNotMember`, `InvalidAttachment`.
    pub async fn post(&self, sender: &User, room: RoomId, draft: Draft) -> Result<Message, Error> {
        let attachments = crate::store::attachments::checked_ids(&draft.attachments)
            .map_err(|max| Error::TooLarge(format!("a message has at most {max} attachments")))?;
        if attachments.is_empty()
            || !draft.text.trim().is_empty()
            || draft.text.chars().count() > self.max_message_chars
        {
            self.check_text(&draft.text)?;
        }
        if let Some(id) = &draft.client_msg_id {
            if id.is_empty() || id.len() > 128 {
                return Err(Error::Invalid("client-msg-id has 1 to 128 bytes".into()));
            }
        }
        if let Some(ReplyTarget {
            room: Some(other), ..
        }) = draft.reply_to
        {
            if other != room {
                return Err(Error::ReplyOtherRoom(
                    "a reply answers a message of the same room".into(),
                ));
            }
        }
        let mentions = self.mentions(sender, room, &draft.text).await?;
        // The store checks membership (and the answered message) inside the transaction; only
        // a refusal needs the second look that tells "no such room" (404) from "not a member"
        // (403). The hot path makes no extra query.
        let message = NewMessage {
            room_id: room,
            sender: sender.clone(),
            text: draft.text,
            client_msg_id: draft.client_msg_id,
            reply_to: draft.reply_to.map(|target| target.seq),
            mentions,
            attachments,
        };
        match self.pipeline.commit(message).await {
            Ok(inserted) => Ok(inserted.message),
            Err(StoreError::NotMember) => {
                self.require_member(sender.id, room).await?;
                Err(Error::Forbidden(format!(
                    "you are not a member of room {room}"
                )))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The members `text` mentions (`@username`), in id order, the sender left out. A text
    /// without an `@` costs no query; one with candidates costs two (the named users, the
    /// room's members), read before the commit: a member who leaves in between is still
    /// mentioned, as if they had left just after.
    ///
    /// # Errors
    /// `MentionNotMember` for a registered user who is not a member of the room.
    async fn mentions(
        &self,
        sender: &User,
        room: RoomId,
        text: &str,
    ) -> Result<Vec<UserId>, Error> {
        let names = mentioned_usernames(text);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let named = self.store.users_by_username(&names).await?;
        if named.is_empty() {
            return Ok(Vec::new());
        }
        let members = self.store.member_ids(room).await?;
        if !members.contains(&sender.id) {
            // The store refuses the message itself (forbidden, or no such room).
            return Ok(Vec::new());
        }
        let mut mentions = Vec::with_capacity(named.len());
        for name in &names {
            let Some(user) = named.iter().find(|u| u.username == *name) else {
                continue;
            };
            if user.id == sender.id {
                continue;
            }
            if !members.contains(&user.id) {
                return Err(Error::MentionNotMember(format!(
                    "@{name} is not a member of this room"
                )));
            }
            mentions.push(user.id);
        }
        mentions.sort_unstable();
        mentions.dedup();
        Ok(mentions)
    }

    /// Checks a message text: some text, at most the configured length.
    fn check_text(&self, text: &str) -> Result<(), Error> {
        if text.trim().is_empty() {
            return Err(Error::Invalid("a message needs some text".into()));
        }
        if text.chars().count() > self.max_message_chars {
            return Err(Error::TooLarge(format!(
                "a message has at most {} characters",
                self.max_message_chars
            )));
        }
        Ok(())
    }

    /// Replaces the text of `user`'s message `seq` in `room` and tells the room; the same text
    /// again changes nothing (no new `rev`). Answers after the commit.
    ///
    /// # Errors
    /// `Invalid` (empty text), `TooLarge`, `NotFound` (no such room or message), `Forbidden`
    /// (not a member), `NotAuthor`, `Deleted`, `EditWindowClosed`.
    pub async fn edit_message(
        &self,
        user: &User,
        room: RoomId,
        seq: Seq,
        text: &str,
    ) -> Result<Message, Error> {
        self.check_text(text)?;
        let mentions = self.mentions(user, room, text).await?;
        self.change_message(user, room, seq, Change::Edit(text.to_string()), mentions)
            .await
    }

    /// Deletes `user`'s message `seq` in `room` for everyone (it becomes a tombstone) and tells
    /// the room; deleting a tombstone again answers it unchanged. Answers after the commit.
    ///
    /// # Errors
    /// `NotFound` (no such room or message), `Forbidden` (not a member), `NotAuthor`.
    pub async fn delete_message(
        &self,
        user: &User,
        room: RoomId,
        seq: Seq,
    ) -> Result<Message, Error> {
        self.change_message(user, room, seq, Change::Delete, Vec::new())
            .await
    }

    /// Adds (`add`) or takes back `user`'s reaction `emoji` to message `seq` of `room` and
    /// tells the room; adding one that is there, or taking back one that is not, answers the
    /// message unchanged (no new `rev`). Answers after the commit.
    ///
    /// # Errors
    /// `TooLarge` (a long emoji, or a 21st distinct one), `InvalidEmoji`, `NotFound`,
    /// `Forbidden`, `Deleted`.
    pub async fn react(
        &self,
        user: &User,
        room: RoomId,
        seq: Seq,
        emoji: &str,
        add: bool,
    ) -> Result<Message, Error> {
        check_emoji(emoji)?;
        let change = Change::React {
            emoji: emoji.to_string(),
            add,
        };
        self.change_message(user, room, seq, change, Vec::new())
            .await
    }

    async fn change_message(
        &self,
        user: &User,
        room: RoomId,
        seq: Seq,
        change: Change,
        mentions: Vec<UserId>,
    ) -> Result<Message, Error> {
        // A moderator's delete would be a delete by someone other than the author, allowed by
        // the actor's role in the room; today only authors change their messages.
        let change = MessageChange {
            room_id: room,
            seq,
            actor: user.id,
            change,
            edit_window_millis: self
                .edit_window
                .map(|window| i64::try_from(window.as_millis()).unwrap_or(i64::MAX)),
            mentions,
        };
        match self.pipeline.change(change).await {
            Ok(changed) => {
                self.delete_files_later(changed.removed_objects);
                Ok(changed.message)
            }
            Err(StoreError::NotMember) => Err(Error::Forbidden(format!(
                "you are not a member of room {room}"
            ))),
            Err(err) => Err(err.into()),
        }
    }

    /// Deletes the stored objects of a deleted message's attachments, after the commit that
    /// removed their rows; a failure is logged, not the delete's.
    fn delete_files_later(&self, keys: Vec<String>) {
        if let (Some(files), false) = (self.files.clone(), keys.is_empty()) {
            tokio::spawn(async move { files.delete_logged(&keys).await });
        }
    }

    /// Up to `limit` (default [`CHANGES_DEFAULT_LIMIT`], at most [`CHANGES_MAX_LIMIT`])
    /// messages of `room` changed after revision `after`, ascending by `rev`.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn changes(
        &self,
        user: UserId,
        room: RoomId,
        after: u64,
        limit: Option<u32>,
    ) -> Result<Vec<Message>, Error> {
        self.require_member(user, room).await?;
        let limit = limit
            .unwrap_or(CHANGES_DEFAULT_LIMIT)
            .clamp(1, CHANGES_MAX_LIMIT);
        Ok(self.store.changes(room, after, None, limit).await?)
    }

    /// Up to `limit` messages of `room` with `seq <= upto` changed after revision `after`,
    /// ascending by `rev`: the pages of a `since-rev` replay. The caller has checked that its
    /// user may read the room.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn changes_upto(
        &self,
        room: RoomId,
        after: u64,
        upto: Seq,
        limit: u32,
    ) -> Result<Vec<Message>, Error> {
        Ok(self.store.changes(room, after, Some(upto), limit).await?)
    }

    /// A page of history.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn history(
        &self,
        user: UserId,
        room: RoomId,
        before: Option<Seq>,
        after: Option<Seq>,
        limit: Option<u32>,
    ) -> Result<Vec<Message>, Error> {
        self.require_member(user, room).await?;
        let limit = limit
            .unwrap_or(HISTORY_DEFAULT_LIMIT)
            .clamp(1, HISTORY_MAX_LIMIT);
        Ok(self
            .store
            .messages(
                room,
                Page {
                    before,
                    after,
                    limit,
                },
            )
            .await?)
    }

    /// Marks `room` read up to `seq` for `user` and tells the user's other connections; when
    /// the mark moved, the room's viewers hear of it too (paced, see `receipts`).
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn mark_read(
        &self,
        user: UserId,
        room: RoomId,
        seq: Seq,
        origin: Option<ConnectionId>,
    ) -> Result<Seq, Error> {
        self.require_member(user, room).await?;
        let marked = self.store.mark_read(room, user, seq).await?;
        self.publish(Publication::ToUser {
            user_id: user,
            event: UserEvent::Read {
                room_id: room,
                seq: marked.mark,
            },
            except: origin,
        })
        .await;
        if marked.advanced {
            self.tell_read(room, user, marked.mark).await;
        }
        Ok(marked.mark)
    }

    /// Every member's read mark in `room`, for a member: what "seen by" is counted from.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden` (a member who left no longer sees the others' marks).
    pub async fn read_marks(&self, user: UserId, room: RoomId) -> Result<Vec<ReadMark>, Error> {
        self.require_member(user, room).await?;
        Ok(self.store.read_marks(room).await?)
    }

    /// Tells the room's members (their connections showing the room) that `user`'s mark is
    /// `seq` now: at once when no window of that member and room is open, else when it closes,
    /// with the highest mark it saw.
    async fn tell_read(&self, room: RoomId, user: UserId, seq: Seq) {
        if self.receipts.offer(room, user, seq) == Offer::Wait {
            return;
        }
        publish_read(self.store.as_ref(), self.broker.as_ref(), room, user, seq).await;
        let (store, broker, receipts) = (
            self.store.clone(),
            self.broker.clone(),
            self.receipts.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RECEIPT_WINDOW).await;
                let Some(seq) = receipts.close(room, user) else {
                    break;
                };
                publish_read(store.as_ref(), broker.as_ref(), room, user, seq).await;
            }
        });
    }

    /// Tells the room's viewers that `user` is typing.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn typing(
        &self,
        user: &User,
        room: RoomId,
        origin: ConnectionId,
    ) -> Result<(), Error> {
        let members = self.store.member_ids(room).await?;
        if !members.contains(&user.id) {
            self.require_member(user.id, room).await?;
        }
        self.publish(Publication::Typing {
            room_id: room,
            user: user.clone(),
            members,
            origin,
        })
        .await;
        Ok(())
    }

    /// The room as `user` sees it.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn room(&self, user: UserId, room: RoomId) -> Result<Room, Error> {
        self.require_member(user, room).await?;
        self.store
            .room(room, user)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no room {room}")))
    }

    /// Mutes (or unmutes) `room` for `user`: no push and quiet notifications for its messages,
    /// unless they mention `user`. The user's other connections hear of it as a room event,
    /// so every open tab shows the room muted. Returns the room as `user` sees it now.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn set_muted(&self, user: UserId, room: RoomId, muted: bool) -> Result<Room, Error> {
        self.require_member(user, room).await?;
        self.store.set_muted(room, user, muted).await?;
        tracing::info!(user = %user, room = %room, muted, "room mute set");
        self.announce_room(room, &[user]).await?;
        self.room(user, room).await
    }

    /// A page of the user's rooms, latest activity first: at most `limit` (default and
    /// maximum [`ROOMS_MAX_LIMIT`]), starting after `after`.
    ///
    /// # Errors
    /// Backend failures only.
    pub async fn rooms(
        &self,
        user: UserId,
        after: Option<RoomCursor>,
        limit: Option<u32>,
    ) -> Result<RoomsPage, Error> {
        let limit = limit.unwrap_or(ROOMS_MAX_LIMIT).clamp(1, ROOMS_MAX_LIMIT);
        Ok(self.store.rooms_of(user, after, limit).await?)
    }

    /// Searches the text of the messages of every room `user` is a member of now (and only
    /// those: a room left is no longer searched), newest first, tombstones never.
    ///
    /// # Errors
    /// `Invalid` for a bad query or cursor; `NotFound` or `Forbidden` for a room filter naming
    /// no room or a room the caller is not a member of.
    pub async fn search(
        &self,
        user: UserId,
        request: SearchRequest,
    ) -> Result<SearchResults, Error> {
        let words = crate::search::query_words(&request.q)?;
        let before = request
            .before
            .as_deref()
            .map(crate::search::parse_cursor)
            .transpose()?;
        if let Some(room) = request.room {
            self.require_member(user, room).await?;
        }
        let sender = match request.sender.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => {
                let name = name.to_lowercase();
                let found = self.store.users_by_username(&[name]).await?;
                match found.first() {
                    Some(sender) => Some(sender.id),
                    // Nobody by that name: nothing they sent to find.
                    None => {
                        return Ok(SearchResults {
                            results: Vec::new(),
                            next: None,
                        })
                    }
                }
            }
        };
        let limit = request
            .limit
            .unwrap_or(SEARCH_DEFAULT_LIMIT)
            .clamp(1, SEARCH_MAX_LIMIT);
        let found = self
            .store
            .search_messages(MessageSearch {
                user,
                words: words.clone(),
                room: request.room,
                sender,
                before,
                limit,
            })
            .await?;
        Ok(SearchResults {
            results: found
                .hits
                .into_iter()
                .map(|(room, message)| SearchHit {
                    snippet: crate::search::snippet(&message.text, &words),
                    room,
                    message,
                })
                .collect(),
            next: found.next.map(crate::search::cursor),
        })
    }

    /// The direct room of `me` and `username`; `true` when created now.
    ///
    /// # Errors
    /// `NotFound` for an unknown user, `Invalid` for oneself.
    pub async fn open_direct(&self, me: &User, username: &str) -> Result<(Room, bool), Error> {
        let other = self.direct_partner(me, username).await?;
        let (room, created) = self.store.direct_room(me.id, other.id).await?;
        if created {
            self.announce_room(room, &[me.id, other.id]).await?;
        }
        Ok((self.room(me.id, room).await?, created))
    }

    /// The direct room of `me` and `username` if it exists already; never creates one (for a
    /// user out of new rooms, who may still reopen an old one).
    ///
    /// # Errors
    /// `NotFound` for an unknown user, `Invalid` for oneself.
    pub async fn existing_direct(&self, me: &User, username: &str) -> Result<Option<Room>, Error> {
        let other = self.direct_partner(me, username).await?;
        match self.store.find_direct_room(me.id, other.id).await? {
            Some(room) => Ok(Some(self.room(me.id, room).await?)),
            None => Ok(None),
        }
    }

    async fn direct_partner(&self, me: &User, username: &str) -> Result<User, Error> {
        let other = self
            .resolve_users(std::slice::from_ref(&username.to_string()))
            .await?
            .pop()
            .ok_or_else(|| Error::NotFound(format!("no user named {username}")))?;
        if other.id == me.id {
            return Err(Error::Invalid("a direct room needs another user".into()));
        }
        Ok(other)
    }

    /// Creates a group of `me` and `members`.
    ///
    /// # Errors
    /// `Invalid` name, `NotFound` unknown member, `TooLarge` too many members.
    pub async fn create_group(
        &self,
        me: &User,
        name: &str,
        members: &[String],
    ) -> Result<Room, Error> {
        let name =
            normalize_name(name, "group name", MAX_GROUP_NAME_CHARS).map_err(Error::Invalid)?;
        let users = self.resolve_users(members).await?;
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        let room = self.store.create_group(&name, me.id, &ids).await?;
        let mut everyone = self.store.member_ids(room).await?;
        everyone.sort();
        self.announce_room(room, &everyone).await?;
        self.room(me.id, room).await
    }

    /// Adds members to a group and announces the room to every member.
    ///
    /// # Errors
    /// `Invalid` for a direct room, `NotFound`, `Forbidden`.
    pub async fn add_members(
        &self,
        me: &User,
        room: RoomId,
        members: &[String],
    ) -> Result<Room, Error> {
        if self.require_member(me.id, room).await? == RoomKind::Direct {
            return Err(Error::Invalid("members can only be added to groups".into()));
        }
        let users = self.resolve_users(members).await?;
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        let added = self.store.add_members(room, &ids).await?;
        if !added.is_empty() {
            let everyone = self.store.member_ids(room).await?;
            self.announce_room(room, &everyone).await?;
        }
        self.room(me.id, room).await
    }

    /// Renames a group and announces the room, as each member sees it, to every member's
    /// notification queue (the same `room` event an added member gets), so that room lists and
    /// open chats follow on every connection, whatever room it shows.
    ///
    /// # Errors
    /// `Invalid` for a bad name or a direct room (its name is the other member's), `NotFound`,
    /// `Forbidden` for a non-member (one who left included).
    pub async fn rename_group(&self, me: &User, room: RoomId, name: &str) -> Result<Room, Error> {
        let name =
            normalize_name(name, "group name", MAX_GROUP_NAME_CHARS).map_err(Error::Invalid)?;
        if self.require_member(me.id, room).await? == RoomKind::Direct {
            return Err(Error::Invalid("a direct room cannot be renamed".into()));
        }
        if !self.store.rename_group(room, &name).await? {
            return Err(Error::NotFound(format!("no room {room}")));
        }
        let everyone = self.store.member_ids(room).await?;
        self.announce_room(room, &everyone).await?;
        self.room(me.id, room).await
    }

    /// Leaves a group.
    ///
    /// # Errors
    /// `Invalid` for a direct room, `NotFound`, `Forbidden`.
    pub async fn leave(&self, me: &User, room: RoomId) -> Result<(), Error> {
        if self.require_member(me.id, room).await? == RoomKind::Direct {
            return Err(Error::Invalid("a direct room cannot be left".into()));
        }
        self.store.remove_member(room, me.id).await?;
        self.publish(Publication::ToUser {
            user_id: me.id,
            event: UserEvent::Left { room_id: room },
            except: None,
        })
        .await;
        let others = self.store.member_ids(room).await?;
        self.announce_room(room, &others).await
    }

    /// Publishes the room, as each of `users` sees it, to that user's notification queue.
    async fn announce_room(&self, room: RoomId, users: &[UserId]) -> Result<(), Error> {
        for user in users {
            if let Some(view) = self.store.room(room, *user).await? {
                self.publish(Publication::ToUser {
                    user_id: *user,
                    event: UserEvent::Room(Box::new(view)),
                    except: None,
                })
                .await;
            }
        }
        Ok(())
    }

    /// Looks up usernames; every name must exist.
    async fn resolve_users(&self, usernames: &[String]) -> Result<Vec<User>, Error> {
        if usernames.len() > MAX_MEMBERS_PER_REQUEST {
            return Err(Error::TooLarge(format!(
                "at most {MAX_MEMBERS_PER_REQUEST} members at a time"
            )));
        }
        let mut names = Vec::with_capacity(usernames.len());
        for raw in usernames {
            let name = normalize_username(raw)
                .map_err(|_| Error::NotFound(format!("no user named {}", raw.trim())))?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let users = self.store.users_by_username(&names).await?;
        if let Some(missing) = names
            .iter()
            .find(|n| !users.iter().any(|u| &u.username == *n))
        {
            return Err(Error::NotFound(format!("no user named {missing}")));
        }
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reply_targets_are_positive_seqs_or_a_room_and_seq() {
        assert_eq!(
            ReplyTarget::from_json(&json!(5)).unwrap(),
            ReplyTarget {
                room: None,
                seq: Seq(5)
            }
        );
        assert_eq!(
            ReplyTarget::from_json(&json!({"roomId": 3, "seq": 5})).unwrap(),
            ReplyTarget {
                room: Some(RoomId(3)),
                seq: Seq(5)
            }
        );
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("5"),
            json!(null),
            json!({"seq": 5}),
            json!({"roomId": 3}),
        ] {
            assert!(
                matches!(ReplyTarget::from_json(&bad), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(ReplyTarget::from_header(" 7 ").unwrap().seq, Seq(7));
        assert!(ReplyTarget::from_header("0").is_err());
        assert!(ReplyTarget::from_header("x").is_err());
    }

    #[test]
    fn emoji_are_short_and_hold_no_words() {
        for good in ["👍", "❤️", "👨‍👩‍👧‍👦", "🇫🇷", "🎉🎉"] {
            assert!(check_emoji(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "+1", "👍 👍", "\u{7}", "ok👍"] {
            assert!(
                matches!(check_emoji(bad), Err(Error::InvalidEmoji(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            check_emoji(&"👍".repeat(10_000)),
            Err(Error::TooLarge(_))
        ));
        assert!(check_emoji(&"👍".repeat(16)).is_ok(), "64 bytes exactly");
    }
}
