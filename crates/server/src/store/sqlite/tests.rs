//! The SQLite store's own behaviour, which the suite every backend runs (`store/tests.rs`)
//! cannot see: a data directory keeps its migrations recorded where earlier versions recorded
//! them, so one from an earlier version opens again with its data.

use super::*;

#[tokio::test]
async fn a_data_directory_opens_again_with_its_migrations_recorded() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(dir.path()).await.expect("store");
    let a = store.upsert_user("a", Some("A")).await.expect("a");
    store.close().await;

    let store = SqliteStore::open(dir.path()).await.expect("reopened");
    assert_eq!(
        store.users_by_username(&["a".into()]).await.expect("read"),
        [a]
    );
    store.close().await;

    let conn = open_connection(&dir.path().join("sotong.db")).expect("open");
    let applied: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM _sqlx_migrations WHERE success",
            [],
            |row| row.get(0),
        )
        .expect("migrations");
    let shipped = sqlx::migrate!("./migrations/sqlite").migrations.len();
    assert_eq!(
        applied,
        i64::try_from(shipped).expect("few"),
        "every migration, once"
    );
}

/// The search index's mark and the newest message id, read as a search would.
async fn index_mark(store: &SqliteStore) -> (i64, i64) {
    store
        .readers
        .read(|conn| {
            Ok(conn.query_row(
                "SELECT (SELECT indexed_upto FROM search.search_progress), \
                   (SELECT COALESCE(MAX(id), 0) FROM messages)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?)
        })
        .await
        .expect("mark")
}

/// The index against the messages (see `Indexer::assert_agrees_with_store`).
async fn index_agrees_with_messages(store: &SqliteStore) {
    store.indexer.assert_agrees_with_store();
}

/// Rows in the store's edit log that the index has not yet made durable.
async fn edit_log_rows(store: &SqliteStore) -> i64 {
    store
        .readers
        .read(|conn| Ok(conn.query_row("SELECT COUNT(*) FROM search_changes", [], |r| r.get(0))?))
        .await
        .expect("edit log")
}

/// A search as the suite every backend runs makes it, `limit` at a time.
fn searching(user: &User, q: &str, limit: u32) -> MessageSearch {
    MessageSearch {
        limit,
        ..super::super::tests::search(user, q)
    }
}

async fn texts(store: &SqliteStore, search: MessageSearch) -> Vec<String> {
    let found = store.search_messages(search).await.expect("search");
    found.hits.into_iter().map(|(_, m)| m.text).collect()
}

fn message(room: RoomId, sender: &User, text: &str) -> NewMessage {
    super::super::tests::new_message(room, sender, text, None)
}

fn edit(room: RoomId, seq: Seq, actor: &User, text: &str) -> MessageChange {
    MessageChange {
        room_id: room,
        seq,
        actor: actor.id,
        change: Change::Edit(text.into()),
        edit_window_millis: None,
        mentions: Vec::new(),
    }
}

/// Messages are indexed after their commit, yet a search finds each one from the moment it
/// is stored, edits included, whether or not it is indexed yet, and pages run through the
/// indexed and the unindexed ones without a gap or a repeat.
#[tokio::test]
async fn search_finds_messages_before_and_after_they_are_indexed() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(dir.path()).await.expect("store");
    // Nothing indexes but this test: the index's mark stays where the test leaves it.
    store.indexer.stop();
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
    let stored = store
        .insert_messages(vec![
            message(room, &a, "안녕하세요 old one"),
            message(room, &b, "hello two"),
            message(room, &a, "hello three"),
        ])
        .await
        .expect("stored");
    let seq = |i: usize| stored[i].as_ref().expect("stored").message.seq;
    let (mark, newest) = index_mark(&store).await;
    assert!(mark < newest, "not indexed yet: {mark} < {newest}");
    assert_eq!(
        texts(&store, searching(&b, "안녕하", 50)).await,
        ["안녕하세요 old one"]
    );
    // An edit before indexing: the indexer later takes the new text only.
    store
        .change_message(edit(room, seq(0), &a, "안녕 new one"))
        .await
        .expect("edited");
    assert!(texts(&store, searching(&b, "old one", 50)).await.is_empty());
    assert_eq!(
        texts(&store, searching(&b, "new one", 50)).await,
        ["안녕 new one"]
    );

    store.index_search_now().await.expect("indexed");
    let (mark, newest) = index_mark(&store).await;
    assert_eq!(mark, newest, "every message indexed");
    index_agrees_with_messages(&store).await;
    assert_eq!(
        texts(&store, searching(&b, "new one", 50)).await,
        ["안녕 new one"]
    );
    assert!(texts(&store, searching(&b, "old one", 50)).await.is_empty());

    // An edit and a delete after indexing: found by the new text at once, and re-indexed
    // on the next run, after which the edit log is empty.
    store
        .change_message(edit(room, seq(1), &b, "goodbye two"))
        .await
        .expect("edited");
    let deleted = MessageChange {
        room_id: room,
        seq: seq(2),
        actor: a.id,
        change: Change::Delete,
        edit_window_millis: None,
        mentions: Vec::new(),
    };
    store.change_message(deleted).await.expect("deleted");
    assert!(texts(&store, searching(&a, "hello", 50)).await.is_empty());
    assert_eq!(
        texts(&store, searching(&a, "goodbye", 50)).await,
        ["goodbye two"]
    );
    store.index_search_now().await.expect("indexed");
    index_agrees_with_messages(&store).await;
    assert_eq!(edit_log_rows(&store).await, 0, "the edit log is emptied");
    assert_eq!(
        texts(&store, searching(&a, "goodbye", 50)).await,
        ["goodbye two"]
    );

    // Three indexed matches (one edited since) and three newer unindexed ones, two at a
    // time: the edited one comes from the edit log and from the index (by its old text)
    // alike, and is shown once, in its place.
    let mut indexed = Vec::new();
    for i in 0..3 {
        let stored = store
            .insert_message(message(room, &a, &format!("page {i}")))
            .await
            .expect("stored");
        indexed.push(stored.message.seq);
    }
    store.index_search_now().await.expect("indexed");
    store
        .change_message(edit(room, indexed[1], &a, "page 1 again"))
        .await
        .expect("edited");
    for i in 3..6 {
        store
            .insert_message(message(room, &a, &format!("page {i}")))
            .await
            .expect("stored");
    }
    let mut pages = Vec::new();
    let mut search = searching(&b, "page", 2);
    loop {
        let found = store.search_messages(search.clone()).await.expect("page");
        pages.push(
            found
                .hits
                .into_iter()
                .map(|(_, m)| m.text)
                .collect::<Vec<_>>(),
        );
        match found.next {
            Some(next) => search.before = Some(next),
            None => break,
        }
        assert!(pages.len() < 10, "pages end");
    }
    let all: Vec<String> = pages.concat();
    assert_eq!(
        all,
        [
            "page 5",
            "page 4",
            "page 3",
            "page 2",
            "page 1 again",
            "page 0"
        ],
        "{pages:?}"
    );
    store.close().await;
}

/// The indexer task catches up by itself soon after messages are stored, and on open with
/// what an earlier run left above the mark.
#[tokio::test]
async fn the_indexer_catches_up_by_itself() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(dir.path()).await.expect("store");
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
    store.indexer.stop();
    store
        .insert_message(message(room, &a, "left for the next run"))
        .await
        .expect("stored");
    let (mark, newest) = index_mark(&store).await;
    assert!(mark < newest);
    store.close().await;

    let store = SqliteStore::open(dir.path()).await.expect("reopened");
    store
        .insert_message(message(room, &b, "stored now"))
        .await
        .expect("stored");
    caught_up(&store).await;
    store.close().await;
}

