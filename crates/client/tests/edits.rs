//! Editing and deleting through the SDK against a real server: the round trip (the stored
//! message back, typed `Changed` events to the room's stream and to the notifications, the
//! server's refusals as codes, `changes_after`), and a client that resumes after a server
//! restart getting the changes made while it was away once, from the highest `rev` it had seen.

mod common;

use common::*;
use futures_util::StreamExt;
use reqwest::Method;
use sotong_client::{
    ChangeKind, Client, Notification, RoomEvent, RoomId, Seq, State, Subscription,
};
use std::time::Duration;

/// The next `Changed` event of a room stream, as (seq, rev, change, text).
async fn next_change(sub: &mut Subscription<RoomEvent>) -> (u64, u64, ChangeKind, String) {
    loop {
        let event = within(sub.next())
            .await
            .expect("the stream ended")
            .expect("an event");
        if let RoomEvent::Changed { change, message } = event {
            return (message.seq.0, message.rev, change, message.text);
        }
    }
}

/// Edits (`Some(text)`) or deletes message `seq` over HTTP as `user`.
async fn change(server: &TestServer, user: &TestUser, room: RoomId, seq: u64, text: Option<&str>) {
    let (method, body) = match text {
        Some(text) => (Method::PATCH, Some(serde_json::json!({ "text": text }))),
        None => (Method::DELETE, None),
    };
    let path = format!("/api/rooms/{room}/messages/{seq}");
    let (status, answer) = server.request(method, &path, Some(&user.token), body).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn edit_and_delete_round_trip_with_typed_events_and_errors() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let alice_client = server.client(&alice).await;
    let bob_client = server.client(&bob).await;
    let mut bob_view = within(bob_client.room(room).subscribe())
        .await
        .expect("subscribe");
    let mut alice_notes = within(alice_client.notifications())
        .await
        .expect("notifications");
    let sent = within(alice_client.send(room, "helo")).await.expect("sent");
    assert_eq!(next_message(&mut bob_view).await, (1, "helo".into()));

    let edited = within(alice_client.edit_message(room, sent.seq, "hello"))
        .await
        .expect("edited");
    assert_eq!(
        (edited.seq, edited.rev, edited.text.as_str()),
        (Seq(1), 1, "hello")
    );
    assert!(edited.edited_at.is_some());
    assert_eq!(
        next_change(&mut bob_view).await,
        (1, 1, ChangeKind::Edited, "hello".into())
    );
    // Alice's client shows no room: her own change reaches it as a notification.
    let note = loop {
        let note = within(alice_notes.next())
            .await
            .expect("open")
            .expect("an event");
        if !matches!(note, Notification::Message { .. }) {
            break note;
        }
    };
    assert!(
        matches!(&note, Notification::Changed { room_id, change: ChangeKind::Edited, message }
            if *room_id == room && message.rev == 1),
        "{note:?}"
    );

    let refused = within(bob_client.edit_message(room, Seq(1), "mine now"))
        .await
        .expect_err("not bob's");
    assert_eq!(refused.code(), Some("not_author"));
    let refused = within(alice_client.edit_message(room, Seq(9), "x"))
        .await
        .expect_err("no such message");
    assert_eq!(refused.code(), Some("not_found"));

    let tombstone = within(alice_client.delete_message(room, Seq(1)))
        .await
        .expect("deleted");
    assert_eq!((tombstone.rev, tombstone.text.as_str()), (2, ""));
    assert!(tombstone.is_deleted());
    assert_eq!(
        next_change(&mut bob_view).await,
        (1, 2, ChangeKind::Deleted, String::new())
    );
    let refused = within(alice_client.edit_message(room, Seq(1), "back"))
        .await
        .expect_err("deleted");
    assert_eq!(refused.code(), Some("deleted"));

    let changes = within(bob_client.changes_after(room, 0, None))
        .await
        .expect("changes");
    assert_eq!(
        changes.iter().map(|m| (m.seq.0, m.rev)).collect::<Vec<_>>(),
        vec![(1, 2)]
    );
    let info = within(bob_client.room(room).info()).await.expect("room");
    assert_eq!(info.last_rev, 2);
}

#[tokio::test]
async fn a_resumed_room_gets_the_changes_made_while_away_once() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    for text in ["one", "two", "three"] {
        server.post_message(&bob, room, text).await;
    }
    let client = within(
        Client::builder(server.ws_url(), alice.token.clone())
            .reconnect_delay(Duration::from_millis(10), Duration::from_millis(200))
            .connect(),
    )
    .await
    .expect("connect");
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");
    // Seen while connected: rev 1.
    change(&server, &bob, room, 2, Some("two!")).await;
    assert_eq!(
        next_change(&mut view).await,
        (2, 1, ChangeKind::Edited, "two!".into())
    );

    // Away: message 1 is edited, then deleted (revs 2 and 3).
    let addr = server.addr;
    let dir = server.stop().await;
    wait_state(&client, State::Reconnecting).await;
    let side = TestServer::spawn_in(dir).await;
    change(&side, &bob, room, 1, Some("one!")).await;
    change(&side, &bob, room, 1, None).await;
    let dir = side.stop().await;

    let server = TestServer::spawn_at(addr, dir).await;
    wait_state(&client, State::Connected).await;
    server.post_message(&bob, room, "after").await;
    let mut events = Vec::new();
    loop {
        let event = within(view.next())
            .await
            .expect("the stream ended")
            .expect("an event");
        let done = matches!(&event, RoomEvent::Message(m) if m.text == "after");
        events.push(event);
        if done {
            break;
        }
    }
    let changes: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            RoomEvent::Changed { change, message } => Some((message.seq.0, message.rev, *change)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![(1, 3, ChangeKind::Deleted)],
        "only what was not seen (since-rev 1), the tombstone once"
    );
}
