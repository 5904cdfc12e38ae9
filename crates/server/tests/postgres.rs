//! The whole server on PostgreSQL (`--database-url`), each test on a scratch database of its
//! own: the seed flow (sign up, open a direct room, send with a receipt, read history,
//! reconnect with `since-seq`), two nodes on one database, and `/healthz` telling when the
//! database is gone (and a committed message that was never published still reaching the
//! room's topic).

use serde_json::Value;
use sotong_server::model::{RoomId, User, UserId};
use sotong_server::store::postgres::PostgresStore;
use sotong_server::store::{NewMessage, Store};
use sotong_testkit::*;

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

/// (seq, text) of each message of a history page.
fn seqs_and_texts(messages: &[Value]) -> Vec<(u64, String)> {
    messages
        .iter()
        .map(|m| {
            (
                m["seq"].as_u64().expect("seq"),
                m["text"].as_str().expect("text").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_seed_flow_runs_on_postgresql() {
    let server = TestServer::spawn_postgres(|_| {}).await;
    let alice = server
        .password_user("alice", "correct horse battery staple")
        .await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    assert_eq!(server.direct(&bob, &alice).await, room, "one room per pair");

    let mut a = Stomp::connect(&server, &alice.token).await;
    a.subscribe("d", &topic(room)).await;
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("n", "/user/queue/notifications").await;

    // Send with a receipt: the sender's own copy, then the receipt; the other member is
    // notified with one unread.
    a.send_text(room, "hello bob", "r1").await;
    let frames = a.until(|f| is_receipt(f, "r1")).await;
    assert_eq!(topic_messages(&frames), vec![(room, 1, "hello bob".into())]);
    let notified = b.until(|f| carries_text(f, "hello bob")).await;
    assert_eq!(
        notified_messages(&notified),
        vec![(room, 1, "hello bob".into(), 1)]
    );

    // History, with `sentAt` in RFC 3339 with milliseconds.
    server.post_message(&bob, room, "hi alice").await;
    a.until(|f| carries_text(f, "hi alice")).await;
    let history = server.history(&alice, room, "").await;
    assert_eq!(
        seqs_and_texts(&history),
        [(1, "hello bob".into()), (2, "hi alice".into())]
    );
    for message in &history {
        let sent_at = message["sentAt"].as_str().expect("sentAt");
        assert!(sent_at.len() == 24 && sent_at.ends_with('Z'), "{sent_at}");
    }

    // Alice goes away, Bob writes on; back, she resumes after the last seq she holds.
    a.close().await;
    server.post_message(&bob, room, "are you there?").await;
    let mut a = Stomp::connect(&server, &alice.token).await;
    let replayed = a
        .subscribe_with("d", &topic(room), &[("since-seq", "1")])
        .await;
    assert_eq!(
        topic_messages(&replayed),
        vec![
            (room, 2, "hi alice".into()),
            (room, 3, "are you there?".into())
        ]
    );
    let (status, rooms) = server.get("/api/rooms", Some(&alice.token)).await;
    assert_eq!(status, 200, "{rooms}");
    assert_eq!(rooms[0]["id"], room);
    assert_eq!(rooms[0]["unread"], 2, "{rooms}");
    assert_eq!(rooms[0]["name"], "bob");
    a.close().await;
    b.close().await;
    server.stop().await;
}

#[tokio::test]
async fn two_nodes_on_one_database_share_rooms_and_seqs() {
    let one = TestServer::spawn_postgres(|_| {}).await;
    let url = one
        .database
        .as_ref()
        .expect("scratch database")
        .url()
        .to_string();
    let two = TestServer::spawn_with(|config| config.database_url = Some(url)).await;
    let alice = one.user("alice").await;
    let bob = two.user("bob").await;
    assert_eq!(
        two.user("alice").await.id,
        alice.id,
        "one user, whichever node"
    );

    let (room_one, room_two) = tokio::join!(one.direct(&alice, &bob), two.direct(&bob, &alice));
    assert_eq!(room_one, room_two, "opened on both nodes at once: one room");
    let room = room_one;

    let texts: Vec<String> = (0..10).map(|i| format!("message {i}")).collect();
    let on_node_one = texts.iter().map(|t| one.post_message(&alice, room, t));
    let on_node_two = texts.iter().map(|t| two.post_message(&bob, room, t));
    tokio::join!(
        futures_util::future::join_all(on_node_one),
        futures_util::future::join_all(on_node_two)
    );
    let on_one = one.history(&alice, room, "?limit=100").await;
    let on_two = two.history(&bob, room, "?limit=100").await;
    assert_eq!(on_one, on_two, "one history");
    assert_eq!(
        on_one
            .iter()
            .map(|m| m["seq"].as_u64().expect("seq"))
            .collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>(),
        "seqs 1..20 without gaps, whichever node stored them"
    );
    two.stop().await;
    one.stop().await;
}

#[tokio::test]
async fn healthz_says_unavailable_when_the_database_is_gone() {
    let mut server = TestServer::spawn_postgres(|_| {}).await;
    let (status, _) = server.get("/healthz", None).await;
    assert_eq!(status, 200);
    drop(server.database.take());
    let (status, body) = server.get("/healthz", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"status": "unavailable", "store": "unreachable", "broker": "ok"})
    );
}

/// A node that dies between a commit and its publication: the message is in the store and no
/// connection heard of it. The room head check brings it to the room's topic anyway.
#[tokio::test]
async fn a_message_committed_but_never_published_reaches_the_topic() {
    let server = TestServer::spawn_postgres(|config| config.room_head_check_ms = 50).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    server.post_message(&alice, room, "published").await;
    let mut b = Stomp::connect(&server, &bob.token).await;
    b.subscribe("d", &topic(room)).await;

    // Stored as a dying node would leave it: committed, never published.
    let url = server.database.as_ref().expect("scratch database").url();
    let store = PostgresStore::connect(url).await.expect("store");
    store
        .insert_message(NewMessage {
            room_id: RoomId(room),
            sender: User {
                id: UserId(alice.id),
                username: "alice".into(),
                display_name: "alice".into(),
            },
            text: "never published".into(),
            client_msg_id: None,
            reply_to: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        })
        .await
        .expect("stored");
    store.close().await;

    let frames = b.until(|f| carries_text(f, "never published")).await;
    assert_eq!(
        topic_messages(&frames),
        vec![(room, 2, "never published".into())],
        "on the topic, once, with nothing before it"
    );
    assert_eq!(server.metric("sotong_room_head_catch_ups_total").await, 1);
    assert!(server.metric("sotong_gap_fills_total").await >= 1);
    b.close().await;
    server.stop().await;
}
