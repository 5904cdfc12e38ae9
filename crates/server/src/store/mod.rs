//! Durable state behind one trait, [`Store`]: users, login sessions, rooms, memberships and
//! messages.
//!
//! The store is the single source of truth for ordering: `insert_messages` assigns each
//! message its room's next `seq` in the same transaction that stores it, so `seq` has no gaps
//! and a message with `seq = n` is committed only after every message with a smaller `seq` in
//! that room is. The room's row is the serialisation point: in SQLite the single writer holds
//! it, in PostgreSQL a row lock (`FOR UPDATE`, taken in room id order, so that nodes writing
//! to the same rooms never deadlock). The session's gap filling relies on exactly that.
//!
//! Edits and deletes ([`Store::change_message`]) take the same lock: each takes the room's next
//! `rev` (a second counter beside `last_seq`, gap-free per room) in the transaction that changes
//! the message, so "what changed since rev R" ([`Store::changes`]) is exact. A deleted message
//! keeps its row, with an empty body, so `seq` never has a gap.
//!
//! Implementations: [`sqlite::SqliteStore`] (the embedded default, one node) and
//! [`postgres::PostgresStore`] (`--database-url`, any number of nodes on one database).
//! Nothing above this module knows which one it talks to.
//!
//! What the backends share and what each has of its own:
//! - shared, here: the trait and its meaning (the one test suite in `store/tests.rs` runs
//!   against both), the rules that turn stored values into the model (`seq_from_column`,
//!   `kind_from_column`, `unread_from_column`) and that key them (`direct_key`,
//!   `like_prefix`);
//! - the same tables and columns with the same meaning, written once per dialect
//!   (`migrations/sqlite`, `migrations/postgres`);
//! - per backend: every SQL statement. The dialects differ where it matters (SQLite's
//!   `?1` parameters and one writer; PostgreSQL's `$1`, arrays with `UNNEST` for set-based
//!   writes, row locks, the database's own clock), so no statement text is shared.
//!
//! The store owns durable state and nothing else: it never reaches sessions, STOMP, the hub,
//! the broker or the room rules. It answers what is stored; who may ask is `rooms`' and
//! `auth`'s question, and who hears of a change is the broker's.

pub mod attachments;
pub mod postgres;
pub mod push;
pub mod sqlite;

pub use attachments::{NewAttachment, StoredAttachment};
pub use push::{NewPushSubscription, PushSubscriptionId, StoredPushSubscription};

/// One user's presence setting and last sighting, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceRow {
    /// The user.
    pub user: UserId,
    /// Whether others see its presence.
    pub visible: bool,
    /// When its last connection closed (Unix milliseconds), if ever.
    pub last_seen_at: Option<i64>,
}

use crate::model::{
    AttachmentId, Message, MessageId, Reaction, ReadMark, ReplyPreview, Room, RoomId, RoomKind,
    RoomSummary, Seq, User, UserId,
};
use async_trait::async_trait;

/// What a store can fail with, named by what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique thing exists already (username).
    #[error("{0}")]
    Conflict(String),
    /// The acting user is not a member of the room (checked inside the transaction).
    #[error("not a member of this room")]
    NotMember,
    /// A referenced thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The acting user is not the author of the message it wants to change.
    #[error("only its author may change a message")]
    NotAuthor,
    /// The message was deleted: there is no text left to edit.
    #[error("the message was deleted")]
    Deleted,
    /// The message is older than the edit window.
    #[error("the message can no longer be edited")]
    EditWindowClosed,
    /// A reply names a `seq` that no message of the room has (checked inside the transaction
    /// that stores the reply).
    #[error("the message replied to does not exist")]
    ReplyNotFound,
    /// A reply names a message that was deleted.
    #[error("the message replied to was deleted")]
    ReplyDeleted,
    /// A message has [`MAX_DISTINCT_REACTIONS`] distinct emoji already and this one is new.
    #[error("a message has at most {MAX_DISTINCT_REACTIONS} distinct reactions")]
    TooManyReactions,
    /// An attachment of a message is not the sender's unsent upload to its room.
    #[error("{0}")]
    InvalidAttachment(String),
    /// The database failed.
    #[error("store failure: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Backend(Box::new(err))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Backend(Box::new(err))
    }
}

