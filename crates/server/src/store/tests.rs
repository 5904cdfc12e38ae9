//! One suite for what the [`Store`] trait means, written once against `Arc<dyn Store>` and run
//! on every backend: SQLite in a temporary directory, PostgreSQL in a scratch database of its
//! own (created for the test and dropped after it).
//!
//! Besides each method's meaning, it holds the rules that matter once several nodes share one
//! database, with two stores on the same data standing for two nodes: concurrent writers to
//! one room give seqs 1..N without a gap or a repeat, a retry that reaches the other node gets
//! the first copy, and a direct room opened from both at once is one room.

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::*;
use crate::model::{Message, RoomId, Seq, User};
use sotong_testkit::ScratchDatabase;
use std::sync::Arc;
use std::time::Duration;

/// Where a backend under test keeps its data while the test runs.
enum Data {
    Sqlite(tempfile::TempDir),
    Postgres(Box<ScratchDatabase>),
}

/// A store under test, and the way to open another one on the same data: another node.
struct Backend {
    store: Arc<dyn Store>,
    data: Data,
    /// The same store when it is SQLite's, whose search index runs behind the commits.
    sqlite: Option<SqliteStore>,
}

impl Backend {
    async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(dir.path()).await.expect("sqlite store");
        Backend {
            store: Arc::new(store.clone()),
            data: Data::Sqlite(dir),
            sqlite: Some(store),
        }
    }

    async fn postgres() -> Backend {
        let database = ScratchDatabase::create().await;
        let store = PostgresStore::connect(database.url())
            .await
            .expect("postgres store");
        Backend {
            store: Arc::new(store),
            data: Data::Postgres(Box::new(database)),
            sqlite: None,
        }
    }

    /// Lets the search index take every message stored so far, where it runs behind the
    /// commits (SQLite's); for a test of what the index finds rather than of the backlog
    /// above its mark.
    async fn search_index_caught_up(&self) {
        if let Some(sqlite) = &self.sqlite {
            sqlite.index_search_now().await.expect("indexed");
        }
    }

    /// Another store on the same data, as a second node (or a restarted one) opens it.
    async fn another_node(&self) -> Arc<dyn Store> {
        match &self.data {
            Data::Sqlite(dir) => Arc::new(SqliteStore::open(dir.path()).await.expect("sqlite")),
            Data::Postgres(database) => Arc::new(
                PostgresStore::connect(database.url())
                    .await
                    .expect("postgres"),
            ),
        }
    }
}

/// Runs each suite function once per backend, as `on_sqlite::name` and `on_postgres::name`.
macro_rules! on_every_backend {
    ($($test:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::Backend::sqlite().await).await;
                }
            )+
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::Backend::postgres().await).await;
                }
            )+
        }
    };
}

on_every_backend!(
    a_taken_username_is_a_conflict,
    users_are_found_by_prefix_and_by_name,
    jwt_users_are_upserted_and_never_merge_with_password_users,
    sessions_are_stored_found_and_forgotten,
    passwords_names_and_revocations_change_the_account,
    groups_are_renamed_and_direct_rooms_are_not,
    a_direct_room_is_one_per_pair,
    groups_keep_their_members_and_start_newcomers_with_history_read,
    a_batch_refuses_a_non_member_and_stores_the_rest,
    a_stored_message_names_the_members_who_muted_its_room,
    history_comes_in_pages_by_seq_stamped_by_one_clock,
    unread_counts_follow_read_marks,
    rooms_come_latest_activity_first_in_pages,
    concurrent_writes_of_every_kind_all_commit,
    two_nodes_writing_to_one_room_give_seqs_without_gaps,
    a_retry_on_the_other_node_gets_the_first_copy,
    a_direct_room_opened_from_two_nodes_at_once_is_one_room,
    the_data_outlives_the_store,
    a_closed_store_refuses_reads_and_writes,
    edits_and_deletes_follow_the_rules_and_take_the_rooms_next_rev,
    two_nodes_changing_one_room_give_revs_without_gaps,
    replies_are_checked_in_the_transaction_and_preview_the_current_state,
    reactions_take_a_rev_only_when_they_change_something,
    mentions_are_stored_replaced_on_edit_and_counted_until_read,
    attachments_are_linked_in_the_batch_and_leave_with_a_delete,
    search_finds_korean_and_english_in_the_searchers_rooms_only,
    search_follows_edits_deletes_and_leaving,
    search_pages_without_gaps_or_repeats,
    search_of_short_words_scans_a_bounded_window,
);

pub(super) fn new_message(
    room: RoomId,
    sender: &User,
    text: &str,
    client_msg_id: Option<&str>,
) -> NewMessage {
    NewMessage {
        room_id: room,
        sender: sender.clone(),
        text: text.to_string(),
        client_msg_id: client_msg_id.map(str::to_string),
        reply_to: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    }
}

/// Stores `count` messages in `room` by `sender`, in batches as the group commit does.
async fn fill(store: &dyn Store, room: RoomId, sender: &User, count: usize) {
    for start in (0..count).step_by(100) {
        let batch = (start..(start + 100).min(count))
            .map(|i| new_message(room, sender, &format!("message {i}"), None))
            .collect();
        for result in store.insert_messages(batch).await.expect("batch") {
            result.expect("stored");
        }
    }
}

/// The whole history of `room`, oldest first.
async fn history(store: &dyn Store, room: RoomId) -> Vec<Message> {
    store
        .messages(
            room,
            Page {
                before: None,
                after: Some(Seq::ZERO),
                limit: 10_000,
            },
        )
        .await
        .expect("history")
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq.0).collect()
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

/// `sentAt` as Unix milliseconds; panics unless it is RFC 3339 in UTC with milliseconds.
fn sent_at_millis(message: &Message) -> i128 {
    let at = &message.sent_at;
    assert!(at.len() == 24 && at.ends_with('Z'), "{at}");
    let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{at}: {e}"));
    parsed.unix_timestamp_nanos() / 1_000_000
}

async fn a_taken_username_is_a_conflict(backend: &Backend) {
    let store = &backend.store;
    store
        .create_user("ana", "Ana", Some("hash"))
        .await
        .expect("first");
    let again = store.create_user("ana", "Ana", Some("hash")).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let jwt = store.upsert_user("ana", Some("Ana")).await;
    assert!(matches!(jwt, Err(StoreError::Conflict(_))), "{jwt:?}");
    store.close().await;
}

async fn users_are_found_by_prefix_and_by_name(backend: &Backend) {
    let store = &backend.store;
    let mut users = Vec::new();
    for name in ["ana", "anabel", "a_b", "axb", "bob"] {
        users.push(store.upsert_user(name, None).await.expect("user"));
    }
    let names = |found: Vec<User>| found.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(
        names(store.search_users("an", 10).await.expect("search")),
        ["ana", "anabel"]
    );
    assert_eq!(
        names(store.search_users("A", 10).await.expect("search")),
        ["a_b", "ana", "anabel", "axb"],
        "lower-cased, in byte order"
    );
    assert_eq!(
        names(store.search_users("a", 2).await.expect("search")),
        ["a_b", "ana"]
    );
    assert_eq!(
        names(store.search_users("a_", 10).await.expect("search")),
        ["a_b"],
        "`_` is itself, not any character"
    );
    assert!(store
        .search_users("%", 10)
        .await
        .expect("search")
        .is_empty());

    let found = store
        .users_by_username(&["bob".into(), "nobody".into(), "ana".into()])
        .await
        .expect("by name");
    assert_eq!(
        sorted(found.into_iter().map(|u| u.id).collect()),
        [users[0].id, users[4].id]
    );
    assert!(store
        .users_by_username(&[])
        .await
        .expect("none asked")
        .is_empty());
    store.close().await;
}

