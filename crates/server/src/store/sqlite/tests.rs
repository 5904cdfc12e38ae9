//! The SQLite store's own behaviour: one write path under concurrent writers of every kind,
//! batches that refuse one message and store the rest, and a data directory that opens again
//! with its data.

use super::*;

async fn scratch() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(dir.path()).await.expect("store");
    (dir, store)
}

fn new_message(room: RoomId, sender: &User, text: &str, client_msg_id: Option<&str>) -> NewMessage {
    NewMessage {
        room_id: room,
        sender: sender.clone(),
        text: text.to_string(),
        client_msg_id: client_msg_id.map(str::to_string),
    }
}

#[tokio::test]
async fn a_taken_username_is_a_conflict() {
    let (_dir, store) = scratch().await;
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

#[tokio::test]
async fn a_batch_refuses_a_non_member_and_stores_the_rest() {
    let (_dir, store) = scratch().await;
    let a = store.upsert_user("a", None).await.expect("a");
    let b = store.upsert_user("b", None).await.expect("b");
    let outsider = store.upsert_user("c", None).await.expect("c");
    let (room, created) = store.direct_room(a.id, b.id).await.expect("room");
    assert!(created);
    let results = store
        .insert_messages(vec![
            new_message(room, &a, "one", Some("k1")),
            new_message(room, &outsider, "intruder", None),
            new_message(room, &b, "two", None),
            new_message(room, &a, "one again", Some("k1")),
        ])
        .await
        .expect("batch");
    let seqs: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().map(|i| (i.message.seq, i.created)).ok())
        .collect();
    assert_eq!(
        seqs,
        [
            Some((Seq(1), true)),
            None,
            Some((Seq(2), true)),
            Some((Seq(1), false))
        ]
    );
    assert!(matches!(results[1], Err(StoreError::NotMember)));
    let stored = results[0].as_ref().expect("stored");
    let mut unread = stored.recipients.clone();
    unread.sort();
    assert_eq!(unread, [(a.id, 0), (b.id, 1)]);

    // History decodes the same message the insert answered.
    let history = store
        .messages(
            room,
            Page {
                before: None,
                after: None,
                limit: 10,
            },
        )
        .await
        .expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0], stored.message);
    assert_eq!(history[1].text, "two");
    assert_eq!(store.last_seq(room).await.expect("last"), Seq(2));
    store.close().await;
}

#[tokio::test]
async fn concurrent_writes_of_every_kind_all_commit() {
    let (_dir, store) = scratch().await;
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

#[tokio::test]
async fn a_data_directory_opens_again_with_its_data() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(dir.path()).await.expect("store");
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

    let store = SqliteStore::open(dir.path()).await.expect("reopened");
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
    assert_eq!(
        view.name, "A",
        "a direct room is named after the other member"
    );
    assert_eq!(view.unread, 1);
    assert_eq!(view.last_message.expect("message").text, "kept");
    assert_eq!(
        store.find_direct_room(b.id, a.id).await.expect("read"),
        Some(room)
    );
    store.close().await;

    // The migrations stay recorded where the earlier versions recorded them.
    let conn = open_connection(&dir.path().join("sotong.db")).expect("open");
    let applied: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM _sqlx_migrations WHERE success",
            [],
            |row| row.get(0),
        )
        .expect("migrations");
    assert_eq!(applied, 2);
}

#[tokio::test]
async fn a_closed_store_refuses_reads_and_writes() {
    let (_dir, store) = scratch().await;
    store.close().await;
    assert!(store.ping().await.is_err());
    assert!(store.upsert_user("late", None).await.is_err());
}