/// A damaged row: a stored value the model has no place for.
fn damaged(what: String) -> StoreError {
    StoreError::Backend(format!("damaged row: {what}").into())
}

/// A `seq` read from a column. SQL integers are signed; a negative `seq` is a damaged row.
///
/// # Errors
/// [`StoreError::Backend`] for a negative value.
pub(crate) fn seq_from_column(value: i64) -> Result<Seq, StoreError> {
    Seq::try_from(value).map_err(|_| damaged(format!("negative seq {value}")))
}

/// A `seq` as a column value; a `seq` beyond SQL's integers (only a client's bound can be
/// one) means "after everything".
pub(crate) fn seq_to_column(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A room's kind read from a column: the one place kinds come from storage, so the server
/// never holds [`RoomKind::Other`]. The schema allows only the kinds the server knows; any
/// other name is a damaged row.
///
/// # Errors
/// [`StoreError::Backend`] for a kind the server does not know.
pub(crate) fn kind_from_column(name: &str) -> Result<RoomKind, StoreError> {
    RoomKind::from_name(name).ok_or_else(|| damaged(format!("unknown room kind {name:?}")))
}

/// An unread count read from a column; the schema never stores a negative one, and were one
/// there, nothing would be unread.
pub(crate) fn unread_from_column(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The key that makes one pair of users have one direct room, whoever asks and on whichever
/// node: the schema keeps it unique.
pub(crate) fn direct_key(a: UserId, b: UserId) -> String {
    format!("{}:{}", a.0.min(b.0), a.0.max(b.0))
}

/// The `LIKE` pattern (with `ESCAPE '\'`) for usernames that start with `prefix`: usernames
/// are stored lower case, and `%`, `_` and `\` in the prefix match only themselves.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut pattern: String = prefix
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    pattern.push('%');
    pattern
}

/// Most distinct emoji one message may carry: each is a line of its reactions, and a bot
/// adding thousands would make every page that holds the message heavy.
pub const MAX_DISTINCT_REACTIONS: usize = 20;

/// Characters of the answered message's text a reply preview carries: enough for a quote line,
/// never a whole long message repeated in every reply.
pub const REPLY_PREVIEW_CHARS: usize = 200;

/// The preview of an answered message as stored now: its text cut to
/// [`REPLY_PREVIEW_CHARS`] characters (a tombstone's text is empty already).
/// A reply's preview of `original`, which must carry its attachments (loaded) for the preview
/// to count them.
pub(crate) fn reply_preview(original: &Message) -> ReplyPreview {
    ReplyPreview {
        seq: original.seq,
        sender: original.sender.clone(),
        text: original.text.chars().take(REPLY_PREVIEW_CHARS).collect(),
        edited_at: original.edited_at.clone(),
        deleted_at: original.deleted_at.clone(),
        attachments: u32::try_from(original.attachments.len()).unwrap_or(u32::MAX),
    }
}

/// A message's reactions from its reaction rows read in the order they were stored: each
/// emoji where it was first used, its users in the order they reacted.
pub(crate) fn group_reactions(rows: impl IntoIterator<Item = (String, UserId)>) -> Vec<Reaction> {
    let mut reactions: Vec<Reaction> = Vec::new();
    for (emoji, user) in rows {
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) => {
                reaction.user_ids.push(user);
                reaction.count += 1;
            }
            None => reactions.push(Reaction {
                emoji,
                count: 1,
                user_ids: vec![user],
            }),
        }
    }
    reactions
}

/// What an edit or delete does to a stored message, decided by [`plan_change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing to do (the same text again, or deleting a tombstone): no new `rev`.
    Unchanged,
    /// Take the room's next `rev` and store the change.
    Apply,
}