async fn jwt_users_are_upserted_and_never_merge_with_password_users(backend: &Backend) {
    let store = &backend.store;
    let jo = store.upsert_user("jo", None).await.expect("jo");
    assert_eq!(
        (jo.username.as_str(), jo.display_name.as_str()),
        ("jo", "jo")
    );
    let renamed = store.upsert_user("jo", Some("Jo")).await.expect("renamed");
    assert_eq!((renamed.id, renamed.display_name.as_str()), (jo.id, "Jo"));
    let again = store.upsert_user("jo", None).await.expect("again");
    assert_eq!(again, renamed, "no name given keeps the stored one");
    let credentials = store.user_credentials("jo").await.expect("read");
    assert_eq!(
        credentials.map(|c| (c.user, c.password_hash)),
        Some((renamed, None))
    );

    let pw = store
        .create_user("pw", "Pw", Some("hash"))
        .await
        .expect("pw");
    let credentials = store
        .user_credentials("pw")
        .await
        .expect("read")
        .expect("user");
    assert_eq!(credentials.user, pw);
    assert_eq!(credentials.password_hash.as_deref(), Some("hash"));
    assert!(matches!(
        store.upsert_user("pw", None).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store
        .user_credentials("nobody")
        .await
        .expect("read")
        .is_none());
    store.close().await;
}

async fn sessions_are_stored_found_and_forgotten(backend: &Backend) {
    let store = &backend.store;
    let user = store.upsert_user("sam", Some("Sam")).await.expect("user");
    store
        .create_session(b"token one", user.id, 42)
        .await
        .expect("session");
    assert_eq!(
        store.session_user(b"token one").await.expect("read"),
        Some((user, 42))
    );
    assert_eq!(store.session_user(b"token two").await.expect("read"), None);
    assert!(store.delete_session(b"token one").await.expect("delete"));
    assert!(!store.delete_session(b"token one").await.expect("again"));
    assert_eq!(store.session_user(b"token one").await.expect("read"), None);
    store.close().await;
}

async fn passwords_names_and_revocations_change_the_account(backend: &Backend) {
    let store = &backend.store;
    let pat = store
        .create_user("pat", "Pat", Some("old hash"))
        .await
        .expect("user");
    let jo = store.upsert_user("jo", Some("Jo")).await.expect("jwt user");
    for token in [&b"kept"[..], b"other", b"third"] {
        store
            .create_session(token, pat.id, i64::MAX / 2)
            .await
            .expect("session");
    }
    store
        .create_session(b"jo's", jo.id, i64::MAX / 2)
        .await
        .expect("session");

    let renamed = store
        .update_display_name(pat.id, "Patricia")
        .await
        .expect("rename")
        .expect("a user");
    assert_eq!(
        (renamed.id, renamed.display_name.as_str()),
        (pat.id, "Patricia")
    );
    assert_eq!(
        store
            .update_display_name(UserId(999_999), "Nobody")
            .await
            .expect("none"),
        None
    );

    // A new password ends every session but the kept one, and only this user's.
    assert_eq!(
        store
            .update_password(pat.id, "new hash", Some(b"kept"))
            .await
            .expect("password"),
        2
    );
    let credentials = store
        .user_credentials("pat")
        .await
        .expect("read")
        .expect("pat");
    assert_eq!(credentials.password_hash.as_deref(), Some("new hash"));
    assert!(store.session_user(b"kept").await.expect("read").is_some());
    assert!(store.session_user(b"other").await.expect("read").is_none());
    assert!(store.session_user(b"jo's").await.expect("read").is_some());
    assert!(matches!(
        store.update_password(jo.id, "hash", None).await,
        Err(StoreError::NotFound(_))
    ));

    // Log out everywhere: every session goes, and the instant only moves forward.
    assert_eq!(store.tokens_valid_after(pat.id).await.expect("read"), None);
    assert_eq!(store.revoke_tokens(pat.id, 1_000).await.expect("revoke"), 1);
    assert!(store.session_user(b"kept").await.expect("read").is_none());
    store
        .revoke_tokens(pat.id, 900)
        .await
        .expect("an earlier one");
    assert_eq!(
        store.tokens_valid_after(pat.id).await.expect("read"),
        Some(1_000)
    );
    assert_eq!(store.tokens_valid_after(jo.id).await.expect("read"), None);
    store.close().await;
}

async fn groups_are_renamed_and_direct_rooms_are_not(backend: &Backend) {
    let store = &backend.store;
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let c = store.upsert_user("c", None).await.expect("c");
    let group = store
        .create_group("Team", a.id, &[b.id])
        .await
        .expect("group");
    let (direct, _) = store.direct_room(a.id, c.id).await.expect("direct");
    assert!(store.rename_group(group, "Crew").await.expect("rename"));
    assert_eq!(
        store
            .room(group, b.id)
            .await
            .expect("read")
            .expect("room")
            .name,
        "Crew"
    );
    assert!(!store.rename_group(direct, "Us").await.expect("direct"));
    assert!(!store
        .rename_group(RoomId(999_999), "None")
        .await
        .expect("none"));
    let mut contacts = store.contact_ids(a.id).await.expect("contacts");
    contacts.sort();
    assert_eq!(contacts, vec![a.id, b.id, c.id]);
    assert_eq!(store.contact_ids(b.id).await.expect("b").len(), 2);
    store.close().await;
}

async fn a_direct_room_is_one_per_pair(backend: &Backend) {
    let store = &backend.store;
    let a = store.upsert_user("a", Some("Ann")).await.expect("a");
    let b = store.upsert_user("b", Some("Ben")).await.expect("b");
    let c = store.upsert_user("c", None).await.expect("c");
    let (room, created) = store.direct_room(a.id, b.id).await.expect("room");
    assert!(created);
    assert_eq!(
        store.direct_room(b.id, a.id).await.expect("again"),
        (room, false)
    );
    assert_eq!(
        store.find_direct_room(b.id, a.id).await.expect("find"),
        Some(room)
    );
    assert_eq!(
        store.find_direct_room(a.id, c.id).await.expect("find"),
        None
    );
    assert_eq!(
        store.room_kind(room).await.expect("kind"),
        Some(RoomKind::Direct)
    );
    let seen_by_a = store.room(room, a.id).await.expect("view").expect("room");
    assert_eq!(seen_by_a.name, "Ben", "named after the other member");
    assert_eq!(
        store
            .room(room, b.id)
            .await
            .expect("view")
            .expect("room")
            .name,
        "Ann"
    );
    assert_eq!(
        sorted(seen_by_a.members.iter().map(|u| u.id).collect()),
        [a.id, b.id]
    );
    assert_eq!((seen_by_a.unread, seen_by_a.last_read_seq), (0, Seq::ZERO));
    assert!(seen_by_a.last_message.is_none());

    let nowhere = RoomId(999_999);
    assert_eq!(store.room_kind(nowhere).await.expect("kind"), None);
    assert!(store.room(nowhere, a.id).await.expect("view").is_none());
    assert_eq!(store.last_seq(nowhere).await.expect("last"), Seq::ZERO);
    store.close().await;
}

async fn groups_keep_their_members_and_start_newcomers_with_history_read(backend: &Backend) {
    let store = &backend.store;
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let c = store.upsert_user("c", None).await.expect("c");
    let group = store
        .create_group("Team", a.id, &[b.id, b.id, a.id])
        .await
        .expect("group");
    assert_eq!(
        store.room_kind(group).await.expect("kind"),
        Some(RoomKind::Group)
    );
    assert_eq!(
        sorted(store.member_ids(group).await.expect("members")),
        [a.id, b.id],
        "duplicates ignored"
    );
    assert!(store.is_member(group, b.id).await.expect("member"));
    assert!(!store.is_member(group, c.id).await.expect("member"));
    fill(store.as_ref(), group, &a, 2).await;

    assert_eq!(
        store
            .add_members(group, &[b.id, c.id, c.id])
            .await
            .expect("add"),
        [c.id],
        "only the new member, once"
    );
    let seen_by_c = store.room(group, c.id).await.expect("view").expect("room");
    assert_eq!(seen_by_c.name, "Team");
    assert_eq!(
        (seen_by_c.unread, seen_by_c.last_read_seq),
        (0, Seq(2)),
        "a newcomer has nothing unread"
    );
    assert_eq!(seen_by_c.members.len(), 3);
    assert_eq!(seen_by_c.last_message.expect("last").text, "message 1");

    assert!(store.remove_member(group, c.id).await.expect("remove"));
    assert!(!store.remove_member(group, c.id).await.expect("again"));
    assert!(!store.is_member(group, c.id).await.expect("member"));
    let seen_by_outsider = store.room(group, c.id).await.expect("view").expect("room");
    assert_eq!(
        (seen_by_outsider.unread, seen_by_outsider.last_read_seq),
        (0, Seq::ZERO)
    );
    let refused = store.add_members(RoomId(999_999), &[c.id]).await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
    store.close().await;
}

async fn a_batch_refuses_a_non_member_and_stores_the_rest(backend: &Backend) {
    let store = &backend.store;
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let outsider = store.upsert_user("c", None).await.expect("c");
    let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
    let results = store
        .insert_messages(vec![
            new_message(room, &a, "one", Some("k1")),
            new_message(room, &outsider, "intruder", None),
            new_message(room, &b, "two", None),
            new_message(room, &a, "one again", Some("k1")),
            new_message(RoomId(999_999), &a, "nowhere", None),
        ])
        .await
        .expect("batch");
    let outcomes: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().map(|i| (i.message.seq, i.created)).ok())
        .collect();
    assert_eq!(
        outcomes,
        [
            Some((Seq(1), true)),
            None,
            Some((Seq(2), true)),
            Some((Seq(1), false)),
            None,
        ]
    );
    assert!(matches!(results[1], Err(StoreError::NotMember)));
    assert!(matches!(results[4], Err(StoreError::NotMember)));
    let stored = results[0].as_ref().expect("stored");
    assert_eq!(sorted(stored.recipients.clone()), [(a.id, 0), (b.id, 1)]);
    let second = results[2].as_ref().expect("stored");
    assert_eq!(sorted(second.recipients.clone()), [(a.id, 1), (b.id, 0)]);
    let retry = results[3].as_ref().expect("answered");
    assert_eq!(retry.message, stored.message, "the first copy");
    assert!(retry.recipients.is_empty(), "nothing new to deliver");

    // A retry in a later batch gets the first copy too.
    let later = store
        .insert_message(new_message(room, &a, "one, later", Some("k1")))
        .await
        .expect("retry");
    assert!(!later.created);
    assert_eq!(later.message, stored.message);

    // History decodes the same message the insert answered.
    let history = history(store.as_ref(), room).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0], stored.message);
    assert_eq!(history[1], second.message);
    assert_eq!(store.last_seq(room).await.expect("last"), Seq(2));
    // Every room's head in one query; a room that does not exist is left out.
    assert_eq!(
        store
            .last_seqs(&[RoomId(999_999), room])
            .await
            .expect("heads"),
        [(room, Seq(2))]
    );
    assert!(store.last_seqs(&[]).await.expect("no rooms").is_empty());
    store.close().await;
}