/// Waits until the indexer task has indexed every message, then checks the index. The task
/// tells no one, so this looks every 20 ms, for at most 15 s.
async fn caught_up(store: &SqliteStore) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (mark, newest) = index_mark(store).await;
        if mark == newest {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "indexed within 15 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    index_agrees_with_messages(store).await;
}

/// The index's file is derived data: deleted, it is built again from the messages; beside a
/// store restored from an older copy (it knows of messages the store does not), it starts
/// afresh rather than skip the store's next messages, whose ids it has already passed.
#[tokio::test]
async fn the_index_file_is_built_again_when_deleted_or_ahead_of_the_store() {
    let dir = tempfile::tempdir().expect("dir");
    let store_file = dir.path().join("sotong.db");
    let copy = dir.path().join("copy.db");
    let store = SqliteStore::open(dir.path()).await.expect("store");
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
    store
        .insert_message(message(room, &a, "before the copy"))
        .await
        .expect("stored");
    open_connection(&store_file)
        .and_then(|conn| conn.execute("VACUUM INTO ?1", [copy.to_string_lossy()]))
        .expect("copied");
    store
        .insert_message(message(room, &b, "after the copy"))
        .await
        .expect("stored");
    store.index_search_now().await.expect("indexed");
    store.close().await;
    drop(store);

    // Deleted: built again.
    for file in ["search.db", "search.db-wal", "search.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(file));
    }
    let store = SqliteStore::open(dir.path()).await.expect("reopened");
    caught_up(&store).await;
    assert_eq!(
        texts(&store, searching(&a, "the copy", 50)).await,
        ["after the copy", "before the copy"]
    );
    store.close().await;
    drop(store);

    // The store as it was at the copy, the index as it is now.
    for file in ["sotong.db-wal", "sotong.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(file));
    }
    std::fs::rename(&copy, &store_file).expect("restored");
    let store = SqliteStore::open(dir.path()).await.expect("restored store");
    store
        .insert_message(message(room, &b, "the copy goes on"))
        .await
        .expect("stored");
    caught_up(&store).await;
    assert_eq!(
        texts(&store, searching(&a, "the copy", 50)).await,
        ["the copy goes on", "before the copy"]
    );
    store.close().await;
}