/// The rules of an edit or delete that need the stored message, the same for every backend:
/// only its author changes it; a tombstone is not edited (deleting it again changes nothing);
/// an edit must come within the edit window, counted from `sent_at_millis` to `now_millis`;
/// the same text again changes nothing. The caller has checked membership already.
///
/// # Errors
/// [`StoreError::NotAuthor`], [`StoreError::Deleted`], [`StoreError::EditWindowClosed`].
pub(crate) fn plan_change(
    message: &Message,
    change: &MessageChange,
    sent_at_millis: i64,
    now_millis: i64,
) -> Result<Plan, StoreError> {
    if let Change::React { emoji, add } = &change.change {
        // Anyone in the room reacts (membership was checked); the message's reactions are
        // loaded already.
        if message.is_deleted() {
            return Err(StoreError::Deleted);
        }
        let existing = message.reactions.iter().find(|r| r.emoji == *emoji);
        let mine = existing.is_some_and(|r| r.user_ids.contains(&change.actor));
        return match (add, mine) {
            (true, true) | (false, false) => Ok(Plan::Unchanged),
            (true, false)
                if existing.is_none() && message.reactions.len() >= MAX_DISTINCT_REACTIONS =>
            {
                Err(StoreError::TooManyReactions)
            }
            _ => Ok(Plan::Apply),
        };
    }
    if message.sender.id != change.actor {
        return Err(StoreError::NotAuthor);
    }
    match &change.change {
        Change::React { .. } => Ok(Plan::Apply),
        Change::Delete if message.is_deleted() => Ok(Plan::Unchanged),
        Change::Delete => Ok(Plan::Apply),
        Change::Edit(_) if message.is_deleted() => Err(StoreError::Deleted),
        Change::Edit(_)
            if change
                .edit_window_millis
                .is_some_and(|window| now_millis.saturating_sub(sent_at_millis) > window) =>
        {
            Err(StoreError::EditWindowClosed)
        }
        Change::Edit(text) if *text == message.text => Ok(Plan::Unchanged),
        Change::Edit(_) => Ok(Plan::Apply),
    }
}

/// The shortest word the trigram indexes answer (SQLite FTS5 `trigram`, PostgreSQL
/// `pg_trgm`): a word of fewer characters has no trigram to look up.
pub const SEARCH_INDEXED_CHARS: usize = 3;

/// How many of the caller's latest messages one search request looks through when no word of
/// the query is long enough for the index (`안녕`, `ok`): a bounded scan instead of a read of
/// every message the caller can see. A page answered from a scan may hold fewer hits than
/// asked, with a cursor to go on from where the scan stopped.
pub const SEARCH_SCAN_WINDOW: u32 = 5_000;

/// A search of message text over the rooms `user` is a member of now, as the store runs it.
/// The room rules have checked and normalised it.
#[derive(Debug, Clone)]
pub struct MessageSearch {
    /// Who searches: only rooms they are a member of now are searched.
    pub user: UserId,
    /// The words, lower case, distinct, none empty: a message matches when its text holds
    /// every one of them (as a substring, ignoring case).
    pub words: Vec<String>,
    /// Only this room (the caller is a member of it).
    pub room: Option<RoomId>,
    /// Only messages from this user.
    pub sender: Option<UserId>,
    /// Only messages with an id below this one (the cursor of the previous page).
    pub before: Option<MessageId>,
    /// At most this many hits (already clamped).
    pub limit: u32,
}

impl MessageSearch {
    /// The words the index can look up (three characters or more).
    pub(crate) fn indexed_words(&self) -> impl Iterator<Item = &str> {
        self.words
            .iter()
            .filter(|w| w.chars().count() >= SEARCH_INDEXED_CHARS)
            .map(String::as_str)
    }

    /// Whether some word is too short for the index: then candidates are checked word by word
    /// here, not by the database alone.
    pub(crate) fn has_short_words(&self) -> bool {
        self.words
            .iter()
            .any(|w| w.chars().count() < SEARCH_INDEXED_CHARS)
    }
}

/// A page of messages found, newest first.
#[derive(Debug, Clone, Default)]
pub struct FoundMessages {
    /// Each message (never a tombstone) with its room as the searcher sees it.
    pub hits: Vec<(RoomSummary, Message)>,
    /// Where the next page starts, when the search has more to look through.
    pub next: Option<MessageId>,
}

/// Whether `text` holds every one of `words` (lower case), ignoring case.
pub(crate) fn text_matches(text: &str, words: &[String]) -> bool {
    let folded = text.to_lowercase();
    words.iter().all(|w| folded.contains(w.as_str()))
}