/// The commit pipeline keeps notifications quiet for the members who muted a room from what
/// the insert answers, with no read of its own.
async fn a_stored_message_names_the_members_who_muted_its_room(backend: &Backend) {
    let store = &backend.store;
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let c = store.upsert_user("c", None).await.expect("c");
    let group = store
        .create_group("muted", a.id, &[b.id, c.id])
        .await
        .expect("group");
    let (direct, _) = store.direct_room(a.id, b.id).await.expect("direct");
    store.set_muted(group, b.id, true).await.expect("b mutes");
    store.set_muted(group, c.id, true).await.expect("c mutes");
    store
        .set_muted(group, c.id, false)
        .await
        .expect("c unmutes");
    let results = store
        .insert_messages(vec![
            new_message(group, &a, "to the group", Some("g1")),
            new_message(direct, &a, "to b alone", None),
            new_message(group, &a, "to the group, again", Some("g1")),
        ])
        .await
        .expect("batch");
    let muted: Vec<Vec<UserId>> = results
        .iter()
        .map(|r| sorted(r.as_ref().expect("stored").muted.clone()))
        .collect();
    assert_eq!(
        muted,
        [vec![b.id], vec![], vec![]],
        "b muted the group only; a retry delivers nothing, so names nobody"
    );
    store.close().await;
}

async fn history_comes_in_pages_by_seq_stamped_by_one_clock(backend: &Backend) {
    let store = &backend.store;
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
    let started = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    fill(store.as_ref(), room, &a, 10).await;
    let page = |before: Option<u64>, after: Option<u64>, limit: u32| {
        let store = store.clone();
        async move {
            let page = Page {
                before: before.map(Seq),
                after: after.map(Seq),
                limit,
            };
            seqs(&store.messages(room, page).await.expect("page"))
        }
    };
    assert_eq!(page(None, None, 3).await, [8, 9, 10], "the newest page");
    assert_eq!(page(Some(8), None, 3).await, [5, 6, 7]);
    assert_eq!(page(None, Some(7), 2).await, [8, 9]);
    assert_eq!(page(Some(5), Some(1), 10).await, [2, 3, 4]);
    assert_eq!(page(None, Some(10), 10).await, Vec::<u64>::new());
    assert_eq!(page(None, Some(u64::MAX), 10).await, Vec::<u64>::new());
    assert_eq!(store.last_seq(room).await.expect("last"), Seq(10));

    let all = history(store.as_ref(), room).await;
    assert_eq!(seqs(&all), (1..=10).collect::<Vec<_>>());
    let stamps: Vec<i128> = all.iter().map(sent_at_millis).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "sentAt follows seq: {stamps:?}"
    );
    // The store's clock (the database's, for PostgreSQL) agrees with this one within reason.
    assert!(
        (stamps[0] - started).abs() < 5 * 60 * 1000,
        "{stamps:?} vs {started}"
    );
    store.close().await;
}

