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
                "SELECT (SELECT indexed_upto FROM search_progress), \
                   (SELECT COALESCE(MAX(id), 0) FROM messages)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?)
        })
        .await
        .expect("mark")
}

/// FTS5's own check of an external-content index against its table: it fails when the index
/// holds a row's old text, or misses a row below the mark.
async fn index_agrees_with_messages(store: &SqliteStore) {
    store
        .writer
        .write(|tx| {
            tx.execute(
                "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
                [],
            )?;
            Ok(())
        })
        .await
        .expect("the index agrees with the messages");
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

    // An edit and a delete after indexing re-index at once.
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
    index_agrees_with_messages(&store).await;

    // Three indexed matches and three newer unindexed ones, two at a time.
    for i in 0..3 {
        store
            .insert_message(message(room, &a, &format!("page {i}")))
            .await
            .expect("stored");
    }
    store.index_search_now().await.expect("indexed");
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
        ["page 5", "page 4", "page 3", "page 2", "page 1", "page 0"],
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
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (mark, newest) = index_mark(&store).await;
        if mark == newest {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "indexed within 15 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    index_agrees_with_messages(&store).await;
    store.close().await;
}