/// Picks a page out of `candidates` (id and text, newest first; `more` when a `LIMIT` cut
/// them, so older ones may match too): the ids of the candidates that match every word, at
/// most `limit`, and where the next page starts. A full page continues after its last hit; a
/// short page of a cut read (the scan window, or the index's candidates, ran out before the
/// page filled) continues after the last candidate read; otherwise the search is over.
pub(crate) fn pick_page(
    candidates: &[(i64, String)],
    words: &[String],
    limit: u32,
    more: bool,
) -> (Vec<i64>, Option<MessageId>) {
    let limit = limit as usize;
    let mut ids = Vec::with_capacity(limit);
    for (id, text) in candidates {
        if text_matches(text, words) {
            if ids.len() == limit {
                let next = ids.last().map(|&id| MessageId(id));
                return (ids, next);
            }
            ids.push(*id);
        }
    }
    let next = if more {
        candidates.last().map(|(id, _)| MessageId(*id))
    } else {
        None
    };
    (ids, next)
}

/// The `ILIKE` pattern (with `ESCAPE '\'`) for text that contains `word`: `%`, `_` and `\`
/// in the word match only themselves.
pub(crate) fn like_contains(word: &str) -> String {
    let mut pattern = String::from("%");
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A user row with its password hash, for logging in.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// The argon2 PHC string; `None` for users that only sign in with application JWTs.
    pub password_hash: Option<String>,
}

/// Bounds for a page of history. `limit` is already clamped by the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page {
    /// Only messages with `seq < before`.
    pub before: Option<Seq>,
    /// Only messages with `seq > after`.
    pub after: Option<Seq>,
    /// At most this many.
    pub limit: u32,
}

/// A position in a user's room list, which is ordered by latest activity, newest first (ties
/// by id, highest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomCursor {
    /// The room's last activity, Unix milliseconds.
    pub last_activity: i64,
    /// The room's id.
    pub room: RoomId,
}

impl std::fmt::Display for RoomCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.last_activity, self.room)
    }
}

impl std::str::FromStr for RoomCursor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (activity, room) = s.split_once('.').ok_or(())?;
        Ok(RoomCursor {
            last_activity: activity.parse().map_err(|_| ())?,
            room: room.parse().map_err(|_| ())?,
        })
    }
}

/// One page of a user's rooms.
#[derive(Debug, Clone)]
pub struct RoomsPage {
    /// The rooms, latest activity first.
    pub rooms: Vec<Room>,
    /// Where the next page starts, when there is one.
    pub next: Option<RoomCursor>,
}

/// A message to store. Owned, because a batch of them is handed to the store's writer (for
/// SQLite a thread of its own) while the senders wait.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The room.
    pub room_id: RoomId,
    /// The sender, who must be a member.
    pub sender: User,
    /// The text, already validated.
    pub text: String,
    /// The sender's idempotency key.
    pub client_msg_id: Option<String>,
    /// The `seq` of the message of the same room this one answers. The store refuses the
    /// message ([`StoreError::ReplyNotFound`], [`StoreError::ReplyDeleted`]) when that message
    /// is missing or deleted at the commit, and stores the reply with its preview otherwise.
    pub reply_to: Option<Seq>,
    /// The members the text mentions (resolved by the room rules, the sender left out).
    pub mentions: Vec<UserId>,
    /// The sender's pending uploads to this room that the message carries.
    pub attachments: Vec<AttachmentId>,
}

/// What storing a message did.
#[derive(Debug, Clone)]
pub struct Inserted {
    /// The stored message (the earlier one, for a repeated `client_msg_id`).
    pub message: Message,
    /// `false` when the `client_msg_id` had been stored before: nothing new to deliver.
    pub created: bool,
    /// Every member with its unread count after this message (the sender's is 0).
    pub recipients: Vec<(UserId, u64)>,
    /// The members who muted the room, read by the same statement that counts their unread,
    /// so the commit pipeline needs no second read to keep their notifications quiet.
    pub muted: Vec<UserId>,
}

/// What to do to a stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Replace its text (already validated).
    Edit(String),
    /// Make it a tombstone: empty text, `deleted_at` set; its reactions and mentions go.
    Delete,
    /// Add (`add`) or take back the actor's reaction with `emoji` (already validated). Any
    /// member may react; no `edited_at`.
    React {
        /// The emoji, as sent.
        emoji: String,
        /// `true` adds, `false` takes back.
        add: bool,
    },
}