async fn unread_counts_follow_read_marks(backend: &Backend) {
    let store = &backend.store;
    let a = store.upsert_user("reader", None).await.expect("a");
    let b = store.upsert_user("writer", None).await.expect("b");
    let c = store.upsert_user("outsider", None).await.expect("c");
    let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
    fill(store.as_ref(), room, &b, 30).await;
    fill(store.as_ref(), room, &a, 1).await; // seq 31: a's own message moves a's mark
    fill(store.as_ref(), room, &b, 9).await; // seqs 32..=40
    let unread = |viewer| {
        let store = store.clone();
        async move {
            store
                .room(room, viewer)
                .await
                .expect("room")
                .expect("some")
                .unread
        }
    };
    assert_eq!(unread(a.id).await, 9);
    assert_eq!(
        store.mark_read(room, a.id, Seq(35)).await.expect("mark"),
        MarkedRead {
            mark: Seq(35),
            advanced: true
        }
    );
    assert_eq!(unread(a.id).await, 5);
    assert_eq!(
        store.mark_read(room, a.id, Seq(10)).await.expect("mark"),
        MarkedRead {
            mark: Seq(35),
            advanced: false
        },
        "never backwards"
    );
    assert_eq!(unread(a.id).await, 5);
    assert_eq!(
        store.mark_read(room, a.id, Seq(1000)).await.expect("mark"),
        MarkedRead {
            mark: Seq(40),
            advanced: true
        },
        "clamped"
    );
    assert_eq!(unread(a.id).await, 0);
    assert_eq!(unread(b.id).await, 0, "sending reads everything before");
    assert_eq!(
        store.mark_read(room, a.id, Seq(40)).await.expect("mark"),
        MarkedRead {
            mark: Seq(40),
            advanced: false
        },
        "the same mark again moves nothing"
    );
    let marks = store.read_marks(room).await.expect("marks");
    assert!(marks.contains(&ReadMark {
        user_id: a.id,
        seq: Seq(40)
    }));
    assert_eq!(marks.len(), 2, "one mark per member: {marks:?}");
    assert!(matches!(
        store.mark_read(room, c.id, Seq(1)).await,
        Err(StoreError::NotMember)
    ));
    assert!(matches!(
        store.mark_read(RoomId(999_999), a.id, Seq(1)).await,
        Err(StoreError::NotMember)
    ));
    store.close().await;
}

async fn rooms_come_latest_activity_first_in_pages(backend: &Backend) {
    let store = &backend.store;
    let me = store.upsert_user("me", None).await.expect("me");
    let friend = store
        .upsert_user("friend", Some("Friend"))
        .await
        .expect("friend");
    let mut rooms = Vec::new();
    for i in 0..5 {
        rooms.push(
            store
                .create_group(&format!("g{i}"), me.id, &[friend.id])
                .await
                .expect("group"),
        );
    }
    let (direct, _) = store.direct_room(me.id, friend.id).await.expect("direct");
    // Activity is in milliseconds: let the clock move on before the oldest room speaks.
    tokio::time::sleep(Duration::from_millis(5)).await;
    fill(store.as_ref(), rooms[0], &friend, 1).await;

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.rooms_of(me.id, after, 2).await.expect("page");
        assert!(page.rooms.len() <= 2);
        seen.extend(page.rooms);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let ids: Vec<RoomId> = seen.iter().map(|r| r.id).collect();
    assert_eq!(ids[0], rooms[0], "the room with the newest message first");
    assert_eq!(
        sorted(ids.clone()),
        sorted(rooms.iter().copied().chain([direct]).collect()),
        "every room once"
    );
    let first = &seen[0];
    assert_eq!((first.unread, first.members.len()), (1, 2));
    assert_eq!(first.last_message.as_ref().expect("last").text, "message 0");
    let direct_view = seen.iter().find(|r| r.id == direct).expect("direct");
    assert_eq!(direct_view.name, "Friend");
    assert!(direct_view.last_message.is_none());

    let all = store.rooms_of(me.id, None, 100).await.expect("all");
    assert_eq!(all.rooms.len(), 6);
    assert!(all.next.is_none());
    assert_eq!(
        all.rooms.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids,
        "pages walk the same order"
    );
    let stranger = store.upsert_user("stranger", None).await.expect("stranger");
    assert!(store
        .rooms_of(stranger.id, None, 10)
        .await
        .expect("none")
        .rooms
        .is_empty());
    store.close().await;
}

async fn concurrent_writes_of_every_kind_all_commit(backend: &Backend) {
    let store = &backend.store;
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        let (a, b) = (a.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            store
                .insert_message(new_message(room, &a, &format!("m{i}"), None))
                .await
                .expect("message");
            store.mark_read(room, b.id, Seq(1)).await.expect("mark");
            let group = store
                .create_group(&format!("g{i}"), a.id, &[b.id])
                .await
                .expect("group");
            store.add_members(group, &[b.id]).await.expect("add");
            store
                .create_session(format!("token{i}").as_bytes(), a.id, 1)
                .await
                .expect("session");
            store.room(group, b.id).await.expect("view").expect("room");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(store.last_seq(room).await.expect("last"), Seq(20));
    let page = store.rooms_of(b.id, None, 100).await.expect("rooms");
    assert_eq!(page.rooms.len(), 21);
    store.close().await;
}

async fn two_nodes_writing_to_one_room_give_seqs_without_gaps(backend: &Backend) {
    let one = backend.store.clone();
    let two = backend.another_node().await;
    let a = one.upsert_user("a", None).await.expect("a");
    let b = one.upsert_user("b", None).await.expect("b");
    let (first, _) = one.direct_room(a.id, b.id).await.expect("room");
    let second = one.create_group("g", a.id, &[b.id]).await.expect("group");

    // Each node commits batches that span both rooms, listing them in opposite orders: the
    // rooms are locked in id order whatever the batch's order, so neither waits on the other
    // for ever.
    const BATCHES: usize = 20;
    let mut tasks = Vec::new();
    for (node, store) in [one.clone(), two.clone()].into_iter().enumerate() {
        let (a, b) = (a.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            let (here, there) = if node == 0 {
                (first, second)
            } else {
                (second, first)
            };
            let mut created: usize = 0;
            for i in 0..BATCHES {
                let batch = vec![
                    new_message(here, &a, &format!("{node}-{i}-1"), None),
                    new_message(there, &b, &format!("{node}-{i}-2"), None),
                    new_message(here, &b, &format!("{node}-{i}-3"), None),
                ];
                for result in store.insert_messages(batch).await.expect("batch") {
                    assert!(result.expect("stored").created);
                    created += 1;
                }
            }
            created
        }));
    }
    let mut created: usize = 0;
    for task in tasks {
        created += task.await.expect("node");
    }
    assert_eq!(created, 2 * BATCHES * 3);

    for (room, expected) in [(first, 3 * BATCHES), (second, 3 * BATCHES)] {
        let stored = history(one.as_ref(), room).await;
        assert_eq!(
            seqs(&stored),
            (1..=expected as u64).collect::<Vec<_>>(),
            "one seq each, no gaps, no repeats"
        );
        assert_eq!(
            one.last_seq(room).await.expect("last"),
            Seq(expected as u64)
        );
        assert_eq!(
            two.last_seq(room).await.expect("last"),
            Seq(expected as u64)
        );
        let stamps: Vec<i128> = stored.iter().map(sent_at_millis).collect();
        assert!(
            stamps.windows(2).all(|w| w[0] <= w[1]),
            "sentAt follows seq whichever node stored it"
        );
        // Each node's messages keep their batch order within the room.
        for node in 0..2 {
            let texts: Vec<&str> = stored
                .iter()
                .map(|m| m.text.as_str())
                .filter(|t| t.starts_with(&format!("{node}-")))
                .collect();
            let mut expected = texts.clone();
            expected.sort_by_key(|t| {
                let parts: Vec<usize> = t.split('-').filter_map(|p| p.parse().ok()).collect();
                (parts[1], parts[2])
            });
            assert_eq!(texts, expected);
        }
    }
    // Everything after a's own last message is b's: a's read mark and unread add up.
    let view = one.room(first, a.id).await.expect("view").expect("room");
    assert_eq!(view.last_read_seq.0 + view.unread, 3 * BATCHES as u64);
    one.close().await;
    two.close().await;
}

