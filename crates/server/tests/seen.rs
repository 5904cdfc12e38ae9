//! Read receipts ("seen by"), on SQLite and on PostgreSQL: every member's read mark listed by
//! `GET /api/rooms/{id}/reads` (members only, a member who left included out), a live `read`
//! event on the room topic for subscriptions that asked for it with `receipts: true` (never for
//! a stock subscriber, a non-member or a member who left), a burst of marks told as a few
//! events, and a mark on one node reaching a subscriber on another.

use reqwest::Method;
use serde_json::{json, Value};
use sotong_stomp::{Command, Frame};
use sotong_testkit::*;

fn topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

on_both_stores!(
    the_reads_list_every_members_mark_for_members_only,
    a_read_reaches_subscribers_that_asked_and_nobody_else,
    a_burst_of_marks_is_told_as_a_few_events_ending_with_the_last,
    a_refused_receipts_header_leaves_the_connection_alone,
);

/// The `read` events among `frames`, as (destination, room, user, seq).
fn reads(frames: &[Frame]) -> Vec<(String, i64, i64, u64)> {
    frames
        .iter()
        .filter(|f| f.command == Command::Message)
        .filter(|f| body(f)["type"] == "read" && body(f).get("userId").is_some())
        .map(|f| {
            let b = body(f);
            (
                f.header("destination").unwrap_or("").to_string(),
                b["roomId"].as_i64().unwrap_or(0),
                b["userId"].as_i64().unwrap_or(0),
                b["seq"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Marks `room` read up to `seq` for `user` over HTTP.
async fn mark(server: &TestServer, user: &TestUser, room: i64, seq: u64) {
    let (status, answer) = server
        .post(
            &format!("/api/rooms/{room}/read"),
            Some(&user.token),
            json!({ "seq": seq }),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
}

/// `user`'s view of the room's read marks, as (status, [(userId, seq)] sorted by user).
async fn marks(server: &TestServer, user: &TestUser, room: i64) -> (u16, Vec<(i64, u64)>) {
    let (status, answer) = server
        .get(&format!("/api/rooms/{room}/reads"), Some(&user.token))
        .await;
    let list = answer
        .as_array()
        .map(|marks| {
            marks
                .iter()
                .map(|m| {
                    (
                        m["userId"].as_i64().unwrap_or(0),
                        m["seq"].as_u64().unwrap_or(u64::MAX),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (status, list)
}

/// Frames until the message `text` arrives on the room topic: the marker a test sends after
/// what must (or must not) have come before it, on the same route.
async fn until_text(stomp: &mut Stomp, text: &str) -> Vec<Frame> {
    stomp.until(|f| carries_text(f, text)).await
}

async fn leave(server: &TestServer, user: &TestUser, room: i64) {
    let (status, _) = server
        .request(
            Method::DELETE,
            &format!("/api/rooms/{room}/members/me"),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
}

async fn the_reads_list_every_members_mark_for_members_only(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    let room = server.group(&alice, "trio", &[&bob, &carol]).await;
    for text in ["one", "two", "three"] {
        server.post_message(&alice, room, text).await;
    }
    mark(&server, &bob, room, 2).await;

    let mut expected = vec![(alice.id, 3), (bob.id, 2), (carol.id, 0)];
    expected.sort();
    assert_eq!(
        marks(&server, &carol, room).await,
        (200, expected),
        "a sender has read what it sent; nobody else has read anything yet"
    );
    mark(&server, &bob, room, 1).await;
    assert_eq!(
        marks(&server, &alice, room)
            .await
            .1
            .iter()
            .find(|m| m.0 == bob.id),
        Some(&(bob.id, 2)),
        "a mark never moves back"
    );

    let (status, _) = server
        .get(&format!("/api/rooms/{room}/reads"), Some(&dave.token))
        .await;
    assert_eq!(status, 403, "a non-member sees no marks");
    leave(&server, &carol, room).await;
    assert_eq!(
        marks(&server, &carol, room).await.0,
        403,
        "nor does one who left"
    );
    assert_eq!(
        marks(&server, &alice, room).await.1.len(),
        2,
        "one who left is no longer listed"
    );
    let (status, _) = server
        .get("/api/rooms/999999/reads", Some(&alice.token))
        .await;
    assert_eq!(status, 404);
    let (status, _) = server.get(&format!("/api/rooms/{room}/reads"), None).await;
    assert_eq!(status, 401);
}

async fn a_read_reaches_subscribers_that_asked_and_nobody_else(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    let room = server.group(&alice, "trio", &[&bob, &carol]).await;
    let elsewhere = server.direct(&alice, &dave).await;
    let carol_dm = server.direct(&alice, &carol).await;
    server.post_message(&alice, room, "hello").await;

    // Alice shows the room with receipts; a stock subscriber of hers does not ask.
    let mut watcher = Stomp::connect(&server, &alice.token).await;
    watcher
        .subscribe_with("r", &topic(room), &[("receipts", "true")])
        .await;
    let mut stock = Stomp::connect(&server, &alice.token).await;
    stock.subscribe("r", &topic(room)).await;
    // Bob's own other device, showing the room with receipts, hears his mark like anyone.
    let mut bob_phone = Stomp::connect(&server, &bob.token).await;
    bob_phone
        .subscribe_with("r", &topic(room), &[("receipts", "true")])
        .await;
    // Dave is no member: he follows his own room with Alice and his notifications.
    let mut outsider = Stomp::connect(&server, &dave.token).await;
    outsider.subscribe("n", "/user/queue/notifications").await;
    outsider
        .subscribe_with("r", &topic(elsewhere), &[("receipts", "true")])
        .await;
    // Alice's notifications only: a member not showing the room gets no read events.
    let mut away = Stomp::connect(&server, &alice.token).await;
    away.subscribe("n", "/user/queue/notifications").await;

    mark(&server, &bob, room, 1).await;
    server.post_message(&alice, room, "marker").await;
    server.post_message(&alice, elsewhere, "marker").await;

    let seen = reads(&until_text(&mut watcher, "marker").await);
    assert_eq!(
        seen,
        vec![(topic(room), room, bob.id, 1)],
        "one event, before the marker"
    );
    let phone = reads(&until_text(&mut bob_phone, "marker").await);
    assert_eq!(phone, vec![(topic(room), room, bob.id, 1)]);
    assert!(
        reads(&until_text(&mut stock, "marker").await).is_empty(),
        "a stock subscriber never meets a read event"
    );
    assert!(reads(&until_text(&mut outsider, "marker").await).is_empty());
    let notified = until_text(&mut away, "marker").await;
    assert!(
        reads(&notified).is_empty(),
        "no read event on the notifications: {notified:?}"
    );

    // A mark that does not move is not told.
    mark(&server, &bob, room, 1).await;
    server.post_message(&alice, room, "marker two").await;
    assert!(reads(&until_text(&mut watcher, "marker two").await).is_empty());

    // Carol leaves: her connection showing the room hears nothing more of it.
    let mut carol_conn = Stomp::connect(&server, &carol.token).await;
    carol_conn
        .subscribe_with("r", &topic(room), &[("receipts", "true")])
        .await;
    carol_conn
        .subscribe_with("d", &topic(carol_dm), &[("receipts", "true")])
        .await;
    leave(&server, &carol, room).await;
    mark(&server, &bob, room, 3).await;
    // The mark may wait for the end of Bob's pacing window: wait for it where it goes.
    let frames = watcher
        .until(|f| body(f)["type"] == "read" && body(f)["seq"] == 3)
        .await;
    assert_eq!(reads(&frames), vec![(topic(room), room, bob.id, 3)]);
    server.post_message(&alice, carol_dm, "marker three").await;
    let after_leaving = until_text(&mut carol_conn, "marker three").await;
    assert!(
        reads(&after_leaving).is_empty(),
        "one who left hears no marks: {after_leaving:?}"
    );
}

async fn a_burst_of_marks_is_told_as_a_few_events_ending_with_the_last(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    for i in 1..=50 {
        server.post_message(&alice, room, &format!("m{i}")).await;
    }
    let mut watcher = Stomp::connect(&server, &alice.token).await;
    watcher
        .subscribe_with("r", &topic(room), &[("receipts", "true")])
        .await;
    let mut reader = Stomp::connect(&server, &bob.token).await;
    for seq in 1..=50u64 {
        reader
            .send_frame(
                Frame::new(Command::Send)
                    .with_header("destination", format!("/app/rooms/{room}/read"))
                    .with_header("content-type", "application/json")
                    .with_body(json!({ "seq": seq }).to_string().into_bytes()),
            )
            .await;
    }
    let frames = watcher
        .until(|f| body(f)["type"] == "read" && body(f)["seq"] == 50)
        .await;
    let told: Vec<u64> = reads(&frames).iter().map(|r| r.3).collect();
    assert!(
        told.len() <= 6,
        "50 marks within a moment are a few events, not 50: {told:?}"
    );
    assert!(
        told.windows(2).all(|w| w[0] < w[1]),
        "each event moves the mark forward: {told:?}"
    );
    assert_eq!(told.last(), Some(&50));
    let (_, list) = marks(&server, &alice, room).await;
    assert!(list.contains(&(bob.id, 50)));
}

async fn a_refused_receipts_header_leaves_the_connection_alone(store: StoreBackend) {
    let server = store.spawn(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let mut stomp = Stomp::connect(&server, &alice.token).await;
    stomp.subscribe("e", "/user/queue/errors").await;
    stomp.subscribe("ok", &topic(room)).await;
    stomp
        .send_frame(
            Frame::new(Command::Subscribe)
                .with_header("id", "bad")
                .with_header("destination", topic(room))
                .with_header("receipts", "yes")
                .with_header("receipt", "s1"),
        )
        .await;
    let frames = stomp.until(|f| is_error_for(f, "s1")).await;
    let error: Value = body(frames.last().expect("error"));
    assert_eq!(error["code"], "invalid");
    server.post_message(&bob, room, "still here").await;
    let frames = until_text(&mut stomp, "still here").await;
    assert_eq!(
        topic_messages(&frames).len(),
        1,
        "the other subscription lives"
    );
}

/// A mark on one node reaches a subscriber with receipts on the other, through Redis.
#[tokio::test]
async fn a_read_on_one_node_reaches_a_subscriber_on_the_other() {
    let (one, two) = TestServer::spawn_two_nodes(|_| {}).await;
    let alice = one.user("alice").await;
    let bob = one.user("bob").await;
    let room = one.direct(&alice, &bob).await;
    one.post_message(&alice, room, "hello").await;
    let mut watcher = Stomp::connect(&two, &alice.token).await;
    watcher
        .subscribe_with("r", &topic(room), &[("receipts", "true")])
        .await;
    mark(&one, &bob, room, 1).await;
    one.post_message(&bob, room, "marker").await;
    let frames = until_text(&mut watcher, "marker").await;
    assert_eq!(reads(&frames), vec![(topic(room), room, bob.id, 1)]);
}