/// An edit or delete to apply, with who asks. The store checks the rules that need the stored
/// row, inside the transaction that applies it (membership, existence, authorship, the edit
/// window, a deleted message).
#[derive(Debug, Clone)]
pub struct MessageChange {
    /// The room.
    pub room_id: RoomId,
    /// The message's `seq` in the room.
    pub seq: Seq,
    /// Who asks: must be a member and the message's sender.
    pub actor: UserId,
    /// What to do.
    pub change: Change,
    /// How long after `sentAt` an edit is still allowed, in milliseconds; `None`: always.
    /// Deletes have no window.
    pub edit_window_millis: Option<i64>,
    /// For an edit: the members the new text mentions, which replace the old mentions.
    pub mentions: Vec<UserId>,
}

/// What applying a [`MessageChange`] did.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The message as it is now.
    pub message: Message,
    /// `false` when nothing changed (the same text again, or deleting a tombstone): no new
    /// `rev`, nothing to deliver.
    pub changed: bool,
    /// The room's members, who hear of the change.
    pub recipients: Vec<UserId>,
    /// The stored objects of the attachments a delete removed, to delete after the commit.
    pub removed_objects: Vec<String>,
}

/// What [`Store::mark_read`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkedRead {
    /// The read mark now in force.
    pub mark: Seq,
    /// Whether the call moved it forward (a repeated or older mark does not).
    pub advanced: bool,
}