async fn a_retry_on_the_other_node_gets_the_first_copy(backend: &Backend) {
    let one = backend.store.clone();
    let two = backend.another_node().await;
    let a = one.upsert_user("a", None).await.expect("a");
    let b = one.upsert_user("b", None).await.expect("b");
    let (room, _) = one.direct_room(a.id, b.id).await.expect("room");

    const KEYS: usize = 20;
    let mut tasks = Vec::new();
    for store in [one.clone(), two.clone()] {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for key in 0..KEYS {
                let key = format!("key-{key}");
                let inserted = store
                    .insert_message(new_message(room, &a, &key, Some(&key)))
                    .await
                    .expect("stored, or answered with the first copy");
                answers.push((inserted.message, inserted.created));
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("node"));
    }
    for ((first, first_created), (second, second_created)) in answers[0].iter().zip(&answers[1]) {
        assert_eq!(first, second, "both nodes answer the same message");
        assert!(
            first_created ^ second_created,
            "exactly one node created it"
        );
    }
    let stored = history(one.as_ref(), room).await;
    assert_eq!(seqs(&stored), (1..=KEYS as u64).collect::<Vec<_>>());
    one.close().await;
    two.close().await;
}

async fn a_direct_room_opened_from_two_nodes_at_once_is_one_room(backend: &Backend) {
    let one = backend.store.clone();
    let two = backend.another_node().await;
    const PAIRS: usize = 10;
    let mut users = Vec::new();
    for i in 0..=PAIRS {
        users.push(one.upsert_user(&format!("u{i}"), None).await.expect("user"));
    }
    let me = users[0].id;
    let mut opened = Vec::new();
    for other in users[1..].iter().map(|u| u.id) {
        let (one, two) = (one.clone(), two.clone());
        opened.push(tokio::spawn(async move {
            let (from_one, from_two) =
                tokio::join!(one.direct_room(me, other), two.direct_room(other, me));
            (
                other,
                from_one.expect("node one"),
                from_two.expect("node two"),
            )
        }));
    }
    for task in opened {
        let (other, (room_one, created_one), (room_two, created_two)) = task.await.expect("pair");
        assert_eq!(room_one, room_two, "one room for the pair");
        assert!(created_one ^ created_two, "created once");
        assert_eq!(
            sorted(one.member_ids(room_one).await.expect("members")),
            sorted(vec![me, other])
        );
    }
    assert_eq!(
        one.rooms_of(me, None, 100)
            .await
            .expect("rooms")
            .rooms
            .len(),
        PAIRS
    );
    one.close().await;
    two.close().await;
}

async fn the_data_outlives_the_store(backend: &Backend) {
    let store = &backend.store;
    let a = store.create_user("a", "A", Some("hash")).await.expect("a");
    let b = store.upsert_user("b", Some("B")).await.expect("b");
    let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
    store
        .insert_message(new_message(room, &a, "kept", None))
        .await
        .expect("message");
    store
        .create_session(b"token", b.id, 42)
        .await
        .expect("session");
    store.close().await;

    let store = backend.another_node().await;
    let credentials = store
        .user_credentials("a")
        .await
        .expect("read")
        .expect("user");
    assert_eq!(credentials.user, a);
    assert_eq!(credentials.password_hash.as_deref(), Some("hash"));
    assert_eq!(
        store.session_user(b"token").await.expect("read"),
        Some((b.clone(), 42))
    );
    let view = store.room(room, b.id).await.expect("read").expect("room");
    assert_eq!(view.name, "A");
    assert_eq!(view.unread, 1);
    assert_eq!(view.last_message.expect("message").text, "kept");
    assert_eq!(
        store.find_direct_room(b.id, a.id).await.expect("read"),
        Some(room)
    );
    assert_eq!(
        store
            .insert_message(new_message(room, &b, "and more", None))
            .await
            .expect("message")
            .message
            .seq,
        Seq(2),
        "seqs go on where they were"
    );
    store.close().await;
}

async fn a_closed_store_refuses_reads_and_writes(backend: &Backend) {
    let store = &backend.store;
    store.ping().await.expect("open");
    store.close().await;
    assert!(store.ping().await.is_err());
    assert!(store.upsert_user("late", None).await.is_err());
}

fn change(room: RoomId, seq: u64, actor: &User, change: Change) -> MessageChange {
    MessageChange {
        room_id: room,
        seq: Seq(seq),
        actor: actor.id,
        change,
        edit_window_millis: None,
        mentions: Vec::new(),
    }
}

fn edit(room: RoomId, seq: u64, actor: &User, text: &str) -> MessageChange {
    change(room, seq, actor, Change::Edit(text.to_string()))
}

async fn edits_and_deletes_follow_the_rules_and_take_the_rooms_next_rev(backend: &Backend) {
    let store = backend.store.as_ref();
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let c = store.upsert_user("c", None).await.expect("c");
    let room = store.create_group("g", a.id, &[b.id]).await.expect("room");
    fill(store, room, &a, 3).await;
    store
        .insert_message(new_message(room, &b, "from b", None))
        .await
        .expect("b's message");

    let edited = store
        .change_message(edit(room, 1, &a, "fixed"))
        .await
        .expect("edit");
    assert!(edited.changed);
    assert_eq!(edited.message.text, "fixed");
    assert_eq!(edited.message.rev, 1);
    assert!(edited.message.edited_at.is_some());
    assert!(edited.message.deleted_at.is_none());
    assert_eq!(sorted(edited.recipients), sorted(vec![a.id, b.id]));

    let again = store
        .change_message(edit(room, 1, &a, "fixed"))
        .await
        .expect("the same text");
    assert!(!again.changed, "the same text is no change");
    assert_eq!(again.message.rev, 1);

    let deleted = store
        .change_message(change(room, 2, &a, Change::Delete))
        .await
        .expect("delete");
    assert!(deleted.changed);
    assert_eq!(deleted.message.rev, 2);
    assert_eq!(deleted.message.text, "");
    assert_eq!(deleted.message.seq, Seq(2));
    assert_eq!(deleted.message.sender, a);
    assert!(deleted.message.deleted_at.is_some());
    let twice = store
        .change_message(change(room, 2, &a, Change::Delete))
        .await
        .expect("delete again");
    assert!(!twice.changed);
    assert_eq!(twice.message.rev, 2, "no new rev");

    let refusals = [
        (edit(room, 2, &a, "back"), "deleted"),
        (edit(room, 4, &a, "not mine"), "not author"),
        (change(room, 4, &a, Change::Delete), "not author"),
        (edit(room, 9, &a, "beyond"), "not found"),
        (edit(room, 1, &c, "outsider"), "not a member"),
        (edit(RoomId(9_999), 1, &a, "no room"), "no room"),
    ];
    for (request, what) in refusals {
        let refused = store.change_message(request).await;
        let expected = match what {
            "deleted" => matches!(refused, Err(StoreError::Deleted)),
            "not author" => matches!(refused, Err(StoreError::NotAuthor)),
            "not a member" => matches!(refused, Err(StoreError::NotMember)),
            _ => matches!(refused, Err(StoreError::NotFound(_))),
        };
        assert!(expected, "{what}: {refused:?}");
    }
    let mut closed = edit(room, 3, &a, "late");
    closed.edit_window_millis = Some(0);
    // Wait for the clock to pass the message's time, so the window of 0 ms is behind it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(matches!(
        store.change_message(closed).await,
        Err(StoreError::EditWindowClosed)
    ));
    let mut open = edit(room, 3, &a, "in time");
    open.edit_window_millis = Some(3_600_000);
    assert_eq!(
        store
            .change_message(open)
            .await
            .expect("in time")
            .message
            .rev,
        3
    );

    let history = history(store, room).await;
    assert_eq!(
        seqs(&history),
        vec![1, 2, 3, 4],
        "a tombstone keeps its seq"
    );
    assert_eq!(history[1].text, "");
    assert_eq!(history[0].text, "fixed");
    let view = store.room(room, b.id).await.expect("room").expect("exists");
    assert_eq!(view.last_rev, 3);
    let since_one = store.changes(room, 1, None, 10).await.expect("changes");
    assert_eq!(
        since_one
            .iter()
            .map(|m| (m.seq.0, m.rev))
            .collect::<Vec<_>>(),
        vec![(2, 2), (3, 3)]
    );
    let up_to_two = store
        .changes(room, 0, Some(Seq(2)), 10)
        .await
        .expect("changes");
    assert_eq!(
        up_to_two.iter().map(|m| m.rev).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let one = store.changes(room, 0, None, 1).await.expect("a page");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].rev, 1);
}

async fn two_nodes_changing_one_room_give_revs_without_gaps(backend: &Backend) {
    let one = backend.store.clone();
    let two = backend.another_node().await;
    let a = one.upsert_user("a", None).await.expect("a");
    let room = one.create_group("g", a.id, &[]).await.expect("room");
    fill(one.as_ref(), room, &a, 20).await;
    let mut writers = Vec::new();
    for (node, store) in [one.clone(), two.clone()].into_iter().enumerate() {
        let a = a.clone();
        writers.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for seq in 1..=20 {
                let changed = store
                    .change_message(edit(room, seq, &a, &format!("node {node} edit {seq}")))
                    .await
                    .expect("edit");
                revs.push(changed.message.rev);
            }
            revs
        }));
    }
    let mut revs = Vec::new();
    for writer in writers {
        revs.extend(writer.await.expect("writer"));
    }
    assert_eq!(sorted(revs), (1..=40).collect::<Vec<u64>>());
    let view = two.room(room, a.id).await.expect("room").expect("exists");
    assert_eq!(view.last_rev, 40);
    if !Arc::ptr_eq(&one, &two) {
        two.close().await;
    }
}

fn react(room: RoomId, seq: u64, actor: &User, emoji: &str, add: bool) -> MessageChange {
    change(
        room,
        seq,
        actor,
        Change::React {
            emoji: emoji.to_string(),
            add,
        },
    )
}

async fn replies_are_checked_in_the_transaction_and_preview_the_current_state(backend: &Backend) {
    let store = backend.store.as_ref();
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let c = store.upsert_user("c", None).await.expect("c");
    let room = store.create_group("g", a.id, &[b.id]).await.expect("room");
    let other = store.create_group("o", a.id, &[]).await.expect("other");
    let long = "é".repeat(300);
    store
        .insert_message(new_message(room, &a, &long, None))
        .await
        .expect("original");
    fill(store, other, &a, 3).await;
    let reply = |to: u64, sender: &User, key: Option<&str>| NewMessage {
        reply_to: Some(Seq(to)),
        ..new_message(room, sender, "re", key)
    };

    // One batch: a reply, a reply to nothing, a reply from a non-member, a retried reply.
    let results = store
        .insert_messages(vec![
            reply(1, &b, Some("k")),
            reply(7, &b, None),
            reply(1, &c, None),
            reply(1, &b, Some("k")),
        ])
        .await
        .expect("batch");
    let stored = results[0].as_ref().expect("stored").message.clone();
    assert_eq!(stored.seq, Seq(2));
    let preview = stored.reply_to.clone().expect("a preview");
    assert_eq!(preview.seq, Seq(1));
    assert_eq!(preview.sender.id, a.id);
    assert_eq!(preview.text.chars().count(), REPLY_PREVIEW_CHARS);
    assert!(matches!(results[1], Err(StoreError::ReplyNotFound)));
    assert!(matches!(results[2], Err(StoreError::NotMember)));
    let retried = results[3].as_ref().expect("the first copy");
    assert!(!retried.created);
    assert_eq!(retried.message.seq, Seq(2));
    assert_eq!(
        seqs(&history(store, room).await),
        [1, 2],
        "nothing else stored"
    );

    // Pages show the answered message as it is now.
    store
        .change_message(edit(room, 1, &a, "short now"))
        .await
        .expect("edit");
    let page = history(store, room).await;
    assert_eq!(
        page[1].reply_to.as_ref().map(|p| p.text.as_str()),
        Some("short now")
    );
    assert!(page[1]
        .reply_to
        .as_ref()
        .is_some_and(|p| p.edited_at.is_some()));
    assert!(page[0].reply_to.is_none());
    store
        .change_message(change(room, 1, &a, Change::Delete))
        .await
        .expect("delete");
    let page = history(store, room).await;
    let preview = page[1].reply_to.clone().expect("still a preview");
    assert_eq!(
        (preview.text.as_str(), preview.deleted_at.is_some()),
        ("", true)
    );
    let refused = store.insert_message(reply(1, &b, None)).await;
    assert!(
        matches!(refused, Err(StoreError::ReplyDeleted)),
        "{refused:?}"
    );
    let changes = store.changes(room, 0, None, 10).await.expect("changes");
    assert!(changes.iter().all(|m| m.seq == Seq(1)));
}