/// Durable chat state. Methods are in CRUD order: users, sessions, rooms, members, messages.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a user with a password.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the username is taken.
    async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: Option<&str>,
    ) -> Result<User, StoreError>;

    /// Finds a user and its password hash by username.
    async fn user_credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError>;

    /// Returns the user, creating it on first use (JWT sign-in by an application backend).
    /// A `display_name` given updates the stored one. Only ever answers a user that a JWT
    /// created: identities from JWTs and from password sign-up never merge.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the username belongs to a password account.
    async fn upsert_user(
        &self,
        username: &str,
        display_name: Option<&str>,
    ) -> Result<User, StoreError>;

    /// Sets a user's display name (already validated) and answers the user as it is now;
    /// `None` when there is no such user.
    async fn update_display_name(
        &self,
        user: UserId,
        display_name: &str,
    ) -> Result<Option<User>, StoreError>;

    /// Replaces a password account's hash and forgets every other session of the user (all
    /// but the one whose token hashes to `keep`), in one transaction: a stolen session does
    /// not outlive the password it was opened with. Returns how many sessions were forgotten.
    async fn update_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: Option<&[u8]>,
    ) -> Result<u64, StoreError>;

    /// The user's users who share a room with it (itself included), each once: who hears of a
    /// change of its display name.
    async fn contact_ids(&self, user: UserId) -> Result<Vec<UserId>, StoreError>;

    /// Users whose username starts with `prefix`, alphabetically.
    async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<User>, StoreError>;

    /// Finds users by username; the result is in no particular order and skips unknown names.
    async fn users_by_username(&self, usernames: &[String]) -> Result<Vec<User>, StoreError>;

    /// Stores a login session by the hash of its token.
    async fn create_session(
        &self,
        token_hash: &[u8],
        user: UserId,
        expires_at_unix: i64,
    ) -> Result<(), StoreError>;

    /// The session's user and expiry (Unix seconds), if the hash is known.
    async fn session_user(&self, token_hash: &[u8]) -> Result<Option<(User, i64)>, StoreError>;

    /// Forgets a session; `true` if it existed.
    async fn delete_session(&self, token_hash: &[u8]) -> Result<bool, StoreError>;

    /// Log out everywhere: forgets every session of the user and refuses from now on its JWTs
    /// issued before `valid_after` (Unix seconds; see [`Store::tokens_valid_after`]), in one
    /// transaction. Returns how many sessions were forgotten.
    async fn revoke_tokens(&self, user: UserId, valid_after: i64) -> Result<u64, StoreError>;

    /// The instant (Unix seconds) before which the user's JWTs are refused, set by the last
    /// [`Store::revoke_tokens`]; `None` when it never logged out everywhere.
    async fn tokens_valid_after(&self, user: UserId) -> Result<Option<i64>, StoreError>;

    /// The direct room of two users, created if needed; `true` when created now.
    async fn direct_room(&self, a: UserId, b: UserId) -> Result<(RoomId, bool), StoreError>;

    /// The direct room of two users, if they have one (nothing is created).
    async fn find_direct_room(&self, a: UserId, b: UserId) -> Result<Option<RoomId>, StoreError>;

    /// Creates a group with `creator` and `members` (duplicates ignored).
    async fn create_group(
        &self,
        name: &str,
        creator: UserId,
        members: &[UserId],
    ) -> Result<RoomId, StoreError>;

    /// The room's kind, or `None` if there is no such room.
    async fn room_kind(&self, room: RoomId) -> Result<Option<RoomKind>, StoreError>;

    /// The room as `viewer` sees it (name, unread, read mark).
    async fn room(&self, room: RoomId, viewer: UserId) -> Result<Option<Room>, StoreError>;

    /// A page of `user`'s rooms, latest activity first: at most `limit`, only rooms after
    /// `after` in that order, and where the next page starts if there are more.
    async fn rooms_of(
        &self,
        user: UserId,
        after: Option<RoomCursor>,
        limit: u32,
    ) -> Result<RoomsPage, StoreError>;

    /// Renames a group (the name already validated); `false` when there is no such group
    /// (no room, or a direct one, which has no name of its own).
    async fn rename_group(&self, room: RoomId, name: &str) -> Result<bool, StoreError>;

    /// Adds members; returns the ones that were not members before.
    async fn add_members(&self, room: RoomId, users: &[UserId]) -> Result<Vec<UserId>, StoreError>;

    /// Removes a member; `true` if it was one.
    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;

    /// Whether `user` is a member of `room` now.
    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;

    /// The ids of the room's members.
    async fn member_ids(&self, room: RoomId) -> Result<Vec<UserId>, StoreError>;

    /// Every member's read mark in `room`, by user id: what "seen by" is counted from.
    async fn read_marks(&self, room: RoomId) -> Result<Vec<ReadMark>, StoreError>;

    /// Stores a batch of messages in one transaction (group commit: one fsync for all of
    /// them) and returns after the commit, one result per message in the batch's order. Each
    /// message gets its room's next `seq`, bumps the other members' unread counts and moves the
    /// sender's read mark to it. Within the batch, messages are stored in order, so two
    /// messages to one room get increasing `seq`s in batch order.
    ///
    /// The inner result refuses one message and stores nothing for it:
    /// [`StoreError::NotMember`] when the sender is not (or no longer) a member. The outer
    /// error means the whole batch failed and nothing of it is stored (unless the link to the
    /// database broke while its commit was on the way: then it may be stored whole, and a
    /// retry with the same `client_msg_id` finds it). Implementations return it without
    /// logging it; their one caller, the group commit, logs it once.
    async fn insert_messages(
        &self,
        batch: Vec<NewMessage>,
    ) -> Result<Vec<Result<Inserted, StoreError>>, StoreError>;

    /// Stores one message: [`Store::insert_messages`] with a batch of one.
    ///
    /// # Errors
    /// [`StoreError::NotMember`] when the sender is not (or no longer) a member.
    async fn insert_message(&self, new: NewMessage) -> Result<Inserted, StoreError> {
        self.insert_messages(vec![new])
            .await?
            .pop()
            .unwrap_or_else(|| Err(StoreError::Backend("the store answered no result".into())))
    }

    /// Applies an edit or delete in one transaction, under the room's write lock: checks the
    /// rules against the stored row, takes the room's next `rev`, and stamps it on the message
    /// with the new state. Returns after the commit.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] without such a room or message, [`StoreError::NotMember`],
    /// [`StoreError::NotAuthor`], [`StoreError::Deleted`] (an edit of a tombstone),
    /// [`StoreError::EditWindowClosed`].
    async fn change_message(&self, change: MessageChange) -> Result<Changed, StoreError>;

    /// Up to `limit` messages of `room` with `rev > after_rev` (and `seq <= upto`, when
    /// given), ascending by `rev`: the changes a client that was away has not seen.
    async fn changes(
        &self,
        room: RoomId,
        after_rev: u64,
        upto: Option<Seq>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;

    /// A page of history, ascending by `seq`; the newest page when no bound is given.
    async fn messages(&self, room: RoomId, page: Page) -> Result<Vec<Message>, StoreError>;

    /// The room's highest `seq` (0 when empty).
    async fn last_seq(&self, room: RoomId) -> Result<Seq, StoreError>;

    /// The highest `seq` of each of `rooms` that exists, in one set-based query: a node asks
    /// it every few seconds for every room its connections watch, so that a message committed
    /// and never published (its node died in between) still reaches them.
    async fn last_seqs(&self, rooms: &[RoomId]) -> Result<Vec<(RoomId, Seq)>, StoreError>;

    /// Moves `user`'s read mark forward to `seq` (clamped to the room's last `seq`, never
    /// backwards) and recounts unread, in time that does not grow with the room's history.
    /// Returns the read mark now in force, and whether this call moved it (only a move is worth
    /// telling the room).
    async fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: Seq,
    ) -> Result<MarkedRead, StoreError>;

    /// Messages of the rooms `search.user` is a member of now whose text holds every word,
    /// newest first (by id), tombstones never: one page and where the next one starts. Words
    /// of three characters or more are looked up in the trigram index; a query with none is
    /// answered from the latest [`SEARCH_SCAN_WINDOW`] messages below the cursor.
    async fn search_messages(&self, search: MessageSearch) -> Result<FoundMessages, StoreError>;

    /// Stores a pending attachment's row (its bytes are stored already) when `uploader` is a
    /// member of the room.
    ///
    /// # Errors
    /// [`StoreError::NotMember`].
    async fn insert_attachment(&self, new: NewAttachment) -> Result<StoredAttachment, StoreError>;

    /// An attachment's row, if there is one.
    async fn attachment(&self, id: AttachmentId) -> Result<Option<StoredAttachment>, StoreError>;

    /// Deletes up to `limit` pending attachments created before `created_before` (Unix
    /// milliseconds) and returns them, so that their objects can be deleted next.
    async fn delete_pending_attachments(
        &self,
        created_before: i64,
        limit: u32,
    ) -> Result<Vec<StoredAttachment>, StoreError>;

    /// Each of `users`' presence setting and when it was last seen (users unknown are left
    /// out): one query for a whole watch list.
    async fn presence_settings(&self, users: &[UserId]) -> Result<Vec<PresenceRow>, StoreError>;

    /// Whether others see `user`'s presence; `false` when there is no such user.
    async fn set_presence_visible(&self, user: UserId, visible: bool) -> Result<bool, StoreError>;

    /// Records when `user`'s last connection closed (Unix milliseconds).
    async fn set_last_seen(&self, user: UserId, at_millis: i64) -> Result<(), StoreError>;

    /// Those of `candidates` who share at least one room with `user` (`user` itself
    /// included when named): who `user` may watch the presence of.
    async fn sharing_a_room(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError>;

    /// Mutes or unmutes `room` for `user`.
    ///
    /// # Errors
    /// [`StoreError::NotMember`] when `user` is not a member.
    async fn set_muted(&self, room: RoomId, user: UserId, muted: bool) -> Result<(), StoreError>;

    /// Stores a push subscription, or moves an existing one (same endpoint) to this user with
    /// the new keys; keeps at most [`push::MAX_PUSH_SUBSCRIPTIONS_PER_USER`] per user (the
    /// oldest go).
    async fn upsert_push_subscription(
        &self,
        new: NewPushSubscription,
    ) -> Result<PushSubscriptionId, StoreError>;

    /// The push subscriptions of `users`, in one query.
    async fn push_subscriptions_of(
        &self,
        users: &[UserId],
    ) -> Result<Vec<StoredPushSubscription>, StoreError>;

    /// Deletes `user`'s subscription with this endpoint; `true` if there was one.
    async fn delete_push_subscription(
        &self,
        user: UserId,
        endpoint: &str,
    ) -> Result<bool, StoreError>;

    /// Deletes a subscription the push service said is gone (`404`/`410`).
    async fn delete_push_subscription_by_id(
        &self,
        id: PushSubscriptionId,
    ) -> Result<(), StoreError>;

    /// Records when a push to `id` last succeeded or failed (Unix milliseconds).
    async fn record_push_outcome(
        &self,
        id: PushSubscriptionId,
        succeeded: bool,
        at: i64,
    ) -> Result<(), StoreError>;

    /// The VAPID private key in force: `candidate` if none was stored yet (it is stored now),
    /// else the stored one, so that every node of a cluster signs with the first key made.
    async fn vapid_private_key(&self, candidate: &str) -> Result<String, StoreError>;

    /// Answers when the store is reachable (`/healthz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Flushes and closes the store (shutdown).
    async fn close(&self);
}

#[cfg(test)]
mod tests;