async fn reactions_take_a_rev_only_when_they_change_something(backend: &Backend) {
    let store = backend.store.as_ref();
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let c = store.upsert_user("c", None).await.expect("c");
    let room = store.create_group("g", a.id, &[b.id]).await.expect("room");
    fill(store, room, &a, 2).await;

    let first = store
        .change_message(react(room, 1, &b, "👍", true))
        .await
        .expect("react");
    assert!(first.changed);
    assert_eq!(first.message.rev, 1);
    assert!(first.message.edited_at.is_none());
    let again = store
        .change_message(react(room, 1, &b, "👍", true))
        .await
        .expect("again");
    assert!(!again.changed);
    assert_eq!(again.message.rev, 1);
    store
        .change_message(react(room, 1, &a, "🎉", true))
        .await
        .expect("party");
    let both = store
        .change_message(react(room, 1, &a, "👍", true))
        .await
        .expect("both");
    let summary: Vec<(String, Vec<UserId>)> = both
        .message
        .reactions
        .iter()
        .map(|r| (r.emoji.clone(), r.user_ids.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("👍".to_string(), vec![b.id, a.id]),
            ("🎉".to_string(), vec![a.id])
        ]
    );
    assert_eq!(both.message.reactions[0].count, 2);
    let none = store
        .change_message(react(room, 1, &b, "🎉", false))
        .await
        .expect("nothing to take back");
    assert!(!none.changed);
    let back = store
        .change_message(react(room, 1, &b, "👍", false))
        .await
        .expect("take back");
    assert_eq!(back.message.rev, 4);
    assert_eq!(back.message.reactions[0].user_ids, [a.id]);
    assert_eq!(
        history(store, room).await[0].reactions,
        back.message.reactions
    );

    let outsider = store.change_message(react(room, 1, &c, "👍", true)).await;
    assert!(
        matches!(outsider, Err(StoreError::NotMember)),
        "{outsider:?}"
    );
    let missing = store.change_message(react(room, 9, &b, "👍", true)).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    // At most 20 distinct emoji; one already there is still welcome.
    for i in 0..(MAX_DISTINCT_REACTIONS as u32) {
        let emoji = char::from_u32(0x1F600 + i).expect("emoji").to_string();
        store
            .change_message(react(room, 2, &b, &emoji, true))
            .await
            .expect("within the limit");
    }
    let over = store.change_message(react(room, 2, &b, "👍", true)).await;
    assert!(
        matches!(over, Err(StoreError::TooManyReactions)),
        "{over:?}"
    );
    store
        .change_message(react(room, 2, &a, "😀", true))
        .await
        .expect("an emoji already there");

    // A delete takes them away, and a tombstone gets none.
    let tombstone = store
        .change_message(change(room, 1, &a, Change::Delete))
        .await
        .expect("delete");
    assert!(tombstone.message.reactions.is_empty());
    let refused = store.change_message(react(room, 1, &b, "👍", true)).await;
    assert!(matches!(refused, Err(StoreError::Deleted)), "{refused:?}");
    assert!(history(store, room).await[0].reactions.is_empty());
}

async fn mentions_are_stored_replaced_on_edit_and_counted_until_read(backend: &Backend) {
    let store = backend.store.as_ref();
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let c = store.upsert_user("c", None).await.expect("c");
    let room = store
        .create_group("g", a.id, &[b.id, c.id])
        .await
        .expect("room");
    let mentioning = |text: &str, who: Vec<UserId>| NewMessage {
        mentions: who,
        ..new_message(room, &a, text, None)
    };
    let stored = store
        .insert_message(mentioning("@b @c", vec![b.id, c.id]))
        .await
        .expect("stored");
    assert_eq!(stored.message.mentions, [b.id, c.id]);
    store
        .insert_message(mentioning("@b", vec![b.id]))
        .await
        .expect("stored");
    fill(store, room, &a, 1).await;
    let unread_mentions = |viewer: UserId| async move {
        let room = store
            .room(room, viewer)
            .await
            .expect("room")
            .expect("a room");
        let listed = store.rooms_of(viewer, None, 10).await.expect("rooms");
        assert_eq!(listed.rooms[0].unread_mentions, room.unread_mentions);
        room.unread_mentions
    };
    assert_eq!(unread_mentions(b.id).await, 2);
    assert_eq!(unread_mentions(c.id).await, 1);
    assert_eq!(unread_mentions(a.id).await, 0);
    assert_eq!(history(store, room).await[0].mentions, [b.id, c.id]);

    let edited = store
        .change_message(MessageChange {
            mentions: vec![c.id],
            ..edit(room, 1, &a, "@c only")
        })
        .await
        .expect("edit");
    assert_eq!(edited.message.mentions, [c.id]);
    assert_eq!(unread_mentions(b.id).await, 1);
    store
        .change_message(change(room, 2, &a, Change::Delete))
        .await
        .expect("delete");
    assert_eq!(
        unread_mentions(b.id).await,
        0,
        "a tombstone mentions nobody"
    );
    assert_eq!(unread_mentions(c.id).await, 1);
    store.mark_read(room, c.id, Seq(1)).await.expect("read");
    assert_eq!(unread_mentions(c.id).await, 0);
}

fn pending_file(room: RoomId, uploader: &User, key: &str) -> NewAttachment {
    NewAttachment {
        room_id: room,
        uploader: uploader.id,
        name: format!("{key}.txt"),
        content_type: "text/plain".into(),
        size: 3,
        image: None,
        object_key: key.into(),
        thumbnail_key: None,
    }
}

async fn attachments_are_linked_in_the_batch_and_leave_with_a_delete(backend: &Backend) {
    let store = &backend.store;
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let outsider = store.upsert_user("c", None).await.expect("c");
    let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
    assert!(matches!(
        store
            .insert_attachment(pending_file(room, &outsider, "x"))
            .await,
        Err(StoreError::NotMember)
    ));
    let mine = store
        .insert_attachment(pending_file(room, &a, "mine"))
        .await
        .expect("stored");
    assert_eq!(mine.message_id, None);
    let bobs = store
        .insert_attachment(pending_file(room, &b, "bobs"))
        .await
        .expect("stored");
    let with = |text: &str, ids: &[AttachmentId]| NewMessage {
        attachments: ids.to_vec(),
        ..new_message(room, &a, text, None)
    };
    let id = mine.attachment.id;
    let results = store
        .insert_messages(vec![
            with("b's file", &[bobs.attachment.id]),
            with("mine", &[id]),
            with("mine again", &[id]),
            with("plain", &[]),
        ])
        .await
        .expect("batch");
    assert!(matches!(results[0], Err(StoreError::InvalidAttachment(_))));
    assert!(matches!(results[2], Err(StoreError::InvalidAttachment(_))));
    let sent = results[1].as_ref().expect("sent");
    assert_eq!(sent.message.seq, Seq(1), "a refused message takes no seq");
    assert_eq!(
        sent.message.attachments,
        std::slice::from_ref(&mine.attachment)
    );
    assert_eq!(
        results[3].as_ref().expect("plain").message.seq,
        Seq(2),
        "no gap"
    );
    let linked = store.attachment(id).await.expect("read").expect("there");
    assert_eq!(linked.message_id, Some(sent.message.id));
    let page = store
        .messages(
            room,
            Page {
                limit: 10,
                ..Page::default()
            },
        )
        .await
        .expect("page");
    assert_eq!(page[0].attachments, std::slice::from_ref(&mine.attachment));
    assert!(page[1].attachments.is_empty());

    let deleted = store
        .change_message(MessageChange {
            room_id: room,
            seq: Seq(1),
            actor: a.id,
            change: Change::Delete,
            edit_window_millis: None,
            mentions: Vec::new(),
        })
        .await
        .expect("deleted");
    assert_eq!(deleted.removed_objects, ["mine"]);
    assert!(store.attachment(id).await.expect("read").is_none());
    assert!(store.changes(room, 0, None, 10).await.expect("changes")[0]
        .attachments
        .is_empty());

    let expired = store
        .delete_pending_attachments(crate::model::now_millis() + 60_000, 10)
        .await
        .expect("cleanup");
    let keys: Vec<String> = expired
        .iter()
        .flat_map(StoredAttachment::object_keys)
        .collect();
    assert_eq!(
        keys,
        ["bobs"],
        "only the pending upload is left to clean up"
    );
    assert!(store
        .attachment(bobs.attachment.id)
        .await
        .expect("read")
        .is_none());
}

/// A search by `user` for `q` with the given filters.
pub(super) fn search(user: &User, q: &str) -> MessageSearch {
    MessageSearch {
        user: user.id,
        words: q.split_whitespace().map(str::to_lowercase).collect(),
        room: None,
        sender: None,
        before: None,
        limit: 50,
    }
}

/// The texts of a search's hits, in order.
async fn found(store: &dyn Store, search: MessageSearch) -> Vec<String> {
    store
        .search_messages(search)
        .await
        .expect("search")
        .hits
        .into_iter()
        .map(|(_, m)| m.text)
        .collect()
}

async fn search_finds_korean_and_english_in_the_searchers_rooms_only(backend: &Backend) {
    let store = backend.store.as_ref();
    let a = store.upsert_user("a", Some("Ann")).await.expect("a");
    let b = store.upsert_user("b", Some("Bob")).await.expect("b");
    let c = store.upsert_user("c", Some("Cy")).await.expect("c");
    let group = store.create_group("Team", a.id, &[b.id]).await.expect("g");
    let (direct, _) = store.direct_room(a.id, b.id).await.expect("direct");
    let (others, _) = store.direct_room(b.id, c.id).await.expect("others");
    for (room, sender, text) in [
        (group, &a, "안녕하세요 여러분"),
        (group, &b, "Hello WORLD"),
        (direct, &b, "hello from bob, 안녕"),
        (others, &c, "hello 안녕하세요 secret"),
        (group, &b, "nothing to see"),
    ] {
        store
            .insert_message(new_message(room, sender, text, None))
            .await
            .expect("stored");
    }
    // Two Korean characters (under the index's three) and three, English in any case.
    assert_eq!(
        found(store, search(&a, "안녕")).await,
        ["hello from bob, 안녕", "안녕하세요 여러분"]
    );
    assert_eq!(
        found(store, search(&a, "녕하세")).await,
        ["안녕하세요 여러분"]
    );
    assert_eq!(
        found(store, search(&a, "HELLO")).await,
        ["hello from bob, 안녕", "Hello WORLD"]
    );
    // Every word must be there, long and short alike.
    assert_eq!(
        found(store, search(&a, "hello 안녕")).await,
        ["hello from bob, 안녕"]
    );
    // `c` sees only their own room with `b`.
    assert_eq!(
        found(store, search(&c, "hello")).await,
        ["hello 안녕하세요 secret"]
    );
    assert!(found(store, search(&c, "world")).await.is_empty());
    // Filters: a room, a sender.
    let in_group = MessageSearch {
        room: Some(group),
        ..search(&a, "hello")
    };
    assert_eq!(found(store, in_group).await, ["Hello WORLD"]);
    let from_a = MessageSearch {
        sender: Some(a.id),
        ..search(&a, "안녕")
    };
    assert_eq!(found(store, from_a).await, ["안녕하세요 여러분"]);
    // The hit names its room as the searcher sees it.
    let hits = store
        .search_messages(search(&a, "bob"))
        .await
        .expect("search")
        .hits;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].0.id, direct);
    assert_eq!(hits[0].0.kind, RoomKind::Direct);
    assert_eq!(hits[0].0.name, "Bob");
    // LIKE's wildcards in a word match only themselves.
    assert!(found(store, search(&a, "%")).await.is_empty());
    assert!(found(store, search(&a, "h_llo")).await.is_empty());
}

async fn search_follows_edits_deletes_and_leaving(backend: &Backend) {
    let store = backend.store.as_ref();
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let room = store.create_group("g", a.id, &[b.id]).await.expect("room");
    for text in ["first draft", "to be removed", "short 안녕"] {
        store
            .insert_message(new_message(room, &a, text, None))
            .await
            .expect("stored");
    }
    store
        .change_message(edit(room, 1, &a, "final version"))
        .await
        .expect("edit");
    assert!(found(store, search(&b, "draft")).await.is_empty());
    assert_eq!(found(store, search(&b, "final")).await, ["final version"]);
    store
        .change_message(change(room, 2, &a, Change::Delete))
        .await
        .expect("delete");
    store
        .change_message(change(room, 3, &a, Change::Delete))
        .await
        .expect("delete");
    assert!(found(store, search(&b, "removed")).await.is_empty());
    assert!(found(store, search(&b, "안녕")).await.is_empty());
    // A member who leaves finds nothing of the room any more.
    assert!(store.remove_member(room, b.id).await.expect("leave"));
    assert!(found(store, search(&b, "final")).await.is_empty());
    assert_eq!(found(store, search(&a, "final")).await, ["final version"]);
}

/// Pages through every hit of `q` for `user`, `limit` at a time; the ids in order.
async fn all_pages(store: &dyn Store, user: &User, q: &str, limit: u32) -> (Vec<i64>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut before = None;
    loop {
        let page = store
            .search_messages(MessageSearch {
                before,
                limit,
                ..search(user, q)
            })
            .await
            .expect("page");
        pages += 1;
        assert!(page.hits.len() <= limit as usize);
        ids.extend(page.hits.iter().map(|(_, m)| m.id.0));
        match page.next {
            Some(next) => before = Some(next),
            None => return (ids, pages),
        }
        assert!(pages < 1_000, "paging does not end");
    }
}

async fn search_pages_without_gaps_or_repeats(backend: &Backend) {
    let store = backend.store.as_ref();
    let a = store.upsert_user("a", None).await.expect("a");
    let room = store.create_group("g", a.id, &[]).await.expect("room");
    let batch = (0..57)
        .map(|i| {
            let text = if i % 3 == 0 { "apple pie" } else { "banana" };
            new_message(room, &a, &format!("{text} {i}"), None)
        })
        .collect();
    for result in store.insert_messages(batch).await.expect("batch") {
        result.expect("stored");
    }
    let everything: Vec<i64> = history(store, room)
        .await
        .into_iter()
        .rev()
        .filter(|m| m.text.starts_with("apple"))
        .map(|m| m.id.0)
        .collect();
    assert_eq!(everything.len(), 19);
    let (ids, pages) = all_pages(store, &a, "APPLE", 5).await;
    assert_eq!(ids, everything, "newest first, each once");
    assert_eq!(pages, 4);
}

async fn search_of_short_words_scans_a_bounded_window(backend: &Backend) {
    let store = backend.store.as_ref();
    let a = store.upsert_user("a", None).await.expect("a");
    let room = store.create_group("g", a.id, &[]).await.expect("room");
    // One old match, then more than a window of messages without one.
    store
        .insert_message(new_message(room, &a, "old 안녕", None))
        .await
        .expect("stored");
    let total = SEARCH_SCAN_WINDOW as usize + 10;
    for start in (0..total).step_by(1_000) {
        let batch = (start..(start + 1_000).min(total))
            .map(|i| new_message(room, &a, &format!("filler {i}"), None))
            .collect();
        for result in store.insert_messages(batch).await.expect("batch") {
            result.expect("stored");
        }
    }
    let first = store
        .search_messages(search(&a, "안녕"))
        .await
        .expect("first page");
    assert!(first.hits.is_empty(), "the window holds no match");
    let next = first.next.expect("the scan goes on where it stopped");
    let second = store
        .search_messages(MessageSearch {
            before: Some(next),
            ..search(&a, "안녕")
        })
        .await
        .expect("second page");
    let texts: Vec<&str> = second.hits.iter().map(|(_, m)| m.text.as_str()).collect();
    assert_eq!(texts, ["old 안녕"]);
    assert!(second.next.is_none());
    // The index needs no window: the long word is found on the first page. (Before an
    // index written after the commit has caught up with a burst of more than a window of
    // the searcher's messages, such a search also goes window by window: see the contract.)
    backend.search_index_caught_up().await;
    let (ids, pages) = all_pages(store, &a, "old", 10).await;
    assert_eq!((ids.len(), pages), (1, 1));
}
